//! The training loop.

use super::batch::Batch;
use super::checkpoint::HistoryRow;
use super::data_parallel::{check_same_parameters, from_root, sum_gradients};
use super::model::{ModelConfig, Trainable};
use super::objective::{Objective, StepContext, build_all};
use super::{SampleSource, TrainConfig, TrainState, clip_global_norm, learning_rate};
use crate::analysis::ImportanceSummary;
use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::config::{SystemFile, load_system, read_ron_file};
use crate::ebm::{EnergyModel, EnergySurface, model_energy};
use crate::energy::System;
use crate::flow::{BuildContext, log_prob_on_host, sample_to_host, set_precision, to_host};
use crate::io::{OutputFile, RunInfo, absolute};
use crate::job::{Job, Outcome, StopFlag, drive};
use crate::parallel::{Ranks, Single, agree};
use crate::run::{RunDir, RunManifest, SystemIdentity};
use crate::seed::Stream;
use crate::{Error, Result};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use indicatif::ProgressBar;
use rand::SeedableRng;
use std::path::Path;

/// The seed of training step `step` of a run seeded with `seed`: batches and burn's generator are
/// reseeded from it every step, so a resumed run draws the same numbers as an uninterrupted one.
pub fn seed_for_step(seed: u64, step: usize) -> u64 {
    Stream::Step(step as u64).seed(seed)
}

/// Consecutive non-finite steps after which a run stops as diverged.
const MAX_CONSECUTIVE_SKIPS: usize = 200;

/// The progress bar of `train`.
const PROGRESS_TEMPLATE: &str = "training [{bar:30}] {pos}/{len} {msg} ({eta} left)";

/// Exact test samples and their exact mean log-density, for the test log-likelihood.
struct TestSet {
    x: Vec<f64>,
    exact_log_likelihood: Option<f64>,
}

/// What an evaluation found.
struct Evaluation {
    test_log_likelihood: Option<f64>,
    importance: Option<ImportanceSummary>,
    /// An energy model's KL(p‖p_θ) on its grid.
    kl: Option<f64>,
}

impl Evaluation {
    /// One line for the log.
    fn describe(&self, step: usize, loss: f64) -> String {
        let mut line = format!("step {step}: loss {loss:.4}");
        if let Some(ll) = self.test_log_likelihood {
            line += &format!(", test log-likelihood {ll:.4}");
        }
        if let Some(kl) = self.kl {
            line += &format!(", KL(p‖p_θ) {kl:.4}");
        }
        if let Some(s) = &self.importance {
            line += &format!(
                ", reverse ESS {:.4}, log Ẑ {:.4} ± {:.4}",
                s.ess, s.log_z, s.log_z_stderr
            );
        }
        line
    }
}
impl TestSet {
    /// The run's exact test set, when the system has a sampler and `test_samples` > 0.
    fn of(config: &TrainConfig, system: &System) -> Result<Option<Self>> {
        if !system.has_exact_sampler() || config.test_samples == 0 {
            return Ok(None);
        }
        let x = system.sample_exact(config.test_samples, Stream::TestSet.seed(config.seed))?;
        let exact_log_likelihood = system.log_z().map(|log_z| -> Result<f64> {
            let u = system.evaluate(&x, false)?.u;
            Ok(-u.iter().sum::<f64>() / u.len() as f64 - log_z)
        });
        Ok(Some(TestSet {
            x,
            exact_log_likelihood: exact_log_likelihood.transpose()?,
        }))
    }
}

