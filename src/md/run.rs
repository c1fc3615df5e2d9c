//! A parallel-tempering MD run: set-up from the configuration, the step loop with frames,
//! checkpoints and the output file.

use super::config::MdConfig;
use crate::config::{SystemFile, load_system, read_ron_file};
use crate::densities::TargetDensity;
use crate::energy::System;
use crate::io::{OutputFile, RunInfo, check_output, read_array, read_points, read_str_attr};
use crate::job::{Job, Outcome, StopFlag, drive};
use crate::parallel::{Ranks, Single};
use crate::run::SystemIdentity;
use crate::sampling::{Langevin, LangevinState, ParallelTempering, TemperingState, Units};
use crate::seed::Stream;
use crate::{Error, Result};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The progress bar of `md`.
const PROGRESS_TEMPLATE: &str = "md [{bar:30}] {pos}/{len} steps {msg} ({eta} left)";

/// Seconds in a day, for ns/day.
const DAY: f64 = 86_400.0;

/// Steps between two looks at Ctrl-C. Over MPI ranks a look is a collective operation (the
/// ranks stop together), and a step of a small molecule takes microseconds.
const STOP_CHECK_EVERY: u64 = 100;

/// Saved frames of the lowest rung of every walker (on rank 0; empty on the others).
#[derive(Clone, Debug, PartialEq)]
struct Frames {
    /// Per walker: positions of its frames in time order (frames × dim).
    x: Vec<Vec<f64>>,
    /// Per walker: u of its frames.
    u: Vec<Vec<f64>>,
    /// The step after which each frame was saved (the same for all walkers).
    steps: Vec<u64>,
}

impl Frames {
    /// No frames yet, for `walkers` walkers.
    fn new(walkers: usize) -> Self {
        Frames {
            x: vec![Vec::new(); walkers],
            u: vec![Vec::new(); walkers],
            steps: Vec::new(),
        }
    }
}

/// The small part of a checkpoint, stored as JSON in the attribute `state`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CheckpointMeta {
    step: u64,
    rounds: u64,
    attempts: Vec<u64>,
    accepted: Vec<u64>,
    frame_steps: Vec<u64>,
    wall_seconds: f64,
}

/// A parallel-tempering MD run of `boltzflow md`, resumable from its checkpoint, on one process
/// or spread over MPI ranks.
///
/// The checkpoint is `TRAJ.checkpoint.h5` beside the output `TRAJ.h5`, written atomically every
/// `checkpoint_every` steps and when the run is stopped; it holds positions, velocities, u, ∇u,
/// the temperatures and ladder, the exchange counts, the frames so far and the configuration.
/// Every step draws its noise from streams seeded by (seed, step, replica), so a resumed run
/// continues exactly as an uninterrupted one, and a run over R ranks (each holding a contiguous
/// share of the replicas; rank 0 gathers the frames and writes the files) is the same, bit for
/// bit, as on one process. A checkpoint can be resumed by any number of ranks. The checkpoint
/// is deleted when the output is written.
pub struct MdRun<'r> {
    ranks: &'r dyn Ranks,
    config: MdConfig,
    config_text: String,
    output: PathBuf,
    checkpoint: PathBuf,
    system_file: SystemFile,
    system: System,
    units: Units,
    pt: ParallelTempering,
    state: TemperingState,
    frames: Frames,
    /// Wall-clock seconds of stepping, over all sessions.
    wall_seconds: f64,
    resumed: bool,
}

impl MdRun<'static> {
    /// Prepares the run of the configuration file for the output `output` on this one process,
    /// resuming from the checkpoint beside it if there is one (it must come from the same
    /// configuration and system). `system` replaces the configuration's system file.
    pub fn new(config_path: &Path, system: Option<&Path>, output: &Path) -> Result<Self> {
        MdRun::on_ranks(config_path, system, None, output, &Single)
    }
}

