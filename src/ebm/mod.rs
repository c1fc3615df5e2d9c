//! Energies learned from samples: an energy-based model p_θ ∝ exp(−E_θ) trained by
//! `boltzflow train` from a samples file, like a flow.
//!
//! - [`EnergyModel`]: E_θ(x) = MLP(z) + κ‖z‖²/2 on the data's standardised coordinates, with
//!   ∇ₓE by forward-mode tangents;
//! - [`LangevinConfig`]: the short-run Langevin dynamics that draws its negatives;
//! - [`ContrastiveDivergence`]: maximum likelihood with persistent Langevin chains (the baseline
//!   of learning energies from samples);
//! - [`WassersteinFlow`]: the same gradient with particles that follow the Wasserstein gradient
//!   flow of KL(ρ‖p_θ) by JKO steps, reweighted between modes by birth and death;
//! - [`Grid`], [`EnergySurface`]: in one or two dimensions, log Z_θ on a grid, hence the model's
//!   normalised density, its test log-likelihood and its exact KL divergence to a known density;
//!   the surface in `run.h5` (group `energy`) and `energy.png` beside the data's histogram;
//! - [`vapo`]: VAPO, a time-dependent potential whose gradient flow carries a Gaussian to the
//!   data, trained without sampling the model (`potential:` with the `Vapo` objective); a flow,
//!   so `sample` draws from it with exact log q;
//! - [`LearnedEnergy`]: a trained model as a system, `System(learned: "RUN_DIR")`, usable
//!   wherever a system file is (`info`, `energy`, `md`, `train`).
//!
//! ```ron
//! Train(
//!     system: "systems/gmm2.ron",       // the data's system: dimension, exact test samples
//!     energy: (hidden: [64, 64]),
//!     steps: 3000,
//!     batch_size: 256,
//!     objectives: [ContrastiveDivergence(
//!         samples: File(path: "gmm2_samples.h5"),
//!         langevin: (steps: 20, step_size: 0.01),
//!     )],
//!     optimizer: (lr: 1e-3),
//! )
//! ```

mod contrastive_divergence;
mod grid;
mod langevin;
mod learned;
mod model;
mod particles;
mod periodic_spline;
mod scales;
mod surface;
pub mod vapo;
mod wasserstein;

pub use contrastive_divergence::{CdSettings, ContrastiveDivergence};
pub use grid::{GRID_POINTS, Grid, kl_divergence};
pub use langevin::LangevinConfig;
pub use learned::LearnedEnergy;
pub use model::{EnergyModel, EnergyModelConfig, EnergySpec};
pub use periodic_spline::PeriodicSpline;
pub use surface::{EnergyFn, EnergySurface, SurfaceEvaluation, model_energy};
pub use vapo::{PotentialFlow, PotentialFlowConfig, PotentialSpec, Vapo, VapoLoss};
pub use wasserstein::{WassersteinFlow, WgfConfig};
