//! Flow Annealed importance sampling Bootstrap (FAB; Midgley et al. 2023) with α = 2.
//!
//! AIS carries flow samples toward g = p²/q, the minimiser of the α = 2 divergence's variance;
//! the flow is then fitted to the AIS samples by weighted maximum likelihood:
//! loss = −Σ w̄_i log q(x_i), with w̄ the self-normalised AIS weights. With the prioritised
//! replay buffer ([`ReplayBuffer`]), each AIS batch is stored and several gradient steps draw
//! batches from the buffer by weight, correcting the weights for the flow's change.
//!
//! Over several MPI ranks each rank runs its share of the AIS chains from its own random
//! streams, keeps its share of the buffer (capacity and minimum length split like the batch)
//! and computes the loss of its share of the batch; the ranks share one set of adapted AIS step
//! sizes (averaged after each step). Self-normalised weights are normalised within each
//! rank's share. Checkpoints hold every rank's buffer, so a run resumes on the same number of
//! ranks exactly (on another number, each rank takes its share of the saved points).

use super::batch::Batch;
use super::config::BufferConfig;
use super::objective::{Objective, ObjectiveState, StepContext};
use super::replay_buffer::{BufferContent, FAB_ALPHA, ReplayBuffer};
use crate::analysis::geometry::chirality_of;
use crate::analysis::normalised_weights;
use crate::backend::AutodiffFlowBackend;
use crate::densities::McmcSpace;
use crate::flow::{from_f64, to_host};
use crate::io::{OutputFile, dataset_exists, read_array};
use crate::job::StopFlag;
use crate::parallel::{Ranks, own_seed, share};
use crate::sampling::{Ais, AisConfig};
use crate::seed::Stream;
use crate::{Error, Result};
use indicatif::ProgressBar;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The FAB objective: AIS, and optionally a replay buffer.
pub struct Fab {
    weight: f64,
    ais: Ais,
    buffer: Option<Buffered>,
    chirality: Option<ChiralityFilter>,
    counts: AisCounts,
    progress: Option<ProgressBar>,
    stop: StopFlag,
    /// The run's seed: each AIS batch of the buffer fill draws from its own stream.
    seed: u64,
    /// AIS batches of this rank's buffer fill so far.
    fill_batches: u64,
    /// This process's rank and the number of ranks.
    place: (usize, usize),
    /// Over several ranks, what [`Objective::gather`] brought to rank 0 for the checkpoint.
    gathered: Option<Gathered>,
}

/// Every rank's buffer and counters, on rank 0, for a checkpoint.
struct Gathered {
    /// The ranks' buffers, concatenated in rank order.
    content: BufferContent,
    /// Points of each rank's buffer.
    lengths: Vec<f64>,
    /// Each rank's buffer-fill batches.
    fill_batches: Vec<f64>,
    /// Each rank's gradient steps since its last AIS batch (a rank refills early when entries
    /// were removed from its buffer).
    updates: Vec<f64>,
    /// The counters summed over the ranks: dropped chains, accepted jumps, mirror images.
    counts: [u64; 3],
}

/// What FAB's AIS runs have counted so far.
#[derive(Default)]
struct AisCounts {
    /// Chains dropped for a non-finite weight (or log q).
    dropped_chains: u64,
    /// Torsion jumps accepted.
    jumps_accepted: u64,
}

/// Drops mirror-image (D-form) AIS samples, counting them.
struct ChiralityFilter {
    atoms: [usize; 4],
    dropped: u64,
}

impl ChiralityFilter {
    /// The points of `indices` (into `x`, `dim` values each) that have the L form, counting
    /// the others as dropped; all of them when fewer than [`MIN_L_FRACTION`] are L.
    fn keep_l_form(&mut self, x: &[f64], dim: usize, indices: Vec<usize>) -> Vec<usize> {
        let l_form: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|&i| chirality_of(&x[i * dim..(i + 1) * dim], self.atoms) > 0.0)
            .collect();
        if (l_form.len() as f64) < MIN_L_FRACTION * indices.len() as f64 {
            return indices;
        }
        self.dropped += (indices.len() - l_form.len()) as u64;
        l_form
    }
}

