//! A flow's density and its input gradient, on the host.

use super::GRADIENT_CHUNK;
use crate::Result;
use crate::backend::AutodiffFlowBackend;
use crate::flow::{
    Density, from_f64, log_prob_on_host, sample_points_to_host, sample_to_host, to_host,
};
use crate::sampling::LogDensity;
use burn::module::AutodiffModule;

/// A flow's log q and, by burn's autodiff with respect to the inputs, ∇ log q. It holds a
/// copy of the flow's parameters taken at construction, with parameter gradients off.
pub struct FlowDensity<B: AutodiffFlowBackend, M: AutodiffModule<B>> {
    model: M,
    inner: M::InnerModule,
    device: B::Device,
}

impl<B, M> FlowDensity<B, M>
where
    B: AutodiffFlowBackend,
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

    /// `n` samples of the flow (row-major) without their log q.
    pub fn sample_points(&self, n: usize) -> Vec<f64> {
        sample_points_to_host(&self.inner, n)
    }
}

impl<B, M> LogDensity for FlowDensity<B, M>
where
    B: AutodiffFlowBackend,
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
