//! MBAR, the multistate Bennett acceptance ratio (Shirts & Chodera, J. Chem. Phys. 129, 124105,
//! 2008).
//!
//! K thermodynamic states with reduced energies u_k(x); state k drew N_k samples (N_k = 0 is
//! allowed: such a state is only evaluated). Every one of the N = Σ N_k samples, x_n, is
//! evaluated at every state, u_kn = u_k(x_n). The dimensionless free energies f_k = −log Z_k
//! (up to one common constant) solve
//!
//! ```text
//! f_k = −log Σ_n exp(−u_kn) / Σ_j N_j exp(f_j − u_jn),
//! ```
//!
//! which are the stationary conditions of the convex function
//!
//! ```text
//! F(f) = Σ_n log Σ_k N_k exp(f_k − u_kn) − Σ_k N_k f_k        (sampled states only).
//! ```
//!
//! [`Mbar::solve`] minimises F by Newton's method with a backtracking line search, with f_0
//! fixed at 0 of the first sampled state (F is invariant to a common shift), and then computes
//! the unsampled states' f_k from the equation above. The gradient and Hessian of F are sums
//! over samples, split over rayon threads.
//!
//! The weights W_nk = exp(f_k − u_kn) / Σ_j N_j exp(f_j − u_jn) give the asymptotic covariance
//! of f (Kong et al. 2003; Shirts & Chodera, appendix D), Θ = Wᵀ(I_N − W N Wᵀ)⁺W with
//! N = diag(N_k). With the eigendecomposition WᵀW = V S² Vᵀ (K × K, cheap for any N), this is
//!
//! ```text
//! Θ = V S (I_K − S Vᵀ N V S)⁺ S Vᵀ,
//! ```
//!
//! the form pymbar 4 uses by default ("svd-ew"); the pseudo-inverse drops eigenvalues below
//! 1e-10 of the largest. The error of Δf_ij = f_j − f_i is √(Θ_ii + Θ_jj − 2Θ_ij). The overlap
//! matrix O = WᵀW N (rows sum to 1) says how well each pair of states is connected; its second
//! largest eigenvalue near 1 means the states split into disconnected groups.

use super::Estimate;
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

/// The Newton iteration stops when every sampled state's weights sum to 1 within this…
const TOLERANCE: f64 = 1e-10;
/// … or when its step is below this relative to the largest |f_k| (and 1).
const STEP_TOLERANCE: f64 = 1e-13;
/// Below this Newton decrement gᵀH⁻¹g, the full Newton step is taken without a line search.
const FULL_STEP_DECREMENT: f64 = 1e-2;
/// The line search gives up below this step length: F is at its minimum to rounding.
const MIN_STEP_LENGTH: f64 = 1e-10;
/// Newton iterations before giving up (a convex problem converges in far fewer).
const MAX_ITERATIONS: usize = 200;
/// Eigenvalues below this fraction of the largest are dropped from pseudo-inverses (pymbar's).
const PSEUDO_INVERSE_CUTOFF: f64 = 1e-10;
/// Samples per rayon task in the sums over samples.
const CHUNK: usize = 4096;

/// Reduced energies of N samples at K states, and how many samples each state drew.
#[derive(Clone, Debug)]
pub struct ReducedEnergies {
    /// u_kn, K × N: column n holds sample n's reduced energy at every state; the columns are
    /// grouped by the state that drew them, in state order (N_0 of state 0 first, …).
    u: DMatrix<f64>,
    /// N_k, samples drawn from state k.
    n_k: Vec<usize>,
}

impl ReducedEnergies {
    /// Takes u_kn (K × N) whose columns are grouped by the state that drew them, in state order,
    /// and the counts N_k. Checks the shapes and values: K ≥ 2 rows, Σ N_k = N columns, no NaN, no −∞. An energy of
    /// +∞ (a sample impossible at some state) is allowed.
    pub fn new(u: DMatrix<f64>, n_k: Vec<usize>) -> Result<Self> {
        let (k, n) = u.shape();
        if k < 2 || n_k.len() != k {
            return Err(Error::Shape {
                what: "the reduced energies u_kn of MBAR".into(),
                expected: format!(
                    "at least 2 states, one sample count per state ({})",
                    n_k.len()
                ),
                found: format!("{k} states"),
            });
        }
        if n_k.iter().sum::<usize>() != n || n == 0 {
            return Err(Error::Shape {
                what: "the reduced energies u_kn of MBAR".into(),
                expected: format!("Σ N_k = {} samples", n_k.iter().sum::<usize>()),
                found: format!("{n} samples"),
            });
        }
        if let Some(i) = u.iter().position(|v| v.is_nan() || *v == f64::NEG_INFINITY) {
            return Err(Error::InvalidArgument(format!(
                "the reduced energy of sample {} at state {} is {}; MBAR needs every energy \
                 finite or +∞",
                i / k,
                i % k,
                u[i]
            )));
        }
        Ok(ReducedEnergies { u, n_k })
    }

