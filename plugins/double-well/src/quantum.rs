//! A quantum particle in a double well, as a lattice path integral in imaginary time (the test
//! system of Máté & Fleuret).
//!
//! N sites x₀..x_{N−1} on a periodic time lattice of extent T, time step Δτ = T/N:
//!
//! u(x) = Δτ Σᵢ [ V(xᵢ) + (m/2)(xᵢ − xᵢ₋₁)²/Δτ² ], with x₋₁ = x_{N−1} and V(x) = (λ/4)x⁴ − (m/2)x².
//!
//! The exact log Z comes from a transfer matrix ([`crate::transfer_matrix`]); there is no exact
//! sampler.

use crate::transfer_matrix::{self, Grid, Lattice};
use serde::Serialize;

/// The lattice path integral of a particle in the double well V(x) = (λ/4)x⁴ − (m/2)x².
#[derive(Clone, Debug)]
pub struct QuantumDoubleWell {
    lattice: Lattice,
    time_extent: f64,
    grid: Grid,
    log_z: f64,
}

/// Resolved parameters of a [`QuantumDoubleWell`], reported in the metadata.
#[derive(Serialize)]
struct QuantumParameters {
    system: &'static str,
    sites: usize,
    mass: f64,
    lambda: f64,
    time_extent: f64,
    dt: f64,
    log_z: f64,
    transfer_matrix: TransferMatrixInfo,
}

/// How log Z was computed.
#[derive(Serialize)]
struct TransferMatrixInfo {
    grid_points: usize,
    half_width: f64,
    spacing: f64,
    excursion_cost: f64,
    points_per_width: f64,
    method: &'static str,
}

impl QuantumDoubleWell {
    /// The system with `sites` ≥ 2 and positive, finite `mass`, `lambda` and `time_extent`
    /// (checked by the caller), on the transfer-matrix grid [`Grid::for_lattice`]. Computes log Z.
    pub fn new(sites: usize, mass: f64, lambda: f64, time_extent: f64) -> Self {
        let lattice = Lattice {
            sites,
            mass,
            lambda,
            dt: time_extent / sites as f64,
        };
        let grid = Grid::for_lattice(&lattice);
        let log_z = transfer_matrix::log_z(&lattice, &grid);
        QuantumDoubleWell {
            lattice,
            time_extent,
            grid,
            log_z,
        }
    }

    /// The grid the transfer matrix for `sites`, `mass`, `lambda`, `time_extent` would use, to check
    /// its size before building it.
    pub fn grid_for(sites: usize, mass: f64, lambda: f64, time_extent: f64) -> Grid {
        Grid::for_lattice(&Lattice {
            sites,
            mass,
            lambda,
            dt: time_extent / sites as f64,
        })
    }

    /// Number of coordinates: the number of sites N.
    pub fn dim(&self) -> usize {
        self.lattice.sites
    }

    /// Short system name, e.g. `"quantum double well N=16 m=3"`, with λ and T when they are not
    /// the defaults.
    pub fn name(&self) -> String {
        let mut name = format!(
            "quantum double well N={} m={}",
            self.lattice.sites, self.lattice.mass
        );
        if self.lattice.lambda != 1.0 {
            name += &format!(" λ={}", self.lattice.lambda);
        }
        if self.time_extent != 4.0 {
            name += &format!(" T={}", self.time_extent);
        }
        name
    }

    /// Resolved parameters for the metadata, including the transfer-matrix grid.
    pub fn parameters(&self) -> impl Serialize + use<> {
        QuantumParameters {
            system: "quantum",
            sites: self.lattice.sites,
            mass: self.lattice.mass,
            lambda: self.lattice.lambda,
            time_extent: self.time_extent,
            dt: self.lattice.dt,
            log_z: self.log_z,
            transfer_matrix: TransferMatrixInfo {
                grid_points: self.grid.points,
                half_width: self.grid.half_width,
                spacing: self.grid.spacing,
                excursion_cost: transfer_matrix::EXCURSION_COST,
                points_per_width: self.grid.points_per_width(&self.lattice),
                method: "log Tr(A^N), A = h K on the grid, from the eigenvalues of its even and odd parity blocks",
            },
        }
    }