/// A training run: the system, the flow being trained, its optimiser and progress.
///
/// Runs are reproducible from their seed: the parameters are drawn from it when the trainer is
/// made, and every step reseeds from it. burn's random generator is process-wide, though, so two
/// trainers running at the same time in one process perturb each other's random numbers: run
/// them one after the other.
///
/// Over several ranks (MPI processes; [`Trainer::on_ranks`]) the training is data-parallel:
/// each rank computes the loss of its share of every objective's points and the gradients are
/// summed over the ranks before the optimiser's step, which every rank takes alike. Rank 0's
/// initial parameters are given to all; they are compared at every checkpoint (an error if
/// they differ); rank 0 alone evaluates and writes the checkpoint and `run.h5`.
pub struct Trainer<'r, B: AutodiffFlowBackend> {
    ranks: &'r dyn Ranks,
    config: TrainConfig,
    manifest: RunManifest,
    run: RunDir,
    system_file: SystemFile,
    system: System,
    model_config: ModelConfig,
    model: Option<Trainable<B>>,
    optimizer: Option<OptimizerAdaptor<AdamW, Trainable<B>, B>>,
    state: TrainState,
    objectives: Vec<Box<dyn Objective<B>>>,
    test_set: Option<TestSet>,
    /// Where a one- or two-dimensional energy model is normalised.
    surface: Option<EnergySurface>,
    device: B::Device,
    /// Reverse ESS at the last evaluation, for the progress bar.
    last_ess: Option<f64>,
    /// Steps skipped in a row, as non-finite.
    consecutive_skips: usize,
}

impl<B: AutodiffFlowBackend> Trainer<'static, B> {
    /// Prepares the run in `run_dir` from the configuration file, resuming from its checkpoint
    /// if there is one. `system_override` replaces the configuration's system file.
    ///
    /// Everything is checked before anything is written: the configuration's numbers, the
    /// system, a resumed run's manifest (same configuration, except a larger `steps`, and the
    /// same system file, text and dimension), the objectives. The manifest `run.ron` is written
    /// last, so a run that fails here leaves no trace of itself in a new folder.
    pub fn new(
        config_path: &Path,
        system_override: Option<&Path>,
        run_dir: &Path,
        device: B::Device,
    ) -> Result<Self> {
        Trainer::on_ranks(config_path, system_override, run_dir, device, &Single)
    }
}

impl<'r, B: AutodiffFlowBackend> Trainer<'r, B> {
    /// Like [`Trainer::new`], data-parallel over `ranks` (every rank calls it). Rank 0 locks
    /// the run folder and writes the manifest; the others only read the checkpoint. A failure
    /// on any rank fails them all.
    pub fn on_ranks(
        config_path: &Path,
        system_override: Option<&Path>,
        run_dir: &Path,
        device: B::Device,
        ranks: &'r dyn Ranks,
    ) -> Result<Self> {
        let trainer = Self::prepare(config_path, system_override, run_dir, device, ranks);
        let mut trainer = agree(ranks, trainer)?;
        if ranks.size() > 1 {
            // Every rank must continue the same checkpoint: the ranks read it for themselves.
            let steps = ranks.all_gather(&[trainer.state.step as f64]);
            if steps.iter().any(|&s| s != steps[0]) {
                return Err(Error::InvalidArgument(format!(
                    "the ranks found different checkpoints in {} (steps done, by rank: {steps:?}); \
                     the run folder must be on a file system that every rank sees",
                    run_dir.display()
                )));
            }
            let model = trainer.model.take().expect("present between steps");
            trainer.model = Some(from_root(model, ranks, &trainer.device));
        }
        Ok(trainer)
    }

