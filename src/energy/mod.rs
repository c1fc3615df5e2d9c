//! The host side of energy plugins: finding and loading them, creating systems (of plugins,
//! λ-states, or energies computed in-process), and evaluating energies in parallel batches.

mod batch;
mod library;
mod plugin_system;
mod search;
mod source;
mod system;
pub mod worker;

pub use batch::Evaluation;
pub use library::PluginLibrary;
pub use search::{PLUGIN_PATH_VAR, discover_plugins, resolve_plugin, search_dirs};
pub use source::{Angles, EnergySource};
pub use system::System;

pub use boltzflow_plugin::BOLTZMANN;