/// A batch with a smaller fraction of L-form samples is kept whole (FAB's rule: early in
/// training the flow has not yet learnt the chirality).
const MIN_L_FRACTION: f64 = 0.1;

/// The replay buffer with its settings and refill counter.
struct Buffered {
    buffer: ReplayBuffer,
    config: BufferConfig,
    updates_since_refill: usize,
}

/// FAB's small state, saved in checkpoints (the buffer's points go to their own file).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FabState {
    /// Adapted step size of each AIS intermediate distribution.
    pub step_sizes: Vec<f64>,
    /// Gradient steps since the last AIS batch was added to the buffer.
    pub updates_since_refill: usize,
    /// AIS chains dropped so far for a non-finite weight.
    pub dropped_chains: u64,
    /// AIS samples dropped so far for the mirror-image (D) form.
    #[serde(default)]
    pub mirror_images_dropped: u64,
    /// AIS torsion jumps accepted so far (0 without `torsion_jumps`).
    #[serde(default)]
    pub torsion_jumps_accepted: u64,
    /// AIS batches of the buffer fill so far (each is drawn from its own random stream, so a
    /// fill interrupted by Ctrl-C resumes with the batches it would have drawn); rank 0's over
    /// several ranks (each rank's are in the buffer's file).
    #[serde(default)]
    pub fill_batches: u64,
}

/// AIS samples toward p²/q with their log weights and the flow's log q at the samples.
struct AisBatch {
    x: Vec<f64>,
    log_w: Vec<f64>,
    log_q: Vec<f64>,
}

