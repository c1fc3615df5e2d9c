//! Training flows and energy models: objectives, the optimiser loop, checkpoints.
//!
//! A run is described by a [`TrainConfig`] (RON). Its objectives (each behind the
//! [`Objective`] trait): maximum likelihood on samples ([`ForwardKl`]), reverse KL
//! ([`ReverseKl`]), FAB ([`Fab`], α = 2 AIS with the prioritised [`ReplayBuffer`]) and the PDE
//! objective ([`PdeObjective`]) for flows; contrastive divergence
//! ([`crate::ebm::ContrastiveDivergence`]) for energy models. The [`Trainer`] builds the
//! model, minimises
//! the weighted sum of its objectives with AdamW, skips non-finite steps, clips the global
//! gradient norm, and writes a checkpoint every few steps and on Ctrl-C, from which the run
//! resumes exactly. Over several MPI ranks the training is data-parallel
//! ([`Trainer::on_ranks`]; the gradients' sum and the parameters' checks in `data_parallel`).

mod batch;
mod checkpoint;
mod clip;
mod config;
mod data_parallel;
mod fab;
mod forward_kl;
mod model;
mod objective;
mod pde;
mod replay_buffer;
mod reverse_kl;
mod schedule;
mod trainer;

pub use batch::{Batch, check_training_points, draw_rows};
pub use checkpoint::{Checkpoint, HistoryRow, TrainState};
pub use clip::clip_global_norm;
pub use config::{
    BufferConfig, ModelKind, ObjectiveConfig, OptimizerConfig, SampleFiles, SampleSource,
    TrainConfig,
};
pub use fab::{Fab, FabState};
pub use forward_kl::ForwardKl;
pub use model::{Model, ModelConfig, Trainable};
pub use objective::{Objective, ObjectiveState, StepContext};
pub use pde::{
    Energies, Interpolation, PdeLoss, PdeModel, PdeModelConfig, PdeObjective, PdePoints,
    RateIntegrals, TargetEnergies, continuity_residual, gauss_legendre, rate_integrals, trajectory,
};
pub use replay_buffer::{BufferContent, Draw, FAB_ALPHA, ReplayBuffer};
pub use reverse_kl::ReverseKl;
pub use schedule::learning_rate;
pub use trainer::{Trainer, seed_for_step};
