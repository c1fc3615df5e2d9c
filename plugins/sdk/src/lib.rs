//! SDK for boltzflow energy plugins.
//!
//! A plugin is a dynamic library (`cdylib`) that gives boltzflow a *reduced* energy
//! u(x) = E(x)/k_BT and its gradient, in f64, over batches of points. This crate holds the three
//! pieces a plugin author needs:
//!
//! - the [`Energy`] trait, which a Rust plugin implements;
//! - the versioned C ABI ([`ffi`]), which the host loads and which a C or C++ plugin fills by hand
//!   (header: `plugins/sdk/include/boltzflow_plugin.h`);
//! - the [`export_plugin!`] macro, which turns an [`Energy`] implementation into that ABI and
//!   catches every panic at the boundary.
//!
//! # A complete plugin
//!
//! ```
//! use boltzflow_plugin::{export_plugin, parse_config, Context, Energy, Metadata, PluginError};
//! use serde::Deserialize;
//!
//! /// u(x) = ½ k |x|², an isotropic harmonic well.
//! struct Harmonic { dim: usize, k: f64 }
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { dim: usize, k: f64 }
//!
//! impl Energy for Harmonic {
//!     fn from_config(text: &str, _context: &Context) -> Result<Self, PluginError> {
//!         let c: Config = parse_config(text)?;
//!         if c.k <= 0.0 { return Err(PluginError::new("k must be positive")); }
//!         Ok(Harmonic { dim: c.dim, k: c.k })
//!     }
//!     fn dim(&self) -> usize { self.dim }
//!     fn metadata(&self) -> Metadata { Metadata::new("harmonic well") }
//!     fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
//!         if let Some(g) = grad {
//!             for (g, xi) in g.iter_mut().zip(x) { *g = self.k * xi; }
//!         }
//!         0.5 * self.k * x.iter().map(|v| v * v).sum::<f64>()
//!     }
//!     fn log_z(&self) -> Option<f64> {
//!         Some(0.5 * self.dim as f64 * (2.0 * std::f64::consts::PI / self.k).ln())
//!     }
//! }
//!
//! export_plugin!(Harmonic, "harmonic");
//! # fn main() {}
//! ```

mod config;
mod energy;
pub mod export;
pub mod fastmath;
pub mod ffi;
mod metadata;

pub use config::parse_config;
pub use energy::{Context, Energy, PluginError};
pub use metadata::{Atom, Dihedral, Metadata, Molecule};

/// The Boltzmann constant in kJ/mol/K that boltzflow and its plugins use for u = E/(k_B T):
/// one value everywhere, so that k_B T · u gives back a plugin's energy exactly. (CODATA 2018's
/// 0.00831446261815324 differs by 2·10⁻⁹ relative.)
pub const BOLTZMANN: f64 = 0.008_314_462_6;
