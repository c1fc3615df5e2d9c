//! Base distributions of flows.

// The variants of `Base`, `BaseConfig` (and the record enum burn derives) are named after the
// distributions they hold, which all happen to be Gaussians so far.
#![allow(clippy::enum_variant_names)]

use super::{
    CircularGaussian, CircularGaussianConfig, GeneralizedGaussian, GeneralizedGaussianConfig,
};
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
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<Base<B>> {
        Ok(match self {
            BaseConfig::DiagGaussian(c) => Base::DiagGaussian(c.init(device)),
            BaseConfig::GeneralizedGaussian(c) => Base::GeneralizedGaussian(c.init(device)?),
            BaseConfig::CircularGaussian(c) => Base::CircularGaussian(c.init(device)?),
        })
    }
}

/// A base distribution: exact samples and log density.
#[derive(Module, Debug)]
pub enum Base<B: Backend> {
    /// Diagonal Gaussian, trainable or fixed.
    DiagGaussian(DiagGaussian<B>),
    /// Generalised Gaussian exp(−Σ|xᵢ/σ|ᵖ)/Z, fixed.
    GeneralizedGaussian(GeneralizedGaussian<B>),
    /// Uniform angles and Gaussian other coordinates.
    CircularGaussian(CircularGaussian<B>),
}

impl<B: Backend> Base<B> {
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
    #[serde(default = "one")]
    pub std: f64,
}

fn one() -> f64 {
    1.0
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
    pub fn init<B: Backend>(&self, device: &B::Device) -> DiagGaussian<B> {
        let loc =
            Param::from_tensor(Tensor::zeros([self.dim], device)).set_require_grad(self.trainable);
        let log_scale = Param::from_tensor(Tensor::full([self.dim], self.std.ln(), device))
            .set_require_grad(self.trainable);
        DiagGaussian { loc, log_scale }
    }
}

/// N(loc, diag(exp(log_scale))²).
#[derive(Module, Debug)]
pub struct DiagGaussian<B: Backend> {
    loc: Param<Tensor<B, 1>>,
    log_scale: Param<Tensor<B, 1>>,
}

impl<B: Backend> DiagGaussian<B> {
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
}
