//! Deriving independent random seeds from a run's seed, and the named streams that use them.

/// A well-mixed seed for stream `index` of a run seeded with `seed` (SplitMix64 of the pair).
/// Used for sampling blocks and training steps, so results do not depend on the number of
/// threads and an interrupted run resumes with the same random numbers.
pub fn derive(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random streams of a run, each with its own index for [`derive`]: the one list of them,
/// so that no two uses share numbers by accident. Steps (of training and of MD) use their step
/// number as the index; the fixed streams sit far above any step count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Training or MD step `n`: batches, noise, burn's generator.
    Step(u64),
    /// The random choices of a flow's construction (masks, shifts).
    FlowConstruction,
    /// The fixed exact training samples of a maximum-likelihood objective.
    TrainingSet,
    /// The exact test samples of a training run.
    TestSet,
    /// The flow samples of training evaluation `k`.
    Evaluation(u64),
    /// AIS batch `k` of FAB's replay-buffer fill, counted over the whole run.
    BufferFill(u64),
    /// The initial velocities of `md`.
    Velocities,
    /// The exact samples of `sample`'s forward estimates.
    ForwardSamples,
    /// The AIS transitions of `sample --ais`.
    SampleAis,
    /// Block `k` of `sample`'s flow samples (blocks are shared among MPI ranks).
    SampleBlock(u64),
    /// The flow samples of `sample`'s reweighted ∫C dt.
    RateSamples,
}

impl Stream {
    /// The stream's index for [`derive`].
    pub fn index(self) -> u64 {
        match self {
            Stream::Step(n) => n,
            Stream::FlowConstruction => u64::MAX - 2,
            Stream::TrainingSet => u64::MAX - 1,
            Stream::TestSet | Stream::Velocities => u64::MAX,
            Stream::Evaluation(k) => u64::MAX / 2 - k,
            Stream::BufferFill(k) => u64::MAX / 4 - k,
            Stream::ForwardSamples => 1,
            Stream::SampleAis => 2,
            Stream::RateSamples => 3,
            Stream::SampleBlock(k) => u64::MAX / 8 - k,
        }
    }

    /// The seed of this stream for a run seeded with `seed`.
    pub fn seed(self, seed: u64) -> u64 {
        derive(seed, self.index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_differ() {
        assert_ne!(derive(1, 0), derive(1, 1));
        assert_ne!(derive(1, 0), derive(2, 0));
    }

    #[test]
    fn the_fixed_streams_of_one_command_are_distinct() {
        let train = [
            Stream::FlowConstruction,
            Stream::TrainingSet,
            Stream::TestSet,
            Stream::Evaluation(0),
            Stream::BufferFill(0),
            Stream::Step(0),
        ];
        for (i, a) in train.iter().enumerate() {
            for b in &train[i + 1..] {
                assert_ne!(a.index(), b.index(), "{a:?} {b:?}");
            }
        }
        let sample = [
            Stream::ForwardSamples,
            Stream::SampleAis,
            Stream::RateSamples,
            Stream::SampleBlock(0),
        ];
        for (i, a) in sample.iter().enumerate() {
            for b in &sample[i + 1..] {
                assert_ne!(a.index(), b.index(), "{a:?} {b:?}");
            }
        }
    }
}