    /// Two states from work values: w_F = u_B − u_A on samples of A, w_R = u_A − u_B on samples
    /// of B (BAR's input). Each sample's energy is shifted by a constant, which MBAR ignores.
    pub fn from_work(w_forward: &[f64], w_reverse: &[f64]) -> Result<Self> {
        let n = w_forward.len() + w_reverse.len();
        let mut u = DMatrix::zeros(2, n);
        for (i, &w) in w_forward.iter().enumerate() {
            u[(1, i)] = w;
        }
        for (i, &w) in w_reverse.iter().enumerate() {
            u[(0, w_forward.len() + i)] = w;
        }
        Self::new(u, vec![w_forward.len(), w_reverse.len()])
    }

    /// Number of states K.
    pub fn states(&self) -> usize {
        self.n_k.len()
    }

    /// Number of samples N.
    pub fn samples(&self) -> usize {
        self.u.ncols()
    }

    /// Samples drawn from each state.
    pub fn counts(&self) -> &[usize] {
        &self.n_k
    }

    /// u_kn as a K × N matrix.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.u
    }

    /// The work values u_to − u_from on the samples drawn from state `from`.
    pub fn work(&self, from: usize, to: usize) -> Vec<f64> {
        let start: usize = self.n_k[..from].iter().sum();
        (start..start + self.n_k[from])
            .map(|n| self.u[(to, n)] - self.u[(from, n)])
            .collect()
    }
}

/// The MBAR solution: free energies, weights and their asymptotic covariance.
#[derive(Clone, Debug)]
pub struct Mbar {
    /// f_k − f_0 for every state.
    f: Vec<f64>,
    /// W, N × K; column k sums to 1.
    weights: DMatrix<f64>,
    /// Θ, the asymptotic covariance of f.
    theta: DMatrix<f64>,
    /// N_k.
    n_k: Vec<usize>,
    /// Newton iterations taken.
    iterations: usize,
}

impl Mbar {
    /// Solves the MBAR equations (see the module documentation). Fails when Newton's method
    /// does not converge, which happens when some sampled states share no samples at all.
    pub fn solve(energies: &ReducedEnergies) -> Result<Self> {
        let k = energies.states();
        let sampled: Vec<usize> = (0..k).filter(|&i| energies.n_k[i] > 0).collect();
        let (f_sampled, iterations) = newton(energies, &sampled)?;
        let mut f_full = vec![0.0; k];
        for (&s, &v) in sampled.iter().zip(&f_sampled) {
            f_full[s] = v;
        }
        let log_denominators = log_denominators(energies, &sampled, &f_sampled);
        for state in (0..k).filter(|&i| energies.n_k[i] == 0) {
            f_full[state] = -log_sum_exp(
                energies
                    .u
                    .row(state)
                    .iter()
                    .zip(&log_denominators)
                    .map(|(u, d)| -u - d),
            );
        }
        let weights = DMatrix::from_fn(energies.samples(), k, |n, state| {
            (f_full[state] - energies.u[(state, n)] - log_denominators[n]).exp()
        });
        let f0 = f_full[0];
        let f: Vec<f64> = f_full.iter().map(|v| v - f0).collect();
        let theta = covariance(&weights, &energies.n_k);
        Ok(Mbar {
            f,
            weights,
            theta,
            n_k: energies.n_k.clone(),
            iterations,
        })
    }

    /// The dimensionless free energies f_k − f_0 (k_BT), one per state.
    pub fn free_energies(&self) -> &[f64] {
        &self.f
    }

    /// Δf from state `i` to state `j`, f_j − f_i, with its asymptotic standard error.
    pub fn delta_f(&self, i: usize, j: usize) -> Estimate {
        let t = &self.theta;
        let variance = t[(i, i)] + t[(j, j)] - 2.0 * t[(i, j)];
        Estimate {
            delta_f: self.f[j] - self.f[i],
            stderr: variance.max(0.0).sqrt(),
        }
    }

