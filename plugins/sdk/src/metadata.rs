//! What a plugin says about its system: a name, parameters and, for molecules, the topology.
//!
//! Metadata crosses the C ABI as a JSON document; these types define that document.

use serde::{Deserialize, Serialize};

/// Description of an energy's system, reported by a plugin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Human-readable name of the system, for example `"GMM-40"`.
    pub system: String,
    /// One line on what the energy is.
    #[serde(default)]
    pub description: String,
    /// Temperature in kelvin, when the reduced energy comes from a physical one (u = E/k_BT).
    #[serde(default)]
    pub temperature_kelvin: Option<f64>,
    /// Unit of the physical energy E, when there is one (for example `"kJ/mol"`).
    #[serde(default)]
    pub energy_unit: Option<String>,
    /// The plugin's resolved parameters (a JSON object), recorded in every output for reproducibility.
    #[serde(default)]
    pub parameters: serde_json::Value,
    /// Molecular topology, for molecular systems (positions are then atoms × 3, in nm).
    #[serde(default)]
    pub molecule: Option<Molecule>,
}

impl Metadata {
    /// Metadata with only a system name.
    pub fn new(system: impl Into<String>) -> Self {
        Metadata {
            system: system.into(),
            ..Default::default()
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the resolved parameters, from anything that serialises to JSON.
    pub fn with_parameters(mut self, parameters: impl Serialize) -> Self {
        self.parameters = serde_json::to_value(parameters).unwrap_or(serde_json::Value::Null);
        self
    }
}

/// Topology of a molecule: its atoms, bonds and named dihedral angles.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Molecule {
    /// Atoms in the order of the position array.
    pub atoms: Vec<Atom>,
    /// Covalent bonds as pairs of atom indices.
    #[serde(default)]
    pub bonds: Vec<[usize; 2]>,
    /// Named dihedral angles, for example φ and ψ of a peptide.
    #[serde(default)]
    pub dihedrals: Vec<Dihedral>,
}

/// One atom of a molecule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Atom {
    /// Atom name as in the topology (for example `"CA"`).
    pub name: String,
    /// Element symbol (for example `"C"`).
    pub element: String,
    /// Mass in dalton (g/mol).
    pub mass: f64,
    /// Residue name (for example `"ALA"`).
    #[serde(default)]
    pub residue: String,
    /// Residue index, from 0.
    #[serde(default)]
    pub residue_index: usize,
}

/// A named dihedral angle over four atoms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dihedral {
    /// Name, for example `"phi"`.
    pub name: String,
    /// The four atom indices, in order.
    pub atoms: [usize; 4],
}