    /// The exact log Z (transfer matrix).
    pub fn log_z(&self) -> f64 {
        self.log_z
    }

    /// The transfer-matrix grid used for log Z.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// Reduced energy, and its gradient if asked:
    /// ∂u/∂xᵢ = Δτ V'(xᵢ) + (m/Δτ)(2xᵢ − xᵢ₋₁ − xᵢ₊₁).
    pub fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let Lattice {
            sites,
            mass,
            lambda,
            dt,
        } = self.lattice;
        let half_m = 0.5 * mass;
        let quarter_lambda = 0.25 * lambda;
        let spring = mass / dt;
        let mut potential = 0.0;
        let mut kinetic = 0.0;
        let mut previous = x[sites - 1];
        for &xi in x {
            let x2 = xi * xi;
            potential += x2 * (quarter_lambda * x2 - half_m);
            let step = xi - previous;
            kinetic += step * step;
            previous = xi;
        }
        if let Some(grad) = grad {
            for i in 0..sites {
                let left = x[if i == 0 { sites - 1 } else { i - 1 }];
                let right = x[if i + 1 == sites { 0 } else { i + 1 }];
                let xi = x[i];
                grad[i] = dt * xi * (lambda * xi * xi - mass) + spring * (2.0 * xi - left - right);
            }
        }
        dt * potential + 0.5 * spring * kinetic
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quadrature::GaussLegendre;
    use rand::{RngExt, SeedableRng};
    use rand_pcg::Pcg64;

    fn random_point(rng: &mut Pcg64, sites: usize) -> Vec<f64> {
        (0..sites)
            .map(|_| 3.0 * (2.0 * rng.random::<f64>() - 1.0))
            .collect()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = Pcg64::seed_from_u64(11);
        for (sites, mass) in [(16, 3.0), (5, 6.0), (2, 1.5)] {
            let system = QuantumDoubleWell::new(sites, mass, 1.0, 4.0);
            for _ in 0..10 {
                let x = random_point(&mut rng, sites);
                let mut grad = vec![0.0; sites];
                let u = system.energy(&x, Some(&mut grad));
                assert_eq!(u, system.energy(&x, None));
                for i in 0..sites {
                    let step = 1e-5;
                    let (mut plus, mut minus) = (x.clone(), x.clone());
                    plus[i] += step;
                    minus[i] -= step;
                    let numeric =
                        (system.energy(&plus, None) - system.energy(&minus, None)) / (2.0 * step);
                    assert!(
                        (numeric - grad[i]).abs() < 1e-6 * (1.0 + grad[i].abs()),
                        "N = {sites}, m = {mass}, site {i}: analytic {} vs numeric {numeric}",
                        grad[i]
                    );
                }
            }
        }
    }

    #[test]
    fn energy_matches_the_definition() {
        // Direct transcription of u(x) = Δτ Σ [V(xᵢ) + (m/2)(xᵢ − xᵢ₋₁)²/Δτ²].
        let (sites, m, lambda, t) = (5, 2.5, 0.7, 3.0);
        let system = QuantumDoubleWell::new(sites, m, lambda, t);
        let dt = t / sites as f64;
        let x = [0.3, -1.2, 2.0, 0.9, -0.4];
        let v = |x: f64| lambda / 4.0 * x.powi(4) - m / 2.0 * x * x;
        let expected: f64 = (0..sites)
            .map(|i| {
                dt * (v(x[i]) + m / 2.0 * (x[i] - x[(i + sites - 1) % sites]).powi(2) / (dt * dt))
            })
            .sum();
        assert!((system.energy(&x, None) - expected).abs() < 1e-12 * expected.abs());
    }

