//! Weighted histograms with NumPy's conventions, free energies, and FAB's Ramachandran KL.
//!
//! Binning follows `numpy.histogram`/`numpy.histogramdd` exactly: edges are
//! `numpy.linspace(lo, hi, bins + 1)`, bin i holds edges[i] ≤ x < edges[i + 1], the last bin is
//! closed on the right (x = hi falls in it), and points outside [lo, hi] (or NaN) are ignored.
//! Densities are NumPy's `density=True`: the weighted count divided by the bin's widths and by
//! the total weight inside the range, so they integrate to 1 over the range.

use std::f64::consts::PI;

/// `eps` of FAB's Ramachandran KL divergence.
pub const RAMACHANDRAN_KL_EPS: f64 = 1e-10;

/// Uniform bins over a closed interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Binning {
    /// Number of bins.
    pub bins: usize,
    /// Left edge of the first bin.
    pub lo: f64,
    /// Right edge of the last bin (included in it).
    pub hi: f64,
}

impl Binning {
    /// `bins` bins over [−π, π], for angles in radians.
    pub fn angles(bins: usize) -> Self {
        Binning {
            bins,
            lo: -PI,
            hi: PI,
        }
    }

    /// The nominal width (hi − lo) / bins.
    pub fn width(&self) -> f64 {
        (self.hi - self.lo) / self.bins as f64
    }

    /// The bins + 1 edges, as `numpy.linspace(lo, hi, bins + 1)`: lo + i·width, the last = hi.
    pub fn edges(&self) -> Vec<f64> {
        let step = self.width();
        let mut edges: Vec<f64> = (0..=self.bins).map(|i| i as f64 * step + self.lo).collect();
        edges[self.bins] = self.hi;
        edges
    }

    /// The centres of the bins (midpoints of the edges).
    pub fn centres(&self) -> Vec<f64> {
        self.edges()
            .windows(2)
            .map(|e| 0.5 * (e[0] + e[1]))
            .collect()
    }

    /// The bin of `x` among `edges` (this binning's), as NumPy's `searchsorted(edges, x,
    /// side="right") − 1` with x = hi in the last bin; `None` outside [lo, hi] or for NaN.
    fn index(&self, edges: &[f64], x: f64) -> Option<usize> {
        if !(self.lo <= x && x <= self.hi) {
            return None;
        }
        Some((edges.partition_point(|e| *e <= x) - 1).min(self.bins - 1))
    }
}

/// The weighted density histogram of points in as many dimensions as `binnings` (one
/// coordinate slice per dimension in `coords`, all as long as `weights`), flattened row-major
/// (the last dimension fastest). Equal to NumPy's `histogramdd(coords, bins, range, weights,
/// density=True)`; all NaN when no weight falls inside the range.
pub fn density(coords: &[&[f64]], weights: &[f64], binnings: &[Binning]) -> Vec<f64> {
    assert_eq!(coords.len(), binnings.len(), "one coordinate per binning");
    let edges: Vec<Vec<f64>> = binnings.iter().map(Binning::edges).collect();
    let mut counts = vec![0.0; binnings.iter().map(|b| b.bins).product()];
    'points: for (i, w) in weights.iter().enumerate() {
        let mut flat = 0;
        for ((binning, edges), x) in binnings.iter().zip(&edges).zip(coords) {
            let Some(k) = binning.index(edges, x[i]) else {
                continue 'points;
            };
            flat = flat * binning.bins + k;
        }
        counts[flat] += w;
    }
    let total: f64 = counts.iter().sum();
    // NumPy divides by each dimension's bin widths in turn, then by the total.
    let mut stride = counts.len();
    for (binning, edges) in binnings.iter().zip(&edges) {
        stride /= binning.bins;
        for (flat, c) in counts.iter_mut().enumerate() {
            let k = (flat / stride) % binning.bins;
            *c /= edges[k + 1] - edges[k];
        }
    }
    counts.iter().map(|c| c / total).collect()
}

/// Free energy F = −k_BT ln p of a density, shifted so that its minimum is 0, with its standard
/// error k_BT·δp/p from the density's. Empty bins (p = 0) get F = +∞ and a NaN error; a NaN
/// density gives NaN.
pub fn free_energy(density: &[f64], stderr: &[f64], kbt: f64) -> (Vec<f64>, Vec<f64>) {
    let raw: Vec<f64> = density.iter().map(|p| -kbt * p.ln()).collect();
    let min = raw
        .iter()
        .copied()
        .filter(|f| f.is_finite())
        .fold(f64::INFINITY, f64::min);
    let shift = if min.is_finite() { min } else { 0.0 };
    let f = raw.iter().map(|f| f - shift).collect();
    let err = density
        .iter()
        .zip(stderr)
        .map(|(p, dp)| if *p > 0.0 { kbt * dp / p } else { f64::NAN })
        .collect();
    (f, err)
}

