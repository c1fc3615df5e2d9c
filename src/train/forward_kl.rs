//! Maximum likelihood on samples (forward KL): loss = −mean log q(x_batch).

use super::batch::Batch;
use super::objective::{Objective, StepContext};
use crate::flow::{Density, from_f64};
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::RngExt;

/// Samples to fit by maximum likelihood, with the objective's weight.
pub struct ForwardKl {
    weight: f64,
    data: Vec<f64>,
    dim: usize,
}

impl ForwardKl {
    /// Holds `data` (row-major, `n × dim`); non-finite points are refused.
    pub fn new(weight: f64, data: Vec<f64>, dim: usize) -> Result<Self> {
        if data.is_empty() || !data.len().is_multiple_of(dim) {
            return Err(Error::Shape {
                what: "forward-KL training samples".to_owned(),
                expected: format!("a non-empty multiple of dim = {dim} values"),
                found: format!("{} values", data.len()),
            });
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "forward-KL training sample {} has a non-finite coordinate",
                i / dim
            )));
        }
        Ok(ForwardKl { weight, data, dim })
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether no samples are held (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The weighted loss on a batch of `batch_size` samples drawn with replacement by `rng`.
    pub fn loss<B: Backend>(
        &self,
        flow: &impl Density<B>,
        batch_size: usize,
        rng: &mut impl rand::Rng,
        device: &B::Device,
    ) -> Tensor<B, 1> {
        let mut batch = Vec::with_capacity(batch_size * self.dim);
        for _ in 0..batch_size {
            let i = rng.random_range(0..self.len());
            batch.extend_from_slice(&self.data[i * self.dim..(i + 1) * self.dim]);
        }
        let x = from_f64(batch, [batch_size, self.dim], device);
        flow.log_prob(x).mean().mul_scalar(-self.weight)
    }
}

impl<B: AutodiffBackend> Objective<B> for ForwardKl {
    fn loss(&mut self, step: &StepContext<'_, B>, rng: &mut rand_pcg::Pcg64) -> Result<Batch<B>> {
        Ok(Batch {
            loss: ForwardKl::loss(self, step.model, step.batch_size, rng, step.device),
            points: step.batch_size,
            n_nonfinite: 0,
        })
    }
}
