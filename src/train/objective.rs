//! The objectives a run combines. Each is one type behind the [`Objective`] trait, which owns its
//! whole lifecycle: the loss of a step, the state it carries between steps (saved in
//! checkpoints and restored), the files it keeps beside them (FAB's replay buffer), its lines
//! on the progress bar, and its counters in `run.h5`. The trainer only calls the trait; a new
//! objective is one file and one arm of [`build`].

use super::batch::Batch;
use super::fab::{Fab, FabState};
use super::model::Trainable;
use super::{ForwardKl, ObjectiveConfig, ReverseKl, SampleFiles, SampleSource, TrainConfig};
use crate::backend::AutodiffFlowBackend;
use crate::ebm::{CdSettings, ContrastiveDivergence, Vapo, WassersteinFlow};
use crate::energy::System;
use crate::io::{OutputFile, dataset_exists, read_array, read_points};
use crate::job::StopFlag;
use crate::parallel::Ranks;
use crate::seed::Stream;
use crate::{Error, Result};
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::Path;

/// What an objective carries from one step to the next, for checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum ObjectiveState {
    /// Nothing.
    #[default]
    Stateless,
    /// FAB's AIS step sizes and counters (its buffer's points are in their own file).
    Fab(FabState),
}

impl ObjectiveState {
    /// The adapted AIS step sizes this state holds, if any (`sample --ais` reuses them).
    pub fn ais_step_sizes(&self) -> Option<&[f64]> {
        match self {
            ObjectiveState::Fab(state) => Some(&state.step_sizes),
            ObjectiveState::Stateless => None,
        }
    }
}

/// Where a step's objectives get their context.
pub struct StepContext<'a, B: AutodiffFlowBackend> {
    /// The model being trained.
    pub model: &'a Trainable<B>,
    /// The target.
    pub system: &'a System,
    /// Points per gradient step, over all ranks together.
    pub batch_size: usize,
    /// The device the flow lives on.
    pub device: &'a B::Device,
    /// The processes sharing the step (one, on a single process). Each computes the loss of
    /// its share of the points, weighted by [`StepContext::share_weight`], and the trainer sums
    /// their gradients: the sum is the gradient of the whole batch's loss (where an objective
    /// leaves non-finite points out, each rank averages over its own kept points).
    pub ranks: &'a dyn Ranks,
}

impl<B: AutodiffFlowBackend> StepContext<'_, B> {
    /// This rank's share of `n` points (all of them on one process).
    pub fn share(&self, n: usize) -> Range<usize> {
        self.ranks.share(n)
    }

    /// The factor that turns a mean over this rank's share of `n` points into its part of the
    /// mean over all `n` (1 on one process).
    pub fn share_weight(&self, n: usize) -> f64 {
        self.share(n).len() as f64 / n as f64
    }

    /// This rank's own random stream for the step, seeded from the step's stream `rng`, which
    /// every rank holds alike (each draws one number from it, so it stays alike); `None` on one
    /// process, where `rng` itself serves.
    pub fn rank_rng(&self, rng: &mut rand_pcg::Pcg64) -> Option<rand_pcg::Pcg64> {
        (self.ranks.size() > 1)
            .then(|| rand_pcg::Pcg64::seed_from_u64(self.ranks.own_seed(rng.next_u64())))
    }
}

