//! The run configuration of `boltzflow train` (RON).

use super::pde::{self, Interpolation};
use crate::flow::{FlowSpec, Precision};
use crate::sampling::AisConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A training run.
///
/// ```ron
/// Train(
///     system: "systems/gmm40.ron",          // relative to this file's folder
///     flow: RealNvp(layers: 8, hidden: [64, 64]),
///     precision: F32,
///     seed: 1,
///     steps: 2000,
///     batch_size: 512,
///     objectives: [ForwardKl(weight: 1.0, samples: Exact(n: 100000))],
///     optimizer: (lr: 1e-3, warmup_steps: 100, cosine: true, clip_grad_norm: 100.0),
///     checkpoint_every: 500,
/// )
/// ```
///
/// FAB with its replay buffer (GMM-40 settings of the paper):
///
/// ```ron
/// objectives: [Fab(
///     ais: (intermediate: 1, kernel: Metropolis(step_size: 5.0, adapt: false)),
///     buffer: (capacity: 12800, min_length: 1280, updates_per_batch: 4),
/// )],
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Train")]
pub struct TrainConfig {
    /// The system file, relative to the configuration's folder (overridable with `--system`).
    pub system: PathBuf,
    /// The flow architecture.
    pub flow: FlowSpec,
    /// Float precision.
    #[serde(default)]
    pub precision: Precision,
    /// Random seed of the run: masks, initial weights, batches.
    #[serde(default)]
    pub seed: u64,
    /// Number of gradient steps.
    pub steps: usize,
    /// Points per gradient step.
    pub batch_size: usize,
    /// The objectives, summed with their weights.
    pub objectives: Vec<ObjectiveConfig>,
    /// The optimiser.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Steps between checkpoints (and evaluations).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Exact samples for the test log-likelihood, when the system has an exact sampler.
    #[serde(default = "default_test_samples")]
    pub test_samples: usize,
    /// Flow samples for the reverse ESS and log Ẑ at each evaluation (0: none). Their energy
    /// evaluations are not counted as training cost.
    #[serde(default = "default_test_samples")]
    pub eval_samples: usize,
}

fn default_checkpoint_every() -> usize {
    1000
}

fn default_test_samples() -> usize {
    10_000
}

impl TrainConfig {
    /// Checks the numbers that serde cannot.
    pub fn validate(&self) -> crate::Result<()> {
        let fail = |m: &str| Err(crate::Error::InvalidArgument(m.to_owned()));
        if self.steps == 0 || self.batch_size == 0 {
            return fail("`steps` and `batch_size` must be positive");
        }
        if self.objectives.is_empty() {
            return fail(
                "`objectives` is empty: give at least one, e.g. [ForwardKl(weight: 1.0, samples: Exact(n: 100000))]",
            );
        }
        for objective in &self.objectives {
            if let ObjectiveConfig::Fab {
                buffer: Some(b), ..
            } = objective
                && (b.capacity == 0
                    || b.min_length > b.capacity
                    || b.min_length < self.batch_size
                    || b.updates_per_batch == 0
                    || b.w_adjust_clip.is_nan()
                    || b.w_adjust_clip <= 0.0)
            {
                return fail(
                    "FAB buffer: need batch_size ≤ min_length ≤ capacity, updates_per_batch ≥ 1 and a positive w_adjust_clip",
                );
            }
        }
        let continuous = matches!(self.flow, FlowSpec::Continuous { .. });
        if !continuous
            && self
                .objectives
                .iter()
                .any(|o| matches!(o, ObjectiveConfig::Pde { .. }))
        {
            return fail(
                "the Pde objective needs a continuous flow: `flow: Continuous(hidden: [...], base: ...)`",
            );
        }
        if self.checkpoint_every == 0 {
            return fail("`checkpoint_every` must be positive");
        }
        let o = &self.optimizer;
        if o.lr.is_nan()
            || o.lr <= 0.0
            || o.weight_decay < 0.0
            || !(0.0..=1.0).contains(&o.final_lr_fraction)
        {
            return fail(
                "optimizer: `lr` must be positive, `weight_decay` non-negative, `final_lr_fraction` in [0, 1]",
            );
        }
        Ok(())
    }
}

