//! The commands of the `boltzflow` program, one file each. Each has its arguments (`Args`, a
//! clap struct) and a `run` that does the work and reports on stderr; `main.rs` only parses and
//! dispatches. Every command checks its inputs and its output before the work starts, writes
//! its output atomically, and stops cleanly on Ctrl-C (exit status 130).

pub mod analyze;
pub mod energy;
pub mod free_energy;
pub mod info;
pub mod md;
pub mod plugin_worker;
pub mod plugins;
pub mod sample;
pub mod sample_exact;
pub mod train;

use crate::{Error, Result};
use indicatif::ProgressBar;

/// Warns about points whose energy or gradient is not finite.
fn report_nonfinite(n_nonfinite: usize, n: usize) {
    if n_nonfinite > 0 {
        eprintln!(
            "warning: {n_nonfinite} of {n} points have a NaN or infinite energy or gradient \
             (written as they are; their importance weight is zero)"
        );
    }
}

/// A bar for a long evaluation of `len` points.
fn progress_bar(len: u64, message: &'static str) -> ProgressBar {
    crate::progress::bar(
        true,
        len,
        "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
    )
    .with_message(message)
}

/// Refuses work that needs more memory than the machine has available (`MemAvailable` of
/// `/proc/meminfo`; not checked where that is not readable), naming the argument to lower:
/// better a clear message now than "memory allocation failed" after hours.
fn check_memory(bytes: usize, what: &str) -> Result<()> {
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if bytes > available {
        return Err(Error::InvalidArgument(format!(
            "{what} needs about {:.1} GiB of memory, more than the {:.1} GiB available; ask \
             for less",
            bytes as f64 / GIB,
            available as f64 / GIB
        )));
    }
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

/// Bytes of memory available to a new allocation, from `/proc/meminfo`.
fn available_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_sizes_are_refused_with_the_argument_named() {
        if available_memory().is_none() {
            return;
        }
        let message = check_memory(usize::MAX, "-n 1000000000000").unwrap_err();
        assert!(message.to_string().contains("-n 1000000000000 needs about"));
        check_memory(1 << 20, "-n 10").unwrap();
    }
}
