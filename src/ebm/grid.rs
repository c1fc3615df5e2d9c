//! Normalising a learned density on a grid, in one or two dimensions: log Z_θ by the midpoint
//! rule, and the exact KL divergence to a known density on the same grid.

use crate::analysis::histogram::Binning;
use crate::{Error, Result};

/// Points per axis of the evaluation grid (256² = 65,536 cells in two dimensions).
pub const GRID_POINTS: usize = 256;
/// Points per axis of the grid over the torus [−π, π)^dim: fewer, since each point of a wrapped
/// density costs 3^dim solves (128² points of a 2-D potential flow cost 147,456 solves, about
/// twice the 256² of one on the plane).
pub const TORUS_GRID_POINTS: usize = 128;

/// A regular grid of cell centres over a box in one or two dimensions: one [`Binning`] per axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    axes: Vec<Binning>,
}

impl Grid {
    /// The grid over the bounding box of `x` (`m × dim`, dim 1 or 2), widened by half its width
    /// on every side, with `n` points per axis.
    pub fn around(x: &[f64], dim: usize, n: usize) -> Result<Self> {
        if !(1..=2).contains(&dim) || x.len() < dim || n < 2 {
            return Err(Error::InvalidArgument(format!(
                "a normalisation grid needs 1 or 2 dimensions, points and n ≥ 2 (dim {dim}, {} \
                 values, n {n})",
                x.len()
            )));
        }
        let axes = (0..dim)
            .map(|j| {
                let column = x.iter().skip(j).step_by(dim);
                let lo = column.clone().copied().fold(f64::INFINITY, f64::min);
                let hi = column.copied().fold(f64::NEG_INFINITY, f64::max);
                let pad = 0.5 * (hi - lo).max(1e-6);
                Binning {
                    bins: n,
                    lo: lo - pad,
                    hi: hi + pad,
                }
            })
            .collect();
        Ok(Grid { axes })
    }

    /// The grid over the torus [−π, π)^dim (dim 1 or 2) with `n` points per axis.
    pub fn torus(dim: usize, n: usize) -> Result<Self> {
        use std::f64::consts::PI;
        if !(1..=2).contains(&dim) || n < 2 {
            return Err(Error::InvalidArgument(format!(
                "a normalisation grid needs 1 or 2 dimensions and n ≥ 2 (dim {dim}, n {n})"
            )));
        }
        let axis = Binning {
            bins: n,
            lo: -PI,
            hi: PI,
        };
        Ok(Grid {
            axes: vec![axis; dim],
        })
    }

    /// The same box with `n` points per axis.
    pub fn with_points(&self, n: usize) -> Self {
        Grid {
            axes: self
                .axes
                .iter()
                .map(|a| Binning { bins: n, ..*a })
                .collect(),
        }
    }

    /// The binning of each axis.
    pub fn axes(&self) -> &[Binning] {
        &self.axes
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.axes.len()
    }

    /// Volume (length or area) of one cell.
    pub fn cell_volume(&self) -> f64 {
        self.axes.iter().map(Binning::width).product()
    }

    /// The cell centres, row-major (`n^dim × dim`; in 2-D the second coordinate varies fastest,
    /// as in [`crate::analysis::histogram::density`]).
    pub fn points(&self) -> Vec<f64> {
        let centres: Vec<Vec<f64>> = self.axes.iter().map(Binning::centres).collect();
        match centres.as_slice() {
            [x] => x.clone(),
            [x, y] => x
                .iter()
                .flat_map(|a| y.iter().flat_map(move |b| [*a, *b]))
                .collect(),
            _ => unreachable!("a grid has one or two axes by construction"),
        }
    }

    /// log ∫ exp(−E) over the box, by the midpoint rule on the energies at [`Grid::points`].
    pub fn log_normaliser(&self, energy: &[f64]) -> f64 {
        let max = energy.iter().map(|e| -e).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = energy.iter().map(|e| (-e - max).exp()).sum();
        max + sum.ln() + self.cell_volume().ln()
    }
}

/// KL(p‖q) = ∫ p (log p − log q) by the midpoint rule, from both normalised log-densities at a
/// grid's points; cells where p underflows to 0 contribute nothing.
pub fn kl_divergence(log_p: &[f64], log_q: &[f64], cell_volume: f64) -> f64 {
    log_p
        .iter()
        .zip(log_q)
        .map(|(&lp, &lq)| {
            let p = lp.exp();
            if p > 0.0 { p * (lp - lq) } else { 0.0 }
        })
        .sum::<f64>()
        * cell_volume
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A standard normal in 2-D: log Z = log 2π on the grid, and the KL to a shifted normal is
    /// ‖μ‖²/2.
    #[test]
    fn normalises_and_measures_kl_against_closed_forms() {
        let data = [-3.0, -3.0, 3.0, 3.0];
        let grid = Grid::around(&data, 2, 200).unwrap();
        let x = grid.points();
        assert_eq!(x.len(), 200 * 200 * 2);
        for (v, expected) in x[..4].iter().zip([-5.97, -5.97, -5.97, -5.91]) {
            assert!(
                (v - expected).abs() < 1e-12,
                "the first centres, the second axis fastest"
            );
        }
        let energy = |shift: f64| -> Vec<f64> {
            x.chunks(2)
                .map(|p| 0.5 * ((p[0] - shift).powi(2) + p[1].powi(2)))
                .collect()
        };
        let log_z = grid.log_normaliser(&energy(0.0));
        assert!(
            (log_z - (2.0 * std::f64::consts::PI).ln()).abs() < 1e-6,
            "{log_z}"
        );
        let log_p: Vec<f64> = energy(0.0).iter().map(|e| -e - log_z).collect();
        let log_q: Vec<f64> = energy(0.5).iter().map(|e| -e - log_z).collect();
        let kl = kl_divergence(&log_p, &log_q, grid.cell_volume());
        assert!((kl - 0.125).abs() < 1e-6, "{kl}");
    }

    #[test]
    fn refuses_three_dimensions() {
        assert!(Grid::around(&[0.0; 6], 3, 10).is_err());
    }
}
