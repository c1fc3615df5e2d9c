//! Exact log Z of the lattice path integral by a transfer matrix.
//!
//! With W(x) = V(x) − min V ≥ 0 and the kernel
//! K(x, y) = exp(−(m/(2Δτ))(x − y)² − Δτ(W(x) + W(y))/2),
//! the partition function of the periodic N-site path is Z = e^{−T·min V} Tr(K^N) (K as an integral
//! operator). On the uniform grid xⱼ = j·h, j = −c..c, the N-fold integral becomes a lattice sum,
//! Z ≈ e^{−T·min V} Tr(A^N) with A = h·K(xᵢ, xⱼ): the trapezoid rule in every coordinate, which
//! converges faster than any power of h for this smooth, rapidly decaying integrand (by Poisson
//! summation the error is about exp(−π²(w/h)²) for a Gaussian of width w).
//!
//! A is symmetric and commutes with the reflection x → −x (V is even), so it splits into an even
//! and an odd block of half the size; their eigenvalues λⱼ give
//! log Tr(A^N) = N log λ_max + log Σⱼ (λⱼ/λ_max)^N, which stays finite for any N.

use nalgebra::DMatrix;
use serde::Serialize;

/// The lattice: N periodic sites, mass m, quartic coupling λ, time step Δτ = T/N.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lattice {
    /// Number of sites N.
    pub sites: usize,
    /// Mass m > 0.
    pub mass: f64,
    /// Quartic coupling λ > 0.
    pub lambda: f64,
    /// Time step Δτ = T/N > 0.
    pub dt: f64,
}

impl Lattice {
    /// min V = −m²/(4λ), at x² = m/λ.
    pub fn potential_min(&self) -> f64 {
        -self.mass * self.mass / (4.0 * self.lambda)
    }

    /// W(x) = V(x) − min V = (λ/4)(x² − m/λ)².
    pub fn excess_potential(&self, x: f64) -> f64 {
        let d = x * x - self.mass / self.lambda;
        0.25 * self.lambda * d * d
    }

    /// Time extent T = NΔτ.
    pub fn time_extent(&self) -> f64 {
        self.sites as f64 * self.dt
    }

