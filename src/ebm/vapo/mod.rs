//! VAPO, variational potential flow (Loo et al., arXiv 2407.15238): a time-dependent potential
//! Φ_θ(z, t) whose gradient field ż = ∇Φ carries the prior N(0, I) to the data, trained from
//! samples alone by the Deep Ritz form of a weighted Poisson equation.
//!
//! - [`GaussianPath`]: the log-homotopy from the prior to a narrow Gaussian at each data
//!   point, with ∂ₜ log ρ_t in closed form;
//! - [`Vapo`]: the objective, the Deep Ritz loss ½‖∇Φ‖² − Φ ∂ₜ log ρ_t on draws from those
//!   paths, or the same loss integrated by parts, ½‖∇Φ − u_t‖² ([`VapoLoss`]);
//! - [`PotentialSpec`], [`PotentialFlow`]: the potential, a flow with samples from the ODE and
//!   log q from the integral of −ΔΦ (exact, by second-order tangents).
//!
//! ```ron
//! Train(
//!     system: "systems/gmm2.ron",
//!     potential: (hidden: [64, 64, 64], sigma: 0.02),
//!     steps: 3000,
//!     batch_size: 256,
//!     objectives: [Vapo(samples: File(path: "gmm2_samples.h5"))],
//! )
//! ```

mod objective;
mod path;
mod potential;

pub use objective::{Vapo, VapoLoss};
pub use path::GaussianPath;
pub use potential::{PotentialFlow, PotentialFlowConfig, PotentialSpec};
