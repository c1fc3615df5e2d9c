//! Normalizing flows on burn, generic over the backend.
//!
//! A flow is a base distribution pushed through a chain of bijections:
//! x = f_K ∘ … ∘ f_1(z), z ~ base, with
//! log q(x) = log base(z) − Σ_k log|det ∂f_k/∂(input)|.
//!
//! - [`Bijection`]: one invertible layer, batched (`[n, dim]`), with its log-determinant;
//! - [`Layer`]: every layer kind as one enum (a burn `Module`), so a flow is a `Vec<Layer>`;
//! - [`Base`]: the base distributions;
//! - [`InternalCoordinates`]: molecular internal coordinates ↔ Cartesian positions;
//! - [`Flow`]: base + layers, with `sample` (points and their log q) and `log_prob`;
//! - [`Density`]: what a trainer needs from any flow, discrete or continuous;
//! - [`ContinuousFlow`]: a continuous flow dx/dt = V_t(x) with hand-written input derivatives
//!   ([`TimeDependent`]) and ODE solvers ([`SolverConfig`]).
//!
//! Float precision is chosen once per process with [`set_precision`] (burn fixes a device's
//! default float type at its first tensor).

mod act_norm;
mod affine;
mod base;
mod bijection;
mod circular_gaussian;
mod columns;
mod continuous;
mod coupling_flow;
mod generalized_gaussian;
mod host;
mod internal;
mod layer;
mod lu_linear;
mod mask;
mod mlp;
mod periodic_shift;
mod permutation;
mod positive;
mod precision;
mod spec;
mod spline;
mod spline_coupling;
#[cfg(test)]
pub(crate) mod testing;

pub use act_norm::{ActNorm, ActNormConfig};
pub use affine::{AffineCoupling, AffineCouplingConfig};
pub use base::{Base, BaseConfig, DiagGaussian, DiagGaussianConfig};
pub use bijection::Bijection;
pub use circular_gaussian::{CircularGaussian, CircularGaussianConfig};
pub use continuous::{
    ContinuousFlow, ContinuousFlowConfig, DivergenceMethod, Dopri5Config, Dynamics, GatedField,
    GatedFieldConfig, Probe, Rk4Config, SolverConfig, TimeDependent, TimeMlp, TimeMlpConfig, carry,
    rerooted,
};
pub use coupling_flow::{Density, Flow, FlowConfig};
pub use generalized_gaussian::{GeneralizedGaussian, GeneralizedGaussianConfig};
pub use host::{log_prob_on_host, sample_points_to_host, sample_to_host, to_host};
pub use internal::{
    ALDP_PHI, ALDP_PHI_ROTATION, ALDP_PSI, ALDP_PSI_ROTATION, InternalCoordinates,
    InternalCoordinatesConfig, NormalisationScales, ZMatrix, ZRow,
};
pub use layer::{Layer, LayerConfig};
pub use lu_linear::{LuLinear, LuLinearConfig};
pub use mask::{Mask, alternating_mask, random_mask};
pub use mlp::{Activation, Mlp, MlpConfig};
pub use periodic_shift::{PeriodicShift, PeriodicShiftConfig};
pub use permutation::{Permutation, PermutationConfig};
pub use precision::{Precision, from_f64, set_precision};
pub use spec::{BuildContext, BuiltFlow, ContinuousBase, FlowSpec, InternalSpec};
pub use spline::{AutodiffFlowBackend, FlowBackend};
pub use spline_coupling::{SplineCoupling, SplineCouplingConfig};
