//! The VAPO objective: the Deep Ritz (variational) form of the weighted Poisson equation
//! ∇·(ρ_t ∇Φ) = −∂ₜρ_t, averaged over the conditional paths of the data.
//!
//! For each t, the minimiser over Φ of
//!
//! J_t(Φ) = ∫ [½ ρ_t ‖∇Φ‖² − Φ ∂ₜρ_t] dx
//!
//! satisfies the Poisson equation (its first variation is ∫ δΦ [−∇·(ρ_t∇Φ) − ∂ₜρ_t]), so the
//! potential flow ż = ∇Φ moves samples of ρ_t exactly as ρ_t evolves. With the marginal path
//! ρ_t = E_{x₁}[ρ_t(· | x₁)] of [`GaussianPath`](super::GaussianPath), both terms are
//! expectations over the conditional paths, and with t ~ U(0, 1):
//!
//! - **`Ritz`**: J = E_{t, x₁, x ~ ρ_t(·|x₁)} [½ ‖∇Φ(x, t)‖² − Φ(x, t) ∂ₜ log ρ_t(x | x₁)], the
//!   loss as the paper writes it. ∂ₜ log ρ_t(x | x₁) has mean zero for each x₁, so a constant
//!   added to Φ leaves J unchanged; its batch mean is subtracted, which makes each batch's
//!   loss blind to that constant too.
//! - **`Velocity`** (default): integrating by parts against the conditional velocity u_t that
//!   generates each conditional path (∂ₜρ_t(·|x₁) = −∇·(ρ_t(·|x₁) u_t)),
//!   ∫ Φ ∂ₜρ_t(·|x₁) = E_{ρ_t(·|x₁)}[∇Φ · u_t], so
//!   J = E [½ ‖∇Φ(x, t) − u_t(x | x₁)‖²] − E[½ ‖u_t‖²]. The last term does not depend on θ:
//!   the same minimiser and the same expected gradient, without the product of Φ with a
//!   large, zero-mean factor, so with far less noise. (It is flow matching restricted to
//!   gradient fields; the paper's code has it as an option.)
//!
//! Neither needs samples of the model. One draw of (t, x₁, ε) per point.

use super::{GaussianPath, PotentialFlow};
use crate::Result;
use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::flow::from_f64;
use crate::train::{Batch, Objective, StepContext, draw_rows};
use burn::prelude::*;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Which unbiased form of the VAPO loss a run minimises (the same expected gradient).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VapoLoss {
    /// ½‖∇Φ − u_t‖², by integration by parts.
    #[default]
    Velocity,
    /// ½‖∇Φ‖² − Φ ∂ₜ log ρ_t, the Deep Ritz loss as written.
    Ritz,
}

/// The VAPO objective and its data.
pub struct Vapo {
    weight: f64,
    loss: VapoLoss,
    data: Vec<f64>,
    dim: usize,
}

impl Vapo {
    /// Holds `data` (`n × dim`, row-major, finite).
    pub fn new(weight: f64, loss: VapoLoss, data: Vec<f64>, dim: usize) -> Result<Self> {
        crate::train::check_training_points(&data, dim, "VAPO")?;
        Ok(Vapo {
            weight,
            loss,
            data,
            dim,
        })
    }
}

/// Draws from the conditional paths, in standardised coordinates: per point its position, its
/// time, ∂ₜ log ρ_t(x | x₁) and u_t(x | x₁).
struct PathDraws {
    z: Vec<f64>,
    times: Vec<f64>,
    rates: Vec<f64>,
    velocities: Vec<f64>,
}

impl PathDraws {
    /// One draw of (t ~ U(0, 1), ε ~ N(0, I)) for each standardised data point of `z1`.
    fn new(path: &GaussianPath, z1: &[f64], dim: usize, rng: &mut impl rand::Rng) -> Self {
        let n = z1.len() / dim;
        let mut draws = PathDraws {
            z: Vec::with_capacity(n * dim),
            times: Vec::with_capacity(n),
            rates: Vec::with_capacity(n),
            velocities: Vec::with_capacity(n * dim),
        };
        let mut eps = vec![0.0; dim];
        for row in z1.chunks(dim) {
            eps.iter_mut().for_each(|e| *e = StandardNormal.sample(rng));
            let t: f64 = rng.random();
            path.extend_point(row, &eps, t, &mut draws.z);
            draws.times.push(t);
            draws.rates.push(path.log_density_rate(row, &eps, t));
            path.extend_velocity(row, &eps, t, &mut draws.velocities);
        }
        draws
    }
}

