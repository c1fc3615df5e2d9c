//! `boltzflow train`: trains a flow into a run folder, resuming from its checkpoint.

use crate::backend::{AutodiffFlowBackend, DeviceKind, OnDevice, run_on};
use crate::job::{Outcome, StopFlag};
use crate::train::Trainer;
use crate::{Error, Result};
use std::path::PathBuf;

/// Train a flow; resumes from RUN_DIR's checkpoint if there is one. Ctrl-C saves a checkpoint.
/// Under `mpirun -np R` (a build with `--features mpi`) the training is data-parallel: each
/// rank computes its share of every batch, the gradients are summed, rank 0 writes the run.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The training configuration (RON).
    pub config: PathBuf,
    /// The run folder: checkpoints and run.h5 (training curves).
    #[arg(long)]
    pub out: PathBuf,
    /// A system file to use instead of the configuration's.
    #[arg(long)]
    pub system: Option<PathBuf>,
    /// Where the flow runs (under `mpirun`, each rank on a machine takes the GPU of its local
    /// rank).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
}

/// Trains the run to its end; an interruption is [`Error::Interrupted`] (exit status 130).
pub fn run(args: Args) -> Result<()> {
    let device = args.device;
    run_on(device, args)
}

impl OnDevice for Args {
    type Output = ();
    fn run<B: AutodiffFlowBackend>(self, device: B::Device) -> Result<()> {
        let ranks = crate::parallel::world()?;
        let ranks = ranks.as_ref();
        let mut trainer = Trainer::<B>::on_ranks(
            &self.config,
            self.system.as_deref(),
            &self.out,
            device,
            ranks,
        )?;
        let root = ranks.is_root();
        if trainer.step() > 0 && root {
            eprintln!(
                "resuming {} at step {} of {}",
                self.out.display(),
                trainer.step(),
                trainer.total_steps()
            );
        }
        let outcome = trainer.run(&StopFlag::ctrl_c(), true)?;
        let state = trainer.state();
        match outcome {
            Outcome::Finished if !root => Ok(()),
            Outcome::Finished => {
                eprintln!(
                    "trained {} steps ({} skipped as non-finite); checkpoint and run.h5 in {}",
                    state.step,
                    state.skipped_steps,
                    self.out.display()
                );
                Ok(())
            }
            Outcome::Paused | Outcome::Interrupted => Err(Error::Interrupted(format!(
                "at step {} of {}; checkpoint saved; run the same command again to resume",
                state.step,
                trainer.total_steps()
            ))),
        }
    }
}