impl<'r> MdRun<'r> {
    /// Like [`MdRun::new`], with the replicas spread over `ranks`, and with `seed` (when given)
    /// in place of the configuration's: the same configuration then makes independent runs.
    /// The configuration stored in the output and checkpoint is then the effective one, so a
    /// checkpoint resumes only with the same seed.
    pub fn on_ranks(
        config_path: &Path,
        system: Option<&Path>,
        seed: Option<u64>,
        output: &Path,
        ranks: &'r dyn Ranks,
    ) -> Result<Self> {
        let (mut config, mut config_text): (MdConfig, String) = read_ron_file(config_path)?;
        if let Some(seed) = seed {
            config.seed = seed;
            config_text = format!(
                "// {} with the seed {seed} given on the command line\n{}\n",
                config_path.display(),
                ron::ser::to_string_pretty(&config, ron::ser::PrettyConfig::default())
                    .map_err(|e| Error::InvalidArgument(format!("the MD configuration: {e}")))?
            );
        }
        let in_config = |e: Error| Error::Config {
            path: config_path.to_owned(),
            message: e.to_string(),
        };
        config.validate().map_err(in_config)?;
        let base_dir = config_path.parent().unwrap_or(Path::new("."));
        let system_path = system.map_or_else(|| base_dir.join(&config.system), Path::to_owned);
        check_output(output, &[config_path, &system_path])?;
        let (system_file, system) = load_system(&system_path)?;
        let units = Units::of(system.metadata(), system.dim())?;
        let factors = ladder_factors(&config, &system).map_err(in_config)?;
        let langevin = Langevin::new(config.timestep_ps(), config.friction_per_ps)?;
        let pt = ParallelTempering::new(langevin, factors, config.walkers, config.exchange_every)?;
        let checkpoint = checkpoint_path(output);
        let (state, frames, wall_seconds, resumed) = if checkpoint.is_file() {
            let (state, frames, wall_seconds) = load_checkpoint(
                &checkpoint,
                &config_text,
                &SystemIdentity::of(&system_file, &system),
                &pt,
                system.dim(),
                ranks,
            )?;
            (state, frames, wall_seconds, true)
        } else {
            let start = match &config.start {
                Some(path) => read_start(&base_dir.join(path), system.n_atoms())?,
                None if system.n_atoms().is_some() => {
                    return Err(in_config(Error::InvalidArgument(
                        "a molecule needs `start`: a file with the starting positions, e.g. \
                         start: \"../data/alanine_dipeptide/aldp_min_energy.csv\""
                            .to_owned(),
                    )));
                }
                None => vec![0.0; system.dim()],
            };
            let seed = Stream::Velocities.seed(config.seed);
            let state = pt.init(&TargetDensity(&system), &units, &start, seed, ranks)?;
            (state, Frames::new(config.walkers), 0.0, false)
        };
        Ok(MdRun {
            ranks,
            config,
            config_text,
            output: output.to_owned(),
            checkpoint,
            system_file,
            system,
            units,
            pt,
            state,
            frames,
            wall_seconds,
            resumed,
        })
    }

    /// Steps done so far (equilibration included).
    pub fn step(&self) -> u64 {
        self.state.md.steps
    }

    /// All steps of the run.
    pub fn total_steps(&self) -> u64 {
        self.config.total_steps()
    }

    /// Bytes the frames of the whole run will take (positions and energies of every walker's
    /// lowest rung, kept in memory until the output is written).
    pub fn frame_bytes(&self) -> u64 {
        let frames = self.config.steps / self.config.save_every;
        let per_frame = (self.pt.walkers() * (self.system.dim() + 1) * 8) as u64;
        frames.saturating_mul(per_frame)
    }

    /// Whether the run continues from a checkpoint.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The checkpoint file.
    pub fn checkpoint_path(&self) -> &Path {
        &self.checkpoint
    }

    /// The state of this rank's replicas (all of them on one process).
    pub fn state(&self) -> &TemperingState {
        &self.state
    }