    /// The work of [`Trainer::on_ranks`] on one rank.
    fn prepare(
        config_path: &Path,
        system_override: Option<&Path>,
        run_dir: &Path,
        device: B::Device,
        ranks: &'r dyn Ranks,
    ) -> Result<Self> {
        let (config, text): (TrainConfig, String) = read_ron_file(config_path)?;
        config.validate().map_err(|e| Error::Config {
            path: config_path.to_owned(),
            message: e.to_string(),
        })?;
        let base_dir = config_path.parent().unwrap_or(Path::new("."));
        let system_path =
            system_override.map_or_else(|| base_dir.join(&config.system), Path::to_owned);
        // Before the system: a learned energy builds its model in the precision already chosen.
        set_precision::<B>(&device, config.precision)?;
        let (system_file, system) = load_system(&system_path)?;
        let manifest = RunManifest {
            config: text,
            config_path: absolute(config_path),
            system: SystemIdentity::of(&system_file, &system),
        };
        if config.batch_size < ranks.size() {
            return Err(Error::InvalidArgument(format!(
                "batch_size {} is smaller than the {} ranks that share it",
                config.batch_size,
                ranks.size()
            )));
        }
        // Rank 0 checks the folder and writes the manifest; the others only read the checkpoint.
        let (run, manifest_changed) = if ranks.is_root() {
            let run = RunDir::lock(run_dir)?;
            let changed = check_manifest(&run, &manifest, &config)?;
            (run, changed)
        } else {
            (RunDir::unlocked(run_dir), false)
        };
        let checkpoint = run.checkpoint();
        let resuming = checkpoint.exists();
        let mut objectives = build_all::<B>(&config, base_dir, &system, ranks)?;
        let training_data = objectives.iter().find_map(|o| o.training_data());
        // Dihedral samples make a potential flow's density periodic.
        let angles = config
            .objectives
            .iter()
            .any(|o| matches!(o.samples(), Some(SampleSource::Dihedrals { .. })));
        let (model_config, state) = if resuming {
            (checkpoint.model_config()?, checkpoint.state()?)
        } else {
            let model_config = match (
                &config.flow,
                &config.energy,
                &config.potential,
                training_data,
            ) {
                (Some(flow), _, _, _) => ModelConfig::build(
                    flow,
                    &BuildContext {
                        dim: system.dim(),
                        seed: config.seed,
                        base_dir,
                        molecule: system.metadata().molecule.as_ref(),
                    },
                    &config.objectives,
                )?,
                (None, Some(energy), _, Some(data)) => {
                    ModelConfig::Energy(energy.build(data, system.dim())?)
                }
                (None, None, Some(potential), Some(data)) => {
                    ModelConfig::Potential(potential.build(data, system.dim(), angles)?)
                }
                _ => {
                    return Err(Error::InvalidArgument(
                        "an energy model or a potential flow needs an objective with training \
                         samples (ContrastiveDivergence, Wgf or Vapo)"
                            .into(),
                    ));
                }
            };
            (model_config, TrainState::default())
        };
        if state.step > config.steps {
            return Err(Error::InvalidArgument(format!(
                "{} has done {} steps already, more than the configuration's steps: {}; a run \
                 can be extended, not shortened",
                run_dir.display(),
                state.step,
                config.steps
            )));
        }
        let surface = match (&model_config, training_data) {
            (ModelConfig::Energy(_), Some(data)) if system.dim() <= 2 => {
                Some(EnergySurface::new(data, &system, false)?)
            }
            (ModelConfig::Potential(c), Some(data)) if system.dim() <= 2 => {
                Some(EnergySurface::new(data, &system, c.periodic)?)
            }
            _ => None,
        };
        B::seed(&device, config.seed);
        let mut model = model_config.init_trainable::<B>(&device)?;
        // Drawn now, from the run's seed (burn draws parameters when they are first used), so
        // that every rank of a data-parallel run starts where one process does.
        initialise_now(&model);
        let mut optimizer = new_optimizer(&config);
        if resuming {
            model = checkpoint.load_model(model, &device)?;
            optimizer = checkpoint.load_optimizer(optimizer, &device)?;
            for (index, objective) in objectives.iter_mut().enumerate() {
                let saved = state.objectives.get(index).cloned().unwrap_or_default();
                objective.restore(&saved, checkpoint.dir(), index)?;
            }
        }
        // Rank 0 alone evaluates.
        let test_set = match ranks.is_root() {
            true => TestSet::of(&config, &system)?,
            false => None,
        };
        if manifest_changed {
            run.write_manifest(&manifest)?;
        }
        Ok(Trainer {
            ranks,
            config,
            manifest,
            run,
            system_file,
            system,
            model_config,
            model: Some(model),
            optimizer: Some(optimizer),
            state,
            objectives,
            test_set,
            surface,
            device,
            last_ess: None,
            consecutive_skips: 0,
        })
    }