    /// A lower bound on u(x) − min u over all paths with a site at |x| ≥ `l` (l ≥ √(m/λ)):
    /// the largest of
    /// - Δτ·W(l), paid by that site alone;
    /// - max over a in [√(m/λ), l] of min(T·W(a), √(mλ)·((l³ − a³)/3 − (m/λ)(l − a))): either every
    ///   site lies beyond a (cost ≥ T·W(a)), or the periodic path climbs from below a to l and comes
    ///   back. Each bond (p, q) costs at least (m/(2Δτ))(q − p)² + Δτ·W(q)/2 ≥ √(m W(q))·|q − p|,
    ///   which bounds the climb and the descent below by ½√(mλ)∫ₐˡ (s² − m/λ) ds each.
    pub fn excursion_cost(&self, l: f64) -> f64 {
        let c = self.mass / self.lambda;
        let root = c.sqrt();
        let single_site = self.dt * self.excess_potential(l);
        if l <= root {
            return single_site;
        }
        let strength = (self.mass * self.lambda).sqrt();
        let climb = |a: f64| strength * ((l * l * l - a * a * a) / 3.0 - c * (l - a));
        let stay = |a: f64| self.time_extent() * self.excess_potential(a);
        // stay(a) rises from 0 and climb(a) falls to 0 on [√c, l]: the max of the min is where
        // they cross.
        let (mut lo, mut hi) = (root, l);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if stay(mid) < climb(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let a = 0.5 * (lo + hi);
        single_site.max(stay(a).min(climb(a)))
    }

    /// Smallest half-width l with [`Lattice::excursion_cost`] ≥ `cost`, by bisection.
    pub fn half_width_for_cost(&self, cost: f64) -> f64 {
        let c = self.mass / self.lambda;
        // At this l the single-site term alone reaches the cost.
        let mut hi = (c + (4.0 * cost / (self.lambda * self.dt)).sqrt()).sqrt();
        let mut lo = c.sqrt();
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.excursion_cost(mid) < cost {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }

    /// The smallest length scale of the integrand: the kinetic width √(Δτ/m), the width
    /// 1/√(2mΔτ) of exp(−ΔτV) at the bottom of a well, and the quartic scale (λΔτ)^(−1/4).
    pub fn width(&self) -> f64 {
        let kinetic = (self.dt / self.mass).sqrt();
        let well = 1.0 / (2.0 * self.mass * self.dt).sqrt();
        let quartic = (self.lambda * self.dt).powf(-0.25);
        kinetic.min(well).min(quartic)
    }

    /// Scaled kernel entry h·K(x, y) with W in place of V.
    fn entry(&self, spacing: f64, x: f64, y: f64) -> f64 {
        let d = x - y;
        spacing
            * (-(0.5 * self.mass / self.dt) * d * d
                - 0.5 * self.dt * (self.excess_potential(x) + self.excess_potential(y)))
            .exp()
    }
}

/// Excursion cost (in units of the reduced energy) that the grid's half-width must reach: paths
/// leaving the grid are suppressed by at least e⁻⁷⁰ ≈ 4e-31.
pub const EXCURSION_COST: f64 = 70.0;
/// Grid points per [`Lattice::width`] (h = width/10). Far more than needed: four times coarser
/// still gives log Z to about 1e-13 (checked by the tests).
pub const POINTS_PER_WIDTH: f64 = 10.0;
/// Fewest grid points per width: when [`POINTS_PER_WIDTH`] would need more than [`MAX_POINTS`]
/// points (many sites), the grid is coarsened down to this.
pub const MIN_POINTS_PER_WIDTH: f64 = 5.0;
/// Largest grid the plugin builds: two symmetric eigenproblems of about 1500 × 1500, a second or
/// two.
pub const MAX_POINTS: usize = 3001;

/// A uniform grid xⱼ = j·h, j = −c..c, symmetric about 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Grid {
    /// Number of points, 2c + 1.
    pub points: usize,
    /// Half-width L = c·h.
    pub half_width: f64,
    /// Spacing h.
    pub spacing: f64,
}

impl Grid {
    /// The grid with half-width at least `half_width` and spacing exactly `spacing`.
    pub fn new(half_width: f64, spacing: f64) -> Self {
        let half = (half_width / spacing).ceil().max(1.0) as usize;
        Grid {
            points: 2 * half + 1,
            half_width: half as f64 * spacing,
            spacing,
        }
    }

    /// The grid the plugin uses for `lattice`: half-width from [`EXCURSION_COST`], spacing
    /// [`Lattice::width`] / [`POINTS_PER_WIDTH`], or coarser (down to [`MIN_POINTS_PER_WIDTH`])
    /// if that would exceed [`MAX_POINTS`]. The result can still exceed [`MAX_POINTS`]; the caller
    /// checks.
    pub fn for_lattice(lattice: &Lattice) -> Self {
        let half_width = lattice.half_width_for_cost(EXCURSION_COST);
        let width = lattice.width();
        let affordable = ((MAX_POINTS - 1) / 2) as f64 * width / half_width;
        let per_width = POINTS_PER_WIDTH.min(affordable).max(MIN_POINTS_PER_WIDTH);
        Grid::new(half_width, width / per_width)
    }

    /// Grid points per [`Lattice::width`] of `lattice`.
    pub fn points_per_width(&self, lattice: &Lattice) -> f64 {
        lattice.width() / self.spacing
    }

    /// Number of non-negative points, c + 1.
    fn half_points(&self) -> usize {
        self.points / 2 + 1
    }

    /// The non-negative points 0, h, ..., c·h.
    fn non_negative(&self) -> Vec<f64> {
        (0..self.half_points())
            .map(|j| j as f64 * self.spacing)
            .collect()
    }

