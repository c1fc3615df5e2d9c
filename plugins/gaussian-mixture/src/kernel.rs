//! The hot loop: u(x) = −log Σ_k exp a_k(x) and ∇u(x) over a batch of points, with
//! a_k(x) = log_norm_k − ½ (x − μ_k)ᵀ Σ_k⁻¹ (x − μ_k).
//!
//! Components are stored in blocks of [`LANES`], lane by lane, so that every step is a loop over
//! lanes of fixed length that the compiler unrolls and vectorises, with no allocation per point;
//! the exponential is an inlined polynomial rather than a call to libm. The blocks hold
//! neighbouring components, so that far from a block its exponentials, which cannot matter, are
//! skipped. The code is compiled once for the baseline CPU and once for AVX2, chosen at run
//! time, and specialised for dimensions 1 to 3.

use boltzflow_plugin::PluginError;
use boltzflow_plugin::fastmath::exp_nonpositive;

/// Components handled together.
const LANES: usize = 8;

/// Blocks whose log-terms are computed before their exponentials (a stack buffer of
/// `GROUP × LANES` values): up to `GROUP × LANES` components need no rescaling.
const GROUP: usize = 8;

/// A block whose largest log-term is this far below the maximum is skipped: its terms are below
/// e⁻⁵⁰ ≈ 2e-22 of the largest, far under the rounding of the sum.
const NEGLIGIBLE: f64 = 50.0;

/// One value per lane.
type Lanes = [f64; LANES];

/// The components' parameters in blocks of [`LANES`]. Block b is `1 + dim + dim²` rows: the
/// log-normalisers, then the mean coordinates (μ_k)_i, then the precision entries (Σ_k⁻¹)_ij
/// row-major, each row holding components `b·LANES .. (b+1)·LANES`. Lanes past the last
/// component are padding: log-normaliser −∞, mean and precision 0, so they add nothing.
#[derive(Clone, Debug)]
pub struct Blocks {
    dim: usize,
    rows: Vec<Lanes>,
    /// Whether the CPU has AVX2 (checked once, at construction).
    avx2: bool,
}

impl Blocks {
    /// Lays out the components `(log_norm_k, μ_k, Σ_k⁻¹)`, with μ_k of length `dim` and Σ_k⁻¹
    /// row-major `dim × dim`, neighbours in the same block.
    pub fn new(dim: usize, components: &[(f64, &[f64], &[f64])]) -> Blocks {
        let block_len = 1 + dim + dim * dim;
        let mut rows = vec![[0.0; LANES]; components.len().div_ceil(LANES) * block_len];
        for block in rows.chunks_exact_mut(block_len) {
            block[0] = [f64::NEG_INFINITY; LANES];
        }
        let mut order: Vec<usize> = (0..components.len()).collect();
        let means: Vec<&[f64]> = components.iter().map(|c| c.1).collect();
        spatial_order(dim, &means, &mut order);
        for (slot, &k) in order.iter().enumerate() {
            let (log_norm, mean, precision) = components[k];
            let block = &mut rows[slot / LANES * block_len..][..block_len];
            let values = std::iter::once(&log_norm).chain(mean).chain(precision);
            for (row, value) in block.iter_mut().zip(values) {
                row[slot % LANES] = *value;
            }
        }
        Blocks {
            dim,
            rows,
            avx2: has_avx2(),
        }
    }

    /// u at the points `x` (row-major, `u.len() × dim`) into `u`, and ∇u into `grad` if given.
    pub fn energy_batch(
        &self,
        x: &[f64],
        u: &mut [f64],
        grad: Option<&mut [f64]>,
    ) -> Result<(), PluginError> {
        let len = u.len() * self.dim;
        if x.len() != len || grad.as_ref().is_some_and(|g| g.len() != len) {
            return Err(PluginError::new(format!(
                "a batch of {} energies needs {len} coordinates and gradient entries ({}-D \
                 points), but got {} and {:?}",
                u.len(),
                self.dim,
                x.len(),
                grad.map(|g| g.len())
            )));
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only when the running CPU has AVX2.
            unsafe { self.batch_avx2(x, u, grad) };
            return Ok(());
        }
        self.batch(x, u, grad);
        Ok(())
    }

