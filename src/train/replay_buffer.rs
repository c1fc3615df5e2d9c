//! FAB's prioritised replay buffer (Midgley et al.; docs/benchmarks.md §6).
//!
//! It stores AIS samples x with their AIS log weight log w and the flow's log q at insertion.
//! A training batch is drawn without replacement with probability ∝ w (Gumbel top-k on log w,
//! never a multinomial on exp(log w), which underflows). As the flow changes, each drawn entry's
//! weight is corrected by w_adj = (q_now / q_old)^(1−α), which keeps the buffer's weights those
//! of the α-divergence's target p^α q^(1−α) for the current q.

use rand::RngExt;
use std::collections::VecDeque;

/// The α of FAB's α-divergence (α = 2: the target of AIS is p²/q).
pub const FAB_ALPHA: f64 = 2.0;

/// One stored sample.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    x: Vec<f64>,
    log_w: f64,
    log_q: f64,
}

/// A first-in first-out buffer of weighted samples, drawn by priority.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayBuffer {
    dim: usize,
    capacity: usize,
    entries: VecDeque<Entry>,
}

/// A batch drawn from the buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Draw {
    /// Indices of the drawn entries (valid until the buffer changes).
    pub indices: Vec<usize>,
    /// Their points, row-major `k × dim`.
    pub x: Vec<f64>,
}

/// The buffer's content as flat arrays, for checkpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct BufferContent {
    /// Points, row-major `n × dim`, oldest first.
    pub x: Vec<f64>,
    /// Log weights.
    pub log_w: Vec<f64>,
    /// The flow's log q when each weight was last updated.
    pub log_q: Vec<f64>,
}

impl ReplayBuffer {
    /// An empty buffer holding at most `capacity` points of dimension `dim`.
    pub fn new(dim: usize, capacity: usize) -> Self {
        ReplayBuffer {
            dim,
            capacity,
            entries: VecDeque::with_capacity(capacity.min(1 << 20)),
        }
    }

    /// Number of stored points.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds points (row-major `n × dim`) with their log weights and log q, dropping the oldest
    /// entries beyond the capacity. Entries whose log w or log q is not finite are not stored;
    /// returns how many were refused.
    pub fn push(&mut self, x: &[f64], log_w: &[f64], log_q: &[f64]) -> usize {
        assert_eq!(x.len(), log_w.len() * self.dim, "points and weights differ");
        assert_eq!(log_w.len(), log_q.len(), "weights and log q differ");
        let mut refused = 0;
        for ((x, &log_w), &log_q) in x.chunks(self.dim).zip(log_w).zip(log_q) {
            if !(log_w.is_finite() && log_q.is_finite() && x.iter().all(|v| v.is_finite())) {
                refused += 1;
                continue;
            }
            if self.entries.len() == self.capacity {
                self.entries.pop_front();
            }
            self.entries.push_back(Entry {
                x: x.to_vec(),
                log_w,
                log_q,
            });
        }
        refused
    }

