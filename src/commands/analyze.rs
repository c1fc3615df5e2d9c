//! `boltzflow analyze`: the dihedral report of a samples file (see
//! [`crate::analysis::dihedral_report`]), written into it, and its plots.

use crate::Result;
use crate::analysis::dihedral_report::{AnalyzeOptions, NamedDihedral, analyze};
use crate::analysis::ramachandran::Basin;
use std::path::PathBuf;

/// Dihedrals, reweighted histograms with block errors, the (phi, psi) free-energy surface,
/// basin populations and the Ramachandran KL of a samples file, written into that file;
/// PNG plots.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The samples file (of `boltzflow sample` or `boltzflow md`); the analysis is written
    /// into it (atomically) unless --output is given.
    pub samples: PathBuf,
    /// A reference samples file (for example MD) for the Ramachandran KL and the plots.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// A dihedral besides the molecule's named ones, NAME=a,b,c,d (atom indices from 0);
    /// repeatable.
    #[arg(long = "dihedral", value_name = "NAME=a,b,c,d")]
    pub dihedrals: Vec<NamedDihedral>,
    /// Bins per angle over [-pi, pi].
    #[arg(long, default_value_t = 64)]
    pub bins: usize,
    /// Contiguous blocks of the batch-means standard errors.
    #[arg(long, default_value_t = 20)]
    pub blocks: usize,
    /// Write a copy of the samples file with the analysis here, leaving the samples file as
    /// it is.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Folder of the PNG plots (default: the samples file's folder).
    #[arg(long)]
    pub plots: Option<PathBuf>,
}

/// Analyses the samples file and reports the populations, the KL and the files written.
pub fn run(args: Args) -> Result<()> {
    let samples = args.samples;
    let options = AnalyzeOptions {
        dihedrals: args.dihedrals,
        reference: args.reference,
        bins: args.bins,
        blocks: args.blocks,
        output: args.output,
        plots: args.plots,
    };
    let samples = samples.as_path();
    let options = &options;
    let report = analyze(samples, options)?;
    if report.n_nonfinite > 0 {
        eprintln!(
            "warning: {} of {} samples have a non-finite log weight or dihedral (left out)",
            report.n_nonfinite, report.n_samples
        );
    }
    if let Some(pops) = &report.populations {
        let how = if report.weighted {
            "reweighted"
        } else {
            "unweighted"
        };
        let text: Vec<String> = Basin::ALL
            .iter()
            .map(|b| {
                let k = b.index();
                format!(
                    "{} {:.4} ± {:.4}",
                    b.attribute(),
                    pops.value[k],
                    pops.stderr[k]
                )
            })
            .collect();
        eprintln!("populations ({how}): {}", text.join(", "));
    }
    if let Some((weighted, unweighted)) = report.ramachandran_kl {
        eprintln!(
            "Ramachandran KL(reference ‖ samples): {weighted:.4} (unweighted {unweighted:.4})"
        );
    }
    for plot in &report.plots {
        eprintln!("plot: {}", plot.display());
    }
    eprintln!(
        "wrote the analysis of {} samples to {}",
        report.n_samples,
        report.written.display()
    );
    Ok(())
}