    /// Steps already done (more than zero when resuming).
    pub fn step(&self) -> usize {
        self.state.step
    }

    /// Steps the run is configured for.
    pub fn total_steps(&self) -> usize {
        self.config.steps
    }

    /// The training state.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// The model being trained.
    pub fn model(&self) -> &Trainable<B> {
        self.model
            .as_ref()
            .expect("the model is present between steps")
    }

    /// Trains until the configured number of steps, or until `stop` is set (Ctrl-C), writing
    /// checkpoints and `run.h5` along the way.
    pub fn run(&mut self, stop: &StopFlag, show_progress: bool) -> Result<Outcome> {
        self.run_steps(usize::MAX, stop, show_progress)
    }

    /// Like [`Trainer::run`], but stops (with a checkpoint) after at most `max_steps` more steps.
    pub fn run_steps(
        &mut self,
        max_steps: usize,
        stop: &StopFlag,
        show_progress: bool,
    ) -> Result<Outcome> {
        // Over several ranks, they stop together: before each step they all ask whether any was
        // stopped (see `TrainJob::step`), so the driver never sees the flag itself. A long
        // objective (FAB's buffer fill) still does, and an interruption inside a step is agreed
        // like an error (`agree`): all ranks save.
        let (driver_stop, ranks_stop) = if self.ranks.size() > 1 {
            (StopFlag::new(), Some(stop.clone()))
        } else {
            (stop.clone(), None)
        };
        let show_progress = show_progress && self.ranks.is_root();
        let outcome = drive(
            &mut TrainJob {
                trainer: self,
                stop: ranks_stop,
            },
            &driver_stop,
            max_steps as u64,
            show_progress,
            PROGRESS_TEMPLATE,
        );
        // The bar is gone: the objectives go back to silence.
        let hidden = crate::progress::bar(false, 0, PROGRESS_TEMPLATE);
        for objective in &mut self.objectives {
            objective.attach(&hidden, stop);
        }
        outcome
    }

