//! The driver of the long commands (`train`, `md`): Ctrl-C, the progress bar, periodic
//! checkpoints, and what happens when the user interrupts.
//!
//! A long command is a [`Job`]: a count of steps done out of a total, one step at a time, a
//! checkpoint now and then. [`drive`] runs it until it is done, paused (a step budget, for
//! tests and benchmarks) or interrupted through its [`StopFlag`]; on an interruption it saves a
//! checkpoint first. A step may itself notice the flag (FAB's replay-buffer fill and AIS batches
//! run for minutes) and give up with [`Error::Interrupted`]: the step is then not counted, the
//! checkpoint holds what was before it (and what the job chooses to keep, such as a partly
//! filled buffer), and the rerun command redoes it.

use crate::{Error, Result};
use indicatif::ProgressBar;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// A request to stop, set by Ctrl-C or by whoever holds a clone (tests).
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag nobody has set.
    pub fn new() -> Self {
        StopFlag::default()
    }

    /// The process's Ctrl-C flag. The first Ctrl-C sets it (the job stops at the next chance and
    /// saves a checkpoint); a second exits at once with status 130. Installed once per process.
    pub fn ctrl_c() -> Self {
        static FLAG: OnceLock<StopFlag> = OnceLock::new();
        FLAG.get_or_init(|| {
            let flag = StopFlag::new();
            let inner = flag.clone();
            let presses = AtomicUsize::new(0);
            // Without a handler (ctrlc refuses a second one) SIGINT still ends the process.
            let _ = ctrlc::set_handler(move || {
                if presses.fetch_add(1, Ordering::SeqCst) == 0 {
                    eprintln!(
                        "\ninterrupting: stopping cleanly (press Ctrl-C again to exit at once)"
                    );
                    inner.request();
                } else {
                    std::process::exit(130);
                }
            });
            flag
        })
        .clone()
    }

    /// Asks the job to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Error::Interrupted)` naming `what` when a stop was asked for: for loops inside a step.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.is_set() {
            return Err(Error::Interrupted(format!("stopped during {what}")));
        }
        Ok(())
    }
}

/// A resumable job of many steps.
pub trait Job {
    /// Steps done so far (more than zero when resumed).
    fn done(&self) -> u64;
    /// Steps in the whole job.
    fn total(&self) -> u64;
    /// Called once before the first step with the bar and the flag, for parts of the job that
    /// print above the bar or watch the flag inside a step.
    fn start(&mut self, _progress: &ProgressBar, _stop: &StopFlag) {}
    /// Does one step; [`Error::Interrupted`] abandons it uncounted.
    fn step(&mut self, progress: &ProgressBar) -> Result<()>;
    /// Whether a checkpoint is due now that [`Job::done`] steps are done.
    fn checkpoint_due(&self) -> bool;
    /// The periodic checkpoint (with whatever evaluation the job makes there).
    fn checkpoint(&mut self, progress: &ProgressBar) -> Result<()>;
    /// Saves a checkpoint when the job stops before its end.
    fn save(&mut self) -> Result<()>;
}

/// How [`drive`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// All steps are done.
    Finished,
    /// The step budget ran out; a checkpoint is saved.
    Paused,
    /// The stop flag was set; a checkpoint is saved.
    Interrupted,
}