    /// All points, −c·h..c·h.
    #[cfg(test)]
    fn all(&self) -> Vec<f64> {
        let c = (self.points / 2) as isize;
        (-c..=c).map(|j| j as f64 * self.spacing).collect()
    }
}

/// Exact log Z of `lattice` on `grid`, from the eigenvalues of the two parity blocks of A.
pub fn log_z(lattice: &Lattice, grid: &Grid) -> f64 {
    let y = grid.non_negative();
    let n = y.len();
    let h = grid.spacing;
    let even = DMatrix::from_fn(n, n, |j, k| match (j, k) {
        (0, 0) => lattice.entry(h, 0.0, 0.0),
        (0, k) => std::f64::consts::SQRT_2 * lattice.entry(h, 0.0, y[k]),
        (j, 0) => std::f64::consts::SQRT_2 * lattice.entry(h, y[j], 0.0),
        (j, k) => lattice.entry(h, y[j], y[k]) + lattice.entry(h, y[j], -y[k]),
    });
    let odd = DMatrix::from_fn(n - 1, n - 1, |j, k| {
        lattice.entry(h, y[j + 1], y[k + 1]) - lattice.entry(h, y[j + 1], -y[k + 1])
    });
    let mut eigenvalues: Vec<f64> = even.symmetric_eigenvalues().iter().copied().collect();
    if n > 1 {
        eigenvalues.extend(odd.symmetric_eigenvalues().iter());
    }
    log_sum_of_powers(&eigenvalues, lattice.sites) - lattice.time_extent() * lattice.potential_min()
}

/// log Σⱼ λⱼ^N for the eigenvalues of a positive semi-definite matrix, scaled by the largest:
/// N log λ_max + log Σⱼ (λⱼ/λ_max)^N. Rounding can make tiny eigenvalues slightly negative; their
/// signed powers are kept (they are negligible).
fn log_sum_of_powers(eigenvalues: &[f64], power: usize) -> f64 {
    let largest = eigenvalues
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        largest > 0.0,
        "the transfer matrix has no positive eigenvalue"
    );
    let sum: f64 = eigenvalues
        .iter()
        .map(|&value| {
            let ratio = (value / largest).clamp(-1.0, 1.0);
            ratio.signum() * (power as f64 * ratio.abs().ln()).exp()
        })
        .sum();
    power as f64 * largest.ln() + sum.ln()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The full (unsplit) matrix A on `grid`.
    fn full_matrix(lattice: &Lattice, grid: &Grid) -> DMatrix<f64> {
        let x = grid.all();
        DMatrix::from_fn(x.len(), x.len(), |j, k| {
            lattice.entry(grid.spacing, x[j], x[k])
        })
    }

    /// log Z by Tr(A^N) computed with repeated squaring and rescaling: a route that does not use
    /// eigenvalues or the parity split.
    pub(crate) fn log_z_by_squaring(lattice: &Lattice, grid: &Grid) -> f64 {
        fn rescale(m: &mut DMatrix<f64>) -> f64 {
            let scale = m.amax();
            *m /= scale;
            scale.ln()
        }
        let mut base = full_matrix(lattice, grid);
        let mut base_log = rescale(&mut base);
        let mut accumulated: Option<(DMatrix<f64>, f64)> = None;
        let mut exponent = lattice.sites;
        loop {
            if exponent & 1 == 1 {
                accumulated = Some(match accumulated {
                    None => (base.clone(), base_log),
                    Some((m, log)) => {
                        let mut product = &m * &base;
                        let scale = rescale(&mut product);
                        (product, log + base_log + scale)
                    }
                });
            }
            exponent >>= 1;
            if exponent == 0 {
                break;
            }
            base = &base * &base;
            base_log = 2.0 * base_log + rescale(&mut base);
        }
        let (m, log) = accumulated.expect("sites ≥ 1");
        log + m.trace().ln() - lattice.time_extent() * lattice.potential_min()
    }

    fn lattice(sites: usize, mass: f64) -> Lattice {
        Lattice {
            sites,
            mass,
            lambda: 1.0,
            dt: 4.0 / sites as f64,
        }
    }

    #[test]
    fn parity_blocks_have_the_eigenvalues_of_the_full_matrix() {
        let l = lattice(5, 3.0);
        let grid = Grid::new(4.0, 0.05);
        let mut full: Vec<f64> = full_matrix(&l, &grid)
            .symmetric_eigenvalues()
            .iter()
            .copied()
            .collect();
        let full_log = log_sum_of_powers(&full, l.sites) - l.time_extent() * l.potential_min();
        assert!(
            (full_log - log_z(&l, &grid)).abs() < 1e-12,
            "{full_log} vs {}",
            log_z(&l, &grid)
        );
        full.sort_by(f64::total_cmp);
        assert!(
            full[0] > -1e-13 * full[full.len() - 1],
            "A is positive semi-definite: {}",
            full[0]
        );
    }