    /// Runs to the end and writes the output (returning its path), or stops with a checkpoint
    /// when `stop` is set on any rank (returning `None`).
    pub fn run(&mut self, stop: &StopFlag, show_progress: bool) -> Result<Option<PathBuf>> {
        self.run_steps(u64::MAX, stop, show_progress)
    }

    /// Like [`MdRun::run`], but stops (with a checkpoint) after at most `max_steps` more steps.
    ///
    /// A step that blows up (non-finite position, energy or force) writes the frames collected
    /// before it to the output (attribute `/md/complete` = 0) and fails with
    /// [`Error::DynamicsUnstable`], naming the step, the replica and the file.
    pub fn run_steps(
        &mut self,
        max_steps: u64,
        stop: &StopFlag,
        show_progress: bool,
    ) -> Result<Option<PathBuf>> {
        let show_progress = show_progress && self.ranks.is_root();
        let mut job = MdJob {
            first: (self.step(), self.wall_seconds),
            last_update: Instant::now(),
            stop: stop.clone(),
            run: self,
        };
        // The ranks stop together: every `STOP_CHECK_EVERY` steps they all ask whether any was
        // stopped (see `MdJob::step`), so the driver's own flag is never set.
        let outcome = drive(
            &mut job,
            &StopFlag::new(),
            max_steps,
            show_progress,
            PROGRESS_TEMPLATE,
        )?;
        if outcome != Outcome::Finished {
            return Ok(None);
        }
        let written = self.write_output(true)?;
        if self.ranks.is_root() && self.checkpoint.is_file() {
            std::fs::remove_file(&self.checkpoint).map_err(|source| Error::Io {
                path: self.checkpoint.clone(),
                source,
            })?;
        }
        Ok(Some(written))
    }

    /// Writes the frames so far after a failed step and names the file in the error.
    fn fail(&self, error: Error) -> Error {
        let written = self.write_output(false).ok();
        match error {
            Error::DynamicsUnstable {
                step,
                replica,
                what,
                ..
            } => Error::DynamicsUnstable {
                step,
                replica,
                what,
                saved: written,
            },
            other => {
                if let Some(path) = written.filter(|_| self.ranks.is_root()) {
                    eprintln!(
                        "the frames collected so far were written to {}",
                        path.display()
                    );
                }
                other
            }
        }
    }

    /// After a production step that is a multiple of `save_every`, saves the replica at the
    /// lowest rung of every walker (gathered on rank 0).
    fn record_frames(&mut self) {
        let (step, eq) = (self.step(), self.config.equilibration_steps);
        if step <= eq || !(step - eq).is_multiple_of(self.config.save_every) {
            return;
        }
        let dim = self.system.dim();
        let (state, k) = (&self.state, self.pt.temperatures().len());
        // A walker's replicas are a contiguous block and so are a rank's: walkers come out of
        // the gather in order.
        let (mut x, mut u) = (Vec::new(), Vec::new());
        for w in 0..self.pt.walkers() {
            let r = state.ladder[w * k];
            if state.replicas().contains(&r) {
                let local = r - state.first;
                x.extend_from_slice(&state.md.x[local * dim..(local + 1) * dim]);
                u.push(state.md.u[local]);
            }
        }
        let (x, u) = (self.ranks.gather(x), self.ranks.gather(u));
        if self.ranks.is_root() {
            for (w, u) in u.iter().enumerate() {
                self.frames.x[w].extend_from_slice(&x[w * dim..(w + 1) * dim]);
                self.frames.u[w].push(*u);
            }
            self.frames.steps.push(step);
        }
    }

