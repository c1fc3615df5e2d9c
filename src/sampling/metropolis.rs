//! Random-walk Metropolis with an isotropic Gaussian proposal.

use super::adaptation::{Adaptation, check_step_size};
use super::kernel::Transition;
use super::log_density::{LogDensity, evaluate};
use super::state::{ChainState, StepStats, Tally};
use crate::Result;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

/// Random-walk Metropolis: x′ = x + ε z with z ~ N(0, I), accepted with probability
/// min(1, π(x′)/π(x)). All chains share the step size ε, adapted (when enabled) from the batch's
/// mean acceptance after each [`Metropolis::step`].
#[derive(Clone, Debug, PartialEq)]
pub struct Metropolis {
    step_size: f64,
    adaptation: Option<Adaptation>,
}

impl Metropolis {
    /// A kernel with step size ε (positive) and optional adaptation.
    pub fn new(step_size: f64, adaptation: Option<Adaptation>) -> Result<Self> {
        check_step_size(step_size)?;
        if let Some(a) = &adaptation {
            a.validate()?;
        }
        Ok(Metropolis {
            step_size,
            adaptation,
        })
    }

    /// The current step size ε.
    pub fn step_size(&self) -> f64 {
        self.step_size
    }

    /// Sets ε (positive and finite), e.g. from a checkpoint.
    pub fn set_step_size(&mut self, step_size: f64) -> Result<()> {
        check_step_size(step_size)?;
        self.step_size = step_size;
        Ok(())
    }

    /// The adaptation, if enabled.
    pub fn adaptation(&self) -> Option<Adaptation> {
        self.adaptation
    }

    /// The state of chains started at `x` (n × dim): evaluates `target` once.
    pub fn init<T: LogDensity + ?Sized>(&self, x: Vec<f64>, target: &T) -> Result<ChainState> {
        ChainState::new(target, x, false)
    }
}

impl Transition for Metropolis {
    /// One transition of every chain at the current step size, without adaptation.
    fn transition<T, R>(&self, state: &mut ChainState, target: &T, rng: &mut R) -> Result<StepStats>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng + ?Sized,
    {
        state.check(target, false)?;
        let dim = target.dim();
        let mut proposal = state.x.clone();
        let mut finite = vec![true; state.n()];
        for (i, point) in proposal.chunks_exact_mut(dim).enumerate() {
            for v in point.iter_mut() {
                let z: f64 = StandardNormal.sample(rng);
                *v += self.step_size * z;
            }
            if point.iter().any(|v| !v.is_finite()) {
                // Never hand a non-finite position to the target: evaluate the current one.
                finite[i] = false;
                point.copy_from_slice(&state.x[i * dim..(i + 1) * dim]);
            }
        }
        metropolis_test(state, target, &proposal, &finite, self.step_size, rng)
    }

    /// Updates the step size from a mean acceptance (no-op without adaptation).
    fn adapt(&mut self, acceptance: f64) {
        if let Some(a) = &self.adaptation {
            self.step_size = a.update(self.step_size, acceptance);
        }
    }
}

/// The Metropolis test of a symmetric proposal, chain by chain: evaluates `target` at `proposal`
/// (n × dim, all finite; with gradients when the state keeps them) and moves each chain whose
/// proposal is flagged `finite`, has a finite log density (and gradient) and passes the test.
/// `step_size` is only recorded in the statistics.
pub(crate) fn metropolis_test<T, R>(
    state: &mut ChainState,
    target: &T,
    proposal: &[f64],
    finite: &[bool],
    step_size: f64,
    rng: &mut R,
) -> Result<StepStats>
where
    T: LogDensity + ?Sized,
    R: rand::Rng + ?Sized,
{
    let dim = target.dim();
    let n = state.n();
    let stride = target.aux_len(state.grad.is_some());
    let mut grad = state.grad.as_ref().map(|g| vec![0.0; g.len()]);
    let mut aux = vec![0.0; n * stride];
    let values = evaluate(target, proposal, grad.as_deref_mut(), Some(&mut aux))?;
    let mut tally = Tally::new(step_size);
    for i in 0..n {
        let u: f64 = rng.random();
        let g = grad.as_ref().map(|g| &g[i * dim..(i + 1) * dim]);
        if !finite[i]
            || !values[i].is_finite()
            || g.is_some_and(|g| g.iter().any(|v| !v.is_finite()))
        {
            tally.nonfinite();
            continue;
        }
        let current = state.log_density[i];
        if tally.decide(values[i] - current, current.is_finite(), u) {
            state.accept(
                i,
                &proposal[i * dim..(i + 1) * dim],
                values[i],
                g,
                &aux[i * stride..(i + 1) * stride],
            );
        }
    }
    Ok(tally.finish())
}
