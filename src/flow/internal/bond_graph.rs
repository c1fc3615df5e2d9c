//! Z-matrices built from a molecule's bond graph, so that any molecule works without a
//! hand-written Z-matrix.

use super::{InternalCoordinatesConfig, NormalisationScales, ZMatrix, ZRow};
use std::cmp::Ordering;
use std::collections::{HashSet, VecDeque};

/// Atoms heavier than this (Da) are heavy atoms; hydrogen isotopes are lighter.
const HEAVY_MASS: f64 = 3.5;

/// A molecule's bond graph, checked to be a single molecule.
struct BondGraph<'a> {
    masses: &'a [f64],
    neighbours: Vec<Vec<usize>>,
}

impl<'a> BondGraph<'a> {
    /// Checks the atoms and bonds and builds neighbour lists.
    fn new(masses: &'a [f64], bonds: &[(usize, usize)]) -> crate::Result<Self> {
        let invalid = |message: String| Err(crate::Error::InvalidArgument(message));
        let n = masses.len();
        if n < 3 {
            return invalid(format!(
                "internal coordinates need a molecule of at least 3 atoms; got {n}"
            ));
        }
        if let Some((atom, mass)) = masses
            .iter()
            .enumerate()
            .find(|(_, m)| !(m.is_finite() && **m > 0.0))
        {
            return invalid(format!(
                "atom {atom} has mass {mass}; masses must be positive (Da)"
            ));
        }
        let mut neighbours = vec![Vec::new(); n];
        for &(a, b) in bonds {
            if a >= n || b >= n {
                return invalid(format!(
                    "bond ({a}, {b}) refers to an atom beyond the {n} atoms given (one mass per atom)"
                ));
            }
            if a == b {
                return invalid(format!("bond ({a}, {b}) joins an atom to itself"));
            }
            for (from, to) in [(a, b), (b, a)] {
                if !neighbours[from].contains(&to) {
                    neighbours[from].push(to);
                }
            }
        }
        let graph = BondGraph { masses, neighbours };
        let reached = graph.distances_from(0);
        let unreached: Vec<usize> = (0..n).filter(|&a| reached[a].is_none()).collect();
        if !unreached.is_empty() {
            return invalid(format!(
                "the bond graph is not connected: atoms {unreached:?} are not bonded, directly or \
                 through other atoms, to atom 0; internal coordinates need a single molecule \
                 (add the missing bonds, or model each molecule separately)"
            ));
        }
        Ok(graph)
    }

    fn is_heavy(&self, atom: usize) -> bool {
        self.masses[atom] > HEAVY_MASS
    }

    fn heavy_degree(&self, atom: usize) -> usize {
        let neighbours = &self.neighbours[atom];
        neighbours.iter().filter(|&&b| self.is_heavy(b)).count()
    }

    /// Number of bonds from `atom` to every atom (`None` where unreachable).
    fn distances_from(&self, atom: usize) -> Vec<Option<usize>> {
        let mut distance = vec![None; self.masses.len()];
        distance[atom] = Some(0);
        let mut queue = VecDeque::from([atom]);
        while let Some(a) = queue.pop_front() {
            let next = distance[a].map(|d| d + 1);
            for &b in &self.neighbours[a] {
                if distance[b].is_none() {
                    distance[b] = next;
                    queue.push_back(b);
                }
            }
        }
        distance
    }

    /// Largest number of bonds from `atom` to any atom.
    fn eccentricity(&self, atom: usize) -> usize {
        let distances = self.distances_from(atom);
        distances.into_iter().flatten().max().unwrap_or(0)
    }

    /// Orders "backbone-like" atoms first: more heavy neighbours, then heavier, then lower index.
    fn backbone_first(&self, a: usize, b: usize) -> Ordering {
        (self.heavy_degree(b).cmp(&self.heavy_degree(a)))
            .then(self.masses[b].total_cmp(&self.masses[a]))
            .then(a.cmp(&b))
    }

