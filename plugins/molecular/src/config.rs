//! The plugin's configuration, as written in a system file.

use serde::Deserialize;
use std::path::PathBuf;

/// Configuration of the `molecular` plugin.
///
/// ```ron
/// System(
///     plugin: "molecular",
///     config: (xml: "system.xml", pdb: "topology.pdb", temperature_kelvin: 300.0),
/// )
/// ```
///
/// Relative paths are relative to the system file's folder.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The OpenMM System, serialised with `openmm.XmlSerializer`.
    pub xml: PathBuf,
    /// A PDB file with the topology (atom names, residues, elements), in the System's atom order.
    pub pdb: PathBuf,
    /// Temperature T in kelvin: the plugin returns u = E/(k_B T).
    pub temperature_kelvin: f64,
    /// Name of the system in the metadata (default: the XML file's name).
    #[serde(default)]
    pub name: Option<String>,
    /// Evaluate only the forces with these names (OpenMM's `Force.getName()`, by default the
    /// force's type, e.g. `"NonbondedForce"`), like OpenMM's force groups. Default: all.
    #[serde(default)]
    pub forces: Option<Vec<String>>,
}