    /// One line on what was simulated: frames, ns per replica and speed.
    pub fn summary(&self) -> String {
        let ns = self.ns_per_replica();
        let per_day = ns / self.wall_seconds.max(1e-9) * DAY;
        format!(
            "{} frames ({} walkers × {}), {:.3} ns per replica ({} replicas) at {:.0} ns/day \
             per replica ({:.0} ns/day all replicas)",
            self.frames.steps.len() * self.pt.walkers(),
            self.pt.walkers(),
            self.frames.steps.len(),
            ns,
            self.pt.replicas(),
            per_day,
            per_day * self.pt.replicas() as f64
        )
    }

    /// Simulated time per replica so far, in ns (equilibration included).
    fn ns_per_replica(&self) -> f64 {
        self.step() as f64 * self.config.timestep_ps() * 1e-3
    }

    /// Writes the output file on rank 0: the frames (walker-major), the trajectory bookkeeping and
    /// the run's settings and statistics under `/md`.
    fn write_output(&self, complete: bool) -> Result<PathBuf> {
        if !self.ranks.is_root() {
            return Ok(self.output.clone());
        }
        let dim = self.system.dim();
        let walkers = self.pt.walkers();
        let per_walker = self.frames.steps.len();
        let n = walkers * per_walker;
        let x: Vec<f64> = self.frames.x.concat();
        let u: Vec<f64> = self.frames.u.concat();
        let eq = self.config.equilibration_steps;
        let dt = self.config.timestep_ps();
        let walker: Vec<f64> = (0..n).map(|i| (i / per_walker.max(1)) as f64).collect();
        let steps: Vec<f64> = (0..n)
            .map(|i| self.frames.steps[i % per_walker] as f64)
            .collect();
        let time: Vec<f64> = steps.iter().map(|s| (s - eq as f64) * dt).collect();

        let out = OutputFile::create(&self.output)?;
        out.write_run_info(&RunInfo::new(
            "md",
            Some(self.config.seed),
            &self.system_file,
            &self.system,
        ))?;
        out.set_str("", "md_config", &self.config_text)?;
        out.write_array("samples/x", &x, &[n, dim])?;
        if let Some(atoms) = self.system.n_atoms() {
            out.write_array("samples/positions", &x, &[n, atoms, 3])?;
        }
        out.write_array("samples/u", &u, &[n])?;
        out.write_array("samples/log_w", &vec![0.0; n], &[n])?;
        out.write_array("trajectory/walker", &walker, &[n])?;
        out.write_array("trajectory/time_ps", &time, &[n])?;
        out.write_array("trajectory/step", &steps, &[n])?;
        out.set_u64("trajectory", "frames_per_walker", per_walker as u64)?;
        out.set_str(
            "trajectory",
            "layout",
            "walker-major: the frames of walker 0 in time order, then those of walker 1, ...; \
             each walker is a contiguous block of frames_per_walker frames of its lowest \
             temperature (parallel tempering swaps temperatures between the walker's replicas, \
             so a block is a time series at T0, not one continuous trajectory)",
        )?;
        let c = &self.config;
        out.set_f64s("md", "temperatures", &c.temperatures)?;
        out.set_f64s("md", "temperature_factors", self.pt.temperatures())?;
        out.set_f64("md", "timestep_fs", c.timestep_fs)?;
        out.set_f64("md", "friction_per_ps", c.friction_per_ps)?;
        out.set_u64("md", "steps", c.steps)?;
        out.set_u64("md", "equilibration_steps", c.equilibration_steps)?;
        out.set_u64("md", "steps_done", self.step())?;
        out.set_u64("md", "save_every", c.save_every)?;
        out.set_u64("md", "exchange_every", c.exchange_every)?;
        out.set_u64("md", "walkers", walkers as u64)?;
        out.set_u64("md", "ranks", self.ranks.size() as u64)?;
        out.set_u64("md", "complete", u64::from(complete))?;
        let ns = self.ns_per_replica();
        let ns_per_day = ns / self.wall_seconds.max(1e-9) * DAY;
        out.set_f64("md", "ns_per_replica", ns)?;
        out.set_f64("md", "ns_per_day", ns_per_day)?;
        out.set_f64(
            "md",
            "ns_per_day_all_replicas",
            ns_per_day * self.pt.replicas() as f64,
        )?;
        out.set_f64("md", "wall_seconds", self.wall_seconds)?;
        out.set_f64s("md", "exchange_acceptance", &self.state.acceptance())?;
        let attempts: Vec<f64> = self.state.attempts.iter().map(|&a| a as f64).collect();
        out.set_f64s("md", "exchange_attempts", &attempts)?;
        out.set_str(
            "md",
            "units",
            if self.system.n_atoms().is_some() {
                "temperatures in K, time in ps, positions in nm"
            } else {
                "reduced: temperatures are factors of the system's, time in reduced units"
            },
        )?;
        out.commit()
    }

