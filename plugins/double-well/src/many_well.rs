//! The Many-Well energy of the FAB paper (Midgley et al., 2023): d/2 independent copies of a 2-D
//! double well.
//!
//! u(x) = Σᵢ f(x₂ᵢ) + ½ x₂ᵢ₊₁², with the asymmetric 1-D double well f(t) = t⁴ − 6t² − 0.5t.
//!
//! The energy is separable, so the exact log Z is (d/2)·(log Z₁ + ½ log 2π) with
//! Z₁ = ∫ exp(−f(t)) dt, computed once by quadrature, and exact samples come from a rejection
//! sampler for f ([`X1Sampler`]) and standard normal draws.

use crate::quadrature::{GaussLegendre, bracketed_root};
use boltzflow_plugin::PluginError;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1, StandardNormal};
use rand_pcg::Pcg64;
use serde::Serialize;
use std::f64::consts::PI;

/// f(t) = t⁴ − 6t² − 0.5t, in Horner form so that f(±∞) = +∞.
pub fn f(t: f64) -> f64 {
    t * (t * (t * t - 6.0) - 0.5)
}

/// f'(t) = 4t³ − 12t − 0.5.
pub fn df(t: f64) -> f64 {
    t * (4.0 * t * t - 12.0) - 0.5
}

/// f''(t) = 12t² − 12.
fn d2f(t: f64) -> f64 {
    12.0 * t * t - 12.0
}

/// The three critical points of f (roots of f'), in increasing order: the left minimum
/// (≈ −1.711), the local maximum (≈ −0.042) and the global minimum (≈ 1.753).
///
/// f' changes sign on each of [−2, −1], [−1, 1] and [1, 2], so each root is found by safeguarded
/// Newton in its bracket.
pub fn critical_points() -> [f64; 3] {
    [(-2.0, -1.0), (-1.0, 1.0), (1.0, 2.0)].map(|(a, b)| bracketed_root(df, d2f, a, b))
}

/// Half-width of the interval on which [`log_z1`] integrates: outside it f(t) − min f > 1000, so
/// the neglected mass is below e⁻¹⁰⁰⁰ relative to Z₁ (f is convex and increasing in |t| there, so
/// ∫_{|t|>6} e^{−f} ≤ 2 e^{−f(±6)}/|f'(±6)|).
const QUADRATURE_HALF_WIDTH: f64 = 6.0;
/// Panels of the composite 20-point Gauss–Legendre rule on [−6, 6] (width 0.05, against a well
/// width of about 0.2).
const QUADRATURE_PANELS: usize = 240;

/// ∫ g(t) e^{−(f(t) − f_min)} dt over [a, b] (within [−6, 6]) by composite Gauss–Legendre.
fn integrate_shifted(a: f64, b: f64, f_min: f64, g: impl Fn(f64) -> f64) -> f64 {
    let rule = GaussLegendre::new(20);
    let panels =
        ((b - a) / (2.0 * QUADRATURE_HALF_WIDTH) * QUADRATURE_PANELS as f64).ceil() as usize;
    rule.integrate(a, b, panels.max(1), |t| g(t) * (f_min - f(t)).exp())
}

/// log Z₁ = log ∫ exp(−f(t)) dt, by composite 20-point Gauss–Legendre on [−6, 6] (240 panels),
/// split at 0; relative accuracy near 1e-15.
pub fn log_z1() -> f64 {
    let f_min = f(critical_points()[2]);
    let mass = integrate_shifted(-QUADRATURE_HALF_WIDTH, 0.0, f_min, |_| 1.0)
        + integrate_shifted(0.0, QUADRATURE_HALF_WIDTH, f_min, |_| 1.0);
    mass.ln() - f_min
}

/// E[g(t)] under the density exp(−f(t))/Z₁, by the same quadrature as [`log_z1`]. Used by tests
/// of the sampler.
#[cfg(test)]
pub fn expectation(g: impl Fn(f64) -> f64 + Copy) -> f64 {
    let f_min = f(critical_points()[2]);
    let h = QUADRATURE_HALF_WIDTH;
    let norm =
        integrate_shifted(-h, 0.0, f_min, |_| 1.0) + integrate_shifted(0.0, h, f_min, |_| 1.0);
    (integrate_shifted(-h, 0.0, f_min, g) + integrate_shifted(0.0, h, f_min, g)) / norm
}

