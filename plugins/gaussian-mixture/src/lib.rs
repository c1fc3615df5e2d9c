//! boltzflow energy plugin `gaussian-mixture`: an n-dimensional Gaussian mixture.
//!
//! The density is p(x) = Σ_k w_k N(x; μ_k, Σ_k) with the weights normalised to sum 1, and the
//! reduced energy is u(x) = −log p(x). It is normalised, so the exact log Z is 0, and the plugin
//! offers an exact sampler (pick a component by weight, then μ_k + L_k z with Σ_k = L_k L_kᵀ).
//! The gradient ∇u(x) = Σ_k r_k(x) Σ_k⁻¹ (x − μ_k) is analytic, with the responsibilities r_k
//! computed by a log-sum-exp, so u and ∇u stay finite far from every mode.
//!
//! # Configuration (RON)
//!
//! Either a preset alone:
//!
//! ```ron
//! (preset: "gmm40") // FAB's GMM-40: 40 equal-weight isotropic 2-D components, σ = softplus(1)
//! (preset: "gmm4")  // Máté & Fleuret: unit Gaussians at (±8, ±8), equal weights
//! (preset: "gmm2")  // unit Gaussians at (4, 4) and (−8, −8), weights 1 : 2
//! ```
//!
//! or an explicit mixture: `means` (one point per component), then either `covariances` (one
//! symmetric positive definite matrix per component, as rows) or `stds` (one isotropic standard
//! deviation per component; `std` is accepted as an alias), and optionally `weights` (positive,
//! normalised to sum 1; equal when left out):
//!
//! ```ron
//! (
//!     weights: [1.0, 3.0],
//!     means: [[0.0, 0.0, 0.0], [3.0, -1.0, 2.0]],
//!     covariances: [
//!         [[1.0, 0.3, 0.0], [0.3, 2.0, 0.4], [0.0, 0.4, 0.5]],
//!         [[0.8, 0.0, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 0.8]],
//!     ],
//! )
//! ```
//!
//! ```ron
//! (means: [[-2.0], [2.0]], stds: [0.5, 1.0])
//! ```
//!
//! Unknown fields, a preset next to explicit fields, and invalid numbers (non-positive weights or
//! standard deviations, mismatched dimensions, non-symmetric or non-positive-definite
//! covariances) are errors that say what is wrong, naming the component.
//!
//! # Evaluation and sampling
//!
//! Batches are evaluated without allocation, with the components in blocks processed lane by
//! lane (vectorised, with AVX2 where the CPU has it) and blocks whose contribution is below
//! e⁻⁵⁰ of the largest skipped. A point with a NaN or infinite coordinate gets u = NaN. Samples
//! come from a PCG64 stream seeded with the seed, so the first m samples of a seed do not depend
//! on how many are asked for.

mod config;
mod kernel;
mod mixture;
#[cfg(test)]
mod tests;

use boltzflow_plugin::{Context, Energy, Metadata, PluginError};
use config::{Shapes, Spec};
use mixture::Mixture;
use serde::Serialize;

/// The Gaussian mixture energy u(x) = −log Σ_k w_k N(x; μ_k, Σ_k).
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    spec: Spec,
    mixture: Mixture,
}

/// The resolved parameters recorded in the metadata. `stds` or `covariances` appears as in the
/// configuration, so the mixture can be rebuilt from them.
#[derive(Serialize)]
struct Parameters<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<&'a str>,
    dim: usize,
    components: usize,
    weights: &'a [f64],
    means: &'a [Vec<f64>],
    #[serde(flatten)]
    shapes: &'a Shapes,
    covariance: String,
    log_z: f64,
}

impl Energy for GaussianMixture {
    fn from_config(config: &str, _context: &Context) -> Result<Self, PluginError> {
        let spec = Spec::from_config(config)?;
        let mixture = Mixture::new(&spec)?;
        Ok(GaussianMixture { spec, mixture })
    }

    fn dim(&self) -> usize {
        self.mixture.dim()
    }

    fn metadata(&self) -> Metadata {
        let spec = &self.spec;
        Metadata::new(spec.system.as_str())
            .with_description(spec.description.as_str())
            .with_parameters(Parameters {
                preset: spec.preset,
                dim: spec.dim(),
                components: spec.means.len(),
                weights: &spec.weights,
                means: &spec.means,
                shapes: &spec.shapes,
                covariance: covariance_summary(&spec.shapes),
                log_z: 0.0,
            })
    }

    fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        self.mixture.energy(x, grad)
    }

    fn energy_batch(
        &self,
        x: &[f64],
        u: &mut [f64],
        grad: Option<&mut [f64]>,
    ) -> Result<(), PluginError> {
        self.mixture.energy_batch(x, u, grad)
    }

    fn log_z(&self) -> Option<f64> {
        Some(0.0)
    }

    fn has_exact_sampler(&self) -> bool {
        true
    }

    fn sample(&self, seed: u64, out: &mut [f64]) -> Result<(), PluginError> {
        self.mixture.sample(seed, out)
    }
}

/// One line on the components' covariances.
fn covariance_summary(shapes: &Shapes) -> String {
    match shapes {
        Shapes::Stds(stds) if stds.iter().all(|s| *s == stds[0]) => {
            format!("isotropic, σ = {} for every component", stds[0])
        }
        Shapes::Stds(_) => "isotropic, one σ per component (see stds)".into(),
        Shapes::Covariances(_) => "full, one matrix per component (see covariances)".into(),
    }
}

boltzflow_plugin::export_plugin!(GaussianMixture, "gaussian-mixture");