    /// The frame `[origin, x_axis, plane]`: the most central atom with two or more neighbours
    /// (heavy atoms preferred; fewest bonds to the farthest atom, then backbone-like), and its
    /// two most backbone-like neighbours.
    fn frame(&self) -> [usize; 3] {
        let n = self.masses.len();
        let branching: Vec<usize> = (0..n).filter(|&a| self.neighbours[a].len() >= 2).collect();
        let heavy: Vec<usize> = branching
            .iter()
            .copied()
            .filter(|&a| self.is_heavy(a))
            .collect();
        let candidates = if heavy.is_empty() { branching } else { heavy };
        let eccentricity: Vec<(usize, usize)> = candidates
            .into_iter()
            .map(|a| (a, self.eccentricity(a)))
            .collect();
        let (origin, _) = eccentricity
            .into_iter()
            .min_by(|(a, ea), (b, eb)| ea.cmp(eb).then(self.backbone_first(*a, *b)))
            .expect("a connected graph of 3 or more atoms has an atom with 2 neighbours");
        let mut neighbours = self.neighbours[origin].clone();
        neighbours.sort_by(|&a, &b| self.backbone_first(a, b));
        [origin, neighbours[0], neighbours[1]]
    }
}

impl ZMatrix {
    /// A Z-matrix from a molecule's bond graph: `masses` (Da, one per atom) and `bonds` (pairs of
    /// atom indices). Fails on fewer than 3 atoms or a graph that is not one connected molecule.
    ///
    /// The frame is a central atom and two of its neighbours (heavy, backbone-like atoms
    /// preferred). The other atoms are placed breadth-first from it, each atom i bonded to its
    /// parent j, with the angle partner k = j's own parent, and the dihedral partner
    ///  - an already placed neighbour of j other than k, when there is one (an improper
    ///    dihedral: i's position relative to its siblings, nearly fixed), else
    ///  - an already placed neighbour of k other than j (a proper torsion, free to rotate),
    ///
    /// heavy and earlier-placed partners first; among siblings, heavier atoms are placed first.
    /// Ring-closing bonds are not used as Z-matrix bonds (their lengths follow from the other
    /// coordinates). Linear groups (nitriles, alkynes) make angles of 180°, which the layer
    /// rejects when it is built against a reference structure.
    pub fn from_bond_graph(masses: &[f64], bonds: &[(usize, usize)]) -> crate::Result<ZMatrix> {
        let graph = BondGraph::new(masses, bonds)?;
        let frame = graph.frame();
        let [origin, x_axis, _] = frame;
        let n = masses.len();
        let mut placed_at: Vec<Option<usize>> = vec![None; n];
        let mut parent = vec![origin; n];
        parent[origin] = x_axis;
        for (order, &atom) in frame.iter().enumerate() {
            placed_at[atom] = Some(order);
        }
        // Heavy first, then earlier placed.
        let best_partner = |candidates: Vec<usize>, placed_at: &[Option<usize>]| {
            candidates
                .into_iter()
                .min_by_key(|&a| (!graph.is_heavy(a), placed_at[a]))
        };
        let mut rows = Vec::with_capacity(n - 3);
        let mut queue = VecDeque::from(frame);
        while let Some(j) = queue.pop_front() {
            let k = parent[j];
            let mut children: Vec<usize> = graph.neighbours[j]
                .iter()
                .copied()
                .filter(|&a| placed_at[a].is_none())
                .collect();
            children.sort_by(|&a, &b| masses[b].total_cmp(&masses[a]).then(a.cmp(&b)));
            for i in children {
                let placed_neighbours = |atom: usize, except: usize| -> Vec<usize> {
                    graph.neighbours[atom]
                        .iter()
                        .copied()
                        .filter(|&a| a != except && placed_at[a].is_some())
                        .collect()
                };
                let l = best_partner(placed_neighbours(j, k), &placed_at)
                    .or_else(|| best_partner(placed_neighbours(k, j), &placed_at))
                    .expect("k's own parent (or, for the frame, the third frame atom) is placed");
                rows.push(ZRow {
                    atom: i,
                    bond: j,
                    angle: k,
                    dihedral: l,
                });
                placed_at[i] = Some(2 + rows.len());
                parent[i] = j;
                queue.push_back(i);
            }
        }
        Ok(ZMatrix { frame, rows })
    }

