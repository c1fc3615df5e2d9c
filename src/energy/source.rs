//! Energies computed by boltzflow itself rather than by a plugin instance.

use crate::Result;
use boltzflow_plugin::Metadata;

/// An energy that a [`super::System`] evaluates in-process without a plugin: a learned energy
/// model (`System(learned: "RUN_DIR")`). Every system, whatever its source, goes through the
/// same batched, checked evaluation.
pub trait EnergySource: Send + Sync + std::fmt::Debug {
    /// What computes it and its version, recorded in outputs where a plugin's name and version
    /// would be.
    fn provenance(&self) -> (String, String);

    /// Its metadata.
    fn metadata(&self) -> &Metadata;

    /// Number of coordinates of one point.
    fn dim(&self) -> usize;

    /// The reduced energies of a contiguous batch (`x`: `u.len() × dim` values) and, if `grad`
    /// is given, their gradients. Non-finite values are left for the caller to count.
    fn energy_raw(&self, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) -> Result<()>;
}
