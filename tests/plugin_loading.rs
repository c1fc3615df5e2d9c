//! Loading plugins: every way it can fail has its own clear message, and a plugin written in C
//! works like one written in Rust.

mod common;

use boltzflow::Error;
use boltzflow::energy::{PluginLibrary, resolve_plugin};
use common::*;

#[test]
fn c_plugin_loads_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_c_plugin(dir.path(), "harmonic", &[]);
    let system = system(dir.path(), lib.to_str().unwrap(), "(dim: 3, k: 2.0)").unwrap();
    assert_eq!(system.plugins()[0].name(), "harmonic");
    assert_eq!(system.plugins()[0].version(), "1.0.0");
    assert_eq!(system.dim(), 3);
    assert!(system.is_thread_safe());
    let expected_log_z = 1.5 * (2.0 * std::f64::consts::PI / 2.0).ln();
    assert!((system.log_z().unwrap() - expected_log_z).abs() < 1e-12);

    let x: Vec<f64> = (0..3000).map(|i| (i as f64 * 0.37).sin()).collect();
    let eval = system.evaluate(&x, true).unwrap();
    for (i, xi) in x.chunks(3).enumerate() {
        let u = xi.iter().map(|v| v * v).sum::<f64>();
        assert!((eval.u[i] - u).abs() < 1e-12);
    }
    let grad = eval.grad.unwrap();
    assert!(
        x.iter()
            .zip(&grad)
            .all(|(x, g)| (2.0 * x - g).abs() < 1e-12)
    );
    assert_eq!(eval.n_nonfinite, 0);
}

#[test]
fn c_plugin_exact_samples_have_the_right_variance() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_c_plugin(dir.path(), "harmonic", &[]);
    let system = system(dir.path(), lib.to_str().unwrap(), "(dim: 2, k: 4.0)").unwrap();
    let n = 100_000;
    let x = system.sample_exact(n, 7).unwrap();
    assert_eq!(
        x,
        system.sample_exact(n, 7).unwrap(),
        "same seed, same samples"
    );
    assert_ne!(x, system.sample_exact(n, 8).unwrap());
    let var = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    // Var = 1/k = 0.25; the standard error of the mean of v² is about 0.25·√2/√(2n).
    assert!(
        (var - 0.25).abs() < 5.0 * 0.25 * (2.0f64 / (2 * n) as f64).sqrt(),
        "variance {var}"
    );
}

#[test]
fn plugin_that_is_not_thread_safe_is_called_serially() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_c_plugin(dir.path(), "serial", &["HARMONIC_NOT_THREAD_SAFE"]);
    let system = system(dir.path(), lib.to_str().unwrap(), "(dim: 2)").unwrap();
    assert!(!system.is_thread_safe());
    let x = vec![1.0; 2 * 10_000];
    let eval = system.evaluate(&x, false).unwrap();
    assert!(eval.u.iter().all(|&u| u == 1.0));
}

#[test]
fn missing_file() {
    let err = PluginLibrary::open(std::path::Path::new("/no/such/libplugin.so")).unwrap_err();
    assert!(matches!(err, Error::PluginFileMissing { .. }));
    assert!(
        err.to_string()
            .contains("/no/such/libplugin.so does not exist"),
        "{err}"
    );
}

#[test]
fn not_a_library() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libfake.so");
    std::fs::write(&path, "this is text, not ELF").unwrap();
    let err = PluginLibrary::open(&path).unwrap_err();
    assert!(matches!(err, Error::NotALibrary { .. }));
    // The dynamic loader's own reason is kept.
    assert!(
        err.to_string().contains("is not a loadable shared library")
            && err.to_string().contains("file too short"),
        "{err}"
    );
}

#[test]
fn entry_symbol_missing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("other.c");
    std::fs::write(&source, "int not_a_plugin(void) { return 1; }\n").unwrap();
    let lib = dir.path().join("libother.so");
    let status = std::process::Command::new("cc")
        .arg("-shared")
        .arg("-fPIC")
        .arg(&source)
        .arg("-o")
        .arg(&lib)
        .status()
        .unwrap();
    assert!(status.success());
    let err = PluginLibrary::open(&lib).unwrap_err();
    assert!(matches!(err, Error::EntrySymbolMissing { .. }));
    assert!(
        err.to_string()
            .contains("does not export the entry symbol `boltzflow_plugin`"),
        "{err}"
    );
}

