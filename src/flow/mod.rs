//! Normalizing flows on burn, generic over the backend.
//!
//! A flow is a base distribution pushed through a chain of bijections:
//! x = f_K ∘ … ∘ f_1(z), z ~ base, with
//! log q(x) = log base(z) − Σ_k log|det ∂f_k/∂(input)|.
//!
//! - [`Bijection`]: one invertible layer, batched (`[n, dim]`), with its log-determinant;
//! - [`Layer`]: every layer kind as one enum (a burn `Module`), so a flow is a `Vec<Layer>`;
//! - [`Base`]: the base distributions;
//! - [`Flow`]: base + layers, with `sample` (points and their log q) and `log_prob`;
//! - [`Density`]: what a trainer needs from any flow, discrete or continuous;
//! - [`ContinuousFlow`]: a continuous flow dx/dt = V_t(x) with hand-written input derivatives
//!   ([`TimeDependent`]) and ODE solvers ([`SolverConfig`]).
//!
//! Float precision is chosen once per process with [`set_precision`] (burn fixes a device's
//! default float type at its first tensor).

mod affine;
mod base;
mod bijection;
mod continuous;
mod coupling_flow;
mod layer;
mod mask;
mod mlp;
mod precision;
#[cfg(test)]
pub(crate) mod testing;

pub use affine::{AffineCoupling, AffineCouplingConfig};
pub use base::{Base, BaseConfig, DiagGaussian, DiagGaussianConfig};
pub use bijection::Bijection;
pub use continuous::{
    ContinuousFlow, ContinuousFlowConfig, DivergenceMethod, Dopri5Config, Dynamics, GatedField,
    GatedFieldConfig, Probe, Rk4Config, SolverConfig, TimeDependent, TimeMlp, TimeMlpConfig,
    rerooted,
};
pub use coupling_flow::{Density, Flow, FlowConfig};
pub use layer::{Layer, LayerConfig};
pub use mask::{Mask, alternating_mask, random_mask};
pub use mlp::{Activation, Mlp, MlpConfig};
pub use precision::{Precision, from_f64, set_precision};