/// One objective of a run.
pub trait Objective<B: AutodiffFlowBackend> {
    /// The weighted loss of one gradient step (of this rank's share of it, over several
    /// ranks). `rng` is the step's random stream, alike on every rank. [`Error::Interrupted`]
    /// (the stop flag seen in a long step) abandons the step.
    fn loss(&mut self, step: &StepContext<'_, B>, rng: &mut rand_pcg::Pcg64) -> Result<Batch<B>>;

    /// Whether the objective can be trained over several ranks, each with its share of the
    /// batch.
    fn over_ranks(&self) -> bool {
        false
    }

    /// After every step that succeeded on all ranks, on every rank: makes the state the ranks
    /// adapt separately alike again (FAB's AIS step sizes). A collective operation; called only
    /// over several ranks.
    fn synchronise(&mut self, _ranks: &dyn Ranks) {}

    /// Before a checkpoint, on every rank: brings the ranks' own state to rank 0, for
    /// [`Objective::state`] and [`Objective::save_files`] there (FAB's buffers and counters).
    /// A collective operation; called only over several ranks.
    fn gather(&mut self, _ranks: &dyn Ranks) {}

    /// The state to checkpoint.
    fn state(&self) -> ObjectiveState {
        ObjectiveState::Stateless
    }

    /// Writes the objective's own checkpoint files into `dir` (named with `index`, its place in
    /// the configuration).
    fn save_files(&self, _dir: &Path, _index: usize) -> Result<()> {
        Ok(())
    }

    /// Restores `state` and the files [`Objective::save_files`] wrote into `dir`.
    fn restore(&mut self, _state: &ObjectiveState, _dir: &Path, _index: usize) -> Result<()> {
        Ok(())
    }

    /// Lets a long-running objective print above the progress bar and notice Ctrl-C.
    fn attach(&mut self, _progress: &ProgressBar, _stop: &StopFlag) {}

    /// Writes the objective's counters into `run.h5` (group `training`).
    fn write_counters(&self, _out: &OutputFile) -> Result<()> {
        Ok(())
    }

    /// The training points an energy model is fitted to (`n × dim`), which also set its
    /// coordinates' scales; `None` for objectives without data of their own.
    fn training_data(&self) -> Option<&[f64]> {
        None
    }
}

/// Builds the objectives of a run; `base_dir` is the configuration's folder. Over several
/// `ranks`, objectives that cannot be shared among them are refused by name.
pub fn build_all<B: AutodiffFlowBackend>(
    config: &TrainConfig,
    base_dir: &Path,
    system: &System,
    ranks: &dyn Ranks,
) -> Result<Vec<Box<dyn Objective<B>>>> {
    config
        .objectives
        .iter()
        .map(|objective| {
            let built = build(objective, config, base_dir, system, ranks)?;
            if ranks.size() > 1 && !built.over_ranks() {
                return Err(Error::InvalidArgument(format!(
                    "the objective {} cannot be trained over {} MPI ranks yet (ForwardKl, \
                     ReverseKl, Fab and Pde can); run it as one process",
                    objective.name(),
                    ranks.size()
                )));
            }
            Ok(built)
        })
        .collect()
}

/// Builds one objective: the registry of objective kinds.
fn build<B: AutodiffFlowBackend>(
    objective: &ObjectiveConfig,
    config: &TrainConfig,
    base_dir: &Path,
    system: &System,
    ranks: &dyn Ranks,
) -> Result<Box<dyn Objective<B>>> {
    Ok(match objective {
        ObjectiveConfig::ForwardKl { weight, samples } => {
            let data = training_samples(samples, config.seed, base_dir, system)?;
            Box::new(ForwardKl::new(*weight, data, system.dim())?)
        }
        ObjectiveConfig::ReverseKl { weight } => Box::new(ReverseKl::new(*weight)),
        ObjectiveConfig::Fab {
            weight,
            ais,
            buffer,
            filter_chirality,
        } => Box::new(Fab::new(
            *weight,
            ais,
            buffer.as_ref(),
            *filter_chirality,
            system.dim(),
            config
                .flow
                .as_ref()
                .map_or(system.dim(), |flow| flow.mcmc_dim(system.dim())),
            config.seed,
            (ranks.rank(), ranks.size()),
        )?),
        ObjectiveConfig::Pde { .. } => {
            let pde = objective.pde().expect("a Pde configuration");
            pde.validate()?;
            Box::new(pde)
        }
        ObjectiveConfig::ContrastiveDivergence {
            weight,
            samples,
            langevin,
            chains,
            restart,
            regularization,
        } => {
            let data = training_samples(samples, config.seed, base_dir, system)?;
            let settings = CdSettings {
                weight: *weight,
                langevin: langevin.clone(),
                chains: *chains,
                restart: *restart,
                regularization: *regularization,
            };
            Box::new(ContrastiveDivergence::new(settings, data, system.dim())?)
        }
        ObjectiveConfig::Wgf {
            weight,
            samples,
            scheme,
        } => {
            let data = training_samples(samples, config.seed, base_dir, system)?;
            Box::new(WassersteinFlow::new(
                *weight,
                scheme.clone(),
                data,
                system.dim(),
            )?)
        }
        ObjectiveConfig::Vapo {
            weight,
            samples,
            loss,
        } => {
            let data = training_samples(samples, config.seed, base_dir, system)?;
            Box::new(Vapo::new(*weight, *loss, data, system.dim())?)
        }
    })
}

/// The samples of a maximum-likelihood objective.
fn training_samples(
    samples: &SampleSource,
    seed: u64,
    base_dir: &Path,
    system: &System,
) -> Result<Vec<f64>> {
    Ok(match samples {
        SampleSource::Exact { n } => system.sample_exact(*n, Stream::TrainingSet.seed(seed))?,
        SampleSource::File { path } => pooled(path, |path| {
            let points = read_points(&base_dir.join(path))?;
            if points.dim != system.dim() {
                return Err(Error::Shape {
                    what: format!("training samples {}", path.display()),
                    expected: format!("{} coordinates per point", system.dim()),
                    found: format!("{}", points.dim),
                });
            }
            Ok(points.data)
        })?,
        SampleSource::Dihedrals { path, names, cuts } => pooled(path, |path| {
            if names.len() != system.dim() {
                return Err(Error::Shape {
                    what: format!("dihedrals {names:?} of {}", path.display()),
                    expected: format!("{} angles (the system's dimension)", system.dim()),
                    found: format!("{}", names.len()),
                });
            }
            read_dihedrals(&base_dir.join(path), names, cuts)
        })?,
    })
}

/// The points of every file of `files`, read by `read` and concatenated in order.
fn pooled(files: &SampleFiles, read: impl Fn(&Path) -> Result<Vec<f64>>) -> Result<Vec<f64>> {
    let mut points = Vec::new();
    for path in files.paths() {
        points.extend(read(path)?);
    }
    Ok(points)
}

/// The dihedrals `names` of an analysed samples file as points (`n × names.len()`), each
/// angle wrapped into [cut, cut + 2π) (cut −π where `cuts` is empty).
fn read_dihedrals(path: &Path, names: &[String], cuts: &[f64]) -> Result<Vec<f64>> {
    use std::f64::consts::PI;
    if dataset_exists(path, "samples/log_w")? {
        let (log_w, _) = read_array(path, "samples/log_w")?;
        if log_w.iter().any(|l| *l != log_w[0]) {
            return Err(Error::InvalidArgument(format!(
                "{} has importance weights (/samples/log_w varies); an energy is learnt from \
                 unweighted samples: resample them first, or use MD frames",
                path.display()
            )));
        }
    }
    let columns = names
        .iter()
        .map(|name| read_array(path, &format!("dihedrals/{name}")).map(|(v, _)| v))
        .collect::<Result<Vec<_>>>()?;
    let n = columns.first().map_or(0, Vec::len);
    if columns.iter().any(|c| c.len() != n) {
        return Err(Error::Shape {
            what: format!("dihedrals {names:?} of {}", path.display()),
            expected: "the same number of values for each".into(),
            found: format!("{:?}", columns.iter().map(Vec::len).collect::<Vec<_>>()),
        });
    }
    let mut points = Vec::with_capacity(n * names.len());
    for i in 0..n {
        for (j, column) in columns.iter().enumerate() {
            let cut = cuts.get(j).copied().unwrap_or(-PI);
            points.push((column[i] - cut).rem_euclid(2.0 * PI) + cut);
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// An analysed samples file with the dihedrals `phi` and `psi`, and `log_w`.
    fn write(dir: &Path, name: &str, phi: &[f64], psi: &[f64], log_w: &[f64]) -> PathBuf {
        let path = dir.join(name);
        let out = OutputFile::create(&path).unwrap();
        out.write_array("dihedrals/phi", phi, &[phi.len()]).unwrap();
        out.write_array("dihedrals/psi", psi, &[psi.len()]).unwrap();
        out.write_array("samples/log_w", log_w, &[log_w.len()])
            .unwrap();
        out.commit().unwrap()
    }

    /// A list of files is pooled in the order given; a single path and a list both parse, and
    /// an empty list is refused.
    #[test]
    fn sample_files_are_pooled_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.h5", &[-1.0], &[0.5], &[0.0]);
        write(dir.path(), "b.h5", &[1.0, 2.0], &[-0.5, -1.5], &[0.0; 2]);
        let source: SampleSource =
            ron::from_str(r#"Dihedrals(path: ["b.h5", "a.h5"], names: ["phi", "psi"])"#).unwrap();
        let SampleSource::Dihedrals { path, names, cuts } = &source else {
            panic!("parsed {source:?}")
        };
        let points = pooled(path, |p| read_dihedrals(&dir.path().join(p), names, cuts)).unwrap();
        assert_eq!(points, [1.0, -0.5, 2.0, -1.5, -1.0, 0.5]);

        let one: SampleSource = ron::from_str(r#"File(path: "x.h5")"#).unwrap();
        assert_eq!(
            one,
            SampleSource::File {
                path: SampleFiles::One("x.h5".into())
            }
        );
        let empty: SampleSource = ron::from_str(r#"File(path: [])"#).unwrap();
        let error = empty.validate().unwrap_err().to_string();
        assert!(error.contains("empty list"), "{error}");
    }

    /// The angles come out as points, each wrapped into [cut, cut + 2π); weighted samples and
    /// missing dihedrals are refused by name.
    #[test]
    fn dihedrals_are_read_as_wrapped_points() {
        use std::f64::consts::PI;
        let dir = tempfile::tempdir().unwrap();
        let (phi, psi) = ([-1.4, 1.0, 3.1], [-0.7, 0.6, -3.0]);
        let path = write(dir.path(), "md.h5", &phi, &psi, &[0.0; 3]);
        let names = ["phi".to_owned(), "psi".to_owned()];
        let points = read_dihedrals(&path, &names, &[0.0, -2.1]).unwrap();
        let expected = [-1.4 + 2.0 * PI, -0.7, 1.0, 0.6, 3.1, -3.0 + 2.0 * PI];
        for (a, b) in points.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} against {b}");
        }
        let default_cuts = read_dihedrals(&path, &names, &[]).unwrap();
        assert!((default_cuts[0] + 1.4).abs() < 1e-12 && (default_cuts[1] + 0.7).abs() < 1e-12);

        let weighted = write(dir.path(), "flow.h5", &phi, &psi, &[0.0, -1.0, 0.0]);
        let error = read_dihedrals(&weighted, &names, &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("importance weights"), "{error}");
        let missing = read_dihedrals(&path, &["omega".to_owned()], &[]).unwrap_err();
        assert!(missing.to_string().contains("dihedrals/omega"), "{missing}");
    }
}
