//! Energies computed in another process: native plugins isolated in a worker (`isolate: true`
//! in the system file) and Python energies (the `python` plugin).
//!
//! A worker is a child process that loads the energy and answers one request at a time over
//! its stdin and stdout ([`protocol`]). A crash there (a segfault, an abort, an unhandled
//! exception that kills the interpreter) or a call past the timeout ends only the worker: the
//! parent reports the plugin, the call and the signal, and a long run saves its checkpoint
//! before it stops. Native plugins are served by the `boltzflow` program itself
//! (`boltzflow plugin-worker`, [`serve`]); Python energies by a small runner script in the
//! user's interpreter ([`python`]).
//!
//! The in-process path stays the default: isolation costs a copy of every batch into and out
//! of memory shared with the worker, and two small messages through its pipes (BENCHMARKS.md
//! has the measured overhead).

mod child;
mod parent;
pub mod protocol;
pub mod python;

pub use child::{Start, serve};
pub use parent::WorkerSystem;

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The hidden subcommand of `boltzflow` that serves a native plugin.
pub const WORKER_COMMAND: &str = "plugin-worker";

/// How long a worker may take over one call (its start included) when the system file gives
/// no `timeout_s`: long enough for any batch a flow asks for, short enough that a hung plugin
/// does not hold a run for hours.
pub const DEFAULT_TIMEOUT_S: f64 = 600.0;

/// The longest `timeout_s` accepted: a week.
const MAX_TIMEOUT_S: f64 = 7.0 * 24.0 * 3600.0;

/// The timeout of a system file's `timeout_s` (the default when absent), checked.
pub fn timeout(timeout_s: Option<f64>) -> Result<Duration> {
    let seconds = timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_TIMEOUT_S) {
        return Err(Error::InvalidArgument(format!(
            "timeout_s = {seconds}: give a number of seconds above 0 and at most {MAX_TIMEOUT_S} \
             (a week)"
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Starts a worker process that serves the native plugin at `library` with `config`
/// (`context`: the system file, for errors and relative paths).
pub fn native(
    library: &Path,
    config: &str,
    context: Option<&Path>,
    timeout: Duration,
) -> Result<WorkerSystem> {
    let label = library.display().to_string();
    let program = worker_program().map_err(|message| Error::WorkerStart {
        plugin: label.clone(),
        message,
    })?;
    let start = Start {
        library: std::path::absolute(library).unwrap_or_else(|_| library.to_owned()),
        config: config.to_owned(),
        context: context.map(|c| std::path::absolute(c).unwrap_or_else(|_| c.to_owned())),
        shared: PathBuf::new(),
    };
    let mut command = Command::new(program);
    command.arg(WORKER_COMMAND);
    let start = serde_json::to_value(&start).expect("the start message serialises");
    WorkerSystem::spawn(command, start, &label, timeout)
}

/// The `boltzflow` program that serves plugins: the running program when it is `boltzflow`,
/// else the one beside it (test and bench programs run from `target/*/deps/`) or in this
/// workspace's `target/release` and `target/debug`.
fn worker_program() -> std::result::Result<PathBuf, String> {
    let name = format!("boltzflow{}", std::env::consts::EXE_SUFFIX);
    let current = std::env::current_exe().ok();
    if let Some(exe) = &current
        && exe.file_name().is_some_and(|n| n == name.as_str())
    {
        return Ok(exe.clone());
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = current.as_deref().and_then(Path::parent) {
        candidates.push(dir.join(&name));
        candidates.extend(dir.parent().map(|p| p.join(&name)));
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    candidates.push(target.join("release").join(&name));
    candidates.push(target.join("debug").join(&name));
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "an isolated plugin runs in the `boltzflow` program, which was not found (looked \
             for {}); build it with `cargo build --release`",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_checked() {
        assert_eq!(timeout(None).unwrap().as_secs_f64(), DEFAULT_TIMEOUT_S);
        assert_eq!(timeout(Some(2.5)).unwrap().as_millis(), 2500);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            assert!(
                timeout(Some(bad))
                    .unwrap_err()
                    .to_string()
                    .contains("timeout_s")
            );
        }
    }
}
