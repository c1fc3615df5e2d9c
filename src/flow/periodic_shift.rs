//! A fixed rotation of angles: shifts them and wraps them back to [−π, π). FAB places one every
//! two coupling layers so that the circular splines' fixed point at ±π moves around.

use super::{Bijection, from_f64};
use crate::backend::FlowBackend;
use burn::prelude::*;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Configuration of a [`PeriodicShift`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeriodicShiftConfig {
    /// One entry per coordinate: `Some(offset)` for an angle in [−π, π), shifted by `offset`
    /// and wrapped back; `None` for a coordinate left as it is.
    pub offsets: Vec<Option<f64>>,
}

impl PeriodicShiftConfig {
    /// Offsets drawn uniformly from [−π, π) for the coordinates flagged `circular`.
    pub fn random(circular: &[bool], rng: &mut impl rand::Rng) -> Self {
        let offsets = circular
            .iter()
            .map(|&angle| angle.then(|| rng.random_range(-PI..PI)))
            .collect();
        PeriodicShiftConfig { offsets }
    }

    /// Builds the layer.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<PeriodicShift<B>> {
        if self.offsets.iter().all(Option::is_none) {
            return Err(crate::Error::InvalidArgument(
                "a periodic shift needs at least one angle (an offset that is not `None`)".into(),
            ));
        }
        if let Some(bad) = self.offsets.iter().flatten().find(|o| !o.is_finite()) {
            return Err(crate::Error::InvalidArgument(format!(
                "the offsets of a periodic shift must be finite; got {bad}"
            )));
        }
        let dim = self.offsets.len();
        let offset = self.offsets.iter().map(|o| o.unwrap_or(0.0)).collect();
        let angles: Vec<bool> = self.offsets.iter().map(Option::is_some).collect();
        Ok(PeriodicShift {
            offset: from_f64(offset, [1, dim], device),
            angles: Tensor::from_data(burn::tensor::TensorData::new(angles, [1, dim]), device),
        })
    }
}

/// x = wrap(z + offset) on the angles, where wrap maps to [−π, π); identity elsewhere.
/// A rotation of the circle: log|det| = 0.
#[derive(Module, Debug)]
pub struct PeriodicShift<B: FlowBackend> {
    /// `[1, dim]`, 0 where not an angle.
    offset: Tensor<B, 2>,
    /// `[1, dim]`, true for the angles.
    angles: Tensor<B, 2, Bool>,
}

impl<B: FlowBackend> PeriodicShift<B> {
    /// Adds `sign · offset` and wraps the angles.
    fn shift(&self, input: Tensor<B, 2>, sign: f64) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let [n, dim] = input.dims();
        let shifted = input.clone() + self.offset.clone().mul_scalar(sign);
        let wrapped = shifted
            .add_scalar(PI)
            .remainder_scalar(2.0 * PI)
            .sub_scalar(PI);
        let output = input.mask_where(self.angles.clone().expand([n, dim]), wrapped);
        (output, Tensor::zeros([n], &self.offset.device()))
    }
}

impl<B: FlowBackend> Bijection<B> for PeriodicShift<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        self.shift(z, 1.0)
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        self.shift(x, -1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    fn layer() -> PeriodicShift<TestBackend> {
        let config = PeriodicShiftConfig {
            offsets: vec![Some(2.5), None, Some(-1.0)],
        };
        config.init(&device()).unwrap()
    }

    #[test]
    fn zero_offsets_are_the_identity() {
        let config = PeriodicShiftConfig {
            offsets: vec![Some(0.0), None],
        };
        let layer = config.init::<TestBackend>(&device()).unwrap();
        assert_identity(&layer, &points(10, 2, 3.0, 1), 10, 2, 1e-15);
    }

    #[test]
    fn shifts_and_wraps_the_angles_only() {
        let z = [3.0, 7.0, -3.0, -0.5, -8.0, 0.5];
        let x = values(layer().forward(tensor(&z, 2, 3)).0);
        let expected = [3.0 + 2.5 - 2.0 * PI, 7.0, -4.0 + 2.0 * PI, 2.0, -8.0, -0.5];
        for (a, b) in x.iter().zip(expected) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        // Every angle lands in [−π, π).
        let z = points(500, 3, PI, 2);
        let x = values(layer().forward(tensor(&z, 500, 3)).0);
        assert!(
            x.chunks(3)
                .all(|r| (-PI..PI).contains(&r[0]) && (-PI..PI).contains(&r[2]))
        );
    }

    #[test]
    fn round_trip_and_log_det() {
        let z = points(40, 3, 0.999 * PI, 3);
        assert_round_trip(&layer(), &z, 40, 3, 1e-12);
        assert_log_det_matches_jacobian(&layer(), &z, 40, 3, 1e-8);
    }

    #[test]
    fn random_offsets_for_the_angles_only() {
        use rand::SeedableRng;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let config = PeriodicShiftConfig::random(&[true, false, true], &mut rng);
        assert!(config.offsets[1].is_none());
        assert!(config.offsets[0].is_some_and(|o| (-PI..PI).contains(&o)));
        let none = PeriodicShiftConfig {
            offsets: vec![None],
        };
        assert!(none.init::<TestBackend>(&device()).is_err());
    }
}
