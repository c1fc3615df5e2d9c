//! `boltzflow sample-exact`: exact samples, for systems whose plugin has a sampler.

use super::{check_memory, report_nonfinite};
use crate::config::load_system;
use crate::io::{ExtraEstimates, RunInfo, WeightedSamples, Weights, check_output, write_samples};
use crate::{Error, Result};
use std::path::PathBuf;

/// Draw exact samples, for systems whose plugin has an exact sampler.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The system file (RON).
    #[arg(long)]
    pub system: PathBuf,
    /// Number of samples.
    #[arg(short = 'n', long)]
    pub n: usize,
    /// HDF5 file to write (/samples/x, /samples/u, /samples/log_q, /samples/log_w, /estimates).
    #[arg(long)]
    pub output: PathBuf,
    /// Random seed; the same seed gives the same samples on any number of threads.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Draws the samples and writes them with their energies, densities and weights.
pub fn run(args: Args) -> Result<()> {
    let Args {
        system: system_path,
        n,
        output,
        seed,
    } = args;
    if n == 0 {
        return Err(Error::InvalidArgument(
            "-n 0: ask for at least one sample".to_owned(),
        ));
    }
    check_output(&output, &[&system_path])?;
    let (file, system) = load_system(&system_path)?;
    if !system.has_exact_sampler() {
        return Err(Error::Unsupported {
            plugin: system.provenance().0,
            system: system.metadata().system.clone(),
            capability: "exact sampler",
        });
    }
    let dim = system.dim();
    // x (and positions for a molecule), u, log q, log w.
    check_memory(
        n.saturating_mul(2 * dim + 3).saturating_mul(8),
        &format!("-n {n}"),
    )?;
    let x = system.sample_exact(n, seed)?;
    let eval = system.evaluate(&x, false)?;
    // Exact samples: q = p = exp(−u − log Z), known when log Z is; log w = −u − log q = log Z at
    // every point with a finite energy, and zero weight (−∞) where the energy is not finite.
    let weights = system.log_z().map(|log_z| Weights {
        log_q: eval.u.iter().map(|u| -u - log_z).collect(),
        log_w: eval
            .u
            .iter()
            .map(|u| {
                if u.is_finite() {
                    log_z
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect(),
        n_dropped: 0,
    });
    let info = RunInfo::new("sample-exact", Some(seed), &file, &system);
    let samples = WeightedSamples {
        x,
        dim,
        u: eval.u,
        weights,
    };
    let written = write_samples(&output, &info, &samples, &ExtraEstimates::default())?;
    report_nonfinite(eval.n_nonfinite, n);
    eprintln!(
        "wrote {n} exact samples of {} to {}",
        system.metadata().system,
        written.display()
    );
    Ok(())
}