    #[test]
    fn eigenvalues_agree_with_repeated_squaring() {
        for (sites, mass) in [(16, 3.0), (16, 6.0), (7, 1.5)] {
            let l = lattice(sites, mass);
            let grid = Grid::for_lattice(&l);
            let eigen = log_z(&l, &grid);
            let squaring = log_z_by_squaring(&l, &grid);
            assert!(
                (eigen - squaring).abs() < 1e-10 * eigen.abs().max(1.0),
                "N = {sites}, m = {mass}: eigenvalues {eigen} vs squaring {squaring}"
            );
        }
    }

    #[test]
    fn log_z_is_converged_in_spacing_and_half_width() {
        let l = lattice(16, 6.0);
        let grid = Grid::for_lattice(&l);
        let base = log_z(&l, &grid);
        assert!((grid.points_per_width(&l) - POINTS_PER_WIDTH).abs() < 1e-9);
        let finer = log_z(&l, &Grid::new(grid.half_width, 0.5 * grid.spacing));
        let wider = log_z(&l, &Grid::new(1.5 * grid.half_width, grid.spacing));
        assert!((finer - base).abs() < 1e-9, "halving h: {base} → {finer}");
        assert!((wider - base).abs() < 1e-9, "enlarging L: {base} → {wider}");
        // Margins: four times coarser, or 20 % narrower, still agree.
        let coarse = log_z(&l, &Grid::new(grid.half_width, 4.0 * grid.spacing));
        let narrow = log_z(&l, &Grid::new(0.8 * grid.half_width, grid.spacing));
        assert!((coarse - base).abs() < 1e-10, "h × 4: {base} → {coarse}");
        assert!((narrow - base).abs() < 1e-10, "L × 0.8: {base} → {narrow}");
    }

    #[test]
    fn large_lattices_are_finite_and_converged() {
        // N = 256 (Δτ = 1/64): the eigenvalue route must not overflow, and the grid must suffice.
        let l = lattice(256, 3.0);
        let grid = Grid::for_lattice(&l);
        assert!(grid.points <= MAX_POINTS, "{grid:?}");
        let base = log_z(&l, &grid);
        assert!(base.is_finite());
        let coarser = log_z(&l, &Grid::new(grid.half_width, 2.0 * grid.spacing));
        let wider = log_z(&l, &Grid::new(1.3 * grid.half_width, grid.spacing));
        assert!((coarser - base).abs() < 1e-9, "h × 2: {base} → {coarser}");
        assert!((wider - base).abs() < 1e-9, "L × 1.3: {base} → {wider}");

        // N = 1000, m = 6: the grid is coarsened to fit MAX_POINTS and is still converged.
        let l = lattice(1000, 6.0);
        let grid = Grid::for_lattice(&l);
        let per_width = grid.points_per_width(&l);
        assert!(grid.points <= MAX_POINTS, "{grid:?}");
        assert!(
            (MIN_POINTS_PER_WIDTH..POINTS_PER_WIDTH).contains(&per_width),
            "{per_width}"
        );
        let base = log_z(&l, &grid);
        let coarser = log_z(&l, &Grid::new(grid.half_width, 1.5 * grid.spacing));
        assert!(
            (coarser - base).abs() < 1e-9,
            "N = 1000, h × 1.5: {base} → {coarser}"
        );
    }

    #[test]
    fn excursion_cost_bounds_single_site_and_grows() {
        let l = lattice(16, 3.0);
        let mut previous = 0.0;
        for k in 0..40 {
            let x = 2.0 + 0.1 * k as f64;
            let cost = l.excursion_cost(x);
            assert!(
                cost >= l.dt * l.excess_potential(x) && cost >= previous,
                "x = {x}"
            );
            previous = cost;
        }
        let half = l.half_width_for_cost(EXCURSION_COST);
        assert!(
            (l.excursion_cost(half) - EXCURSION_COST).abs() < 1e-6,
            "{half}"
        );
    }
}
