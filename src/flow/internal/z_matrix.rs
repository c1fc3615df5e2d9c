//! Z-matrices: which atoms define each atom's bond length, bond angle and dihedral.

use serde::{Deserialize, Serialize};

/// One row of a Z-matrix: `atom` is placed at the bond length |atom − bond|, the bond angle
/// atom–bond–angle and the dihedral atom–bond–angle–dihedral, from three atoms placed before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZRow {
    /// The atom this row places.
    pub atom: usize,
    /// Its bond partner.
    pub bond: usize,
    /// The third atom of its bond angle (vertex: `bond`).
    pub angle: usize,
    /// The fourth atom of its dihedral.
    pub dihedral: usize,
}

impl ZRow {
    /// The row as `[atom, bond, angle, dihedral]`.
    pub fn atoms(&self) -> [usize; 4] {
        [self.atom, self.bond, self.angle, self.dihedral]
    }
}

/// A Z-matrix over the atoms `0..n`: three frame atoms that fix position and orientation, then
/// one row per other atom. Rows may come in any order as long as no atom depends on itself
/// through its partners; atoms are placed in a topological order.
///
/// The internal coordinates it defines (3n − 6 of them) are laid out as
/// `[|x_axis − origin|, |plane − origin|, angle x_axis–origin–plane]` followed by
/// `(bond length, bond angle, dihedral)` of each row in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZMatrix {
    /// `[origin, x_axis, plane]`: in Cartesian space the origin atom sits at (0, 0, 0), the
    /// x-axis atom on +x and the plane atom in the xy-plane with y > 0.
    pub frame: [usize; 3],
    /// The other atoms, in the order of their internal coordinates.
    pub rows: Vec<ZRow>,
}

/// Number of internal coordinates of the frame atoms.
pub(super) const FRAME_OUTPUTS: usize = 3;

/// Index of the first internal coordinate (the bond length) of row `k`; its bond angle and
/// dihedral follow.
pub(super) fn row_output(k: usize) -> usize {
    FRAME_OUTPUTS + 3 * k
}

impl ZMatrix {
    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.rows.len() + 3
    }

    /// Number of internal coordinates, 3n − 6.
    pub fn dim(&self) -> usize {
        FRAME_OUTPUTS + 3 * self.rows.len()
    }

    /// Index of the internal coordinate that is the dihedral a–b–c–d (in either direction), if
    /// a row defines it.
    pub fn dihedral_output(&self, atoms: [usize; 4]) -> Option<usize> {
        let mut reversed = atoms;
        reversed.reverse();
        self.rows
            .iter()
            .position(|row| row.atoms() == atoms || row.atoms() == reversed)
            .map(|k| row_output(k) + 2)
    }

    /// Checks that every atom `0..n` appears exactly once and that every row refers to three
    /// distinct other atoms, none of which depends on it in turn.
    pub fn validate(&self) -> crate::Result<()> {
        self.placement_order().map(drop)
    }

    /// The rows (indices) in an order that places every atom after its partners: the listed
    /// order where that works (boltzgen's topological sort). Fails on an invalid Z-matrix.
    pub(super) fn placement_order(&self) -> crate::Result<Vec<usize>> {
        let n = self.n_atoms();
        let invalid = |message: String| Err(crate::Error::InvalidArgument(message));
        let mut seen = vec![false; n];
        for &atom in &self.frame {
            if atom >= n {
                return invalid(format!(
                    "Z-matrix frame atom {atom} is out of range: a Z-matrix with {} rows has \
                     {n} atoms, numbered 0..{n}",
                    self.rows.len()
                ));
            }
            if seen[atom] {
                return invalid(format!(
                    "the Z-matrix frame {:?} names atom {atom} twice; it needs three distinct atoms",
                    self.frame
                ));
            }
            seen[atom] = true;
        }
        for row in &self.rows {
            let [atom, bond, angle, dihedral] = row.atoms();
            if let Some(a) = row.atoms().into_iter().find(|&a| a >= n) {
                return invalid(format!(
                    "Z-matrix row for atom {atom}: atom {a} is out of range, the Z-matrix has {n} \
                     atoms (numbered 0..{n}); give one row per atom that is not in the frame"
                ));
            }
            if seen[atom] {
                return invalid(format!(
                    "atom {atom} is placed twice by the Z-matrix (in the frame or another row); \
                     every atom needs exactly one place"
                ));
            }
            seen[atom] = true;
            let atoms = row.atoms();
            if (0..4).any(|i| atoms[i + 1..].contains(&atoms[i])) {
                return invalid(format!(
                    "Z-matrix row for atom {atom}: it and its partners [{bond}, {angle}, \
                     {dihedral}] must be four distinct atoms"
                ));
            }
        }
        // Every atom appears exactly once, so every partner is placed by the frame or a row;
        // place rows whose partners are placed until none is left.
        let mut placed = vec![false; n];
        for &atom in &self.frame {
            placed[atom] = true;
        }
        let mut order = Vec::with_capacity(self.rows.len());
        let mut waiting: Vec<usize> = (0..self.rows.len()).collect();
        while !waiting.is_empty() {
            let before = waiting.len();
            waiting.retain(|&k| {
                let [atom, partners @ ..] = self.rows[k].atoms();
                let ready = partners.iter().all(|&p| placed[p]);
                if ready {
                    placed[atom] = true;
                    order.push(k);
                }
                !ready
            });
            if waiting.len() == before {
                let atoms: Vec<usize> = waiting.iter().map(|&k| self.rows[k].atom).collect();
                return invalid(format!(
                    "the Z-matrix rows for atoms {atoms:?} refer to each other in a cycle; every \
                     row's partners must be placeable before it"
                ));
            }
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(atom: usize, bond: usize, angle: usize, dihedral: usize) -> ZRow {
        ZRow {
            atom,
            bond,
            angle,
            dihedral,
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let good = ZMatrix {
            frame: [1, 0, 2],
            rows: vec![row(3, 2, 1, 0), row(4, 3, 2, 1)],
        };
        assert!(good.validate().is_ok());
        let reversed = ZMatrix {
            frame: [1, 0, 2],
            rows: vec![row(4, 3, 2, 1), row(3, 2, 1, 0)],
        };
        assert_eq!(reversed.placement_order().unwrap(), vec![1, 0]);
        assert_eq!(good.dim(), 9);
        assert_eq!(good.dihedral_output([1, 2, 3, 4]), Some(8));
        assert_eq!(good.dihedral_output([0, 1, 2, 3]), Some(5));
        assert_eq!(good.dihedral_output([0, 1, 2, 4]), None);

        let cases = [
            (
                ZMatrix {
                    frame: [1, 0, 1],
                    rows: vec![row(2, 1, 0, 2)],
                },
                "twice",
            ),
            (
                ZMatrix {
                    frame: [1, 0, 2],
                    rows: vec![row(3, 4, 1, 0), row(4, 3, 1, 0)],
                },
                "atoms [3, 4] refer to each other in a cycle",
            ),
            (
                ZMatrix {
                    frame: [1, 0, 2],
                    rows: vec![row(3, 2, 1, 0), row(3, 2, 1, 0)],
                },
                "placed twice",
            ),
            (
                ZMatrix {
                    frame: [1, 0, 2],
                    rows: vec![row(3, 2, 1, 3)],
                },
                "four distinct atoms",
            ),
            (
                ZMatrix {
                    frame: [1, 0, 7],
                    rows: vec![row(3, 2, 1, 0)],
                },
                "out of range",
            ),
        ];
        for (z_matrix, expected) in cases {
            let message = z_matrix.validate().unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
    }
}
