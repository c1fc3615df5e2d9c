//! boltzflow energy plugin `rings`: concentric Gaussian rings in the plane, a density with thin,
//! curved modes.
//!
//! p(x) = Σ_k w_k exp(−(‖x‖ − r_k)²/2σ_k²)/N_k with the weights normalised to sum 1 and each
//! ring normalised exactly:
//!
//! ```text
//! N_k = 2π ∫₀^∞ r exp(−(r − r_k)²/2σ_k²) dr
//!     = 2π σ_k [σ_k exp(−r_k²/2σ_k²) + r_k √(π/2) (1 + erf(r_k/(σ_k√2)))]
//! ```
//!
//! The reduced energy is u = −log p, so the exact log Z is 0. ∇u = Σ_k ρ_k(x) (‖x‖ − r_k)/σ_k² ·
//! x/‖x‖ with the responsibilities ρ_k computed by a log-sum-exp (0 at the origin, where ‖x‖ has
//! no gradient). The exact sampler picks a ring by weight, an angle uniformly, and the radius
//! from r exp(−(r − r_k)²/2σ²) on r > 0 by rejection from the envelope
//! r_k·N(r_k, σ²)|_{r>0} + (r − r_k)₊ exp(−(r − r_k)²/2σ²) (a truncated normal and a shifted
//! Rayleigh), accepted with probability r/(r_k + (r − r_k)₊) ≤ 1: exact, and accepted at least
//! half the time.
//!
//! # Configuration (RON)
//!
//! ```ron
//! (radii: [2.0, 5.0], widths: [0.25, 0.25], weights: [1.0, 2.0])   // the defaults
//! ```
//!
//! `widths` may be one value for every ring; `weights` are positive and default to equal.

use boltzflow_plugin::{Context, Energy, Metadata, PluginError, parse_config};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use std::f64::consts::{PI, TAU};

/// The configuration as written.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_radii")]
    radii: Vec<f64>,
    #[serde(default = "default_widths")]
    widths: Vec<f64>,
    #[serde(default)]
    weights: Option<Vec<f64>>,
}

fn default_radii() -> Vec<f64> {
    vec![2.0, 5.0]
}

fn default_widths() -> Vec<f64> {
    vec![0.25]
}

/// One ring: radius, width, log of its weight over its normaliser.
#[derive(Clone, Copy, Debug)]
struct Ring {
    radius: f64,
    width: f64,
    weight: f64,
    log_scale: f64,
}

/// The rings' energy.
#[derive(Clone, Debug)]
pub struct Rings {
    rings: Vec<Ring>,
}

/// log N_k, the normaliser of exp(−(‖x‖ − r)²/2σ²) over the plane.
fn log_normaliser(r: f64, s: f64) -> f64 {
    let radial = s * (-r * r / (2.0 * s * s)).exp()
        + r * (PI / 2.0).sqrt() * (1.0 + libm::erf(r / (s * 2f64.sqrt())));
    (TAU * s * radial).ln()
}

impl Rings {
    fn new(config: Config) -> Result<Self, PluginError> {
        let k = config.radii.len();
        let widths = match config.widths.len() {
            1 => vec![config.widths[0]; k],
            n if n == k => config.widths.clone(),
            n => {
                return Err(PluginError::new(format!(
                    "`widths` has {n} values for {k} rings; give one per ring, or one for all"
                )));
            }
        };
        let weights = config.weights.clone().unwrap_or_else(|| vec![1.0; k]);
        if k == 0 || weights.len() != k {
            return Err(PluginError::new(format!(
                "need at least one ring and one weight per ring ({k} radii, {} weights)",
                weights.len()
            )));
        }
        let total: f64 = weights.iter().sum();
        let mut rings = Vec::with_capacity(k);
        for i in 0..k {
            let (radius, width, weight) = (config.radii[i], widths[i], weights[i]);
            if !(radius.is_finite() && radius >= 0.0) {
                return Err(PluginError::new(format!(
                    "ring {i}: the radius must be finite and ≥ 0, not {radius}"
                )));
            }
            if !(width.is_finite() && width > 0.0 && weight.is_finite() && weight > 0.0) {
                return Err(PluginError::new(format!(
                    "ring {i}: the width and weight must be positive and finite, not {width} \
                     and {weight}"
                )));
            }
            let weight = weight / total;
            rings.push(Ring {
                radius,
                width,
                weight,
                log_scale: weight.ln() - log_normaliser(radius, width),
            });
        }
        Ok(Rings { rings })
    }

