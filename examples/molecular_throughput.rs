//! Throughput of a molecular system's energy + forces through boltzflow (plugin ABI, batches
//! split over rayon's threads), timing evaluation only (the file is read before timing).
//!
//! ```sh
//! cargo run --release --example molecular_throughput -- \
//!     --system data/alanine_dipeptide/system.ron --input conformations.h5 [--repeat 5] \
//!     [--energies energies.txt]
//! ```
//!
//! The input holds `/positions` [n, atoms, 3] in nm. Prints the best of `--repeat` timed passes
//! and a machine-readable line `THROUGHPUT <conformations per second>`; `--energies` writes E in
//! kJ/mol, one conformation per line, for comparison with another program.

use boltzflow::config::load_system;
use boltzflow::io::read_points;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Boltzmann constant in kJ/mol/K.
const KB: f64 = 0.008_314_462_6;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut system = PathBuf::from("data/alanine_dipeptide/system.ron");
    let mut input = None;
    let mut repeat = 5usize;
    let mut energies = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--system" => system = value()?.into(),
            "--input" => input = Some(PathBuf::from(value()?)),
            "--repeat" => repeat = value()?.parse()?,
            "--energies" => energies = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let input = input.ok_or("--input FILE.h5 with /positions [n, atoms, 3] is required")?;
    let (_, system) = load_system(&system)?;
    let points = read_points(&input)?;
    if points.dim != system.dim() {
        return Err(format!(
            "{} coordinates per point, the system has {}",
            points.dim,
            system.dim()
        )
        .into());
    }
    let n = points.n;
    let mut u = vec![0.0; n];
    let mut grad = vec![0.0; points.data.len()];
    // Warm-up (page faults, thread pool start-up), then timed passes.
    system.evaluate_into(&points.data, &mut u, Some(&mut grad))?;
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let nonfinite = system.evaluate_into(&points.data, &mut u, Some(&mut grad))?;
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(nonfinite, 0, "non-finite energies in the benchmark set");
    }
    let kbt = KB * system.metadata().temperature_kelvin.unwrap_or(f64::NAN);
    println!(
        "{}: {n} conformations, energy + forces, {} rayon threads: best of {repeat} passes {:.3} ms, \
         {:.2} µs per conformation",
        system.metadata().system,
        rayon::current_num_threads(),
        best * 1e3,
        best / n as f64 * 1e6
    );
    println!("THROUGHPUT {:.1}", n as f64 / best);
    if let Some(path) = energies {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for u in &u {
            writeln!(out, "{:.17e}", u * kbt)?;
        }
    }
    Ok(())
}