/// One objective with its weight in the total loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ObjectiveConfig {
    /// Maximum likelihood on samples: −E_data[log q(x)].
    ForwardKl {
        /// Weight in the total loss.
        #[serde(default = "one")]
        weight: f64,
        /// Where the samples come from.
        samples: SampleSource,
    },
    /// Reverse KL on the flow's own samples: E_q[log q + u] (mode-seeking; needs ∇u).
    ReverseKl {
        /// Weight in the total loss.
        #[serde(default = "one")]
        weight: f64,
    },
    /// FAB: the α = 2 divergence estimated by AIS toward p²/q, optionally with FAB's
    /// prioritised replay buffer.
    Fab {
        /// Weight in the total loss.
        #[serde(default = "one")]
        weight: f64,
        /// The AIS between the flow and p²/q.
        ais: AisConfig,
        /// The replay buffer (none: every gradient step runs its own AIS batch).
        #[serde(default)]
        buffer: Option<BufferConfig>,
        /// Atoms `(N, CA, C, CB)` of a stereocentre: AIS samples of the mirror-image (D) form,
        /// a negative signed volume, are dropped before training on them and counted, as FAB
        /// does for alanine dipeptide (`Some((6, 8, 14, 10))`). A batch in which fewer than
        /// 10% are L is kept whole (early in training), as in FAB.
        #[serde(default)]
        filter_chirality: Option<[usize; 4]>,
    },
    /// The PDE (continuity) objective of Máté & Fleuret, for a `Continuous` flow: the
    /// residual of the continuity equation along a path of energies from the base to the
    /// target, on the flow's own trajectories; ∫C dt estimates log Z.
    Pde {
        /// Weight in the total loss.
        #[serde(default = "one")]
        weight: f64,
        /// Trajectories per step (256 published).
        #[serde(default = "pde::default_batch")]
        batch: usize,
        /// Grid times in [0, 1] (51 published).
        #[serde(default = "pde::default_times")]
        times: usize,
        /// RK4 steps per grid interval of the trajectories.
        #[serde(default = "pde::default_substeps")]
        substeps: usize,
        /// The path of energies: `Linear` or `Learned(hidden: [...])`.
        #[serde(default)]
        interpolation: Interpolation,
        /// Hidden widths of the rate network C(t).
        #[serde(default = "pde::default_rate_hidden")]
        rate_hidden: Vec<usize>,
    },
}

/// FAB's prioritised replay buffer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Most points held; the oldest are dropped first.
    pub capacity: usize,
    /// Points gathered by AIS before the first gradient step.
    pub min_length: usize,
    /// Gradient steps per AIS batch added.
    pub updates_per_batch: usize,
    /// Upper clip of the weight correction (q_old/q_now) of a drawn point.
    #[serde(default = "ten")]
    pub w_adjust_clip: f64,
}

fn ten() -> f64 {
    10.0
}

fn one() -> f64 {
    1.0
}

/// Training samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SampleSource {
    /// `n` exact samples from the system's sampler (seeded by the run's seed).
    Exact {
        /// Number of samples.
        n: usize,
    },
    /// Samples from an HDF5 file: `/x`, `/positions` or `/samples/x` (relative to the
    /// configuration's folder).
    File {
        /// The file.
        path: PathBuf,
    },
}

/// AdamW with linear warm-up and optional cosine decay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Steps of linear warm-up from lr/warmup_steps to lr.
    pub warmup_steps: usize,
    /// Cosine decay after the warm-up, down to `final_lr_fraction · lr`.
    pub cosine: bool,
    /// Final learning rate of the cosine decay, as a fraction of `lr`.
    pub final_lr_fraction: f64,
    /// Maximum global gradient norm (none: no clipping).
    pub clip_grad_norm: Option<f64>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            lr: 1e-3,
            weight_decay: 0.0,
            warmup_steps: 0,
            cosine: false,
            final_lr_fraction: 0.0,
            clip_grad_norm: None,
        }
    }
}
