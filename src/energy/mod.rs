//! The host side of energy plugins: finding and loading them, creating systems, and evaluating
//! energies in parallel batches.

mod batch;
mod library;
mod search;
mod system;

pub use batch::Evaluation;
pub use library::PluginLibrary;
pub use search::{PLUGIN_PATH_VAR, discover_plugins, resolve_plugin, search_dirs};
pub use system::System;

/// Boltzmann constant in kJ/mol/K, as the plugins use it (DESIGN.md: u = E/(k_B T) with this
/// k_B), so that k_B T · u gives back their energies exactly. CODATA's 0.00831446261815324
/// differs by 2e-9 relative.
pub const BOLTZMANN: f64 = 0.008_314_462_6;
