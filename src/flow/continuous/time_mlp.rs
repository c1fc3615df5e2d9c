//! An MLP on the concatenation [x, t], with tangents.

use super::TimeDependent;
use crate::backend::FlowBackend;
use crate::flow::{Activation, Mlp, MlpConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of a [`TimeMlp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeMlpConfig {
    /// Dimension d of x (the network reads d + 1 inputs).
    pub dim: usize,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Output width.
    pub d_output: usize,
    /// Activation after each hidden layer (swish by default: smooth, so tangents are smooth).
    #[serde(default = "super::silu")]
    pub activation: Activation,
    /// Initialise the output layer to zero, so the network starts as the zero function.
    #[serde(default = "crate::defaults::yes")]
    pub zero_output: bool,
}

impl TimeMlpConfig {
    /// A swish MLP `[x, t] → hidden… → d_output` with a zero output layer.
    pub fn new(dim: usize, hidden: Vec<usize>, d_output: usize) -> Self {
        TimeMlpConfig {
            dim,
            hidden,
            d_output,
            activation: Activation::Silu,
            zero_output: true,
        }
    }

    /// Sets the activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets whether the output layer starts at zero.
    pub fn with_zero_output(mut self, zero_output: bool) -> Self {
        self.zero_output = zero_output;
        self
    }

    /// Builds the network on `device`.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<TimeMlp<B>> {
        if self.dim == 0 || self.d_output == 0 || self.hidden.contains(&0) {
            return Err(crate::Error::InvalidArgument(format!(
                "a time-dependent MLP needs positive sizes; got dim {}, hidden {:?}, output {}",
                self.dim, self.hidden, self.d_output
            )));
        }
        let mlp = MlpConfig {
            d_input: self.dim + 1,
            hidden: self.hidden.clone(),
            d_output: self.d_output,
            activation: self.activation,
            residual: false,
            zero_output: self.zero_output,
        }
        .init(device);
        Ok(TimeMlp { mlp })
    }
}

/// y = MLP([x, t]).
#[derive(Module, Debug)]
pub struct TimeMlp<B: FlowBackend> {
    mlp: Mlp<B>,
}

/// [x, t] as one `[n, d + 1]` tensor.
fn with_time<B: FlowBackend>(x: Tensor<B, 2>, t: Tensor<B, 1>) -> Tensor<B, 2> {
    Tensor::cat(vec![x, t.unsqueeze_dim(1)], 1)
}

impl<B: FlowBackend> TimeMlp<B> {
    /// A scalar network (one output) Φ as a potential: Φ, its spatial gradient ∇ₓΦ and its
    /// spatial Laplacian ΔₓΦ at each point, `([n], [n, d], [n])`, from d second-order tangents
    /// along the basis vectors of x in one pass ([`Mlp::jvp2`]).
    pub fn potential_gradient_laplacian(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
    ) -> (Tensor<B, 1>, Tensor<B, 2>, Tensor<B, 1>) {
        let [n, d] = x.dims();
        assert_eq!(self.dim_output(), 1, "a potential is a scalar network");
        // Tangent j moves x_j at every point; t has no tangent.
        let basis = Tensor::<B, 2>::eye(d + 1, &x.device())
            .slice([0..d, 0..d + 1])
            .repeat_dim(1, n)
            .reshape([d, n, d + 1]);
        let (value, first, second) = self.mlp.jvp2(with_time(x, t), basis);
        let gradient = first.reshape([d, n]).transpose();
        let laplacian = second.reshape([d, n]).sum_dim(0).reshape([n]);
        (value.reshape([n]), gradient, laplacian)
    }
}

impl<B: FlowBackend> TimeDependent<B> for TimeMlp<B> {
    fn dim(&self) -> usize {
        self.mlp
            .hidden
            .first()
            .unwrap_or(&self.mlp.output)
            .weight
            .dims()[0]
            - 1
    }

    fn dim_output(&self) -> usize {
        self.mlp.output.weight.dims()[1]
    }

    fn forward(&self, x: Tensor<B, 2>, t: Tensor<B, 1>) -> Tensor<B, 2> {
        self.mlp.forward(with_time(x, t))
    }

    fn jvp(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        vx: Tensor<B, 3>,
        vt: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Tensor<B, 3>) {
        let [m, n, _] = vx.dims();
        let vt = vt.unwrap_or_else(|| Tensor::zeros([m, n], &vx.device()));
        let v = Tensor::cat(vec![vx, vt.unsqueeze_dim(2)], 2);
        self.mlp.jvp(with_time(x, t), v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::continuous::test_support::*;
    use crate::flow::testing::*;

    #[test]
    fn jvp_matches_central_differences() {
        for (activation, d_output) in [(Activation::Silu, 1), (Activation::Tanh, 3)] {
            let config = TimeMlpConfig::new(3, vec![7, 5], d_output).with_activation(activation);
            let net: TimeMlp<TestBackend> = seeded(config.init(&device()).unwrap(), 0.6, 1);
            assert_eq!((net.dim(), net.dim_output()), (3, d_output));
            assert_jvp_matches_differences(&net);
        }
    }

    /// Φ, ∇Φ and ΔΦ of a potential against `forward` and central differences.
    #[test]
    fn potential_laplacian_matches_differences() {
        let (n, d, h) = (4, 3, 1e-4);
        let config = TimeMlpConfig::new(d, vec![7, 5], 1).with_activation(Activation::Tanh);
        let net: TimeMlp<TestBackend> = seeded(config.init(&device()).unwrap(), 0.6, 3);
        let x = points(n, d, 1.2, 4);
        let t = [0.1, 0.4, 0.7, 0.95];
        let (phi, gradient, laplacian) =
            net.potential_gradient_laplacian(tensor(&x, n, d), tensor1(&t));
        let at = |p: &[f64]| values(net.forward(tensor(p, n, d), tensor1(&t)));
        assert_eq!(values(phi), at(&x));
        let (gradient, laplacian) = (values(gradient), values(laplacian));
        let mut numeric_laplacian = vec![0.0; n];
        for j in 0..d {
            let shifted = |s: f64| {
                let p: Vec<f64> = (0..n * d)
                    .map(|k| x[k] + if k % d == j { s * h } else { 0.0 })
                    .collect();
                at(&p)
            };
            let (plus, zero, minus) = (shifted(1.0), at(&x), shifted(-1.0));
            for i in 0..n {
                let slope = (plus[i] - minus[i]) / (2.0 * h);
                assert_close(gradient[i * d + j], slope, 1e-6, "∇Φ");
                numeric_laplacian[i] += (plus[i] - 2.0 * zero[i] + minus[i]) / (h * h);
            }
        }
        for i in 0..n {
            assert_close(laplacian[i], numeric_laplacian[i], 1e-5, "ΔΦ");
        }
    }

    #[test]
    fn starts_at_zero_and_rejects_empty_sizes() {
        let net = TimeMlpConfig::new(2, vec![4], 1)
            .init::<TestBackend>(&device())
            .unwrap();
        let out = net.forward(
            tensor(&points(3, 2, 1.0, 1), 3, 2),
            tensor1(&[0.1, 0.5, 0.9]),
        );
        assert!(values(out).iter().all(|v| *v == 0.0));
        for bad in [
            TimeMlpConfig::new(0, vec![4], 1),
            TimeMlpConfig::new(2, vec![4, 0], 1),
            TimeMlpConfig::new(2, vec![4], 0),
        ] {
            let error = bad.init::<TestBackend>(&device()).unwrap_err().to_string();
            assert!(error.contains("positive sizes"), "{error}");
        }
    }
}