    #[test]
    fn energy_is_even_and_invariant_under_shifts_and_reversal() {
        let mut rng = Pcg64::seed_from_u64(5);
        let system = QuantumDoubleWell::new(16, 3.0, 1.0, 4.0);
        for _ in 0..20 {
            let x = random_point(&mut rng, 16);
            let u = system.energy(&x, None);
            let negated: Vec<f64> = x.iter().map(|v| -v).collect();
            assert!((system.energy(&negated, None) - u).abs() <= 1e-12 * u.abs().max(1.0));
            for shift in 1..16 {
                let mut shifted = x.clone();
                shifted.rotate_left(shift);
                assert!(
                    (system.energy(&shifted, None) - u).abs() <= 1e-12 * u.abs().max(1.0),
                    "shift {shift}"
                );
            }
            let reversed: Vec<f64> = x.iter().rev().copied().collect();
            assert!((system.energy(&reversed, None) - u).abs() <= 1e-12 * u.abs().max(1.0));
        }
    }

    /// log ∫ exp(−u) over the box [−b, b]^N by a product Gauss–Legendre rule (a different rule
    /// from the transfer matrix's uniform grid, and using the plugin's energy function directly).
    fn brute_force_log_z(system: &QuantumDoubleWell, half_width: f64, panels: usize) -> f64 {
        let (nodes, weights) = GaussLegendre::new(10).composite(-half_width, half_width, panels);
        let sites = system.dim();
        // Shift by the minimum energy, T·min V, to avoid overflow.
        let shift = system.lattice.time_extent() * system.lattice.potential_min();
        let mut index = vec![0usize; sites];
        let mut x = vec![0.0; sites];
        let mut sum = 0.0;
        'outer: loop {
            let mut weight = 1.0;
            for (i, &k) in index.iter().enumerate() {
                x[i] = nodes[k];
                weight *= weights[k];
            }
            sum += weight * (shift - system.energy(&x, None)).exp();
            for digit in index.iter_mut() {
                *digit += 1;
                if *digit < nodes.len() {
                    continue 'outer;
                }
                *digit = 0;
            }
            break;
        }
        sum.ln() - shift
    }

    #[test]
    fn log_z_matches_brute_force_integration_for_two_and_three_sites() {
        // (sites, mass, lambda, time_extent, box half-width, panels of 10 nodes)
        let cases = [
            (2, 1.5, 1.0, 4.0, 5.0, 40),
            (2, 3.0, 1.0, 4.0, 5.0, 40),
            (2, 6.0, 1.0, 4.0, 5.0, 40),
            (2, 1.0, 2.0, 6.0, 5.0, 40),
            // 20 panels × 10 nodes = 200 points per axis, 8 million points.
            (3, 3.0, 1.0, 4.0, 5.0, 20),
            (3, 6.0, 1.0, 4.0, 5.0, 20),
            (3, 2.0, 0.5, 2.0, 6.0, 20),
        ];
        for (sites, mass, lambda, time_extent, half_width, panels) in cases {
            let system = QuantumDoubleWell::new(sites, mass, lambda, time_extent);
            let brute = brute_force_log_z(&system, half_width, panels);
            assert!(
                (system.log_z() - brute).abs() < 1e-10 * brute.abs().max(1.0),
                "N = {sites}, m = {mass}, λ = {lambda}, T = {time_extent}: transfer matrix {} vs brute force {brute}",
                system.log_z()
            );
        }
    }

    #[test]
    fn small_configurations_build_quickly() {
        let start = std::time::Instant::now();
        for mass in [1.5, 3.0, 4.5, 6.0] {
            let system = QuantumDoubleWell::new(16, mass, 1.0, 4.0);
            assert!(system.log_z().is_finite());
        }
        let elapsed = start.elapsed().as_secs_f64();
        // Generous: the release build takes a fraction of this; a debug build is slower.
        assert!(
            elapsed < 20.0,
            "building four N = 16 systems took {elapsed} s"
        );
    }
}
