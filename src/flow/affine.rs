//! Affine coupling (RealNVP, Dinh et al. 2017).

use super::positive::positive_from_raw;
use super::{Activation, Bijection, Mask, Mlp, MlpConfig, from_f64};
use crate::backend::FlowBackend;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The smallest scale a layer can apply. Without a floor, a conditioner output of −800 (easily
/// reached at points far from the data) makes the scale underflow to 0 and the inverse overflow,
/// and log q becomes NaN instead of a small number.
const MIN_SCALE: f64 = 1e-2;

/// Configuration of an [`AffineCoupling`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AffineCouplingConfig {
    /// Which coordinates are transformed (the others condition).
    pub mask: Mask,
    /// Hidden widths of the conditioner.
    pub hidden: Vec<usize>,
    /// Activation of the conditioner.
    #[serde(default)]
    pub activation: Activation,
}

impl AffineCouplingConfig {
    /// Builds the layer; it starts as the identity.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<AffineCoupling<B>> {
        self.mask.validate()?;
        let dim = self.mask.dim();
        let conditioner = MlpConfig::new(dim, self.hidden.clone(), 2 * dim)
            .with_activation(self.activation)
            .init(device);
        let mask = from_f64(self.mask.as_floats(), [1, dim], device);
        Ok(AffineCoupling {
            conditioner,
            mask,
            dim,
        })
    }
}

/// x_T = z_T · s(z_C) + t(z_C) on the transformed coordinates T, identity on the conditioning
/// ones C, with s = softplus(a + c) + 0.01 ≥ 0.01 and c such that a zero conditioner is the
/// identity.
#[derive(Module, Debug)]
pub struct AffineCoupling<B: FlowBackend> {
    conditioner: Mlp<B>,
    /// `[1, dim]`, 1 where transformed.
    mask: Tensor<B, 2>,
    dim: usize,
}

impl<B: FlowBackend> AffineCoupling<B> {
    /// Shift and log-scale for the transformed coordinates, from the conditioning ones.
    fn shift_and_log_scale(&self, input: &Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let keep = self.mask.clone().neg().add_scalar(1.0);
        let out = self.conditioner.forward(input.clone() * keep);
        let [shift, raw] = out
            .split(self.dim, 1)
            .try_into()
            .expect("conditioner output is 2·dim wide");
        let log_scale = positive_from_raw(raw, MIN_SCALE).log();
        (shift * self.mask.clone(), log_scale * self.mask.clone())
    }
}

impl<B: FlowBackend> Bijection<B> for AffineCoupling<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let (shift, log_scale) = self.shift_and_log_scale(&z);
        let x = z * log_scale.clone().exp() + shift;
        (x, log_scale.sum_dim(1).squeeze_dim(1))
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let (shift, log_scale) = self.shift_and_log_scale(&x);
        let z = (x - shift) * log_scale.clone().neg().exp();
        (z, log_scale.sum_dim(1).squeeze_dim(1).neg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::alternating_mask;
    use crate::flow::testing::*;

    fn layer() -> AffineCoupling<TestBackend> {
        let config = AffineCouplingConfig {
            mask: alternating_mask(3, true),
            hidden: vec![8, 8],
            activation: Activation::Tanh,
        };
        randomized(config.init(&device()).unwrap(), 0.5)
    }

    #[test]
    fn starts_as_the_identity() {
        let config = AffineCouplingConfig {
            mask: alternating_mask(4, false),
            hidden: vec![8],
            activation: Activation::Relu,
        };
        let layer = config.init::<TestBackend>(&device()).unwrap();
        let z = points(5, 4, 2.0, 1);
        let (x, log_det) = layer.forward(tensor(&z, 5, 4));
        assert_eq!(values(x), z);
        assert!(values(log_det).iter().all(|v| *v == 0.0));
    }

    #[test]
    fn round_trip_and_log_det() {
        let layer = layer();
        let z = points(20, 3, 3.0, 2);
        assert_round_trip(&layer, &z, 20, 3, 1e-12);
        assert_log_det_matches_jacobian(&layer, &z, 20, 3, 1e-7);
    }

    /// Far from where it was trained, a conditioner's output can be in the thousands; the
    /// scale's floor keeps the inverse and log q finite there.
    #[test]
    fn extreme_conditioner_outputs_stay_finite() {
        let config = AffineCouplingConfig {
            mask: alternating_mask(2, true),
            hidden: vec![8],
            activation: Activation::Relu,
        };
        let layer = randomized(config.init::<TestBackend>(&device()).unwrap(), 30.0);
        let x = points(50, 2, 1e4, 3);
        let (z, log_det) = layer.inverse(tensor(&x, 50, 2));
        let z = values(z);
        assert!(z.iter().chain(&values(log_det)).all(|v| v.is_finite()));
        let (back, _) = layer.forward(tensor(&z, 50, 2));
        for (a, b) in values(back).iter().zip(&x) {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}
