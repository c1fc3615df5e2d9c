//! The `python` plugin: an energy written in Python, evaluated by the user's own interpreter in
//! a worker process.
//!
//! ```ron
//! System(plugin: "python", config: (file: "my_energy.py", function: "energy", scale: 2.0))
//! ```
//!
//! The module (`file`, relative to the system file) defines `DIM` and `energy(x)`: x is an
//! (n, DIM) float64 NumPy array, the result `(u, grad)` with u of shape (n,) and grad of shape
//! (n, DIM), in reduced units. Optionally `setup(config)`, called first with every other key
//! of `config` as a dict (here `{"scale": 2.0}`; it may set `DIM`), and `metadata()`, a dict in
//! the plugin metadata's JSON shape. The worker runs in the system file's folder. `function`
//! defaults to `energy`; `python` names the interpreter (default: `$BOLTZFLOW_PYTHON`, else
//! `python3`), so that a virtual environment's packages (NumPy, OpenMM, PyTorch) are there.
//!
//! Why a worker process rather than an embedded interpreter (PyO3): the user's interpreter
//! and environment are used as they are, with nothing to link at build time (a fresh machine
//! builds boltzflow without Python headers); a crash in native code under Python (OpenMM,
//! PyTorch) ends only the worker; and the GIL never serialises boltzflow's own threads. The
//! cost is one copy of each batch each way through shared memory, small next to a Python
//! energy's own time.

use super::WorkerSystem;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The plugin name that selects a Python energy.
pub const PYTHON_PLUGIN: &str = "python";

/// Environment variable naming the default Python interpreter.
pub const PYTHON_VAR: &str = "BOLTZFLOW_PYTHON";

/// The runner script the worker's interpreter executes.
const RUNNER: &str = include_str!("runner.py");

/// Starts a Python worker for the `config` (RON text) of the system file `context`.
pub fn start(config: &str, context: &Path, timeout: Duration) -> Result<WorkerSystem> {
    let config_error = |message: String| Error::Config {
        path: context.to_owned(),
        message: format!("the python plugin's config: {message}"),
    };
    let config: serde_json::Value = crate::config::ron_options()
        .from_str(if config.trim().is_empty() {
            "()"
        } else {
            config
        })
        .map_err(|e| config_error(e.to_string()))?;
    let Some(keys) = config.as_object() else {
        return Err(config_error(
            "write it as (file: \"my_energy.py\", ...)".to_owned(),
        ));
    };
    let text = |key: &str| -> Result<Option<String>> {
        match keys.get(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(config_error(format!(
                "`{key}` must be a string, not {other}"
            ))),
        }
    };
    let file = text("file")?
        .ok_or_else(|| config_error("`file` is missing: name the Python module".to_owned()))?;
    let function = text("function")?.unwrap_or_else(|| "energy".to_owned());
    let base_dir = crate::io::folder_of(context);
    let base_dir = std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_owned());
    let python = interpreter(text("python")?, &base_dir);
    let start = serde_json::json!({
        "file": file,
        "function": function,
        "config": config,
        "base_dir": base_dir,
    });
    let mut command = Command::new(&python);
    command.args(["-c", RUNNER]);
    let label = format!("{PYTHON_PLUGIN}:{file}");
    WorkerSystem::spawn(command, start, &label, timeout)
}

/// The interpreter: the config's `python` (a path relative to the system file's folder, or a
/// name on `PATH`), else `$BOLTZFLOW_PYTHON`, else `python3`.
fn interpreter(configured: Option<String>, base_dir: &Path) -> PathBuf {
    match configured {
        Some(python) => {
            let path = PathBuf::from(python);
            if path.components().count() > 1 && path.is_relative() {
                base_dir.join(path)
            } else {
                path
            }
        }
        None => std::env::var_os(PYTHON_VAR)
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("python3"), PathBuf::from),
    }
}