    /// One gradient step; `None` if it was skipped because the loss, the gradients or the
    /// updated parameters were not finite (the parameters and optimiser state are then those
    /// from before the step).
    fn train_step(&mut self) -> Result<Option<HistoryRow>> {
        let step = self.state.step;
        let seed = seed_for_step(self.config.seed, step);
        // burn's generator (flow samples) runs a stream of each rank's own.
        let ranks = self.ranks;
        B::seed(&self.device, ranks.own_seed(seed));
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let local = self.local_loss(&mut rng);
        let (loss, counts) = agree(ranks, local)?;
        // The loss, the points and the evaluations of all ranks together.
        let mut totals = [to_host(loss.clone())[0]]
            .into_iter()
            .chain(counts)
            .collect::<Vec<_>>();
        if ranks.size() > 1 {
            ranks.all_sum(&mut totals);
            for objective in &mut self.objectives {
                objective.synchronise(ranks);
            }
        }
        let [
            loss_value,
            points,
            nonfinite,
            target_evaluations,
            model_evaluations,
        ] = totals[..]
        else {
            unreachable!("five totals")
        };
        self.state.target_evaluations += target_evaluations as u64;
        self.state.model_evaluations += model_evaluations as u64;
        if points > 0.0 && nonfinite == points {
            return Err(Error::InvalidArgument(format!(
                "step {step}: every one of the {points} points of the objectives had a NaN or \
                 infinite energy, gradient or density, so nothing can be learnt from the target; \
                 check the system (`boltzflow energy` on a few points) and the flow's scale"
            )));
        }
        self.state.step += 1;
        if !loss_value.is_finite() {
            self.state.skipped_steps += 1;
            return Ok(None);
        }
        let model = self
            .model
            .take()
            .expect("the model is present between steps");
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if ranks.size() > 1 {
            sum_gradients(&model, &mut grads, ranks);
        }
        let max_norm = self
            .config
            .optimizer
            .clip_grad_norm
            .unwrap_or(f64::INFINITY);
        let grad_norm = clip_global_norm(&model, &mut grads, max_norm);
        if !grad_norm.is_finite() {
            self.state.skipped_steps += 1;
            self.model = Some(model);
            return Ok(None);
        }
        let lr = learning_rate(&self.config.optimizer, step, self.config.steps);
        let mut optimizer = self
            .optimizer
            .take()
            .expect("the optimiser is present between steps");
        let before = (model.clone(), optimizer.to_record());
        let updated = optimizer.step(lr, model, grads);
        if !all_finite(&updated) {
            // Rolled back: an update that leaves a parameter NaN or infinite would poison every
            // later step and checkpoint.
            self.model = Some(before.0);
            self.optimizer = Some(new_optimizer(&self.config).load_record(before.1));
            self.state.skipped_steps += 1;
            return Ok(None);
        }
        self.model = Some(updated);
        self.optimizer = Some(optimizer);
        let row = HistoryRow {
            step,
            loss: loss_value,
            lr,
            grad_norm,
            test_log_likelihood: None,
            ess: None,
            log_z: None,
            target_evaluations: self.state.target_evaluations,
            model_evaluations: self.state.model_evaluations,
            kl: None,
        };
        self.state.history.push(row.clone());
        Ok(Some(row))
    }

    /// This rank's loss of the step, and its counts: points, non-finite points, target and
    /// model evaluations.
    fn local_loss(&mut self, rng: &mut rand_pcg::Pcg64) -> Result<(Tensor<B, 1>, [f64; 4])> {
        let evaluations_before = self.system.evaluations();
        let model = self
            .model
            .as_ref()
            .expect("the model is present between steps");
        let context = StepContext {
            model,
            system: &self.system,
            batch_size: self.config.batch_size,
            device: &self.device,
            ranks: self.ranks,
        };
        let mut loss = Tensor::<B, 1>::zeros([1], &self.device);
        let (mut points, mut nonfinite, mut model_evaluations) = (0, 0, 0);
        for objective in &mut self.objectives {
            let batch: Batch<B> = objective.loss(&context, rng)?;
            loss = loss + batch.loss;
            points += batch.points;
            nonfinite += batch.n_nonfinite;
            model_evaluations += batch.model_evaluations;
        }
        let target_evaluations = self.system.evaluations() - evaluations_before;
        let counts = [
            points,
            nonfinite,
            target_evaluations as usize,
            model_evaluations as usize,
        ];
        Ok((loss, counts.map(|c| c as f64)))
    }

    /// Evaluates the model. A flow: mean log q of the exact test set (when there is one), and
    /// the reverse ESS and log Ẑ of fresh flow samples (when `eval_samples` > 0). An energy
    /// model in one or two dimensions: normalised on its grid, the mean log p_θ of the test set
    /// and KL(p‖p_θ) when the system's log Z is known. The energy evaluations made here are not
    /// counted as training cost.
    fn evaluate(&self) -> Result<Evaluation> {
        let flow = match self.model().valid() {
            Trainable::Flow(flow) => flow,
            Trainable::Energy(energy) => return Ok(self.evaluate_energy(&energy)),
        };
        let test_log_likelihood = self.test_set.as_ref().map(|test| {
            let log_q = log_prob_on_host(&flow, &test.x, &self.device);
            log_q.iter().sum::<f64>() / log_q.len() as f64
        });
        let importance = if self.config.eval_samples > 0 {
            let index = (self.state.step / self.config.checkpoint_every) as u64;
            B::seed(
                &self.device,
                Stream::Evaluation(index).seed(self.config.seed),
            );
            let (x, log_q) = sample_to_host(&flow, self.config.eval_samples);
            let u = self.system.evaluate(&x, false)?.u;
            let log_w: Vec<f64> = u.iter().zip(&log_q).map(|(u, lq)| -u - lq).collect();
            Some(ImportanceSummary::from_log_weights(&log_w))
        } else {
            None
        };
        // KL(p‖q) = E_p[log p − log q] on the exact test set, when log p is normalised.
        let exact = self.test_set.as_ref().and_then(|t| t.exact_log_likelihood);
        let kl = test_log_likelihood.zip(exact).map(|(q, p)| p - q);
        Ok(Evaluation {
            test_log_likelihood,
            importance,
            kl,
        })
    }

