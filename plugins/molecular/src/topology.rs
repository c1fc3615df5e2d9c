//! The molecule's description for boltzflow's metadata: atoms, bonds and backbone dihedrals.

use crate::pdb::PdbTopology;
use boltzflow_plugin::{Atom, Dihedral, Molecule};

/// Builds the molecule from the PDB topology, the system's masses (dalton) and bonds. Bonds come
/// from the force field; the PDB's CONECT records are used only when the force field has none.
pub fn molecule(pdb: &PdbTopology, masses: &[f64], force_field_bonds: &[[usize; 2]]) -> Molecule {
    let atoms = pdb
        .atoms
        .iter()
        .zip(masses)
        .map(|(a, &mass)| Atom {
            name: a.name.clone(),
            element: a.element.clone(),
            mass,
            residue: a.residue.clone(),
            residue_index: a.residue_index,
        })
        .collect();
    let bonds = if force_field_bonds.is_empty() {
        pdb.conect.clone()
    } else {
        force_field_bonds.to_vec()
    };
    let dihedrals = backbone_dihedrals(pdb, &bonds);
    Molecule {
        atoms,
        bonds,
        dihedrals,
    }
}

/// The backbone dihedrals φ (C₋₁, N, CA, C) and ψ (N, CA, C, N₊₁) of every residue that has
/// them, where the peptide bond to the neighbouring residue exists. Named `phi` and `psi` when
/// there is one of each (a dipeptide), `phi_<residue>`/`psi_<residue>` otherwise.
pub fn backbone_dihedrals(pdb: &PdbTopology, bonds: &[[usize; 2]]) -> Vec<Dihedral> {
    let find = |residue: usize, name: &str| {
        pdb.atoms
            .iter()
            .position(|a| a.residue_index == residue && a.name == name)
    };
    let bonded = |a: usize, b: usize| bonds.contains(&[a.min(b), a.max(b)]);
    let n_residues = pdb.atoms.last().map_or(0, |a| a.residue_index + 1);
    let mut phi = Vec::new();
    let mut psi = Vec::new();
    for res in 0..n_residues {
        let (Some(n), Some(ca), Some(c)) = (find(res, "N"), find(res, "CA"), find(res, "C")) else {
            continue;
        };
        if let Some(prev_c) = res.checked_sub(1).and_then(|r| find(r, "C"))
            && bonded(prev_c, n)
        {
            phi.push((res, [prev_c, n, ca, c]));
        }
        if let Some(next_n) = find(res + 1, "N")
            && bonded(c, next_n)
        {
            psi.push((res, [n, ca, c, next_n]));
        }
    }
    let single = phi.len() <= 1 && psi.len() <= 1;
    let named = |base: &str, (res, atoms): (usize, [usize; 4])| Dihedral {
        name: if single {
            base.to_owned()
        } else {
            format!("{base}_{res}")
        },
        atoms,
    };
    phi.into_iter()
        .map(|d| named("phi", d))
        .chain(psi.into_iter().map(|d| named("psi", d)))
        .collect()
}
