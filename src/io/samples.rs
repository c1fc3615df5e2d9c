//! The samples file, the one layout every sampler of boltzflow writes (`sample-exact`,
//! `sample`, and `md` for its frames), so that analyses treat exact, flow, AIS and MD samples
//! alike: `/samples/x`, `/samples/u`, for molecules `/samples/positions`, and with weights
//! `/samples/log_q`, `/samples/log_w` and the `/estimates` they give.

use super::{OutputFile, RunInfo};
use crate::Result;
use crate::analysis::{ForwardSummary, ImportanceSummary};
use crate::train::RateIntegrals;
use std::path::{Path, PathBuf};

/// Points with their energies and, for a sampler with a density, their log q and weights.
pub struct WeightedSamples {
    /// Points, row-major `n × dim`.
    pub x: Vec<f64>,
    /// Coordinates per point.
    pub dim: usize,
    /// Reduced energies.
    pub u: Vec<f64>,
    /// The sampler's log density and the log importance weights, when known.
    pub weights: Option<Weights>,
}

/// Log densities and weights of a sample set.
pub struct Weights {
    /// The flow's log q at each point.
    pub log_q: Vec<f64>,
    /// Log importance weights (−u − log q, or AIS weights).
    pub log_w: Vec<f64>,
    /// AIS chains dropped for a non-finite weight: zero weights that are not in the file but
    /// count in the estimates (so Ẑ stays unbiased).
    pub n_dropped: usize,
}

/// Estimates beyond the importance summary, when they can be made.
#[derive(Clone, Debug, Default)]
pub struct ExtraEstimates {
    /// Forward ESS and KL, from exact samples of the target.
    pub forward: Option<ForwardSummary>,
    /// log Z from ∫ C dt of the PDE objective: the trained rate, and reweighted along the flow.
    pub log_z_pde: Option<RateIntegrals>,
}

impl Weights {
    /// The importance summary of the weights, dropped AIS chains counted as zero weights.
    pub fn summary(&self) -> ImportanceSummary {
        let mut log_w = self.log_w.clone();
        log_w.extend(std::iter::repeat_n(f64::NEG_INFINITY, self.n_dropped));
        ImportanceSummary::from_log_weights(&log_w)
    }
}

/// Writes a sample file: `/samples/x`, `/samples/u` (for molecules also `/samples/positions`
/// `[n, atoms, 3]` in nm), and, with weights, `/samples/log_q`, `/samples/log_w` and the
/// `/estimates` they give. Prints the estimates.
pub fn write_samples(
    output: &Path,
    info: &RunInfo,
    samples: &WeightedSamples,
    extra: &ExtraEstimates,
) -> Result<PathBuf> {
    let n = samples.u.len();
    let out = OutputFile::create(output)?;
    out.write_run_info(info)?;
    out.write_array("samples/x", &samples.x, &[n, samples.dim])?;
    if let Some(atoms) = info.atoms {
        // The same values as Cartesian positions, for mdtraj, MDAnalysis and `analyze`.
        out.write_array("samples/positions", &samples.x, &[n, atoms, 3])?;
    }
    out.write_array("samples/u", &samples.u, &[n])?;
    if let Some(weights) = &samples.weights {
        let summary = weights.summary();
        out.write_array("samples/log_q", &weights.log_q, &[n])?;
        out.write_array("samples/log_w", &weights.log_w, &[n])?;
        out.set_f64("estimates", "ess", summary.ess)?;
        out.set_f64("estimates", "log_z", summary.log_z)?;
        out.set_f64("estimates", "log_z_stderr", summary.log_z_stderr)?;
        out.set_u64("estimates", "n_nonfinite", summary.n_nonfinite as u64)?;
        out.set_u64("estimates", "n_dropped", weights.n_dropped as u64)?;
        let mut line = format!(
            "reverse ESS {:.4}, log Z = {:.5} ± {:.5}",
            summary.ess, summary.log_z, summary.log_z_stderr
        );
        if let Some(forward) = extra.forward {
            out.set_f64("estimates", "ess_forward", forward.ess)?;
            out.set_f64("estimates", "forward_kl", forward.kl)?;
            line += &format!(
                ", forward ESS {:.4}, KL(p‖q) {:.4}",
                forward.ess, forward.kl
            );
        }
        if let Some(rate) = &extra.log_z_pde {
            out.set_f64("estimates", "log_z_pde", rate.trained)?;
            out.set_f64("estimates", "log_z_pde_reweighted", rate.reweighted)?;
            out.set_f64(
                "estimates",
                "log_z_pde_reweighted_stderr",
                rate.reweighted_stderr,
            )?;
            out.set_f64("estimates", "log_z_pde_unweighted", rate.unweighted)?;
            out.set_f64("estimates", "pde_min_ess", rate.min_ess)?;
            line += &format!(
                ", ∫C dt log Z {:.5} (reweighted along the flow {:.5} ± {:.5}, smallest ESS over \
                 t {:.3})",
                rate.trained, rate.reweighted, rate.reweighted_stderr, rate.min_ess
            );
        }
        eprintln!("{line}");
    }
    out.commit()
}
