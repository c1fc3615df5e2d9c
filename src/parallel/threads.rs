//! Ranks that are threads of one process: the collective operations through shared memory and a
//! barrier. For tests: code written against [`Ranks`] run on 1, 2, 3, … thread ranks must give
//! the same numbers, which is what MPI ranks then give too.

use super::Ranks;
use std::sync::{Arc, Barrier, Mutex};

/// One thread's rank among `size` thread ranks.
pub struct ThreadRanks {
    rank: usize,
    size: usize,
    slots: Arc<Mutex<Vec<Vec<f64>>>>,
    barrier: Arc<Barrier>,
}

/// Runs `work` on `size` threads, each with its [`ThreadRanks`], and returns their results in
/// rank order. A panic on one thread is re-raised (the others may then wait forever at a
/// collective operation: keep the work panic-free apart from test assertions at its end).
pub fn run_on_threads<T: Send>(size: usize, work: impl Fn(&ThreadRanks) -> T + Sync) -> Vec<T> {
    let slots = Arc::new(Mutex::new(vec![Vec::new(); size]));
    let barrier = Arc::new(Barrier::new(size));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let ranks = ThreadRanks {
                    rank,
                    size,
                    slots: Arc::clone(&slots),
                    barrier: Arc::clone(&barrier),
                };
                let work = &work;
                scope.spawn(move || work(&ranks))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

impl ThreadRanks {
    /// Every rank's `local`, in rank order.
    fn exchange(&self, local: &[f64]) -> Vec<Vec<f64>> {
        self.slots.lock().unwrap()[self.rank] = local.to_vec();
        self.barrier.wait();
        let all = self.slots.lock().unwrap().clone();
        // Nobody writes the next operation's values before everyone has read these.
        self.barrier.wait();
        all
    }
}

impl Ranks for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather(&self, local: &[f64]) -> Vec<f64> {
        self.exchange(local).concat()
    }

    fn gather(&self, local: Vec<f64>) -> Vec<f64> {
        let all = self.exchange(&local);
        if self.is_root() {
            all.concat()
        } else {
            Vec::new()
        }
    }

    fn all_sum(&self, values: &mut [f64]) {
        let all = self.exchange(values);
        for (i, v) in values.iter_mut().enumerate() {
            // In rank order, as MPI's reduction of a fixed layout does on one node.
            *v = all.iter().map(|r| r[i]).sum();
        }
    }
}
