//! Energy terms: one module per OpenMM force, each with analytic gradients.
//!
//! Every term works on a shared per-conformation [`Workspace`]: atom positions, the geometry of
//! every atom pair (computed once per conformation and shared by bonds, nonbonded and GB), a
//! per-pair accumulator of dE/dr that is turned into Cartesian gradients once at the end, and
//! scratch arrays. A workspace is allocated once per batch, never per conformation.
//!
//! Pair data are stored as structures of arrays over all pairs, and the pair loops are
//! branch-free straight-line code (with [`boltzflow_plugin::fastmath`]'s `ln` and `exp`), so the compiler
//! vectorises them.

pub mod angles;
pub mod bonds;
pub mod nonbonded;
pub mod obc;
pub mod obc_custom;
pub mod torsions;

use crate::vec3::V3;
use boltzflow_plugin::fastmath;

/// All atom pairs `i < j` of an `n`-atom system, in row-major order: row i holds the pairs
/// (i, i+1), ..., (i, n−1), contiguously, so that a row's partners are the contiguous atoms
/// i+1..n and per-pair loops vectorise without gathers or scatters.
#[derive(Clone, Debug)]
pub struct PairTable {
    n: usize,
    /// First atom of each pair.
    pub first: Vec<usize>,
    /// Second atom of each pair.
    pub second: Vec<usize>,
}

/// One row of the pair table: atom `i` with its partners `i+1..n`, which are the pairs `pairs`.
#[derive(Clone, Debug)]
pub struct Row {
    /// The row's atom.
    pub i: usize,
    /// Its pairs' indices in the table.
    pub pairs: std::ops::Range<usize>,
    /// Its partners' atom indices.
    pub partners: std::ops::Range<usize>,
}

impl PairTable {
    /// The pairs of `n` atoms.
    pub fn new(n: usize) -> Self {
        let mut first = Vec::with_capacity(n * n.saturating_sub(1) / 2);
        let mut second = Vec::with_capacity(first.capacity());
        for i in 0..n {
            for j in i + 1..n {
                first.push(i);
                second.push(j);
            }
        }
        PairTable { n, first, second }
    }

    /// The rows, one per atom (the last is empty).
    pub fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        (0..self.n).map(move |i| {
            let start = i * self.n - i * (i + 1) / 2;
            Row {
                i,
                pairs: start..start + (self.n - 1 - i),
                partners: i + 1..self.n,
            }
        })
    }

    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.n
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.first.len()
    }

    /// Whether there are no pairs (one atom).
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// The pairs, as `(i, j)` with `i < j`.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.first.iter().copied().zip(self.second.iter().copied())
    }

    /// Index of the pair {a, b} (`a != b`, both below n).
    pub fn index(&self, a: usize, b: usize) -> usize {
        debug_assert!(a != b && a < self.n && b < self.n);
        let (i, j) = if a < b { (a, b) } else { (b, a) };
        i * self.n - i * (i + 1) / 2 + (j - i - 1)
    }
}

/// Scratch memory for evaluating one conformation at a time.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// Atom positions (nm).
    pub pos: Vec<V3>,
    /// dE/dx per atom (kJ/mol/nm), from the bonded terms.
    pub grad: Vec<V3>,
    /// Positions, componentwise (x, y, z arrays).
    pub xyz: [Vec<f64>; 3],
    /// dE/dx componentwise, from the pair terms.
    pub grad_xyz: [Vec<f64>; 3],
    /// Per pair: x_j − x_i, componentwise.
    pub dx: Vec<f64>,
    /// Per pair: y_j − y_i.
    pub dy: Vec<f64>,
    /// Per pair: z_j − z_i.
    pub dz: Vec<f64>,
    /// Per pair: |x_j − x_i|.
    pub r: Vec<f64>,
    /// Per pair: 1/|x_j − x_i|.
    pub inv_r: Vec<f64>,
    /// Per pair: dE/dr accumulated by the pair terms.
    pub de_dr: Vec<f64>,
    /// Per pair scratch arrays.
    pub pair: [Vec<f64>; 10],
    /// Per atom scratch arrays.
    pub atom: [Vec<f64>; 5],
}

impl Workspace {
    /// A workspace for `n` atoms.
    pub fn new(n: usize) -> Self {
        let n_pairs = n * n.saturating_sub(1) / 2;
        let pairs = || vec![0.0; n_pairs];
        Workspace {
            pos: vec![[0.0; 3]; n],
            grad: vec![[0.0; 3]; n],
            xyz: std::array::from_fn(|_| vec![0.0; n]),
            grad_xyz: std::array::from_fn(|_| vec![0.0; n]),
            dx: pairs(),
            dy: pairs(),
            dz: pairs(),
            r: pairs(),
            inv_r: pairs(),
            de_dr: pairs(),
            pair: std::array::from_fn(|_| pairs()),
            atom: std::array::from_fn(|_| vec![0.0; n]),
        }
    }

