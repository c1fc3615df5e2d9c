//! Per-coordinate affine normalisation (Kingma & Dhariwal 2018, "Glow").

use super::{Bijection, from_f64};
use crate::backend::FlowBackend;
use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of an [`ActNorm`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActNormConfig {
    /// Number of coordinates.
    pub dim: usize,
}

impl ActNormConfig {
    /// Builds the layer; it starts as the identity.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<ActNorm<B>> {
        if self.dim == 0 {
            return Err(crate::Error::InvalidArgument(
                "an ActNorm layer needs at least one coordinate".into(),
            ));
        }
        Ok(ActNorm {
            log_scale: Param::from_tensor(Tensor::zeros([self.dim], device)),
            shift: Param::from_tensor(Tensor::zeros([self.dim], device)),
        })
    }
}

/// x = z · exp(log_scale) + shift, per coordinate; log|det| = Σ log_scale.
#[derive(Module, Debug)]
pub struct ActNorm<B: FlowBackend> {
    log_scale: Param<Tensor<B, 1>>,
    shift: Param<Tensor<B, 1>>,
}

impl<B: FlowBackend> ActNorm<B> {
    /// Data-dependent initialisation: sets the parameters from a batch `x` of points on this
    /// layer's target side so that `inverse(x)` has mean 0 and standard deviation 1 in every
    /// coordinate. Fails if a coordinate has fewer than two points or no spread.
    pub fn initialize_from(&mut self, x: Tensor<B, 2>) -> crate::Result<()> {
        let [n, dim] = x.dims();
        if dim != self.log_scale.dims()[0] || n < 2 {
            return Err(crate::Error::InvalidArgument(format!(
                "ActNorm initialisation needs a batch [n ≥ 2, {}]; got [{n}, {dim}]",
                self.log_scale.dims()[0]
            )));
        }
        let device = x.device();
        let values: Vec<f64> = x
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("a float tensor");
        let column = |c: usize| values.iter().skip(c).step_by(dim);
        let mean: Vec<f64> = (0..dim)
            .map(|c| column(c).sum::<f64>() / n as f64)
            .collect();
        let mut log_std = Vec::with_capacity(dim);
        for (c, m) in mean.iter().enumerate() {
            let variance = column(c).map(|v| (v - m).powi(2)).sum::<f64>() / n as f64;
            if !(variance.is_finite() && variance > 0.0) {
                return Err(crate::Error::InvalidArgument(format!(
                    "ActNorm initialisation: coordinate {c} of the batch has variance {variance}; \
                     use a batch with spread in every coordinate"
                )));
            }
            log_std.push(0.5 * variance.ln());
        }
        let reset = |param: &Param<Tensor<B, 1>>, v: Vec<f64>| {
            Param::initialized(param.id, from_f64(v, [dim], &device).require_grad())
        };
        self.log_scale = reset(&self.log_scale, log_std);
        self.shift = reset(&self.shift, mean);
        Ok(())
    }
}

impl<B: FlowBackend> Bijection<B> for ActNorm<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let n = z.dims()[0];
        let log_scale = self.log_scale.val();
        let x = z * log_scale.clone().exp().unsqueeze() + self.shift.val().unsqueeze();
        (x, log_scale.sum().expand([n]))
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let n = x.dims()[0];
        let log_scale = self.log_scale.val();
        let z = (x - self.shift.val().unsqueeze()) * log_scale.clone().neg().exp().unsqueeze();
        (z, log_scale.sum().neg().expand([n]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    fn config() -> ActNormConfig {
        ActNormConfig { dim: 3 }
    }

    #[test]
    fn starts_as_the_identity() {
        let layer = config().init::<TestBackend>(&device()).unwrap();
        assert_identity(&layer, &points(5, 3, 2.0, 1), 5, 3, 0.0);
        assert!(
            ActNormConfig { dim: 0 }
                .init::<TestBackend>(&device())
                .is_err()
        );
    }

    #[test]
    fn round_trip_and_log_det() {
        let layer = randomized(config().init(&device()).unwrap(), 0.7);
        let z = points(10, 3, 2.0, 2);
        assert_round_trip(&layer, &z, 10, 3, 1e-12);
        assert_log_det_matches_jacobian(&layer, &z, 10, 3, 1e-8);
    }

    #[test]
    fn data_dependent_initialisation_standardises() {
        let n = 100;
        // Columns with means 0, 5, −1 and spreads 1, 3, 0.2.
        let x: Vec<f64> = points(n, 3, 1.0, 3)
            .chunks(3)
            .flat_map(|r| [r[0], 5.0 + 3.0 * r[1], -1.0 + 0.2 * r[2]])
            .collect();
        let mut layer = config().init::<TestBackend>(&device()).unwrap();
        layer.initialize_from(tensor(&x, n, 3)).unwrap();
        let z = values(layer.inverse(tensor(&x, n, 3)).0);
        for c in 0..3 {
            let column: Vec<f64> = z.iter().skip(c).step_by(3).copied().collect();
            let mean = column.iter().sum::<f64>() / n as f64;
            let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
        }
        let constant = vec![1.0; 6];
        assert!(layer.initialize_from(tensor(&constant, 2, 3)).is_err());
    }
}