    /// For each row, whether its dihedral is a proper torsion of the bond graph (dihedral
    /// partner bonded to the angle partner, not to the bond partner): the rule
    /// [`InternalCoordinatesConfig::from_bond_graph`] uses for circular dihedrals.
    pub fn proper_torsions(&self, bonds: &[(usize, usize)]) -> Vec<bool> {
        let bonded: HashSet<(usize, usize)> =
            bonds.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
        self.rows
            .iter()
            .map(|r| {
                bonded.contains(&(r.dihedral, r.angle)) && !bonded.contains(&(r.dihedral, r.bond))
            })
            .collect()
    }
}

impl InternalCoordinatesConfig {
    /// Internal coordinates of any molecule from its bond graph (see
    /// [`ZMatrix::from_bond_graph`]), normalised against `reference` (3 · n values, nm) with
    /// FAB's scales; proper torsions are circular, all other dihedrals are not.
    pub fn from_bond_graph(
        masses: &[f64],
        bonds: &[(usize, usize)],
        reference: Vec<f64>,
    ) -> crate::Result<Self> {
        let z_matrix = ZMatrix::from_bond_graph(masses, bonds)?;
        let config = InternalCoordinatesConfig {
            circular: z_matrix.proper_torsions(bonds),
            z_matrix,
            reference,
            scales: NormalisationScales::default(),
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Masses, bonds, and a part of the expected error message.
    type Case<'a> = (&'a [f64], &'a [(usize, usize)], &'a str);

    #[test]
    fn bad_graphs_are_refused_with_a_reason() {
        let cases: [Case; 5] = [
            (&[1.0, 16.0], &[(0, 1)], "at least 3 atoms"),
            (
                &[1.0, 16.0, 1.0, 12.0],
                &[(0, 1), (1, 2)],
                "atoms [3] are not bonded",
            ),
            (&[1.0, 16.0, 1.0], &[(0, 1), (1, 3)], "beyond the 3 atoms"),
            (&[1.0, 16.0, 1.0], &[(0, 1), (1, 1)], "itself"),
            (&[1.0, -16.0, 1.0], &[(0, 1), (1, 2)], "mass"),
        ];
        for (masses, bonds, expected) in cases {
            let message = ZMatrix::from_bond_graph(masses, bonds)
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn small_molecules() {
        // Water: the frame is all of it.
        let water = ZMatrix::from_bond_graph(&[16.0, 1.0, 1.0], &[(0, 1), (0, 2)]).unwrap();
        assert_eq!(water.frame, [0, 1, 2]);
        assert!(water.rows.is_empty());

        // Ethane, C0–C1 with three hydrogens each: the methyl hydrogens of the far carbon are
        // placed by a torsion (circular) for the first and relative to it for the others.
        let masses = [12.0, 12.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let bonds = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (1, 6), (1, 7)];
        let z = ZMatrix::from_bond_graph(&masses, &bonds).unwrap();
        z.validate().unwrap();
        assert_eq!(z.frame, [0, 1, 2]);
        let rows: Vec<[usize; 4]> = z.rows.iter().map(ZRow::atoms).collect();
        assert_eq!(
            rows,
            vec![
                [3, 0, 1, 2],
                [4, 0, 1, 2],
                [5, 1, 0, 2],
                [6, 1, 0, 5],
                [7, 1, 0, 5]
            ]
        );
        assert_eq!(
            z.proper_torsions(&bonds),
            vec![false, false, true, false, false]
        );
    }
}
