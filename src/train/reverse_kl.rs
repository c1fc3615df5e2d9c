//! Reverse KL: KL(q‖p) = E_q[log q + u] + log Z, through reparameterised flow samples.
//!
//! The plugin is not differentiable by burn, so the gradient of u enters through a surrogate:
//! for x = T_θ(z), ∂/∂θ E[u(x)] = E[∇u(x) · ∂x/∂θ], which is the gradient of
//! E[x · stop_gradient(∇u(x))]. The loss's value is still E[log q + u].

use super::batch::Batch;
use super::objective::{Objective, StepContext};
use crate::Result;
use crate::backend::AutodiffFlowBackend;
use crate::energy::System;
use crate::flow::{Density, from_f64, to_host};

/// The reverse-KL objective with its weight.
pub struct ReverseKl {
    weight: f64,
}

impl ReverseKl {
    /// The objective, weighted by `weight` in the total loss.
    pub fn new(weight: f64) -> Self {
        ReverseKl { weight }
    }

    /// The weighted loss on `batch_size` fresh flow samples. Samples whose energy or gradient
    /// is not finite are left out of the mean (and counted in the batch).
    pub fn loss<B: AutodiffFlowBackend>(
        &self,
        model: &impl Density<B>,
        system: &System,
        batch_size: usize,
        device: &B::Device,
    ) -> Result<Batch<B>> {
        let dim = model.dim();
        let (x, log_q) = model.sample(batch_size);
        let x_host = to_host(x.clone().detach());
        let (u, grad) = system.energy_and_gradient(&x_host)?;
        let log_q_host = to_host(log_q.clone().detach());
        // Non-finite points get zero weight; their gradient rows are zeroed so that 0 · NaN
        // never reaches the loss.
        let keep: Vec<f64> = (0..batch_size)
            .map(|i| {
                let row = i * dim..(i + 1) * dim;
                let finite = u[i].is_finite()
                    && log_q_host[i].is_finite()
                    && grad[row.clone()].iter().all(|g| g.is_finite())
                    && x_host[row].iter().all(|v| v.is_finite());
                if finite { 1.0 } else { 0.0 }
            })
            .collect();
        let kept = keep.iter().sum::<f64>();
        let n_nonfinite = batch_size - kept as usize;
        let safe = |v: f64, k: f64| if k > 0.0 { v } else { 0.0 };
        let grad: Vec<f64> = grad
            .iter()
            .enumerate()
            .map(|(j, &g)| safe(g, keep[j / dim]))
            .collect();
        let surrogate_value: Vec<f64> = (0..batch_size)
            .map(|i| {
                (0..dim)
                    .map(|j| x_host[i * dim + j] * grad[i * dim + j])
                    .sum::<f64>()
            })
            .collect();
        // Per point: log q + x·∇u + (u − x·∇u) held constant, whose value is log q + u.
        let offset: Vec<f64> = (0..batch_size)
            .map(|i| safe(u[i] - surrogate_value[i], keep[i]))
            .collect();
        let grad = from_f64::<B, 2>(grad, [batch_size, dim], device);
        let keep_t = from_f64::<B, 1>(keep.clone(), [batch_size], device);
        let offset = from_f64::<B, 1>(offset, [batch_size], device);
        let dropped = keep_t.clone().equal_elem(0.0);
        let log_q = log_q.mask_fill(dropped.clone(), 0.0);
        let x = x.mask_fill(
            dropped.reshape([batch_size, 1]).expand([batch_size, dim]),
            0.0,
        );
        let per_point = (log_q + (x * grad).sum_dim(1).reshape([batch_size]) + offset) * keep_t;
        let loss = per_point
            .sum()
            .div_scalar(kept.max(1.0))
            .mul_scalar(self.weight);
        Ok(Batch {
            loss,
            points: batch_size,
            n_nonfinite,
            model_evaluations: 0,
        })
    }
}

impl<B: AutodiffFlowBackend> Objective<B> for ReverseKl {
    /// This rank's share of the batch, drawn from its own stream of burn's generator.
    fn loss(&mut self, step: &StepContext<'_, B>, _: &mut rand_pcg::Pcg64) -> Result<Batch<B>> {
        let n = step.share(step.batch_size).len();
        let batch = ReverseKl::loss(self, step.model.flow()?, step.system, n, step.device)?;
        Ok(Batch {
            loss: batch.loss.mul_scalar(step.share_weight(step.batch_size)),
            ..batch
        })
    }

    fn over_ranks(&self) -> bool {
        true
    }
}
