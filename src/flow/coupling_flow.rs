//! A base distribution pushed through a chain of layers.

use super::{Base, BaseConfig, Bijection, InternalCoordinates, Layer, LayerConfig};
use crate::backend::FlowBackend;
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
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<Flow<B>> {
        let layers = self
            .layers
            .iter()
            .map(|l| l.init(device))
            .collect::<crate::Result<_>>()?;
        Ok(Flow {
            base: self.base.init(device)?,
            layers,
        })
    }
}

/// What a trainer needs from a flow: samples with their log density, and the log density of
/// given points. Implemented by discrete and continuous flows alike.
pub trait Density<B: FlowBackend> {
    /// Dimension of the samples.
    fn dim(&self) -> usize;

    /// `n` samples `[n, dim]` and their log q.
    fn sample(&self, n: usize) -> (Tensor<B, 2>, Tensor<B, 1>);

    /// `n` samples without their log q, for densities where log q costs more than the sample
    /// (a periodic potential flow's log q solves once per image).
    fn sample_points(&self, n: usize) -> Tensor<B, 2> {
        self.sample(n).0
    }

    /// log q of each point of `x`.
    fn log_prob(&self, x: Tensor<B, 2>) -> Tensor<B, 1>;
}

/// A flow: x = f_K ∘ … ∘ f_1(z), z ~ base.
#[derive(Module, Debug)]
pub struct Flow<B: FlowBackend> {
    /// The base distribution.
    pub base: Base<B>,
    /// The layers, applied in order from the base side.
    pub layers: Vec<Layer<B>>,
}

impl<B: FlowBackend> Flow<B> {
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

    /// For a flow that ends in an internal-coordinate layer (a molecular flow): the flow on the
    /// internal coordinates (every layer but the last, sharing this flow's parameters) and that
    /// layer.
    pub fn split_internal(&self) -> Option<(Flow<B>, InternalCoordinates<B>)> {
        match self.layers.split_last()? {
            (Layer::Internal(internal), rest) => Some((
                Flow {
                    base: self.base.clone(),
                    layers: rest.to_vec(),
                },
                internal.clone(),
            )),
            _ => None,
        }
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

impl<B: FlowBackend> Density<B> for Flow<B> {
    /// The base's dimension, or the Cartesian one after an internal-coordinate layer.
    fn dim(&self) -> usize {
        self.layers
            .iter()
            .rev()
            .find_map(|layer| match layer {
                Layer::Internal(internal) => Some(3 * internal.z_matrix().n_atoms()),
                _ => None,
            })
            .unwrap_or_else(|| self.base.dim())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;
    use crate::flow::*;
    use rand::SeedableRng;
    use std::f64::consts::PI;

    /// Samples' log q equals the log density of the same points computed backwards.
    fn assert_consistent(config: &FlowConfig, circular: &[bool]) {
        // Moderate parameters: at 0.3 the splines are so steep (|log det| ~ 27 per layer) that
        // round-off, amplified through the chain, reaches 1e-8.
        let flow = randomized(config.init::<TestBackend>(&device()).unwrap(), 0.1);
        let n = 64;
        let (x, log_q) = flow.sample(n);
        let log_p = values(flow.log_prob(x.clone()));
        for (a, b) in values(log_q).iter().zip(&log_p) {
            assert!(a.is_finite() && (a - b).abs() < 1e-9, "{a} vs {b}");
        }
        let d = circular.len();
        for (i, v) in values(x).iter().enumerate() {
            assert!(
                !circular[i % d] || v.abs() <= PI,
                "angle {v} outside [−π, π]"
            );
        }
    }

    #[test]
    fn spline_flow_on_angles_and_lengths() {
        // FAB's alanine layout in small: splines with random masks, a periodic shift every two.
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let circular = vec![false, true, false, true, true, false, false, true];
        let mut layers = Vec::new();
        for i in 0..4 {
            let mask = random_mask(8, &mut rng);
            let spline = SplineCouplingConfig::new(mask, vec![16, 16])
                .with_circular(circular.clone())
                .with_residual(true);
            layers.push(LayerConfig::Spline(spline));
            if i % 2 == 1 {
                let shift = PeriodicShiftConfig::random(&circular, &mut rng);
                layers.push(LayerConfig::PeriodicShift(shift));
            }
        }
        let base = BaseConfig::CircularGaussian(CircularGaussianConfig {
            circular: circular.clone(),
            trainable: true,
        });
        assert_consistent(&FlowConfig { base, layers }, &circular);
    }

    #[test]
    fn mixing_flow_on_a_generalised_gaussian() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
        let layers = vec![
            LayerConfig::ActNorm(ActNormConfig { dim: 5 }),
            LayerConfig::LuLinear(LuLinearConfig::random(5, &mut rng)),
            LayerConfig::Spline(SplineCouplingConfig::new(
                alternating_mask(5, true),
                vec![8],
            )),
            LayerConfig::Permutation(PermutationConfig::random(5, &mut rng)),
            LayerConfig::Affine(AffineCouplingConfig {
                mask: alternating_mask(5, false),
                hidden: vec![8],
                activation: Activation::Tanh,
            }),
        ];
        let base = BaseConfig::GeneralizedGaussian(GeneralizedGaussianConfig::new(5, 4.0));
        assert_consistent(&FlowConfig { base, layers }, &[false; 5]);
    }
}