impl VapoLoss {
    /// The loss of each draw (`[n]`), differentiable with respect to the parameters.
    fn per_point<B: FlowBackend>(
        self,
        model: &PotentialFlow<B>,
        draws: PathDraws,
        device: &B::Device,
    ) -> Tensor<B, 1> {
        let n = draws.times.len();
        let dim = draws.z.len() / n;
        let (phi, gradient) = model.potential_and_velocity(
            from_f64(draws.z, [n, dim], device),
            from_f64(draws.times, [n], device),
        );
        let half_square =
            |v: Tensor<B, 2>| v.powi_scalar(2).sum_dim(1).reshape([n]).mul_scalar(0.5);
        match self {
            VapoLoss::Velocity => {
                half_square(gradient - from_f64(draws.velocities, [n, dim], device))
            }
            VapoLoss::Ritz => half_square(gradient) - phi * from_f64(draws.rates, [n], device),
        }
    }
}

impl<B: AutodiffFlowBackend> Objective<B> for Vapo {
    fn loss(&mut self, step: &StepContext<'_, B>, rng: &mut rand_pcg::Pcg64) -> Result<Batch<B>> {
        let model = step.model.flow()?.potential()?;
        let (n, dim) = (step.batch_size, self.dim);
        let (mean, sd) = model.scales();
        let z1: Vec<f64> = draw_rows(&self.data, dim, n, rng)
            .iter()
            .enumerate()
            .map(|(k, x)| (x - mean[k % dim]) / sd[k % dim])
            .collect();
        let mut draws = PathDraws::new(&model.path()?, &z1, dim, rng);
        let centre = draws.rates.iter().sum::<f64>() / n as f64;
        draws.rates.iter_mut().for_each(|r| *r -= centre);
        let loss = self.loss.per_point(model, draws, step.device).mean();
        Ok(Batch {
            loss: loss.mul_scalar(self.weight),
            points: n,
            n_nonfinite: 0,
            // Φ and ∇Φ at one point each.
            model_evaluations: n as u64,
        })
    }

    fn training_data(&self) -> Option<&[f64]> {
        Some(&self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebm::PotentialSpec;
    use crate::flow::testing::*;
    use rand::SeedableRng;

    /// The two forms are the same loss up to the constant E[½‖u‖²]: on the same draws, the
    /// per-point difference Ritz − (Velocity − ½‖u‖²) has mean zero (within 4 standard errors)
    /// for a potential with random weights, while each form alone is far from zero.
    #[test]
    fn both_forms_have_the_same_expectation() {
        let (n, dim) = (40_000, 2);
        let data: Vec<f64> = (0..200 * dim)
            .map(|i| ((i * 7919) % 23) as f64 * 0.3 - 2.0)
            .collect();
        let config = PotentialSpec {
            hidden: vec![8, 8],
            sigma: 0.1,
            ..PotentialSpec::default()
        }
        .build(&data, dim, false)
        .unwrap();
        let model: PotentialFlow<TestBackend> = seeded(config.init(&device()).unwrap(), 0.8, 4);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let z1: Vec<f64> = draw_rows(&data, dim, n, &mut rng)
            .iter()
            .enumerate()
            .map(|(k, x)| (x - config.mean[k % dim]) / config.sd[k % dim])
            .collect();
        let path = model.path().unwrap();
        let draw = |rng: &mut rand_pcg::Pcg64| PathDraws::new(&path, &z1, dim, rng);
        let draws = draw(&mut rng.clone());
        let half_u2: Vec<f64> = draws
            .velocities
            .chunks(dim)
            .map(|u| 0.5 * u.iter().map(|v| v * v).sum::<f64>())
            .collect();
        let ritz = values(VapoLoss::Ritz.per_point(&model, draw(&mut rng.clone()), &device()));
        let velocity = values(VapoLoss::Velocity.per_point(&model, draws, &device()));
        let difference: Vec<f64> = (0..n).map(|i| ritz[i] - velocity[i] + half_u2[i]).collect();
        let mean = difference.iter().sum::<f64>() / n as f64;
        let var = difference.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let se = (var / n as f64).sqrt();
        let ritz_mean = ritz.iter().sum::<f64>() / n as f64;
        assert!(mean.abs() < 4.0 * se, "difference {mean} ± {se}");
        assert!(
            ritz_mean.abs() > 20.0 * se,
            "a trivial potential: {ritz_mean} ± {se}"
        );
    }
}
