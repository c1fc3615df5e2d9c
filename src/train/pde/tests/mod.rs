//! Tests of the PDE objective (f64 on the CPU backend).

mod config;
mod exact;
mod gradients;
mod hutchinson;
mod masking;
mod reference;
mod reweighted;
mod training;

use crate::flow::{
    BaseConfig, ContinuousFlowConfig, DiagGaussianConfig, GatedFieldConfig, Rk4Config, SolverConfig,
};

/// A Gaussian target u(x) = |x − mean|²/(2 std²) + offset on the host, with its gradient, and
/// its exact log Z = d log(std √(2π)) − offset.
pub(super) struct GaussianTarget {
    pub dim: usize,
    pub mean: f64,
    pub std: f64,
    pub offset: f64,
}

impl GaussianTarget {
    pub fn energies(&self, x: &[f64]) -> crate::Result<(Vec<f64>, Vec<f64>)> {
        let var = self.std * self.std;
        let u = x
            .chunks(self.dim)
            .map(|p| p.iter().map(|v| (v - self.mean).powi(2)).sum::<f64>() / (2.0 * var))
            .map(|u| u + self.offset)
            .collect();
        let gradient = x.iter().map(|v| (v - self.mean) / var).collect();
        Ok((u, gradient))
    }

    pub fn log_z(&self) -> f64 {
        self.dim as f64 * (self.std * (2.0 * std::f64::consts::PI).sqrt()).ln() - self.offset
    }
}

/// A continuous flow from a diagonal Gaussian base with a gated field of these hidden widths
/// and RK4 with 50 steps.
pub(super) fn flow_config(
    dim: usize,
    std: f64,
    trainable: bool,
    hidden: Vec<usize>,
) -> ContinuousFlowConfig {
    ContinuousFlowConfig {
        base: BaseConfig::DiagGaussian(DiagGaussianConfig {
            dim,
            trainable,
            std,
        }),
        field: GatedFieldConfig::new(dim, hidden),
        solver: SolverConfig::Rk4(Rk4Config { steps: 50 }),
        divergence: Default::default(),
    }
}
