//! Every flow layer kind as one module enum, so that a flow is a `Vec<Layer>`.

use super::{
    ActNorm, ActNormConfig, AffineCoupling, AffineCouplingConfig, Bijection, InternalCoordinates,
    InternalCoordinatesConfig, LuLinear, LuLinearConfig, PeriodicShift, PeriodicShiftConfig,
    Permutation, PermutationConfig, SplineCoupling, SplineCouplingConfig,
};
use crate::backend::FlowBackend;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of one layer: the serialisable twin of [`Layer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LayerConfig {
    /// Affine coupling (RealNVP).
    Affine(AffineCouplingConfig),
    /// Molecular internal coordinates → Cartesian positions.
    Internal(InternalCoordinatesConfig),
    /// Rational-quadratic spline coupling, linear tails and circular splines for angles.
    Spline(SplineCouplingConfig),
    /// A fixed rotation of the angles.
    PeriodicShift(PeriodicShiftConfig),
    /// A fixed permutation of the coordinates.
    Permutation(PermutationConfig),
    /// Invertible linear mixing in LU form.
    LuLinear(LuLinearConfig),
    /// Per-coordinate affine normalisation.
    ActNorm(ActNormConfig),
}

impl LayerConfig {
    /// Builds the layer on `device`.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<Layer<B>> {
        Ok(match self {
            LayerConfig::Affine(c) => Layer::Affine(c.init(device)?),
            LayerConfig::Internal(c) => Layer::Internal(c.init(device)?),
            LayerConfig::Spline(c) => Layer::Spline(c.init(device)?),
            LayerConfig::PeriodicShift(c) => Layer::PeriodicShift(c.init(device)?),
            LayerConfig::Permutation(c) => Layer::Permutation(c.init(device)?),
            LayerConfig::LuLinear(c) => Layer::LuLinear(c.init(device)?),
            LayerConfig::ActNorm(c) => Layer::ActNorm(c.init(device)?),
        })
    }
}

/// One layer of a flow.
#[derive(Module, Debug)]
pub enum Layer<B: FlowBackend> {
    /// Affine coupling (RealNVP).
    Affine(AffineCoupling<B>),
    /// Molecular internal coordinates → Cartesian positions.
    Internal(InternalCoordinates<B>),
    /// Rational-quadratic spline coupling, linear tails and circular splines for angles.
    Spline(SplineCoupling<B>),
    /// A fixed rotation of the angles.
    PeriodicShift(PeriodicShift<B>),
    /// A fixed permutation of the coordinates.
    Permutation(Permutation<B>),
    /// Invertible linear mixing in LU form.
    LuLinear(LuLinear<B>),
    /// Per-coordinate affine normalisation.
    ActNorm(ActNorm<B>),
}

impl<B: FlowBackend> Bijection<B> for Layer<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        match self {
            Layer::Affine(l) => l.forward(z),
            Layer::Internal(l) => l.forward(z),
            Layer::Spline(l) => l.forward(z),
            Layer::PeriodicShift(l) => l.forward(z),
            Layer::Permutation(l) => l.forward(z),
            Layer::LuLinear(l) => l.forward(z),
            Layer::ActNorm(l) => l.forward(z),
        }
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        match self {
            Layer::Affine(l) => l.inverse(x),
            Layer::Internal(l) => l.inverse(x),
            Layer::Spline(l) => l.inverse(x),
            Layer::PeriodicShift(l) => l.inverse(x),
            Layer::Permutation(l) => l.inverse(x),
            Layer::LuLinear(l) => l.inverse(x),
            Layer::ActNorm(l) => l.inverse(x),
        }
    }
}
