//! The training loop.

use super::checkpoint::HistoryRow;
use super::model::{Model, ModelConfig};
use super::objective::{Objective, ObjectiveState};
use super::replay_buffer::BufferContent;
use super::{Checkpoint, TrainConfig, TrainState, clip_global_norm, learning_rate};
use crate::analysis::ImportanceSummary;
use crate::config::{SystemFile, load_system, read_ron_file};
use crate::energy::System;
use crate::flow::{BuildContext, log_prob_on_host, sample_to_host, set_precision, to_host};
use crate::io::{OutputFile, RunInfo, read_array};
use crate::{Error, Result};
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The seed of training step `step` of a run seeded with `seed`: batches and burn's generator are
/// reseeded from it every step, so a resumed run draws the same numbers as an uninterrupted one.
pub fn seed_for_step(seed: u64, step: usize) -> u64 {
    crate::seed::derive(seed, step as u64)
}

/// Consecutive non-finite steps after which a run stops as diverged.
const MAX_CONSECUTIVE_SKIPS: usize = 200;

/// Stream index (far from any step index) of the run's exact test set.
const TEST_SET_STREAM: u64 = u64::MAX;
/// Stream index of the evaluation samples at evaluation `k`: `EVAL_STREAM - k`.
const EVAL_STREAM: u64 = u64::MAX / 2;

/// What identifies a run: its configuration text and the system file it trains on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// The training configuration, as written.
    pub config: String,
    /// The configuration's path when the run started.
    pub config_path: PathBuf,
    /// The system file used.
    pub system_file: PathBuf,
}

impl RunManifest {
    /// Reads `RUN_DIR/run.ron`.
    pub fn read(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join("run.ron");
        if !path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "{} is not a training run folder (no run.ron); train one with `boltzflow train CONFIG --out {}`",
                run_dir.display(),
                run_dir.display()
            )));
        }
        read_ron_file(&path).map(|(m, _)| m)
    }

    /// The parsed training configuration.
    pub fn train_config(&self) -> Result<TrainConfig> {
        ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(&self.config)
            .map_err(|e| Error::Config {
                path: self.config_path.clone(),
                message: e.to_string(),
            })
    }
}

/// Exact test samples and their exact mean log-density, for the test log-likelihood.
struct TestSet {
    x: Vec<f64>,
    exact_log_likelihood: Option<f64>,
}

/// What an evaluation found.
struct Evaluation {
    test_log_likelihood: Option<f64>,
    importance: Option<ImportanceSummary>,
}

