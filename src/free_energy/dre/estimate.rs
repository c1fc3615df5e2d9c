//! Training an estimator on two sample sets and reading its estimates off held-out samples.

use super::DreConfig;
use super::model::{DreModel, log_ratio, logit, path_cost, trajectory};
use super::training::{DreRow, DreTraining};
use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::flow::from_f64;
use crate::flow::to_host;
use crate::flow::{DivergenceMethod, Rk4Config, SolverConfig, carry};
use crate::job::{Outcome, StopFlag, drive};
use crate::{Error, Result};
use burn::module::AutodiffModule;
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::Path;

/// Two sample sets, row-major with `dim` columns.
pub struct SamplePair<'a> {
    /// Samples of P (the state at t = 0).
    pub p: &'a [f64],
    /// Samples of Q (the state at t = 1).
    pub q: &'a [f64],
    /// Their dimension.
    pub dim: usize,
}

/// A mean over samples and its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mean {
    /// The mean.
    pub mean: f64,
    /// Its standard error (samples taken as independent).
    pub stderr: f64,
}

/// What a trained estimator gives for one pair P → Q.
#[derive(Clone, Debug)]
pub struct DreResult {
    /// log q/p at the points asked for.
    pub log_ratio: Vec<f64>,
    /// The samples of P and of Q held out of training (indices into each set).
    pub held_out: [Vec<usize>; 2],
    /// KL(P‖Q) = −E_P[log q/p] on the held-out samples of P (for a joint P and the product Q of
    /// its marginals, the mutual information).
    pub kl_pq: Mean,
    /// KL(Q‖P) = E_Q[log q/p] on the held-out samples of Q.
    pub kl_qp: Mean,
    /// The same two from the single classifier trained between P and Q (the baseline).
    pub classifier_kl: [Mean; 2],
    /// Mean path cost Σ‖x(t_k) − x(t_{k−1})‖²/h of the held-out samples of P carried to t = 1
    /// (≥ W2²(P, T#P), equal for the optimal map).
    pub transport_cost: Mean,
    /// Mean cost of the map, ‖T(x) − x‖², over the same samples: ≥ W2²(P, T#P) for any map
    /// (and ≤ the path cost, equal for straight paths at constant speed).
    pub map_cost: Mean,
    /// E‖T⁻¹(T(x)) − x‖² over the held-out samples of P: how well the discrete flow inverts.
    pub inversion_error: f64,
    /// Held-out samples carried through the flow, for the mapped BAR estimate (none when
    /// `mapped_samples` is 0).
    pub mapped: Option<[Mapped; 2]>,
    /// The training history.
    pub history: Vec<DreRow>,
}

/// Samples of one state carried through the trained flow to the other (P forward, Q backward),
/// with the log-determinant of the map: what targeted free-energy perturbation needs.
#[derive(Clone, Debug)]
pub struct Mapped {
    /// Which samples of the state (indices into its set).
    pub index: Vec<usize>,
    /// Their images, row-major.
    pub image: Vec<f64>,
    /// log|det ∂image/∂x| of each.
    pub log_det: Vec<f64>,
}

/// The progress bar of the estimator's training.
const TEMPLATE: &str = "density ratio [{bar:30}] {pos}/{len} {msg} ({eta} left)";

/// Rows evaluated at once after training.
const CHUNK: usize = 4096;

