//! A base for mixed coordinates: uniform on [−π, π) for the angles, a diagonal Gaussian for the
//! others (FAB's base for alanine dipeptide's internal coordinates).

use super::columns::{index_tensor, inverse_permutation};
use super::{DiagGaussian, DiagGaussianConfig};
use crate::backend::FlowBackend;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Configuration of a [`CircularGaussian`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CircularGaussianConfig {
    /// Which coordinates are angles (uniform on [−π, π)); at least one must be.
    pub circular: Vec<bool>,
    /// Whether the mean and scales of the Gaussian coordinates are trained (they start as a
    /// standard normal either way).
    #[serde(default)]
    pub trainable: bool,
}

impl CircularGaussianConfig {
    /// Builds the distribution.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<CircularGaussian<B>> {
        let dim = self.circular.len();
        let columns = |angle: bool| -> Vec<usize> {
            (0..dim).filter(|&i| self.circular[i] == angle).collect()
        };
        let (ordinary, angles) = (columns(false), columns(true));
        if angles.is_empty() {
            return Err(crate::Error::InvalidArgument(
                "a circular Gaussian needs at least one angle in `circular`; without angles use a \
                 DiagGaussian base"
                    .into(),
            ));
        }
        let gaussian = (!ordinary.is_empty()).then(|| {
            let config = DiagGaussianConfig {
                dim: ordinary.len(),
                trainable: self.trainable,
                std: 1.0,
            };
            (config.init(device), index_tensor(&ordinary, device))
        });
        let unsort = inverse_permutation(&[ordinary.as_slice(), &angles].concat());
        Ok(CircularGaussian {
            gaussian,
            unsort: index_tensor(&unsort, device),
            angles: angles.len(),
        })
    }
}

/// Uniform on [−π, π) for the angles times a diagonal Gaussian for the other coordinates.
///
/// The density of an angle is 1/(2π) wherever it lies: angles are points of a circle, so a
/// value outside [−π, π) is the same point as its wrapped value.
#[derive(Module, Debug)]
pub struct CircularGaussian<B: FlowBackend> {
    /// The Gaussian of the ordinary coordinates and their columns; `None` if all are angles.
    gaussian: Option<(DiagGaussian<B>, Tensor<B, 1, Int>)>,
    /// Puts the columns `[ordinary, angles]` back in their original order.
    unsort: Tensor<B, 1, Int>,
    /// Number of angles.
    angles: usize,
}

impl<B: FlowBackend> CircularGaussian<B> {
    /// Dimension.
    pub fn dim(&self) -> usize {
        self.unsort.dims()[0]
    }

    /// `n` samples, from burn's seeded generator.
    pub fn sample(&self, n: usize) -> Tensor<B, 2> {
        let device = self.unsort.device();
        let angles = Tensor::random([n, self.angles], Distribution::Uniform(-PI, PI), &device);
        let parts = match &self.gaussian {
            Some((gaussian, _)) => vec![gaussian.sample(n), angles],
            None => vec![angles],
        };
        Tensor::cat(parts, 1).select(1, self.unsort.clone())
    }

    /// Log density of each point.
    pub fn log_prob(&self, z: Tensor<B, 2>) -> Tensor<B, 1> {
        let uniform = -(self.angles as f64) * (2.0 * PI).ln();
        match &self.gaussian {
            Some((gaussian, columns)) => gaussian
                .log_prob(z.select(1, columns.clone()))
                .add_scalar(uniform),
            None => Tensor::full([z.dims()[0]], uniform, &z.device()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    fn base(circular: Vec<bool>) -> CircularGaussian<TestBackend> {
        let config = CircularGaussianConfig {
            circular,
            trainable: true,
        };
        config.init(&device()).unwrap()
    }

    #[test]
    fn normalised() {
        // An ordinary coordinate and an angle: midpoint rule on [−8, 8] × [−π, π).
        let base = base(vec![false, true]);
        let m = 400;
        let (hx, ha) = (16.0 / m as f64, 2.0 * PI / m as f64);
        let grid: Vec<f64> = (0..m)
            .flat_map(|i| {
                (0..m)
                    .flat_map(move |j| [-8.0 + (i as f64 + 0.5) * hx, -PI + (j as f64 + 0.5) * ha])
            })
            .collect();
        let log_p = values(base.log_prob(tensor(&grid, m * m, 2)));
        let total = log_p.iter().map(|l| l.exp()).sum::<f64>() * hx * ha;
        assert!((total - 1.0).abs() < 1e-9, "integral {total}");
        let all_angles = self::base(vec![true, true]);
        let expected = -2.0 * (2.0 * PI).ln();
        let log_p = values(all_angles.log_prob(tensor(&[0.1, 3.0], 1, 2)));
        assert!((log_p[0] - expected).abs() < 1e-14);
    }

    #[test]
    fn angles_uniform_others_normal() {
        let base = base(vec![true, false, true]);
        assert_eq!(base.dim(), 3);
        let n = 40_000;
        let x = values(base.sample(n));
        let column = |c: usize| x.iter().skip(c).step_by(3).copied().collect::<Vec<_>>();
        let moments = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (mean, v.iter().map(|a| a * a).sum::<f64>() / v.len() as f64)
        };
        for c in [0, 2] {
            let angles = column(c);
            assert!(angles.iter().all(|a| (-PI..PI).contains(a)));
            // Uniform: mean 0, E θ² = π²/3, and a flat histogram in 8 bins.
            let (mean, second) = moments(&angles);
            assert!(mean.abs() < 0.05 && (second / (PI * PI / 3.0) - 1.0).abs() < 0.02);
            let mut counts = [0usize; 8];
            for a in &angles {
                counts[(((a + PI) / (2.0 * PI)) * 8.0) as usize] += 1;
            }
            assert!(
                counts.iter().all(|&k| (k as f64 - 5000.0).abs() < 350.0),
                "{counts:?}"
            );
        }
        let (mean, second) = moments(&column(1));
        assert!(mean.abs() < 0.03 && (second - 1.0).abs() < 0.04);
    }

    #[test]
    fn needs_an_angle() {
        let config = CircularGaussianConfig {
            circular: vec![false, false],
            trainable: false,
        };
        assert!(config.init::<TestBackend>(&device()).is_err());
    }
}
