//! The PDE (continuity) objective of Máté & Fleuret (TMLR 2023).
//!
//! A path of densities p_t ∝ exp(−f_t) from the base (t = 0) to the target (t = 1),
//! f_t = t·u + (1 − t)·f₀ + t(1 − t)·NN(x, t), is followed by a continuous flow dx/dt = V_t(x)
//! when the continuity equation holds, i.e. when the residual
//!
//! ε(t, x) = ∂_t f_t − ∇·V_t + ∇f_t · V_t + C(t)
//!
//! vanishes everywhere, with C(t) = ∂_t log Z_t. The loss is the mean of |ε| + ε² over a grid of
//! times and the flow's own (detached) trajectories, and ∫₀¹ C dt estimates log Z of the target.
//!
//! - [`PdeModelConfig`] / [`PdeModel`]: the flow, the optional interpolation correction NN and
//!   the rate network C;
//! - [`PdeObjective`]: collocation, target evaluation with masking, residual, loss;
//! - [`continuity_residual`]: the residual as a pure tensor function;
//! - [`rate_integrals`]: ∫C dt reweighted along the flow, the log Z estimate that stays right
//!   before the flow has converged (the trained C is fitted to the flow's own trajectories,
//!   and is biased until they follow the path).

mod collocation;
mod config;
mod model;
mod objective;
mod points;
mod quadrature;
mod residual;
mod reweighted;
#[cfg(test)]
mod tests;

pub use collocation::trajectory;
pub use config::{Interpolation, PdeModelConfig, default_rate_hidden};
pub use model::PdeModel;
pub use objective::{PdeLoss, PdeObjective, default_batch, default_substeps, default_times};
pub use points::{PdePoints, TargetEnergies};
pub use quadrature::gauss_legendre;
pub use residual::{Energies, Residual, continuity_residual};
pub use reweighted::{RateIntegrals, rate_integrals};
