//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses a different subset

use boltzflow::config::load_system;
use boltzflow::energy::System;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// burn's random generator is process-wide, and parameters are initialised lazily from it: two
/// trainers running at once in one process would draw from each other's stream. Tests that
/// train hold this guard, so that they train one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The guard of [`ONE_AT_A_TIME`] (a test that panicked while holding it does not poison it).
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The workspace root.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles the example C plugin into `dir/lib<name>.so` with extra `-D` defines.
pub fn build_c_plugin(dir: &Path, name: &str, defines: &[&str]) -> PathBuf {
    let out = dir.join(format!("lib{name}.so"));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Werror"])
        .arg("-I")
        .arg(workspace().join("plugins/sdk/include"))
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg(workspace().join("examples/c-plugin/harmonic.c"))
        .arg("-o")
        .arg(&out)
        .arg("-lm")
        .status()
        .expect("a C compiler `cc` is needed to build the example C plugin");
    assert!(status.success(), "compiling the C plugin failed");
    out
}

/// Writes a system file `dir/<file>` naming `plugin` with the RON `config`.
pub fn write_system(dir: &Path, file: &str, plugin: &str, config: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!("System(\n    plugin: {plugin:?},\n    config: {config},\n)\n"),
    )
    .unwrap();
    path
}

/// Writes `dir/train.ron`, a training run on GMM-4 (examples/systems/gmm4.ron) whose other
/// fields (flow, seed, steps, batch size, objectives, ...) are `fields`.
pub fn gmm4_train_config(dir: &Path, fields: &str) -> PathBuf {
    let system = workspace().join("examples/systems/gmm4.ron");
    let path = dir.join("train.ron");
    std::fs::write(&path, format!("Train(system: {system:?}, {fields})")).unwrap();
    path
}

/// Loads a system from a freshly written system file.
pub fn system(dir: &Path, plugin: &str, config: &str) -> boltzflow::Result<System> {
    load_system(&write_system(dir, "system.ron", plugin, config)).map(|(_, s)| s)
}

/// Runs the `boltzflow` binary with `args`.
///
/// HDF5's file locks are off in the child: tests run in parallel threads, and a child started
/// by one test inherits whatever HDF5 files another test has open at that moment (with their
/// locks), which would make a third process's open fail at random.
pub fn boltzflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boltzflow"))
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap()
}

/// Runs the binary and asserts success; returns stdout.
pub fn boltzflow_ok(args: &[&str]) -> String {
    let out = boltzflow(args);
    assert!(
        out.status.success(),
        "boltzflow {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the binary, asserts failure, and returns stderr.
pub fn boltzflow_err(args: &[&str]) -> String {
    let out = boltzflow(args);
    assert!(
        !out.status.success(),
        "boltzflow {args:?} should have failed"
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Writes an HDF5 file with one f64 dataset.
pub fn write_h5(path: &Path, name: &str, data: &[f64], shape: &[usize]) {
    let file = hdf5::File::create(path).unwrap();
    let view = ndarray::ArrayViewD::from_shape(ndarray::IxDyn(shape), data).unwrap();
    file.new_dataset_builder()
        .with_data(&view)
        .create(name)
        .unwrap();
}

/// Reads an f64 dataset and its shape.
pub fn read_h5(path: &Path, name: &str) -> (Vec<f64>, Vec<usize>) {
    let file = hdf5::File::open(path).unwrap();
    let ds = file.dataset(name).unwrap();
    (ds.read_raw().unwrap(), ds.shape())
}

/// Reads a scalar f64 attribute of a group ("/" for the root).
pub fn read_attr(path: &Path, group: &str, name: &str) -> f64 {
    read_attr_as(path, group, name)
}

/// Reads a scalar attribute of a group ("/" for the root) as `T`.
pub fn read_attr_as<T: hdf5::H5Type>(path: &Path, group: &str, name: &str) -> T {
    let file = hdf5::File::open(path).unwrap();
    file.group(group)
        .unwrap()
        .attr(name)
        .unwrap()
        .read_scalar::<T>()
        .unwrap()
}
