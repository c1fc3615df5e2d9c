//! Plugins in a worker process (`isolate: true`): the same numbers as in-process; a segfault,
//! an abort or a hang becomes a clear error naming the plugin, the call and the signal, and a
//! training run keeps a checkpoint it resumes from. And the checks every plugin table gets when
//! it loads, isolated or not.

mod common;

use boltzflow::config::load_system;
use common::*;
use std::path::{Path, PathBuf};

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A system file of the faulty plugin with `config`, run isolated with `extra` fields.
fn isolated(dir: &Path, name: &str, config: &str, extra: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("System(plugin: \"faulty\", config: {config}, isolate: true{extra})"),
    )
    .unwrap();
    path
}

/// Energies, gradients, exact samples, log Z and metadata of an isolated plugin equal the
/// in-process ones exactly (the same code, one process away).
#[test]
fn an_isolated_plugin_gives_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let config = "(dim: 3, sampler: true, nan_above: 2.0)";
    let (_, inside) = load_system(&write_system(dir.path(), "in.ron", "faulty", config)).unwrap();
    let (_, outside) = load_system(&isolated(dir.path(), "out.ron", config, "")).unwrap();
    let x: Vec<f64> = (0..3 * 500)
        .map(|i| (i as f64 * 0.37).sin() * 3.0)
        .collect();
    let (a, b) = (
        inside.evaluate(&x, true).unwrap(),
        outside.evaluate(&x, true).unwrap(),
    );
    assert_eq!(a.n_nonfinite, b.n_nonfinite);
    assert!(a.n_nonfinite > 0, "some points are NaN by design");
    for (p, q) in a.u.iter().zip(&b.u) {
        assert!(p == q || (p.is_nan() && q.is_nan()));
    }
    assert_eq!(a.grad, b.grad);
    assert_eq!(
        inside.sample_exact(5000, 7).unwrap(),
        outside.sample_exact(5000, 7).unwrap()
    );
    assert_eq!(inside.log_z(), outside.log_z());
    assert_eq!(inside.metadata(), outside.metadata());
    assert_eq!(inside.dim(), outside.dim());
    assert!(outside.has_exact_sampler());
    assert_eq!(outside.evaluations(), 500);
}

/// A plugin that fails or panics in its worker reports as it would in-process; one that
/// segfaults, aborts or hangs ends the worker only: the error names the plugin, the call and
/// the signal (or the timeout), and later calls fail the same way instead of hanging.
#[test]
fn crashes_and_hangs_in_the_worker_become_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let x = [0.5, 0.5];
    let load = |name: &str, config: &str, extra: &str| {
        load_system(&isolated(dir.path(), name, config, extra))
            .unwrap()
            .1
    };
    let err = load("fail.ron", "(fail_in_energy: true)", "")
        .evaluate(&x, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plugin 'faulty' failed in energy: asked to fail in energy"),
        "{err}"
    );
    let err = load("panic.ron", "(panic_in_energy: true)", "")
        .evaluate(&x, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("panicked in energy") && err.contains("asked to panic"),
        "{err}"
    );

    let segfault = load("segv.ron", "(segfault_at_call: 2)", "");
    segfault.evaluate(&x, true).unwrap();
    let err = segfault.evaluate(&x, true).unwrap_err().to_string();
    assert!(
        err.contains("plugin 'faulty' crashed in energy")
            && err.contains("killed by signal 11 (SIGSEGV)"),
        "{err}"
    );
    let again = segfault.evaluate(&x, true).unwrap_err().to_string();
    assert!(
        again.contains("had already stopped") && again.contains("SIGSEGV"),
        "{again}"
    );

    let err = load("abort.ron", "(abort_at_call: 1)", "")
        .evaluate(&x, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("signal 6 (SIGABRT)"), "{err}");

    let started = std::time::Instant::now();
    let err = load("hang.ron", "(hang_at_call: 1)", ", timeout_s: 1.5")
        .evaluate(&x, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no answer within 1.5 s"), "{err}");
    assert!(started.elapsed().as_secs_f64() < 30.0);

    let err = load_system(&isolated(dir.path(), "bad.ron", "(dim: 0)", ""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("could not start in its own process"), "{err}");
}

/// The case: a plugin that segfaults in the middle of `train`, run isolated, ends the
/// run with exit status 1 and a message naming the plugin, the call and the signal; the steps
/// before it are in the checkpoint, and the same command resumes from there.
#[test]
fn a_segfault_in_training_keeps_a_checkpoint_to_resume_from() {
    let dir = tempfile::tempdir().unwrap();
    let system = isolated(dir.path(), "system.ron", "(segfault_at_call: 3)", "");
    let config = dir.path().join("train.ron");
    std::fs::write(
        &config,
        format!(
            "Train(system: {system:?}, flow: RealNvp(layers: 2, hidden: [8]), seed: 1, \
             steps: 40, batch_size: 32, objectives: [ReverseKl()], checkpoint_every: 1000, \
             test_samples: 0, eval_samples: 0)"
        ),
    )
    .unwrap();
    let run = dir.path().join("run");
    let train = || boltzflow(&["train", s(&config), "--out", s(&run)]);
    let first = train();
    let err = String::from_utf8_lossy(&first.stderr).into_owned();
    assert_eq!(first.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plugin 'faulty' crashed in energy") && err.contains("SIGSEGV"),
        "{err}"
    );
    let failed_at: usize = err
        .split("the plugin failed at step ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step in: {err}"));
    assert!(failed_at > 1, "{err}");
    assert!(run.join("checkpoint/state.ron").is_file());

    // The worker of the second run counts its calls from 1 again: it resumes at the saved
    // step and fails further on, saving again.
    let second = train();
    let err2 = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(
        err2.contains(&format!("at step {} of 40", failed_at - 1)),
        "{err2}"
    );
    assert_eq!(second.status.code(), Some(1), "{err2}");
}

/// Every plugin table is checked when it loads: a NULL required function, flags that promise
/// a function the table lacks, and metadata that do not fit the dimension are refused with the
/// reason, before any call.
#[test]
fn plugin_tables_and_metadata_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "HARMONIC_NULL_ENERGY",
            "(dim: 2)",
            "its `energy` function is NULL",
        ),
        (
            "HARMONIC_NULL_SAMPLE",
            "(dim: 2)",
            "its flags promise an exact sampler, but its table has no such function",
        ),
        (
            "HARMONIC_EXTRA_ATOM",
            "(atoms: 2)",
            "the molecule has 3 atoms (9 coordinates) but the system has 6",
        ),
    ];
    for (define, config, expected) in cases {
        let lib = build_c_plugin(dir.path(), &define.to_lowercase(), &[define]);
        let file = write_system(dir.path(), "system.ron", s(&lib), config);
        let err = boltzflow_err(&["info", "--system", s(&file)]);
        assert!(
            err.contains(expected) && err.contains(s(&lib)),
            "{define}: {err}"
        );
    }
}