impl Fab {
    /// The objective with weight `weight` in the total loss, for a `dim`-dimensional target
    /// whose flow's MCMC runs in `mcmc_dim` dimensions; `filter_chirality` names the
    /// `[N, CA, C, CB]` atoms whose D form is dropped; `seed` is the run's; `place` is this
    /// process's rank and the number of ranks ((0, 1) on one process).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        weight: f64,
        ais: &AisConfig,
        buffer: Option<&BufferConfig>,
        filter_chirality: Option<[usize; 4]>,
        dim: usize,
        mcmc_dim: usize,
        seed: u64,
        place: (usize, usize),
    ) -> Result<Self> {
        let (rank, ranks) = place;
        let mine = |n: usize| share(n, ranks, rank).len();
        if let Some(atoms) = filter_chirality
            && atoms.iter().any(|&a| 3 * a + 3 > dim)
        {
            return Err(Error::InvalidArgument(format!(
                "filter_chirality: atoms {atoms:?} are beyond the system's {} atoms",
                dim / 3
            )));
        }
        Ok(Fab {
            chirality: filter_chirality.map(|atoms| ChiralityFilter { atoms, dropped: 0 }),
            weight,
            ais: Ais::new(ais.clone())?,
            // Each rank holds its share of the buffer.
            buffer: buffer.cloned().map(|config| Buffered {
                buffer: ReplayBuffer::new(mcmc_dim, mine(config.capacity)),
                config: BufferConfig {
                    capacity: mine(config.capacity),
                    min_length: mine(config.min_length),
                    ..config
                },
                updates_since_refill: 0,
            }),
            counts: AisCounts::default(),
            progress: None,
            stop: StopFlag::new(),
            seed,
            fill_batches: 0,
            place,
            gathered: None,
        })
    }

    /// The weighted loss of one gradient step with `batch_size` points. For a molecular flow
    /// AIS and the buffer work on the internal coordinates, as in FAB (see [`McmcSpace`]).
    fn step_loss<B: AutodiffFlowBackend>(
        &mut self,
        step: &StepContext<'_, B>,
        rng: &mut rand_pcg::Pcg64,
    ) -> Result<Batch<B>> {
        let mut own = step.rank_rng(rng);
        let rng = own.as_mut().unwrap_or(rng);
        // This rank's share of the batch; its loss is a mean over the share, so it counts by
        // its share of the whole.
        let (batch_size, device) = (step.share(step.batch_size).len(), step.device);
        let (rank, ranks) = self.place;
        let share_weight = step.share_weight(step.batch_size);
        let space = McmcSpace::of(step.model.flow()?, step.system, device);
        let dim = space.dim();
        let mut draw = |n: usize, rng: &mut rand_pcg::Pcg64| {
            ais_batch(
                &mut self.ais,
                &space,
                n,
                rng,
                &mut self.counts,
                self.chirality.as_mut(),
            )
        };
        let Some(buffered) = self.buffer.as_mut() else {
            let batch = draw(batch_size, rng)?;
            let n = batch.log_w.len();
            if n == 0 {
                return Err(no_finite_chain());
            }
            let weights = normalised_weights(&batch.log_w);
            let log_q = space.log_prob(from_f64(batch.x, [n, dim], device));
            let w = from_f64::<B, 1>(weights, [n], device);
            return Ok(Batch {
                loss: (w * log_q).sum().mul_scalar(-self.weight * share_weight),
                points: batch_size,
                n_nonfinite: batch_size - n,
                model_evaluations: 0,
            });
        };
        if buffered.buffer.len() < buffered.config.min_length {
            // The fill before the first gradient step: hours for the paper's alanine-dipeptide
            // configuration on a CPU. Each batch has its own random stream and is kept as soon
            // as it is drawn, so Ctrl-C loses at most the batch under way.
            while buffered.buffer.len() < buffered.config.min_length {
                self.stop
                    .check("the replay-buffer fill (the points so far are saved)")?;
                let fill_seed = own_seed(
                    Stream::BufferFill(self.fill_batches).seed(self.seed),
                    rank,
                    ranks,
                );
                B::seed(device, fill_seed);
                let batch = draw(batch_size, &mut rand_pcg::Pcg64::seed_from_u64(fill_seed))?;
                self.fill_batches += 1;
                buffered.buffer.push(&batch.x, &batch.log_w, &batch.log_q);
                if let Some(bar) = self.progress.as_ref().filter(|_| rank == 0) {
                    let line = format!(
                        "filling the replay buffer: {} of {} points{}",
                        buffered.buffer.len().min(buffered.config.min_length),
                        buffered.config.min_length,
                        if ranks > 1 { " (rank 0's share)" } else { "" }
                    );
                    crate::progress::println(bar, &line);
                }
            }
            buffered.updates_since_refill = 0;
        } else if buffered.updates_since_refill == 0 {
            let batch = draw(batch_size, rng)?;
            buffered.buffer.push(&batch.x, &batch.log_w, &batch.log_q);
        }
        buffered.updates_since_refill =
            (buffered.updates_since_refill + 1) % buffered.config.updates_per_batch;
        let draw = buffered.buffer.draw(batch_size, rng);
        let k = draw.indices.len();
        let log_q = space.log_prob(from_f64(draw.x.clone(), [k, dim], device));
        let (w_adjust, removed) = buffered.buffer.adjust(
            &draw.indices,
            &to_host(log_q.clone().detach()),
            buffered.config.w_adjust_clip,
        );
        let (log_q, w_adjust) = if removed == 0 {
            (log_q, w_adjust)
        } else {
            // Recomputed on the finite entries alone: a masked-out −∞ would still send NaN
            // gradients back through the flow.
            let kept: Vec<usize> = (0..k).filter(|&i| w_adjust[i] > 0.0).collect();
            let x: Vec<f64> = kept
                .iter()
                .flat_map(|&i| draw.x[i * dim..(i + 1) * dim].iter().copied())
                .collect();
            let log_q = space.log_prob(from_f64(x, [kept.len(), dim], device));
            (log_q, kept.iter().map(|&i| w_adjust[i]).collect())
        };
        let n = w_adjust.len();
        let w = from_f64::<B, 1>(w_adjust, [n], device);
        Ok(Batch {
            loss: (w * log_q)
                .sum()
                .div_scalar(k as f64)
                .mul_scalar(-self.weight * share_weight),
            points: k,
            n_nonfinite: removed,
            model_evaluations: 0,
        })
    }

    /// This rank's counters: dropped chains, accepted jumps, mirror images.
    fn local_counts(&self) -> [u64; 3] {
        [
            self.counts.dropped_chains,
            self.counts.jumps_accepted,
            self.chirality.as_ref().map_or(0, |c| c.dropped),
        ]
    }

    /// The small state, for a checkpoint: over several ranks, the counters summed over them
    /// (as gathered on rank 0).
    fn fab_state(&self) -> FabState {
        let counts = self
            .gathered
            .as_ref()
            .map_or(self.local_counts(), |g| g.counts);
        FabState {
            step_sizes: self.ais.step_sizes(),
            updates_since_refill: self.buffer.as_ref().map_or(0, |b| b.updates_since_refill),
            dropped_chains: counts[0],
            mirror_images_dropped: counts[2],
            torsion_jumps_accepted: counts[1],
            fill_batches: self.fill_batches,
        }
    }
}

