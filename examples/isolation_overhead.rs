//! What running a plugin in its own process costs: energy + forces of batches through the
//! in-process plugin and through the same plugin isolated (`isolate: true`), timed in
//! alternation so that both see the same machine load, and optionally a third system (for
//! example the Python OpenMM energy of the same molecule).
//!
//! ```sh
//! cargo run --release --example isolation_overhead -- \
//!     [--system data/alanine_dipeptide/system.ron] [--batch 1024] [--rounds 30] \
//!     [--also data/alanine_dipeptide_gbn2/system_python.ron]
//! ```
//!
//! The batch is the system file's molecule at its minimum (the structure CSV
//! `aldp_min_energy.csv` beside it when present, else the origin) with 0.01 nm Gaussian noise
//! per coordinate, drawn once. Prints the
//! median time per batch of each and the ratios to the in-process one.

use boltzflow::config::{SystemFile, load_system};
use boltzflow::energy::System;
use boltzflow::io::read_structure_csv;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut system_file = PathBuf::from("data/alanine_dipeptide/system.ron");
    let (mut batch, mut rounds, mut also) = (1024usize, 30usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--system" => system_file = value()?.into(),
            "--batch" => batch = value()?.parse()?,
            "--rounds" => rounds = value()?.parse()?,
            "--also" => also = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let (file, in_process) = load_system(&system_file)?;
    let isolated = isolated_copy(&file)?;
    let mut systems = vec![("in-process", in_process), ("isolated", isolated)];
    if let Some(path) = &also {
        systems.push(("--also", load_system(path)?.1));
    }
    let dim = systems[0].1.dim();
    if let Some((_, other)) = systems.iter().find(|(_, s)| s.dim() != dim) {
        return Err(format!("--also has {} coordinates, not {dim}", other.dim()).into());
    }
    let x = batch_near_minimum(&system_file, dim, batch)?;
    let (mut u, mut grad) = (vec![0.0; batch], vec![0.0; batch * dim]);
    let mut times = vec![Vec::new(); systems.len()];
    for round in 0..=rounds {
        for (k, (_, system)) in systems.iter().enumerate() {
            let start = Instant::now();
            system.evaluate_into(&x, &mut u, Some(&mut grad))?;
            if round > 0 {
                // Round 0 warms up (worker start, page faults, thread pools).
                times[k].push(start.elapsed().as_secs_f64());
            }
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    println!(
        "batch {batch} × {dim} coordinates, {rounds} rounds, {} rayon threads",
        rayon::current_num_threads()
    );
    for ((name, system), median) in systems.iter().zip(&medians) {
        println!(
            "{name:>10}: {:8.3} ms per batch ({}), ratio to in-process {:.4}",
            1e3 * median,
            system.provenance().0,
            median / medians[0]
        );
    }
    Ok(())
}

/// The same system file's plugin, loaded with `isolate: true`.
fn isolated_copy(file: &SystemFile) -> Result<System, Box<dyn std::error::Error>> {
    let text = file.text.trim_end();
    let Some(body) = text.strip_suffix(')') else {
        return Err("the system file does not end with `)`".into());
    };
    let body = body.trim_end().trim_end_matches(',');
    let copy = file.path.with_file_name(".isolation_overhead_system.ron");
    std::fs::write(&copy, format!("{body}, isolate: true)"))?;
    let loaded = load_system(&copy);
    std::fs::remove_file(&copy)?;
    Ok(loaded?.1)
}

/// `n` points near the molecule's minimum: `aldp_min_energy.csv` beside the system file (the
/// structure CSV `md` starts from) when present, else the origin; plus N(0, 0.01²) noise.
fn batch_near_minimum(
    system_file: &std::path::Path,
    dim: usize,
    n: usize,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let csv = system_file.with_file_name("aldp_min_energy.csv");
    let centre = if csv.is_file() {
        read_structure_csv(&csv)?
    } else {
        vec![0.0; dim]
    };
    if centre.len() != dim {
        return Err(format!("{} has {} numbers, not {dim}", csv.display(), centre.len()).into());
    }
    let noise = Normal::new(0.0, 0.01)?;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    Ok((0..n)
        .flat_map(|_| {
            centre
                .iter()
                .map(|c| c + noise.sample(&mut rng))
                .collect::<Vec<_>>()
        })
        .collect())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
