//! `boltzflow info`: a system's metadata.

use crate::config::load_system;
use crate::energy::PluginLibrary;
use crate::{Error, Result};
use std::path::PathBuf;

/// Print a system's metadata (and its exact log Z when the plugin knows it).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The system file (RON).
    #[arg(long)]
    pub system: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Prints the system's metadata, as text or JSON.
pub fn run(args: Args) -> Result<()> {
    let (path, json) = (args.system.as_path(), args.json);

    let (file, system) = load_system(path)?;
    let metadata = system.metadata();
    let plugins = system.plugins();
    if json {
        let plugin_json = |p: &&PluginLibrary| serde_json::json!({ "name": p.name(), "version": p.version(), "path": p.path() });
        let mut value = serde_json::json!({
            "system_file": file.path,
            "plugins": plugins.iter().map(plugin_json).collect::<Vec<_>>(),
            "dim": system.dim(),
            "thread_safe": system.is_thread_safe(),
            "exact_sampler": system.has_exact_sampler(),
            "metadata": metadata,
        });
        if let Some(log_z) = system.log_z() {
            value["log_z"] = log_z.into();
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?
        );
        return Ok(());
    }
    println!("system:        {}", metadata.system);
    if !metadata.description.is_empty() {
        println!("description:   {}", metadata.description);
    }
    for library in &plugins {
        println!(
            "plugin:        {} {} ({})",
            library.name(),
            library.version(),
            library.path().display()
        );
    }
    if plugins.is_empty() {
        let (source, version) = system.provenance();
        println!("computed by:   {source} {version}");
    }
    println!("dimension:     {}", system.dim());
    if let Some(t) = metadata.temperature_kelvin {
        println!("temperature:   {t} K");
    }
    if let Some(molecule) = &metadata.molecule {
        println!("atoms:         {}", molecule.atoms.len());
        for d in &molecule.dihedrals {
            println!("dihedral:      {} = {:?}", d.name, d.atoms);
        }
    }
    match system.log_z() {
        Some(log_z) => println!("exact log Z:   {log_z:.12}"),
        None => println!("exact log Z:   unknown"),
    }
    println!(
        "exact sampler: {}",
        if system.has_exact_sampler() {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "thread-safe:   {}",
        if system.is_thread_safe() { "yes" } else { "no" }
    );
    if !metadata.parameters.is_null() {
        println!("parameters:    {}", metadata.parameters);
    }
    Ok(())
}