    /// [`Blocks::batch`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn batch_avx2(&self, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) {
        self.batch(x, u, grad);
    }

    /// Picks the code for the dimension, so that the loops over coordinates are unrolled.
    #[inline(always)]
    fn batch(&self, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) {
        match self.dim {
            1 => self.batch_in(1, x, u, grad),
            2 => self.batch_in(2, x, u, grad),
            3 => self.batch_in(3, x, u, grad),
            dim => self.batch_in(dim, x, u, grad),
        }
    }

    /// The loop over points, with separate code for energies alone and with gradients, and one
    /// buffer of log-terms for all.
    #[inline(always)]
    fn batch_in(&self, dim: usize, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) {
        let points = u.iter_mut().zip(x.chunks_exact(dim));
        let mut terms = [[0.0; LANES]; GROUP];
        match grad {
            Some(grad) => {
                for ((u, x), g) in points.zip(grad.chunks_exact_mut(dim)) {
                    *u = self.energy(dim, x, Some(g), &mut terms);
                }
            }
            None => {
                for (u, x) in points {
                    *u = self.energy(dim, x, None, &mut terms);
                }
            }
        }
    }

    /// u(x) = −(m + log Σ_k exp(a_k − m)) with m the largest a_k, and
    /// ∇u = Σ_k r_k Σ_k⁻¹ (x − μ_k) with r_k = exp(a_k + u). Blocks go by groups of [`GROUP`]:
    /// first every a_k of the group and their maximum, then the exponentials of the blocks that
    /// are not [`NEGLIGIBLE`]. Between groups the running sums are rescaled when the maximum
    /// rises, so any number of components streams through a fixed stack buffer.
    ///
    /// Returns NaN with a NaN gradient for a non-finite coordinate, and +∞ with a NaN gradient
    /// where the quadratic forms overflow (coordinates beyond about 1e150).
    #[inline(always)]
    fn energy(
        &self,
        dim: usize,
        x: &[f64],
        mut grad: Option<&mut [f64]>,
        terms: &mut [Lanes; GROUP],
    ) -> f64 {
        if !x.iter().all(|v| v.is_finite()) {
            return undefined(f64::NAN, grad);
        }
        if let Some(g) = grad.as_deref_mut() {
            g.fill(0.0);
        }
        let block_len = 1 + dim + dim * dim;
        let (mut max, mut sums) = (f64::NEG_INFINITY, [0.0; LANES]);
        for group in self.rows.chunks(GROUP * block_len) {
            let blocks = group
                .chunks_exact(block_len)
                .map(|rows| Block::new(dim, rows));
            let mut lane_max = [f64::NEG_INFINITY; LANES];
            for (terms, block) in terms.iter_mut().zip(blocks.clone()) {
                *terms = block.log_terms(x);
                for lane in 0..LANES {
                    lane_max[lane] = larger(lane_max[lane], terms[lane]);
                }
            }
            let group_max = horizontal(lane_max, larger);
            if group_max == f64::NEG_INFINITY {
                continue; // every quadratic form overflowed
            }
            if group_max > max {
                if max > f64::NEG_INFINITY {
                    let scale = (max - group_max).exp();
                    sums.iter_mut().for_each(|s| *s *= scale);
                    grad.iter_mut()
                        .flat_map(|g| g.iter_mut())
                        .for_each(|v| *v *= scale);
                }
                max = group_max;
            }
            for (terms, block) in terms.iter().zip(blocks) {
                if horizontal(*terms, larger) < max - NEGLIGIBLE {
                    continue;
                }
                let mut e = [0.0; LANES];
                for lane in 0..LANES {
                    e[lane] = exp_nonpositive(terms[lane] - max);
                    sums[lane] += e[lane];
                }
                if let Some(g) = grad.as_deref_mut() {
                    block.add_gradients(x, &e, g);
                }
            }
        }
        if max == f64::NEG_INFINITY {
            return undefined(f64::INFINITY, grad);
        }
        let sum = horizontal(sums, |a, b| a + b);
        if let Some(g) = grad {
            let inverse = 1.0 / sum;
            g.iter_mut().for_each(|v| *v *= inverse);
        }
        -(max + sum.ln())
    }
}

/// One block of components, split into its rows.
#[derive(Clone, Copy)]
struct Block<'a> {
    dim: usize,
    log_norms: &'a Lanes,
    means: &'a [Lanes],
    precision: &'a [Lanes],
}

impl<'a> Block<'a> {
    /// Splits the `1 + dim + dim²` rows of a block.
    #[inline(always)]
    fn new(dim: usize, rows: &'a [Lanes]) -> Block<'a> {
        let (log_norms, params) = rows.split_at(1);
        let (means, precision) = params.split_at(dim);
        Block {
            dim,
            log_norms: &log_norms[0],
            means,
            precision,
        }
    }

    /// a_k(x) for each lane; −∞ for padding, and for a quadratic form that overflowed to NaN.
    #[inline(always)]
    fn log_terms(&self, x: &[f64]) -> Lanes {
        let mut quad = [0.0; LANES];
        for ((xi, mean), row) in x
            .iter()
            .zip(self.means)
            .zip(self.precision.chunks_exact(self.dim))
        {
            let pd = precision_times_diff(row, x, self.means);
            for lane in 0..LANES {
                quad[lane] += (xi - mean[lane]) * pd[lane];
            }
        }
        let mut terms = [0.0; LANES];
        for lane in 0..LANES {
            terms[lane] = larger(self.log_norms[lane] - 0.5 * quad[lane], f64::NEG_INFINITY);
        }
        terms
    }

    /// Adds Σ_lanes e_k (Σ_k⁻¹ (x − μ_k))_i to `grad[i]`.
    #[inline(always)]
    fn add_gradients(&self, x: &[f64], e: &Lanes, grad: &mut [f64]) {
        for (g, row) in grad.iter_mut().zip(self.precision.chunks_exact(self.dim)) {
            let mut pd = precision_times_diff(row, x, self.means);
            for lane in 0..LANES {
                pd[lane] *= e[lane];
            }
            *g += horizontal(pd, |a, b| a + b);
        }
    }
}

/// `a` if it is larger than `b`, else `b` (so `b` when `a` is NaN): one instruction, unlike
/// `f64::max`.
#[inline(always)]
fn larger(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// Σ_j P_ij (x_j − (μ_k)_j) per lane, for one precision row `row` (entries j = 0..dim).
#[inline(always)]
fn precision_times_diff(row: &[Lanes], x: &[f64], means: &[Lanes]) -> Lanes {
    let mut acc = [0.0; LANES];
    for ((p, xj), mean) in row.iter().zip(x).zip(means) {
        for lane in 0..LANES {
            acc[lane] += p[lane] * (xj - mean[lane]);
        }
    }
    acc
}

/// Folds the lanes pairwise with `op` (a tree, which vectorises, rather than a chain).
#[inline(always)]
fn horizontal(mut v: Lanes, op: impl Fn(f64, f64) -> f64) -> f64 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            v[lane] = op(v[lane], v[lane + width]);
        }
    }
    v[0]
}

