//! `boltzflow md`: reference samples by Langevin dynamics with parallel tempering.

use crate::job::StopFlag;
use crate::md::MdRun;
use crate::{Error, Result};
use std::path::PathBuf;

/// Run Langevin dynamics with parallel tempering for reference samples. Rerunning the same
/// command resumes from the checkpoint OUTPUT.checkpoint.h5 (written every `checkpoint_every`
/// steps and on Ctrl-C); it is deleted when the output is written. Under `mpirun -np R` (a
/// build with `--features mpi`) the replicas are spread over the R ranks, with the same result.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The MD configuration (RON).
    pub config: PathBuf,
    /// A system file to use instead of the configuration's (a λ-state, say).
    #[arg(long)]
    pub system: Option<PathBuf>,
    /// A random seed to use instead of the configuration's: independent runs of the same
    /// configuration (for example an MD reference and an independent one to test against).
    #[arg(long)]
    pub seed: Option<u64>,
    /// HDF5 file to write: /samples (lowest temperature of every walker, walker-major),
    /// /trajectory (walker, time_ps, step) and /md (settings, ns/day, exchange acceptance).
    #[arg(long)]
    pub output: PathBuf,
}

/// Runs (or resumes) the dynamics and writes the frames; an interruption is
/// [`Error::Interrupted`] (exit status 130) after the checkpoint is saved.
pub fn run(args: Args) -> Result<()> {
    let ranks = crate::parallel::world()?;
    let ranks = ranks.as_ref();
    let mut run = MdRun::on_ranks(
        &args.config,
        args.system.as_deref(),
        args.seed,
        &args.output,
        ranks,
    )?;
    super::check_memory(
        usize::try_from(run.frame_bytes()).unwrap_or(usize::MAX),
        "this run (its `steps` / `save_every` frames, kept in memory)",
    )?;
    if run.resumed() && ranks.is_root() {
        eprintln!(
            "resuming from {} at step {} of {}",
            run.checkpoint_path().display(),
            run.step(),
            run.total_steps()
        );
    }
    match run.run(&StopFlag::ctrl_c(), true)? {
        Some(_) if !ranks.is_root() => Ok(()),
        Some(written) => {
            let acceptance = run.state().acceptance();
            eprintln!(
                "wrote {} to {}; exchange acceptance per pair: {}",
                run.summary(),
                written.display(),
                acceptance
                    .iter()
                    .map(|a| format!("{a:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            Ok(())
        }
        None => Err(Error::Interrupted(format!(
            "at step {}; checkpoint {}; run the same command again to resume",
            run.step(),
            run.checkpoint_path().display()
        ))),
    }
}
