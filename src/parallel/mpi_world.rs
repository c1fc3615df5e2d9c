//! [`Ranks`] over MPI's world communicator (rsmpi, the `mpi` crate, over the system's MPI).

use super::Ranks;
use crate::{Error, Result};
use mpi::Count;
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// MPI's world: initialised once, finalised when dropped.
pub struct MpiWorld {
    world: SimpleCommunicator,
    // Dropped last: finalising MPI ends every communicator.
    _universe: Universe,
}

impl MpiWorld {
    /// Initialises MPI.
    pub fn init() -> Result<Self> {
        let universe = mpi::initialize().ok_or_else(|| {
            Error::InvalidArgument("MPI was initialised twice in one process".to_owned())
        })?;
        Ok(MpiWorld {
            world: universe.world(),
            _universe: universe,
        })
    }

    /// Every rank's count `n`, in rank order, and their offsets.
    fn layout(&self, n: usize) -> (Vec<Count>, Vec<Count>) {
        let mine = Count::try_from(n).expect("fewer than 2³¹ values per rank");
        let mut counts = vec![0; self.size()];
        self.world.all_gather_into(&mine, &mut counts[..]);
        let offsets = counts
            .iter()
            .scan(0, |total, &c| {
                let offset = *total;
                *total += c;
                Some(offset)
            })
            .collect();
        (counts, offsets)
    }
}

impl Ranks for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_gather(&self, local: &[f64]) -> Vec<f64> {
        let (counts, offsets) = self.layout(local.len());
        let mut all = vec![0.0; counts.iter().map(|&c| c as usize).sum()];
        let mut partition = PartitionMut::new(&mut all[..], counts, offsets);
        self.world.all_gather_varcount_into(local, &mut partition);
        all
    }

    fn gather(&self, local: Vec<f64>) -> Vec<f64> {
        let (counts, offsets) = self.layout(local.len());
        let root = self.world.process_at_rank(0);
        if !self.is_root() {
            root.gather_varcount_into(&local[..]);
            return Vec::new();
        }
        let mut all = vec![0.0; counts.iter().map(|&c| c as usize).sum()];
        let mut partition = PartitionMut::new(&mut all[..], counts, offsets);
        root.gather_varcount_into_root(&local[..], &mut partition);
        all
    }

    fn all_sum(&self, values: &mut [f64]) {
        let local = values.to_vec();
        self.world
            .all_reduce_into(&local[..], values, SystemOperation::sum());
    }
}
