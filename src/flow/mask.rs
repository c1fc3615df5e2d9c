//! Coupling masks: which coordinates a coupling layer transforms.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// A coupling mask: `true` for the coordinates the layer transforms, `false` for those it
/// conditions on. Stored explicitly in configurations, so a flow rebuilt from its configuration
/// has the same masks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mask(pub Vec<bool>);

impl Mask {
    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.0.len()
    }

    /// The complementary mask.
    pub fn flipped(&self) -> Mask {
        Mask(self.0.iter().map(|b| !b).collect())
    }

    /// The mask as 0.0/1.0 values (1 where transformed).
    pub fn as_floats(&self) -> Vec<f64> {
        self.0.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect()
    }

    /// Checks that the mask transforms at least one coordinate and conditions on at least one.
    pub fn validate(&self) -> crate::Result<()> {
        let transformed = self.0.iter().filter(|&&b| b).count();
        if transformed == 0 || transformed == self.dim() {
            return Err(crate::Error::InvalidArgument(format!(
                "a coupling mask must transform some coordinates and keep others; got {transformed} of {}",
                self.dim()
            )));
        }
        Ok(())
    }
}

/// Alternating mask `[parity, !parity, parity, …]` over `dim` coordinates.
pub fn alternating_mask(dim: usize, parity: bool) -> Mask {
    Mask((0..dim).map(|i| (i % 2 == 0) == parity).collect())
}

/// A random mask transforming ⌊dim/2⌋ coordinates, drawn from `rng`.
pub fn random_mask(dim: usize, rng: &mut impl rand::Rng) -> Mask {
    let mut bits: Vec<bool> = (0..dim).map(|i| i < dim / 2).collect();
    bits.shuffle(rng);
    Mask(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn masks() {
        assert_eq!(alternating_mask(4, true).0, vec![true, false, true, false]);
        assert_eq!(
            alternating_mask(3, false).flipped(),
            alternating_mask(3, true)
        );
        let m = random_mask(7, &mut rand_pcg::Pcg64::seed_from_u64(0));
        assert_eq!(m.0.iter().filter(|&&b| b).count(), 3);
        assert!(m.validate().is_ok());
        assert!(Mask(vec![true, true]).validate().is_err());
    }
}
