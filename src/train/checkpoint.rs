//! Checkpoints: the flow's configuration and parameters, the optimiser state and the training
//! history, in one folder written atomically.
//!
//! ```text
//! RUN_DIR/checkpoint/
//!   flow.ron        the explicit FlowConfig (masks included)
//!   model.mpk       flow parameters (burn NamedMpk, stored in f64)
//!   optimizer.mpk   AdamW moments
//!   state.ron       step, skipped steps, history
//! ```
//!
//! Resuming is exact for f32 runs. burn 0.21 converts a loaded record to the backend's default
//! element type (f32 on Flex), so an f64 run resumes with parameters and moments rounded to f32
//! once; the flow's log q stays consistent with its parameters, so reweighting is unaffected.

use super::objective::ObjectiveState;
use crate::flow::{Flow, FlowConfig};
use crate::{Error, Result};
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{DoublePrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Progress of a run, saved with each checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Gradient steps done.
    pub step: usize,
    /// Steps skipped because the loss or a gradient was not finite.
    pub skipped_steps: usize,
    /// Target-energy evaluations so far.
    pub target_evaluations: u64,
    /// One row per logged step.
    pub history: Vec<HistoryRow>,
    /// Each objective's own state, in the order of the configuration.
    #[serde(default)]
    pub objectives: Vec<ObjectiveState>,
}

/// One logged training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Step index.
    pub step: usize,
    /// Total loss.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Mean log q on the exact test set, at evaluation steps.
    pub test_log_likelihood: Option<f64>,
    /// Reverse ESS (a fraction) of fresh flow samples, at evaluation steps.
    #[serde(default)]
    pub ess: Option<f64>,
    /// log Ẑ by importance sampling of fresh flow samples, at evaluation steps.
    #[serde(default)]
    pub log_z: Option<f64>,
    /// Target-energy evaluations of training so far (evaluation steps not included).
    #[serde(default)]
    pub target_evaluations: u64,
}

/// A checkpoint folder.
pub struct Checkpoint {
    dir: PathBuf,
}

type Recorder_ = NamedMpkFileRecorder<DoublePrecisionSettings>;

impl Checkpoint {
    /// The checkpoint of the run in `run_dir`.
    pub fn of_run(run_dir: &Path) -> Self {
        Checkpoint {
            dir: run_dir.join("checkpoint"),
        }
    }

    /// The checkpoint's folder (for files that objectives add).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a checkpoint has been written.
    pub fn exists(&self) -> bool {
        self.dir.join("state.ron").is_file()
    }

    /// Writes the checkpoint: into a temporary folder, then swapped in, so an interruption
    /// never leaves a half-written checkpoint.
    pub fn save<B: AutodiffBackend, O: Optimizer<Flow<B>, B>>(
        &self,
        flow_config: &FlowConfig,
        model: &Flow<B>,
        optimizer: &O,
        state: &TrainState,
        extra: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let temp = self.dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir_all(&temp).map_err(|source| Error::Io {
            path: temp.clone(),
            source,
        })?;
        let recorder = Recorder_::new();
        write_ron(&temp.join("flow.ron"), flow_config)?;
        model
            .clone()
            .save_file(temp.join("model"), &recorder)
            .map_err(|e| record_error(&temp, e))?;
        recorder
            .record(optimizer.to_record(), temp.join("optimizer"))
            .map_err(|e| record_error(&temp, e))?;
        write_ron(&temp.join("state.ron"), state)?;
        extra(&temp)?;
        let old = self.dir.with_extension("old");
        if self.dir.exists() {
            std::fs::rename(&self.dir, &old).map_err(|source| Error::Io {
                path: self.dir.clone(),
                source,
            })?;
        }
        std::fs::rename(&temp, &self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            source,
        })?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// The flow's configuration.
    pub fn flow_config(&self) -> Result<FlowConfig> {
        read_ron(&self.dir.join("flow.ron"))
    }

    /// The training state.
    pub fn state(&self) -> Result<TrainState> {
        read_ron(&self.dir.join("state.ron"))
    }

    /// Loads the parameters into `model` (built from [`Checkpoint::flow_config`]).
    pub fn load_model<B: burn::prelude::Backend>(
        &self,
        model: Flow<B>,
        device: &B::Device,
    ) -> Result<Flow<B>> {
        model
            .load_file(self.dir.join("model"), &Recorder_::new(), device)
            .map_err(|e| record_error(&self.dir, e))
    }

    /// Loads the optimiser state into `optimizer`.
    pub fn load_optimizer<B: AutodiffBackend, O: Optimizer<Flow<B>, B>>(
        &self,
        optimizer: O,
        device: &B::Device,
    ) -> Result<O> {
        let record = Recorder_::new()
            .load(self.dir.join("optimizer"), device)
            .map_err(|e| record_error(&self.dir, e))?;
        Ok(optimizer.load_record(record))
    }
}

fn record_error(dir: &Path, e: burn::record::RecorderError) -> Error {
    Error::Config {
        path: dir.to_owned(),
        message: format!("checkpoint: {e}"),
    }
}

fn write_ron<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::default()).map_err(|e| {
            Error::Config {
                path: path.to_owned(),
                message: e.to_string(),
            }
        })?;
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

fn read_ron<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    crate::config::read_ron_file(path).map(|(value, _)| value)
}