    /// Each ring's log term log w_k − log N_k − (‖x‖ − r_k)²/2σ_k² at radius `r`.
    fn log_terms(&self, r: f64) -> impl Iterator<Item = f64> + '_ {
        self.rings.iter().map(move |ring| {
            let d = (r - ring.radius) / ring.width;
            ring.log_scale - 0.5 * d * d
        })
    }

    /// A radius from r exp(−(r − a)²/2σ²) on r > 0 (see the module's documentation).
    fn radius(ring: &Ring, rng: &mut Pcg64) -> f64 {
        let (a, s) = (ring.radius, ring.width);
        // Masses of the envelope's two terms over the whole line: a σ√(2π) and σ². The normal's
        // draws at r ≤ 0 are rejected below, which truncates it to r > 0 in proportion.
        let normal_mass = a * s * TAU.sqrt();
        let p_normal = normal_mass / (normal_mass + s * s);
        loop {
            let r = if rng.random::<f64>() < p_normal {
                let z: f64 = StandardNormal.sample(rng);
                a + s * z
            } else {
                let u: f64 = rng.random();
                a + s * (-2.0 * (1.0 - u).ln()).sqrt()
            };
            if r > 0.0 && rng.random::<f64>() * (a + (r - a).max(0.0)) < r {
                return r;
            }
        }
    }
}

impl Energy for Rings {
    fn from_config(config: &str, _context: &Context) -> Result<Self, PluginError> {
        Rings::new(parse_config(config)?)
    }

    fn dim(&self) -> usize {
        2
    }

    fn metadata(&self) -> Metadata {
        let radii: Vec<f64> = self.rings.iter().map(|r| r.radius).collect();
        let widths: Vec<f64> = self.rings.iter().map(|r| r.width).collect();
        let weights: Vec<f64> = self.rings.iter().map(|r| r.weight).collect();
        Metadata::new(format!("{} concentric rings", self.rings.len()))
            .with_description("Gaussian rings in the plane, exp(−(‖x‖ − r_k)²/2σ_k²), normalised")
            .with_parameters(Config {
                radii,
                widths,
                weights: Some(weights),
            })
    }

    fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let r = x[0].hypot(x[1]);
        let max = self.log_terms(r).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = self.log_terms(r).map(|t| (t - max).exp()).sum();
        let u = -(max + sum.ln());
        if let Some(g) = grad {
            // du/dr = Σ_k ρ_k (r − r_k)/σ_k², along x/r.
            let du_dr: f64 = self
                .rings
                .iter()
                .zip(self.log_terms(r))
                .map(|(ring, t)| (t - max).exp() / sum * (r - ring.radius) / ring.width.powi(2))
                .sum();
            let (gx, gy) = if r > 0.0 {
                (du_dr * x[0] / r, du_dr * x[1] / r)
            } else {
                (0.0, 0.0)
            };
            g[0] = gx;
            g[1] = gy;
        }
        u
    }

    fn log_z(&self) -> Option<f64> {
        Some(0.0)
    }

    fn has_exact_sampler(&self) -> bool {
        true
    }

    fn sample(&self, seed: u64, out: &mut [f64]) -> Result<(), PluginError> {
        if !out.len().is_multiple_of(2) {
            return Err(PluginError::new(
                "the sample buffer must hold whole 2-D points",
            ));
        }
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut cumulative = Vec::with_capacity(self.rings.len());
        let mut total = 0.0;
        for ring in &self.rings {
            total += ring.weight;
            cumulative.push(total);
        }
        for point in out.chunks_exact_mut(2) {
            let u: f64 = rng.random();
            let k = cumulative
                .partition_point(|&c| c <= u)
                .min(self.rings.len() - 1);
            let r = Self::radius(&self.rings[k], &mut rng);
            let angle = TAU * rng.random::<f64>();
            point[0] = r * angle.cos();
            point[1] = r * angle.sin();
        }
        Ok(())
    }
}

