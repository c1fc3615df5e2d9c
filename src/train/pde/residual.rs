//! The continuity residual ε = ∂_t f_t − ∇·V_t + ∇f_t · V_t + C(t), as tensor ops, with the
//! exact divergence or two independent Hutchinson estimates of it.

use crate::backend::FlowBackend;
use crate::flow::TimeDependent;
use burn::prelude::*;

/// The energies at `m` collocation points: f₀ and u with their spatial gradients.
pub struct Energies<B: FlowBackend> {
    /// f₀ = −log base (`[m]`).
    pub base: Tensor<B, 1>,
    /// ∇f₀ (`[m, d]`).
    pub base_gradient: Tensor<B, 2>,
    /// The target's reduced energy u (`[m]`), data.
    pub target: Tensor<B, 1>,
    /// ∇u (`[m, d]`), data.
    pub target_gradient: Tensor<B, 2>,
}

/// The continuity residual at `m` points.
#[derive(Clone, Debug)]
pub enum Residual<B: FlowBackend> {
    /// ε with the exact divergence (`[m]`).
    Exact(Tensor<B, 1>),
    /// Two estimates of ε (`[m]` each) whose Hutchinson divergences come from independent
    /// halves of the probes.
    Hutchinson(Tensor<B, 1>, Tensor<B, 1>),
}

impl<B: FlowBackend> Residual<B> {
    /// The loss at each point: |ε| + ε², or with two estimates |(ε₁ + ε₂)/2| + ε₁ε₂. The
    /// product of independent estimates is unbiased for ε² (and its gradient for that of ε²);
    /// the absolute value is biased upward by the probes' noise (no unbiased estimate of |ε|
    /// exists).
    pub fn loss_terms(self) -> Tensor<B, 1> {
        match self {
            Residual::Exact(e) => e.clone().abs() + e.powi_scalar(2),
            Residual::Hutchinson(a, b) => (a.clone() + b.clone()).mul_scalar(0.5).abs() + a * b,
        }
    }

    /// ε, or the mean of its two estimates.
    pub fn estimate(self) -> Tensor<B, 1> {
        match self {
            Residual::Exact(e) => e,
            Residual::Hutchinson(a, b) => (a + b).mul_scalar(0.5),
        }
    }

    /// The residuals of consecutive chunks of points, joined (all of one kind).
    pub fn cat(parts: Vec<Self>) -> Self {
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for part in parts {
            match part {
                Residual::Exact(e) => first.push(e),
                Residual::Hutchinson(a, b) => {
                    first.push(a);
                    second.push(b);
                }
            }
        }
        if second.is_empty() {
            Residual::Exact(Tensor::cat(first, 0))
        } else {
            assert_eq!(
                first.len(),
                second.len(),
                "chunks of different residual kinds"
            );
            Residual::Hutchinson(Tensor::cat(first, 0), Tensor::cat(second, 0))
        }
    }
}

/// ε at points `x` (`[m, d]`) and times `t` (`[m]`) for the path
/// f_t = t·u + (1 − t)·f₀ + t(1 − t)·NN(x, t) and the field V, with rate values `rate` = C(t)
/// (`[m]`):
///
/// ε = u − f₀ + t ∇u·V + (1 − t) ∇f₀·V + (1 − 2t) NN + t(1 − t)(∂_t NN + ∇NN·V) − ∇·V + C.
///
/// ∇·V is the exact trace (d tangents of V) when `probes` is `None`; with probes (`[2k, m, d]`,
/// zero mean, identity covariance) it is estimated twice, by Hutchinson's εᵀ(∂V/∂x)ε averaged
/// over the first k and over the last k, in the same pass. ∂_t NN + ∇NN·V is one tangent of NN
/// along (V, 1). Everything is differentiable with respect to the parameters of V, NN, C and
/// the base.
pub fn continuity_residual<B: FlowBackend>(
    field: &dyn TimeDependent<B>,
    interpolation: Option<&dyn TimeDependent<B>>,
    x: Tensor<B, 2>,
    t: Tensor<B, 1>,
    energies: Energies<B>,
    rate: Tensor<B, 1>,
    probes: Option<Tensor<B, 3>>,
) -> Residual<B> {
    let [m, _] = x.dims();
    let (velocity, divergence) = match probes {
        None => {
            let (velocity, divergence) = field.value_and_divergence(x.clone(), t.clone());
            (velocity, vec![divergence])
        }
        Some(probes) => {
            let [twice, _, _] = probes.dims();
            let (velocity, tangents) = field.jvp(x.clone(), t.clone(), probes.clone(), None);
            let each = (tangents * probes).sum_dim(2).reshape([twice, m]);
            let half = twice / 2;
            let mean = |range: std::ops::Range<usize>| {
                each.clone().slice([range, 0..m]).mean_dim(0).reshape([m])
            };
            (velocity, vec![mean(0..half), mean(half..twice)])
        }
    };
    let along = |gradient: Tensor<B, 2>| (gradient * velocity.clone()).sum_dim(1).reshape([m]);
    let one_minus_t = t.clone().neg().add_scalar(1.0);
    let mut rest = energies.target - energies.base
        + along(energies.target_gradient) * t.clone()
        + along(energies.base_gradient) * one_minus_t.clone()
        + rate;
    if let Some(nn) = interpolation {
        let ones = Tensor::ones([1, m], &x.device());
        let (value, derivative) = nn.jvp(x, t.clone(), velocity.unsqueeze_dim(0), Some(ones));
        let bridge = t.clone() * one_minus_t;
        rest = rest
            + value.reshape([m]) * t.mul_scalar(-2.0).add_scalar(1.0)
            + derivative.reshape([m]) * bridge;
    }
    let mut residuals = divergence.into_iter().map(|d| rest.clone() - d);
    let first = residuals.next().expect("one divergence at least");
    match residuals.next() {
        None => Residual::Exact(first),
        Some(second) => Residual::Hutchinson(first, second),
    }
}
