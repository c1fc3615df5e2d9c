//! Bias and calibrated error bars against exact free energies: harmonic wells
//! u_k(x) = κ_k x²/2 + c_k in 1-D, f_k = c_k − ½ log(2π/κ_k), exact samples, many seeds. Over the
//! seeds, the errors' mean must be within 4 standard errors of 0 (no bias), the z-scores
//! (error / reported σ) must have an RMS near 1, and about 95% of them must lie within ±2.

use crate::free_energy::{Estimate, Mbar, ReducedEnergies, bar, exponential_averaging};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

const KAPPA: [f64; 3] = [1.0, 2.5, 6.0];
const OFFSET: [f64; 3] = [0.0, 1.0, -2.0];
const PER_STATE: usize = 200;
const SEEDS: u64 = 400;

fn exact_f(k: usize) -> f64 {
    OFFSET[k] - 0.5 * (2.0 * std::f64::consts::PI / KAPPA[k]).ln()
}

fn u(k: usize, x: f64) -> f64 {
    0.5 * KAPPA[k] * x * x + OFFSET[k]
}

/// PER_STATE exact samples of each state, in state order.
fn samples(seed: u64) -> Vec<f64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..KAPPA.len())
        .flat_map(|k| vec![KAPPA[k]; PER_STATE])
        .map(|kappa| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z / kappa.sqrt()
        })
        .collect()
}

/// Checks the estimates of `exact` over the seeds.
fn check(name: &str, exact: f64, estimate: impl Fn(&[f64]) -> Estimate) {
    let errors: Vec<(f64, f64)> = (0..SEEDS)
        .map(|seed| {
            let e = estimate(&samples(seed));
            (e.delta_f - exact, e.stderr)
        })
        .collect();
    let n = SEEDS as f64;
    let mean = errors.iter().map(|e| e.0).sum::<f64>() / n;
    let sd = (errors.iter().map(|e| (e.0 - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let z: Vec<f64> = errors.iter().map(|(e, s)| e / s).collect();
    let z_rms = (z.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
    let within = z.iter().filter(|v| v.abs() < 2.0).count() as f64 / n;
    assert!(
        mean.abs() < 4.0 * sd / n.sqrt(),
        "{name}: mean error {mean} (sd {sd} over {SEEDS} seeds)"
    );
    assert!((0.85..1.15).contains(&z_rms), "{name}: z-score RMS {z_rms}");
    assert!(
        (0.91..0.985).contains(&within),
        "{name}: {within} of |z| < 2"
    );
}

#[test]
fn mbar_over_three_states_is_unbiased_with_calibrated_errors() {
    check("MBAR 0→2", exact_f(2) - exact_f(0), |x| {
        let u = DMatrix::from_fn(3, x.len(), |k, n| u(k, x[n]));
        let mbar = Mbar::solve(&ReducedEnergies::new(u, vec![PER_STATE; 3]).unwrap()).unwrap();
        mbar.delta_f(0, 2)
    });
}

#[test]
fn bar_is_unbiased_with_calibrated_errors() {
    check("BAR 0→1", exact_f(1) - exact_f(0), |x| {
        let forward: Vec<f64> = x[..PER_STATE].iter().map(|&x| u(1, x) - u(0, x)).collect();
        let reverse: Vec<f64> = x[PER_STATE..2 * PER_STATE]
            .iter()
            .map(|&x| u(0, x) - u(1, x))
            .collect();
        bar(&forward, &reverse).unwrap()
    });
}

#[test]
fn exponential_averaging_from_the_wider_state_is_unbiased_with_calibrated_errors() {
    check("FEP 0→1", exact_f(1) - exact_f(0), |x| {
        let forward: Vec<f64> = x[..PER_STATE].iter().map(|&x| u(1, x) - u(0, x)).collect();
        exponential_averaging(&forward)
    });
}