/// P(a ≤ t < b) under the density exp(−f(t))/Z₁ (a, b clamped to [−6, 6]), by quadrature on
/// [a, b] itself. Used by tests of the sampler.
#[cfg(test)]
pub fn probability(a: f64, b: f64) -> f64 {
    let h = QUADRATURE_HALF_WIDTH;
    let f_min = f(critical_points()[2]);
    let (a, b) = (a.clamp(-h, h), b.clamp(-h, h));
    let norm =
        integrate_shifted(-h, 0.0, f_min, |_| 1.0) + integrate_shifted(0.0, h, f_min, |_| 1.0);
    if b <= a {
        0.0
    } else {
        integrate_shifted(a, b, f_min, |_| 1.0) / norm
    }
}

/// The Many-Well energy on ℝ^dim (dim even), with exact log Z and exact sampler.
#[derive(Clone, Debug)]
pub struct ManyWell {
    dim: usize,
    log_z1: f64,
    sampler: X1Sampler,
}

/// Resolved parameters of a [`ManyWell`], reported in the metadata.
#[derive(Serialize)]
struct ManyWellParameters {
    system: &'static str,
    dim: usize,
    pairs: usize,
    log_z: f64,
    log_z1: f64,
    log_z_method: &'static str,
    sampler: &'static str,
    sampler_acceptance: f64,
}

impl ManyWell {
    /// The Many-Well in `dim` dimensions; `dim` must be even and ≥ 2 (checked by the caller).
    pub fn new(dim: usize) -> Self {
        debug_assert!(dim >= 2 && dim.is_multiple_of(2));
        ManyWell {
            dim,
            log_z1: log_z1(),
            sampler: X1Sampler::new(),
        }
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Short system name, e.g. `"Many-Well-32"`.
    pub fn name(&self) -> String {
        format!("Many-Well-{}", self.dim)
    }

    /// Resolved parameters for the metadata.
    pub fn parameters(&self) -> impl Serialize + use<> {
        ManyWellParameters {
            system: "many_well",
            dim: self.dim,
            pairs: self.dim / 2,
            log_z: self.log_z(),
            log_z1: self.log_z1,
            log_z_method: "separable: (dim/2)(log Z1 + log(2π)/2); Z1 = ∫exp(-(t⁴-6t²-0.5t))dt by composite \
                           20-point Gauss-Legendre, 240 panels on [-6, 6]",
            sampler: "x2 ~ N(0,1); x1 by rejection under a piecewise-constant envelope (exact maxima on 140 \
                      cells of [-3.5, 3.5]) with exponential tails beyond: exact on the whole line",
            sampler_acceptance: self.sampler.acceptance(),
        }
    }

    /// Reduced energy, and its gradient if asked.
    pub fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let mut u = 0.0;
        for pair in x.chunks_exact(2) {
            let (x1, x2) = (pair[0], pair[1]);
            u += f(x1) + 0.5 * x2 * x2;
        }
        if let Some(grad) = grad {
            for (g, pair) in grad.chunks_exact_mut(2).zip(x.chunks_exact(2)) {
                g[0] = df(pair[0]);
                g[1] = pair[1];
            }
        }
        u
    }

    /// Exact log Z = (dim/2)·(log Z₁ + ½ log 2π).
    pub fn log_z(&self) -> f64 {
        (self.dim / 2) as f64 * (self.log_z1 + 0.5 * (2.0 * PI).ln())
    }

    /// Fills `out` (n × dim) with exact samples, reproducibly from `seed` (Pcg64).
    pub fn sample(&self, seed: u64, out: &mut [f64]) -> Result<(), PluginError> {
        if !out.len().is_multiple_of(self.dim) {
            return Err(PluginError::new(format!(
                "the sample buffer holds {} values, not a whole number of {}-dimensional points",
                out.len(),
                self.dim
            )));
        }
        let mut rng = Pcg64::seed_from_u64(seed);
        for pair in out.chunks_exact_mut(2) {
            pair[0] = self.sampler.sample(&mut rng);
            pair[1] = StandardNormal.sample(&mut rng);
        }
        Ok(())
    }
}

