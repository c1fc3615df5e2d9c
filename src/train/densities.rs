//! The target and the flow as [`LogDensity`]s on the host, for MCMC and AIS.

use crate::Result;
use crate::energy::System;
use crate::flow::{
    Bijection, Density, Flow, InternalCoordinates, from_f64, log_prob_on_host, sample_to_host,
    to_host,
};
use crate::sampling::LogDensity;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use std::f64::consts::PI;

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

/// The target on a molecular flow's normalised internal coordinates z:
/// log p(z) = −u(x(z)) + log|det ∂x/∂z|, with x(z) the internal-coordinate layer (FAB's target
/// for alanine dipeptide). Importance weights p/q are the same in either space; MCMC in z moves
/// torsions by radians where a step in Cartesian nm is limited by the stiffest bond.
pub struct InternalTarget<'a, B: AutodiffBackend> {
    system: &'a System,
    layer: InternalCoordinates<B>,
    inner: InternalCoordinates<B::InnerBackend>,
    device: B::Device,
}

impl<'a, B: AutodiffBackend> InternalTarget<'a, B> {
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

impl<B: AutodiffBackend> LogDensity for InternalTarget<'_, B> {
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

/// The densities MCMC uses for a molecular flow split by [`crate::flow::Flow::split_internal`]:
/// the flow on its internal coordinates, with the torsions wrapped, and the target seen through
/// the internal-coordinate layer (FAB's space; its importance weights are those of x-space).
pub fn internal_densities<'a, B: AutodiffBackend>(
    latent: &Flow<B>,
    layer: &InternalCoordinates<B>,
    system: &'a System,
    device: &B::Device,
) -> (OnTorus<FlowDensity<B, Flow<B>>>, InternalTarget<'a, B>) {
    (
        OnTorus::new(
            FlowDensity::new(latent, device),
            layer.circular_outputs().to_vec(),
        ),
        InternalTarget::new(system, layer, device),
    )
}

/// A density on coordinates of which some are angles: those are wrapped into [−π, π) before
/// the inner density sees them, so that MCMC may cross ±π (the density is periodic in them).
pub struct OnTorus<D> {
    inner: D,
    circular: Vec<bool>,
}

impl<D: LogDensity> OnTorus<D> {
    /// `inner` with the coordinates flagged in `circular` wrapped.
    pub fn new(inner: D, circular: Vec<bool>) -> Self {
        OnTorus { inner, circular }
    }

    /// The inner density.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Wraps the angles of the points `x` (row-major) into [−π, π), in place.
    pub fn wrap(&self, x: &mut [f64]) {
        for point in x.chunks_mut(self.circular.len()) {
            for (v, &circular) in point.iter_mut().zip(&self.circular) {
                if circular {
                    *v = (*v + PI).rem_euclid(2.0 * PI) - PI;
                }
            }
        }
    }
}

impl<D: LogDensity> LogDensity for OnTorus<D> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        let mut wrapped = x.to_vec();
        self.wrap(&mut wrapped);
        self.inner.log_density(&wrapped, grad)
    }
}
