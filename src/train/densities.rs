//! The target and the flow as [`LogDensity`]s on the host, for MCMC and AIS.

use crate::Result;
use crate::energy::System;
use crate::flow::{Density, from_f64, log_prob_on_host, sample_to_host, to_host};
use crate::sampling::LogDensity;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

/// Points per autodiff pass when the flow's input gradient is asked for.
const GRADIENT_CHUNK: usize = 4096;

/// The target's unnormalised log density −u(x), from its plugin.
pub struct TargetDensity<'a>(pub &'a System);

impl LogDensity for TargetDensity<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        let eval = self.0.evaluate(x, grad.is_some())?;
        if let (Some(out), Some(g)) = (grad, eval.grad) {
            for (o, g) in out.iter_mut().zip(g) {
                *o = -g;
            }
        }
        Ok(eval.u.into_iter().map(|u| -u).collect())
    }
}

/// A flow's log q and, by burn's autodiff with respect to the inputs, ∇ log q. It holds a
/// copy of the flow's parameters taken at construction, with parameter gradients off.
pub struct FlowDensity<B: AutodiffBackend, M: AutodiffModule<B>> {
    model: M,
    inner: M::InnerModule,
    device: B::Device,
}

impl<B, M> FlowDensity<B, M>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Density<B>,
    M::InnerModule: Density<B::InnerBackend>,
{
    /// The density of `model` as it is now.
    pub fn new(model: &M, device: &B::Device) -> Self {
        FlowDensity {
            model: model.clone().no_grad(),
            inner: model.valid(),
            device: device.clone(),
        }
    }

    /// `n` samples of the flow (row-major) and their log q.
    pub fn sample(&self, n: usize) -> (Vec<f64>, Vec<f64>) {
        sample_to_host(&self.inner, n)
    }
}

impl<B, M> LogDensity for FlowDensity<B, M>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Density<B>,
    M::InnerModule: Density<B::InnerBackend>,
{
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        let Some(grad) = grad else {
            return Ok(log_prob_on_host(&self.inner, x, &self.device));
        };
        let dim = self.dim();
        let mut log_q = Vec::with_capacity(x.len() / dim);
        for (chunk, g) in x
            .chunks(GRADIENT_CHUNK * dim)
            .zip(grad.chunks_mut(GRADIENT_CHUNK * dim))
        {
            let points = from_f64::<B, 2>(chunk.to_vec(), [chunk.len() / dim, dim], &self.device)
                .require_grad();
            let lq = self.model.log_prob(points.clone());
            let grads = lq.clone().sum().backward();
            let gx = points.grad(&grads).expect("the input requires a gradient");
            g.copy_from_slice(&to_host(gx));
            log_q.extend(to_host(lq));
        }
        Ok(log_q)
    }
}
