//! The generalised Gaussian exp(−Σᵢ |xᵢ/σ|ᵖ) / Z, the base density f₀ of Máté & Fleuret's
//! PDE flows (p = 4 for their double well), with its exact normaliser and an exact sampler.

use super::from_f64;
use crate::backend::FlowBackend;
use burn::prelude::*;
use burn::tensor::Distribution;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution as _, Gamma};
use serde::{Deserialize, Serialize};

/// Configuration of a [`GeneralizedGaussian`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneralizedGaussianConfig {
    /// Dimension.
    pub dim: usize,
    /// The power p > 0 (2: a Gaussian of variance σ²/2; 1: a Laplace distribution).
    pub power: f64,
    /// The scale σ > 0.
    #[serde(default = "crate::defaults::real::<1, 1>")]
    pub scale: f64,
}

impl GeneralizedGaussianConfig {
    /// exp(−Σ |xᵢ|ᵖ) / Z in `dim` dimensions (σ = 1).
    pub fn new(dim: usize, power: f64) -> Self {
        GeneralizedGaussianConfig {
            dim,
            power,
            scale: 1.0,
        }
    }

    /// Builds the distribution.
    pub fn init<B: FlowBackend>(
        &self,
        device: &B::Device,
    ) -> crate::Result<GeneralizedGaussian<B>> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if self.dim == 0 || !positive(self.power) || !positive(self.scale) {
            return Err(crate::Error::InvalidArgument(format!(
                "a generalised Gaussian needs dim ≥ 1 and a positive finite power and scale; got \
                 dim {}, power {}, scale {}",
                self.dim, self.power, self.scale
            )));
        }
        // Z = (2σ Γ(1 + 1/p))^d.
        let log_normalizer = self.dim as f64
            * (2.0f64.ln() + self.scale.ln() + libm::lgamma(1.0 + 1.0 / self.power));
        Ok(GeneralizedGaussian {
            log_normalizer: from_f64(vec![log_normalizer], [1], device),
            dim: self.dim,
            power: self.power,
            scale: self.scale,
        })
    }
}

/// exp(−Σᵢ |xᵢ/σ|ᵖ) / (2σ Γ(1 + 1/p))^d; fixed (not trained).
#[derive(Module, Debug)]
pub struct GeneralizedGaussian<B: FlowBackend> {
    /// ln Z `[1]` (also where the distribution lives: its device).
    log_normalizer: Tensor<B, 1>,
    dim: usize,
    power: f64,
    scale: f64,
}

impl<B: FlowBackend> GeneralizedGaussian<B> {
    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `n` exact samples: |xᵢ/σ|ᵖ ~ Gamma(1/p, 1) with a random sign.
    ///
    /// Drawn on the host by a generator that is seeded from burn's generator of this device, so
    /// samples are reproducible under `B::seed` like those of the other bases, then uploaded.
    pub fn sample(&self, n: usize) -> Tensor<B, 2> {
        let device = self.log_normalizer.device();
        let seed: Vec<f64> = Tensor::<B, 1>::random([2], Distribution::Uniform(0.0, 1.0), &device)
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("a float tensor");
        let bits = |u: f64| (u * 4_294_967_296.0) as u64;
        let mut rng = rand_pcg::Pcg64::seed_from_u64((bits(seed[0]) << 32) ^ bits(seed[1]));
        let gamma = Gamma::new(1.0 / self.power, 1.0).expect("the power was checked at init");
        let values = (0..n * self.dim)
            .map(|_| {
                let magnitude = self.scale * gamma.sample(&mut rng).powf(1.0 / self.power);
                if rng.random::<bool>() {
                    magnitude
                } else {
                    -magnitude
                }
            })
            .collect();
        from_f64(values, [n, self.dim], &device)
    }

    /// Log density of each point.
    pub fn log_prob(&self, z: Tensor<B, 2>) -> Tensor<B, 1> {
        let energy = z
            .div_scalar(self.scale)
            .abs()
            .powf_scalar(self.power)
            .sum_dim(1)
            .squeeze_dim::<1>(1);
        energy.neg() - self.log_normalizer.clone()
    }