    /// Draws `k` distinct entries (at most all of them) with probability ∝ w: the k largest of
    /// log w_i + G_i with G_i standard Gumbel, which is sampling without replacement.
    pub fn draw(&self, k: usize, rng: &mut impl rand::Rng) -> Draw {
        let mut keys: Vec<(f64, usize)> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let u: f64 = rng.random();
                // −ln(−ln u) with u in (0, 1]: u = 0 would give −∞, which only loses the draw.
                (e.log_w - (-(u.max(f64::MIN_POSITIVE)).ln()).ln(), i)
            })
            .collect();
        let k = k.min(keys.len());
        if k < keys.len() {
            keys.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
            keys.truncate(k);
        }
        keys.sort_unstable_by_key(|&(_, i)| i);
        let indices: Vec<usize> = keys.into_iter().map(|(_, i)| i).collect();
        let mut x = Vec::with_capacity(k * self.dim);
        for &i in &indices {
            x.extend_from_slice(&self.entries[i].x);
        }
        Draw { indices, x }
    }

    /// Updates the drawn entries to the flow's current `log_q_now` (one per index) and returns
    /// the weight corrections w_adj = min((q_now/q_old)^(1−α), `clip`) used in the loss. Each
    /// entry's log w grows by log w_adj (unclipped) and its log q becomes log q_now; entries
    /// whose update is not finite are removed, and get w_adj = 0. Returns the corrections and
    /// the number of entries removed.
    pub fn adjust(&mut self, indices: &[usize], log_q_now: &[f64], clip: f64) -> (Vec<f64>, usize) {
        assert_eq!(indices.len(), log_q_now.len(), "one log q per drawn entry");
        let mut corrections = Vec::with_capacity(indices.len());
        let mut dead = Vec::new();
        for (&i, &log_q) in indices.iter().zip(log_q_now) {
            let entry = &mut self.entries[i];
            let log_adj = (1.0 - FAB_ALPHA) * (log_q - entry.log_q);
            entry.log_w += log_adj;
            entry.log_q = log_q;
            if entry.log_w.is_finite() && log_q.is_finite() {
                corrections.push(log_adj.exp().min(clip));
            } else {
                corrections.push(0.0);
                dead.push(i);
            }
        }
        // Highest index first, so earlier indices stay valid.
        dead.sort_unstable_by(|a, b| b.cmp(a));
        for &i in &dead {
            self.entries.remove(i);
        }
        (corrections, dead.len())
    }

    /// The content, oldest first.
    pub fn content(&self) -> BufferContent {
        BufferContent {
            x: self
                .entries
                .iter()
                .flat_map(|e| e.x.iter().copied())
                .collect(),
            log_w: self.entries.iter().map(|e| e.log_w).collect(),
            log_q: self.entries.iter().map(|e| e.log_q).collect(),
        }
    }

    /// Replaces the content (from a checkpoint). Fails on inconsistent lengths.
    pub fn restore(&mut self, content: BufferContent) -> crate::Result<()> {
        let n = content.log_w.len();
        if content.log_q.len() != n || content.x.len() != n * self.dim || n > self.capacity {
            return Err(crate::Error::Shape {
                what: "replay buffer in the checkpoint".to_owned(),
                expected: format!(
                    "at most {} points of dimension {} with one log w and log q each",
                    self.capacity, self.dim
                ),
                found: format!(
                    "{} coordinates, {} log w, {} log q",
                    content.x.len(),
                    n,
                    content.log_q.len()
                ),
            });
        }
        self.entries = content
            .x
            .chunks(self.dim)
            .zip(content.log_w)
            .zip(content.log_q)
            .map(|((x, log_w), log_q)| Entry {
                x: x.to_vec(),
                log_w,
                log_q,
            })
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> rand_pcg::Pcg64 {
        rand_pcg::Pcg64::seed_from_u64(seed)
    }

    #[test]
    fn keeps_the_newest_points_and_refuses_non_finite_ones() {
        let mut buffer = ReplayBuffer::new(1, 3);
        let refused = buffer.push(
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[0.0, f64::NAN, 0.0, 0.0, 0.0],
            &[0.0, 0.0, 0.0, f64::NEG_INFINITY, 0.0],
        );
        assert_eq!(refused, 2);
        buffer.push(&[6.0], &[0.0], &[0.0]);
        assert_eq!(buffer.content().x, vec![3.0, 5.0, 6.0]);
    }

    #[test]
    fn draws_distinct_entries_with_probability_proportional_to_weight() {
        // Weights 1 : 2 : 3 : 4; one draw of a single entry picks i with probability w_i / 10.
        let mut buffer = ReplayBuffer::new(1, 4);
        let log_w: Vec<f64> = (1..=4).map(|w| (w as f64).ln()).collect();
        buffer.push(&[0.0, 1.0, 2.0, 3.0], &log_w, &[0.0; 4]);
        let mut rng = rng(1);
        let trials = 40_000;
        let mut counts = [0usize; 4];
        for _ in 0..trials {
            counts[buffer.draw(1, &mut rng).indices[0]] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            let p = (i + 1) as f64 / 10.0;
            let sd = (p * (1.0 - p) / trials as f64).sqrt();
            let freq = c as f64 / trials as f64;
            assert!((freq - p).abs() < 5.0 * sd, "entry {i}: {freq} vs {p}");
        }
        // Without replacement: drawing all gives every entry once.
        let draw = buffer.draw(10, &mut rng);
        assert_eq!(draw.indices, vec![0, 1, 2, 3]);
        assert_eq!(draw.x, vec![0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn weights_follow_the_flow_and_broken_entries_are_removed() {
        let mut buffer = ReplayBuffer::new(1, 10);
        buffer.push(&[0.0, 1.0, 2.0], &[0.5, 0.5, 0.5], &[-1.0, -1.0, -1.0]);
        // q rose by e at entry 0 (α = 2: w_adj = q_old/q_now = 1/e), fell by e² at entry 2 and
        // became 0 at entry 1.
        let (w_adj, removed) = buffer.adjust(&[0, 1, 2], &[0.0, f64::NEG_INFINITY, -3.0], 5.0);
        assert_eq!(removed, 1);
        assert!((w_adj[0] - (-1.0f64).exp()).abs() < 1e-15);
        assert_eq!(w_adj[1], 0.0);
        assert_eq!(w_adj[2], 5.0, "e² is clipped at 5");
        let content = buffer.content();
        assert_eq!(content.x, vec![0.0, 2.0]);
        assert_eq!(content.log_w, vec![-0.5, 2.5]);
        assert_eq!(content.log_q, vec![0.0, -3.0]);
    }

    #[test]
    fn content_round_trips_and_bad_content_is_refused() {
        let mut buffer = ReplayBuffer::new(2, 4);
        buffer.push(&[1.0, 2.0, 3.0, 4.0], &[0.1, 0.2], &[-0.1, -0.2]);
        let mut copy = ReplayBuffer::new(2, 4);
        copy.restore(buffer.content()).unwrap();
        assert_eq!(copy, buffer);
        let mut bad = buffer.content();
        bad.x.pop();
        assert!(copy.restore(bad).is_err());
    }
}
