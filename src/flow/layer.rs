//! Every flow layer kind as one module enum, so that a flow is a `Vec<Layer>`.

use super::{
    AffineCoupling, AffineCouplingConfig, Bijection, InternalCoordinates, InternalCoordinatesConfig,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of one layer: the serialisable twin of [`Layer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LayerConfig {
    /// Affine coupling (RealNVP).
    Affine(AffineCouplingConfig),
    /// Molecular internal coordinates → Cartesian positions.
    Internal(InternalCoordinatesConfig),
}

impl LayerConfig {
    /// Builds the layer on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<Layer<B>> {
        Ok(match self {
            LayerConfig::Affine(c) => Layer::Affine(c.init(device)?),
            LayerConfig::Internal(c) => Layer::Internal(c.init(device)?),
        })
    }
}

/// One layer of a flow.
#[derive(Module, Debug)]
pub enum Layer<B: Backend> {
    /// Affine coupling (RealNVP).
    Affine(AffineCoupling<B>),
    /// Molecular internal coordinates → Cartesian positions.
    Internal(InternalCoordinates<B>),
}

impl<B: Backend> Bijection<B> for Layer<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        match self {
            Layer::Affine(l) => l.forward(z),
            Layer::Internal(l) => l.forward(z),
        }
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        match self {
            Layer::Affine(l) => l.inverse(x),
            Layer::Internal(l) => l.inverse(x),
        }
    }
}
