//! Importance weights: effective sample size and the log Z estimate with its standard error.

use rand::{RngExt, SeedableRng};

/// Self-normalised weights w_i / Σ_j w_j of log weights `log_w`, computed stably (scaled by the
/// largest weight first). A non-finite log weight gets weight 0; with no finite one, all are 0.
/// Every self-normalised estimate of boltzflow (FAB's loss, histograms, basin populations, mode
/// masses) weighs its points with this.
pub fn normalised_weights(log_w: &[f64]) -> Vec<f64> {
    let max = log_w
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return vec![0.0; log_w.len()];
    }
    let w: Vec<f64> = log_w
        .iter()
        .map(|&v| if v.is_finite() { (v - max).exp() } else { 0.0 })
        .collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|v| v / sum).collect()
}

/// Systematic resampling: `m` indices drawn with probabilities `weights` (summing to 1) at the
/// points (u + j)/m of their cumulative sum, u uniform in [0, 1).
pub fn systematic_resample(weights: &[f64], m: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let u: f64 = rng.random();
    let mut picked = Vec::with_capacity(m);
    let mut cumulative = 0.0;
    let mut i = 0;
    for j in 0..m {
        let target = (u + j as f64) / m as f64;
        while i + 1 < weights.len() && cumulative + weights[i] <= target {
            cumulative += weights[i];
            i += 1;
        }
        picked.push(i);
    }
    picked
}

/// Summary of a set of log importance weights log w_i = −u(x_i) − log q(x_i), x_i ~ q.
///
/// A point whose log weight is not finite (an infinite or NaN energy) gets zero weight: it stays
/// in the count n, so the estimate of Z = E_q\[w\] remains unbiased, and it is reported in
/// [`ImportanceSummary::n_nonfinite`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImportanceSummary {
    /// Number of samples, non-finite ones included.
    pub n: usize,
    /// Number of samples with a non-finite log weight (given zero weight).
    pub n_nonfinite: usize,
    /// Kish effective sample size as a fraction of n: (Σw)² / (n Σw²), in [0, 1].
    pub ess: f64,
    /// log Ẑ = log((1/n) Σ w_i). Ẑ is unbiased for Z; log Ẑ is consistent (bias O(1/n)).
    pub log_z: f64,
    /// Standard error of log Ẑ by the delta method: sd(w) / (√n · mean(w)).
    pub log_z_stderr: f64,
}

impl ImportanceSummary {
    /// Summarises the log weights. With no finite weight at all, `ess` is 0 and `log_z` is −∞.
    pub fn from_log_weights(log_w: &[f64]) -> Self {
        let n = log_w.len();
        let n_nonfinite = log_w.iter().filter(|v| !v.is_finite()).count();
        let max = log_w
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        if n == 0 || max == f64::NEG_INFINITY {
            return ImportanceSummary {
                n,
                n_nonfinite,
                ess: 0.0,
                log_z: f64::NEG_INFINITY,
                log_z_stderr: f64::INFINITY,
            };
        }
        // Weights scaled by exp(−max), so the largest is 1.
        let (sum, sum_sq) = log_w
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| (v - max).exp())
            .fold((0.0, 0.0), |(s, s2), w| (s + w, s2 + w * w));
        let n_f = n as f64;
        let ess = sum * sum / (n_f * sum_sq);
        let mean = sum / n_f;
        let variance = if n > 1 {
            (sum_sq - n_f * mean * mean).max(0.0) / (n_f - 1.0)
        } else {
            f64::INFINITY
        };
        ImportanceSummary {
            n,
            n_nonfinite,
            ess,
            log_z: max + mean.ln(),
            log_z_stderr: variance.sqrt() / (n_f.sqrt() * mean),
        }
    }
}

/// What exact samples of the target x_i ~ p say about the flow: log w_i = −u(x_i) − log q(x_i)
/// evaluated on them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForwardSummary {
    /// Forward ESS, a fraction: Z / E_p\[w\] = 1 / E_q[(p/q)²], the same population quantity as
    /// the reverse ESS but estimated where p has its mass, so it sees modes the flow misses.
    pub ess: f64,
    /// KL(p‖q) = E_p[log p − log q] = E_p[log w] − log Z, in nats.
    pub kl: f64,
}

