//! Reports how a reweighted sample file shares its mass among known modes, and the spread of
//! log Ẑ over batches: the GMM-40 benchmark of FAB (every mode should hold 1/40 of the mass).
//!
//! ```sh
//! cargo run --release --example mode_report -- SAMPLES.h5 data/gmm40_means.csv 1000
//! ```
//! Arguments: the output of `boltzflow sample`, a CSV of mode centres (header, then an index
//! column and the coordinates), and the batch size for the log Ẑ estimates.

use boltzflow::analysis::{ImportanceSummary, mode_masses};
use boltzflow::io::read_array;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [samples, centres, batch] = args.as_slice() else {
        return Err("usage: mode_report SAMPLES.h5 CENTRES.csv BATCH_SIZE".into());
    };
    let batch: usize = batch.parse()?;
    let (x, shape) = read_array(Path::new(samples), "samples/x")?;
    let (log_w, _) = read_array(Path::new(samples), "samples/log_w")?;
    let dim = shape[1];
    let centres: Vec<f64> = std::fs::read_to_string(centres)?
        .lines()
        .skip(1)
        .flat_map(|line| line.split(',').skip(1).map(|v| v.trim().parse::<f64>()))
        .collect::<Result<_, _>>()?;
    let masses = mode_masses(&x, dim, &log_w, &centres);
    let k = masses.len() as f64;
    let (min, max) = masses
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    let worst = masses.iter().map(|m| (m - 1.0 / k).abs()).fold(0.0, f64::max);
    println!(
        "{} modes: mass min {min:.4}, max {max:.4}, largest |mass − 1/{}| = {worst:.4}",
        masses.len(),
        masses.len()
    );
    let log_z: Vec<f64> = log_w
        .chunks(batch)
        .filter(|c| c.len() == batch)
        .map(|c| ImportanceSummary::from_log_weights(c).log_z)
        .collect();
    let n = log_z.len() as f64;
    let mean_abs = log_z.iter().map(|v| v.abs()).sum::<f64>() / n;
    let mean = log_z.iter().sum::<f64>() / n;
    println!(
        "log Ẑ over {} batches of {batch}: mean {mean:.4}, mean |log Ẑ| {mean_abs:.4}",
        log_z.len()
    );
    let all = ImportanceSummary::from_log_weights(&log_w);
    println!(
        "all {} samples: reverse ESS {:.4}, log Ẑ {:.5} ± {:.5}",
        log_w.len(),
        all.ess,
        all.log_z,
        all.log_z_stderr
    );
    Ok(())
}