    /// Writes the checkpoint atomically (every rank's replicas, gathered on rank 0, which writes).
    pub fn save_checkpoint(&self) -> Result<()> {
        let md = &self.state.md;
        let ranks = self.ranks;
        let (x, v, u) = (
            ranks.gather(md.x.clone()),
            ranks.gather(md.v.clone()),
            ranks.gather(md.u.clone()),
        );
        let (grad, temperature) = (
            ranks.gather(md.grad.clone()),
            ranks.gather(md.temperature.clone()),
        );
        if !ranks.is_root() {
            return Ok(());
        }
        let (r, dim) = (self.pt.replicas(), self.system.dim());
        let meta = CheckpointMeta {
            step: md.steps,
            rounds: self.state.rounds,
            attempts: self.state.attempts.clone(),
            accepted: self.state.accepted.clone(),
            frame_steps: self.frames.steps.clone(),
            wall_seconds: self.wall_seconds,
        };
        let out = OutputFile::create(&self.checkpoint)?;
        out.set_str("", "md_config", &self.config_text)?;
        let identity = SystemIdentity::of(&self.system_file, &self.system);
        out.set_str(
            "",
            "system_identity",
            &serde_json::to_string(&identity).map_err(|e| Error::InvalidArgument(e.to_string()))?,
        )?;
        out.set_str(
            "",
            "state",
            &serde_json::to_string(&meta).map_err(|e| Error::InvalidArgument(e.to_string()))?,
        )?;
        out.write_array("x", &x, &[r, dim])?;
        out.write_array("v", &v, &[r, dim])?;
        out.write_array("u", &u, &[r])?;
        out.write_array("grad", &grad, &[r, dim])?;
        out.write_array("temperature", &temperature, &[r])?;
        let ladder: Vec<f64> = self.state.ladder.iter().map(|&i| i as f64).collect();
        out.write_array("ladder", &ladder, &[r])?;
        let (w, f) = (self.pt.walkers(), self.frames.steps.len());
        out.write_array("frames_x", &self.frames.x.concat(), &[w, f, dim])?;
        out.write_array("frames_u", &self.frames.u.concat(), &[w, f])?;
        out.commit().map(|_| ())
    }
}

/// An [`MdRun`] as a [`Job`] for the driver, with what its progress line needs.
struct MdJob<'a, 'r> {
    run: &'a mut MdRun<'r>,
    /// Step and stepping time when this session started.
    first: (u64, f64),
    last_update: Instant,
    /// Ctrl-C, asked of all ranks before each step.
    stop: StopFlag,
}

impl Job for MdJob<'_, '_> {
    fn done(&self) -> u64 {
        self.run.step()
    }

    fn total(&self) -> u64 {
        self.run.total_steps()
    }