    /// An energy model's evaluation on its grid (nothing beyond two dimensions).
    fn evaluate_energy(&self, model: &EnergyModel<B::InnerBackend>) -> Evaluation {
        let found = self.surface.as_ref().map(|surface| {
            let test = self.test_set.as_ref().map(|t| t.x.as_slice());
            surface.evaluate(&model_energy(model, &self.device), test)
        });
        Evaluation {
            test_log_likelihood: found.as_ref().and_then(|f| f.test_log_likelihood),
            importance: None,
            kl: found.and_then(|f| f.kl),
        }
    }

    /// Writes the checkpoint and `run.h5` (rank 0; every rank calls it).
    fn save(&mut self) -> Result<()> {
        if self.ranks.size() > 1 {
            for objective in &mut self.objectives {
                objective.gather(self.ranks);
            }
        }
        let saved = if self.ranks.is_root() {
            self.write_checkpoint()
        } else {
            Ok(())
        };
        agree(self.ranks, saved)
    }

    /// Writes the checkpoint and `run.h5`.
    fn write_checkpoint(&mut self) -> Result<()> {
        self.state.objectives = self.objectives.iter().map(|o| o.state()).collect();
        let objectives = &self.objectives;
        self.run.checkpoint().save(
            &self.model_config,
            self.model(),
            self.optimizer
                .as_ref()
                .expect("the optimiser is present between steps"),
            &self.state,
            |dir| {
                objectives
                    .iter()
                    .enumerate()
                    .try_for_each(|(index, o)| o.save_files(dir, index))
            },
        )?;
        self.write_curves()
    }

