//! `HarmonicBondForce`: E = ½ k (r − r₀)².

use super::{PairTable, Workspace};
use crate::xml::ForceXml;

/// Harmonic bonds, each on one entry of the pair table.
#[derive(Clone, Debug)]
pub struct Bonds {
    /// (pair index, r₀ in nm, k in kJ/mol/nm²).
    bonds: Vec<(usize, f64, f64)>,
    /// The bonded atom pairs, for the topology.
    atoms: Vec<[usize; 2]>,
}

impl Bonds {
    /// Reads the `<Bonds>` of a `HarmonicBondForce` element.
    pub fn from_xml(force: &ForceXml, n: usize, pairs: &PairTable) -> Result<Self, String> {
        let mut bonds = Vec::new();
        let mut atoms = Vec::new();
        for (b, e) in force.element.list("Bonds").iter().enumerate() {
            let context = format!("{} bond {b}", force.name);
            let i = e.particle("p1", n, &context)?;
            let j = e.particle("p2", n, &context)?;
            if i == j {
                return Err(format!("{context}: bonds atom {i} to itself"));
            }
            bonds.push((
                pairs.index(i, j),
                e.f64("d", &context)?,
                e.f64("k", &context)?,
            ));
            atoms.push([i.min(j), i.max(j)]);
        }
        Ok(Bonds { bonds, atoms })
    }

    /// The bonded atom pairs `[i, j]`, `i < j`.
    pub fn atom_pairs(&self) -> &[[usize; 2]] {
        &self.atoms
    }

    /// Adds the energy and dE/dr of every bond.
    #[inline(always)]
    pub fn accumulate(&self, ws: &mut Workspace) -> f64 {
        let mut energy = 0.0;
        for &(p, r0, k) in &self.bonds {
            let dr = ws.r[p] - r0;
            energy += 0.5 * k * dr * dr;
            ws.de_dr[p] += k * dr;
        }
        energy
    }
}