impl Evaluation {
    /// One line for the log.
    fn describe(&self, step: usize, loss: f64) -> String {
        let mut line = format!("step {step}: loss {loss:.4}");
        if let Some(ll) = self.test_log_likelihood {
            line += &format!(", test log-likelihood {ll:.4}");
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

/// A training run: the system, the flow being trained, its optimiser and progress.
///
/// Runs are reproducible from their seed. burn's random generator is process-wide, though (and
/// parameters are initialised lazily from it, at the first step), so two trainers running at
/// the same time in one process perturb each other's random numbers: run them one after the
/// other.
pub struct Trainer<B: AutodiffBackend> {
    config: TrainConfig,
    manifest: RunManifest,
    run_dir: PathBuf,
    system_file: SystemFile,
    system: System,
    model_config: ModelConfig,
    model: Option<Model<B>>,
    optimizer: OptimizerAdaptor<AdamW, Model<B>, B>,
    state: TrainState,
    objectives: Vec<Objective>,
    test_set: Option<TestSet>,
    device: B::Device,
    /// Reverse ESS at the last evaluation, for the progress bar.
    last_ess: Option<f64>,
    /// Steps skipped in a row, as non-finite.
    consecutive_skips: usize,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Prepares the run in `run_dir` from the configuration file, resuming from its checkpoint
    /// if there is one. `system_override` replaces the configuration's system file.
    pub fn new(
        config_path: &Path,
        system_override: Option<&Path>,
        run_dir: &Path,
        device: B::Device,
    ) -> Result<Self> {
        let (config, text): (TrainConfig, String) = read_ron_file(config_path)?;
        config.validate().map_err(|e| Error::Config {
            path: config_path.to_owned(),
            message: e.to_string(),
        })?;
        let base_dir = config_path.parent().unwrap_or(Path::new("."));
        let system_path =
            system_override.map_or_else(|| base_dir.join(&config.system), Path::to_owned);
        let manifest = RunManifest {
            config: text,
            config_path: config_path.to_owned(),
            system_file: system_path.clone(),
        };
        std::fs::create_dir_all(run_dir).map_err(|source| Error::Io {
            path: run_dir.to_owned(),
            source,
        })?;
        let manifest_is_new = check_manifest(run_dir, &manifest, &config)?;

        let (system_file, system) = load_system(&system_path)?;
        set_precision::<B>(&device, config.precision)?;
        let checkpoint = Checkpoint::of_run(run_dir);
        let resuming = checkpoint.exists();
        let (model_config, state) = if resuming {
            (checkpoint.model_config()?, checkpoint.state()?)
        } else {
            (
                ModelConfig::build(
                    &config.flow,
                    &BuildContext {
                        dim: system.dim(),
                        seed: config.seed,
                        base_dir,
                        molecule: system.metadata().molecule.as_ref(),
                    },
                    &config.objectives,
                )?,
                TrainState::default(),
            )
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
        if manifest_is_new {
            write_manifest(run_dir, &manifest)?;
        }
        B::seed(&device, config.seed);
        let mut model = model_config.init::<B>(&device)?;
        let mut optimizer = AdamWConfig::new()
            .with_weight_decay(config.optimizer.weight_decay as f32)
            .init();
        if resuming {
            model = checkpoint.load_model(model, &device)?;
            optimizer = checkpoint.load_optimizer(optimizer, &device)?;
        }
        let mut objectives = Objective::build_all(&config, base_dir, &system)?;
        if resuming {
            restore_objectives(&mut objectives, &state, checkpoint.dir())?;
        }
        let test_set = if system.has_exact_sampler() && config.test_samples > 0 {
            let x = system.sample_exact(
                config.test_samples,
                crate::seed::derive(config.seed, TEST_SET_STREAM),
            )?;
            let exact_log_likelihood = system.log_z().map(|log_z| -> Result<f64> {
                let u = system.evaluate(&x, false)?.u;
                Ok(-u.iter().sum::<f64>() / u.len() as f64 - log_z)
            });
            Some(TestSet {
                x,
                exact_log_likelihood: exact_log_likelihood.transpose()?,
            })
        } else {
            None
        };
        Ok(Trainer {
            config,
            manifest,
            run_dir: run_dir.to_owned(),
            system_file,
            system,
            model_config,
            model: Some(model),
            optimizer,
            state,
            objectives,
            test_set,
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

    /// The flow being trained.
    pub fn model(&self) -> &Model<B> {
        self.model
            .as_ref()
            .expect("the model is present between steps")
    }

    /// Trains until the configured number of steps, or until `stop` is set (Ctrl-C), writing
    /// checkpoints and `run.h5` along the way. Returns whether the run finished.
    pub fn run(&mut self, stop: &AtomicBool, show_progress: bool) -> Result<bool> {
        self.run_steps(usize::MAX, stop, show_progress)
    }

    /// Like [`Trainer::run`], but stops (with a checkpoint) after at most `max_steps` more steps.
    pub fn run_steps(
        &mut self,
        max_steps: usize,
        stop: &AtomicBool,
        show_progress: bool,
    ) -> Result<bool> {
        let total = self.config.steps;
        let limit = self.state.step.saturating_add(max_steps).min(total);
        let progress = crate::progress::bar(
            show_progress,
            total as u64,
            "training [{bar:30}] {pos}/{len} {msg} ({eta} left)",
        );
        progress.set_position(self.state.step as u64);
        if show_progress {
            for objective in &mut self.objectives {
                if let Objective::Fab(fab) = objective {
                    fab.report_progress_to(progress.clone());
                }
            }
        }
        while self.state.step < total {
            if stop.load(Ordering::SeqCst) || self.state.step >= limit {
                self.save()?;
                progress.abandon_with_message("interrupted; checkpoint saved");
                return Ok(false);
            }
            let row = self.train_step()?;
            if row.is_some() {
                self.consecutive_skips = 0;
            } else {
                self.consecutive_skips += 1;
                if self.consecutive_skips >= MAX_CONSECUTIVE_SKIPS {
                    progress.abandon();
                    return Err(Error::Diverged {
                        steps: self.consecutive_skips,
                        at: self.state.step,
                    });
                }
            }
            if let Some(row) = row {
                progress.set_message(format!(
                    "loss {:.4}{} · {} target evals",
                    row.loss,
                    self.last_ess
                        .map_or(String::new(), |ess| format!(" · ESS {:.3}", ess)),
                    row.target_evaluations
                ));
            }
            progress.inc(1);
            let done = self.state.step;
            if done.is_multiple_of(self.config.checkpoint_every) || done == total {
                let evaluation = self.evaluate()?;
                self.last_ess = evaluation.importance.map(|s| s.ess);
                if let Some(row) = self.state.history.last_mut() {
                    row.test_log_likelihood = evaluation.test_log_likelihood;
                    row.ess = evaluation.importance.map(|s| s.ess);
                    row.log_z = evaluation.importance.map(|s| s.log_z);
                    let line = evaluation.describe(done, row.loss);
                    crate::progress::println(&progress, &line);
                }
                self.save()?;
            }
        }
        progress.finish_and_clear();
        Ok(true)
    }

    /// One gradient step; `None` if it was skipped because the loss or gradients were not finite.
    fn train_step(&mut self) -> Result<Option<HistoryRow>> {
        let step = self.state.step;
        let seed = seed_for_step(self.config.seed, step);
        B::seed(&self.device, seed);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let evaluations_before = self.system.evaluations();
        let model = self
            .model
            .as_ref()
            .expect("the model is present between steps");
        let mut loss = Tensor::<B, 1>::zeros([1], &self.device);
        for objective in &mut self.objectives {
            let batch = objective.loss(
                model,
                &self.system,
                self.config.batch_size,
                &mut rng,
                &self.device,
            )?;
            loss = loss + batch.loss;
        }
        self.state.target_evaluations += self.system.evaluations() - evaluations_before;
        let loss_value = to_host(loss.clone())[0];
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
        self.model = Some(self.optimizer.step(lr, model, grads));
        let row = HistoryRow {
            step,
            loss: loss_value,
            lr,
            grad_norm,
            test_log_likelihood: None,
            ess: None,
            log_z: None,
            target_evaluations: self.state.target_evaluations,
        };
        self.state.history.push(row.clone());
        Ok(Some(row))
    }

    /// Evaluates the flow: mean log q of the exact test set (when there is one), and the
    /// reverse ESS and log Ẑ of fresh flow samples (when `eval_samples` > 0). The energy
    /// evaluations made here are not counted as training cost.
    fn evaluate(&self) -> Result<Evaluation> {
        let model = self.model().valid();
        let test_log_likelihood = self.test_set.as_ref().map(|test| {
            let log_q = log_prob_on_host(&model, &test.x, &self.device);
            log_q.iter().sum::<f64>() / log_q.len() as f64
        });
        let importance = if self.config.eval_samples > 0 {
            let index = (self.state.step / self.config.checkpoint_every) as u64;
            B::seed(
                &self.device,
                crate::seed::derive(self.config.seed, EVAL_STREAM - index),
            );
            let (x, log_q) = sample_to_host(&model, self.config.eval_samples);
            let u = self.system.evaluate(&x, false)?.u;
            let log_w: Vec<f64> = u.iter().zip(&log_q).map(|(u, lq)| -u - lq).collect();
            Some(ImportanceSummary::from_log_weights(&log_w))
        } else {
            None
        };
        Ok(Evaluation {
            test_log_likelihood,
            importance,
        })
    }

    /// Writes the checkpoint and `run.h5`.
    fn save(&mut self) -> Result<()> {
        self.state.objectives = self.objectives.iter().map(Objective::state).collect();
        let objectives = &self.objectives;
        Checkpoint::of_run(&self.run_dir).save(
            &self.model_config,
            self.model(),
            &self.optimizer,
            &self.state,
            |dir| write_buffers(objectives, dir),
        )?;
        self.write_curves()
    }

    /// Writes the training curves to `RUN_DIR/run.h5`.
    fn write_curves(&self) -> Result<()> {
        let out = OutputFile::create(&self.run_dir.join("run.h5"))?;
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
        out.write_array("training/step", &column(&|r| r.step as f64), &[n])?;
        out.write_array("training/loss", &column(&|r| r.loss), &[n])?;
        out.write_array("training/lr", &column(&|r| r.lr), &[n])?;
        out.write_array("training/grad_norm", &column(&|r| r.grad_norm), &[n])?;
        out.write_array(
            "training/test_log_likelihood",
            &column(&|r| r.test_log_likelihood.unwrap_or(f64::NAN)),
            &[n],
        )?;
        out.write_array(
            "training/ess",
            &column(&|r| r.ess.unwrap_or(f64::NAN)),
            &[n],
        )?;
        out.write_array(
            "training/log_z",
            &column(&|r| r.log_z.unwrap_or(f64::NAN)),
            &[n],
        )?;
        out.write_array(
            "training/target_evaluations",
            &column(&|r| r.target_evaluations as f64),
            &[n],
        )?;
        out.set_u64("training", "steps_done", self.state.step as u64)?;
        out.set_u64("training", "skipped_steps", self.state.skipped_steps as u64)?;
        out.set_u64(
            "training",
            "target_evaluations",
            self.state.target_evaluations,
        )?;
        for state in &self.state.objectives {
            if let ObjectiveState::Fab(fab) = state {
                out.set_u64("training", "ais_chains_dropped", fab.dropped_chains)?;
                out.set_u64(
                    "training",
                    "mirror_images_dropped",
                    fab.mirror_images_dropped,
                )?;
                out.set_u64(
                    "training",
                    "torsion_jumps_accepted",
                    fab.torsion_jumps_accepted,
                )?;
            }
        }
        if let Some(ll) = self.test_set.as_ref().and_then(|t| t.exact_log_likelihood) {
            out.set_f64("training", "exact_test_log_likelihood", ll)?;
        }
        out.commit()?;
        Ok(())
    }
}

/// Checks that `run_dir` can take this run: a new folder, or one holding a run of the same
/// configuration and system. A configuration that differs only in `steps` extends the run (the
/// learning-rate schedule then follows the new length). Returns whether the manifest has to be
/// (re)written.
fn check_manifest(run_dir: &Path, manifest: &RunManifest, config: &TrainConfig) -> Result<bool> {
    if !run_dir.join("run.ron").is_file() {
        return Ok(true);
    }
    let existing = RunManifest::read(run_dir)?;
    if existing.config == manifest.config && existing.system_file == manifest.system_file {
        return Ok(false);
    }
    let only_steps_differ = existing.system_file == manifest.system_file
        && existing.train_config().is_ok_and(|old| {
            TrainConfig {
                steps: config.steps,
                ..old
            } == *config
        });
    if only_steps_differ {
        return Ok(true);
    }
    Err(Error::InvalidArgument(format!(
        "{} holds a run with another configuration or system; resume it with the same ones \
         (only `steps` may change, to extend the run), or train into a new --out folder",
        run_dir.display()
    )))
}

/// Writes `RUN_DIR/run.ron` atomically.
fn write_manifest(run_dir: &Path, manifest: &RunManifest) -> Result<()> {
    let text = ron::ser::to_string_pretty(manifest, ron::ser::PrettyConfig::default())
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    crate::io::write_atomically(&run_dir.join("run.ron"), text.as_bytes())
}

/// File of objective `index`'s replay buffer in a checkpoint folder.
fn buffer_file(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("buffer_{index}.h5"))
}

/// Writes the replay buffers of the objectives that have one into `dir`.
fn write_buffers(objectives: &[Objective], dir: &Path) -> Result<()> {
    for (index, objective) in objectives.iter().enumerate() {
        let Objective::Fab(fab) = objective else {
            continue;
        };
        let Some(content) = fab.buffer_content() else {
            continue;
        };
        let out = OutputFile::create(&buffer_file(dir, index))?;
        let n = content.log_w.len();
        let dim = content.x.len().checked_div(n).unwrap_or(0);
        out.write_array("x", &content.x, &[n, dim])?;
        out.write_array("log_w", &content.log_w, &[n])?;
        out.write_array("log_q", &content.log_q, &[n])?;
        out.commit()?;
    }
    Ok(())
}

/// Gives each objective its saved state and, for FAB, its replay buffer.
fn restore_objectives(objectives: &mut [Objective], state: &TrainState, dir: &Path) -> Result<()> {
    for (index, (objective, saved)) in objectives.iter_mut().zip(&state.objectives).enumerate() {
        if let (Objective::Fab(fab), ObjectiveState::Fab(saved)) = (objective, saved) {
            let path = buffer_file(dir, index);
            let buffer = if path.is_file() {
                Some(BufferContent {
                    x: read_array(&path, "x")?.0,
                    log_w: read_array(&path, "log_w")?.0,
                    log_q: read_array(&path, "log_q")?.0,
                })
            } else {
                None
            };
            fab.restore(saved, buffer)?;
        }
    }
    Ok(())
}
