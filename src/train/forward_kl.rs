//! Maximum likelihood on samples (forward KL): loss = −mean log q(x_batch).

use super::batch::{Batch, check_training_points, draw_rows};
use super::objective::{Objective, StepContext};
use crate::Result;
use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::flow::{Density, from_f64};
use burn::prelude::*;
use std::ops::Range;

/// Samples to fit by maximum likelihood, with the objective's weight.
pub struct ForwardKl {
    weight: f64,
    data: Vec<f64>,
    dim: usize,
}

impl ForwardKl {
    /// Holds `data` (row-major, `n × dim`); non-finite points are refused.
    pub fn new(weight: f64, data: Vec<f64>, dim: usize) -> Result<Self> {
        check_training_points(&data, dim, "forward-KL")?;
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

    /// The weighted loss on the rows `share` of a batch of `batch_size` samples drawn with
    /// replacement by `rng`: −weight · Σ_share log q / `batch_size`. Every rank draws the whole
    /// batch from the same stream and takes its share, so the ranks' losses add up to the loss
    /// of the batch on one process.
    pub fn loss<B: FlowBackend>(
        &self,
        flow: &impl Density<B>,
        batch_size: usize,
        share: Range<usize>,
        rng: &mut impl rand::Rng,
        device: &B::Device,
    ) -> Tensor<B, 1> {
        let batch = draw_rows(&self.data, self.dim, batch_size, rng);
        let rows = &batch[share.start * self.dim..share.end * self.dim];
        let x = from_f64(rows.to_vec(), [share.len(), self.dim], device);
        flow.log_prob(x)
            .sum()
            .mul_scalar(-self.weight / batch_size as f64)
    }
}

impl<B: AutodiffFlowBackend> Objective<B> for ForwardKl {
    fn loss(&mut self, step: &StepContext<'_, B>, rng: &mut rand_pcg::Pcg64) -> Result<Batch<B>> {
        let share = step.share(step.batch_size);
        Ok(Batch {
            points: share.len(),
            loss: ForwardKl::loss(
                self,
                step.model.flow()?,
                step.batch_size,
                share,
                rng,
                step.device,
            ),
            n_nonfinite: 0,
            model_evaluations: 0,
        })
    }

    fn over_ranks(&self) -> bool {
        true
    }
}
