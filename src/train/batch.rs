//! What one objective contributes to a gradient step, and the training points objectives draw
//! their batches from.

use crate::backend::FlowBackend;
use crate::sampling::ChainState;
use crate::{Error, Result};
use burn::prelude::*;
use rand::RngExt;

/// One objective's contribution to a gradient step.
pub struct Batch<B: FlowBackend> {
    /// The weighted loss, differentiable with respect to the model's parameters.
    pub loss: Tensor<B, 1>,
    /// Points the loss was meant to use (flow samples, AIS chains, collocation points).
    pub points: usize,
    /// Of those, points left out because a number (energy, gradient, log q, weight) was not
    /// finite. When every point of every objective is left out, the run stops: nothing is
    /// being learnt from the target.
    pub n_nonfinite: usize,
    /// Evaluations of a learned energy model (each point's E_θ, with or without ∇E_θ, counts
    /// once): the cost by which methods that learn energies are compared. 0 for flows.
    pub model_evaluations: u64,
}

/// Checks training points held in memory: a non-empty multiple of `dim` values, all finite.
/// `what` names the objective in the error.
pub fn check_training_points(data: &[f64], dim: usize, what: &str) -> Result<()> {
    let what = format!("{what} training samples");
    if ChainState::check_points(data, dim, &what)? == 0 {
        return Err(Error::Shape {
            what,
            expected: format!("at least one point of dim = {dim} values"),
            found: "none".into(),
        });
    }
    Ok(())
}

/// `n` rows of `data` (`m × dim`, row-major) drawn uniformly with replacement by `rng`.
pub fn draw_rows(data: &[f64], dim: usize, n: usize, rng: &mut impl rand::Rng) -> Vec<f64> {
    let rows = data.len() / dim;
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let i = rng.random_range(0..rows);
        out.extend_from_slice(&data[i * dim..(i + 1) * dim]);
    }
    out
}
