//! Base distributions of flows.

// The variants of `Base`, `BaseConfig` (and the record enum burn derives) are named after the
// distributions they hold, which all happen to be Gaussians so far.
#![allow(clippy::enum_variant_names)]

use super::{
    CircularGaussian, CircularGaussianConfig, GeneralizedGaussian, GeneralizedGaussianConfig,
};
use crate::backend::FlowBackend;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// Configuration of a base distribution: the serialisable twin of [`Base`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BaseConfig {
    /// Diagonal Gaussian.
    DiagGaussian(DiagGaussianConfig),
    /// Generalised Gaussian exp(−Σ|xᵢ/σ|ᵖ)/Z.
    GeneralizedGaussian(GeneralizedGaussianConfig),
    /// Uniform angles and Gaussian other coordinates.
    CircularGaussian(CircularGaussianConfig),
}

impl BaseConfig {
    /// Builds the distribution on `device`.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<Base<B>> {
        Ok(match self {
            BaseConfig::DiagGaussian(c) => Base::DiagGaussian(c.init(device)),
            BaseConfig::GeneralizedGaussian(c) => Base::GeneralizedGaussian(c.init(device)?),
            BaseConfig::CircularGaussian(c) => Base::CircularGaussian(c.init(device)?),
        })
    }
}

/// A base distribution: exact samples and log density.
#[derive(Module, Debug)]
pub enum Base<B: FlowBackend> {
    /// Diagonal Gaussian, trainable or fixed.
    DiagGaussian(DiagGaussian<B>),
    /// Generalised Gaussian exp(−Σ|xᵢ/σ|ᵖ)/Z, fixed.
    GeneralizedGaussian(GeneralizedGaussian<B>),
    /// Uniform angles and Gaussian other coordinates.
    CircularGaussian(CircularGaussian<B>),
}

impl<B: FlowBackend> Base<B> {
    /// Dimension of the samples.
    pub fn dim(&self) -> usize {
        match self {
            Base::DiagGaussian(b) => b.dim(),
            Base::GeneralizedGaussian(b) => b.dim(),
            Base::CircularGaussian(b) => b.dim(),
        }
    }

    /// `n` independent samples `[n, dim]`, reproducible under burn's seed of the device
    /// (`B::seed`).
    pub fn sample(&self, n: usize) -> Tensor<B, 2> {
        match self {
            Base::DiagGaussian(b) => b.sample(n),
            Base::GeneralizedGaussian(b) => b.sample(n),
            Base::CircularGaussian(b) => b.sample(n),
        }
    }

    /// Log density of each point.
    pub fn log_prob(&self, z: Tensor<B, 2>) -> Tensor<B, 1> {
        match self {
            Base::DiagGaussian(b) => b.log_prob(z),
            Base::GeneralizedGaussian(b) => b.log_prob(z),
            Base::CircularGaussian(b) => b.log_prob(z),
        }
    }

    /// The base energy f₀ = −log base(z) of each point (`[n]`) and its gradient ∇f₀ (`[n, d]`),
    /// as differentiable tensor ops (the PDE objective trains through them).
    ///
    /// Defined for the bases with a density on all of R^d: [`DiagGaussian`] and
    /// [`GeneralizedGaussian`]. The circular base (uniform angles) has none and is refused.
    pub fn energy_and_gradient(
        &self,
        z: Tensor<B, 2>,
    ) -> crate::Result<(Tensor<B, 1>, Tensor<B, 2>)> {
        match self {
            Base::DiagGaussian(b) => Ok(b.energy_and_gradient(z)),
            Base::GeneralizedGaussian(b) => Ok(b.energy_and_gradient(z)),
            Base::CircularGaussian(_) => Err(crate::Error::InvalidArgument(
                "the circular base (uniform angles) has no smooth energy on R^d, so it cannot \
                 start a PDE (continuity) flow; use a DiagGaussian or GeneralizedGaussian base"
                    .into(),
            )),
        }
    }
}

/// Configuration of a [`DiagGaussian`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagGaussianConfig {
    /// Dimension.
    pub dim: usize,
    /// Whether the mean and the scales are trained.
    #[serde(default)]
    pub trainable: bool,
    /// Initial standard deviation of every coordinate.
    #[serde(default = "crate::defaults::real::<1, 1>")]
    pub std: f64,
}

impl DiagGaussianConfig {
    /// A fixed standard normal in `dim` dimensions.
    pub fn standard(dim: usize) -> Self {
        DiagGaussianConfig {
            dim,
            trainable: false,
            std: 1.0,
        }
    }

