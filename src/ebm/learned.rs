//! A trained energy model or potential flow as a system: `System(learned: "RUN_DIR")`.

use super::{
    EnergyModel, EnergyModelConfig, Grid, PeriodicSpline, PotentialFlow, PotentialFlowConfig,
};
use crate::backend::Cpu;
use crate::energy::EnergySource;
use crate::flow::Density;
use crate::flow::{Precision, from_f64, set_precision, to_host};
use crate::io::{OutputFile, dataset_exists, read_array, read_u64_attr};
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

/// The fewest and most points per axis of a table.
const TABLE_POINTS: std::ops::RangeInclusive<usize> = 8..=1024;

/// Points at which a table is compared with the model it replaces.
const TABLE_CHECKS: usize = 256;

/// The largest difference from the model (k_BT) a table may have at those points.
const TABLE_TOLERANCE: f64 = 0.01;

/// Points per call of the model while tabulating.
const TABLE_CHUNK: usize = 4096;

/// What a run learned, as its checkpoint describes it.
#[derive(Debug)]
enum LearnedConfig {
    Energy(EnergyModelConfig),
    Potential(PotentialFlowConfig),
}

impl LearnedEnergy {
    /// The model's energies at `nodes` as stored in `file`: a potential flow's run writes
    /// −log q on the torus's grid into `run.h5` when it ends, after its last checkpoint, and a
    /// table computed at load time is kept in the run folder ([`table_cache`]), both as
    /// `energy/energy` at `energy/grid` with the step in `training/steps_done`; `None` when the
    /// file holds no surface at these points, or one of another step than the checkpoint's.
    fn stored_surface(&self, file: &Path, nodes: &[f64]) -> Result<Option<Vec<f64>>> {
        if !file.is_file() || !dataset_exists(file, "energy/grid")? {
            return Ok(None);
        }
        if read_u64_attr(file, "training", "steps_done")? != Some(self.step()?) {
            return Ok(None);
        }
        let (grid, _) = read_array(file, "energy/grid")?;
        let same =
            grid.len() == nodes.len() && grid.iter().zip(nodes).all(|(a, b)| (a - b).abs() < 1e-12);
        Ok(match same {
            true => Some(read_array(file, "energy/energy")?.0),
            false => None,
        })
    }

    /// The checkpoint's step.
    fn step(&self) -> Result<u64> {
        Ok(Checkpoint::of_run(&self.run).state()?.step as u64)
    }

    /// Keeps a table computed from the model in the run folder (atomically), so that the next
    /// process that loads it at the same step reads it instead of solving again. A folder that
    /// cannot be written costs only that: the table is used all the same.
    fn keep_table(&self, nodes: &[f64], values: &[f64], dim: usize, n: usize) {
        let path = table_cache(&self.run, n);
        let written = (|| -> Result<PathBuf> {
            let out = OutputFile::create(&path)?;
            out.write_array("energy/grid", nodes, &[values.len(), dim])?;
            out.write_array("energy/energy", values, &[values.len()])?;
            out.set_u64("training", "steps_done", self.step()?)?;
            out.commit()
        })();
        if let Err(e) = written {
            eprintln!("note: the table was not kept for later runs ({e})");
        }
    }
}

/// Where a table of `n` points per axis computed from a run's model is kept: in the run
/// folder, beside `run.h5`.
fn table_cache(run: &Path, n: usize) -> PathBuf {
    run.join(format!("table_{n}.h5"))
}

/// The model built from a [`LearnedConfig`], or the table that replaces it.
#[derive(Debug)]
enum LearnedModel {
    Energy(EnergyModel<Cpu>),
    Potential(PotentialFlow<Autodiff<Cpu>>),
    Table(PeriodicSpline),
}

impl LearnedEnergy {
    /// Opens the trained run in `run_dir` (its manifest, system and checkpoint are checked as
    /// for `sample`); an error when it trained a flow.
    ///
    /// With `table: Some(n)`, a potential flow of one or two angles is tabulated now: −log q at
    /// the n^dim points of the torus's grid (read from the surface the run wrote into `run.h5`
    /// when it is on that grid, n = 128, and from the checkpoint's step; else computed once and
    /// kept in the run folder as `table_{n}.h5` for the next process), then
    /// a periodic cubic B-spline through them ([`PeriodicSpline`]) is the energy, with its
    /// gradient in closed form. Each evaluation then costs nanoseconds instead of an ODE solve
    /// per point and per periodic image (tens of milliseconds with the gradient), which is what
    /// `md` and FAB on a learned (φ, ψ) surface need. The table is compared with the model at
    /// 256 points off the grid: the largest difference is in the system's description, and a
    /// table that differs by more than 0.01 k_BT is refused.
    pub fn open(run_dir: &Path, table: Option<usize>) -> Result<Self> {
        // f64 on the CPU unless this process chose a precision before (a flow trained or
        // sampled on this system); before the run opens, which would choose its own.
        let _ = set_precision::<Cpu>(&Default::default(), Precision::F64);
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
        let mut energy = LearnedEnergy {
            run: run_dir.to_owned(),
            metadata,
            config,
            model: Mutex::new(None),
        };
        if let Some(n) = table {
            energy.tabulate(n)?;
        }
        Ok(energy)
    }

