//! FAB's internal coordinates of alanine dipeptide (Midgley et al. 2023, after boltzgen).
//!
//! Atoms 0..21: H1 CH3 H2 H3 C O (acetyl), N H CA HA CB HB1 HB2 HB3 C O (alanine), N H C H1 H2
//! H3 (N-methyl).

use super::{InternalCoordinatesConfig, NormalisationScales, ZMatrix, ZRow};

/// The backbone dihedral φ = C(ACE)–N–CA–C.
pub const ALDP_PHI: [usize; 4] = [4, 6, 8, 14];
/// The backbone dihedral ψ = N–CA–C–N(NME).
pub const ALDP_PSI: [usize; 4] = [6, 8, 14, 16];

/// The internal coordinates that a rotation about N–CA changes together: φ (output 17) and the
/// dihedrals of HA and CB (outputs 26 and 29), which FAB's Z-matrix places relative to the
/// acetyl C. Adding one angle to all three rotates the acetyl side rigidly and keeps CA's
/// chirality: a torsion-jump group for AIS (`torsion_jumps` in `AisConfig`).
pub const ALDP_PHI_ROTATION: [usize; 3] = [17, 26, 29];
/// The internal coordinate that a rotation about CA–C changes: ψ (output 44).
pub const ALDP_PSI_ROTATION: [usize; 1] = [44];

/// FAB's Z-matrix rows `[atom, bond, angle, dihedral]`, in placement order.
const ROWS: [[usize; 4]; 19] = [
    [0, 1, 4, 6],
    [1, 4, 6, 8],
    [2, 1, 4, 0],
    [3, 1, 4, 0],
    [4, 6, 8, 14],
    [5, 4, 6, 8],
    [7, 6, 8, 4],
    [9, 8, 6, 4],
    [10, 8, 6, 4],
    [11, 10, 8, 6],
    [12, 10, 8, 11],
    [13, 10, 8, 11],
    [15, 14, 8, 16],
    [16, 14, 8, 6],
    [17, 16, 14, 15],
    [18, 16, 14, 8],
    [19, 18, 16, 14],
    [20, 18, 16, 19],
    [21, 18, 16, 19],
];

/// Atoms whose dihedral FAB models as circular (its `ind_circ_dih`, translated from boltzgen's
/// topologically sorted order to atoms): the torsions, φ and ψ among them.
const CIRCULAR_ATOMS: [usize; 12] = [0, 1, 4, 5, 7, 9, 10, 11, 16, 17, 18, 19];

impl ZMatrix {
    /// FAB's Z-matrix of alanine dipeptide: CA (8) at the origin, N (6) on +x, C (14) in the
    /// xy-plane, then 19 rows.
    pub fn alanine_dipeptide() -> ZMatrix {
        ZMatrix {
            frame: [8, 6, 14],
            rows: ROWS
                .iter()
                .map(|&[atom, bond, angle, dihedral]| ZRow {
                    atom,
                    bond,
                    angle,
                    dihedral,
                })
                .collect(),
        }
    }
}

impl InternalCoordinatesConfig {
    /// FAB's 60 internal coordinates of alanine dipeptide, normalised against `reference` (66
    /// values, nm; FAB uses the minimum-energy structure,
    /// `data/alanine_dipeptide/aldp_min_energy.csv`): bonds by 0.005 nm, angles by 0.15 rad, 7
    /// dihedrals by 0.2 rad and 12 circular ones unscaled.
    pub fn alanine_dipeptide(reference: Vec<f64>) -> crate::Result<Self> {
        let z_matrix = ZMatrix::alanine_dipeptide();
        let circular = z_matrix
            .rows
            .iter()
            .map(|row| CIRCULAR_ATOMS.contains(&row.atom))
            .collect();
        let config = InternalCoordinatesConfig {
            z_matrix,
            reference,
            circular,
            scales: NormalisationScales::default(),
        };
        config.validate()?;
        Ok(config)
    }
}
