//! Writes `tests/fixtures/aldp_samples.h5`, the small samples file of the `boltzflow analyze` tests
//! (`tests/analyze.rs`), from the committed OpenMM fixture of alanine dipeptide.
//!
//! ```sh
//! cargo build --release --workspace
//! cargo run --release --example make_analyze_fixture
//! ```
//!
//! It takes the 300 MD frames of `data/alanine_dipeptide/fixtures.h5` (`/obc1`, kinds 0 and 1:
//! 150 frames at 300 K, then 150 at 1000 K), evaluates their reduced energies u with the
//! `molecular` plugin (`data/alanine_dipeptide/system.ron`), and gives them chosen log weights
//! log w_i = −0.2 (u_i − min u) + 0.5 sin(i), with two of them non-finite (frame 5: NaN,
//! frame 17: −∞), and log q = −u − log w, so that the file has the layout of `boltzflow sample`
//! (`/samples/x` [n, 66], `/samples/u`, `/samples/log_q`, `/samples/log_w`, `/estimates`, the
//! root attributes with the molecule's metadata and 300 K). It holds no `/samples/positions`:
//! the analysis reshapes `/samples/x` by the metadata's atom count.

use boltzflow::config::load_system;
use boltzflow::io::{ExtraEstimates, WeightedSamples, Weights, write_samples};
use boltzflow::io::{RunInfo, read_array};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = Path::new("data/alanine_dipeptide/fixtures.h5");
    let (positions, shape) = read_array(fixtures, "obc1/positions")?;
    let (kind, _) = read_array(fixtures, "obc1/kind")?;
    let dim = shape[1] * shape[2];
    let frames: Vec<usize> = (0..shape[0]).filter(|&i| kind[i] <= 1.0).collect();
    let x: Vec<f64> = frames
        .iter()
        .flat_map(|&i| positions[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let (file, system) = load_system(Path::new("data/alanine_dipeptide/system.ron"))?;
    let u = system.evaluate(&x, false)?.u;
    let u_min = u.iter().copied().fold(f64::INFINITY, f64::min);
    let log_w: Vec<f64> = u
        .iter()
        .enumerate()
        .map(|(i, u)| match i {
            5 => f64::NAN,
            17 => f64::NEG_INFINITY,
            _ => -0.2 * (u - u_min) + 0.5 * (i as f64).sin(),
        })
        .collect();
    let log_q = u.iter().zip(&log_w).map(|(u, lw)| -u - lw).collect();
    let mut info = RunInfo::new("make_analyze_fixture", None, &file, &system);
    info.system_file = None;
    let samples = WeightedSamples {
        x,
        dim,
        u,
        weights: Some(Weights {
            log_q,
            log_w,
            n_dropped: 0,
        }),
    };
    let out = write_samples(
        Path::new("tests/fixtures/aldp_samples.h5"),
        &info,
        &samples,
        &ExtraEstimates::default(),
    )?;
    eprintln!("wrote {} frames to {}", frames.len(), out.display());
    Ok(())
}