/// Exact sampler of p(t) ∝ exp(−f(t)) on the whole real line, by rejection.
///
/// The envelope is piecewise constant on `CELLS` equal cells of [−L, L] (L = 3.5): on each cell it
/// is the exact maximum of exp(−f), which lies at an end of the cell or at a critical point of f
/// inside it (all three are known, [`critical_points`]), enlarged by a relative 1e-9 against
/// rounding. Beyond ±L, f is convex (f'' > 0 for |t| > 1), so f(t) ≥ f(±L) + f'(±L)(t ∓ L): the
/// envelope there is an exponential tail, sampled exactly. So the envelope dominates the density
/// everywhere and the samples are exact, with no truncation (the tails carry about e⁻⁸⁵ of the
/// mass, so they are essentially never proposed). Acceptance is about 0.91.
#[derive(Clone, Debug)]
pub struct X1Sampler {
    f_min: f64,
    /// Envelope height exp(−(max f on cell − f_min)) per cell.
    heights: Vec<f64>,
    /// Cumulative envelope mass: the cells, then the right tail, then the left tail.
    cumulative: Vec<f64>,
    /// f(L) − f_min and f'(L) > 0, for the right tail.
    right: (f64, f64),
    /// f(−L) − f_min and −f'(−L) > 0, for the left tail.
    left: (f64, f64),
    /// Z₁·exp(f_min) by quadrature, for the acceptance rate.
    shifted_mass: f64,
}

/// Half-width of the piecewise-constant part of the envelope.
const ENVELOPE_HALF_WIDTH: f64 = 3.5;
/// Number of envelope cells on [−L, L].
const CELLS: usize = 140;
/// Relative enlargement of every envelope piece, against rounding in f.
const SAFETY: f64 = 1.0 + 1e-9;

impl X1Sampler {
    /// Builds the envelope.
    pub fn new() -> Self {
        let critical = critical_points();
        let f_min = f(critical[2]);
        let width = 2.0 * ENVELOPE_HALF_WIDTH / CELLS as f64;
        let mut heights = Vec::with_capacity(CELLS);
        let mut cumulative = Vec::with_capacity(CELLS + 2);
        let mut total = 0.0;
        for k in 0..CELLS {
            let a = -ENVELOPE_HALF_WIDTH + k as f64 * width;
            let b = a + width;
            let lowest = critical
                .iter()
                .filter(|&&c| c > a && c < b)
                .map(|&c| f(c))
                .fold(f(a).min(f(b)), f64::min);
            let height = SAFETY * (f_min - lowest).exp();
            heights.push(height);
            total += height * width;
            cumulative.push(total);
        }
        let l = ENVELOPE_HALF_WIDTH;
        let right = (f(l) - f_min, df(l));
        let left = (f(-l) - f_min, -df(-l));
        debug_assert!(right.1 > 0.0 && left.1 > 0.0);
        total += SAFETY * (-right.0).exp() / right.1;
        cumulative.push(total);
        total += SAFETY * (-left.0).exp() / left.1;
        cumulative.push(total);
        let shifted_mass = (log_z1() + f_min).exp();
        X1Sampler {
            f_min,
            heights,
            cumulative,
            right,
            left,
            shifted_mass,
        }
    }

    /// Expected acceptance rate: Z₁ over the envelope's mass.
    pub fn acceptance(&self) -> f64 {
        self.shifted_mass / self.cumulative[CELLS + 1]
    }

    /// One exact draw of t ~ exp(−f(t))/Z₁.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let total = self.cumulative[CELLS + 1];
        let width = 2.0 * ENVELOPE_HALF_WIDTH / CELLS as f64;
        loop {
            let pick = rng.random::<f64>() * total;
            let piece = self
                .cumulative
                .partition_point(|&c| c <= pick)
                .min(CELLS + 1);
            let (t, envelope) = if piece < CELLS {
                let a = -ENVELOPE_HALF_WIDTH + piece as f64 * width;
                (a + width * rng.random::<f64>(), self.heights[piece])
            } else {
                let (excess, slope) = if piece == CELLS {
                    self.right
                } else {
                    self.left
                };
                let exponential: f64 = Exp1.sample(rng);
                let distance = exponential / slope;
                let t = if piece == CELLS {
                    ENVELOPE_HALF_WIDTH + distance
                } else {
                    -ENVELOPE_HALF_WIDTH - distance
                };
                (t, SAFETY * (-excess - slope * distance).exp())
            };
            if rng.random::<f64>() * envelope < (self.f_min - f(t)).exp() {
                return t;
            }
        }
    }
}