/// Orders the components (`order` indexes `means`) so that each run of [`LANES`] holds
/// neighbours: halves them at a multiple of [`LANES`] along their widest coordinate, recursively.
fn spatial_order(dim: usize, means: &[&[f64]], order: &mut [usize]) {
    if order.len() <= LANES {
        return;
    }
    let spread = |i: usize| {
        let coords = order.iter().map(|&k| means[k][i]);
        coords.clone().fold(f64::NEG_INFINITY, f64::max) - coords.fold(f64::INFINITY, f64::min)
    };
    let axis = (0..dim)
        .max_by(|&a, &b| spread(a).total_cmp(&spread(b)))
        .unwrap_or(0);
    order.sort_by(|&a, &b| means[a][axis].total_cmp(&means[b][axis]));
    let (low, high) = order.split_at_mut((order.len() / 2).div_ceil(LANES) * LANES);
    spatial_order(dim, means, low);
    spatial_order(dim, means, high);
}

/// Returns `u` and fills the gradient, if asked for, with NaN.
fn undefined(u: f64, grad: Option<&mut [f64]>) -> f64 {
    if let Some(g) = grad {
        g.fill(f64::NAN);
    }
    u
}

/// Whether the running CPU has AVX2.
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_pcg::Pcg64;

    #[test]
    fn padding_lanes_add_nothing() {
        // One component in a block of LANES: u is exactly the single Gaussian's.
        let blocks = Blocks::new(1, &[(0.0, &[0.0], &[1.0])]);
        let (mut u, mut g) = ([0.0], [0.0]);
        blocks.energy_batch(&[2.0], &mut u, Some(&mut g)).unwrap();
        assert_eq!((u[0], g[0]), (2.0, 2.0));
    }

    #[test]
    fn batch_lengths_are_checked() {
        let blocks = Blocks::new(2, &[(0.0, &[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0])]);
        let error = blocks
            .energy_batch(&[0.0; 3], &mut [0.0; 2], None)
            .unwrap_err();
        assert!(error.message().contains("needs 4 coordinates"), "{error}");
    }

    #[test]
    fn baseline_and_avx2_code_agree() {
        let mut rng = Pcg64::seed_from_u64(1);
        for dim in 1..=5 {
            let n = 20;
            let means: Vec<f64> = (0..n * dim).map(|_| 10.0 * rng.random::<f64>()).collect();
            // Diagonally dominant, hence positive definite, precisions.
            let precisions: Vec<f64> = (0..n * dim * dim)
                .map(|i| {
                    if i % (dim * dim) % (dim + 1) == 0 {
                        2.0
                    } else {
                        0.1
                    }
                })
                .collect();
            let components: Vec<_> = (0..n)
                .map(|k| {
                    let mean = &means[k * dim..(k + 1) * dim];
                    (
                        -(k as f64),
                        mean,
                        &precisions[k * dim * dim..(k + 1) * dim * dim],
                    )
                })
                .collect();
            let mut blocks = Blocks::new(dim, &components);
            let x: Vec<f64> = (0..100 * dim)
                .map(|_| 12.0 * rng.random::<f64>() - 1.0)
                .collect();
            let mut results = Vec::new();
            for avx2 in [false, blocks.avx2] {
                blocks.avx2 = avx2;
                let (mut u, mut g) = (vec![0.0; 100], vec![0.0; 100 * dim]);
                blocks.energy_batch(&x, &mut u, Some(&mut g)).unwrap();
                results.push((u, g));
            }
            let ((u0, g0), (u1, g1)) = (&results[0], &results[1]);
            for (a, b) in u0.iter().zip(u1).chain(g0.iter().zip(g1)) {
                assert!(
                    (a - b).abs() <= 1e-13 * b.abs().max(1.0),
                    "dim {dim}: {a} vs {b}"
                );
            }
        }
    }
}