/// The per-rank datasets of a buffer file: each rank's points, fill batches and steps since its
/// last AIS batch, in rank order.
const PER_RANK: [&str; 3] = ["rank_lengths", "rank_fill_batches", "rank_updates"];

/// File of objective `index`'s replay buffer in a checkpoint folder.
fn buffer_file(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("buffer_{index}.h5"))
}

impl<B: AutodiffFlowBackend> Objective<B> for Fab {
    fn loss(&mut self, step: &StepContext<'_, B>, rng: &mut rand_pcg::Pcg64) -> Result<Batch<B>> {
        self.step_loss(step, rng)
    }

    fn over_ranks(&self) -> bool {
        true
    }

    /// The ranks' AIS step sizes, averaged.
    fn synchronise(&mut self, ranks: &dyn Ranks) {
        let mut sizes = self.ais.step_sizes();
        ranks.all_sum(&mut sizes);
        let mean: Vec<f64> = sizes.iter().map(|s| s / ranks.size() as f64).collect();
        self.ais
            .set_step_sizes(&mean)
            .expect("as many step sizes as before");
    }

    fn gather(&mut self, ranks: &dyn Ranks) {
        let mut counts = self.local_counts().map(|c| c as f64);
        ranks.all_sum(&mut counts);
        let content = self.buffer.as_ref().map(|b| b.buffer.content());
        let length = content.as_ref().map_or(0, |c| c.log_w.len()) as f64;
        let updates = self.buffer.as_ref().map_or(0, |b| b.updates_since_refill) as f64;
        let per_rank = ranks.gather(vec![length, self.fill_batches as f64, updates]);
        let column = |j: usize| per_rank.iter().skip(j).step_by(3).copied().collect();
        let (x, log_w, log_q) = content.map_or_else(Default::default, |c| (c.x, c.log_w, c.log_q));
        let content = BufferContent {
            x: ranks.gather(x),
            log_w: ranks.gather(log_w),
            log_q: ranks.gather(log_q),
        };
        self.gathered = ranks.is_root().then(|| Gathered {
            content,
            lengths: column(0),
            fill_batches: column(1),
            updates: column(2),
            counts: counts.map(|c| c as u64),
        });
    }

    fn state(&self) -> ObjectiveState {
        ObjectiveState::Fab(self.fab_state())
    }

