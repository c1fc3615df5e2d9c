//! A fixed permutation of the coordinates.

use super::Bijection;
use super::columns::{check_permutation, index_tensor, inverse_permutation, random_permutation};
use crate::backend::FlowBackend;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of a [`Permutation`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PermutationConfig {
    /// Output coordinate i is input coordinate `order[i]`.
    pub order: Vec<usize>,
}

impl PermutationConfig {
    /// A uniformly random permutation of `dim` coordinates, drawn from `rng`.
    pub fn random(dim: usize, rng: &mut impl rand::Rng) -> Self {
        PermutationConfig {
            order: random_permutation(dim, rng),
        }
    }

    /// The coordinates in reverse order.
    pub fn reverse(dim: usize) -> Self {
        PermutationConfig {
            order: (0..dim).rev().collect(),
        }
    }

    /// Builds the layer.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<Permutation<B>> {
        check_permutation(&self.order, "the order of a permutation layer")?;
        Ok(Permutation {
            order: index_tensor(&self.order, device),
            inverse_order: index_tensor(&inverse_permutation(&self.order), device),
        })
    }
}

/// `x[i] = z[order[i]]`; log|det| = 0.
#[derive(Module, Debug)]
pub struct Permutation<B: FlowBackend> {
    order: Tensor<B, 1, Int>,
    inverse_order: Tensor<B, 1, Int>,
}

impl<B: FlowBackend> Bijection<B> for Permutation<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let n = z.dims()[0];
        let device = z.device();
        (z.select(1, self.order.clone()), Tensor::zeros([n], &device))
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let n = x.dims()[0];
        let device = x.device();
        (
            x.select(1, self.inverse_order.clone()),
            Tensor::zeros([n], &device),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;
    use rand::SeedableRng;

    #[test]
    fn permutes() {
        let layer = PermutationConfig {
            order: vec![2, 0, 1],
        }
        .init::<TestBackend>(&device())
        .unwrap();
        let x = values(layer.forward(tensor(&[1.0, 2.0, 3.0], 1, 3)).0);
        assert_eq!(x, vec![3.0, 1.0, 2.0]);
        let identity = PermutationConfig {
            order: vec![0, 1, 2],
        };
        let identity = identity.init::<TestBackend>(&device()).unwrap();
        assert_identity(&identity, &points(4, 3, 1.0, 1), 4, 3, 0.0);
        let bad = PermutationConfig { order: vec![0, 0] };
        assert!(bad.init::<TestBackend>(&device()).is_err());
    }

    #[test]
    fn round_trip_and_log_det() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
        for config in [
            PermutationConfig::random(6, &mut rng),
            PermutationConfig::reverse(6),
        ] {
            let layer = config.init::<TestBackend>(&device()).unwrap();
            let z = points(10, 6, 2.0, 4);
            assert_round_trip(&layer, &z, 10, 6, 1e-15);
            assert_log_det_matches_jacobian(&layer, &z, 10, 6, 1e-9);
        }
    }
}
