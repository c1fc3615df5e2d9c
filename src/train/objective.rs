//! The objectives a run combines, each producing a weighted loss from a batch.

use super::fab::{Fab, FabState};
use super::model::Model;
use super::pde::{PdeObjective, TargetEnergies};
use super::{ForwardKl, ObjectiveConfig, ReverseKl, SampleSource, TrainConfig};
use crate::energy::System;
use crate::io::read_points;
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Stream index (far from any step index) of the run's fixed training sample set.
const TRAINING_SET_STREAM: u64 = u64::MAX - 1;

/// One objective's contribution to a gradient step.
pub struct Batch<B: Backend> {
    /// The weighted loss, differentiable with respect to the flow's parameters.
    pub loss: Tensor<B, 1>,
    /// log w = −u − log q of the batch's own flow samples, when it drew any.
    pub log_w: Option<Vec<f64>>,
    /// Points left out because a number was not finite.
    pub n_nonfinite: usize,
}

/// An objective ready to produce losses.
pub enum Objective {
    /// Maximum likelihood on samples.
    ForwardKl(ForwardKl),
    /// Reverse KL on flow samples.
    ReverseKl(ReverseKl),
    /// FAB (α = 2 AIS), with or without a replay buffer.
    Fab(Box<Fab>),
    /// The PDE (continuity) objective, on a continuous flow.
    Pde(PdeObjective),
}

/// What an objective carries from one step to the next, for checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ObjectiveState {
    /// Nothing.
    Stateless,
    /// FAB's AIS step sizes and buffer counters.
    Fab(FabState),
}

impl Objective {
    /// Builds the objectives of a run; `base_dir` is the configuration's folder.
    pub fn build_all(config: &TrainConfig, base_dir: &Path, system: &System) -> Result<Vec<Self>> {
        config
            .objectives
            .iter()
            .map(|objective| {
                Objective::build(
                    objective,
                    config.seed,
                    base_dir,
                    system,
                    config.flow.mcmc_dim(system.dim()),
                )
            })
            .collect()
    }

    /// Builds one objective; `mcmc_dim` is the dimension of the space the flow's MCMC runs in.
    fn build(
        config: &ObjectiveConfig,
        seed: u64,
        base_dir: &Path,
        system: &System,
        mcmc_dim: usize,
    ) -> Result<Self> {
        Ok(match config {
            ObjectiveConfig::ForwardKl { weight, samples } => {
                let data = match samples {
                    SampleSource::Exact { n } => {
                        system.sample_exact(*n, crate::seed::derive(seed, TRAINING_SET_STREAM))?
                    }
                    SampleSource::File { path } => {
                        let points = read_points(&base_dir.join(path))?;
                        if points.dim != system.dim() {
                            return Err(Error::Shape {
                                what: format!("training samples {}", path.display()),
                                expected: format!("{} coordinates per point", system.dim()),
                                found: format!("{}", points.dim),
                            });
                        }
                        points.data
                    }
                };
                Objective::ForwardKl(ForwardKl::new(*weight, data, system.dim())?)
            }
            ObjectiveConfig::ReverseKl { weight } => Objective::ReverseKl(ReverseKl::new(*weight)),
            ObjectiveConfig::Fab {
                weight,
                ais,
                buffer,
                filter_chirality,
            } => Objective::Fab(Box::new(Fab::new(
                *weight,
                ais,
                buffer.as_ref(),
                *filter_chirality,
                system.dim(),
                mcmc_dim,
            )?)),
            ObjectiveConfig::Pde {
                weight,
                batch,
                times,
                substeps,
                ..
            } => {
                let objective = PdeObjective {
                    weight: *weight,
                    batch: *batch,
                    times: *times,
                    substeps: *substeps,
                };
                objective.validate()?;
                Objective::Pde(objective)
            }
        })
    }

    /// The objective's weighted loss for one gradient step of `batch_size` points.
    pub fn loss<B: AutodiffBackend>(
        &mut self,
        model: &Model<B>,
        system: &System,
        batch_size: usize,
        rng: &mut impl rand::Rng,
        device: &B::Device,
    ) -> Result<Batch<B>> {
        match self {
            Objective::ForwardKl(o) => Ok(Batch {
                loss: o.loss(model, batch_size, rng, device),
                log_w: None,
                n_nonfinite: 0,
            }),
            Objective::ReverseKl(o) => o.loss(model, system, batch_size, device),
            Objective::Fab(o) => o.loss(model, system, batch_size, rng, device),
            Objective::Pde(o) => {
                let model = model.continuous().ok_or_else(|| {
                    Error::InvalidArgument(
                        "the PDE objective needs a continuous flow: `flow: Continuous(...)`".into(),
                    )
                })?;
                let target = |x: &[f64]| -> TargetEnergies { system.energy_and_gradient(x) };
                let out = o.loss(model, &target, device)?;
                Ok(Batch {
                    loss: out.loss,
                    log_w: None,
                    n_nonfinite: out.masked_points as usize,
                })
            }
        }
    }

    /// The state to checkpoint.
    pub fn state(&self) -> ObjectiveState {
        match self {
            Objective::Fab(o) => ObjectiveState::Fab(o.state()),
            _ => ObjectiveState::Stateless,
        }
    }
}
