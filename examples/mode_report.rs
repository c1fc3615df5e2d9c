//! Reports the error of log Ẑ over batches of a reweighted sample file and, given mode centres,
//! how its mass is shared among the modes: the GMM-40 and Many-Well benchmarks of FAB.
//!
//! ```sh
//! cargo run --release --example mode_report -- SAMPLES.h5 1000 0.0 data/gmm40_means.csv
//! ```
//! Arguments: the output of `boltzflow sample`, the batch size for the log Ẑ estimates, the
//! exact log Z, and optionally a CSV of mode centres (header, then an index column and the
//! coordinates; each point counts for its nearest centre).

use boltzflow::analysis::{ImportanceSummary, mode_masses};
use boltzflow::io::read_array;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (samples, batch, exact, centres) = match args.as_slice() {
        [s, b, z] => (s, b, z, None),
        [s, b, z, c] => (s, b, z, Some(c)),
        _ => {
            return Err(
                "usage: mode_report SAMPLES.h5 BATCH_SIZE EXACT_LOG_Z [CENTRES.csv]".into(),
            );
        }
    };
    let batch: usize = batch.parse()?;
    let exact: f64 = exact.parse()?;
    let (log_w, _) = read_array(Path::new(samples), "samples/log_w")?;
    let log_z: Vec<f64> = log_w
        .chunks(batch)
        .filter(|c| c.len() == batch)
        .map(|c| ImportanceSummary::from_log_weights(c).log_z - exact)
        .collect();
    let n = log_z.len() as f64;
    let mean_abs = log_z.iter().map(|v| v.abs()).sum::<f64>() / n;
    let mean = log_z.iter().sum::<f64>() / n;
    println!(
        "log Ẑ − log Z over {} batches of {batch}: mean {mean:.4}, mean |·| {mean_abs:.4}",
        log_z.len()
    );
    let all = ImportanceSummary::from_log_weights(&log_w);
    println!(
        "all {} samples: reverse ESS {:.4}, log Ẑ − log Z = {:.5} ± {:.5}",
        log_w.len(),
        all.ess,
        all.log_z - exact,
        all.log_z_stderr
    );
    let Some(centres) = centres else {
        return Ok(());
    };
    let (x, shape) = read_array(Path::new(samples), "samples/x")?;
    let centres: Vec<f64> = std::fs::read_to_string(centres)?
        .lines()
        .skip(1)
        .flat_map(|line| line.split(',').skip(1).map(|v| v.trim().parse::<f64>()))
        .collect::<Result<_, _>>()?;
    if centres.is_empty() || !centres.len().is_multiple_of(shape[1]) {
        return Err(format!(
            "the centres file has {} numbers, not a positive multiple of the samples' {} coordinates",
            centres.len(),
            shape[1]
        )
        .into());
    }
    let masses = mode_masses(&x, shape[1], &log_w, &centres);
    let k = masses.len() as f64;
    let (min, max) = masses.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &m| {
        (lo.min(m), hi.max(m))
    });
    let worst = masses
        .iter()
        .map(|m| (m - 1.0 / k).abs())
        .fold(0.0, f64::max);
    println!(
        "{} modes: mass min {min:.4}, max {max:.4}, largest |mass − 1/{}| = {worst:.4}",
        masses.len(),
        masses.len()
    );
    Ok(())
}
