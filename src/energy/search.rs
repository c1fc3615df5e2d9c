//! Where plugins are looked for: by path, or by name on a search path.

use super::PluginLibrary;
use crate::{Error, Result};
use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};

/// Environment variable with extra plugin folders, separated like `PATH`. Searched first.
pub const PLUGIN_PATH_VAR: &str = "BOLTZFLOW_PLUGIN_PATH";

/// The folders searched for plugins by name, in order: those in [`PLUGIN_PATH_VAR`], the folder
/// of the running program (where `cargo build` puts the workspace plugins next to the
/// `boltzflow` binary; for test and bench programs, the folder above `deps/`), and this
/// workspace's `target/release` and `target/debug`.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_VAR)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        if exe_dir.file_name().is_some_and(|n| n == "deps") {
            dirs.extend(exe_dir.parent().map(Path::to_owned));
        }
        dirs.push(exe_dir);
    }
    let workspace_target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    dirs.push(workspace_target.join("release"));
    dirs.push(workspace_target.join("debug"));
    let mut unique = Vec::new();
    for dir in dirs {
        if !unique.contains(&dir) {
            unique.push(dir);
        }
    }
    unique
}

/// Finds a plugin library.
///
/// `spec` is either a path to a library (it contains a path separator or ends in the platform's
/// library suffix), taken relative to `base_dir` when relative, or a plugin name such as
/// `gaussian-mixture`, looked up in [`search_dirs`] as `libboltzflow_gaussian_mixture.so`, then
/// `libgaussian_mixture.so` (on Linux).
pub fn resolve_plugin(spec: &str, base_dir: Option<&Path>) -> Result<PathBuf> {
    if looks_like_path(spec) {
        let path = Path::new(spec);
        return Ok(match base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path.to_owned(),
        });
    }
    let dirs = search_dirs();
    let stem = spec.replace('-', "_");
    let candidates = [
        format!("{DLL_PREFIX}boltzflow_{stem}{DLL_SUFFIX}"),
        format!("{DLL_PREFIX}{stem}{DLL_SUFFIX}"),
    ];
    dirs.iter()
        .flat_map(|dir| candidates.iter().map(move |file| dir.join(file)))
        .find(|path| path.is_file())
        .ok_or(Error::PluginNotFound {
            name: spec.to_owned(),
            searched: dirs,
        })
}

fn looks_like_path(spec: &str) -> bool {
    spec.contains(std::path::MAIN_SEPARATOR) || spec.contains('/') || spec.ends_with(DLL_SUFFIX)
}

/// Every plugin found in [`search_dirs`], first occurrence of each name only, in search order.
///
/// Libraries in those folders that are not boltzflow plugins are skipped; other load failures are
/// returned next to the plugins so that a broken plugin is visible.
pub fn discover_plugins() -> (Vec<PluginLibrary>, Vec<Error>) {
    let mut found: Vec<PluginLibrary> = Vec::new();
    let mut failures = Vec::new();
    for dir in search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.to_string_lossy().ends_with(DLL_SUFFIX))
            .collect();
        files.sort();
        for file in files {
            match PluginLibrary::open(&file) {
                Ok(lib) if found.iter().any(|f| f.name() == lib.name()) => {}
                Ok(lib) => found.push(lib),
                Err(Error::EntrySymbolMissing { .. }) => {}
                Err(e) => failures.push(e),
            }
        }
    }
    (found, failures)
}
