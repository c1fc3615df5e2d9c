//! The mixture's precomputed form, its energy and gradient, and its exact sampler.

use crate::config::Spec;
use crate::kernel::Blocks;
use boltzflow_plugin::PluginError;
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

/// A Gaussian mixture ready for evaluation and sampling, with Σ_k = L_k L_kᵀ.
#[derive(Clone, Debug)]
pub struct Mixture {
    dim: usize,
    /// log w_k − ½ dim log 2π − ½ log det Σ_k, μ_k and Σ_k⁻¹, laid out for evaluation.
    blocks: Blocks,
    /// μ_k, row-major `n × dim`.
    means: Vec<f64>,
    /// L_k (lower triangular), row-major `n × dim × dim`.
    cholesky: Vec<f64>,
    /// Running sums of the weights, for picking a component; the last is 1.
    cumulative_weights: Vec<f64>,
}

impl Mixture {
    /// Factorises the covariances. Fails, naming the component, if one is not positive definite.
    pub fn new(spec: &Spec) -> Result<Mixture, PluginError> {
        let dim = spec.dim();
        let n = spec.means.len();
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        let mut log_norms = Vec::with_capacity(n);
        let mut precisions = Vec::with_capacity(n * dim * dim);
        let mut cholesky = Vec::with_capacity(n * dim * dim);
        for (k, weight) in spec.weights.iter().enumerate() {
            let (l, precision, log_det) = factorise(k, dim, &spec.covariance(k))?;
            log_norms.push(weight.ln() - 0.5 * (dim as f64 * log_2pi + log_det));
            cholesky.extend(l);
            precisions.extend(precision);
        }
        let means = spec.means.concat();
        let components: Vec<_> = log_norms
            .iter()
            .zip(means.chunks_exact(dim))
            .zip(precisions.chunks_exact(dim * dim))
            .map(|((&log_norm, mean), precision)| (log_norm, mean, precision))
            .collect();
        Ok(Mixture {
            dim,
            blocks: Blocks::new(dim, &components),
            means,
            cholesky,
            cumulative_weights: cumulative(&spec.weights),
        })
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// u(x), and ∇u(x) into `grad` if given. Panics unless `x` (and `grad`) have length `dim`.
    pub fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let mut u = [0.0];
        if let Err(e) = self.blocks.energy_batch(x, &mut u, grad) {
            panic!("{e}");
        }
        u[0]
    }

    /// u at a batch of points (row-major, `u.len() × dim`), and ∇u into `grad` if given.
    pub fn energy_batch(
        &self,
        x: &[f64],
        u: &mut [f64],
        grad: Option<&mut [f64]>,
    ) -> Result<(), PluginError> {
        self.blocks.energy_batch(x, u, grad)
    }

    /// Fills `out` (row-major, `n × dim`) with exact samples, reproducibly from `seed`: a
    /// component k drawn by weight, then μ_k + L_k z with z standard normal. The first m samples
    /// for a seed do not depend on how many are drawn.
    pub fn sample(&self, seed: u64, out: &mut [f64]) -> Result<(), PluginError> {
        let dim = self.dim;
        if !out.len().is_multiple_of(dim) {
            return Err(PluginError::new(format!(
                "the sample buffer holds {} numbers, not a whole number of {dim}-D points",
                out.len()
            )));
        }
        let mut rng = Pcg64::seed_from_u64(seed);
        for point in out.chunks_exact_mut(dim) {
            let u: f64 = rng.random();
            let k = self.cumulative_weights.partition_point(|&c| c <= u);
            let k = k.min(self.cumulative_weights.len() - 1);
            for z in point.iter_mut() {
                *z = StandardNormal.sample(&mut rng);
            }
            self.transform(k, point);
        }
        Ok(())
    }

    /// Replaces z by μ_k + L_k z, in place: row i of L_k reads only z_0..=z_i, so going from the
    /// last row up never reads a coordinate already replaced.
    fn transform(&self, k: usize, point: &mut [f64]) {
        let dim = self.dim;
        let mean = &self.means[k * dim..(k + 1) * dim];
        let l = &self.cholesky[k * dim * dim..(k + 1) * dim * dim];
        for i in (0..dim).rev() {
            let row = &l[i * dim..=i * dim + i];
            point[i] = mean[i]
                + row
                    .iter()
                    .zip(&point[..=i])
                    .map(|(a, z)| a * z)
                    .sum::<f64>();
        }
    }
}

/// Running sums of `weights`, the last set to exactly 1.
fn cumulative(weights: &[f64]) -> Vec<f64> {
    let mut total = 0.0;
    let mut sums: Vec<f64> = weights
        .iter()
        .map(|w| {
            total += w;
            total
        })
        .collect();
    if let Some(last) = sums.last_mut() {
        *last = 1.0;
    }
    sums
}

/// Cholesky factor L (row-major), precision Σ⁻¹ (row-major) and log det Σ of component `k`'s
/// covariance `cov` (row-major, `dim × dim`).
fn factorise(k: usize, dim: usize, cov: &[f64]) -> Result<(Vec<f64>, Vec<f64>, f64), PluginError> {
    let not_pd = || {
        PluginError::new(format!(
            "the covariance of component {k} is not positive definite, or too close to \
             singular to factorise: give a symmetric positive definite matrix"
        ))
    };
    let cholesky = DMatrix::from_row_slice(dim, dim, cov)
        .cholesky()
        .ok_or_else(not_pd)?;
    let l = cholesky.l();
    let log_det = 2.0 * l.diagonal().iter().map(|v| v.ln()).sum::<f64>();
    let precision = cholesky.inverse();
    if !log_det.is_finite() || precision.iter().any(|v| !v.is_finite()) {
        return Err(not_pd());
    }
    let row_major = |m: &DMatrix<f64>| m.transpose().as_slice().to_vec();
    Ok((row_major(&l), row_major(&precision), log_det))
}
