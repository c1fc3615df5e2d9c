//! The `python` plugin on a NumPy energy: the numbers, `setup` and `metadata`, NaN values as
//! data, a Python exception as an error carrying its last line (the worker goes on), and clear
//! errors for a module that does not follow the interface. The interpreter is `.tools/python`
//! (made by `.ci/setup`, with NumPy) when it exists, else `python3`.

mod common;

use boltzflow::config::load_system;
use boltzflow::energy::System;
use common::workspace;
use std::path::Path;

/// A scaled standard normal in `dim` coordinates: NaN where x₀ > 10, an exception where
/// x₀ > 100; it prints, which must not disturb the protocol.
const MODULE: &str = r#"
import numpy as np

DIM = None
SCALE = 1.0


def setup(config):
    global DIM, SCALE
    DIM = int(config["dim"])
    SCALE = float(config["scale"])


def energy(x):
    if np.any(x[:, 0] > 100):
        raise ValueError("x0 is beyond 100")
    print("a print in the energy goes to stderr")
    u = 0.5 * SCALE * np.sum(x * x, axis=1)
    u[x[:, 0] > 10] = np.nan
    return u, SCALE * x


def metadata():
    return {"system": "scaled normal", "temperature_kelvin": 300.0}
"#;

/// The interpreter of the tests, as a RON string.
fn python() -> String {
    let venv = workspace().join(".tools/python/bin/python");
    let python = if venv.is_file() {
        venv.to_string_lossy().into_owned()
    } else {
        "python3".to_owned()
    };
    format!("{python:?}")
}

/// Writes `module` as `energy_module.py` and a system file with `config` (plus the
/// interpreter) beside it, and loads it.
fn load(dir: &Path, module: &str, config: &str) -> boltzflow::Result<System> {
    std::fs::write(dir.join("energy_module.py"), module).unwrap();
    let file = dir.join("system.ron");
    std::fs::write(
        &file,
        format!(
            "System(plugin: \"python\", config: (file: \"energy_module.py\", python: {}{config}))",
            python()
        ),
    )
    .unwrap();
    load_system(&file).map(|(_, system)| system)
}

#[test]
fn a_numpy_energy_is_a_system() {
    let dir = tempfile::tempdir().unwrap();
    let system = load(dir.path(), MODULE, ", dim: 3, scale: 2.0").unwrap();
    assert_eq!(system.dim(), 3);
    assert_eq!(system.metadata().system, "scaled normal");
    assert_eq!(system.metadata().temperature_kelvin, Some(300.0));
    assert_eq!(system.provenance().0, "python:energy_module.py");
    let x = [1.0, 2.0, 3.0, 11.0, 0.0, 0.0, -0.5, 0.0, 0.25];
    let eval = system.evaluate(&x, true).unwrap();
    assert_eq!(eval.u[0], 14.0);
    assert!(eval.u[1].is_nan());
    assert_eq!(eval.u[2], 0.5 * 2.0 * (0.25 + 0.0625));
    assert_eq!(eval.n_nonfinite, 1);
    let grad = eval.grad.unwrap();
    assert_eq!(grad, x.map(|v| 2.0 * v));
    assert_eq!(system.evaluate(&x, false).unwrap().grad, None);
    assert!(!system.has_exact_sampler());

    // An exception is an error with its last traceback line; the worker goes on.
    let err = system
        .evaluate(&[101.0, 0.0, 0.0], false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "plugin 'python:energy_module.py' failed in energy: ValueError: x0 is beyond 100"
        ),
        "{err}"
    );
    assert_eq!(system.evaluate(&[0.0, 0.0, 2.0], false).unwrap().u, [4.0]);
}

#[test]
fn modules_that_break_the_interface_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (MODULE, "", "KeyError: 'dim'"),
        (
            "DIM = 0\ndef energy(x):\n    return x, x\n",
            "",
            "must define DIM",
        ),
        ("DIM = 2\n", "", "has no function `energy`"),
        (
            "DIM = 2\ndef f(x):\n    return x, x\n",
            ", function: \"g\"",
            "no function `g`",
        ),
        ("import nonexistent_module_xyz\n", "", "ModuleNotFoundError"),
        (
            "DIM = 2\ndef metadata():\n    return {\"system\": \"m\", \"colour\": 1}\n\
             def energy(x):\n    return x, x\n",
            "",
            "unknown field `colour`",
        ),
    ];
    for (module, config, expected) in cases {
        let err = load(dir.path(), module, config).unwrap_err().to_string();
        assert!(
            err.contains("could not start in its own process") && err.contains(expected),
            "{expected}: {err}"
        );
    }
    let shapes =
        "DIM = 2\nimport numpy as np\ndef energy(x):\n    return np.zeros(len(x) + 1), x\n";
    let err = load(dir.path(), shapes, "")
        .unwrap()
        .evaluate(&[0.0, 0.0], false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("u has shape (2,); expected (1,)"), "{err}");

    std::fs::write(
        dir.path().join("missing.ron"),
        "System(plugin: \"python\", config: (file: \"nope.py\", python: \"/nonexistent/python\"))",
    )
    .unwrap();
    let err = load_system(&dir.path().join("missing.ron"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("could not run /nonexistent/python"), "{err}");
    std::fs::write(
        dir.path().join("nofile.ron"),
        format!("System(plugin: \"python\", config: (python: {}))", python()),
    )
    .unwrap();
    let err = load_system(&dir.path().join("nofile.ron"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`file` is missing"), "{err}");
}
