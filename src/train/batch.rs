//! What one objective contributes to a gradient step.

use burn::prelude::*;

/// One objective's contribution to a gradient step.
pub struct Batch<B: Backend> {
    /// The weighted loss, differentiable with respect to the flow's parameters.
    pub loss: Tensor<B, 1>,
    /// Points the loss was meant to use (flow samples, AIS chains, collocation points).
    pub points: usize,
    /// Of those, points left out because a number (energy, gradient, log q, weight) was not
    /// finite. When every point of every objective is left out, the run stops: nothing is
    /// being learnt from the target.
    pub n_nonfinite: usize,
}