    fn step(&mut self, progress: &ProgressBar) -> Result<()> {
        let run = &mut *self.run;
        let step = run.step();
        if step.is_multiple_of(STOP_CHECK_EVERY) && run.ranks.any(self.stop.is_set()) {
            return Err(Error::Interrupted("md".to_owned()));
        }
        let seed = Stream::Step(step).seed(run.config.seed);
        let started = Instant::now();
        let target = TargetDensity(&run.system);
        let stepped = run
            .pt
            .step(&mut run.state, &target, &run.units, seed, run.ranks);
        run.wall_seconds += started.elapsed().as_secs_f64();
        if let Err(e) = stepped {
            return Err(run.fail(e));
        }
        run.record_frames();
        let done = run.step();
        let now = Instant::now();
        if now.duration_since(self.last_update).as_secs_f64() > 0.5 || done == run.total_steps() {
            self.last_update = now;
            let elapsed = run.wall_seconds - self.first.1;
            let ns = (done - self.first.0) as f64 * run.config.timestep_ps() * 1e-3;
            progress.set_message(format!(
                "· {:.0} ns/day per replica ({} replicas) · {} frames per walker",
                ns / elapsed.max(1e-9) * DAY,
                run.pt.replicas(),
                run.frames.steps.len()
            ));
        }
        Ok(())
    }

    fn checkpoint_due(&self) -> bool {
        let done = self.run.step();
        done.is_multiple_of(self.run.config.checkpoint_every) && done < self.run.total_steps()
    }

    fn checkpoint(&mut self, _: &ProgressBar) -> Result<()> {
        self.run.save_checkpoint()
    }

    fn save(&mut self) -> Result<()> {
        self.run.save_checkpoint()
    }
}

/// Reads a checkpoint: this rank's share of the replicas, the ladder, the frames (on rank 0)
/// and the stepping time so far. Refuses one written by another configuration or system file.
fn load_checkpoint(
    path: &Path,
    config_text: &str,
    system: &SystemIdentity,
    pt: &ParallelTempering,
    dim: usize,
    ranks: &dyn Ranks,
) -> Result<(TemperingState, Frames, f64)> {
    let text = |name: &str| -> Result<String> {
        read_str_attr(path, "", name)?.ok_or_else(|| Error::Hdf5 {
            path: path.to_owned(),
            message: format!("not a checkpoint of `boltzflow md`: no attribute {name}"),
        })
    };
    let identity: SystemIdentity =
        serde_json::from_str(&text("system_identity")?).map_err(|e| Error::Hdf5 {
            path: path.to_owned(),
            message: format!("checkpoint system identity: {e}"),
        })?;
    if text("md_config")? != config_text || identity != *system {
        return Err(Error::InvalidArgument(format!(
            "the checkpoint {} was written by another configuration or system file; run the \
             original configuration to resume it, or delete the checkpoint to start over",
            path.display()
        )));
    }
    let meta: CheckpointMeta = serde_json::from_str(&text("state")?).map_err(|e| Error::Hdf5 {
        path: path.to_owned(),
        message: format!("checkpoint state: {e}"),
    })?;
    let r = pt.replicas();
    let array = |name: &str, len: usize| -> Result<Vec<f64>> {
        let (values, _) = read_array(path, name)?;
        if values.len() != len {
            return Err(Error::Shape {
                what: format!("/{name} in the checkpoint {}", path.display()),
                expected: format!("{len} values"),
                found: format!("{} values", values.len()),
            });
        }
        Ok(values)
    };
    let mine = ranks.share(r);
    let rows = |v: Vec<f64>, width: usize| v[mine.start * width..mine.end * width].to_vec();
    // Checkpoints written before exchanges moved temperatures instead of positions hold no
    // ladder: theirs is the initial one.
    let ladder = match read_array(path, "ladder") {
        Ok((values, _)) if values.len() == r => values.iter().map(|&i| i as usize).collect(),
        _ => pt.initial_ladder(),
    };
    let state = TemperingState {
        md: LangevinState {
            x: rows(array("x", r * dim)?, dim),
            v: rows(array("v", r * dim)?, dim),
            u: rows(array("u", r)?, 1),
            grad: rows(array("grad", r * dim)?, dim),
            temperature: rows(array("temperature", r)?, 1),
            steps: meta.step,
        },
        first: mine.start,
        ladder,
        attempts: meta.attempts,
        accepted: meta.accepted,
        rounds: meta.rounds,
    };
    let (w, f) = (pt.walkers(), meta.frame_steps.len());
    let mut frames = Frames::new(w);
    if f > 0 && ranks.is_root() {
        let x = array("frames_x", w * f * dim)?;
        let u = array("frames_u", w * f)?;
        frames.x = x.chunks(f * dim).map(<[f64]>::to_vec).collect();
        frames.u = u.chunks(f).map(<[f64]>::to_vec).collect();
    }
    frames.steps = meta.frame_steps;
    Ok((state, frames, meta.wall_seconds))
}

