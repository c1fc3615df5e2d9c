//! The continuity residual ε = ∂_t f_t − ∇·V_t + ∇f_t · V_t + C(t), as tensor ops.

use crate::flow::TimeDependent;
use burn::prelude::*;

/// The energies at `m` collocation points: f₀ and u with their spatial gradients.
pub struct Energies<B: Backend> {
    /// f₀ = −log base (`[m]`).
    pub base: Tensor<B, 1>,
    /// ∇f₀ (`[m, d]`).
    pub base_gradient: Tensor<B, 2>,
    /// The target's reduced energy u (`[m]`), data.
    pub target: Tensor<B, 1>,
    /// ∇u (`[m, d]`), data.
    pub target_gradient: Tensor<B, 2>,
}

/// ε at points `x` (`[m, d]`) and times `t` (`[m]`) for the path
/// f_t = t·u + (1 − t)·f₀ + t(1 − t)·NN(x, t) and the field V, with rate values `rate` = C(t)
/// (`[m]`):
///
/// ε = u − f₀ + t ∇u·V + (1 − t) ∇f₀·V + (1 − 2t) NN + t(1 − t)(∂_t NN + ∇NN·V) − ∇·V + C.
///
/// ∇·V is the exact trace (d tangents of V); ∂_t NN + ∇NN·V is one tangent of NN along (V, 1).
/// Everything is differentiable with respect to the parameters of V, NN, C and the base.
pub fn continuity_residual<B: Backend>(
    field: &dyn TimeDependent<B>,
    interpolation: Option<&dyn TimeDependent<B>>,
    x: Tensor<B, 2>,
    t: Tensor<B, 1>,
    energies: Energies<B>,
    rate: Tensor<B, 1>,
) -> Tensor<B, 1> {
    let [m, _] = x.dims();
    let (velocity, divergence) = field.value_and_divergence(x.clone(), t.clone());
    let along = |gradient: Tensor<B, 2>| (gradient * velocity.clone()).sum_dim(1).reshape([m]);
    let one_minus_t = t.clone().neg().add_scalar(1.0);
    let mut residual = energies.target - energies.base
        + along(energies.target_gradient) * t.clone()
        + along(energies.base_gradient) * one_minus_t.clone()
        - divergence
        + rate;
    if let Some(nn) = interpolation {
        let ones = Tensor::ones([1, m], &x.device());
        let (value, derivative) = nn.jvp(x, t.clone(), velocity.unsqueeze_dim(0), Some(ones));
        let bridge = t.clone() * one_minus_t;
        residual = residual
            + value.reshape([m]) * t.mul_scalar(-2.0).add_scalar(1.0)
            + derivative.reshape([m]) * bridge;
    }
    residual
}
