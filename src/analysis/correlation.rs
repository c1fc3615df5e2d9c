//! The statistical inefficiency of a correlated time series (MD frames), and subsampling to
//! nearly independent samples.
//!
//! For a stationary series a_1 … a_N with normalised autocorrelation C_t, the variance of its
//! mean is g σ²/N with the statistical inefficiency
//!
//! ```text
//! g = 1 + 2 Σ_{t=1}^{N−1} (1 − t/N) C_t,
//! ```
//!
//! so N/g samples carry the information of independent ones (Chodera, Swope, Pitera, Seok &
//! Dill, J. Chem. Theory Comput. 3, 26, 2007). The sum is cut where C_t first drops to 0 or
//! below (after t = 3, as pymbar does), since beyond that the estimates of C_t are noise.

/// The statistical inefficiency g ≥ 1 of `series` (module documentation). A constant series,
/// or one shorter than 3 values, has g = 1.
pub fn statistical_inefficiency(series: &[f64]) -> f64 {
    let n = series.len();
    if n < 3 {
        return 1.0;
    }
    let mean = series.iter().sum::<f64>() / n as f64;
    let d: Vec<f64> = series.iter().map(|v| v - mean).collect();
    let variance = d.iter().map(|v| v * v).sum::<f64>() / n as f64;
    if variance <= 0.0 {
        return 1.0;
    }
    let mut g = 1.0;
    for t in 1..n - 1 {
        let c = d[..n - t]
            .iter()
            .zip(&d[t..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / ((n - t) as f64 * variance);
        if c <= 0.0 && t > 3 {
            break;
        }
        g += 2.0 * c * (1.0 - t as f64 / n as f64);
    }
    g.max(1.0)
}

/// Indices of nearly independent samples of a series with statistical inefficiency `g`: the
/// samples at round(i·g), i = 0, 1, … (pymbar's `subsample_correlated_data`).
pub fn subsample_indices(n: usize, g: f64) -> Vec<usize> {
    let g = g.max(1.0);
    (0..)
        .map(|i| (i as f64 * g).round() as usize)
        .take_while(|&i| i < n)
        .fold(Vec::new(), |mut picked, i| {
            if picked.last() != Some(&i) {
                picked.push(i);
            }
            picked
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    /// An AR(1) series a_t = φ a_{t−1} + ε_t, whose exact g is (1 + φ)/(1 − φ).
    fn ar1(phi: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let mut a = 0.0;
        (0..n)
            .map(|_| {
                let e: f64 = StandardNormal.sample(&mut rng);
                a = phi * a + e;
                a
            })
            .collect()
    }

    #[test]
    fn ar1_inefficiency_matches_its_closed_form() {
        for phi in [0.0, 0.5, 0.9] {
            let exact = (1.0 + phi) / (1.0 - phi);
            let mean = (0..8)
                .map(|s| statistical_inefficiency(&ar1(phi, 100_000, s)))
                .sum::<f64>()
                / 8.0;
            assert!(
                (mean / exact - 1.0).abs() < 0.06,
                "φ = {phi}: g = {mean}, exact {exact}"
            );
        }
    }

    #[test]
    fn degenerate_series_have_unit_inefficiency() {
        assert_eq!(statistical_inefficiency(&[]), 1.0);
        assert_eq!(statistical_inefficiency(&[2.0; 100]), 1.0);
    }

    #[test]
    fn subsampling_takes_every_g_th_sample() {
        assert_eq!(subsample_indices(10, 1.0), (0..10).collect::<Vec<_>>());
        assert_eq!(subsample_indices(10, 2.5), vec![0, 3, 5, 8]);
        assert_eq!(subsample_indices(3, 0.2), vec![0, 1, 2]);
    }
}
