//! boltzflow's estimators against pymbar 4 on the same reduced energies: the fixture
//! `fixtures/pymbar.h5` is written by `scripts/free_energy_reference.py` (1-D harmonic states,
//! exact samples). MBAR's Δf, its error and the overlap matrix, BAR and exponential averaging
//! must agree to 1e-6 (relative to the value, absolute below 1).

use crate::free_energy::{Mbar, ReducedEnergies, bar, exponential_averaging};
use crate::io::read_array;
use nalgebra::DMatrix;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/free_energy/tests/fixtures/pymbar.h5")
}

fn read(case: &str, name: &str) -> (Vec<f64>, Vec<usize>) {
    read_array(&fixture(), &format!("{case}/{name}")).unwrap()
}

fn assert_close(what: &str, ours: f64, theirs: f64) {
    let tolerance = 1e-6 * theirs.abs().max(1.0);
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{what}: boltzflow {ours}, pymbar {theirs}"
    );
}

/// The case's reduced energies (K × N) and sample counts.
fn energies(case: &str) -> ReducedEnergies {
    let (u, shape) = read(case, "u_kn");
    let (n_k, _) = read(case, "n_k");
    let u = DMatrix::from_row_slice(shape[0], shape[1], &u);
    ReducedEnergies::new(u, n_k.iter().map(|&v| v as usize).collect()).unwrap()
}

/// BAR's and exponential averaging's work values between states 0 and 1.
fn work(case: &str) -> (Vec<f64>, Vec<f64>) {
    let (u, shape) = read(case, "u_kn");
    let (n_k, _) = read(case, "n_k");
    let n = shape[1];
    let (n0, n1) = (n_k[0] as usize, n_k[1] as usize);
    let forward = (0..n0).map(|i| u[n + i] - u[i]).collect();
    let reverse = (n0..n0 + n1).map(|i| u[i] - u[n + i]).collect();
    (forward, reverse)
}

fn check_mbar(case: &str) {
    let mbar = Mbar::solve(&energies(case)).unwrap();
    let (delta_f, shape) = read(case, "mbar_delta_f");
    let (stderr, _) = read(case, "mbar_delta_f_stderr");
    let (overlap, _) = read(case, "mbar_overlap");
    let k = shape[0];
    let ours_overlap = mbar.overlap();
    for i in 0..k {
        for j in 0..k {
            let estimate = mbar.delta_f(i, j);
            assert_close(
                &format!("{case} Δf {i}→{j}"),
                estimate.delta_f,
                delta_f[i * k + j],
            );
            assert_close(
                &format!("{case} σ {i}→{j}"),
                estimate.stderr,
                stderr[i * k + j],
            );
            assert_close(
                &format!("{case} overlap {i},{j}"),
                ours_overlap[(i, j)],
                overlap[i * k + j],
            );
        }
    }
}

fn check_two_states(case: &str) {
    let (forward, reverse) = work(case);
    let expected = |name| read(case, name).0;
    let ours = bar(&forward, &reverse).unwrap();
    let theirs = expected("bar");
    assert_close(&format!("{case} BAR Δf"), ours.delta_f, theirs[0]);
    assert_close(&format!("{case} BAR σ"), ours.stderr, theirs[1]);
    for (name, w) in [("exp_forward", &forward), ("exp_reverse", &reverse)] {
        let ours = exponential_averaging(w);
        let theirs = expected(name);
        assert_close(&format!("{case} {name} Δf"), ours.delta_f, theirs[0]);
        // pymbar's standard deviation divides by n, boltzflow's by n − 1.
        let n = w.len() as f64;
        let theirs_unbiased = theirs[1] * (n / (n - 1.0)).sqrt();
        assert_close(&format!("{case} {name} σ"), ours.stderr, theirs_unbiased);
    }
}

#[test]
fn mbar_matches_pymbar_with_an_unsampled_state() {
    check_mbar("overlapping");
}

#[test]
fn mbar_matches_pymbar_over_26_kbt_of_poorly_overlapping_states() {
    check_mbar("separated");
}

#[test]
fn bar_and_exponential_averaging_match_pymbar() {
    check_two_states("overlapping");
    check_two_states("separated");
}
