//! λ-state system files, `Lambda(a: …, b: …, lambda: …)`: u_λ = (1 − λ) u_A + λ u_B through the
//! same System as any plugin, with clear errors for what cannot be mixed.

mod common;

use boltzflow::config::load_system;
use common::*;
use std::path::{Path, PathBuf};

fn shipped(file: &str) -> PathBuf {
    workspace().join("examples/systems").join(file)
}

fn write_lambda(dir: &Path, name: &str, a: &Path, b: &Path, lambda: f64) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("Lambda(a: {a:?}, b: {b:?}, lambda: {lambda:?})\n"),
    )
    .unwrap();
    path
}

#[test]
fn a_lambda_state_mixes_energies_and_gradients_linearly() {
    let dir = tempfile::tempdir().unwrap();
    let (a_file, b_file) = (
        shipped("quantum_double_well_N16_m3.ron"),
        shipped("quantum_double_well_N16_m4.5.ron"),
    );
    let (_, a) = load_system(&a_file).unwrap();
    let (_, b) = load_system(&b_file).unwrap();
    let x: Vec<f64> = (0..16 * 5)
        .map(|i| ((i * 37 % 23) as f64 - 11.0) / 7.0)
        .collect();
    let ea = a.evaluate(&x, true).unwrap();
    let eb = b.evaluate(&x, true).unwrap();
    for lambda in [0.0, 0.3, 1.0] {
        let file = write_lambda(dir.path(), "l.ron", &a_file, &b_file, lambda);
        let (_, mixed) = load_system(&file).unwrap();
        assert_eq!(mixed.dim(), 16);
        assert_eq!(mixed.log_z(), None);
        assert!(!mixed.has_exact_sampler());
        assert_eq!(mixed.plugins().len(), 2);
        let e = mixed.evaluate(&x, true).unwrap();
        let grad = e.grad.unwrap();
        let (ga, gb) = (ea.grad.as_ref().unwrap(), eb.grad.as_ref().unwrap());
        for i in 0..5 {
            let expected = (1.0 - lambda) * ea.u[i] + lambda * eb.u[i];
            assert!((e.u[i] - expected).abs() <= 1e-12 * expected.abs().max(1.0));
        }
        for j in 0..x.len() {
            let expected = (1.0 - lambda) * ga[j] + lambda * gb[j];
            assert!((grad[j] - expected).abs() <= 1e-12 * expected.abs().max(1.0));
        }
        if lambda == 0.0 {
            assert_eq!(e.u, ea.u, "λ = 0 is A exactly");
        }
        assert_eq!(mixed.evaluations(), 5);
    }
}

#[test]
fn lambda_files_resolve_relative_paths_and_nest() {
    let dir = tempfile::tempdir().unwrap();
    let a = shipped("quantum_double_well_N16_m3.ron");
    let b = shipped("quantum_double_well_N16_m6.ron");
    write_lambda(dir.path(), "inner.ron", &a, &b, 0.5);
    // Relative to the outer file's folder.
    let outer = write_lambda(dir.path(), "outer.ron", Path::new("inner.ron"), &a, 0.5);
    let (_, nested) = load_system(&outer).unwrap();
    let (_, sa) = load_system(&a).unwrap();
    let (_, sb) = load_system(&b).unwrap();
    let x: Vec<f64> = (0..16).map(|i| (i as f64 - 8.0) / 5.0).collect();
    let (ua, ub) = (
        sa.evaluate(&x, false).unwrap().u[0],
        sb.evaluate(&x, false).unwrap().u[0],
    );
    let u = nested.evaluate(&x, false).unwrap().u[0];
    assert!((u - (0.75 * ua + 0.25 * ub)).abs() < 1e-10, "{u}");
}

#[test]
fn bad_lambda_states_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let dw = shipped("quantum_double_well_N16_m3.ron");
    let error = |path: &Path| load_system(path).unwrap_err().to_string();

    let out_of_range = write_lambda(dir.path(), "range.ron", &dw, &dw, 1.5);
    assert!(error(&out_of_range).contains("not in [0, 1]"));

    let other_dim = write_lambda(dir.path(), "dim.ron", &dw, &shipped("gmm2.ron"), 0.5);
    let message = error(&other_dim);
    assert!(message.contains("dimension"), "{message}");

    let missing = write_lambda(dir.path(), "missing.ron", &dw, Path::new("nope.ron"), 0.5);
    assert!(error(&missing).contains("nope.ron"));

    let cycle = dir.path().join("cycle.ron");
    std::fs::write(
        &cycle,
        "Lambda(a: \"cycle.ron\", b: \"cycle.ron\", lambda: 0.5)",
    )
    .unwrap();
    assert!(error(&cycle).contains("cycle"));

    let typo = dir.path().join("typo.ron");
    std::fs::write(&typo, format!("Lambda(a: {dw:?}, b: {dw:?}, lamda: 0.5)")).unwrap();
    assert!(error(&typo).contains("lamda"));
}
