//! Continuous normalizing flows: dx/dt = V_t(x), with input derivatives written by hand.
//!
//! The PDE (continuity) objective of Máté & Fleuret needs ∂_t f, ∇_x f and ∇·V of networks, and
//! needs them differentiable with respect to the parameters. burn's autodiff is first order
//! only, so these derivatives are forward-mode tangents pushed through the layers as tensor ops
//! ([`TimeDependent::jvp`]); backpropagating through them gives the parameter gradients.
//!
//! - [`TimeMlp`]: an MLP on [x, t] with tangents;
//! - [`TimeDependent`]: the derivatives built from tangents: exact and Hutchinson divergence,
//!   spatial gradient and time derivative;
//! - [`GatedField`]: the published time-gated vector field Σ_k w_k(t) MLP_k([x, t]);
//! - [`SolverConfig`]: fixed-step RK4 and adaptive Dormand–Prince 5(4) on the augmented state
//!   (x, log-det), differentiable through their stages;
//! - [`ContinuousFlow`]: base + field + solver, a [`Density`](crate::flow::Density) and a
//!   [`Bijection`](crate::flow::Bijection);
//! - [`rerooted`]: a work-around that keeps burn's autodiff linear in the length of long
//!   computations reusing the same parameters (each solve uses it).

mod continuous_flow;
mod divergence;
mod dopri5;
mod gated_field;
mod reroot;
mod rk4;
mod solver;
mod tangent;
#[cfg(test)]
mod test_support;
mod time_dependent;
mod time_mlp;

pub use continuous_flow::{ContinuousFlow, ContinuousFlowConfig, carry};
pub use divergence::{DivergenceMethod, Probe};
pub use dopri5::Dopri5Config;
pub use gated_field::{GatedField, GatedFieldConfig};
pub use reroot::rerooted;
pub use rk4::Rk4Config;
pub use solver::{Dynamics, SolverConfig};
pub use time_dependent::TimeDependent;
pub use time_mlp::{TimeMlp, TimeMlpConfig};

use crate::flow::Activation;

/// Serde default: swish, the smooth activation of the published fields.
fn silu() -> Activation {
    Activation::Silu
}
