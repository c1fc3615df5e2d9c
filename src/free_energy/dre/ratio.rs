//! The ratio network r(x, t) ≈ ∂ₜ log ρ_t(x): an MLP on [x, t], and optionally a quadratic
//! form in x whose coefficients depend on t.
//!
//! Why the quadratic form: log q/p(x) = ∫₀¹ r(x, t) dt is needed at every sample of P and of Q,
//! but r is trained at time t only on the samples of ρ_t. Samples of Q lie in the tails of the
//! early ρ_t (near P), and samples of P in the tails of the late ones, so the estimate depends
//! on how r extrapolates. A swish MLP grows linearly far from its data, while the log-ratio of
//! two Boltzmann densities near their minima (harmonic wells, Gaussians) grows quadratically:
//! the MLP compresses the log-ratio at the extreme samples. The term Σ_j c_j(t)·(u_j·x)², with
//! learned directions u_j and a small MLP for c(t), extrapolates like those log-ratios, and
//! represents the Gaussian case exactly (for the optimal-transport path between two Gaussians
//! with commuting covariances, ∂ₜ log ρ_t is such a form in fixed directions plus a function of
//! t). It is not a cure for every compressed ratio: on the 16-D quantum double well between two
//! masses, whose log-ratio is exactly quadratic, it mended Q's side and left P's compressed
//! (BENCHMARKS.md).

use crate::backend::FlowBackend;
use crate::flow::{Activation, Mlp, MlpConfig, TimeDependent, TimeMlp, TimeMlpConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

/// Hidden width of the MLP t ↦ c(t) of the quadratic form.
const COEFFICIENT_HIDDEN: usize = 64;

/// r(x, t) = MLP([x, t]) + Σ_j c_j(t)·(u_j·x)², the second term present when its rank is > 0.
#[derive(Module, Debug)]
pub struct RatioNetwork<B: FlowBackend> {
    /// The MLP on [x, t].
    mlp: TimeMlp<B>,
    /// The quadratic form, when on.
    quadratic: Option<QuadraticForm<B>>,
}

/// Σ_j c_j(t)·(u_j·x)².
#[derive(Module, Debug)]
pub struct QuadraticForm<B: FlowBackend> {
    /// The directions u_j (the weight's columns).
    directions: Linear<B>,
    /// t ↦ c(t), one coefficient per direction (starting at zero).
    coefficients: Mlp<B>,
}

impl<B: FlowBackend> QuadraticForm<B> {
    /// The form at each row of `x` (`[n, d]`) and time `t` (`[n]`), `[n]`.
    fn forward(&self, x: Tensor<B, 2>, t: Tensor<B, 1>) -> Tensor<B, 1> {
        let projections = self.directions.forward(x).powi_scalar(2);
        let c = self.coefficients.forward(t.unsqueeze_dim(1));
        (projections * c).sum_dim(1).squeeze_dim(1)
    }
}

impl<B: FlowBackend> RatioNetwork<B> {
    /// A network on `dim`-dimensional x with the MLP's hidden widths `hidden` and a quadratic
    /// form of rank `quadratic_rank` (0: none, at most `dim`). It starts as the zero function.
    pub fn new(
        dim: usize,
        hidden: Vec<usize>,
        quadratic_rank: usize,
        device: &B::Device,
    ) -> crate::Result<Self> {
        if quadratic_rank > dim {
            return Err(crate::Error::InvalidArgument(format!(
                "Dre: `ratio_quadratic_rank` is {quadratic_rank}, more than the samples' \
                 dimension {dim} (a quadratic form in {dim} coordinates has at most rank {dim})"
            )));
        }
        Ok(RatioNetwork {
            mlp: TimeMlpConfig::new(dim, hidden, 1).init(device)?,
            quadratic: (quadratic_rank > 0).then(|| QuadraticForm {
                directions: LinearConfig::new(dim, quadratic_rank)
                    .with_bias(false)
                    .init(device),
                coefficients: MlpConfig::new(1, vec![COEFFICIENT_HIDDEN], quadratic_rank)
                    .with_activation(Activation::Silu)
                    .init(device),
            }),
        })
    }

    /// r at each row of `x` (`[n, d]`) and time `t` (`[n]`), `[n]`.
    pub fn forward(&self, x: Tensor<B, 2>, t: Tensor<B, 1>) -> Tensor<B, 1> {
        let mlp = self.mlp.forward(x.clone(), t.clone()).squeeze_dim(1);
        match &self.quadratic {
            Some(form) => mlp + form.forward(x, t),
            None => mlp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;
    use burn::module::Param;

    /// The quadratic term is what its formula says: with the coefficient network's output
    /// weights set to one (the MLP's output layer stays zero), r(x, t) = Σ_j c_j(t)(u_j·x)².
    #[test]
    fn the_quadratic_form_is_a_sum_of_squared_projections() {
        let device = device();
        let mut net = RatioNetwork::<TestBackend>::new(3, vec![4], 2, &device).unwrap();
        assert!(RatioNetwork::<TestBackend>::new(3, vec![4], 4, &device).is_err());
        let x = tensor(&points(5, 3, 1.0, 3), 5, 3);
        let t = Tensor::<TestBackend, 1>::from_floats([0.1, 0.3, 0.5, 0.7, 0.9], &device);
        assert!(
            values(net.forward(x.clone(), t.clone()))
                .iter()
                .all(|v| *v == 0.0)
        );
        let mut form = net.quadratic.clone().unwrap();
        let shape = form.coefficients.output.weight.dims();
        form.coefficients.output.weight = Param::from_tensor(Tensor::ones(shape, &device));
        net.quadratic = Some(form.clone());
        let c = values(form.coefficients.forward(t.clone().unsqueeze_dim(1)));
        let u = values(form.directions.weight.val());
        let xs = values(x.clone());
        let got = values(net.forward(x, t));
        for i in 0..5 {
            let expected: f64 = (0..2)
                .map(|j| {
                    let projection: f64 = (0..3).map(|a| xs[i * 3 + a] * u[a * 2 + j]).sum();
                    c[i * 2 + j] * projection * projection
                })
                .sum();
            assert!(
                (got[i] - expected).abs() < 1e-9,
                "{i}: {} vs {expected}",
                got[i]
            );
            assert!(expected.abs() > 1e-6);
        }
    }
}
