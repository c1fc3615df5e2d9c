//! The `boltzflow` binary, driven as a user would.

mod common;

use common::*;

#[test]
fn plugins_lists_the_workspace_plugins_with_versions() {
    let out = boltzflow_ok(&["plugins"]);
    for name in ["gaussian-mixture", "double-well", "faulty", "python"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{out}"));
        assert!(line.contains(env!("CARGO_PKG_VERSION")), "{line}");
    }
}

#[test]
fn info_json_reports_exact_log_z() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_c_plugin(dir.path(), "harmonic", &[]);
    let system = write_system(
        dir.path(),
        "h.ron",
        lib.to_str().unwrap(),
        "(dim: 4, k: 3.0)",
    );
    let out = boltzflow_ok(&["info", "--system", system.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let expected = 2.0 * (2.0 * std::f64::consts::PI / 3.0).ln();
    assert!(
        (json["log_z"].as_f64().unwrap() - expected).abs() < 1e-12,
        "{json}"
    );
    assert_eq!(json["dim"], 4);
    assert_eq!(json["plugins"][0]["name"], "harmonic");
    assert_eq!(json["metadata"]["system"], "harmonic well");

    let text = boltzflow_ok(&["info", "--system", system.to_str().unwrap()]);
    assert!(
        text.contains("exact log Z:") && text.contains("dimension:     4"),
        "{text}"
    );
}

#[test]
fn energy_writes_u_and_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_c_plugin(dir.path(), "harmonic", &[]);
    let system = write_system(
        dir.path(),
        "h.ron",
        lib.to_str().unwrap(),
        "(dim: 2, k: 3.0)",
    );
    let (input, output) = (dir.path().join("in.h5"), dir.path().join("out.h5"));
    let x = [1.0, 2.0, -0.5, 0.0, 0.0, 0.0];
    write_h5(&input, "x", &x, &[3, 2]);
    boltzflow_ok(&[
        "energy",
        "--system",
        system.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    let (u, shape) = read_h5(&output, "u");
    assert_eq!(shape, vec![3]);
    assert_eq!(u, vec![7.5, 0.375, 0.0]);
    let (grad, shape) = read_h5(&output, "grad_u");
    assert_eq!(shape, vec![3, 2]);
    assert_eq!(grad, vec![3.0, 6.0, -1.5, 0.0, 0.0, 0.0]);
    let file = hdf5::File::open(&output).unwrap();
    assert!(!file.link_exists("energy"), "not a molecule: no /energy");
    let config: hdf5::types::VarLenUnicode = file.attr("config").unwrap().read_scalar().unwrap();
    assert!(
        config.as_str().contains("k: 3.0"),
        "the system file is recorded"
    );
}

#[test]
fn energy_of_molecules_in_kj_per_mol() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_c_plugin(dir.path(), "harmonic", &[]);
    let system = write_system(
        dir.path(),
        "h.ron",
        lib.to_str().unwrap(),
        "(atoms: 2, k: 2.0)",
    );
    let (input, output) = (dir.path().join("in.h5"), dir.path().join("out.h5"));
    let positions = [0.1, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.3];
    write_h5(&input, "positions", &positions, &[2, 2, 3]);
    boltzflow_ok(&[
        "energy",
        "--system",
        system.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    let kbt = 0.008_314_462_6 * 300.0;
    let (u, _) = read_h5(&output, "u");
    let (energy, _) = read_h5(&output, "energy");
    let (forces, shape) = read_h5(&output, "forces");
    assert_eq!(shape, vec![2, 2, 3]);
    assert!((u[0] - 0.05).abs() < 1e-15 && (energy[0] - 0.05 * kbt).abs() < 1e-12);
    assert!((energy[1] - 0.09 * kbt).abs() < 1e-12);
    // Frame 1, atom 1, z = −0.3 nm: F = −k z k_BT.
    assert!((forces[6 + 5] - 0.6 * kbt).abs() < 1e-12, "force = −∇E");
}

#[test]
fn energy_with_wrong_dimension_fails_and_keeps_the_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let system = write_system(dir.path(), "s.ron", "faulty", "(dim: 3)");
    let (input, output) = (dir.path().join("in.h5"), dir.path().join("out.h5"));
    write_h5(&input, "x", &[0.0; 8], &[4, 2]);
    std::fs::write(&output, "previous results").unwrap();
    let err = boltzflow_err(&[
        "energy",
        "--system",
        system.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(
        err.contains("expected 3 coordinates per point")
            && err.contains("found /x with 2 coordinates"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "previous results"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "no temporary file left behind"
    );
}

#[test]
fn energy_input_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let system = write_system(dir.path(), "s.ron", "faulty", "(dim: 2)");
    let system = system.to_str().unwrap();
    let output = dir.path().join("out.h5");
    let out = output.to_str().unwrap();

    let err = boltzflow_err(&[
        "energy",
        "--system",
        system,
        "--input",
        "/no/such/in.h5",
        "--output",
        out,
    ]);
    assert!(
        err.contains("/no/such/in.h5") && err.contains("not found"),
        "{err}"
    );

    let text = dir.path().join("text.h5");
    std::fs::write(&text, "not hdf5").unwrap();
    let err = boltzflow_err(&[
        "energy",
        "--system",
        system,
        "--input",
        text.to_str().unwrap(),
        "--output",
        out,
    ]);
    assert!(err.contains("cannot open as HDF5"), "{err}");

    let wrong = dir.path().join("wrong.h5");
    write_h5(&wrong, "y", &[0.0; 4], &[2, 2]);
    let err = boltzflow_err(&[
        "energy",
        "--system",
        system,
        "--input",
        wrong.to_str().unwrap(),
        "--output",
        out,
    ]);
    assert!(err.contains("no dataset /x"), "{err}");

    let flat = dir.path().join("flat.h5");
    write_h5(&flat, "x", &[0.0; 4], &[4]);
    let err = boltzflow_err(&[
        "energy",
        "--system",
        system,
        "--input",
        flat.to_str().unwrap(),
        "--output",
        out,
    ]);
    assert!(err.contains("expected [n, dim]"), "{err}");
    assert!(!output.exists());
}

#[test]
fn energy_reports_nonfinite_points() {
    let dir = tempfile::tempdir().unwrap();
    let system = write_system(dir.path(), "s.ron", "faulty", "(nan_above: 0.0)");
    let (input, output) = (dir.path().join("in.h5"), dir.path().join("out.h5"));
    write_h5(&input, "x", &[1.0, 0.0, -1.0, 0.0, 2.0, 0.0], &[3, 2]);
    let out = boltzflow(&[
        "energy",
        "--system",
        system.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 of 3 points have a NaN or infinite energy"),
        "{stderr}"
    );
    let file = hdf5::File::open(&output).unwrap();
    assert_eq!(
        file.attr("n_nonfinite")
            .unwrap()
            .read_scalar::<u64>()
            .unwrap(),
        2
    );
}

#[test]
fn plugin_panic_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let system = write_system(dir.path(), "s.ron", "faulty", "(panic_in_energy: true)");
    let (input, output) = (dir.path().join("in.h5"), dir.path().join("out.h5"));
    write_h5(&input, "x", &[1.0, 0.0], &[1, 2]);
    let out = boltzflow(&[
        "energy",
        "--system",
        system.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a clean exit with an error, not an abort"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: plugin 'faulty' panicked in energy")
            && stderr.contains("asked to panic in energy"),
        "{stderr}"
    );
    assert!(!output.exists());
}

#[test]
fn system_file_typo_names_the_field_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.ron");
    std::fs::write(&path, "System(plugin: \"faulty\", confg: ())").unwrap();
    let err = boltzflow_err(&["info", "--system", path.to_str().unwrap()]);
    assert!(err.contains("typo.ron") && err.contains("confg"), "{err}");
}

#[test]
fn sample_exact_writes_samples_and_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_c_plugin(dir.path(), "harmonic", &[]);
    let system = write_system(
        dir.path(),
        "h.ron",
        lib.to_str().unwrap(),
        "(dim: 3, k: 2.0)",
    );
    let output = dir.path().join("samples.h5");
    boltzflow_ok(&[
        "sample-exact",
        "--system",
        system.to_str().unwrap(),
        "-n",
        "5000",
        "--seed",
        "3",
        "--output",
        output.to_str().unwrap(),
    ]);
    let (x, shape) = read_h5(&output, "samples/x");
    assert_eq!(shape, vec![5000, 3]);
    let (u, _) = read_h5(&output, "samples/u");
    for (xi, ui) in x.chunks(3).zip(&u) {
        assert!((xi.iter().map(|v| v * v).sum::<f64>() - ui).abs() < 1e-12);
    }
    let log_z = 1.5 * std::f64::consts::PI.ln();
    assert!((read_attr(&output, "estimates", "log_z") - log_z).abs() < 1e-12);
    assert!((read_attr(&output, "estimates", "ess") - 1.0).abs() < 1e-12);
    let file = hdf5::File::open(&output).unwrap();
    assert_eq!(file.attr("seed").unwrap().read_scalar::<u64>().unwrap(), 3);
}

#[test]
fn sample_exact_without_a_sampler_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let system = write_system(dir.path(), "s.ron", "faulty", "()");
    let output = dir.path().join("samples.h5");
    let err = boltzflow_err(&[
        "sample-exact",
        "--system",
        system.to_str().unwrap(),
        "-n",
        "10",
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(err.contains("has no exact sampler"), "{err}");
}

#[test]
fn train_then_sample_writes_reweighted_samples() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("train.ron");
    let system = workspace().join("examples/systems/gmm2.ron");
    std::fs::write(
        &config,
        format!(
            "Train(system: {system:?}, flow: RealNvp(layers: 2, hidden: [8], base_std: 6.0), seed: 1,
             steps: 20, batch_size: 32, objectives: [ForwardKl(samples: Exact(n: 1000))],
             checkpoint_every: 10, test_samples: 100)"
        ),
    )
    .unwrap();
    let run = dir.path().join("run");
    let (config, run_str) = (config.to_str().unwrap(), run.to_str().unwrap());
    boltzflow_ok(&["train", config, "--out", run_str]);
    assert!(run.join("checkpoint/model.h5").is_file() && run.join("run.h5").is_file());
    let (loss, shape) = read_h5(&run.join("run.h5"), "training/loss");
    assert_eq!(shape, vec![20]);
    assert!(loss.iter().all(|l| l.is_finite()));

    let samples = dir.path().join("samples.h5");
    boltzflow_ok(&[
        "sample",
        "--run",
        run_str,
        "-n",
        "500",
        "--output",
        samples.to_str().unwrap(),
    ]);
    let (x, shape) = read_h5(&samples, "samples/x");
    assert_eq!(shape, vec![500, 2]);
    let (log_w, _) = read_h5(&samples, "samples/log_w");
    let (u, _) = read_h5(&samples, "samples/u");
    let (log_q, _) = read_h5(&samples, "samples/log_q");
    for i in 0..500 {
        assert!(
            (log_w[i] + u[i] + log_q[i]).abs() < 1e-9,
            "log w = −u − log q"
        );
    }
    let ess = read_attr(&samples, "estimates", "ess");
    assert!(ess > 0.0 && ess <= 1.0);
    assert!(x.iter().all(|v| v.is_finite()));

    let err = boltzflow_err(&[
        "sample",
        "--run",
        dir.path().to_str().unwrap(),
        "-n",
        "5",
        "--output",
        samples.to_str().unwrap(),
    ]);
    assert!(err.contains("not a training run folder"), "{err}");
}

#[test]
fn plugins_are_found_on_the_plugin_path_variable() {
    let dir = tempfile::tempdir().unwrap();
    build_c_plugin(dir.path(), "myharmonic", &[]);
    let system = write_system(dir.path(), "s.ron", "myharmonic", "(dim: 2)");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_boltzflow"))
            .args(args)
            .env("BOLTZFLOW_PLUGIN_PATH", dir.path())
            .output()
            .unwrap()
    };
    let info = run(&["info", "--system", system.to_str().unwrap(), "--json"]);
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["plugins"][0]["name"], "harmonic");
    let listed = String::from_utf8(run(&["plugins"]).stdout).unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("harmonic") && l.contains("libmyharmonic.so")),
        "{listed}"
    );
    let without = boltzflow_err(&["info", "--system", system.to_str().unwrap()]);
    assert!(
        without.contains("no plugin named 'myharmonic'"),
        "{without}"
    );
}
