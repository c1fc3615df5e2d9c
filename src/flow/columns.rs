//! Selecting and reordering the columns (coordinates) of batches `[n, dim]`.

use crate::backend::FlowBackend;
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::seq::SliceRandom;

/// An index tensor for `Tensor::select` from column numbers.
pub(crate) fn index_tensor<B: FlowBackend>(
    columns: &[usize],
    device: &B::Device,
) -> Tensor<B, 1, Int> {
    let values: Vec<i64> = columns.iter().map(|&c| c as i64).collect();
    Tensor::from_data(TensorData::new(values, [columns.len()]), device)
}

/// Checks that `order` holds each of `0..order.len()` exactly once; `what` names it in the error.
pub(crate) fn check_permutation(order: &[usize], what: &str) -> crate::Result<()> {
    let mut seen = vec![false; order.len()];
    for &i in order {
        if i >= order.len() || seen[i] {
            return Err(crate::Error::InvalidArgument(format!(
                "{what} must list each of 0..{} exactly once; got {order:?}",
                order.len()
            )));
        }
        seen[i] = true;
    }
    Ok(())
}

/// The inverse of a permutation: `inverse[order[i]] = i`.
pub(crate) fn inverse_permutation(order: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; order.len()];
    for (i, &o) in order.iter().enumerate() {
        inverse[o] = i;
    }
    inverse
}

/// A uniformly random permutation of `0..dim`, drawn from `rng`.
pub(crate) fn random_permutation(dim: usize, rng: &mut impl rand::Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..dim).collect();
    order.shuffle(rng);
    order
}

/// Checks that a per-coordinate flag list (`circular`) has one entry per coordinate.
pub(crate) fn check_flags(flags: &[bool], dim: usize, what: &str) -> crate::Result<()> {
    if flags.len() != dim {
        return Err(crate::Error::InvalidArgument(format!(
            "{what} needs one entry per coordinate: {dim}, got {}",
            flags.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn permutations() {
        let order = random_permutation(9, &mut rand_pcg::Pcg64::seed_from_u64(3));
        assert!(check_permutation(&order, "p").is_ok());
        let inverse = inverse_permutation(&order);
        assert!((0..9).all(|i| inverse[order[i]] == i));
        assert!(check_permutation(&[0, 2, 2], "p").is_err());
        assert!(check_permutation(&[0, 3, 1], "p").is_err());
        assert!(check_flags(&[true], 2, "circular").is_err());
    }
}
