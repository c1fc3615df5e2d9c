//! A training run's folder as one object: its manifest (the configuration text and the
//! identity of the system it trains on), its checkpoint, its curves, and the lock that keeps a
//! second writer out.
//!
//! ```text
//! RUN_DIR/
//!   run.ron        the manifest (RunManifest): configuration text and path, system identity
//!   checkpoint/    the model, optimiser and training state (see train::Checkpoint)
//!   run.h5         the training curves (and an energy model's surface, group `energy`)
//!   energy.png     a two-dimensional energy model's surface beside its data's histogram
//!   lock           held by the `train` that writes the folder
//! ```
//!
//! Paths in the manifest are absolute, so `sample --run` works from any folder. The system is
//! identified by its file's absolute path, its text and its dimension: a run refuses to go on
//! (or be sampled) when the system file has changed, moved or gives another dimension, before
//! any tensor is built.

use crate::backend::AutodiffFlowBackend;
use crate::config::{SystemFile, read_ron_file, ron_options, write_ron_file};
use crate::energy::System;
use crate::flow::set_precision;
use crate::io::{FileLock, RUN_MANIFEST, absolute};
use crate::train::{Checkpoint, Model, ModelConfig, TrainConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What identifies the system a run (or an MD checkpoint) belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemIdentity {
    /// The system file's absolute path.
    pub path: PathBuf,
    /// The system file's whole text.
    pub text: String,
    /// The system's dimension.
    pub dim: usize,
}

impl SystemIdentity {
    /// The identity of a loaded system.
    pub fn of(file: &SystemFile, system: &System) -> Self {
        SystemIdentity {
            path: absolute(&file.path),
            text: file.text.clone(),
            dim: system.dim(),
        }
    }

    /// Reads the system file again and checks that it is still this one (same text); `owner`
    /// names what depends on it, for the message.
    pub fn reread(&self, owner: &str) -> Result<SystemFile> {
        if !self.path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "{owner} was made with the system file {}, which no longer exists; put it back \
                 (the run records its text) or train a new run",
                self.path.display()
            )));
        }
        let file = SystemFile::read(&self.path)?;
        if file.text != self.text {
            return Err(Error::InvalidArgument(format!(
                "the system file {} has changed since {owner} was made; restore it (the run \
                 records its old text in run.ron) or train a new run",
                self.path.display()
            )));
        }
        Ok(file)
    }

    /// Checks that a loaded system has the recorded dimension.
    pub fn check_dim(&self, system: &System, owner: &str) -> Result<()> {
        if system.dim() != self.dim {
            return Err(Error::Shape {
                what: format!("the system of {owner}"),
                expected: format!("dimension {} (as recorded)", self.dim),
                found: format!("dimension {}", system.dim()),
            });
        }
        Ok(())
    }
}

/// `RUN_DIR/run.ron`: what a run is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// The training configuration, as written.
    pub config: String,
    /// The configuration's absolute path when the run started (its relative paths are
    /// relative to its folder).
    pub config_path: PathBuf,
    /// The system trained on.
    pub system: SystemIdentity,
}

impl RunManifest {
    /// The parsed training configuration.
    pub fn train_config(&self) -> Result<TrainConfig> {
        ron_options()
            .from_str(&self.config)
            .map_err(|e| Error::Config {
                path: self.config_path.clone(),
                message: e.to_string(),
            })
    }

    /// The configuration's folder, against which its relative paths resolve.
    pub fn base_dir(&self) -> &Path {
        self.config_path.parent().unwrap_or(Path::new("/"))
    }
}

/// A run folder.
pub struct RunDir {
    dir: PathBuf,
    /// The writer's lock, held while this value lives (none for readers).
    _lock: Option<FileLock>,
}

