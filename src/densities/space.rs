//! The space a flow's MCMC runs in, chosen in one place.

use super::{FlowDensity, InternalTarget, OnTorus, TargetDensity};
use crate::backend::AutodiffFlowBackend;
use crate::energy::System;
use crate::flow::{Density, Flow};
use crate::sampling::LogDensity;
use crate::train::Model;
use burn::prelude::*;

/// Where MCMC and AIS between a flow q and the target p run: the flow's own output space
/// (Cartesian), or, for a molecular flow, its normalised internal coordinates z, as FAB does
/// for alanine dipeptide (torsions move by radians there, where a step in nm is limited by the
/// stiffest bond; the angles are wrapped onto the torus). Importance weights p/q are the same
/// in either space.
pub enum McmcSpace<'a, B: AutodiffFlowBackend> {
    /// The flow's output space.
    Cartesian {
        /// The flow's density.
        q: FlowDensity<B, Model<B>>,
        /// The target's.
        target: TargetDensity<'a>,
        /// The flow, for differentiable log q.
        model: &'a Model<B>,
    },
    /// A molecular flow's internal coordinates.
    Internal {
        /// The flow before its internal-coordinate layer, angles wrapped.
        q: OnTorus<FlowDensity<B, Flow<B>>>,
        /// The target through the internal-coordinate layer.
        target: InternalTarget<'a, B>,
        /// The flow before that layer, for differentiable log q.
        latent: Flow<B>,
    },
}

impl<'a, B: AutodiffFlowBackend> McmcSpace<'a, B> {
    /// The space of `model`'s MCMC toward `system`: internal coordinates for a molecular flow,
    /// the flow's output space otherwise.
    pub fn of(model: &'a Model<B>, system: &'a System, device: &B::Device) -> Self {
        match model.split_internal() {
            Some((latent, layer)) => McmcSpace::Internal {
                q: OnTorus::new(
                    FlowDensity::new(&latent, device),
                    layer.circular_outputs().to_vec(),
                ),
                target: InternalTarget::new(system, &layer, device),
                latent,
            },
            None => McmcSpace::Cartesian {
                q: FlowDensity::new(model, device),
                target: TargetDensity(system),
                model,
            },
        }
    }

    /// The flow's density in this space.
    pub fn q(&self) -> &dyn LogDensity {
        match self {
            McmcSpace::Cartesian { q, .. } => q,
            McmcSpace::Internal { q, .. } => q,
        }
    }

    /// The target's density in this space.
    pub fn target(&self) -> &dyn LogDensity {
        match self {
            McmcSpace::Cartesian { target, .. } => target,
            McmcSpace::Internal { target, .. } => target,
        }
    }

    /// Coordinates per point in this space.
    pub fn dim(&self) -> usize {
        self.q().dim()
    }

    /// `n` flow samples in this space (row-major) with their log q.
    pub fn sample(&self, n: usize) -> (Vec<f64>, Vec<f64>) {
        match self {
            McmcSpace::Cartesian { q, .. } => q.sample(n),
            McmcSpace::Internal { q, .. } => q.inner().sample(n),
        }
    }

    /// Puts points of this space into their canonical form (angles wrapped), in place.
    pub fn canonicalise(&self, x: &mut [f64]) {
        if let McmcSpace::Internal { q, .. } = self {
            q.wrap(x);
        }
    }

    /// The system's coordinates (Cartesian positions for a molecule) of points of this space.
    pub fn positions(&self, x: &[f64]) -> Vec<f64> {
        match self {
            McmcSpace::Cartesian { .. } => x.to_vec(),
            McmcSpace::Internal { target, .. } => target.positions(x),
        }
    }

    /// log q of points of this space, differentiable with respect to the flow's parameters.
    pub fn log_prob(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        match self {
            McmcSpace::Cartesian { model, .. } => model.log_prob(x),
            McmcSpace::Internal { latent, .. } => latent.log_prob(x),
        }
    }
}
