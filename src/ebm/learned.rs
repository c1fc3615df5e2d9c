//! A trained energy model as a system: `System(learned: "RUN_DIR")`.

use super::{EnergyModel, EnergyModelConfig};
use crate::backend::Cpu;
use crate::energy::EnergySource;
use crate::flow::{Precision, from_f64, set_precision, to_host};
use crate::run::RunDir;
use crate::train::{Checkpoint, ModelConfig};
use crate::{Error, Result};
use boltzflow_plugin::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The energy E_θ of the energy model trained in a run folder, with its gradient, as a system's
/// reduced energy. It has the coordinates, temperature and molecule of the system it was trained
/// on. The model is built on the CPU at its first evaluation, in the device's precision (f64
/// unless a flow in the same process chose f32 first), from the run's checkpoint.
#[derive(Debug)]
pub struct LearnedEnergy {
    run: PathBuf,
    metadata: Metadata,
    config: EnergyModelConfig,
    model: Mutex<Option<EnergyModel<Cpu>>>,
}

impl LearnedEnergy {
    /// Opens the trained run in `run_dir` (its manifest, system and checkpoint are checked as
    /// for `sample`); an error when it trained a flow.
    pub fn open(run_dir: &Path) -> Result<Self> {
        let opened = RunDir::open(run_dir)?;
        let checkpoint = opened.run.checkpoint();
        let config = match checkpoint.model_config::<ModelConfig>()? {
            ModelConfig::Energy(config) => config,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "the run in {} trained a flow, not an energy model; `learned:` takes the run \
                     folder of an `energy:` training",
                    run_dir.display()
                )));
            }
        };
        let trained_on = opened.system.metadata();
        let mut metadata = trained_on.clone();
        metadata.system = format!("energy learned in {}", run_dir.display());
        metadata.description = format!(
            "E_θ of the energy model trained on samples of {} (boltzflow train, step {})",
            trained_on.system,
            checkpoint.state()?.step
        );
        metadata.parameters = serde_json::json!({
            "run": run_dir,
            "trained_on": trained_on.parameters,
            "energy": config.spec,
        });
        Ok(LearnedEnergy {
            run: run_dir.to_owned(),
            metadata,
            config,
            model: Mutex::new(None),
        })
    }

    /// The model, built and loaded from the checkpoint at the first call.
    fn with_model<T>(&self, f: impl FnOnce(&EnergyModel<Cpu>) -> T) -> Result<T> {
        let mut slot = self
            .model
            .lock()
            .map_err(|_| Error::InvalidArgument("a learned energy's model was poisoned".into()))?;
        if slot.is_none() {
            let device = Default::default();
            // Keep the precision a flow may already have chosen in this process.
            let _ = set_precision::<Cpu>(&device, Precision::F64);
            let fresh = self.config.init::<Cpu>(&device)?;
            *slot = Some(Checkpoint::of_run(&self.run).load_model(fresh, &device)?);
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
        self.config.mean.len()
    }

    fn energy_raw(&self, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) -> Result<()> {
        let (n, dim, with_gradient) = (u.len(), self.dim(), grad.is_some());
        let (energy, gradient) = self.with_model(|model| {
            let points = from_f64(x.to_vec(), [n, dim], &Default::default());
            if with_gradient {
                let (e, g) = model.energy_and_gradient(points);
                (to_host(e), Some(to_host(g)))
            } else {
                (to_host(model.energy(points)), None)
            }
        })?;
        u.copy_from_slice(&energy);
        if let (Some(out), Some(g)) = (grad, gradient) {
            out.copy_from_slice(&g);
        }
        Ok(())
    }
}
