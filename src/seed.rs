//! Deriving independent random seeds from a run's seed.

/// A well-mixed seed for stream `index` of a run seeded with `seed` (SplitMix64 of the pair).
/// Used for sampling blocks and training steps, so results do not depend on the number of
/// threads and an interrupted run resumes with the same random numbers.
pub fn derive(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_seeds_differ() {
        assert_ne!(super::derive(1, 0), super::derive(1, 1));
        assert_ne!(super::derive(1, 0), super::derive(2, 0));
    }
}
