//! How a continuous flow computes ∇·V: exactly, or by Hutchinson's estimate with probes drawn
//! once per solve.

use super::TimeDependent;
use crate::backend::FlowBackend;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// Distribution of the probes of the Hutchinson divergence estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    /// Independent ±1 with equal probability: the smaller variance.
    #[default]
    Rademacher,
    /// Independent standard normals.
    Gaussian,
}

impl Probe {
    /// `m` probes for each of `n` points in `d` dimensions: `[m, n, d]`, from burn's seeded
    /// generator.
    pub fn draw<B: FlowBackend>(
        self,
        m: usize,
        n: usize,
        d: usize,
        device: &B::Device,
    ) -> Tensor<B, 3> {
        match self {
            Probe::Rademacher => Tensor::random([m, n, d], Distribution::Bernoulli(0.5), device)
                .mul_scalar(2.0)
                .sub_scalar(1.0),
            Probe::Gaussian => Tensor::random([m, n, d], Distribution::Normal(0.0, 1.0), device),
        }
    }
}

/// How the divergence ∇·V in the log-determinant of a continuous flow is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DivergenceMethod {
    /// The exact trace, from d tangents per point.
    #[default]
    Exact,
    /// Hutchinson's estimate with `probes` probes per point, drawn once per solve and kept for
    /// all its steps (so that each solve is a smooth map).
    Hutchinson {
        /// Number of probes per point.
        probes: usize,
        /// Their distribution (Rademacher by default).
        #[serde(default)]
        probe: Probe,
    },
}

impl DivergenceMethod {
    /// Checks the settings.
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            DivergenceMethod::Hutchinson { probes: 0, .. } => Err(crate::Error::InvalidArgument(
                "the Hutchinson divergence needs at least 1 probe per point; set `probes` ≥ 1 \
                 or use the exact divergence"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// The estimator for one solve of `n` points in `d` dimensions (its probes drawn now).
    pub(super) fn estimator<B: FlowBackend>(
        &self,
        n: usize,
        d: usize,
        device: &B::Device,
    ) -> DivergenceEstimator<B> {
        match *self {
            DivergenceMethod::Exact => DivergenceEstimator::Exact,
            DivergenceMethod::Hutchinson { probes, probe } => {
                DivergenceEstimator::Hutchinson(probe.draw(probes, n, d, device))
            }
        }
    }
}

/// A [`DivergenceMethod`] ready for one solve.
pub(super) enum DivergenceEstimator<B: FlowBackend> {
    /// The exact trace.
    Exact,
    /// Hutchinson's estimate with these probes (`[m, n, d]`).
    Hutchinson(Tensor<B, 3>),
}

impl<B: FlowBackend> DivergenceEstimator<B> {
    /// The vector field and its divergence at `(x, t)`.
    pub(super) fn value_and_divergence(
        &self,
        field: &impl TimeDependent<B>,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
    ) -> (Tensor<B, 2>, Tensor<B, 1>) {
        match self {
            DivergenceEstimator::Exact => field.value_and_divergence(x, t),
            DivergenceEstimator::Hutchinson(probes) => {
                field.value_and_hutchinson_divergence(x, t, probes.clone())
            }
        }
    }
}