    /// The asymptotic covariance Θ of the f_k (K × K).
    pub fn covariance(&self) -> &DMatrix<f64> {
        &self.theta
    }

    /// The weights W (N × K): W_nk = exp(f_k − u_kn) / Σ_j N_j exp(f_j − u_jn); column k
    /// reweights all samples to state k.
    pub fn weights(&self) -> &DMatrix<f64> {
        &self.weights
    }

    /// The overlap matrix O = WᵀW diag(N_k) (K × K, rows summing to 1).
    pub fn overlap(&self) -> DMatrix<f64> {
        let mut o = self.weights.tr_mul(&self.weights);
        for (j, &n) in self.n_k.iter().enumerate() {
            o.column_mut(j).scale_mut(n as f64);
        }
        o
    }

    /// Newton iterations the solution took.
    pub fn iterations(&self) -> usize {
        self.iterations
    }
}

/// log Σ exp(v), stable; −∞ for an empty or all −∞ input.
fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// log Σ_{k sampled} N_k exp(f_k − u_kn) for every sample n.
fn log_denominators(energies: &ReducedEnergies, sampled: &[usize], f: &[f64]) -> Vec<f64> {
    let log_n: Vec<f64> = sampled
        .iter()
        .map(|&s| (energies.n_k[s] as f64).ln())
        .collect();
    energies
        .u
        .column_iter()
        .map(|u| {
            log_sum_exp(
                sampled
                    .iter()
                    .zip(f)
                    .zip(&log_n)
                    .map(|((&s, fk), ln)| ln + fk - u[s]),
            )
        })
        .collect()
}

/// F, its gradient and its Hessian over the sampled states at f.
struct Objective {
    value: f64,
    gradient: DVector<f64>,
    hessian: DMatrix<f64>,
}

/// Evaluates F (module documentation) and its derivatives, summing over samples in parallel.
fn objective(energies: &ReducedEnergies, sampled: &[usize], f: &[f64]) -> Objective {
    let m = sampled.len();
    let k = energies.states();
    let n_s: Vec<f64> = sampled.iter().map(|&s| energies.n_k[s] as f64).collect();
    let log_n: Vec<f64> = n_s.iter().map(|v| v.ln()).collect();
    let (value, sum_w, sum_ww) = energies
        .u
        .as_slice()
        .par_chunks(k * CHUNK)
        .map(|chunk| {
            let mut value = 0.0;
            let mut sum_w = DVector::<f64>::zeros(m);
            let mut sum_ww = DMatrix::<f64>::zeros(m, m);
            let mut a = vec![0.0; m];
            for u in chunk.chunks(k) {
                for (i, &s) in sampled.iter().enumerate() {
                    a[i] = log_n[i] + f[i] - u[s];
                }
                let log_d = log_sum_exp(a.iter().copied());
                value += log_d;
                // p_i = N_i W_ni, the probability that sample n came from state i.
                let p = DVector::from_iterator(m, a.iter().map(|v| (v - log_d).exp()));
                sum_w += &p;
                sum_ww.ger(1.0, &p, &p, 1.0);
            }
            (value, sum_w, sum_ww)
        })
        .reduce(
            || (0.0, DVector::zeros(m), DMatrix::zeros(m, m)),
            |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2),
        );
    let value = value - n_s.iter().zip(f).map(|(n, v)| n * v).sum::<f64>();
    let gradient = DVector::from_iterator(m, sum_w.iter().zip(&n_s).map(|(s, n)| s - n));
    let hessian = DMatrix::from_diagonal(&sum_w) - sum_ww;
    Objective {
        value,
        gradient,
        hessian,
    }
}