    /// −log density of each point (`[n]`) and its gradient (p/σ) sign(z) |z/σ|^(p−1)
    /// (`[n, d]`; unbounded at zero coordinates when p < 1).
    pub fn energy_and_gradient(&self, z: Tensor<B, 2>) -> (Tensor<B, 1>, Tensor<B, 2>) {
        let scaled = z.div_scalar(self.scale);
        let magnitude = scaled.clone().abs();
        let energy = magnitude
            .clone()
            .powf_scalar(self.power)
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            + self.log_normalizer.clone();
        let gradient = scaled.sign()
            * magnitude
                .powf_scalar(self.power - 1.0)
                .mul_scalar(self.power / self.scale);
        (energy, gradient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    fn config(dim: usize) -> GeneralizedGaussianConfig {
        GeneralizedGaussianConfig {
            dim,
            power: 4.0,
            scale: 1.3,
        }
    }

    /// ∫ exp(log_prob) over [−L, L]^d (d = 1 or 2) by the midpoint rule on m points per axis.
    fn integral(base: &GeneralizedGaussian<TestBackend>, d: usize, half_width: f64) -> f64 {
        let m = 400;
        let h = 2.0 * half_width / m as f64;
        let axis: Vec<f64> = (0..m).map(|i| -half_width + (i as f64 + 0.5) * h).collect();
        let grid: Vec<f64> = if d == 1 {
            axis.clone()
        } else {
            axis.iter()
                .flat_map(|&a| axis.iter().flat_map(move |&b| [a, b]))
                .collect()
        };
        let n = grid.len() / d;
        let log_p = values(base.log_prob(tensor(&grid, n, d)));
        log_p.iter().map(|l| l.exp()).sum::<f64>() * h.powi(d as i32)
    }

    #[test]
    fn normalised_in_one_and_two_dimensions() {
        for d in [1, 2] {
            let base = config(d).init::<TestBackend>(&device()).unwrap();
            let total = integral(&base, d, 4.0);
            assert!((total - 1.0).abs() < 1e-6, "d = {d}: integral {total}");
        }
        // p = 2 is a Gaussian of variance σ²/2: compare one log density.
        let gauss = GeneralizedGaussianConfig::new(1, 2.0)
            .init::<TestBackend>(&device())
            .unwrap();
        let exact = -0.49 - 0.5 * std::f64::consts::PI.ln();
        assert!((values(gauss.log_prob(tensor(&[0.7], 1, 1)))[0] - exact).abs() < 1e-14);
    }

    #[test]
    fn sampler_moments() {
        let (n, d) = (40_000, 2);
        let c = config(d);
        let base = c.init::<TestBackend>(&device()).unwrap();
        let x = values(base.sample(n));
        let count = (n * d) as f64;
        // E x = 0, E|x|ᵖ = σᵖ/p, E x² = σ² Γ(3/p)/Γ(1/p).
        let mean = x.iter().sum::<f64>() / count;
        let moment_p = x.iter().map(|v| v.abs().powf(c.power)).sum::<f64>() / count;
        let second = x.iter().map(|v| v * v).sum::<f64>() / count;
        let expected_p = c.scale.powf(c.power) / c.power;
        let expected_second =
            c.scale.powi(2) * (libm::lgamma(3.0 / c.power) - libm::lgamma(1.0 / c.power)).exp();
        // Tolerances of about 5 standard errors.
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!(
            (moment_p / expected_p - 1.0).abs() < 0.035,
            "E|x|^p {moment_p}"
        );
        assert!(
            (second / expected_second - 1.0).abs() < 0.02,
            "E x² {second}"
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        let device = device();
        for bad in [
            GeneralizedGaussianConfig::new(0, 2.0),
            GeneralizedGaussianConfig::new(2, 0.0),
            GeneralizedGaussianConfig::new(2, f64::NAN),
            GeneralizedGaussianConfig {
                scale: -1.0,
                ..config(2)
            },
        ] {
            assert!(bad.init::<TestBackend>(&device).is_err());
        }
    }
}
