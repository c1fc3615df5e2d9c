//! A base distribution pushed through a chain of layers.

use super::{Base, BaseConfig, Bijection, Layer, LayerConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of a [`Flow`]: everything needed to rebuild it (masks included), so a
/// checkpoint is this configuration plus the parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowConfig {
    /// The base distribution.
    pub base: BaseConfig,
    /// The layers, from the base side.
    pub layers: Vec<LayerConfig>,
}

impl FlowConfig {
    /// Builds the flow on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<Flow<B>> {
        let layers = self
            .layers
            .iter()
            .map(|l| l.init(device))
            .collect::<crate::Result<_>>()?;
        Ok(Flow {
            base: self.base.init(device),
            layers,
        })
    }
}

/// What a trainer needs from a flow: samples with their log density, and the log density of
/// given points. Implemented by discrete and continuous flows alike.
pub trait Density<B: Backend> {
    /// Dimension of the samples.
    fn dim(&self) -> usize;

    /// `n` samples `[n, dim]` and their log q.
    fn sample(&self, n: usize) -> (Tensor<B, 2>, Tensor<B, 1>);

    /// log q of each point of `x`.
    fn log_prob(&self, x: Tensor<B, 2>) -> Tensor<B, 1>;
}

/// A flow: x = f_K ∘ … ∘ f_1(z), z ~ base.
#[derive(Module, Debug)]
pub struct Flow<B: Backend> {
    /// The base distribution.
    pub base: Base<B>,
    /// The layers, applied in order from the base side.
    pub layers: Vec<Layer<B>>,
}

impl<B: Backend> Flow<B> {
    /// Pushes base points through the layers: `(x, Σ log|det|)`.
    pub fn push_forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let n = z.dims()[0];
        let mut log_det = Tensor::zeros([n], &z.device());
        let mut x = z;
        for layer in &self.layers {
            let (y, ld) = layer.forward(x);
            x = y;
            log_det = log_det + ld;
        }
        (x, log_det)
    }

    /// Pulls target points back to the base: `(z, Σ log|det|)` of the inverse map.
    pub fn pull_back(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let n = x.dims()[0];
        let mut log_det = Tensor::zeros([n], &x.device());
        let mut z = x;
        for layer in self.layers.iter().rev() {
            let (y, ld) = layer.inverse(z);
            z = y;
            log_det = log_det + ld;
        }
        (z, log_det)
    }
}

impl<B: Backend> Density<B> for Flow<B> {
    fn dim(&self) -> usize {
        self.base.dim()
    }

    fn sample(&self, n: usize) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let z = self.base.sample(n);
        let log_base = self.base.log_prob(z.clone());
        let (x, log_det) = self.push_forward(z);
        (x, log_base - log_det)
    }

    fn log_prob(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let (z, log_det) = self.pull_back(x);
        self.base.log_prob(z) + log_det
    }
}
