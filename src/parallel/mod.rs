//! Work spread over processes (MPI ranks), and the one-process case behind the same interface.
//!
//! [`Ranks`] is all that the parallel commands need from MPI: who am I, how many are we, and
//! four collective operations on `f64`s. [`Single`] is one process (every operation is a
//! copy); with the cargo feature `mpi`, [`world`] returns MPI's world communicator when the
//! program was started by `mpirun`/`mpiexec` (rsmpi, the `mpi` crate, over the system's MPI).
//! Code written against [`Ranks`] is the same code in both cases, so a run on one process and
//! on several compute the same numbers by construction.

#[cfg(feature = "mpi")]
mod mpi_world;
mod threads;

pub use threads::{ThreadRanks, run_on_threads};

use crate::Result;
use std::ops::Range;

/// The processes of a run and the collective operations between them. Every rank must call
/// each collective operation in the same order (as MPI requires).
pub trait Ranks {
    /// This process's rank, 0 ≤ rank < size.
    fn rank(&self) -> usize;

    /// Number of processes.
    fn size(&self) -> usize;

    /// Every rank's `local` values, concatenated in rank order, on every rank (the lengths may
    /// differ between ranks).
    fn all_gather(&self, local: &[f64]) -> Vec<f64>;

    /// Like [`Ranks::all_gather`], but only rank 0 receives the result (the others get an empty
    /// vector). It takes `local` by value: one process hands it back without a copy (a sample
    /// file's worth of points, say).
    fn gather(&self, local: Vec<f64>) -> Vec<f64>;

    /// The element-wise sum over ranks of `values` (the same length on every rank), on every
    /// rank, in place.
    fn all_sum(&self, values: &mut [f64]);

    /// Whether `flag` is set on any rank.
    fn any(&self, flag: bool) -> bool {
        let mut v = [f64::from(u8::from(flag))];
        self.all_sum(&mut v);
        v[0] > 0.0
    }

    /// Whether this is rank 0, the one that writes files.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// This rank's share of `n` items: contiguous blocks in rank order, the first `n % size`
    /// ranks one item more.
    fn share(&self, n: usize) -> Range<usize> {
        share(n, self.size(), self.rank())
    }

    /// This rank's own seed for a stream seeded `seed` (see [`own_seed`]).
    fn own_seed(&self, seed: u64) -> u64 {
        own_seed(seed, self.rank(), self.size())
    }
}

/// The seed of rank `rank`'s own stream of a stream seeded `seed`, among `size` ranks: `seed`
/// itself on one process (so that a single process draws what it always drew), a derived seed
/// for each rank otherwise (so that the ranks draw different numbers).
pub fn own_seed(seed: u64, rank: usize, size: usize) -> u64 {
    match size {
        1 => seed,
        _ => crate::seed::derive(seed, rank as u64),
    }
}

/// Every rank's outcome of a piece of local work, the same kind of outcome on every rank, so
/// that all take the same path afterwards (the driver saves a checkpoint after a plugin failure
/// or an interruption, and not after other errors; saving is collective). A collective
/// operation: every rank calls it. By precedence:
///
/// 1. a plugin failed on some rank: that rank's error, [`crate::Error::OtherRankFailed`] with
///    `plugin: true` on the others (a rank's own other error is printed first);
/// 2. another error on some rank: that rank's error, `OtherRankFailed` on the others;
/// 3. an interruption (Ctrl-C seen inside the work) on some rank: an interruption on all;
/// 4. else `result`.
pub fn agree<T>(ranks: &dyn Ranks, result: Result<T>) -> Result<T> {
    use crate::Error;
    let flag = |b: bool| f64::from(u8::from(b));
    let (plugin, interrupted) = match &result {
        Err(e) => (e.is_plugin_failure(), matches!(e, Error::Interrupted(_))),
        Ok(_) => (false, false),
    };
    let mut outcomes = [
        flag(plugin),
        flag(result.is_err() && !plugin && !interrupted),
        flag(interrupted),
    ];
    ranks.all_sum(&mut outcomes);
    let [any_plugin, any_other, any_interrupted] = outcomes.map(|v| v > 0.0);
    match result {
        Err(e) if plugin => Err(e),
        Err(e) if any_plugin => {
            eprintln!("rank {}: {e}", ranks.rank());
            Err(Error::OtherRankFailed { plugin: true })
        }
        Err(e) if !interrupted => Err(e),
        _ if any_plugin || any_other => Err(Error::OtherRankFailed { plugin: any_plugin }),
        Err(e) => Err(e),
        Ok(_) if any_interrupted => Err(Error::Interrupted(
            "another rank was interrupted".to_owned(),
        )),
        ok => ok,
    }
}

