//! Importance weights: effective sample size and the log Z estimate with its standard error.

/// Summary of a set of log importance weights log w_i = −u(x_i) − log q(x_i), x_i ~ q.
///
/// A point whose log weight is not finite (an infinite or NaN energy) gets zero weight: it stays
/// in the count n, so the estimate of Z = E_q[w] remains unbiased, and it is reported in
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

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
}