    /// Computes every pair's separation and distance from `pos`, zeroes the accumulators, and
    /// returns the smallest distance.
    #[inline(always)]
    pub fn prepare(&mut self, pairs: &PairTable) -> f64 {
        let n = pairs.len();
        for (k, c) in self.xyz.iter_mut().enumerate() {
            for (c, p) in c.iter_mut().zip(&self.pos) {
                *c = p[k];
            }
        }
        let deltas = [&mut self.dx[..n], &mut self.dy[..n], &mut self.dz[..n]];
        for (delta, c) in deltas.into_iter().zip(&self.xyz) {
            for row in pairs.rows() {
                let ci = c[row.i];
                let partners = &c[row.partners];
                for (d, cj) in delta[row.pairs].iter_mut().zip(partners) {
                    *d = cj - ci;
                }
            }
        }
        let (dx, dy, dz) = (&self.dx[..n], &self.dy[..n], &self.dz[..n]);
        let (r, inv_r) = (&mut self.r[..n], &mut self.inv_r[..n]);
        for p in 0..n {
            let d = (dx[p] * dx[p] + dy[p] * dy[p] + dz[p] * dz[p]).sqrt();
            r[p] = d;
            inv_r[p] = 1.0 / d;
        }
        self.de_dr.fill(0.0);
        self.grad.fill([0.0; 3]);
        for g in &mut self.grad_xyz {
            g.fill(0.0);
        }
        fastmath::min(r)
    }

    /// Adds the pair accumulator dE/dr into the Cartesian gradient.
    #[inline(always)]
    pub fn distribute_pair_gradients(&mut self, pairs: &PairTable) {
        let n = pairs.len();
        // dE/dr / r, reusing dE/dr's storage.
        let (de_dr, inv_r) = (&mut self.de_dr[..n], &self.inv_r[..n]);
        for p in 0..n {
            de_dr[p] *= inv_r[p];
        }
        let deltas = [&self.dx[..n], &self.dy[..n], &self.dz[..n]];
        for (delta, g) in deltas.into_iter().zip(&mut self.grad_xyz) {
            for row in pairs.rows() {
                let mut gi = 0.0;
                let (f, d) = (&de_dr[row.pairs.clone()], &delta[row.pairs]);
                for ((gj, f), d) in g[row.partners].iter_mut().zip(f).zip(d) {
                    let v = f * d;
                    *gj += v;
                    gi += v;
                }
                g[row.i] -= gi;
            }
        }
    }

    /// The total gradient dE/dx (bonded plus pair terms) into `out` (atoms × 3).
    #[inline(always)]
    pub fn write_gradient(&self, out: &mut [f64]) {
        for (a, (o, g)) in out.chunks_exact_mut(3).zip(&self.grad).enumerate() {
            for k in 0..3 {
                o[k] = g[k] + self.grad_xyz[k][a];
            }
        }
    }
}

/// Per-atom sums of per-pair values: `out[i] += Σ to_first[p]` over the pairs p = (i, j) and
/// `out[j] += to_second[p]`, row by row (contiguous, vectorisable).
#[inline(always)]
pub fn scatter_pairs(pairs: &PairTable, to_first: &[f64], to_second: &[f64], out: &mut [f64]) {
    for row in pairs.rows() {
        let (a, b) = (&to_first[row.pairs.clone()], &to_second[row.pairs]);
        out[row.i] += fastmath::sum(a);
        for (o, v) in out[row.partners].iter_mut().zip(b) {
            *o += v;
        }
    }
}

/// Per-pair copies of per-atom values: `first[p] = values[i]`, `second[p] = values[j]` for
/// the pairs p = (i, j), row by row.
#[inline(always)]
pub fn gather_pairs(pairs: &PairTable, values: &[f64], first: &mut [f64], second: &mut [f64]) {
    for row in pairs.rows() {
        first[row.pairs.clone()].fill(values[row.i]);
        second[row.pairs].copy_from_slice(&values[row.partners]);
    }
}

/// One energy term of the force field.
#[derive(Clone, Debug)]
pub enum Term {
    /// `HarmonicBondForce`.
    Bonds(bonds::Bonds),
    /// `HarmonicAngleForce`.
    Angles(angles::Angles),
    /// `PeriodicTorsionForce`.
    Torsions(torsions::Torsions),
    /// `NonbondedForce` with `NoCutoff`.
    Nonbonded(nonbonded::Nonbonded),
    /// OBC generalised Born implicit solvent (the OBC1 `CustomGBForce` or `GBSAOBCForce`).
    Obc(Box<obc::Obc>),
}

impl Term {
    /// Adds this term's energy (kJ/mol) and its gradient (into `ws.grad` directly, or into
    /// `ws.de_dr` for pair terms) for the conformation in `ws` (after [`Workspace::prepare`]).
    #[inline(always)]
    pub fn accumulate(&self, ws: &mut Workspace, pairs: &PairTable) -> f64 {
        match self {
            Term::Bonds(t) => t.accumulate(ws),
            Term::Angles(t) => t.accumulate(ws),
            Term::Torsions(t) => t.accumulate(ws),
            Term::Nonbonded(t) => t.accumulate(ws),
            Term::Obc(t) => t.accumulate(ws, pairs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_index_is_row_major() {
        let t = PairTable::new(5);
        assert_eq!(t.len(), 10);
        for (k, (i, j)) in t.iter().enumerate() {
            assert_eq!(t.index(i, j), k);
            assert_eq!(t.index(j, i), k);
        }
        let mut seen = 0;
        for row in t.rows() {
            assert_eq!(row.pairs.len(), row.partners.len());
            for (p, j) in row.pairs.zip(row.partners) {
                assert_eq!((t.first[p], t.second[p]), (row.i, j));
                seen += 1;
            }
        }
        assert_eq!(seen, 10);
    }
}