impl Default for X1Sampler {
    fn default() -> Self {
        X1Sampler::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_points(seed: u64, n: usize, dim: usize, scale: f64) -> Vec<Vec<f64>> {
        let mut rng = Pcg64::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                (0..dim)
                    .map(|_| scale * (2.0 * rng.random::<f64>() - 1.0))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn critical_points_are_roots_of_the_derivative() {
        let c = critical_points();
        assert!(
            c[0] < -1.0 && c[1] > -1.0 && c[1] < 1.0 && c[2] > 1.0,
            "{c:?}"
        );
        for t in c {
            assert!(df(t).abs() < 1e-12, "f'({t}) = {}", df(t));
        }
        assert!(f(c[2]) < f(c[0]), "the right well is the deeper one");
        // Closed form of the roots of t³ − 3t − 1/8 (= f'(t)/4): 2 cos((arccos(1/16) − 2πk)/3).
        let closed = |k: f64| 2.0 * ((1.0f64 / 16.0).acos() / 3.0 - 2.0 * PI * k / 3.0).cos();
        for (t, k) in c.iter().zip([2.0, 1.0, 0.0]) {
            assert!((t - closed(k)).abs() < 1e-14, "{t} vs {}", closed(k));
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let well = ManyWell::new(32);
        for x in random_points(1, 10, 32, 2.5) {
            let mut grad = vec![0.0; 32];
            let u = well.energy(&x, Some(&mut grad));
            assert_eq!(u, well.energy(&x, None));
            for i in 0..32 {
                let step = 1e-5;
                let (mut plus, mut minus) = (x.clone(), x.clone());
                plus[i] += step;
                minus[i] -= step;
                let numeric = (well.energy(&plus, None) - well.energy(&minus, None)) / (2.0 * step);
                assert!(
                    (numeric - grad[i]).abs() < 1e-6 * (1.0 + grad[i].abs()),
                    "coordinate {i}: analytic {} vs numeric {numeric}",
                    grad[i]
                );
            }
        }
    }

    #[test]
    fn infinite_coordinates_give_infinite_energy() {
        let well = ManyWell::new(2);
        assert_eq!(well.energy(&[f64::INFINITY, 0.0], None), f64::INFINITY);
        assert_eq!(well.energy(&[f64::NEG_INFINITY, 0.0], None), f64::INFINITY);
        assert!(well.energy(&[f64::NAN, 0.0], None).is_nan());
    }

    /// Brute force on a 2-D grid with the trapezoid rule (not the plugin's Gauss–Legendre, not its
    /// separation into 1-D factors): ∫∫ exp(−u(x1, x2)) over [−5, 5] × [−10, 10], spacing 1/160.
    /// (The box must reach |x2| = 10: the Gaussian mass beyond |x2| = 5 is still 6e-7.)
    fn brute_force_log_z_dim2() -> f64 {
        let spacing = 1.0 / 160.0;
        let trapezoid = |half: f64| -> Vec<(f64, f64)> {
            let points = (2.0 * half / spacing).round() as usize + 1;
            (0..points)
                .map(|k| {
                    (
                        -half + k as f64 * spacing,
                        if k == 0 || k == points - 1 { 0.5 } else { 1.0 },
                    )
                })
                .collect()
        };
        let well = ManyWell::new(2);
        let shift = -10.0; // below the minimum of u, so that exp does not overflow
        let mut sum = 0.0;
        for (x1, w1) in trapezoid(5.0) {
            for (x2, w2) in trapezoid(10.0) {
                sum += w1 * w2 * (shift - well.energy(&[x1, x2], None)).exp();
            }
        }
        (sum * spacing * spacing).ln() - shift
    }

    #[test]
    fn log_z_matches_brute_force_grid_integration() {
        let brute = brute_force_log_z_dim2();
        let two = ManyWell::new(2).log_z();
        assert!(
            (two - brute).abs() < 1e-11,
            "dim 2: plugin {two} vs brute force {brute}"
        );
        let thirty_two = ManyWell::new(32).log_z();
        assert!(
            (thirty_two - 16.0 * brute).abs() < 1e-9,
            "dim 32: {thirty_two} vs 16 × {brute}"
        );
    }

    #[test]
    fn log_z1_is_converged_in_the_quadrature() {
        // Twice the panels, and a Simpson rule on a fine grid, agree with the plugin's value.
        let f_min = f(critical_points()[2]);
        let rule = GaussLegendre::new(20);
        let finer = rule
            .integrate(-7.0, 7.0, 560, |t| (f_min - f(t)).exp())
            .ln()
            - f_min;
        assert!((finer - log_z1()).abs() < 1e-13, "{finer} vs {}", log_z1());
        let n = 20_000;
        let h = 8.0 / n as f64;
        let simpson: f64 = (0..=n)
            .map(|k| {
                let w = if k == 0 || k == n {
                    1.0
                } else if k % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                w * (f_min - f(-4.0 + k as f64 * h)).exp()
            })
            .sum::<f64>()
            * h
            / 3.0;
        let simpson = simpson.ln() - f_min;
        assert!(
            (simpson - log_z1()).abs() < 1e-11,
            "{simpson} vs {}",
            log_z1()
        );
    }

    #[test]
    fn envelope_dominates_the_density() {
        let sampler = X1Sampler::new();
        let width = 2.0 * ENVELOPE_HALF_WIDTH / CELLS as f64;
        for (k, &height) in sampler.heights.iter().enumerate() {
            let a = -ENVELOPE_HALF_WIDTH + k as f64 * width;
            for j in 0..=200 {
                let t = a + width * j as f64 / 200.0;
                assert!((sampler.f_min - f(t)).exp() <= height, "cell {k}, t = {t}");
            }
        }
        for j in 0..=1000 {
            let d = j as f64 * 0.01;
            let (excess, slope) = sampler.right;
            assert!(f(ENVELOPE_HALF_WIDTH + d) - sampler.f_min >= excess + slope * d - 1e-9);
            let (excess, slope) = sampler.left;
            assert!(f(-ENVELOPE_HALF_WIDTH - d) - sampler.f_min >= excess + slope * d - 1e-9);
        }
        let acceptance = sampler.acceptance();
        assert!(
            acceptance > 0.85 && acceptance <= 1.0,
            "acceptance {acceptance}"
        );
    }

    #[test]
    fn sampler_matches_quadrature_moments_and_histogram() {
        let n = 200_000;
        let well = ManyWell::new(2);
        let mut out = vec![0.0; 2 * n];
        well.sample(7, &mut out).unwrap();
        let x1: Vec<f64> = out.iter().step_by(2).copied().collect();
        let x2: Vec<f64> = out.iter().skip(1).step_by(2).copied().collect();

        let mean = expectation(|t| t);
        let variance = expectation(|t| t * t) - mean * mean;
        let sample_mean = x1.iter().sum::<f64>() / n as f64;
        let se = (variance / n as f64).sqrt();
        assert!(
            (sample_mean - mean).abs() < 4.0 * se,
            "mean of x1: {sample_mean} vs {mean} (se {se})"
        );

        let positive = probability(0.0, f64::INFINITY);
        let fraction = x1.iter().filter(|&&t| t > 0.0).count() as f64 / n as f64;
        let se = (positive * (1.0 - positive) / n as f64).sqrt();
        assert!(
            (fraction - positive).abs() < 4.0 * se,
            "P(x1 > 0): {fraction} vs {positive} (se {se})"
        );

        let m2 = x2.iter().sum::<f64>() / n as f64;
        let v2 = x2.iter().map(|t| t * t).sum::<f64>() / n as f64;
        assert!(
            m2.abs() < 4.0 / (n as f64).sqrt() && (v2 - 1.0).abs() < 4.0 * (2.0 / n as f64).sqrt()
        );

        // Histogram of x1 on 48 bins of [−2.8, 2.8] plus two outer bins, against quadrature.
        let (lo, hi, bins) = (-2.8, 2.8, 48);
        let width = (hi - lo) / bins as f64;
        let mut counts = vec![0usize; bins + 2];
        for &t in &x1 {
            let slot = if t < lo {
                bins
            } else if t >= hi {
                bins + 1
            } else {
                ((t - lo) / width) as usize
            };
            counts[slot.min(bins + 1)] += 1;
        }
        let mut chi2 = 0.0;
        let mut df_count = 0;
        for (slot, &count) in counts.iter().enumerate() {
            let p = match slot {
                s if s < bins => probability(lo + s as f64 * width, lo + (s + 1) as f64 * width),
                s if s == bins => probability(f64::NEG_INFINITY, lo),
                _ => probability(hi, f64::INFINITY),
            };
            let expected = p * n as f64;
            if expected >= 5.0 {
                chi2 += (count as f64 - expected).powi(2) / expected;
                df_count += 1;
            }
        }
        // χ² with ~df degrees of freedom: mean df, sd √(2 df); allow 5 sd.
        let df_count = df_count as f64;
        assert!(
            chi2 < df_count + 5.0 * (2.0 * df_count).sqrt(),
            "χ² = {chi2} for {df_count} bins"
        );
    }

    #[test]
    fn sampler_is_reproducible_from_the_seed() {
        let well = ManyWell::new(4);
        let (mut a, mut b, mut c) = (vec![0.0; 40], vec![0.0; 40], vec![0.0; 40]);
        well.sample(3, &mut a).unwrap();
        well.sample(3, &mut b).unwrap();
        well.sample(4, &mut c).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(well.sample(3, &mut [0.0; 6]).is_err());
    }
}