    /// Builds the distribution.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> DiagGaussian<B> {
        let loc =
            Param::from_tensor(Tensor::zeros([self.dim], device)).set_require_grad(self.trainable);
        let log_scale = Param::from_tensor(Tensor::full([self.dim], self.std.ln(), device))
            .set_require_grad(self.trainable);
        DiagGaussian { loc, log_scale }
    }
}

/// N(loc, diag(exp(log_scale))²).
#[derive(Module, Debug)]
pub struct DiagGaussian<B: FlowBackend> {
    loc: Param<Tensor<B, 1>>,
    log_scale: Param<Tensor<B, 1>>,
}

impl<B: FlowBackend> DiagGaussian<B> {
    /// Dimension.
    pub fn dim(&self) -> usize {
        self.loc.dims()[0]
    }

    /// `n` samples.
    pub fn sample(&self, n: usize) -> Tensor<B, 2> {
        let device = self.loc.device();
        let eps = Tensor::<B, 2>::random([n, self.dim()], Distribution::Normal(0.0, 1.0), &device);
        eps * self.log_scale.val().exp().unsqueeze() + self.loc.val().unsqueeze()
    }

    /// Log density of each point.
    pub fn log_prob(&self, z: Tensor<B, 2>) -> Tensor<B, 1> {
        let log_scale = self.log_scale.val();
        let standardised =
            (z - self.loc.val().unsqueeze()) * log_scale.clone().neg().exp().unsqueeze();
        let norm = log_scale.sum() + 0.5 * self.dim() as f64 * (2.0 * std::f64::consts::PI).ln();
        (standardised.powi_scalar(2).sum_dim(1).squeeze_dim::<1>(1) * -0.5) - norm.unsqueeze()
    }

    /// −log density of each point (`[n]`) and its gradient (z − loc)/scale² (`[n, d]`).
    pub fn energy_and_gradient(&self, z: Tensor<B, 2>) -> (Tensor<B, 1>, Tensor<B, 2>) {
        let log_scale = self.log_scale.val();
        let inverse_scale: Tensor<B, 2> = log_scale.clone().neg().exp().unsqueeze();
        let standardised = (z - self.loc.val().unsqueeze()) * inverse_scale.clone();
        let norm = log_scale.sum() + 0.5 * self.dim() as f64 * (2.0 * std::f64::consts::PI).ln();
        let energy = standardised
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .mul_scalar(0.5)
            + norm;
        (energy, standardised * inverse_scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    /// f₀ is −log base and ∇f₀ its central-difference gradient, for a shifted and scaled
    /// Gaussian and for generalised Gaussians of powers 4 and 1.5; the circular base is refused.
    #[test]
    fn energy_and_gradient_match_log_prob_and_differences() {
        let (n, d, h) = (5, 3, 1e-6);
        let device = device();
        let gaussian = Base::DiagGaussian(seeded(
            DiagGaussianConfig {
                dim: d,
                trainable: true,
                std: 1.0,
            }
            .init::<TestBackend>(&device),
            0.5,
            3,
        ));
        let generalized = |power: f64| {
            Base::GeneralizedGaussian(
                GeneralizedGaussianConfig {
                    dim: d,
                    power,
                    scale: 1.3,
                }
                .init::<TestBackend>(&device)
                .unwrap(),
            )
        };
        let z = points(n, d, 2.0, 7);
        for base in [gaussian, generalized(4.0), generalized(1.5)] {
            let (energy, gradient) = base.energy_and_gradient(tensor(&z, n, d)).unwrap();
            let log_prob = values(base.log_prob(tensor(&z, n, d)));
            for (e, l) in values(energy).iter().zip(log_prob) {
                assert_close(*e, -l, 1e-13, "f₀ = −log base");
            }
            let gradient = values(gradient);
            for j in 0..d {
                let shifted = |sign: f64| {
                    let mut p = z.clone();
                    p.iter_mut().skip(j).step_by(d).for_each(|v| *v += sign * h);
                    values(base.log_prob(tensor(&p, n, d)))
                };
                let (plus, minus) = (shifted(1.0), shifted(-1.0));
                for i in 0..n {
                    let expected = -(plus[i] - minus[i]) / (2.0 * h);
                    assert_close(gradient[i * d + j], expected, 1e-7, "∇f₀");
                }
            }
        }
        let circular = BaseConfig::CircularGaussian(CircularGaussianConfig {
            circular: vec![true, false],
            trainable: false,
        });
        let error = circular
            .init::<TestBackend>(&device)
            .unwrap()
            .energy_and_gradient(tensor(&z[..4], 2, 2))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no smooth energy"), "{error}");
    }
}