boltzflow_plugin::export_plugin!(Rings, "rings");

#[cfg(test)]
mod tests {
    use super::*;

    fn rings(config: &str) -> Rings {
        Rings::from_config(config, &Context::default()).unwrap()
    }

    /// ∫ exp(−u) = 1, by the midpoint rule on a fine polar grid (also for a ring whose
    /// Gaussian reaches the origin).
    #[test]
    fn the_density_is_normalised() {
        for config in [
            "",
            "(radii: [0.3, 2.0], widths: [0.5, 0.1], weights: [1.0, 3.0])",
        ] {
            let rings = rings(config);
            let (n, r_max) = (200_000, 12.0);
            let h = r_max / n as f64;
            let integral: f64 = (0..n)
                .map(|i| {
                    let r = (i as f64 + 0.5) * h;
                    TAU * r * (-rings.energy(&[r, 0.0], None)).exp() * h
                })
                .sum();
            assert!((integral - 1.0).abs() < 1e-9, "{config}: {integral}");
        }
    }

    /// The analytic gradient against central differences.
    #[test]
    fn the_gradient_matches_differences() {
        let rings = rings("(radii: [1.0, 3.0], widths: [0.4, 0.6])");
        let h = 1e-6;
        for x in [[0.7, -0.2], [2.0, 2.5], [-0.1, 0.05]] {
            let mut g = [0.0; 2];
            rings.energy(&x, Some(&mut g));
            for a in 0..2 {
                let mut p = x;
                p[a] += h;
                let mut m = x;
                m[a] -= h;
                let numeric = (rings.energy(&p, None) - rings.energy(&m, None)) / (2.0 * h);
                assert!(
                    (g[a] - numeric).abs() < 1e-6 * (1.0 + numeric.abs()),
                    "{x:?}"
                );
            }
        }
    }

    /// The sampler's radii follow the density: the share of each ring (by the nearest radius)
    /// and the mean radius of each ring against quadrature, over 200,000 samples.
    #[test]
    fn the_sampler_is_exact() {
        let rings = rings("(radii: [0.2, 3.0], widths: [0.3, 0.3], weights: [1.0, 2.0])");
        let n = 200_000;
        let mut x = vec![0.0; 2 * n];
        rings.sample(7, &mut x).unwrap();
        let radii: Vec<f64> = x.chunks(2).map(|p| p[0].hypot(p[1])).collect();
        let inner: Vec<f64> = radii.iter().copied().filter(|r| *r < 1.6).collect();
        let share = inner.len() as f64 / n as f64;
        let mean_inner = inner.iter().sum::<f64>() / inner.len() as f64;
        // Quadrature of the same quantities.
        let (m, h) = (400_000, 8.0 / 400_000.0);
        let (mut mass, mut moment) = (0.0, 0.0);
        for i in 0..m {
            let r = (i as f64 + 0.5) * h;
            if r < 1.6 {
                let p = TAU * r * (-rings.energy(&[r, 0.0], None)).exp() * h;
                mass += p;
                moment += p * r;
            }
        }
        let share_sd = (mass * (1.0 - mass) / n as f64).sqrt();
        assert!(
            (share - mass).abs() < 4.0 * share_sd,
            "share {share} against {mass}"
        );
        assert!(
            (mean_inner - moment / mass).abs() < 0.005,
            "{mean_inner} against {}",
            moment / mass
        );
    }

    #[test]
    fn bad_configurations_are_named() {
        for (config, expected) in [
            ("(radii: [1.0, 2.0], widths: [0.1, 0.2, 0.3])", "widths"),
            ("(radii: [-1.0])", "radius"),
            ("(radii: [1.0], widths: [0.0])", "width"),
            ("(radii: [1.0], weight: [1.0])", "weight"),
        ] {
            let message = Rings::from_config(config, &Context::default()).unwrap_err();
            assert!(
                message.message().contains(expected),
                "{config}: {}",
                message.message()
            );
        }
    }
}