    /// Writes the training curves to `RUN_DIR/run.h5`.
    fn write_curves(&self) -> Result<()> {
        let out = OutputFile::create(&self.run.curves())?;
        out.write_run_info(&RunInfo::new(
            "train",
            Some(self.config.seed),
            &self.system_file,
            &self.system,
        ))?;
        out.set_str("", "train_config", &self.manifest.config)?;
        let history = &self.state.history;
        let column = |f: &dyn Fn(&HistoryRow) -> f64| history.iter().map(f).collect::<Vec<f64>>();
        let n = history.len();
        let optional = |v: Option<f64>| v.unwrap_or(f64::NAN);
        out.write_array("training/step", &column(&|r| r.step as f64), &[n])?;
        out.write_array("training/loss", &column(&|r| r.loss), &[n])?;
        out.write_array("training/lr", &column(&|r| r.lr), &[n])?;
        out.write_array("training/grad_norm", &column(&|r| r.grad_norm), &[n])?;
        out.write_array(
            "training/test_log_likelihood",
            &column(&|r| optional(r.test_log_likelihood)),
            &[n],
        )?;
        out.write_array("training/ess", &column(&|r| optional(r.ess)), &[n])?;
        out.write_array("training/log_z", &column(&|r| optional(r.log_z)), &[n])?;
        out.write_array(
            "training/target_evaluations",
            &column(&|r| r.target_evaluations as f64),
            &[n],
        )?;
        if let Some(surface) = &self.surface {
            let data = self
                .objectives
                .iter()
                .find_map(|o| o.training_data())
                .unwrap_or_default();
            let png = self.run.energy_plot();
            match self.model().valid() {
                Trainable::Energy(model) => {
                    surface.write(&model_energy(&model, &self.device), data, &out, &png)?;
                }
                // −log q costs an ODE solve per grid point: drawn once, when the run ends.
                Trainable::Flow(flow) if self.state.step == self.config.steps => {
                    let energy = |x: &[f64]| {
                        let log_q = log_prob_on_host(&flow, x, &self.device);
                        log_q.iter().map(|l| -l).collect()
                    };
                    surface.write(&energy, data, &out, &png)?;
                }
                Trainable::Flow(_) => {}
            }
        }
        if matches!(
            self.model_config,
            ModelConfig::Energy(_) | ModelConfig::Potential(_)
        ) {
            out.write_array(
                "training/model_evaluations",
                &column(&|r| r.model_evaluations as f64),
                &[n],
            )?;
            out.write_array("training/kl", &column(&|r| optional(r.kl)), &[n])?;
            out.set_u64(
                "training",
                "model_evaluations",
                self.state.model_evaluations,
            )?;
        }
        out.set_u64("training", "steps_done", self.state.step as u64)?;
        out.set_u64("training", "skipped_steps", self.state.skipped_steps as u64)?;
        out.set_u64(
            "training",
            "target_evaluations",
            self.state.target_evaluations,
        )?;
        for objective in &self.objectives {
            objective.write_counters(&out)?;
        }
        if let Some(ll) = self.test_set.as_ref().and_then(|t| t.exact_log_likelihood) {
            out.set_f64("training", "exact_test_log_likelihood", ll)?;
        }
        out.commit()?;
        Ok(())
    }
}

/// A [`Trainer`] as a [`Job`] for the driver.
struct TrainJob<'a, 'r, B: AutodiffFlowBackend> {
    trainer: &'a mut Trainer<'r, B>,
    /// Over several ranks, Ctrl-C, asked of all ranks before each step.
    stop: Option<StopFlag>,
}

impl<B: AutodiffFlowBackend> Job for TrainJob<'_, '_, B> {
    fn done(&self) -> u64 {
        self.trainer.state.step as u64
    }

    fn total(&self) -> u64 {
        self.trainer.config.steps as u64
    }

    fn start(&mut self, progress: &ProgressBar, stop: &StopFlag) {
        let stop = self.stop.as_ref().unwrap_or(stop);
        for objective in &mut self.trainer.objectives {
            objective.attach(progress, stop);
        }
    }

    fn step(&mut self, progress: &ProgressBar) -> Result<()> {
        let t = &mut *self.trainer;
        if let Some(stop) = &self.stop
            && t.ranks.any(stop.is_set())
        {
            return Err(Error::Interrupted("training".to_owned()));
        }
        let Some(row) = t.train_step()? else {
            t.consecutive_skips += 1;
            if t.consecutive_skips >= MAX_CONSECUTIVE_SKIPS {
                return Err(Error::Diverged {
                    steps: t.consecutive_skips,
                    at: t.state.step,
                });
            }
            return Ok(());
        };
        t.consecutive_skips = 0;
        progress.set_message(format!(
            "loss {:.4}{} · {} target evals",
            row.loss,
            t.last_ess
                .map_or(String::new(), |ess| format!(" · ESS {ess:.3}")),
            row.target_evaluations
        ));
        Ok(())
    }

    fn checkpoint_due(&self) -> bool {
        let (done, config) = (self.trainer.state.step, &self.trainer.config);
        done.is_multiple_of(config.checkpoint_every) || done == config.steps
    }

