//! A trained energy model or potential flow as a system: `System(learned: "RUN_DIR")`.

use super::{EnergyModel, EnergyModelConfig, PotentialFlow, PotentialFlowConfig};
use crate::backend::Cpu;
use crate::energy::EnergySource;
use crate::flow::Density;
use crate::flow::{Precision, from_f64, set_precision, to_host};
use crate::run::RunDir;
use crate::train::{Checkpoint, ModelConfig};
use crate::{Error, Result};
use boltzflow_plugin::Metadata;
use burn::backend::Autodiff;
use burn::module::{AutodiffModule, Module};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The energy learned in a run folder, with its gradient, as a system's reduced energy: E_θ of
/// an energy model, or −log q of a potential flow (VAPO; normalised, so its log Z is 0; the
/// gradient by autodiff through the ODE solve). It has the coordinates, temperature and
/// molecule of the system it was trained on. The model is built on the CPU at its first
/// evaluation, in the device's precision (f64 unless a flow in the same process chose f32
/// first), from the run's checkpoint.
#[derive(Debug)]
pub struct LearnedEnergy {
    run: PathBuf,
    metadata: Metadata,
    config: LearnedConfig,
    model: Mutex<Option<LearnedModel>>,
}

/// Points per backpropagation through a potential flow's solve.
const GRADIENT_CHUNK: usize = 64;

/// What a run learned, as its checkpoint describes it.
#[derive(Debug)]
enum LearnedConfig {
    Energy(EnergyModelConfig),
    Potential(PotentialFlowConfig),
}

/// The model built from a [`LearnedConfig`].
#[derive(Debug)]
enum LearnedModel {
    Energy(EnergyModel<Cpu>),
    Potential(PotentialFlow<Autodiff<Cpu>>),
}

impl LearnedEnergy {
    /// Opens the trained run in `run_dir` (its manifest, system and checkpoint are checked as
    /// for `sample`); an error when it trained a flow.
    pub fn open(run_dir: &Path) -> Result<Self> {
        let opened = RunDir::open(run_dir)?;
        let checkpoint = opened.run.checkpoint();
        let config = match checkpoint.model_config::<ModelConfig>()? {
            ModelConfig::Energy(config) => LearnedConfig::Energy(config),
            ModelConfig::Potential(config) => LearnedConfig::Potential(config),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "the run in {} trained a flow, not an energy model; `learned:` takes the run \
                     folder of an `energy:` or `potential:` training",
                    run_dir.display()
                )));
            }
        };
        let (kind, spec) = match &config {
            LearnedConfig::Energy(c) => ("E_θ of the energy model", serde_json::json!(c.spec)),
            LearnedConfig::Potential(c) => {
                ("−log q of the potential flow", serde_json::json!(c.spec))
            }
        };
        let trained_on = opened.system.metadata();
        let mut metadata = trained_on.clone();
        metadata.system = format!("energy learned in {}", run_dir.display());
        metadata.description = format!(
            "{kind} trained on samples of {} (boltzflow train, step {})",
            trained_on.system,
            checkpoint.state()?.step
        );
        metadata.parameters = serde_json::json!({
            "run": run_dir,
            "trained_on": trained_on.parameters,
            "model": spec,
        });
        Ok(LearnedEnergy {
            run: run_dir.to_owned(),
            metadata,
            config,
            model: Mutex::new(None),
        })
    }

    /// The model, built and loaded from the checkpoint at the first call.
    fn with_model<T>(&self, f: impl FnOnce(&LearnedModel) -> T) -> Result<T> {
        let mut slot = self
            .model
            .lock()
            .map_err(|_| Error::InvalidArgument("a learned energy's model was poisoned".into()))?;
        if slot.is_none() {
            let device = Default::default();
            // Keep the precision a flow may already have chosen in this process.
            let _ = set_precision::<Cpu>(&device, Precision::F64);
            let checkpoint = Checkpoint::of_run(&self.run);
            *slot = Some(match &self.config {
                LearnedConfig::Energy(c) => {
                    LearnedModel::Energy(checkpoint.load_model(c.init::<Cpu>(&device)?, &device)?)
                }
                LearnedConfig::Potential(c) => LearnedModel::Potential(
                    checkpoint
                        .load_model(c.init::<Autodiff<Cpu>>(&device)?, &device)?
                        .no_grad(),
                ),
            });
        }
        Ok(f(slot.as_ref().expect("built above")))
    }
}

impl EnergySource for LearnedEnergy {
    fn provenance(&self) -> (String, String) {
        ("learned energy".into(), crate::VERSION.into())
    }

    fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    fn dim(&self) -> usize {
        match &self.config {
            LearnedConfig::Energy(c) => c.mean.len(),
            LearnedConfig::Potential(c) => c.mean.len(),
        }
    }

    fn energy_raw(&self, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) -> Result<()> {
        let (n, dim, with_gradient) = (u.len(), self.dim(), grad.is_some());
        let device = Default::default();
        let (energy, gradient) = self.with_model(|model| match model {
            LearnedModel::Energy(model) => {
                let points = from_f64(x.to_vec(), [n, dim], &device);
                Ok(if with_gradient {
                    let (e, g) = model.energy_and_gradient(points);
                    (to_host(e), Some(to_host(g)))
                } else {
                    (to_host(model.energy(points)), None)
                })
            }
            LearnedModel::Potential(flow) if with_gradient => {
                // Backpropagating through the solve keeps every stage's tangents: bounded
                // memory in chunks (about 6 MB per point for the default 50 RK4 steps).
                let mut u = Vec::with_capacity(n);
                let mut g = Vec::with_capacity(n * dim);
                for chunk in x.chunks(GRADIENT_CHUNK * dim) {
                    let m = chunk.len() / dim;
                    let points = from_f64::<Autodiff<Cpu>, 2>(chunk.to_vec(), [m, dim], &device)
                        .require_grad();
                    let energy = flow.log_prob(points.clone()).neg();
                    let grads = energy.clone().sum().backward();
                    let gradient = points.grad(&grads).ok_or_else(|| {
                        Error::InvalidArgument(
                            "the potential flow's log q does not depend on the points".into(),
                        )
                    })?;
                    u.extend(to_host(energy.inner()));
                    g.extend(to_host(gradient));
                }
                Ok((u, Some(g)))
            }
            LearnedModel::Potential(flow) => {
                let points = from_f64::<Cpu, 2>(x.to_vec(), [n, dim], &device);
                Ok((to_host(flow.valid().log_prob(points).neg()), None))
            }
        })??;
        u.copy_from_slice(&energy);
        if let (Some(out), Some(g)) = (grad, gradient) {
            out.copy_from_slice(&g);
        }
        Ok(())
    }
}
