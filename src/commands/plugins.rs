//! `boltzflow plugins`: the plugins on the search path.

use crate::Result;
use crate::energy::worker::python::PYTHON_PLUGIN;
use crate::energy::{discover_plugins, search_dirs};

/// Lists the plugins found, with versions and files, and the built-in `python` plugin; warns
/// about libraries that failed to load.
pub fn run() -> Result<()> {
    let (plugins, failures) = discover_plugins();
    if plugins.is_empty() {
        println!("no plugins found; searched:");
        for dir in search_dirs() {
            println!("  {}", dir.display());
        }
    }
    for plugin in &plugins {
        println!(
            "{:<20} {:<10} {}",
            plugin.name(),
            plugin.version(),
            plugin.path().display()
        );
    }
    println!(
        "{:<20} {:<10} built in: energies written in Python, run by your interpreter (README)",
        PYTHON_PLUGIN,
        crate::VERSION
    );
    for failure in failures {
        eprintln!("warning: {failure}");
    }
    Ok(())
}