    /// Writes the replay buffer (`buffer_INDEX.h5`: `x`, `log_w`, `log_q`, and each rank's
    /// number of points, fill batches and steps since its last AIS batch, `rank_lengths`,
    /// `rank_fill_batches` and `rank_updates`), when there is one.
    fn save_files(&self, dir: &Path, index: usize) -> Result<()> {
        let Some(buffered) = &self.buffer else {
            return Ok(());
        };
        let local;
        let (content, per_rank) = match &self.gathered {
            Some(g) => (
                &g.content,
                [&g.lengths, &g.fill_batches, &g.updates].map(|v| v.clone()),
            ),
            None => {
                local = buffered.buffer.content();
                let counts = [
                    local.log_w.len(),
                    self.fill_batches as usize,
                    buffered.updates_since_refill,
                ];
                (&local, counts.map(|c| vec![c as f64]))
            }
        };
        let n = content.log_w.len();
        let out = OutputFile::create(&buffer_file(dir, index))?;
        let dim = content.x.len().checked_div(n).unwrap_or(0);
        out.write_array("x", &content.x, &[n, dim])?;
        out.write_array("log_w", &content.log_w, &[n])?;
        out.write_array("log_q", &content.log_q, &[n])?;
        for (name, values) in PER_RANK.iter().zip(&per_rank) {
            out.write_array(name, values, &[values.len()])?;
        }
        out.commit()?;
        Ok(())
    }

    fn restore(&mut self, state: &ObjectiveState, dir: &Path, index: usize) -> Result<()> {
        let ObjectiveState::Fab(state) = state else {
            return Err(Error::InvalidArgument(format!(
                "the checkpoint in {} holds no FAB state for objective {index}; it is of \
                 another configuration",
                dir.display()
            )));
        };
        self.ais.set_step_sizes(&state.step_sizes)?;
        // The counters are totals over the ranks: rank 0 carries them on.
        let (rank, ranks) = self.place;
        let total = |count: u64| if rank == 0 { count } else { 0 };
        self.counts = AisCounts {
            dropped_chains: total(state.dropped_chains),
            jumps_accepted: total(state.torsion_jumps_accepted),
        };
        self.fill_batches = state.fill_batches;
        if let Some(chirality) = self.chirality.as_mut() {
            chirality.dropped = total(state.mirror_images_dropped);
        }
        let path = buffer_file(dir, index);
        if let (Some(buffered), true) = (self.buffer.as_mut(), path.is_file()) {
            let content = BufferContent {
                x: read_array(&path, "x")?.0,
                log_w: read_array(&path, "log_w")?.0,
                log_q: read_array(&path, "log_q")?.0,
            };
            let per_rank = |name: &str| -> Result<Option<Vec<f64>>> {
                Ok(if dataset_exists(&path, name)? {
                    Some(read_array(&path, name)?.0).filter(|v| v.len() == ranks)
                } else {
                    None
                })
            };
            // This rank's points: its own buffer when the checkpoint has as many ranks, else
            // its share of them all.
            let n = content.log_w.len();
            let mine = match per_rank(PER_RANK[0])? {
                Some(lengths) => {
                    let start = lengths[..rank].iter().sum::<f64>() as usize;
                    start..(start + lengths[rank] as usize).min(n)
                }
                None => share(n, ranks, rank),
            };
            if let Some(fills) = per_rank(PER_RANK[1])? {
                self.fill_batches = fills[rank] as u64;
            }
            buffered.updates_since_refill = match per_rank(PER_RANK[2])? {
                Some(updates) => updates[rank] as usize,
                None => state.updates_since_refill,
            };
            let dim = content.x.len().checked_div(n).unwrap_or(0);
            buffered.buffer.restore(BufferContent {
                x: content.x[mine.start * dim..mine.end * dim].to_vec(),
                log_w: content.log_w[mine.clone()].to_vec(),
                log_q: content.log_q[mine].to_vec(),
            })?;
        }
        Ok(())
    }

    /// Reports the buffer fill above the bar, and lets Ctrl-C stop it.
    fn attach(&mut self, progress: &ProgressBar, stop: &StopFlag) {
        self.progress = Some(progress.clone());
        self.stop = stop.clone();
        self.ais.set_stop(stop.clone());
    }

    /// `ais_chains_dropped`, `mirror_images_dropped`, `torsion_jumps_accepted`.
    fn write_counters(&self, out: &OutputFile) -> Result<()> {
        let state = self.fab_state();
        out.set_u64("training", "ais_chains_dropped", state.dropped_chains)?;
        out.set_u64(
            "training",
            "mirror_images_dropped",
            state.mirror_images_dropped,
        )?;
        out.set_u64(
            "training",
            "torsion_jumps_accepted",
            state.torsion_jumps_accepted,
        )
    }
}

