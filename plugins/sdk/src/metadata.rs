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
    /// Names of the coordinates when each is an angle in radians (periodic, 2π), for example
    /// `["phi", "psi"]`; analyses then read the angles straight from the coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub angles: Option<Vec<String>>,
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

    /// Checks that the metadata fits a system of `dim` coordinates: a molecule's atoms give
    /// 3 coordinates each, its bonds and dihedrals name atoms it has, and angle names are one
    /// per coordinate, distinct, and usable as HDF5 names.
    pub fn check(&self, dim: usize) -> Result<(), String> {
        if let Some(molecule) = &self.molecule {
            let atoms = molecule.atoms.len();
            if 3 * atoms != dim {
                return Err(format!(
                    "the molecule has {atoms} atoms ({} coordinates) but the system has {dim}",
                    3 * atoms
                ));
            }
            let bad_bond = molecule
                .bonds
                .iter()
                .find(|b| b.iter().any(|&a| a >= atoms));
            if let Some(bond) = bad_bond {
                return Err(format!(
                    "bond {bond:?} names an atom beyond the {atoms} atoms"
                ));
            }
            let bad_dihedral = molecule
                .dihedrals
                .iter()
                .find(|d| d.atoms.iter().any(|&a| a >= atoms));
            if let Some(d) = bad_dihedral {
                return Err(format!(
                    "dihedral {} {:?} names an atom beyond the {atoms} atoms",
                    d.name, d.atoms
                ));
            }
        }
        if let Some(angles) = &self.angles {
            if angles.len() != dim {
                return Err(format!(
                    "{} angle names for a system of {dim} coordinates; give one per coordinate",
                    angles.len()
                ));
            }
            for (i, name) in angles.iter().enumerate() {
                if name.is_empty() || name.contains('/') || name.starts_with('.') {
                    return Err(format!(
                        "'{name}' cannot name an angle: use a non-empty name without '/'"
                    ));
                }
                if angles[..i].contains(name) {
                    return Err(format!("the angle name '{name}' appears twice"));
                }
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn molecule(atoms: usize, bonds: Vec<[usize; 2]>, dihedral: [usize; 4]) -> Molecule {
        Molecule {
            atoms: vec![Atom::default(); atoms],
            bonds,
            dihedrals: vec![Dihedral {
                name: "phi".into(),
                atoms: dihedral,
            }],
        }
    }

    #[test]
    fn metadata_is_checked_against_the_dimension() {
        let mut m = Metadata::new("m");
        m.molecule = Some(molecule(4, vec![[0, 1]], [0, 1, 2, 3]));
        assert_eq!(m.check(12), Ok(()));
        let err = m.check(13).unwrap_err();
        assert!(
            err.contains("4 atoms (12 coordinates)") && err.contains("13"),
            "{err}"
        );
        m.molecule = Some(molecule(4, vec![[0, 4]], [0, 1, 2, 3]));
        assert!(m.check(12).unwrap_err().contains("bond [0, 4]"));
        m.molecule = Some(molecule(4, vec![], [0, 1, 2, 7]));
        assert!(m.check(12).unwrap_err().contains("dihedral phi"));

        let mut a = Metadata::new("a");
        a.angles = Some(vec!["phi".into(), "psi".into()]);
        assert_eq!(a.check(2), Ok(()));
        assert!(a.check(3).unwrap_err().contains("2 angle names"));
        a.angles = Some(vec!["phi".into(), "phi".into()]);
        assert!(a.check(2).unwrap_err().contains("appears twice"));
        a.angles = Some(vec!["a/b".into()]);
        assert!(a.check(1).unwrap_err().contains("cannot name an angle"));
    }
}