/// `TRAJ.checkpoint.h5` beside the output `TRAJ.h5`.
fn checkpoint_path(output: &Path) -> PathBuf {
    output.with_extension("checkpoint.h5")
}

/// The ladder as factors of the system's temperature: for a molecule the first temperature
/// (kelvin) must be the system's; for a model system the factors must start at 1.
fn ladder_factors(config: &MdConfig, system: &System) -> Result<Vec<f64>> {
    let t = &config.temperatures;
    let fail = |m: String| Err(Error::InvalidArgument(m));
    if system.n_atoms().is_some() {
        let Some(t0) = system.metadata().temperature_kelvin else {
            return fail("the molecule's system has no temperature".to_owned());
        };
        if (t[0] - t0).abs() > 1e-9 * t0 {
            return fail(format!(
                "`temperatures` must start at the system's temperature, {t0} K (the samples are \
                 of its Boltzmann distribution), not {} K",
                t[0]
            ));
        }
        Ok(t.iter().map(|t| t / t0).collect())
    } else if t[0] != 1.0 {
        fail(format!(
            "for a model system `temperatures` are factors of its temperature and start at 1.0, \
             not {}",
            t[0]
        ))
    } else {
        Ok(t.clone())
    }
}

/// Reads starting positions: a CSV file (for a molecule of `atoms` atoms, one row per atom whose
/// last three columns are x, y, z in nm; for a model system, one row per point) or an HDF5 file
/// read by [`read_points`].
fn read_start(path: &Path, atoms: Option<usize>) -> Result<Vec<f64>> {
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        return Ok(read_points(path)?.data);
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut x = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let numbers: std::result::Result<Vec<f64>, _> =
            line.split(',').map(|f| f.trim().parse::<f64>()).collect();
        match numbers {
            Ok(row) if atoms.is_some() && row.len() >= 3 => {
                x.extend_from_slice(&row[row.len() - 3..]);
            }
            Ok(row) if atoms.is_none() => x.extend(row),
            Err(_) if x.is_empty() => {} // a header row
            _ => {
                return Err(Error::Config {
                    path: path.to_owned(),
                    message: format!(
                        "line {}: expected numbers separated by commas (x, y, z in nm last)",
                        i + 1
                    ),
                });
            }
        }
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_files_in_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("start.csv");
        std::fs::write(&path, "atom,x_nm,y_nm,z_nm\n0,0.1,0.2,0.3\n1,-1,2e-1,3\n\n").unwrap();
        assert_eq!(
            read_start(&path, Some(2)).unwrap(),
            vec![0.1, 0.2, 0.3, -1.0, 0.2, 3.0]
        );
        // A model system: every number of every row.
        assert_eq!(read_start(&path, None).unwrap().len(), 8);
        std::fs::write(&path, "x,y,z\n0.1,0.2,0.3\n0.1,oops,0.3\n").unwrap();
        let err = read_start(&path, Some(2)).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("start.csv"), "{err}");
    }

    #[test]
    fn checkpoint_is_named_after_the_output() {
        assert_eq!(
            checkpoint_path(Path::new("runs/aldp.h5")),
            Path::new("runs/aldp.checkpoint.h5")
        );
    }
}