/// Splits `0..n` into (training, held-out) indices, `holdout` of them held out, at random.
fn split(n: usize, holdout: f64, seed: u64, what: &str) -> Result<(Vec<usize>, Vec<usize>)> {
    let held = ((n as f64) * holdout).round() as usize;
    if held < 2 || n - held < 2 {
        return Err(Error::InvalidArgument(format!(
            "the density-ratio estimator needs at least 2 samples of {what} to train on and 2 to \
             hold out (holdout {holdout}); it has {n}"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(seed));
    let mut held_out = order.split_off(n - held);
    held_out.sort_unstable();
    order.sort_unstable();
    Ok((order, held_out))
}

fn rows(x: &[f64], dim: usize, which: &[usize]) -> Vec<f64> {
    which
        .iter()
        .flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied())
        .collect()
}

/// `f` on `x` (row-major, `dim` columns) in chunks, gathered on the host.
fn chunked<B: FlowBackend>(
    x: &[f64],
    dim: usize,
    device: &B::Device,
    mut f: impl FnMut(Tensor<B, 2>) -> Tensor<B, 1>,
) -> Vec<f64> {
    x.chunks(CHUNK * dim)
        .flat_map(|chunk| {
            to_host(f(from_f64(
                chunk.to_vec(),
                [chunk.len() / dim, dim],
                device,
            )))
        })
        .collect()
}

/// The samples of P, of Q and the evaluation points, each superposed onto the first sample of P
/// (see [`DreConfig::align`]).
fn superposed(pair: &SamplePair, evaluate_at: &[f64]) -> Result<[Vec<f64>; 3]> {
    let dim = pair.dim;
    if !dim.is_multiple_of(3) || pair.p.len() < dim {
        return Err(Error::InvalidArgument(format!(
            "Dre: `align` superposes molecules in Cartesian coordinates, 3 per atom; these samples \
             have {dim} coordinates"
        )));
    }
    let reference = &pair.p[..dim];
    Ok([pair.p, pair.q, evaluate_at].map(|x| {
        let mut x = x.to_vec();
        x.chunks_mut(dim)
            .for_each(|frame| crate::analysis::geometry::superpose(frame, reference));
        x
    }))
}

/// Mean and standard error of the mean.
fn mean_and_error(values: &[f64]) -> Mean {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Mean {
        mean,
        stderr: (variance / n).sqrt(),
    }
}

/// Trains (or resumes, from `run_dir`) the estimator on the pair and evaluates it: `None` when
/// interrupted (the checkpoint is saved; the same call resumes). `evaluate_at` (row-major) gets
/// log q/p in [`DreResult::log_ratio`].
#[allow(clippy::too_many_arguments)]
pub fn estimate_ratio<B: AutodiffFlowBackend>(
    config: &DreConfig,
    pair: SamplePair,
    evaluate_at: &[f64],
    seed: u64,
    run_dir: &Path,
    stop: &StopFlag,
    show_progress: bool,
    device: B::Device,
) -> Result<Option<DreResult>> {
    let dim = pair.dim;
    let aligned;
    let (pair, evaluate_at) = if config.align {
        aligned = superposed(&pair, evaluate_at)?;
        let (p, q, at) = (&aligned[0], &aligned[1], &aligned[2]);
        (SamplePair { p, q, dim }, at.as_slice())
    } else {
        (pair, evaluate_at)
    };
    let (n_p, n_q) = (pair.p.len() / dim, pair.q.len() / dim);
    let (train_p, held_p) = split(n_p, config.holdout, crate::seed::derive(seed, 1), "P")?;
    let (train_q, held_q) = split(n_q, config.holdout, crate::seed::derive(seed, 2), "Q")?;
    std::fs::create_dir_all(run_dir).map_err(|source| Error::Io {
        path: run_dir.to_owned(),
        source,
    })?;
    let mut training = DreTraining::<B>::new(
        config,
        dim,
        seed,
        rows(pair.p, dim, &train_p),
        rows(pair.q, dim, &train_q),
        run_dir,
        device.clone(),
    )?;
    if drive(&mut training, stop, u64::MAX, show_progress, TEMPLATE)? != Outcome::Finished {
        return Ok(None);
    }
    let model: DreModel<B::InnerBackend> = training.model().valid();
    let k = config.time_steps;
    let ratio_at = |x: &[f64]| chunked(x, dim, &device, |t| log_ratio(&model.ratio, t, k));
    let direct_at = |x: &[f64]| chunked(x, dim, &device, |t| logit(&model.direct_classifier, t));
    let (held_p_x, held_q_x) = (rows(pair.p, dim, &held_p), rows(pair.q, dim, &held_q));
    let negated = |v: Vec<f64>| v.into_iter().map(|x| -x).collect::<Vec<_>>();
    let mut map_cost = Vec::new();
    let cost = chunked(&held_p_x, dim, &device, |t| {
        let path = trajectory(&model.field, t, k, true);
        let shift = path.last().expect("nodes").clone() - path[0].clone();
        map_cost.extend(to_host(shift.powi_scalar(2).sum_dim(1).squeeze_dim::<1>(1)));
        path_cost(&path)
    });
    let round_trip = chunked(&held_p_x, dim, &device, |t| {
        let there = trajectory(&model.field, t.clone(), k, true)
            .pop()
            .expect("nodes");
        let back = trajectory(&model.field, there, k, false)
            .pop()
            .expect("nodes");
        (back - t).powi_scalar(2).sum_dim(1).squeeze_dim(1)
    });
    let mapped = (config.mapped_samples > 0 && !config.align).then(|| {
        let solver = SolverConfig::Rk4(Rk4Config { steps: k });
        let map = |x: &[f64], which: &[usize], t0: f64, t1: f64| {
            let index: Vec<usize> = which.iter().take(config.mapped_samples).copied().collect();
            let mut image = Vec::new();
            let log_det = chunked(&rows(x, dim, &index), dim, &device, |t| {
                let (moved, log_det) =
                    carry(&model.field, &solver, DivergenceMethod::Exact, t, t0, t1)
                        .expect("fixed-step RK4 does not fail");
                image.extend(to_host(moved));
                log_det
            });
            Mapped {
                index,
                image,
                log_det,
            }
        };
        [
            map(pair.p, &held_p, 0.0, 1.0),
            map(pair.q, &held_q, 1.0, 0.0),
        ]
    });
    Ok(Some(DreResult {
        mapped,
        log_ratio: ratio_at(evaluate_at),
        kl_pq: mean_and_error(&negated(ratio_at(&held_p_x))),
        kl_qp: mean_and_error(&ratio_at(&held_q_x)),
        classifier_kl: [
            mean_and_error(&negated(direct_at(&held_p_x))),
            mean_and_error(&direct_at(&held_q_x)),
        ],
        transport_cost: mean_and_error(&cost),
        map_cost: mean_and_error(&map_cost),
        inversion_error: round_trip.iter().sum::<f64>() / round_trip.len() as f64,
        history: training.history().to_vec(),
        held_out: [held_p, held_q],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_holds_out_a_fraction_and_refuses_tiny_sets() {
        let (train, held) = split(100, 0.25, 3, "P").unwrap();
        assert_eq!((train.len(), held.len()), (75, 25));
        let mut all: Vec<usize> = train.iter().chain(&held).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        let error = split(3, 0.25, 3, "Q").unwrap_err().to_string();
        assert!(error.contains("at least 2 samples of Q"), "{error}");
    }

    /// `align` refuses coordinates that are not 3 per atom, and superposes every set onto the
    /// first sample of P: a shifted copy of that sample lands on it.
    #[test]
    fn superposed_sets_share_the_first_sample_of_p() {
        let p = [
            0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.5, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0,
        ];
        let four = SamplePair {
            p: &p,
            q: &p,
            dim: 4,
        };
        let error = superposed(&four, &p).unwrap_err().to_string();
        assert!(error.contains("3 per atom"), "{error}");
        let shifted: Vec<f64> = p[..9].iter().map(|v| v + 5.0).collect();
        let pair = SamplePair {
            p: &p[..9],
            q: &shifted,
            dim: 9,
        };
        let [p_aligned, q_aligned, at] = superposed(&pair, &shifted).unwrap();
        for aligned in [&p_aligned, &q_aligned, &at] {
            for (a, b) in aligned.iter().zip(&p[..9]) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
    }
}