#[test]
fn abi_version_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_c_plugin(dir.path(), "future", &["HARMONIC_ABI_VERSION=99"]);
    let err = PluginLibrary::open(&lib).unwrap_err();
    assert!(matches!(
        err,
        Error::AbiMismatch {
            found: 99,
            expected: 1,
            ..
        }
    ));
    assert!(err.to_string().contains("ABI version 99"), "{err}");
    assert!(err.to_string().contains("rebuild the plugin"), "{err}");
}

#[test]
fn config_rejected_names_the_field_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = system(dir.path(), "faulty", "(dimm: 3)").unwrap_err();
    assert!(matches!(err, Error::ConfigRejected { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("dimm") && message.contains("system.ron"),
        "{message}"
    );
}

#[test]
fn panic_in_create_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let err = system(dir.path(), "faulty", "(panic_in_create: true)").unwrap_err();
    assert!(
        matches!(err, Error::PluginPanicked { call: "create", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("asked to panic in create"),
        "{err}"
    );
}

#[test]
fn panic_in_energy_is_caught_and_the_process_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(dir.path(), "faulty", "(panic_in_energy: true)").unwrap();
    for _ in 0..3 {
        let err = system.evaluate(&vec![0.5; 2 * 1000], true).unwrap_err();
        assert!(
            matches!(err, Error::PluginPanicked { call: "energy", .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("asked to panic in energy"),
            "{err}"
        );
    }
}

#[test]
fn plugin_error_in_energy_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(dir.path(), "faulty", "(fail_in_energy: true)").unwrap();
    let err = system.evaluate(&[0.0, 0.0], false).unwrap_err();
    assert!(err.to_string().contains("asked to fail in energy"), "{err}");
}

#[test]
fn nonfinite_energies_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(dir.path(), "faulty", "(nan_above: 0.5, inf_above: 0.25)").unwrap();
    // x₀ = i/1000 for i < 1000: NaN above 0.5 (499 points), +∞ in (0.25, 0.5] (250 points).
    let x: Vec<f64> = (0..1000).flat_map(|i| [i as f64 / 1000.0, 0.0]).collect();
    let eval = system.evaluate(&x, true).unwrap();
    assert_eq!(eval.n_nonfinite, 499 + 250);
    assert_eq!(eval.u.iter().filter(|u| u.is_nan()).count(), 499);
}

#[test]
fn wrong_number_of_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(dir.path(), "faulty", "(dim: 3)").unwrap();
    let err = system.evaluate(&[1.0, 2.0, 3.0, 4.0], false).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("multiple of dim = 3"), "{err}");
}

#[test]
fn plugins_are_found_by_name_or_reported_missing() {
    let path = resolve_plugin("gaussian-mixture", None).unwrap();
    assert!(
        path.ends_with("libboltzflow_gaussian_mixture.so"),
        "{}",
        path.display()
    );
    let err = resolve_plugin("no-such-plugin", None).unwrap_err();
    assert!(matches!(err, Error::PluginNotFound { .. }));
    let message = err.to_string();
    assert!(
        message.contains("no-such-plugin") && message.contains("BOLTZFLOW_PLUGIN_PATH"),
        "{message}"
    );
}

#[test]
fn relative_plugin_paths_are_relative_to_the_system_file() {
    let dir = tempfile::tempdir().unwrap();
    build_c_plugin(dir.path(), "harmonic", &[]);
    let system = system(dir.path(), "./libharmonic.so", "(dim: 4)").unwrap();
    assert_eq!(system.dim(), 4);
}

#[test]
fn plugin_files_resolve_relative_to_the_system_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("params")).unwrap();
    std::fs::write(dir.path().join("params/data.txt"), "x").unwrap();
    assert!(system(dir.path(), "faulty", "(require_file: \"params/data.txt\")").is_ok());
    let err = system(
        dir.path(),
        "faulty",
        "(require_file: \"params/missing.txt\")",
    )
    .unwrap_err();
    let expected = dir.path().join("params/missing.txt");
    assert!(
        err.to_string()
            .contains(&format!("{} does not exist", expected.display())),
        "{err}"
    );
}