impl RunDir {
    /// The run folder `dir` for writing: created if needed, and locked so that a second
    /// `train` into it is refused instead of racing this one.
    pub fn lock(dir: &Path) -> Result<Self> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "{} is a file, not a run folder",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let lock = FileLock::acquire(&dir.join("lock"), || {
            format!(
                "another boltzflow is training into {}; wait for it to finish or stop it \
                 (Ctrl-C saves its checkpoint)",
                dir.display()
            )
        })?;
        Ok(RunDir {
            dir: absolute(dir),
            _lock: Some(lock),
        })
    }

    /// The run folder `dir` as seen by the ranks of a data-parallel run other than rank 0,
    /// which holds the lock and writes: they read its checkpoint, nothing else.
    pub fn unlocked(dir: &Path) -> Self {
        RunDir {
            dir: absolute(dir),
            _lock: None,
        }
    }

    /// The existing run folder `dir`, for reading.
    pub fn existing(dir: &Path) -> Result<Self> {
        if !dir.join(RUN_MANIFEST).is_file() {
            return Err(Error::InvalidArgument(format!(
                "{} is not a training run folder (no {RUN_MANIFEST}); train one with \
                 `boltzflow train CONFIG --out {}`",
                dir.display(),
                dir.display()
            )));
        }
        Ok(RunDir {
            dir: absolute(dir),
            _lock: None,
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The manifest, if the run has one yet.
    pub fn manifest(&self) -> Result<Option<RunManifest>> {
        let path = self.dir.join(RUN_MANIFEST);
        if !path.is_file() {
            return Ok(None);
        }
        read_ron_file(&path)
            .map(|(m, _)| Some(m))
            .map_err(|e| match e {
                Error::Config { path, message } => Error::Config {
                    path,
                    message: format!(
                        "{message} (a manifest written by an older boltzflow, or damaged: train \
                         into a new folder)"
                    ),
                },
                e => e,
            })
    }

    /// Writes the manifest atomically.
    pub fn write_manifest(&self, manifest: &RunManifest) -> Result<()> {
        write_ron_file(&self.dir.join(RUN_MANIFEST), manifest)
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint::of_run(&self.dir)
    }

    /// `run.h5`, the training curves.
    pub fn curves(&self) -> PathBuf {
        self.dir.join("run.h5")
    }

    /// `energy.png`, a two-dimensional energy model's surface beside its data's histogram.
    pub fn energy_plot(&self) -> PathBuf {
        self.dir.join("energy.png")
    }

    /// Opens a trained run for reading: its configuration and its system, checked against the
    /// manifest. Refuses a run without a checkpoint.
    pub fn open(dir: &Path) -> Result<OpenRun> {
        let run = RunDir::existing(dir)?;
        let manifest = run.manifest()?.ok_or_else(|| {
            Error::InvalidArgument(format!("{}: {RUN_MANIFEST} disappeared", dir.display()))
        })?;
        let config = manifest.train_config()?;
        let owner = format!("the run in {}", dir.display());
        let system_file = manifest.system.reread(&owner)?;
        // The run's precision on the CPU before its system loads, since a learned energy builds
        // its model there in the precision already chosen; if this process chose one before
        // (a run whose system is this learned one), that choice stays.
        let _ = set_precision::<crate::backend::Cpu>(&Default::default(), config.precision);
        let system = system_file.load()?;
        manifest.system.check_dim(&system, &owner)?;
        if !run.checkpoint().exists() {
            return Err(Error::InvalidArgument(format!(
                "the run in {} has no checkpoint yet; train it first (a checkpoint is written \
                 every `checkpoint_every` steps and on Ctrl-C)",
                dir.display()
            )));
        }
        Ok(OpenRun {
            run,
            manifest,
            config,
            system_file,
            system,
        })
    }
}

/// A trained run, opened for reading.
pub struct OpenRun {
    /// The folder.
    pub run: RunDir,
    /// Its manifest.
    pub manifest: RunManifest,
    /// Its training configuration.
    pub config: TrainConfig,
    /// Its system file (unchanged since training).
    pub system_file: SystemFile,
    /// The system.
    pub system: System,
}

impl OpenRun {
    /// The trained model, in the run's precision, on `device`.
    pub fn load_model<B: AutodiffFlowBackend>(&self, device: &B::Device) -> Result<Model<B>> {
        set_precision::<B>(device, self.config.precision)?;
        let checkpoint = self.run.checkpoint();
        let model_config: ModelConfig = checkpoint.model_config()?;
        checkpoint.load_model(model_config.init::<B>(device)?, device)
    }
}
