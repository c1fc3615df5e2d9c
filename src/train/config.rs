//! The run configuration of `boltzflow train` (RON).

use super::pde::{self, Interpolation, PdeObjective};
use crate::ebm::{EnergySpec, LangevinConfig, PotentialSpec, VapoLoss, WgfConfig};
use crate::flow::{DivergenceMethod, FlowSpec, Precision};
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
/// An energy model learned from samples takes `energy:` instead of `flow:` (see [`crate::ebm`]):
///
/// ```ron
/// energy: (hidden: [64, 64]),
/// objectives: [ContrastiveDivergence(samples: File(path: "samples.h5"))],
/// ```
///
/// VAPO's potential flow takes `potential:` (see [`crate::ebm::vapo`]):
///
/// ```ron
/// potential: (hidden: [64, 64, 64], sigma: 0.02),
/// objectives: [Vapo(samples: File(path: "samples.h5"))],
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
    /// The flow architecture (for a flow; exactly one of `flow`, `energy` and `potential` is
    /// given).
    #[serde(default)]
    pub flow: Option<FlowSpec>,
    /// The energy model (for an energy learned from samples).
    #[serde(default)]
    pub energy: Option<EnergySpec>,
    /// VAPO's potential flow (learned from samples with the `Vapo` objective).
    #[serde(default)]
    pub potential: Option<PotentialSpec>,
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
    #[serde(default = "crate::defaults::int::<1000>")]
    pub checkpoint_every: usize,
    /// Exact samples for the test log-likelihood, when the system has an exact sampler.
    #[serde(default = "crate::defaults::int::<10_000>")]
    pub test_samples: usize,
    /// Flow samples for the reverse ESS and log Ẑ at each evaluation (0: none). Their energy
    /// evaluations are not counted as training cost.
    #[serde(default = "crate::defaults::int::<10_000>")]
    pub eval_samples: usize,
}

impl TrainConfig {
    /// Checks the numbers that serde cannot: every count, rate, weight and scale, so that an
    /// absurd value (`lr: inf`, `weight_decay: NaN`, a negative weight or clipping norm) is a
    /// clear error naming it instead of a run that trains silently into NaN.
    pub fn validate(&self) -> crate::Result<()> {
        let fail = |m: String| Err(crate::Error::InvalidArgument(m));
        if self.steps == 0 || self.batch_size == 0 {
            return fail("`steps` and `batch_size` must be positive".to_owned());
        }
        if self.batch_size > MAX_BATCH {
            return fail(format!(
                "`batch_size` {} is more than {MAX_BATCH}",
                self.batch_size
            ));
        }
        if self.objectives.is_empty() {
            return fail(
                "`objectives` is empty: give at least one, e.g. [ForwardKl(weight: 1.0, samples: Exact(n: 100000))]".to_owned(),
            );
        }
        let kind = match (&self.flow, &self.energy, &self.potential) {
            (Some(flow), None, None) => {
                flow.validate()?;
                ModelKind::Flow
            }
            (None, Some(energy), None) => {
                energy.validate()?;
                ModelKind::Energy
            }
            (None, None, Some(potential)) => {
                potential.validate()?;
                ModelKind::Potential
            }
            _ => {
                return fail(
                    "give exactly one of `flow: ...` (train a flow), `energy: (...)` (learn an \
                     energy model from samples) and `potential: (...)` (VAPO's potential flow, \
                     from samples)"
                        .to_owned(),
                );
            }
        };
        for objective in &self.objectives {
            objective.validate(self.batch_size)?;
            let needs = objective.model_kind();
            if needs != kind {
                return fail(format!(
                    "{}: this objective trains {}; give `{}` (the run has `{}`)",
                    objective.name(),
                    needs.description(),
                    needs.field(),
                    kind.field()
                ));
            }
        }
        let continuous = matches!(self.flow, Some(FlowSpec::Continuous { .. }));
        if !continuous
            && self
                .objectives
                .iter()
                .any(|o| matches!(o, ObjectiveConfig::Pde { .. }))
        {
            return fail(
                "the Pde objective needs a continuous flow: `flow: Continuous(hidden: [...], base: ...)`".to_owned(),
            );
        }
        if self.checkpoint_every == 0 {
            return fail("`checkpoint_every` must be positive".to_owned());
        }
        if self.test_samples > MAX_SAMPLES || self.eval_samples > MAX_SAMPLES {
            return fail(format!(
                "`test_samples` and `eval_samples` may be at most {MAX_SAMPLES}"
            ));
        }
        self.optimizer.validate()
    }
}

