//! The PDE objective: collocation, target evaluation, residual, loss.

use super::{PdeModel, PdePoints, TargetEnergies, trajectory};
use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::flow::DivergenceMethod;
use crate::flow::to_host;
use crate::{Error, Result};
use burn::module::AutodiffModule;
use burn::prelude::*;

/// The PDE (continuity) objective: weight × mean over `times` grid times t_k = k/(times − 1)
/// and `batch` trajectories of |ε| + ε². Built from the configuration's `Pde(...)` objective
/// (see [`crate::train::ObjectiveConfig::Pde`], where the settings and their published
/// defaults are declared).
#[derive(Clone, Debug, PartialEq)]
pub struct PdeObjective {
    /// Weight of the loss in a sum of objectives.
    pub weight: f64,
    /// Trajectories (base samples) per step (256 published).
    pub batch: usize,
    /// Grid times, 0 and 1 included (51 published).
    pub times: usize,
    /// RK4 steps per grid interval for the collocation trajectories (1: the published 50-step
    /// RK4 sampler with 51 times).
    pub substeps: usize,
    /// How ∇·V is computed in the residual: exactly (published), or by two independent
    /// Hutchinson estimates whose product replaces ε² (see [`Residual::loss_terms`](super::Residual::loss_terms)).
    pub divergence: DivergenceMethod,
}

/// Published trajectories per step: 256.
pub fn default_batch() -> usize {
    256
}

/// Published grid times: 51.
pub fn default_times() -> usize {
    51
}

/// RK4 steps per grid interval of the published sampler: 1.
pub fn default_substeps() -> usize {
    1
}

/// One evaluation of the objective.
pub struct PdeLoss<B: FlowBackend> {
    /// weight × mean of |ε| + ε² over the usable points (`[1]`), for `backward`.
    pub loss: Tensor<B, 1>,
    /// Mean |ε| over the usable points.
    pub mean_abs_residual: f64,
    /// Points at which the target was evaluated.
    pub target_evaluations: u64,
    /// Points left out of the mean: non-finite position, u or ∇u.
    pub masked_points: u64,
}

impl PdeObjective {
    /// The published settings (batch 256, 51 times, one RK4 step per interval) with `weight`.
    pub fn new(weight: f64) -> Self {
        PdeObjective {
            weight,
            batch: default_batch(),
            times: default_times(),
            substeps: default_substeps(),
            divergence: DivergenceMethod::Exact,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if !self.weight.is_finite() || self.batch == 0 || self.times < 2 || self.substeps == 0 {
            return Err(Error::InvalidArgument(format!(
                "the PDE objective needs a finite weight, batch ≥ 1, times ≥ 2 and substeps ≥ 1; \
                 got weight {}, batch {}, times {}, substeps {}",
                self.weight, self.batch, self.times, self.substeps
            )));
        }
        self.divergence.validate()
    }

    /// The grid times t_k = k/(times − 1).
    pub fn grid(&self) -> Vec<f64> {
        let last = (self.times - 1) as f64;
        (0..self.times).map(|k| k as f64 / last).collect()
    }

    /// Collocation points for one step: `batch` fresh base samples carried along the flow's
    /// trajectory (no graph) to every grid time, and the target's u and ∇u there.
    pub fn collocation<B: AutodiffFlowBackend>(
        &self,
        model: &PdeModel<B>,
        target: &dyn Fn(&[f64]) -> TargetEnergies,
        device: &B::Device,
    ) -> Result<PdePoints<B>> {
        self.validate()?;
        let grid = self.grid();
        let x = trajectory(&model.flow.valid(), self.batch, &grid, self.substeps)?;
        let t = grid
            .iter()
            .flat_map(|&t| std::iter::repeat_n(t, self.batch))
            .collect();
        PdePoints::evaluate(x, t, model.flow.base.dim(), target, device)
    }

    /// The weighted loss at given points (a pure function of the model's parameters). Fails
    /// when every point is masked.
    pub fn residual_loss<B: FlowBackend>(
        &self,
        model: &PdeModel<B>,
        points: &PdePoints<B>,
    ) -> Result<PdeLoss<B>> {
        if points.usable == 0 {
            return Err(Error::InvalidArgument(format!(
                "the PDE objective has no usable collocation point: all {} have a non-finite \
                 position, u or ∇u (the flow or the target blows up)",
                points.masked
            )));
        }
        let residual = model.residual_with(points, &self.divergence)?;
        let count = points.usable as f64;
        let mask = points.mask.clone();
        let magnitude = residual.clone().estimate().detach().abs();
        let mean_abs = to_host((magnitude * mask.clone()).sum())[0] / count;
        let loss = (residual.loss_terms() * mask)
            .sum()
            .mul_scalar(self.weight / count);
        Ok(PdeLoss {
            loss,
            mean_abs_residual: mean_abs,
            target_evaluations: points.target_evaluations,
            masked_points: points.masked as u64,
        })
    }

    /// The loss of one step: [`collocation`](Self::collocation) then
    /// [`residual_loss`](Self::residual_loss). `target` maps row-major points (`m × d`) to
    /// (u `[m]`, ∇u `[m × d]`).
    pub fn loss<B: AutodiffFlowBackend>(
        &self,
        model: &PdeModel<B>,
        target: &dyn Fn(&[f64]) -> TargetEnergies,
        device: &B::Device,
    ) -> Result<PdeLoss<B>> {
        let points = self.collocation(model, target, device)?;
        self.residual_loss(model, &points)
    }
}

impl<B: AutodiffFlowBackend> crate::train::objective::Objective<B> for PdeObjective {
    fn loss(
        &mut self,
        step: &crate::train::objective::StepContext<'_, B>,
        _: &mut rand_pcg::Pcg64,
    ) -> Result<crate::train::batch::Batch<B>> {
        let model = step.model.flow()?.continuous().ok_or_else(|| {
            Error::InvalidArgument(
                "the PDE objective needs a continuous flow: `flow: Continuous(...)`".into(),
            )
        })?;
        let target = |x: &[f64]| -> TargetEnergies { step.system.energy_and_gradient(x) };
        // This rank's share of the trajectories, drawn from its own stream of burn's generator.
        let local = PdeObjective {
            batch: step.share(self.batch).len(),
            ..self.clone()
        };
        if local.batch == 0 {
            return Err(Error::InvalidArgument(format!(
                "the PDE objective's batch of {} trajectories is smaller than the {} ranks \
                 that share it",
                self.batch,
                step.ranks.size()
            )));
        }
        let out = PdeObjective::loss(&local, model, &target, step.device)?;
        Ok(crate::train::batch::Batch {
            loss: out.loss.mul_scalar(step.share_weight(self.batch)),
            points: local.batch * self.times,
            n_nonfinite: out.masked_points as usize,
            model_evaluations: 0,
        })
    }

    fn over_ranks(&self) -> bool {
        true
    }
}