/// Rank `rank`'s share of `n` items over `size` ranks (see [`Ranks::share`]).
pub fn share(n: usize, size: usize, rank: usize) -> Range<usize> {
    let (base, extra) = (n / size, n % size);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// One process: every collective operation is a copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

impl Ranks for Single {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_gather(&self, local: &[f64]) -> Vec<f64> {
        local.to_vec()
    }

    fn gather(&self, local: Vec<f64>) -> Vec<f64> {
        local
    }

    fn all_sum(&self, _values: &mut [f64]) {}
}

/// Environment variables that MPI launchers set in every process they start (Open MPI, and
/// the PMI of MPICH's Hydra and of Slurm), with the number of processes.
const LAUNCHER_SIZE_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"];

/// The number of processes an MPI launcher started, if this process was started by one.
fn launched_size() -> Option<usize> {
    LAUNCHER_SIZE_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// The processes of this run: MPI's world when started by an MPI launcher (in a build with the
/// `mpi` feature), else [`Single`]. A launch of several processes by a build without the
/// feature is an error: each would think it is alone and write the same files.
///
/// Under MPI, each rank's thread pool gets the machine's cores divided by the ranks on this
/// machine, unless `RAYON_NUM_THREADS` says otherwise (see [`on_pool`]).
pub fn world() -> Result<Box<dyn Ranks>> {
    match launched_size() {
        Some(n) if n > 1 => start_mpi(n),
        _ => Ok(Box::new(Single)),
    }
}

/// Stack size of rayon's worker threads when a command runs on them: the main thread's usual
/// 8 MiB (rayon's default is 2 MiB).
const WORKER_STACK_BYTES: usize = 8 << 20;

/// Runs `work` on a thread of rayon's global pool, so that the parallel loops inside it (burn's
/// CPU ops, batched energies) start from a worker, instead of each loop being handed from an
/// outside thread to the pool and waited for (a futex wake-up and a context switch per loop).
/// Under an MPI launcher each rank's pool gets its share of the machine's cores, and MPI, started
/// inside `work`, is called from that one worker thread throughout.
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    // Fails only if the pool was built already, which leaves it as it is.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(pool_threads())
        .stack_size(WORKER_STACK_BYTES)
        .build_global();
    rayon::scope(|_| work())
}

/// Refuses a launch of several MPI processes for `boltzflow COMMAND`, a command that runs as
/// one process (every copy would do the same work and write the same files).
pub fn single_process(command: &str) -> Result<()> {
    match launched_size() {
        Some(n) if n > 1 => Err(crate::Error::InvalidArgument(format!(
            "`boltzflow {command}` runs as one process, but it was started as {n} MPI processes \
             (`md`, `sample` and `train` run over MPI ranks; the others do not yet)"
        ))),
        _ => Ok(()),
    }
}

/// MPI's world, for a launch of `n` > 1 processes.
#[cfg(feature = "mpi")]
fn start_mpi(_n: usize) -> Result<Box<dyn Ranks>> {
    Ok(Box::new(mpi_world::MpiWorld::init()?))
}

/// A launch of `n` > 1 processes by a build without MPI: an error.
#[cfg(not(feature = "mpi"))]
fn start_mpi(n: usize) -> Result<Box<dyn Ranks>> {
    Err(crate::Error::InvalidArgument(format!(
        "started as {n} MPI processes, but this boltzflow was built without MPI support; \
         rebuild with `cargo build --release --features mpi`"
    )))
}

/// Environment variables with the number of ranks on this machine (Open MPI, MPICH's Hydra).
const LAUNCHER_LOCAL_SIZE_VARS: [&str; 2] = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"];

/// Environment variables with this process's rank among the ranks on its machine (Open MPI,
/// MPICH's Hydra, Slurm).
const LAUNCHER_LOCAL_RANK_VARS: [&str; 3] = [
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "SLURM_LOCALID",
];

/// This process's rank among the MPI ranks on its machine (0 when not started by a launcher).
pub fn local_rank() -> usize {
    LAUNCHER_LOCAL_RANK_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// The index of the GPU this process drives among those it sees: its local rank, modulo the
/// devices that `CUDA_VISIBLE_DEVICES` lists when it is set (a scheduler that gives each rank
/// one GPU lists one, which is then device 0). R ranks on a machine with R GPUs use one each.
pub fn gpu_index() -> usize {
    let visible = std::env::var("CUDA_VISIBLE_DEVICES")
        .map(|v| v.split(',').filter(|d| !d.trim().is_empty()).count())
        .unwrap_or(0);
    match visible {
        0 => local_rank(),
        n => local_rank() % n,
    }
}

/// The threads of this process's pool: under an MPI launcher, the machine's cores divided by the
/// ranks on this machine (at least one), unless `RAYON_NUM_THREADS` is set; otherwise rayon's
/// default (`RAYON_NUM_THREADS`, else every core), shown as 0.
fn pool_threads() -> usize {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() || launched_size().is_none_or(|n| n < 2) {
        return 0;
    }
    let local: usize = LAUNCHER_LOCAL_SIZE_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(1);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores / local.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_items_in_order() {
        for n in [0, 1, 5, 12, 13] {
            for size in 1..6 {
                let shares: Vec<_> = (0..size).map(|r| share(n, size, r)).collect();
                assert_eq!(shares[0].start, 0);
                assert_eq!(shares[size - 1].end, n);
                for pair in shares.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                    assert!(pair[0].len() >= pair[1].len() && pair[0].len() <= pair[1].len() + 1);
                }
            }
        }
        assert_eq!(share(5, 2, 0), 0..3);
        assert_eq!(share(5, 2, 1), 3..5);
    }

    #[test]
    fn a_single_process_gathers_its_own_values() {
        let one = Single;
        assert_eq!(one.all_gather(&[1.0, 2.0]), vec![1.0, 2.0]);
        assert_eq!(one.gather(vec![3.0]), vec![3.0]);
        let mut v = [1.5];
        one.all_sum(&mut v);
        assert_eq!(v, [1.5]);
        assert!(one.any(true) && !one.any(false) && one.is_root());
        assert_eq!(one.share(7), 0..7);
    }

    /// Whatever mix of outcomes the ranks have, they all end on the same path: a plugin failure
    /// before another error before an interruption before success.
    #[test]
    fn ranks_agree_on_one_kind_of_outcome() {
        use crate::Error;
        // Each rank's outcome by a letter: o(k), p(lugin failure), e(rror), i(nterrupted).
        let outcome = |letter: u8| -> Result<()> {
            match letter {
                b'p' => Err(Error::PluginFailed {
                    plugin: "p".into(),
                    call: "energy",
                    message: "m".into(),
                }),
                b'e' => Err(Error::InvalidArgument("bad".into())),
                b'i' => Err(Error::Interrupted("ctrl-c".into())),
                _ => Ok(()),
            }
        };
        let kind = |r: Result<()>| match r {
            Ok(()) => "ok",
            Err(e) if e.is_plugin_failure() => "plugin",
            Err(Error::Interrupted(_)) => "interrupted",
            Err(_) => "error",
        };
        for (ranks, expected) in [
            ("ooo", "ok"),
            ("ioo", "interrupted"),
            ("oei", "error"),
            ("epi", "plugin"),
            ("opo", "plugin"),
        ] {
            let agreed = run_on_threads(3, |r| kind(agree(r, outcome(ranks.as_bytes()[r.rank()]))));
            assert_eq!(agreed, vec![expected; 3], "{ranks}");
        }
    }

    #[test]
    fn thread_ranks_gather_and_sum_in_rank_order() {
        let results = run_on_threads(3, |ranks| {
            let local: Vec<f64> = (0..ranks.rank())
                .map(|i| (10 * ranks.rank() + i) as f64)
                .collect();
            let all = ranks.all_gather(&local);
            let root = ranks.gather(local.clone());
            let mut sum = [ranks.rank() as f64, 1.0];
            ranks.all_sum(&mut sum);
            (all, root, sum, ranks.any(ranks.rank() == 2))
        });
        for (rank, (all, root, sum, any)) in results.into_iter().enumerate() {
            assert_eq!(all, vec![10.0, 20.0, 21.0]);
            assert_eq!(root, if rank == 0 { all.clone() } else { vec![] });
            assert_eq!(sum, [3.0, 3.0]);
            assert!(any);
        }
    }
}
