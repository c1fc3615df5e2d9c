//! Short-run Langevin dynamics on a model energy: the negatives of contrastive divergence.

use super::EnergyModel;
use crate::backend::FlowBackend;
use crate::flow::{from_f64, to_host};
use crate::{Error, Result};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Unadjusted Langevin steps z ← z − (η/2)∇_z E + √η ξ in the model's standardised coordinates
/// z = (x − mean)/sd (in x: a constant diagonal preconditioner sd², which keeps exp(−E)
/// invariant in continuous time), so that `step_size` η is the same for data of any scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangevinConfig {
    /// Langevin steps per gradient step.
    #[serde(default = "crate::defaults::int::<20>")]
    pub steps: usize,
    /// η, in standardised units (a step moves a point by about √η data standard deviations).
    #[serde(default = "crate::defaults::real::<1, 100>")]
    pub step_size: f64,
}

impl Default for LangevinConfig {
    fn default() -> Self {
        LangevinConfig {
            steps: 20,
            step_size: 0.01,
        }
    }
}

impl LangevinConfig {
    /// Checks the step count and size.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 || self.steps > 100_000 {
            return Err(Error::InvalidArgument(format!(
                "langevin: `steps` must be from 1 to 100000, not {}",
                self.steps
            )));
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0 && self.step_size <= 10.0) {
            return Err(Error::InvalidArgument(format!(
                "langevin: `step_size` must be in (0, 10] (standardised units), not {}",
                self.step_size
            )));
        }
        Ok(())
    }

    /// Runs the steps from `x` (`n × dim`, row-major), with noise from `rng`; returns the end
    /// points. A point whose energy gradient stops being finite is left where it was before
    /// that step.
    pub fn run<B: FlowBackend>(
        &self,
        model: &EnergyModel<B>,
        x: Vec<f64>,
        rng: &mut impl rand::Rng,
        device: &B::Device,
    ) -> Vec<f64> {
        let dim = model.dim();
        let n = x.len() / dim;
        let eta = self.step_size;
        let sd = model.scales().to_vec();
        let mut x = x;
        let mut moved = vec![0.0; dim];
        for _ in 0..self.steps {
            let (_, grad) = model.energy_and_gradient(from_f64(x.clone(), [n, dim], device));
            let grad = to_host(grad);
            for (point, g) in x.chunks_exact_mut(dim).zip(grad.chunks_exact(dim)) {
                for (a, m) in moved.iter_mut().enumerate() {
                    let s = sd[a];
                    let xi: f64 = StandardNormal.sample(rng);
                    *m = point[a] - 0.5 * eta * s * s * g[a] + eta.sqrt() * s * xi;
                }
                if moved.iter().all(|v| v.is_finite()) {
                    point.copy_from_slice(&moved);
                }
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebm::EnergySpec;
    use crate::flow::testing::*;
    use rand::SeedableRng;

    /// The untrained model is the Gaussian exp(−κ‖z‖²/2): long Langevin runs reach its variance
    /// 1/κ in standardised units (up to the O(η) discretisation bias).
    #[test]
    fn samples_the_initial_gaussian() {
        let data: Vec<f64> = points(1000, 2, 3.0, 1)
            .iter()
            .map(|v| v * 2.0 + 1.0)
            .collect();
        let config = EnergySpec {
            confinement: 1.0,
            ..EnergySpec::default()
        }
        .build(&data, 2)
        .unwrap();
        let model = config.init::<TestBackend>(&device()).unwrap();
        let langevin = LangevinConfig {
            steps: 400,
            step_size: 0.05,
        };
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let x = langevin.run(&model, data.clone(), &mut rng, &device());
        for j in 0..2 {
            let z: Vec<f64> = x
                .iter()
                .skip(j)
                .step_by(2)
                .map(|v| (v - config.mean[j]) / config.sd[j])
                .collect();
            let mean = z.iter().sum::<f64>() / z.len() as f64;
            let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
            assert!(mean.abs() < 0.15, "coordinate {j}: mean {mean}");
            assert!((var - 1.0).abs() < 0.15, "coordinate {j}: variance {var}");
        }
    }
}
