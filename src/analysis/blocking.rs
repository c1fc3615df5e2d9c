//! Standard errors by batch means (block averaging), for any estimator.
//!
//! The samples are split into B contiguous blocks of (nearly) equal length. The estimator θ̂ (a
//! mean, a self-normalised importance-weighted mean, a whole histogram, …) is evaluated on the
//! full sample, which gives the reported value, and on each block separately. When the blocks
//! are independent, the block estimates θ̂_b are B draws of an estimate from n/B samples, so
//!
//! ```text
//! stderr(θ̂) = sd_b(θ̂_b) / √B,    sd with the (B − 1) denominator,
//! ```
//!
//! estimates the standard error of an estimate from all n samples. This holds for i.i.d. weighted
//! samples (flow samples with importance weights: the self-normalised ratio is handled without
//! a delta-method formula) and for correlated series (MD frames of one walker, contiguous in
//! time) as long as each block is much longer than the integrated autocorrelation time; shorter
//! blocks underestimate the error. With few blocks the error of the error is large (relative
//! ≈ 1/√(2(B − 1))), so B ≈ 20 is a common compromise.

use crate::{Error, Result};
use std::ops::Range;

/// An estimate (one or many components) with its batch-means standard errors.
#[derive(Clone, Debug, PartialEq)]
pub struct Blocked {
    /// The estimator on all samples.
    pub value: Vec<f64>,
    /// Standard error of each component: sd over the blocks' estimates / √B. NaN where a block's
    /// estimate is NaN (for example a block with zero total weight).
    pub stderr: Vec<f64>,
}

/// The `blocks` contiguous ranges that split `0..n`; the first `n % blocks` are one longer.
pub fn block_ranges(n: usize, blocks: usize) -> Vec<Range<usize>> {
    let (base, extra) = (n / blocks, n % blocks);
    let mut start = 0;
    (0..blocks)
        .map(|b| {
            let len = base + usize::from(b < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// Evaluates `estimator` on the samples `0..n` and on `blocks` contiguous blocks of them, and
/// returns the full-sample estimate with its batch-means standard errors (see the module
/// documentation). The estimator receives the range of sample indices it should use and must
/// return the same number of components for every range.
///
/// Fails when `blocks < 2` or there are fewer samples than blocks.
pub fn blocked<F>(n: usize, blocks: usize, estimator: F) -> Result<Blocked>
where
    F: Fn(Range<usize>) -> Vec<f64>,
{
    if blocks < 2 {
        return Err(Error::InvalidArgument(format!(
            "the number of blocks for the error estimate must be at least 2, not {blocks}"
        )));
    }
    if n < blocks {
        return Err(Error::InvalidArgument(format!(
            "{n} samples cannot be split into {blocks} blocks for the error estimate; use \
             fewer blocks (--blocks) or more samples"
        )));
    }
    let value = estimator(0..n);
    let estimates: Vec<Vec<f64>> = block_ranges(n, blocks)
        .into_iter()
        .map(&estimator)
        .collect();
    let b = blocks as f64;
    let stderr = (0..value.len())
        .map(|k| {
            let mean = estimates.iter().map(|e| e[k]).sum::<f64>() / b;
            let var = estimates.iter().map(|e| (e[k] - mean).powi(2)).sum::<f64>() / (b - 1.0);
            (var / b).sqrt()
        })
        .collect();
    Ok(Blocked { value, stderr })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    fn mean(x: &[f64]) -> f64 {
        x.iter().sum::<f64>() / x.len() as f64
    }

    #[test]
    fn ranges_cover_everything_in_order() {
        assert_eq!(block_ranges(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(block_ranges(4, 4), vec![0..1, 1..2, 2..3, 3..4]);
        assert!(blocked(3, 4, |r| vec![r.len() as f64]).is_err());
        assert!(blocked(30, 1, |r| vec![r.len() as f64]).is_err());
    }

    /// The average of stderr² over many replicates against the exact variance of the mean.
    fn mean_squared_stderr(replicates: u64, mut series: impl FnMut(u64) -> Vec<f64>) -> f64 {
        (0..replicates)
            .map(|seed| {
                let x = series(seed);
                blocked(x.len(), 20, |r| vec![mean(&x[r])]).unwrap().stderr[0].powi(2)
            })
            .sum::<f64>()
            / replicates as f64
    }

    #[test]
    fn iid_samples_give_the_known_variance_of_the_mean() {
        let n = 4000;
        let msq = mean_squared_stderr(300, |seed| {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
        });
        let exact = 1.0 / n as f64;
        assert!((msq / exact - 1.0).abs() < 0.08, "{msq} vs {exact}");
    }

    /// AR(1), x_t = ρ x_{t−1} + √(1 − ρ²) ε_t started in its stationary law N(0, 1):
    /// Cov(x_s, x_t) = ρ^|s−t|, so Var(x̄) = (1/n²) Σ_{s,t} ρ^|s−t|
    /// = (1/n) [(1 + ρ)/(1 − ρ) − 2ρ(1 − ρⁿ)/(n(1 − ρ)²)], about 19 times the i.i.d. value for
    /// ρ = 0.9. Blocks of 1000 steps (τ_int ≈ 19) recover it; the naive i.i.d. formula does not.
    #[test]
    fn ar1_series_gives_its_exact_variance_of_the_mean() {
        let (n, rho) = (20_000usize, 0.9f64);
        let nf = n as f64;
        let exact = ((1.0 + rho) / (1.0 - rho)
            - 2.0 * rho * (1.0 - rho.powi(n as i32)) / (nf * (1.0 - rho).powi(2)))
            / nf;
        let ar1 = |seed: u64| {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(1000 + seed);
            let mut x: f64 = StandardNormal.sample(&mut rng);
            (0..n)
                .map(|_| {
                    let out = x;
                    let e: f64 = StandardNormal.sample(&mut rng);
                    x = rho * x + (1.0 - rho * rho).sqrt() * e;
                    out
                })
                .collect::<Vec<f64>>()
        };
        let msq = mean_squared_stderr(300, ar1);
        assert!((msq / exact - 1.0).abs() < 0.1, "{msq} vs {exact}");
        let x = ar1(0);
        let m = mean(&x);
        let naive = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (nf - 1.0) / nf;
        assert!(naive < exact / 10.0, "i.i.d. formula {naive} vs {exact}");
    }

    /// Self-normalised weighted mean Σwf/Σw of f ~ N(0, 1) with independent weights w ∈ {1, 3}
    /// (equally likely): by the delta method Var = E[w²] E[f²] / (n E[w]²) = 5 / (4n).
    #[test]
    fn weighted_ratio_estimates_have_the_delta_method_variance() {
        let n = 4000;
        let msq = (0..300u64)
            .map(|seed| {
                let mut rng = rand_pcg::Pcg64::seed_from_u64(5000 + seed);
                let f: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
                let w: Vec<f64> = (0..n)
                    .map(|_| if rng.random::<bool>() { 3.0 } else { 1.0 })
                    .collect();
                let est = |r: Range<usize>| {
                    let num: f64 = r.clone().map(|i| w[i] * f[i]).sum();
                    vec![num / w[r].iter().sum::<f64>()]
                };
                blocked(n, 20, est).unwrap().stderr[0].powi(2)
            })
            .sum::<f64>()
            / 300.0;
        let exact = 5.0 / (4.0 * n as f64);
        assert!((msq / exact - 1.0).abs() < 0.08, "{msq} vs {exact}");
    }
}
