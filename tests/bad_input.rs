//! Bad input, driven through the real binary: one test (or more) per class of mistake a user
//! makes. Each checks that the program refuses clearly (exit status 1, or 130 when interrupted,
//! a message naming what is wrong), and that no file is lost, damaged or left half-written.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small maximum-likelihood run on the faulty plugin's standard normal (it has an exact
/// sampler when asked): `system` is the system file, `extra` more fields of `Train(...)`.
fn write_train(dir: &Path, system: &Path, objectives: &str, extra: &str) -> PathBuf {
    let path = dir.join("train.ron");
    std::fs::write(
        &path,
        format!(
            "Train(system: {system:?}, flow: RealNvp(layers: 2, hidden: [8]), seed: 1, \
             steps: 6, batch_size: 32, objectives: {objectives}, checkpoint_every: 3{extra})"
        ),
    )
    .unwrap();
    path
}

const ML: &str = "[ForwardKl(samples: Exact(n: 500))]";

fn faulty_system(dir: &Path, name: &str, config: &str) -> PathBuf {
    write_system(dir, name, "faulty", config)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The exit status, asserting the process ended by itself (not by a signal).
fn status(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

/// A trained run in `dir/run`, on the faulty plugin with a sampler.
fn trained_run(dir: &Path) -> (PathBuf, PathBuf) {
    let system = faulty_system(dir, "normal.ron", "(dim: 2, sampler: true)");
    let config = write_train(dir, &system, ML, ", test_samples: 100, eval_samples: 100");
    let run = dir.join("run");
    boltzflow_ok(&["train", s(&config), "--out", s(&run)]);
    (system, run)
}

/// `sample` of 10 points of `run` into `output`, which must fail; returns stderr.
fn sample_err(run: &Path, output: &Path) -> String {
    boltzflow_err(&["sample", "--run", s(run), "-n", "10", "--output", s(output)])
}

#[test]
fn a_run_is_tied_to_its_system() {
    let dir = tempfile::tempdir().unwrap();
    let (system, run) = trained_run(dir.path());

    // Sampling works from any folder: the run records absolute paths.
    let out_file = dir.path().join("samples.h5");
    let out = Command::new(env!("CARGO_BIN_EXE_boltzflow"))
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .args([
            "sample",
            "--run",
            "run",
            "-n",
            "100",
            "--output",
            "samples.h5",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out_file.is_file());

    // Another system (another dimension) is refused before anything is built.
    let wide = faulty_system(dir.path(), "wide.ron", "(dim: 3, sampler: true)");
    let config = dir.path().join("train.ron");
    let err = boltzflow_err(&["train", s(&config), "--out", s(&run), "--system", s(&wide)]);
    assert!(err.contains("was trained on the system file"), "{err}");

    // A changed system file is refused by `train` (resuming) and by `sample`.
    std::fs::write(
        &system,
        "System(plugin: \"faulty\", config: (dim: 2, sampler: true, nan_above: 5.0))",
    )
    .unwrap();
    let err = boltzflow_err(&["train", s(&config), "--out", s(&run)]);
    assert!(err.contains("has changed"), "{err}");
    let err = sample_err(&run, &dir.path().join("b.h5"));
    assert!(err.contains("has changed"), "{err}");

    // A removed one is named.
    std::fs::remove_file(&system).unwrap();
    let err = sample_err(&run, &dir.path().join("b.h5"));
    assert!(err.contains("no longer exists"), "{err}");
}

#[test]
fn a_first_train_that_fails_validation_leaves_no_run_behind() {
    let dir = tempfile::tempdir().unwrap();
    let system = faulty_system(dir.path(), "normal.ron", "(dim: 2, sampler: true)");
    // A training-samples file that does not exist is found after the configuration parses
    // and the system loads: nothing may be written.
    let config = write_train(
        dir.path(),
        &system,
        "[ForwardKl(samples: File(path: \"missing.h5\"))]",
        "",
    );
    let run = dir.path().join("run");
    let out = boltzflow(&["train", s(&config), "--out", s(&run)]);
    assert_eq!(status(&out), 1);
    assert!(
        !run.join("run.ron").exists(),
        "no manifest for a run that never started"
    );
}

#[test]
fn absurd_numbers_in_a_configuration_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let system = faulty_system(dir.path(), "normal.ron", "(dim: 2, sampler: true)");
    let cases = [
        (ML, ", optimizer: (lr: inf)", "`lr`"),
        (ML, ", optimizer: (lr: -1e-3)", "`lr`"),
        (ML, ", optimizer: (weight_decay: NaN)", "`weight_decay`"),
        (
            ML,
            ", optimizer: (clip_grad_norm: -1.0)",
            "`clip_grad_norm`",
        ),
        (
            "[ForwardKl(weight: -1.0, samples: Exact(n: 500))]",
            "",
            "`weight`",
        ),
        (
            "[ForwardKl(weight: NaN, samples: Exact(n: 500))]",
            "",
            "`weight`",
        ),
        ("[ReverseKl(weight: inf)]", "", "`weight`"),
        (ML, ", test_samples: 100000000000000", "test_samples"),
    ];
    for (objectives, extra, named) in cases {
        let config = write_train(dir.path(), &system, objectives, extra);
        let run = dir.path().join("run");
        let out = boltzflow(&["train", s(&config), "--out", s(&run)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(status(&out), 1, "{objectives}{extra}: {err}");
        assert!(err.contains(named), "{objectives}{extra}: {err}");
        assert!(!run.join("run.ron").exists());
    }
    // Flow sizes.
    for (flow, named) in [
        ("RealNvp(layers: 0, hidden: [8])", "`layers`"),
        ("RealNvp(layers: 2, hidden: [0])", "`hidden`"),
        (
            "RealNvp(layers: 2, hidden: [8], base_std: -1.0)",
            "`base_std`",
        ),
        (
            "Spline(layers: 2, hidden: [8], tail_bound: inf)",
            "`tail_bound`",
        ),
    ] {
        let config = dir.path().join("flow.ron");
        std::fs::write(
            &config,
            format!(
                "Train(system: {system:?}, flow: {flow}, steps: 2, batch_size: 8, objectives: {ML})"
            ),
        )
        .unwrap();
        let err = boltzflow_err(&["train", s(&config), "--out", s(&dir.path().join("r2"))]);
        assert!(err.contains(named), "{flow}: {err}");
    }
}

#[test]
fn a_run_whose_target_is_never_finite_stops_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // u is NaN wherever x₀ > −1000: everywhere the flow goes.
    let system = faulty_system(dir.path(), "nan.ron", "(dim: 2, nan_above: -1000.0)");
    let config = write_train(dir.path(), &system, "[ReverseKl()]", ", test_samples: 0");
    let out = boltzflow(&["train", s(&config), "--out", s(&dir.path().join("run"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status(&out), 1, "{err}");
    assert!(err.contains("nothing can be learnt"), "{err}");
    assert!(!err.contains("trained "), "{err}");
}

#[test]
fn a_step_that_would_leave_a_parameter_non_finite_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let system = faulty_system(dir.path(), "normal.ron", "(dim: 2, sampler: true)");
    // 1e300 is a finite f64, but the f32 update it scales is not: every step is rolled back.
    let config = write_train(
        dir.path(),
        &system,
        ML,
        ", optimizer: (lr: 1e300), test_samples: 100, eval_samples: 100",
    );
    let run = dir.path().join("run");
    let out = boltzflow(&["train", s(&config), "--out", s(&run)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status(&out), 0, "{err}");
    assert!(err.contains("6 skipped as non-finite"), "{err}");
    let samples = dir.path().join("samples.h5");
    boltzflow_ok(&[
        "sample",
        "--run",
        s(&run),
        "-n",
        "1000",
        "--output",
        s(&samples),
    ]);
    let (log_q, _) = read_h5(&samples, "samples/log_q");
    assert!(
        log_q.iter().all(|v| v.is_finite()),
        "the checkpoint holds the parameters from before the bad steps"
    );
}

#[test]
fn outputs_are_checked_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let system = faulty_system(dir.path(), "normal.ron", "(dim: 2)");
    let input = dir.path().join("in.h5");
    write_h5(&input, "x", &[0.5, 1.0, 2.0, -1.0], &[2, 2]);
    let before = std::fs::read(&input).unwrap();

    // The output is the input: refused, the input intact.
    let err = boltzflow_err(&[
        "energy",
        "--system",
        s(&system),
        "--input",
        s(&input),
        "--output",
        s(&input),
    ]);
    assert!(err.contains("also an input"), "{err}");
    assert_eq!(std::fs::read(&input).unwrap(), before);

    // A folder that does not exist.
    let err = boltzflow_err(&[
        "energy",
        "--system",
        s(&system),
        "--input",
        s(&input),
        "--output",
        s(&dir.path().join("nowhere/out.h5")),
    ]);
    assert!(err.contains("does not exist"), "{err}");

    // Inside a run folder: the trained model cannot be overwritten.
    let (_, run) = trained_run(dir.path());
    let model = run.join("checkpoint/model.h5");
    let saved = std::fs::read(&model).unwrap();
    let err = sample_err(&run, &model);
    assert!(err.contains("inside the training run folder"), "{err}");
    assert_eq!(std::fs::read(&model).unwrap(), saved);

    // No temporary file is left beside the outputs.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn two_writers_of_one_run_or_one_analysis_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, run) = trained_run(dir.path());
    // A writer holds the run folder (as a running `train` does).
    let held = boltzflow::run::RunDir::lock(&run).unwrap();
    let config = dir.path().join("train.ron");
    let err = boltzflow_err(&["train", s(&config), "--out", s(&run)]);
    assert!(err.contains("another boltzflow is training into"), "{err}");
    drop(held);

    // A writer holds a samples file (as a running in-place `analyze` does).
    let samples = workspace().join("tests/fixtures/aldp_samples.h5");
    let copy = dir.path().join("aldp.h5");
    std::fs::copy(&samples, &copy).unwrap();
    let held = boltzflow::io::FileLock::beside(&copy).unwrap();
    let err = boltzflow_err(&["analyze", s(&copy)]);
    assert!(err.contains("another boltzflow is writing"), "{err}");
    drop(held);
}

#[test]
fn exact_samples_with_nonfinite_energies_get_zero_weight() {
    let dir = tempfile::tempdir().unwrap();
    // A standard normal sampler whose energy is NaN where x₀ > 1 (about 16% of the samples).
    let system = faulty_system(
        dir.path(),
        "nan.ron",
        "(dim: 2, sampler: true, nan_above: 1.0)",
    );
    let output = dir.path().join("exact.h5");
    let out = boltzflow(&[
        "sample-exact",
        "--system",
        s(&system),
        "-n",
        "2000",
        "--output",
        s(&output),
    ]);
    assert!(out.status.success());
    let (x, _) = read_h5(&output, "samples/x");
    let nan = x.chunks(2).filter(|p| p[0] > 1.0).count();
    assert!(nan > 200, "{nan}");
    let n_nonfinite: u64 = read_attr_as(&output, "estimates", "n_nonfinite");
    assert_eq!(n_nonfinite as usize, nan);
    let ess = read_attr(&output, "estimates", "ess");
    let expected = (2000 - nan) as f64 / 2000.0;
    assert!((ess - expected).abs() < 1e-12, "{ess} vs {expected}");
    let (log_w, _) = read_h5(&output, "samples/log_w");
    assert_eq!(
        log_w.iter().filter(|w| **w == f64::NEG_INFINITY).count(),
        nan
    );
}

#[test]
fn degenerate_dihedrals_and_absurd_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("aldp.h5");
    std::fs::copy(workspace().join("tests/fixtures/aldp_samples.h5"), &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let err = boltzflow_err(&["analyze", s(&copy), "--dihedral", "bad=4,6,6,14"]);
    assert!(err.contains("four different atoms"), "{err}");
    let err = boltzflow_err(&["analyze", s(&copy), "--bins", "100000000"]);
    assert!(err.contains("--bins"), "{err}");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        before,
        "the file is untouched"
    );

    let system = faulty_system(dir.path(), "normal.ron", "(dim: 2, sampler: true)");
    let err = boltzflow_err(&[
        "sample-exact",
        "--system",
        s(&system),
        "-n",
        "1000000000000000",
        "--output",
        s(&dir.path().join("huge.h5")),
    ]);
    assert!(err.contains("needs about"), "{err}");

    // A plugin that claims an absurd dimension is refused when it is loaded.
    let lib = build_c_plugin(dir.path(), "harmonic", &[]);
    let huge = write_system(dir.path(), "huge.ron", s(&lib), "(dim: 1e12, k: 1.0)");
    let err = boltzflow_err(&["info", "--system", s(&huge)]);
    assert!(err.contains("is not between 1 and"), "{err}");
}

/// Sends SIGINT to `child` once its stderr has shown `marker`, then collects its output.
fn interrupt_after(mut command: Command, marker: &str) -> (i32, String) {
    let mut child = command
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            let _ = sender.send(line.clone());
            all += &line;
            all += "\n";
        }
        all
    });
    if marker.is_empty() {
        // Time for the program to start and install its Ctrl-C handler.
        std::thread::sleep(Duration::from_secs(3));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.is_empty() && Instant::now() < deadline {
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains(marker) => break,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    (status.code().expect("exited, not killed"), err)
}

#[test]
fn ctrl_c_in_the_buffer_fill_saves_it_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let system = workspace().join("examples/systems/gmm40.ron");
    // A fill of 2,000 AIS batches: far longer than the test waits.
    let config = write_train(
        dir.path(),
        &system,
        "[Fab(ais: (intermediate: 1, kernel: Metropolis(step_size: 5.0, adapt: false)),
              buffer: (capacity: 8192000, min_length: 4096000, updates_per_batch: 4))]",
        ", test_samples: 0, eval_samples: 0",
    );
    let config = {
        // batch 2048 for the fill.
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("batch_size: 32", "batch_size: 2048");
        std::fs::write(&config, text).unwrap();
        config
    };
    let run = dir.path().join("run");
    let mut command = Command::new(env!("CARGO_BIN_EXE_boltzflow"));
    command.args(["train", s(&config), "--out", s(&run)]);
    let (code, err) = interrupt_after(command, "filling the replay buffer: 6144");
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let buffer = run.join("checkpoint/buffer_0.h5");
    assert!(buffer.is_file(), "the partly filled buffer is saved: {err}");
    let (log_w, _) = read_h5(&buffer, "log_w");
    assert!(log_w.len() >= 6144, "{}", log_w.len());
    let state = std::fs::read_to_string(run.join("checkpoint/state.ron")).unwrap();
    assert!(state.contains("fill_batches"), "{state}");
    assert!(state.contains("step: 0"), "{state}");
}

#[test]
fn ctrl_c_in_sample_writes_nothing_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let (_, run) = trained_run(dir.path());
    let output = dir.path().join("many.h5");
    let mut command = Command::new(env!("CARGO_BIN_EXE_boltzflow"));
    command.args([
        "sample",
        "--run",
        s(&run),
        "-n",
        "100000000",
        "--output",
        s(&output),
        "--forward-samples",
        "0",
    ]);
    // Interrupted at once: the bar is hidden without a terminal, so no marker is awaited.
    let (code, err) = interrupt_after(command, "");
    assert_eq!(code, 130, "{err}");
    assert!(!output.exists());
}