impl ForwardSummary {
    /// From the log weights of exact target samples and log Z (exact, or an estimate).
    /// Non-finite weights (q = 0 where p > 0) give an infinite KL and zero ESS.
    pub fn from_log_weights(log_w: &[f64], log_z: f64) -> Self {
        let n = log_w.len() as f64;
        if log_w.is_empty() || log_w.iter().any(|v| !v.is_finite()) {
            return ForwardSummary {
                ess: 0.0,
                kl: f64::INFINITY,
            };
        }
        let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_mean_w = max + (log_w.iter().map(|v| (v - max).exp()).sum::<f64>() / n).ln();
        ForwardSummary {
            ess: (log_z - log_mean_w).exp().min(1.0),
            kl: log_w.iter().sum::<f64>() / n - log_z,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn normalised_weights_sum_to_one_and_zero_the_nonfinite() {
        let w = normalised_weights(&[0.0, f64::NAN, -1.0, f64::NEG_INFINITY, 1000.0 - 1000.0]);
        let e = (-1f64).exp();
        let expected = [1.0 / (2.0 + e), 0.0, e / (2.0 + e), 0.0, 1.0 / (2.0 + e)];
        for (a, b) in w.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{w:?}");
        }
        assert_eq!(
            normalised_weights(&[f64::NAN, 800.0 * f64::NEG_INFINITY]),
            [0.0, 0.0]
        );
        // Large log weights do not overflow.
        assert_eq!(normalised_weights(&[1e4, 1e4]), [0.5, 0.5]);
    }

    #[test]
    fn equal_weights_give_full_ess_and_exact_log_z() {
        let s = ImportanceSummary::from_log_weights(&[2.5; 100]);
        assert!((s.ess - 1.0).abs() < 1e-12);
        assert!((s.log_z - 2.5).abs() < 1e-12);
        assert!(s.log_z_stderr.abs() < 1e-12);
    }

    #[test]
    fn nonfinite_weights_count_as_zero() {
        let s = ImportanceSummary::from_log_weights(&[0.0, f64::NAN, f64::NEG_INFINITY, 0.0]);
        assert_eq!(s.n_nonfinite, 2);
        assert!((s.log_z - 0.5f64.ln()).abs() < 1e-12);
        assert!((s.ess - 0.5).abs() < 1e-12);
    }

    #[test]
    fn no_finite_weight() {
        let s = ImportanceSummary::from_log_weights(&[f64::NAN]);
        assert_eq!(s.ess, 0.0);
        assert_eq!(s.log_z, f64::NEG_INFINITY);
    }

    /// q = N(0, 1), p̃(x) = exp(−x²/(2σ²)), so Z = σ√(2π). Over many independent seeds, Ẑ/Z
    /// averages to 1 (unbiased) and the ±2 standard error interval covers log Z about 95% of the
    /// time (the error bars are honest).
    #[test]
    fn estimate_is_unbiased_with_honest_error_bars() {
        let sigma: f64 = 1.3;
        let log_z_true = (sigma * (2.0 * std::f64::consts::PI).sqrt()).ln();
        let (runs, n) = (400, 2000);
        let mut ratios = Vec::with_capacity(runs);
        let mut covered = 0;
        for seed in 0..runs as u64 {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            let log_w: Vec<f64> = (0..n)
                .map(|_| {
                    let x: f64 = StandardNormal.sample(&mut rng);
                    let log_q = -0.5 * x * x - 0.5 * (2.0 * std::f64::consts::PI).ln();
                    -0.5 * x * x / (sigma * sigma) - log_q
                })
                .collect();
            let s = ImportanceSummary::from_log_weights(&log_w);
            ratios.push((s.log_z - log_z_true).exp());
            if (s.log_z - log_z_true).abs() <= 2.0 * s.log_z_stderr {
                covered += 1;
            }
        }
        let mean = ratios.iter().sum::<f64>() / runs as f64;
        let sd =
            (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (runs - 1) as f64).sqrt();
        assert!(
            (mean - 1.0).abs() < 3.0 * sd / (runs as f64).sqrt(),
            "mean Ẑ/Z = {mean} ± {sd}"
        );
        let coverage = covered as f64 / runs as f64;
        assert!(
            (0.91..=0.99).contains(&coverage),
            "coverage of ±2σ: {coverage}"
        );
    }

    /// q = N(0, 1), p = N(0, σ²) (normalised, log Z = 0): 1/E_q[(p/q)²] is known in
    /// closed form below, and KL(p‖q) = (σ² − 1 − ln σ²)/2. The forward estimates from exact
    /// p-samples agree with both, and with the reverse ESS from q-samples.
    #[test]
    fn forward_estimates_match_closed_forms() {
        let sigma: f64 = 1.2;
        let s2 = sigma * sigma;
        let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let log_p = |x: f64| -0.5 * x * x / s2 - sigma.ln() - half_ln_2pi;
        let log_q = |x: f64| -0.5 * x * x - half_ln_2pi;
        // ∫ p²/q = (1/(σ²√(2π))) √(π / (1/σ² − 1/2)).
        let second_moment = (std::f64::consts::PI / (1.0 / s2 - 0.5)).sqrt()
            / (s2 * (2.0 * std::f64::consts::PI).sqrt());
        let ess_exact = 1.0 / second_moment;
        let kl_exact = 0.5 * (s2 - 1.0 - s2.ln());
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let n = 400_000;
        let on_p: Vec<f64> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                let x = sigma * z;
                log_p(x) - log_q(x)
            })
            .collect();
        let forward = ForwardSummary::from_log_weights(&on_p, 0.0);
        assert!(
            (forward.ess - ess_exact).abs() < 0.01,
            "{} vs {ess_exact}",
            forward.ess
        );
        assert!(
            (forward.kl - kl_exact).abs() < 0.003,
            "{} vs {kl_exact}",
            forward.kl
        );
        let on_q: Vec<f64> = (0..n)
            .map(|_| {
                let x: f64 = StandardNormal.sample(&mut rng);
                log_p(x) - log_q(x)
            })
            .collect();
        let reverse = ImportanceSummary::from_log_weights(&on_q);
        assert!(
            (reverse.ess - ess_exact).abs() < 0.01,
            "{} vs {ess_exact}",
            reverse.ess
        );
        assert_eq!(
            ForwardSummary::from_log_weights(&[0.0, f64::NEG_INFINITY], 0.0).ess,
            0.0
        );
    }
}
