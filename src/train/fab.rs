//! Flow Annealed importance sampling Bootstrap (FAB; Midgley et al. 2023) with α = 2.
//!
//! AIS carries flow samples toward g = p²/q, the minimiser of the α = 2 divergence's variance;
//! the flow is then fitted to the AIS samples by weighted maximum likelihood:
//! loss = −Σ w̄_i log q(x_i), with w̄ the self-normalised AIS weights. With the prioritised
//! replay buffer ([`ReplayBuffer`]), each AIS batch is stored and several gradient steps draw
//! batches from the buffer by weight, correcting the weights for the flow's change.

use super::config::BufferConfig;
use super::densities::{FlowDensity, TargetDensity};
use super::objective::Batch;
use super::replay_buffer::{BufferContent, FAB_ALPHA, ReplayBuffer};
use crate::energy::System;
use crate::flow::{Density, from_f64, to_host};
use crate::sampling::{Ais, AisConfig, LogDensity};
use crate::{Error, Result};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

/// The FAB objective: AIS, and optionally a replay buffer.
pub struct Fab {
    weight: f64,
    ais: Ais,
    buffer: Option<Buffered>,
    dropped_chains: u64,
}

/// The replay buffer with its settings and refill counter.
struct Buffered {
    buffer: ReplayBuffer,
    config: BufferConfig,
    updates_since_refill: usize,
}

/// FAB's small state, saved in checkpoints (the buffer's points go to their own file).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FabState {
    /// Adapted step size of each AIS intermediate distribution.
    pub step_sizes: Vec<f64>,
    /// Gradient steps since the last AIS batch was added to the buffer.
    pub updates_since_refill: usize,
    /// AIS chains dropped so far for a non-finite weight.
    pub dropped_chains: u64,
}

/// AIS samples toward p²/q with their log weights and the flow's log q at the samples.
struct AisBatch {
    x: Vec<f64>,
    log_w: Vec<f64>,
    log_q: Vec<f64>,
}

impl Fab {
    /// The objective with weight `weight` in the total loss, for a `dim`-dimensional target.
    pub fn new(
        weight: f64,
        ais: &AisConfig,
        buffer: Option<&BufferConfig>,
        dim: usize,
    ) -> Result<Self> {
        Ok(Fab {
            weight,
            ais: Ais::new(ais.clone())?,
            buffer: buffer.cloned().map(|config| Buffered {
                buffer: ReplayBuffer::new(dim, config.capacity),
                config,
                updates_since_refill: 0,
            }),
            dropped_chains: 0,
        })
    }

    /// The weighted loss of one gradient step with `batch_size` points.
    pub fn loss<B, M>(
        &mut self,
        model: &M,
        system: &System,
        batch_size: usize,
        rng: &mut impl rand::Rng,
        device: &B::Device,
    ) -> Result<Batch<B>>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B> + Density<B>,
        M::InnerModule: Density<B::InnerBackend>,
    {
        let q = FlowDensity::new(model, device);
        let target = TargetDensity(system);
        let Some(buffered) = self.buffer.as_mut() else {
            let batch = ais_batch(
                &mut self.ais,
                &q,
                &target,
                batch_size,
                rng,
                &mut self.dropped_chains,
            )?;
            let n = batch.log_w.len();
            if n == 0 {
                return Err(no_finite_chain());
            }
            let weights = self_normalised(&batch.log_w);
            let log_q = model.log_prob(from_f64(batch.x, [n, model.dim()], device));
            let w = from_f64::<B, 1>(weights, [n], device);
            return Ok(Batch {
                loss: (w * log_q).sum().mul_scalar(-self.weight),
                log_w: None,
                n_nonfinite: batch_size - n,
            });
        };
        if buffered.updates_since_refill == 0 || buffered.buffer.len() < buffered.config.min_length
        {
            loop {
                let batch = ais_batch(
                    &mut self.ais,
                    &q,
                    &target,
                    batch_size,
                    rng,
                    &mut self.dropped_chains,
                )?;
                buffered.buffer.push(&batch.x, &batch.log_w, &batch.log_q);
                if buffered.buffer.len() >= buffered.config.min_length {
                    break;
                }
            }
        }
        buffered.updates_since_refill =
            (buffered.updates_since_refill + 1) % buffered.config.updates_per_batch;
        let draw = buffered.buffer.draw(batch_size, rng);
        let k = draw.indices.len();
        let dim = model.dim();
        let log_q = model.log_prob(from_f64(draw.x.clone(), [k, dim], device));
        let (w_adjust, removed) = buffered.buffer.adjust(
            &draw.indices,
            &to_host(log_q.clone().detach()),
            buffered.config.w_adjust_clip,
        );
        let (log_q, w_adjust) = if removed == 0 {
            (log_q, w_adjust)
        } else {
            // Recomputed on the finite entries alone: a masked-out −∞ would still send NaN
            // gradients back through the flow.
            let kept: Vec<usize> = (0..k).filter(|&i| w_adjust[i] > 0.0).collect();
            let x: Vec<f64> = kept
                .iter()
                .flat_map(|&i| draw.x[i * dim..(i + 1) * dim].iter().copied())
                .collect();
            let log_q = model.log_prob(from_f64(x, [kept.len(), dim], device));
            (log_q, kept.iter().map(|&i| w_adjust[i]).collect())
        };
        let n = w_adjust.len();
        let w = from_f64::<B, 1>(w_adjust, [n], device);
        Ok(Batch {
            loss: (w * log_q)
                .sum()
                .div_scalar(k as f64)
                .mul_scalar(-self.weight),
            log_w: None,
            n_nonfinite: removed,
        })
    }