/// Runs `job` until it is finished, `max_steps` more steps are done, or `stop` is set. The bar
/// (`template`, hidden unless `show_progress`) counts the steps.
pub fn drive(
    job: &mut impl Job,
    stop: &StopFlag,
    max_steps: u64,
    show_progress: bool,
    template: &str,
) -> Result<Outcome> {
    let total = job.total();
    let limit = job.done().saturating_add(max_steps).min(total);
    let progress = crate::progress::bar(show_progress, total, template);
    progress.set_position(job.done());
    job.start(&progress, stop);
    while job.done() < total {
        if stop.is_set() || job.done() >= limit {
            job.save()?;
            progress.abandon_with_message("interrupted; checkpoint saved");
            return Ok(if stop.is_set() {
                Outcome::Interrupted
            } else {
                Outcome::Paused
            });
        }
        match job.step(&progress) {
            Ok(()) => {}
            Err(Error::Interrupted(_)) => {
                job.save()?;
                progress.abandon_with_message("interrupted; checkpoint saved");
                return Ok(Outcome::Interrupted);
            }
            // A plugin that failed, crashed in its worker or hung: keep the steps before this
            // one (the step is not counted, as for an interruption), then report it.
            Err(e) if e.is_plugin_failure() => {
                job.save()?;
                progress.abandon();
                eprintln!(
                    "the plugin failed at step {} of {total}; the steps before it are saved in \
                     the checkpoint (run the same command again to resume)",
                    job.done() + 1
                );
                return Err(e);
            }
            Err(e) => {
                progress.abandon();
                return Err(e);
            }
        }
        progress.set_position(job.done());
        if job.checkpoint_due() {
            job.checkpoint(&progress)?;
        }
    }
    progress.finish_and_clear();
    Ok(Outcome::Finished)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts steps; stops itself at `interrupt_at` like a step that saw Ctrl-C.
    struct Counter {
        done: u64,
        saves: usize,
        checkpoints: usize,
        interrupt_at: Option<u64>,
    }

    impl Job for Counter {
        fn done(&self) -> u64 {
            self.done
        }
        fn total(&self) -> u64 {
            10
        }
        fn step(&mut self, _: &ProgressBar) -> Result<()> {
            if Some(self.done) == self.interrupt_at {
                return Err(Error::Interrupted("test".into()));
            }
            if self.done == 7 && self.interrupt_at == Some(u64::MAX) {
                return Err(Error::PluginCrashed {
                    plugin: "p".into(),
                    call: "energy",
                    how: "test".into(),
                });
            }
            self.done += 1;
            Ok(())
        }
        fn checkpoint_due(&self) -> bool {
            self.done.is_multiple_of(4)
        }
        fn checkpoint(&mut self, _: &ProgressBar) -> Result<()> {
            self.checkpoints += 1;
            Ok(())
        }
        fn save(&mut self) -> Result<()> {
            self.saves += 1;
            Ok(())
        }
    }

    fn counter(interrupt_at: Option<u64>) -> Counter {
        Counter {
            done: 0,
            saves: 0,
            checkpoints: 0,
            interrupt_at,
        }
    }

    #[test]
    fn runs_to_the_end_with_periodic_checkpoints() {
        let mut job = counter(None);
        let outcome = drive(&mut job, &StopFlag::new(), u64::MAX, false, "{pos}").unwrap();
        assert_eq!(outcome, Outcome::Finished);
        assert_eq!((job.done, job.checkpoints, job.saves), (10, 2, 0));
    }

    #[test]
    fn a_budget_pauses_and_saves() {
        let mut job = counter(None);
        let outcome = drive(&mut job, &StopFlag::new(), 3, false, "{pos}").unwrap();
        assert_eq!((outcome, job.done, job.saves), (Outcome::Paused, 3, 1));
    }

    #[test]
    fn a_set_flag_or_an_interrupted_step_saves_and_reports_it() {
        let stop = StopFlag::new();
        stop.request();
        let mut job = counter(None);
        let outcome = drive(&mut job, &stop, u64::MAX, false, "{pos}").unwrap();
        assert_eq!((outcome, job.done, job.saves), (Outcome::Interrupted, 0, 1));
        let mut job = counter(Some(5));
        let outcome = drive(&mut job, &StopFlag::new(), u64::MAX, false, "{pos}").unwrap();
        assert_eq!((outcome, job.done, job.saves), (Outcome::Interrupted, 5, 1));
        assert!(stop.check("x").is_err());
        assert!(StopFlag::new().check("x").is_ok());
    }

    #[test]
    fn a_plugin_failure_saves_the_steps_before_it_and_is_reported() {
        let mut job = counter(Some(u64::MAX));
        let error = drive(&mut job, &StopFlag::new(), u64::MAX, false, "{pos}").unwrap_err();
        assert!(matches!(error, Error::PluginCrashed { .. }));
        assert_eq!((job.done, job.saves), (7, 1));
    }
}
