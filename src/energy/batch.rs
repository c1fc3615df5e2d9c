//! Batched evaluation and exact sampling, split across rayon's threads.

use super::System;
use crate::{Error, Result};
use rayon::prelude::*;

/// Reduced energies (and gradients) of a batch of points.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// u(x_i), one per point.
    pub u: Vec<f64>,
    /// ∇u(x_i), row-major `n × dim`, when asked for.
    pub grad: Option<Vec<f64>>,
    /// Number of points whose energy or gradient is NaN or infinite. Such points must get zero
    /// weight downstream; they are never silently used.
    pub n_nonfinite: usize,
}

/// Points per exact-sampling block. Each block has its own seed derived from the run's seed and
/// the block index, so the samples do not depend on the number of threads.
const SAMPLE_BLOCK: usize = 4096;

impl System {
    /// Evaluates u (and ∇u if `with_grad`) at the points `x` (row-major, `n × dim`).
    pub fn evaluate(&self, x: &[f64], with_grad: bool) -> Result<Evaluation> {
        let n = self.points_in(x, "positions")?;
        let mut u = vec![0.0; n];
        let mut grad = with_grad.then(|| vec![0.0; x.len()]);
        let n_nonfinite = self.evaluate_into(x, &mut u, grad.as_deref_mut())?;
        Ok(Evaluation {
            u,
            grad,
            n_nonfinite,
        })
    }

    /// u and ∇u (`n × dim`) at the points `x`; non-finite values are returned as they are,
    /// for the caller to mask.
    pub fn energy_and_gradient(&self, x: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let mut u = vec![0.0; self.points_in(x, "positions")?];
        let mut grad = vec![0.0; x.len()];
        self.evaluate_into(x, &mut u, Some(&mut grad))?;
        Ok((u, grad))
    }

    /// Evaluates into caller-provided buffers and returns the number of non-finite points.
    /// `u` has one value per point; `grad`, if given, `n × dim`.
    pub fn evaluate_into(
        &self,
        x: &[f64],
        u: &mut [f64],
        mut grad: Option<&mut [f64]>,
    ) -> Result<usize> {
        let n = self.points_in(x, "positions")?;
        let dim = self.dim();
        check_len("energy buffer", u.len(), n)?;
        if let Some(g) = &grad {
            check_len("gradient buffer", g.len(), x.len())?;
        }
        if n == 0 {
            return Ok(0);
        }
        self.count_evaluations(n);
        let per_task = points_per_task(n);
        match (self.is_thread_safe(), grad.as_deref_mut()) {
            (false, grad) => self.energy_raw(x, u, grad)?,
            (true, Some(grad)) => x
                .par_chunks(per_task * dim)
                .zip(u.par_chunks_mut(per_task))
                .zip(grad.par_chunks_mut(per_task * dim))
                .try_for_each(|((x, u), g)| self.energy_raw(x, u, Some(g)))?,
            (true, None) => x
                .par_chunks(per_task * dim)
                .zip(u.par_chunks_mut(per_task))
                .try_for_each(|(x, u)| self.energy_raw(x, u, None))?,
        }
        Ok(count_nonfinite(u, grad.as_deref(), dim))
    }

    /// Draws `n` exact samples (row-major, `n × dim`), reproducibly from `seed` whatever the
    /// number of threads. Fails if the plugin has no exact sampler.
    pub fn sample_exact(&self, n: usize, seed: u64) -> Result<Vec<f64>> {
        let dim = self.dim();
        let len = n
            .checked_mul(dim)
            .ok_or_else(|| Error::InvalidArgument(format!("{n} samples are too many")))?;
        let mut out = vec![0.0; len];
        let block = |(index, chunk): (usize, &mut [f64])| {
            self.sample_raw(crate::seed::derive(seed, index as u64), chunk)
        };
        if self.is_thread_safe() {
            out.par_chunks_mut(SAMPLE_BLOCK * dim)
                .enumerate()
                .try_for_each(block)?;
        } else {
            out.chunks_mut(SAMPLE_BLOCK * dim)
                .enumerate()
                .try_for_each(block)?;
        }
        Ok(out)
    }

    /// Number of points in a flat array, or a shape error.
    pub(crate) fn points_in(&self, x: &[f64], what: &str) -> Result<usize> {
        let dim = self.dim();
        if !x.len().is_multiple_of(dim) {
            return Err(Error::Shape {
                what: what.to_owned(),
                expected: format!("a multiple of dim = {dim} values"),
                found: format!("{} values", x.len()),
            });
        }
        Ok(x.len() / dim)
    }
}

fn check_len(what: &str, found: usize, expected: usize) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            what: what.to_owned(),
            expected: format!("{expected} values"),
            found: format!("{found}"),
        })
    }
}

/// Splits a batch into about four tasks per thread, of at least 16 points each.
fn points_per_task(n: usize) -> usize {
    n.div_ceil(4 * rayon::current_num_threads()).max(16)
}

fn count_nonfinite(u: &[f64], grad: Option<&[f64]>, dim: usize) -> usize {
    match grad {
        Some(grad) => u
            .par_iter()
            .zip(grad.par_chunks(dim))
            .filter(|(u, g)| !u.is_finite() || g.iter().any(|v| !v.is_finite()))
            .count(),
        None => u.par_iter().filter(|u| !u.is_finite()).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_cover_small_and_large_batches() {
        assert_eq!(points_per_task(1), 16);
        assert!(points_per_task(1_000_000) >= 1_000_000 / (4 * rayon::current_num_threads()));
    }

    #[test]
    fn nonfinite_points_are_counted_once() {
        let u = [0.0, f64::NAN, f64::INFINITY, 1.0];
        let grad = [0.0, 0.0, f64::NAN, 1.0, 0.0, 0.0, 1.0, f64::NEG_INFINITY];
        assert_eq!(count_nonfinite(&u, None, 2), 2);
        assert_eq!(count_nonfinite(&u, Some(&grad), 2), 3);
    }
}