    /// The small state, for a checkpoint.
    pub fn state(&self) -> FabState {
        FabState {
            step_sizes: self.ais.step_sizes(),
            updates_since_refill: self.buffer.as_ref().map_or(0, |b| b.updates_since_refill),
            dropped_chains: self.dropped_chains,
        }
    }

    /// Restores the state of a checkpoint.
    pub fn restore(&mut self, state: &FabState, buffer: Option<BufferContent>) -> Result<()> {
        self.ais.set_step_sizes(&state.step_sizes)?;
        self.dropped_chains = state.dropped_chains;
        if let (Some(buffered), Some(content)) = (self.buffer.as_mut(), buffer) {
            buffered.buffer.restore(content)?;
            buffered.updates_since_refill = state.updates_since_refill;
        }
        Ok(())
    }

    /// The replay buffer's content, when there is a buffer.
    pub fn buffer_content(&self) -> Option<BufferContent> {
        self.buffer.as_ref().map(|b| b.buffer.content())
    }
}

/// Draws `n` flow samples and carries them by AIS toward p²/q; counts dropped chains.
fn ais_batch<B, M>(
    ais: &mut Ais,
    q: &FlowDensity<B, M>,
    target: &TargetDensity,
    n: usize,
    rng: &mut impl rand::Rng,
    dropped: &mut u64,
) -> Result<AisBatch>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Density<B>,
    M::InnerModule: Density<B::InnerBackend>,
{
    let (x0, log_q0) = q.sample(n);
    let out = ais.run(q, target, FAB_ALPHA, x0, Some(log_q0), rng)?;
    // The loss needs log q at the final points, so a chain ending where q underflows is
    // dropped too.
    let kept: Vec<usize> = (0..out.log_q.len())
        .filter(|&i| out.log_q[i].is_finite())
        .collect();
    *dropped += (n - kept.len()) as u64;
    let dim = q.dim();
    Ok(AisBatch {
        x: kept
            .iter()
            .flat_map(|&i| out.x[i * dim..(i + 1) * dim].iter().copied())
            .collect(),
        log_w: kept.iter().map(|&i| out.log_w[i]).collect(),
        log_q: kept.iter().map(|&i| out.log_q[i]).collect(),
    })
}

/// exp(log w_i) / Σ_j exp(log w_j), computed stably.
fn self_normalised(log_w: &[f64]) -> Vec<f64> {
    let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|v| v / sum).collect()
}

fn no_finite_chain() -> Error {
    Error::InvalidArgument(
        "every AIS chain of the batch had a non-finite weight: the flow's samples or the \
         target's energies are NaN or infinite; check the system, or lower the learning rate"
            .to_owned(),
    )
}
