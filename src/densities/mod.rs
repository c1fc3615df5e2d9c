//! Densities on the host, for MCMC and AIS: the target from its plugin ([`TargetDensity`]), a
//! flow with its input gradient ([`FlowDensity`]), the target seen through a molecular flow's
//! internal coordinates ([`InternalTarget`]), angles wrapped onto the torus ([`OnTorus`]), and
//! the one place that chooses in which space a flow's MCMC runs ([`McmcSpace`]). FAB, `sample
//! --ais` and `md` use them.

mod flow;
mod internal;
mod space;
mod target;
mod torus;

pub use flow::FlowDensity;
pub use internal::InternalTarget;
pub use space::McmcSpace;
pub use target::TargetDensity;
pub use torus::OnTorus;

/// Points per autodiff pass when a gradient with respect to the inputs is asked for.
const GRADIENT_CHUNK: usize = 4096;
