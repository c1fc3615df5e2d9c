//! Contrastive divergence: maximum likelihood for an energy model with Langevin negatives.
//!
//! The gradient of the negative log-likelihood of exp(−E_θ)/Z_θ is
//! E_data[∇_θE_θ] − E_{p_θ}[∇_θE_θ]; the second expectation is taken over negatives: persistent
//! chains (PCD) moved by a few Langevin steps on the current energy at every gradient step, a
//! fraction of them restarted from data points first. The loss whose gradient that is:
//! mean E_θ(data) − mean E_θ(negatives) (+ α times the mean squared energies of both, to keep the
//! energies' scale bounded, as in Du & Mordatch 2019).

use super::LangevinConfig;
use super::particles::{load_particles, save_particles};
use crate::Result;
use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::train::{Batch, Objective, ObjectiveState, StepContext, draw_rows};
use burn::module::AutodiffModule;
use rand::RngExt;
use std::path::Path;

/// The contrastive-divergence objective: data, Langevin settings and its persistent chains.
pub struct ContrastiveDivergence {
    weight: f64,
    data: Vec<f64>,
    dim: usize,
    langevin: LangevinConfig,
    restart: f64,
    regularization: f64,
    /// Persistent chains (`n × dim`); empty until the first step fills them from the data.
    chains: Vec<f64>,
    n_chains: usize,
}

/// The settings of [`ContrastiveDivergence`] besides its data.
#[derive(Clone, Debug)]
pub struct CdSettings {
    /// Weight in the total loss.
    pub weight: f64,
    /// The negatives' Langevin steps.
    pub langevin: LangevinConfig,
    /// Persistent chains (0: every negative starts at a data point, i.e. CD-k).
    pub chains: usize,
    /// Fraction of the chains drawn in a step that restart from a data point first.
    pub restart: f64,
    /// α of the energy-magnitude penalty.
    pub regularization: f64,
}

impl ContrastiveDivergence {
    /// Holds `data` (`n × dim`, row-major, finite).
    pub fn new(settings: CdSettings, data: Vec<f64>, dim: usize) -> Result<Self> {
        crate::train::check_training_points(&data, dim, "contrastive-divergence")?;
        settings.langevin.validate()?;
        Ok(ContrastiveDivergence {
            weight: settings.weight,
            data,
            dim,
            langevin: settings.langevin,
            restart: settings.restart,
            regularization: settings.regularization,
            chains: Vec::new(),
            n_chains: settings.chains,
        })
    }

    /// The negatives of one step: `n` chains (drawn from the persistent ones, some restarted at
    /// data points) moved by the Langevin steps on the model as it is now.
    fn negatives<B: FlowBackend>(
        &mut self,
        model: &super::EnergyModel<B>,
        n: usize,
        rng: &mut rand_pcg::Pcg64,
        device: &B::Device,
    ) -> Vec<f64> {
        let dim = self.dim;
        if self.n_chains == 0 {
            let start = draw_rows(&self.data, dim, n, rng);
            return self.langevin.run(model, start, rng, device);
        }
        if self.chains.is_empty() {
            self.chains = draw_rows(&self.data, dim, self.n_chains, rng);
        }
        let picked: Vec<usize> = (0..n).map(|_| rng.random_range(0..self.n_chains)).collect();
        let mut start = Vec::with_capacity(n * dim);
        for &c in &picked {
            if rng.random::<f64>() < self.restart {
                start.extend(draw_rows(&self.data, dim, 1, rng));
            } else {
                start.extend_from_slice(&self.chains[c * dim..(c + 1) * dim]);
            }
        }
        let end = self.langevin.run(model, start, rng, device);
        for (k, &c) in picked.iter().enumerate() {
            self.chains[c * dim..(c + 1) * dim].copy_from_slice(&end[k * dim..(k + 1) * dim]);
        }
        end
    }
}

impl<B: AutodiffFlowBackend> Objective<B> for ContrastiveDivergence {
    fn loss(&mut self, step: &StepContext<'_, B>, rng: &mut rand_pcg::Pcg64) -> Result<Batch<B>> {
        let model = step.model.energy()?;
        let (n, dim) = (step.batch_size, self.dim);
        let negatives = self.negatives(&model.valid(), n, rng, step.device);
        let data = draw_rows(&self.data, dim, n, rng);
        let energy = |x: Vec<f64>| model.energy(crate::flow::from_f64(x, [n, dim], step.device));
        let (positive, negative) = (energy(data), energy(negatives));
        let mut loss = positive.clone().mean() - negative.clone().mean();
        if self.regularization > 0.0 {
            let squares = positive.powi_scalar(2).mean() + negative.powi_scalar(2).mean();
            loss = loss + squares.mul_scalar(self.regularization);
        }
        Ok(Batch {
            loss: loss.mul_scalar(self.weight),
            points: n,
            n_nonfinite: 0,
            // Each Langevin step evaluates E and ∇E at every chain; the loss, E at 2n points.
            model_evaluations: (n * (self.langevin.steps + 2)) as u64,
        })
    }

    fn training_data(&self) -> Option<&[f64]> {
        Some(&self.data)
    }

    /// Writes the persistent chains (`particles_INDEX.h5`: `x`), once they exist.
    fn save_files(&self, dir: &Path, index: usize) -> Result<()> {
        save_particles(dir, index, &self.chains, self.dim, None)
    }

    fn restore(&mut self, _: &ObjectiveState, dir: &Path, index: usize) -> Result<()> {
        if let Some((x, _)) = load_particles(dir, index, self.n_chains, self.dim, false)? {
            self.chains = x;
        }
        Ok(())
    }
}