/// The kind of model a run trains, set by which of `flow`, `energy` and `potential` it gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// A flow trained from its target's energy or from samples.
    Flow,
    /// An energy model learned from samples.
    Energy,
    /// VAPO's potential flow, learned from samples.
    Potential,
}

impl ModelKind {
    /// The configuration field that gives this kind of model.
    pub fn field(self) -> &'static str {
        match self {
            ModelKind::Flow => "flow: ...",
            ModelKind::Energy => "energy: (...)",
            ModelKind::Potential => "potential: (...)",
        }
    }

    /// What a model of this kind is, for errors.
    fn description(self) -> &'static str {
        match self {
            ModelKind::Flow => "a flow (ForwardKl, ReverseKl, Fab, Pde)",
            ModelKind::Energy => "an energy model (ContrastiveDivergence, Wgf)",
            ModelKind::Potential => "a potential flow (Vapo)",
        }
    }
}

/// The largest batch a step may take.
const MAX_BATCH: usize = 1 << 24;
/// The most evaluation or exact training samples a run may ask for.
const MAX_SAMPLES: usize = 1 << 30;

impl OptimizerConfig {
    /// Checks the learning rate, weight decay, schedule and clipping norm.
    pub fn validate(&self) -> crate::Result<()> {
        let fail = |m: String| Err(crate::Error::InvalidArgument(format!("optimizer: {m}")));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return fail(format!(
                "`lr` must be a positive finite number, not {}",
                self.lr
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return fail(format!(
                "`weight_decay` must be a non-negative finite number, not {}",
                self.weight_decay
            ));
        }
        if !(0.0..=1.0).contains(&self.final_lr_fraction) {
            return fail(format!(
                "`final_lr_fraction` must be in [0, 1], not {}",
                self.final_lr_fraction
            ));
        }
        if let Some(norm) = self.clip_grad_norm
            && (norm <= 0.0 || norm.is_nan())
        {
            return fail(format!(
                "`clip_grad_norm` must be positive (or left out for no clipping), not {norm}"
            ));
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
        #[serde(default = "crate::defaults::real::<1, 1>")]
        weight: f64,
        /// Where the samples come from.
        samples: SampleSource,
    },
    /// Reverse KL on the flow's own samples: E_q[log q + u] (mode-seeking; needs ∇u).
    ReverseKl {
        /// Weight in the total loss.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        weight: f64,
    },
    /// FAB: the α = 2 divergence estimated by AIS toward p²/q, optionally with FAB's
    /// prioritised replay buffer.
    Fab {
        /// Weight in the total loss.
        #[serde(default = "crate::defaults::real::<1, 1>")]
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
        #[serde(default = "crate::defaults::real::<1, 1>")]
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
        /// ∇·V in the residual: `Exact` (published; d tangents per point) or
        /// `Hutchinson(probes: k)`, two independent estimates from k probes each, whose product
        /// replaces ε² (unbiased) at the cost of 2k tangents.
        #[serde(default)]
        divergence: DivergenceMethod,
    },
    /// Contrastive divergence for an `energy:` model: maximum likelihood on samples, with
    /// negatives from persistent chains moved by short-run Langevin dynamics on the model.
    ContrastiveDivergence {
        /// Weight in the total loss.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        weight: f64,
        /// The data.
        samples: SampleSource,
        /// The negatives' Langevin steps (in the data's standardised units).
        #[serde(default)]
        langevin: LangevinConfig,
        /// Persistent chains (0: every negative starts at a data point, i.e. CD-k).
        #[serde(default = "crate::defaults::int::<10_000>")]
        chains: usize,
        /// Fraction of the chains drawn in a step that restart from a data point first.
        #[serde(default = "crate::defaults::real::<5, 100>")]
        restart: f64,
        /// α of the penalty α (mean E(data)² + mean E(negatives)²) on the energies' scale.
        #[serde(default)]
        regularization: f64,
    },
    /// The Wasserstein-gradient-flow scheme for an `energy:` model: maximum likelihood on
    /// samples, with weighted particles that follow JKO steps of KL(ρ‖p_θ) and birth–death
    /// reweighting (see [`crate::ebm::WassersteinFlow`]).
    Wgf {
        /// Weight in the total loss.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        weight: f64,
        /// The data.
        samples: SampleSource,
        /// The particle scheme.
        #[serde(default)]
        scheme: WgfConfig,
    },
    /// VAPO for a `potential:` model: the Deep Ritz loss of the weighted Poisson equation on
    /// Gaussian paths from the prior to each data point (see [`crate::ebm::vapo`]).
    Vapo {
        /// Weight in the total loss.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        weight: f64,
        /// The data.
        samples: SampleSource,
        /// `Velocity` (default: ½‖∇Φ − u‖², integrated by parts) or `Ritz` (½‖∇Φ‖² − Φ ∂ₜ log ρ,
        /// as written): the same expected gradient.
        #[serde(default)]
        loss: VapoLoss,
    },
}

impl ObjectiveConfig {
    /// Checks the objective's weight and settings, for steps of `batch_size` points.
    pub fn validate(&self, batch_size: usize) -> crate::Result<()> {
        let fail = |m: String| Err(crate::Error::InvalidArgument(m));
        let name = self.name();
        let weight = match self {
            ObjectiveConfig::ForwardKl { weight, .. }
            | ObjectiveConfig::ReverseKl { weight }
            | ObjectiveConfig::Fab { weight, .. }
            | ObjectiveConfig::Pde { weight, .. }
            | ObjectiveConfig::ContrastiveDivergence { weight, .. }
            | ObjectiveConfig::Wgf { weight, .. }
            | ObjectiveConfig::Vapo { weight, .. } => *weight,
        };
        if !(weight.is_finite() && weight > 0.0) {
            return fail(format!(
                "{name}: `weight` must be a positive finite number, not {weight}"
            ));
        }
        if let Some(Err(e)) = self.samples().map(SampleSource::validate) {
            return fail(format!("{name}: {e}"));
        }
        match self {
            ObjectiveConfig::ContrastiveDivergence {
                langevin,
                chains,
                restart,
                regularization,
                ..
            } => {
                langevin.validate()?;
                if *chains > MAX_SAMPLES {
                    return fail(format!("{name}: `chains` may be at most {MAX_SAMPLES}"));
                }
                if !(0.0..=1.0).contains(restart) {
                    return fail(format!(
                        "{name}: `restart` must be in [0, 1], not {restart}"
                    ));
                }
                if !(regularization.is_finite() && *regularization >= 0.0) {
                    return fail(format!(
                        "{name}: `regularization` must be a non-negative finite number, not \
                         {regularization}"
                    ));
                }
                Ok(())
            }
            ObjectiveConfig::Fab { ais, buffer, .. } => {
                ais.validate()?;
                match buffer {
                    Some(b)
                        if b.capacity == 0
                            || b.min_length > b.capacity
                            || b.min_length < batch_size
                            || b.updates_per_batch == 0
                            || !(b.w_adjust_clip.is_finite() && b.w_adjust_clip > 0.0) =>
                    {
                        fail(
                            "FAB buffer: need batch_size ≤ min_length ≤ capacity, \
                             updates_per_batch ≥ 1 and a positive finite w_adjust_clip"
                                .to_owned(),
                        )
                    }
                    Some(b) if b.capacity > MAX_SAMPLES => fail(format!(
                        "FAB buffer: `capacity` may be at most {MAX_SAMPLES}"
                    )),
                    _ => Ok(()),
                }
            }
            ObjectiveConfig::Pde {
                batch,
                times,
                rate_hidden,
                ..
            } => {
                self.pde().map_or(Ok(()), |pde| pde.validate())?;
                if batch.saturating_mul(*times) > MAX_BATCH {
                    return fail(format!("Pde: batch × times may be at most {MAX_BATCH}"));
                }
                if rate_hidden.contains(&0) {
                    return fail("Pde: `rate_hidden` widths must be positive".to_owned());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The objective's name, as the configuration writes it.
    pub fn name(&self) -> &'static str {
        match self {
            ObjectiveConfig::ForwardKl { .. } => "ForwardKl",
            ObjectiveConfig::ReverseKl { .. } => "ReverseKl",
            ObjectiveConfig::Fab { .. } => "Fab",
            ObjectiveConfig::Pde { .. } => "Pde",
            ObjectiveConfig::ContrastiveDivergence { .. } => "ContrastiveDivergence",
            ObjectiveConfig::Wgf { .. } => "Wgf",
            ObjectiveConfig::Vapo { .. } => "Vapo",
        }
    }

    /// The training samples of an objective that learns from samples.
    pub fn samples(&self) -> Option<&SampleSource> {
        match self {
            ObjectiveConfig::ForwardKl { samples, .. }
            | ObjectiveConfig::ContrastiveDivergence { samples, .. }
            | ObjectiveConfig::Wgf { samples, .. }
            | ObjectiveConfig::Vapo { samples, .. } => Some(samples),
            _ => None,
        }
    }

    /// The kind of model the objective trains.
    pub fn model_kind(&self) -> ModelKind {
        match self {
            ObjectiveConfig::ContrastiveDivergence { .. } | ObjectiveConfig::Wgf { .. } => {
                ModelKind::Energy
            }
            ObjectiveConfig::Vapo { .. } => ModelKind::Potential,
            _ => ModelKind::Flow,
        }
    }

    /// The PDE objective of a `Pde(...)` configuration.
    pub fn pde(&self) -> Option<PdeObjective> {
        match *self {
            ObjectiveConfig::Pde {
                weight,
                batch,
                times,
                substeps,
                divergence,
                ..
            } => Some(PdeObjective {
                weight,
                batch,
                times,
                substeps,
                divergence,
            }),
            _ => None,
        }
    }

    /// The AIS settings of an objective that runs AIS (FAB), which `sample --ais` reuses.
    pub fn ais(&self) -> Option<&AisConfig> {
        match self {
            ObjectiveConfig::Fab { ais, .. } => Some(ais),
            _ => None,
        }
    }
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
    #[serde(default = "crate::defaults::real::<10, 1>")]
    pub w_adjust_clip: f64,
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
        /// The file, or a list of files pooled in order.
        path: SampleFiles,
    },
    /// Dihedral angles from the output of `boltzflow analyze` (`/dihedrals/<name>`, radians),
    /// one coordinate per name, each wrapped into [cut, cut + 2π): a learned model works on the
    /// plane, so put each cut where the angle's density is lowest (for alanine dipeptide's φ and
    /// ψ: `cuts: [0.0, -2.1]`, between the φ < 0 and φ > 0 basins and below αR).
    /// Unweighted samples only (`/samples/log_w`, when present, must be constant).
    Dihedrals {
        /// The analysed samples file, or a list of them pooled in order (for example
        /// independent MD runs: `path: ["md_seed1.h5", "md_seed2.h5"]`).
        path: SampleFiles,
        /// The dihedrals, in order (for example `["phi", "psi"]`).
        names: Vec<String>,
        /// Where each angle's range [cut, cut + 2π) starts (default −π for each).
        #[serde(default)]
        cuts: Vec<f64>,
    },
}

/// The samples files of a [`SampleSource`]: one path, or a list whose samples are pooled in
/// the order given (`path: "md.h5"` or `path: ["md_seed1.h5", "md_seed2.h5"]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SampleFiles {
    /// One file.
    One(PathBuf),
    /// Several files, pooled in order.
    Many(Vec<PathBuf>),
}

impl SampleFiles {
    /// The files, in order.
    pub fn paths(&self) -> &[PathBuf] {
        match self {
            SampleFiles::One(path) => std::slice::from_ref(path),
            SampleFiles::Many(paths) => paths,
        }
    }
}

impl SampleSource {
    /// Checks the counts, cuts and file lists.
    pub fn validate(&self) -> crate::Result<()> {
        let fail = |m: String| Err(crate::Error::InvalidArgument(m));
        match self {
            SampleSource::File { path } | SampleSource::Dihedrals { path, .. }
                if path.paths().is_empty() =>
            {
                fail("the samples' `path` is an empty list; name at least one file".to_owned())
            }
            SampleSource::Exact { n } if *n == 0 || *n > MAX_SAMPLES => fail(format!(
                "`Exact(n: {n})` must ask for 1 to {MAX_SAMPLES} samples"
            )),
            SampleSource::Dihedrals { names, .. } if names.is_empty() => {
                fail("`Dihedrals`: `names` is empty; give e.g. [\"phi\", \"psi\"]".to_owned())
            }
            SampleSource::Dihedrals { names, cuts, .. }
                if !(cuts.is_empty() || cuts.len() == names.len())
                    || cuts.iter().any(|c| !c.is_finite()) =>
            {
                fail(format!(
                    "`Dihedrals`: `cuts` needs one finite angle per name ({} names), not {cuts:?}",
                    names.len()
                ))
            }
            _ => Ok(()),
        }
    }
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