    /// Replaces a potential flow of angles by its table on `n` points per axis (see
    /// [`LearnedEnergy::open`]).
    fn tabulate(&mut self, n: usize) -> Result<()> {
        let dim = self.dim();
        let periodic_potential = matches!(&self.config, LearnedConfig::Potential(c) if c.periodic);
        if !periodic_potential || dim > 2 {
            return Err(Error::InvalidArgument(format!(
                "`table` is for a potential flow (VAPO) of one or two angles; the run in {} \
                 learned {} of {dim} coordinates (evaluated as it is, without `table`)",
                self.run.display(),
                match &self.config {
                    LearnedConfig::Energy(_) => "an energy model",
                    LearnedConfig::Potential(_) => "a potential flow",
                }
            )));
        }
        if !TABLE_POINTS.contains(&n) {
            return Err(Error::InvalidArgument(format!(
                "`table: {n}`: the points per axis must be between {} and {}",
                TABLE_POINTS.start(),
                TABLE_POINTS.end()
            )));
        }
        // The model at `x`, with a bar when there are many points (tens of minutes for 256²).
        let exact = |x: &[f64]| -> Result<Vec<f64>> {
            let mut u = vec![0.0; x.len() / dim];
            let bar = crate::progress::bar(
                u.len() > TABLE_CHUNK,
                u.len() as u64,
                "tabulating the learned energy [{bar:40}] {pos}/{len} ({eta} left)",
            );
            for (points, u) in x.chunks(TABLE_CHUNK * dim).zip(u.chunks_mut(TABLE_CHUNK)) {
                self.energy_raw(points, u, None)?;
                bar.inc(u.len() as u64);
            }
            bar.finish_and_clear();
            Ok(u)
        };
        let nodes = Grid::torus(dim, n)?.points();
        let (values, source) =
            if let Some(values) = self.stored_surface(&self.run.join("run.h5"), &nodes)? {
                (values, "the surface in run.h5")
            } else if let Some(values) = self.stored_surface(&table_cache(&self.run, n), &nodes)? {
                (values, "the model (kept in the run folder)")
            } else {
                let values = exact(&nodes)?;
                self.keep_table(&nodes, &values, dim, n);
                (values, "the model")
            };
        let spline = PeriodicSpline::fit(&values, dim, n)?;
        // Off the grid: a quasi-random (golden-ratio) sequence over the torus.
        let checks: Vec<f64> = (1..=TABLE_CHECKS)
            .flat_map(|k| {
                let steps = [0.618_033_988_749_895, 0.754_877_666_246_693];
                (0..dim).map(move |j| std::f64::consts::TAU * ((k as f64 * steps[j]).fract() - 0.5))
            })
            .collect();
        let error = checks
            .chunks(dim)
            .zip(exact(&checks)?)
            .map(|(x, u)| (spline.evaluate(x).0 - u).abs())
            // The largest, or NaN if any is.
            .fold(0.0, |m: f64, e| if e > m || e.is_nan() { e } else { m });
        if error.is_nan() || error > TABLE_TOLERANCE {
            return Err(Error::InvalidArgument(format!(
                "the table of {n}^{dim} points differs from the model by up to {error:.3e} k_BT \
                 at {TABLE_CHECKS} points off the grid (at most {TABLE_TOLERANCE} allowed); use \
                 more points per axis, or no `table`"
            )));
        }
        self.metadata.description += &format!(
            "; tabulated on {n}^{dim} points of the torus from {source} (periodic cubic \
             B-spline), largest difference from the model {error:.2e} at {TABLE_CHECKS} points \
             off the grid"
        );
        *self.model.get_mut().map_err(|_| {
            Error::InvalidArgument("a learned energy's model was poisoned".into())
        })? = Some(LearnedModel::Table(spline));
        Ok(())
    }

    /// The model, built and loaded from the checkpoint at the first call.
    fn with_model<T>(&self, f: impl FnOnce(&LearnedModel) -> T) -> Result<T> {
        let mut slot = self
            .model
            .lock()
            .map_err(|_| Error::InvalidArgument("a learned energy's model was poisoned".into()))?;
        if slot.is_none() {
            let device = Default::default();
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
            LearnedModel::Table(spline) => {
                let (u, g): (Vec<f64>, Vec<[f64; 2]>) =
                    x.chunks(dim).map(|p| spline.evaluate(p)).unzip();
                let gradient = with_gradient
                    .then(|| g.iter().flat_map(|g| g[..dim].iter().copied()).collect());
                Ok((u, gradient))
            }
        })??;
        u.copy_from_slice(&energy);
        if let (Some(out), Some(g)) = (grad, gradient) {
            out.copy_from_slice(&g);
        }
        Ok(())
    }
}