/// Draws `n` flow samples and carries them by AIS toward p²/q; counts dropped chains and
/// accepted torsion jumps, and drops (and counts) mirror images when a chirality filter is given.
fn ais_batch<B: AutodiffFlowBackend>(
    ais: &mut Ais,
    space: &McmcSpace<'_, B>,
    n: usize,
    rng: &mut impl rand::Rng,
    counts: &mut AisCounts,
    chirality: Option<&mut ChiralityFilter>,
) -> Result<AisBatch> {
    let (x0, log_q0) = space.sample(n);
    let mut out = ais.run(space.q(), space.target(), FAB_ALPHA, x0, Some(log_q0), rng)?;
    counts.jumps_accepted += out.n_jumps_accepted as u64;
    space.canonicalise(&mut out.x);
    // The loss needs log q at the final points, so a chain ending where q underflows is
    // dropped too.
    let mut kept: Vec<usize> = (0..out.log_q.len())
        .filter(|&i| out.log_q[i].is_finite())
        .collect();
    counts.dropped_chains += (n - kept.len()) as u64;
    let dim = space.dim();
    if let Some(filter) = chirality {
        let positions = space.positions(&out.x);
        kept = filter.keep_l_form(&positions, positions.len() / out.log_q.len().max(1), kept);
    }
    Ok(AisBatch {
        x: kept
            .iter()
            .flat_map(|&i| out.x[i * dim..(i + 1) * dim].iter().copied())
            .collect(),
        log_w: kept.iter().map(|&i| out.log_w[i]).collect(),
        log_q: kept.iter().map(|&i| out.log_q[i]).collect(),
    })
}

fn no_finite_chain() -> Error {
    Error::InvalidArgument(
        "every AIS chain of the batch had a non-finite weight: the flow's samples or the \
         target's energies are NaN or infinite; check the system, or lower the learning rate"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four atoms N, CA, C, CB with CB above (L, positive signed volume) or below (D) the plane.
    fn stereocentre(l_form: bool) -> [f64; 12] {
        let z = if l_form { 1.0 } else { -1.0 };
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -0.5, -0.5, z]
    }

    #[test]
    fn mirror_images_are_dropped_and_counted() {
        let mut filter = ChiralityFilter {
            atoms: [0, 1, 2, 3],
            dropped: 0,
        };
        let forms = [true, false, true, true, false];
        let x: Vec<f64> = forms.iter().flat_map(|&l| stereocentre(l)).collect();
        assert!(chirality_of(&stereocentre(true), [0, 1, 2, 3]) > 0.0);
        assert_eq!(filter.keep_l_form(&x, 12, vec![0, 1, 2, 4]), vec![0, 2]);
        assert_eq!(filter.dropped, 2);
        assert_eq!(filter.keep_l_form(&x, 12, vec![3, 4]), vec![3]);
        assert_eq!(filter.dropped, 3);
    }

    #[test]
    fn a_batch_with_few_l_forms_is_kept_whole() {
        let mut filter = ChiralityFilter {
            atoms: [0, 1, 2, 3],
            dropped: 0,
        };
        let x: Vec<f64> = (0..20).flat_map(|i| stereocentre(i == 0)).collect();
        let all: Vec<usize> = (0..20).collect();
        assert_eq!(filter.keep_l_form(&x, 12, all.clone()), all);
        assert_eq!(filter.dropped, 0);
    }

    #[test]
    fn filter_atoms_beyond_the_system_are_refused() {
        let message = Fab::new(
            1.0,
            &AisConfig::default(),
            None,
            Some([6, 8, 14, 22]),
            66,
            60,
            0,
            (0, 1),
        )
        .err()
        .expect("atom 22 of 22 atoms")
        .to_string();
        assert!(
            message.contains("beyond the system's 22 atoms"),
            "{message}"
        );
    }
}