    fn checkpoint(&mut self, progress: &ProgressBar) -> Result<()> {
        let t = &mut *self.trainer;
        let done = t.state.step;
        if t.ranks.size() > 1 {
            check_same_parameters(t.model(), t.ranks, done)?;
        }
        // Rank 0 evaluates; the others wait for it at the checkpoint.
        let evaluation = if t.ranks.is_root() {
            t.evaluate().map(Some)
        } else {
            Ok(None)
        };
        let Some(evaluation) = agree(t.ranks, evaluation)? else {
            return t.save();
        };
        t.last_ess = evaluation.importance.map(|s| s.ess);
        if let Some(row) = t.state.history.last_mut() {
            row.test_log_likelihood = evaluation.test_log_likelihood;
            row.ess = evaluation.importance.map(|s| s.ess);
            row.log_z = evaluation.importance.map(|s| s.log_z);
            row.kl = evaluation.kl;
            crate::progress::println(progress, &evaluation.describe(done, row.loss));
        }
        t.save()
    }

    fn save(&mut self) -> Result<()> {
        self.trainer.save()
    }
}

/// AdamW with the run's weight decay.
fn new_optimizer<B: AutodiffFlowBackend>(
    config: &TrainConfig,
) -> OptimizerAdaptor<AdamW, Trainable<B>, B> {
    AdamWConfig::new()
        .with_weight_decay(config.optimizer.weight_decay as f32)
        .init()
}

/// Draws every float parameter of `model` that burn has not drawn yet.
fn initialise_now<B: FlowBackend, M: Module<B>>(model: &M) {
    struct Draw;
    impl<B: FlowBackend> ModuleVisitor<B> for Draw {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            param.val();
        }
    }
    model.visit(&mut Draw);
}

/// Whether every float parameter of `model` is finite.
fn all_finite<B: FlowBackend, M: Module<B>>(model: &M) -> bool {
    /// One "all finite" flag per parameter, read back together: one device sync per step.
    struct Finite<B: FlowBackend>(Vec<Tensor<B, 1, Bool>>);
    impl<B: FlowBackend> ModuleVisitor<B> for Finite<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.val().is_finite().all());
        }
    }
    let mut visitor = Finite(Vec::new());
    model.visit(&mut visitor);
    if visitor.0.is_empty() {
        return true;
    }
    Tensor::cat(visitor.0, 0)
        .all()
        .into_data()
        .iter::<bool>()
        .all(|b| b)
}

/// Checks that the run folder can take this run: a new folder, or one holding a run of the same
/// configuration and system. A configuration that differs only in `steps` extends the run (the
/// learning-rate schedule then follows the new length). Returns whether the manifest has to be
/// (re)written.
fn check_manifest(run: &RunDir, manifest: &RunManifest, config: &TrainConfig) -> Result<bool> {
    let Some(existing) = run.manifest()? else {
        return Ok(true);
    };
    if existing.system != manifest.system {
        let what = if existing.system.path != manifest.system.path {
            format!(
                "was trained on the system file {}, not {}",
                existing.system.path.display(),
                manifest.system.path.display()
            )
        } else if existing.system.dim != manifest.system.dim {
            format!(
                "was trained on a system of dimension {}, not {}",
                existing.system.dim, manifest.system.dim
            )
        } else {
            format!(
                "was trained on another version of {} (the file has changed since)",
                manifest.system.path.display()
            )
        };
        return Err(Error::InvalidArgument(format!(
            "{} {what}; resume it with the same system, or train into a new --out folder",
            run.path().display()
        )));
    }
    if existing.config == manifest.config {
        return Ok(false);
    }
    let only_steps_differ = existing.train_config().is_ok_and(|old| {
        TrainConfig {
            steps: config.steps,
            ..old
        } == *config
    });
    if only_steps_differ {
        return Ok(true);
    }
    Err(Error::InvalidArgument(format!(
        "{} holds a run with another configuration; resume it with the same one (only `steps` \
         may change, to extend the run), or train into a new --out folder",
        run.path().display()
    )))
}