/// FAB's Ramachandran KL divergence KL(reference ‖ model) between two density histograms on
/// the same bins (each cell of area `cell_area`):
///
/// ```text
/// KL = Σ_ij p_ij · ln((p_ij + eps) / (q_ij + eps)) · cell_area,   eps = 1e-10,
/// ```
///
/// with p the reference's and q the model's `numpy.histogram2d(phi, psi, 64, range=[[−π, π],
/// [−π, π]], density=True)` and cell_area = (2π/64)². This is `evaluate_aldp` in
/// `fab/utils/aldp.py` of FAB's code (github.com/lollcat/fab-torch, commit 659c0a7:
/// `kld_ram = np.sum(hist_ram_test * np.log((hist_ram_test + eps_ram) / (hist_ram_gen +
/// eps_ram))) * (2 * np.pi / nbins_ram) ** 2`, `eps_ram = 1e-10`, `nbins_ram = 64`).
pub fn ramachandran_kl(reference: &[f64], model: &[f64], cell_area: f64) -> f64 {
    assert_eq!(reference.len(), model.len(), "histograms on the same bins");
    let eps = RAMACHANDRAN_KL_EPS;
    reference
        .iter()
        .zip(model)
        .map(|(p, q)| p * ((p + eps) / (q + eps)).ln())
        .sum::<f64>()
        * cell_area
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_and_bins_follow_numpy() {
        let b = Binning::angles(4);
        let edges = b.edges();
        assert_eq!(edges[0], -PI);
        assert_eq!(edges[4], PI);
        assert_eq!(edges[2], 2.0 * (PI / 2.0) - PI);
        // −π in the first bin, π (closed right edge) in the last, an edge starts its bin.
        let x = [-PI, PI, 0.0, 0.1, -0.1, 4.0, f64::NAN];
        let w = [1.0; 7];
        let d = density(&[&x], &w, &[b]);
        // 5 points inside: counts [1, 1, 2, 1] over widths π/2.
        let expected = [1.0, 1.0, 2.0, 1.0].map(|c| c / (PI / 2.0) / 5.0);
        for (d, e) in d.iter().zip(expected) {
            assert!((d - e).abs() < 1e-15, "{d:?}");
        }
        let centres = Binning {
            bins: 2,
            lo: 0.0,
            hi: 2.0,
        }
        .centres();
        assert_eq!(centres, vec![0.5, 1.5]);
    }

    #[test]
    fn two_dimensional_weighted_density_integrates_to_one() {
        let (bx, by) = (
            Binning {
                bins: 2,
                lo: 0.0,
                hi: 2.0,
            },
            Binning {
                bins: 3,
                lo: 0.0,
                hi: 3.0,
            },
        );
        let x = [0.5, 1.5, 1.5, 9.0];
        let y = [0.5, 2.5, 1.0, 0.0];
        let w = [1.0, 2.0, 1.0, 5.0];
        let d = density(&[&x, &y], &w, &[bx, by]);
        // Row-major [x bin][y bin], total weight inside 4, cells of area 1.
        assert_eq!(d, vec![0.25, 0.0, 0.0, 0.0, 0.25, 0.5]);
        let empty = density(&[&x[3..], &y[3..]], &w[3..], &[bx, by]);
        assert!(empty.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn free_energy_is_shifted_and_infinite_where_empty() {
        let kbt = 2.5;
        let (f, err) = free_energy(&[0.5, 0.25, 0.0], &[0.05, 0.05, 0.0], kbt);
        assert_eq!(f[0], 0.0);
        assert!((f[1] - kbt * 2f64.ln()).abs() < 1e-12);
        assert_eq!(f[2], f64::INFINITY);
        assert!((err[0] - kbt * 0.1).abs() < 1e-15 && (err[1] - kbt * 0.2).abs() < 1e-15);
        assert!(err[2].is_nan());
    }

    #[test]
    fn ramachandran_kl_of_known_histograms() {
        let area = 0.5;
        let uniform = [0.5; 4];
        assert_eq!(ramachandran_kl(&uniform, &uniform, area), 0.0);
        // p uniform on half of the cells, q uniform on all: KL = ln 2.
        let half = [1.0, 1.0, 0.0, 0.0];
        let kl = ramachandran_kl(&half, &uniform, area);
        assert!((kl - 2f64.ln()).abs() < 1e-9, "{kl}");
        // Where the model is empty, eps keeps the divergence finite: ln(1/eps) per unit mass.
        let kl = ramachandran_kl(&uniform, &half, area);
        assert!((kl - 0.5 * (0.5 / RAMACHANDRAN_KL_EPS).ln() - 0.5 * (0.5f64).ln()).abs() < 1e-6);
    }
}
