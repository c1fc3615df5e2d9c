//! Training flows: objectives, the optimiser loop, checkpoints.
//!
//! A run is described by a [`TrainConfig`] (RON). The [`Trainer`] builds the flow, minimises
//! the weighted sum of its objectives with AdamW, skips non-finite steps, clips the global
//! gradient norm, and writes a checkpoint every few steps and on Ctrl-C, from which the run
//! resumes exactly.

mod checkpoint;
mod clip;
mod config;
mod forward_kl;
mod pde;
mod schedule;
mod trainer;

pub use checkpoint::{Checkpoint, TrainState};
pub use clip::clip_global_norm;
pub use config::{ObjectiveConfig, OptimizerConfig, SampleSource, TrainConfig};
pub use forward_kl::ForwardKl;
pub use pde::{
    Energies, Interpolation, PdeLoss, PdeModel, PdeModelConfig, PdeObjective, PdePoints,
    TargetEnergies, continuity_residual, gauss_legendre, trajectory,
};
pub use schedule::learning_rate;
pub use trainer::{RunManifest, Trainer, seed_for_step};
