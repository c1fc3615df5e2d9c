//! `boltzflow plugins`: the plugins on the search path.

use crate::Result;
use crate::energy::{discover_plugins, search_dirs};

/// Lists the plugins found, with versions and files; warns about libraries that failed to load.
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
    for failure in failures {
        eprintln!("warning: {failure}");
    }
    Ok(())
}
