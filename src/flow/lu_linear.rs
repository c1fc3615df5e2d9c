//! Invertible linear mixing in LU form (Kingma & Dhariwal 2018, "Glow"; FAB's "1×1 LU" layer).

use super::Bijection;
use super::columns::{check_permutation, index_tensor, inverse_permutation, random_permutation};
use crate::backend::FlowBackend;
use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of an [`LuLinear`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LuLinearConfig {
    /// The fixed permutation P, as an order: `(P v)[i] = v[order[i]]`.
    pub order: Vec<usize>,
}

impl LuLinearConfig {
    /// A layer on `dim` coordinates with P the identity.
    pub fn new(dim: usize) -> Self {
        LuLinearConfig {
            order: (0..dim).collect(),
        }
    }

    /// A layer on `dim` coordinates with a random P drawn from `rng`.
    pub fn random(dim: usize, rng: &mut impl rand::Rng) -> Self {
        LuLinearConfig {
            order: random_permutation(dim, rng),
        }
    }

    /// Builds the layer; it starts as the identity.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<LuLinear<B>> {
        check_permutation(&self.order, "the order of an LU linear layer")?;
        let dim = self.order.len();
        if dim == 0 {
            return Err(crate::Error::InvalidArgument(
                "an LU linear layer needs at least one coordinate".into(),
            ));
        }
        Ok(LuLinear {
            lower: Param::from_tensor(Tensor::zeros([dim, dim], device)),
            upper: Param::from_tensor(Tensor::zeros([dim, dim], device)),
            log_diagonal: Param::from_tensor(Tensor::zeros([dim], device)),
            order: index_tensor(&self.order, device),
            inverse_order: index_tensor(&inverse_permutation(&self.order), device),
        })
    }
}

/// x = W z with W = P L U Pᵀ: L unit lower triangular, U upper triangular with diagonal
/// exp(log_diagonal), P a fixed permutation. log|det W| = Σ log_diagonal.
///
/// Conjugating by P (rather than Glow's W = P L U) keeps the identity as the starting point
/// for any P while P still chooses which coordinates the triangular factors order first.
/// Only the strictly lower part of `lower` and the strictly upper part of `upper` are used.
/// The inverse is exact and differentiable: W⁻¹ = P U⁻¹ L⁻¹ Pᵀ, the triangular inverses from a
/// finite product of matrix products (no solver needed).
#[derive(Module, Debug)]
pub struct LuLinear<B: FlowBackend> {
    lower: Param<Tensor<B, 2>>,
    upper: Param<Tensor<B, 2>>,
    log_diagonal: Param<Tensor<B, 1>>,
    order: Tensor<B, 1, Int>,
    inverse_order: Tensor<B, 1, Int>,
}

/// (I + N)⁻¹ for a strictly triangular (so nilpotent) `[d, d]` matrix N:
/// Σ_{j<d} (−N)ʲ = (I − N)(I + N²)(I + N⁴)⋯, with ⌈log₂ d⌉ factors.
fn unipotent_inverse<B: FlowBackend>(nilpotent: Tensor<B, 2>) -> Tensor<B, 2> {
    let d = nilpotent.dims()[0];
    let identity = Tensor::<B, 2>::eye(d, &nilpotent.device());
    let mut inverse = identity.clone() - nilpotent.clone();
    let mut power = nilpotent;
    let mut covered = 2;
    while covered < d {
        power = power.clone().matmul(power);
        inverse = inverse.matmul(identity.clone() + power.clone());
        covered *= 2;
    }
    inverse
}

impl<B: FlowBackend> LuLinear<B> {
    /// Applies the matrix `m` in the permuted frame: `(P m Pᵀ v)` for each row v of `input`.
    fn apply(&self, input: Tensor<B, 2>, m: Tensor<B, 2>) -> Tensor<B, 2> {
        input
            .select(1, self.inverse_order.clone())
            .matmul(m.transpose())
            .select(1, self.order.clone())
    }

    /// log|det W| for each of `n` points.
    fn log_det(&self, n: usize) -> Tensor<B, 1> {
        self.log_diagonal.val().sum().expand([n])
    }
}

impl<B: FlowBackend> Bijection<B> for LuLinear<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let n = z.dims()[0];
        let identity = Tensor::eye(self.log_diagonal.dims()[0], &z.device());
        let l = self.lower.val().tril(-1) + identity.clone();
        let u = self.upper.val().triu(1) + identity * self.log_diagonal.val().exp().unsqueeze();
        (self.apply(z, l.matmul(u)), self.log_det(n))
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let n = x.dims()[0];
        let l_inverse = unipotent_inverse(self.lower.val().tril(-1));
        // U = D (I + D⁻¹ U'), so U⁻¹ = (I + D⁻¹ U')⁻¹ D⁻¹.
        let inverse_diagonal = self.log_diagonal.val().neg().exp();
        let scaled_upper = self.upper.val().triu(1) * inverse_diagonal.clone().unsqueeze_dim(1);
        let u_inverse = unipotent_inverse(scaled_upper) * inverse_diagonal.unsqueeze_dim(0);
        (
            self.apply(x, u_inverse.matmul(l_inverse)),
            self.log_det(n).neg(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;
    use rand::SeedableRng;

    fn config(dim: usize, seed: u64) -> LuLinearConfig {
        LuLinearConfig::random(dim, &mut rand_pcg::Pcg64::seed_from_u64(seed))
    }

    #[test]
    fn starts_as_the_identity() {
        let layer = config(5, 1).init::<TestBackend>(&device()).unwrap();
        assert_identity(&layer, &points(6, 5, 3.0, 1), 6, 5, 1e-15);
    }

    #[test]
    fn round_trip_and_log_det() {
        let layer = randomized(config(7, 2).init(&device()).unwrap(), 0.5);
        let z = points(10, 7, 3.0, 2);
        assert_round_trip(&layer, &z, 10, 7, 1e-12);
        assert_log_det_matches_jacobian(&layer, &z, 10, 7, 1e-7);
        // The map mixes all coordinates: no zero in the Jacobian W.
        let unit = (0..49)
            .map(|i| if i % 8 == 0 { 1.0 } else { 0.0 })
            .collect::<Vec<_>>();
        let w = values(layer.forward(tensor(&unit, 7, 7)).0);
        assert!(w.iter().all(|v| v.abs() > 1e-9));
    }

    #[test]
    fn inverse_is_exact_in_high_dimension() {
        // 60 coordinates, as alanine dipeptide's internal coordinates.
        let layer = randomized(config(60, 3).init(&device()).unwrap(), 0.1);
        assert_round_trip(&layer, &points(20, 60, 3.0, 3), 20, 60, 1e-10);
    }

    #[test]
    fn bad_order_is_refused() {
        let bad = LuLinearConfig { order: vec![1, 1] };
        assert!(bad.init::<TestBackend>(&device()).is_err());
    }
}