/// Minimises F over the sampled states' f (the first held at 0) by Newton's method with a
/// backtracking (Armijo) line search; returns f and the iterations taken.
fn newton(energies: &ReducedEnergies, sampled: &[usize]) -> Result<(Vec<f64>, usize)> {
    let m = sampled.len();
    let mut f = vec![0.0; m];
    if m == 1 {
        return Ok((f, 0));
    }
    let n_s: Vec<f64> = sampled.iter().map(|&s| energies.n_k[s] as f64).collect();
    let mut current = objective(energies, sampled, &f);
    for iteration in 0..MAX_ITERATIONS {
        let converged = current
            .gradient
            .iter()
            .zip(&n_s)
            .all(|(g, n)| (g / n).abs() < TOLERANCE);
        if converged {
            return Ok((f, iteration));
        }
        // The reduced system: f_0 stays 0.
        let g = current.gradient.rows(1, m - 1).into_owned();
        let h = current.hessian.view((1, 1), (m - 1, m - 1)).into_owned();
        let step = solve_positive(h, &g).ok_or_else(|| not_connected(sampled))?;
        let scale = f.iter().fold(1.0, |a: f64, v| a.max(v.abs()));
        if step.amax() < STEP_TOLERANCE * scale {
            // The Newton step is at the rounding level of f: done, to double precision.
            for (v, s) in f[1..].iter_mut().zip(step.iter()) {
                *v -= s;
            }
            return Ok((f, iteration + 1));
        }
        let slope = -g.dot(&step);
        if -slope < FULL_STEP_DECREMENT {
            // Close to the minimum, where Newton converges quadratically and F's decrease
            // would be lost in its rounding: the full step, no line search.
            for (v, s) in f[1..].iter_mut().zip(step.iter()) {
                *v -= s;
            }
            current = objective(energies, sampled, &f);
            continue;
        }
        let mut t = 1.0;
        current = loop {
            let trial: Vec<f64> = std::iter::once(0.0)
                .chain(f[1..].iter().zip(step.iter()).map(|(v, s)| v - t * s))
                .collect();
            let candidate = objective(energies, sampled, &trial);
            if candidate.value <= current.value + 1e-4 * t * slope {
                f = trial;
                break candidate;
            }
            t *= 0.5;
            if t < MIN_STEP_LENGTH {
                // F decreases along no step length: it is at its minimum to rounding.
                return Ok((f, iteration + 1));
            }
        };
    }
    Err(Error::InvalidArgument(format!(
        "MBAR did not converge in {MAX_ITERATIONS} Newton iterations; {}",
        not_connected(sampled)
    )))
}

/// Solves H x = g for a symmetric positive semi-definite H, adding the smallest diagonal shift
/// that makes a Cholesky factorisation succeed; None when even a large shift fails.
fn solve_positive(h: DMatrix<f64>, g: &DVector<f64>) -> Option<DVector<f64>> {
    let scale = h.diagonal().amax().max(f64::MIN_POSITIVE);
    let mut shift = 0.0;
    while shift <= scale {
        let shifted = &h + DMatrix::identity(h.nrows(), h.ncols()) * shift;
        if let Some(cholesky) = shifted.cholesky() {
            return Some(cholesky.solve(g));
        }
        shift = if shift == 0.0 {
            1e-12 * scale
        } else {
            shift * 10.0
        };
    }
    None
}

fn not_connected(sampled: &[usize]) -> Error {
    Error::InvalidArgument(format!(
        "the MBAR equations have no solution for the sampled states {sampled:?}: some of them \
         share no samples with the others (no overlap); add intermediate states"
    ))
}

/// Θ = V S (I − S Vᵀ N V S)⁺ S Vᵀ from WᵀW = V S² Vᵀ (module documentation).
fn covariance(weights: &DMatrix<f64>, n_k: &[usize]) -> DMatrix<f64> {
    let k = n_k.len();
    let gram = weights.tr_mul(weights);
    let eigen = gram.symmetric_eigen();
    let s = DMatrix::from_diagonal(&eigen.eigenvalues.map(|v| v.max(0.0).sqrt()));
    let vs = &eigen.eigenvectors * &s;
    let n = DMatrix::from_diagonal(&DVector::from_iterator(k, n_k.iter().map(|&v| v as f64)));
    let inner = DMatrix::identity(k, k) - vs.transpose() * n * &vs;
    &vs * pseudo_inverse(inner) * vs.transpose()
}

/// The Moore–Penrose pseudo-inverse of a symmetric matrix, dropping eigenvalues below
/// [`PSEUDO_INVERSE_CUTOFF`] of the largest in magnitude.
fn pseudo_inverse(a: DMatrix<f64>) -> DMatrix<f64> {
    let eigen = a.symmetric_eigen();
    let cutoff = PSEUDO_INVERSE_CUTOFF * eigen.eigenvalues.amax();
    let inverted = eigen
        .eigenvalues
        .map(|v| if v.abs() > cutoff { 1.0 / v } else { 0.0 });
    &eigen.eigenvectors * DMatrix::from_diagonal(&inverted) * eigen.eigenvectors.transpose()
}
