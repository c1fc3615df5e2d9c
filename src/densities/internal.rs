//! The target seen through a molecular flow's internal-coordinate layer.

use super::GRADIENT_CHUNK;
use crate::Result;
use crate::backend::AutodiffFlowBackend;
use crate::energy::System;
use crate::flow::{Bijection, InternalCoordinates, from_f64, to_host};
use crate::sampling::LogDensity;
use burn::module::AutodiffModule;
use burn::prelude::*;

/// The target on a molecular flow's normalised internal coordinates z:
/// log p(z) = −u(x(z)) + log|det ∂x/∂z|, with x(z) the internal-coordinate layer (FAB's target
/// for alanine dipeptide). Importance weights p/q are the same in either space; MCMC in z moves
/// torsions by radians where a step in Cartesian nm is limited by the stiffest bond.
pub struct InternalTarget<'a, B: AutodiffFlowBackend> {
    system: &'a System,
    layer: InternalCoordinates<B>,
    inner: InternalCoordinates<B::InnerBackend>,
    device: B::Device,
}

impl<'a, B: AutodiffFlowBackend> InternalTarget<'a, B> {
    /// The target of `system` seen through `layer`.
    pub fn new(system: &'a System, layer: &InternalCoordinates<B>, device: &B::Device) -> Self {
        InternalTarget {
            system,
            layer: layer.clone().no_grad(),
            inner: layer.valid(),
            device: device.clone(),
        }
    }

    /// Cartesian positions x(z) of internal coordinates `z` (row-major).
    pub fn positions(&self, z: &[f64]) -> Vec<f64> {
        let dim = self.dim();
        let z = from_f64::<B::InnerBackend, 2>(z.to_vec(), [z.len() / dim, dim], &self.device);
        to_host(self.inner.forward(z).0)
    }
}

impl<B: AutodiffFlowBackend> LogDensity for InternalTarget<'_, B> {
    fn dim(&self) -> usize {
        self.layer.circular_outputs().len()
    }

    fn log_density(&self, z: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        let dim = self.dim();
        let Some(grad) = grad else {
            let z = from_f64::<B::InnerBackend, 2>(z.to_vec(), [z.len() / dim, dim], &self.device);
            let (x, log_det) = self.inner.forward(z);
            let u = self.system.evaluate(&to_host(x), false)?.u;
            return Ok(u
                .iter()
                .zip(to_host(log_det))
                .map(|(u, ld)| ld - u)
                .collect());
        };
        let mut log_p = Vec::with_capacity(z.len() / dim);
        for (chunk, g) in z
            .chunks(GRADIENT_CHUNK * dim)
            .zip(grad.chunks_mut(GRADIENT_CHUNK * dim))
        {
            let n = chunk.len() / dim;
            let points = from_f64::<B, 2>(chunk.to_vec(), [n, dim], &self.device).require_grad();
            let (x, log_det) = self.layer.forward(points.clone());
            let x_host = to_host(x.clone());
            let (u, grad_u) = self.system.energy_and_gradient(&x_host)?;
            // ∇z[−u(x(z)) + log det] by the surrogate −x·stop_grad(∇u) + log det.
            let cartesian = x_host.len() / n;
            let grad_u = from_f64::<B, 2>(grad_u, [n, cartesian], &self.device);
            let surrogate = log_det.clone().sum() - (x * grad_u).sum();
            let grads = surrogate.backward();
            let gz = points.grad(&grads).expect("the input requires a gradient");
            g.copy_from_slice(&to_host(gz));
            log_p.extend(u.iter().zip(to_host(log_det)).map(|(u, ld)| ld - u));
        }
        Ok(log_p)
    }
}
