//! Running the configured estimators on the evaluated samples.

use super::config::EstimatorConfig;
use super::dre::{DreConfig, DreResult, SamplePair, estimate_ratio};
use super::{Estimate, Evaluated, Mbar, ReducedEnergies, State, bar, exponential_averaging};
use crate::backend::AutodiffFlowBackend;
use crate::job::StopFlag;
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;

/// What one estimator found.
pub struct EstimatorResult {
    /// The estimator.
    pub estimator: EstimatorConfig,
    /// Δf from the first state to the last.
    pub total: Estimate,
    /// Δf between consecutive states (i → i + 1).
    pub pairs: Vec<Estimate>,
    /// MBAR's full solution, for MBAR.
    pub mbar: Option<Mbar>,
    /// The density-ratio estimator's results per pair, for `Dre`.
    pub dre: Vec<DreResult>,
    /// For `Dre`, Δf per pair by BAR on the works of the flow's map (targeted free-energy
    /// perturbation); empty when `mapped_samples` is 0.
    pub mapped_bar: Vec<Estimate>,
    /// For `Dre`, per pair, how far the learned ratio is from exact (what the free energy's
    /// error bar does not include).
    pub ratio_checks: Vec<RatioCheck>,
}

/// What the density-ratio estimator needs beyond the energies.
pub struct DreContext<B: AutodiffFlowBackend> {
    /// Where each pair's training run lives (`pair_I` inside); rerunning resumes it.
    pub runs: PathBuf,
    /// Seed of the holdout split, batches and initial weights.
    pub seed: u64,
    /// Ctrl-C.
    pub stop: StopFlag,
    /// Whether to show progress bars.
    pub show_progress: bool,
    /// Where the networks run.
    pub device: B::Device,
}

/// Runs `estimator` on the evaluated samples. The two-state estimators chain consecutive
/// states: their Δf add, and so do their variances (the pairs use disjoint samples only for BAR
/// between two states; a chain's error is then the usual approximation).
pub fn run_estimator<B: AutodiffFlowBackend>(
    estimator: &EstimatorConfig,
    states: &[State],
    evaluated: &Evaluated,
    dre: &DreContext<B>,
) -> Result<EstimatorResult> {
    let energies = &evaluated.energies;
    let k = energies.states();
    let (mut dre_results, mut mapped_bar, mut ratio_checks) = (Vec::new(), Vec::new(), Vec::new());
    let (pairs, mbar): (Vec<Estimate>, _) = match estimator {
        EstimatorConfig::ExpForward => (
            (0..k - 1)
                .map(|i| exponential_averaging(&energies.work(i, i + 1)))
                .collect(),
            None,
        ),
        EstimatorConfig::ExpReverse => (
            (0..k - 1)
                .map(|i| {
                    let e = exponential_averaging(&energies.work(i + 1, i));
                    Estimate {
                        delta_f: -e.delta_f,
                        stderr: e.stderr,
                    }
                })
                .collect(),
            None,
        ),
        EstimatorConfig::Bar => (
            (0..k - 1)
                .map(|i| bar(&energies.work(i, i + 1), &energies.work(i + 1, i)))
                .collect::<Result<_>>()?,
            None,
        ),
        EstimatorConfig::Mbar => {
            let mbar = Mbar::solve(energies)?;
            (
                (0..k - 1).map(|i| mbar.delta_f(i, i + 1)).collect(),
                Some(mbar),
            )
        }
        EstimatorConfig::Dre(config) => {
            let mut pairs = Vec::new();
            for i in 0..k - 1 {
                let result = dre_pair(config, evaluated, i, dre)?;
                let (delta_f, check) = dre_delta_f(config, energies, i, &result, dre.seed)?;
                pairs.push(delta_f);
                ratio_checks.push(check);
                if let Some(mapped) = &result.mapped {
                    mapped_bar.push(targeted_bar(states, evaluated, i, mapped)?);
                }
                dre_results.push(result);
            }
            (pairs, None)
        }
    };
    let total = match &mbar {
        Some(mbar) => mbar.delta_f(0, k - 1),
        None => chained(&pairs),
    };
    Ok(EstimatorResult {
        estimator: estimator.clone(),
        total,
        pairs,
        mbar,
        dre: dre_results,
        mapped_bar,
        ratio_checks,
    })
}

/// Δf from state `i` to `i + 1` by BAR on the works of the flow's map T (targeted free-energy
/// perturbation): w_F = u_{i+1}(T x) − u_i(x) − log|det ∂T/∂x| on samples x of state i, and
/// w_R = u_i(T⁻¹y) − u_{i+1}(y) − log|det ∂T⁻¹/∂y| on samples y of state i + 1.
fn targeted_bar(
    states: &[State],
    evaluated: &Evaluated,
    i: usize,
    mapped: &[super::dre::Mapped; 2],
) -> Result<Estimate> {
    let energies = &evaluated.energies;
    let u = energies.matrix();
    let works = |from: usize, to: usize, m: &super::dre::Mapped| -> Result<Vec<f64>> {
        let at_image = states[to].system.evaluate(&m.image, false)?.u;
        let start = columns(energies, from).start;
        Ok(m.index
            .iter()
            .zip(at_image)
            .zip(&m.log_det)
            .map(|((&n, u_to), log_det)| u_to - u[(from, start + n)] - log_det)
            .map(|w| if w.is_nan() { f64::INFINITY } else { w })
            .collect())
    };
    bar(&works(i, i + 1, &mapped[0])?, &works(i + 1, i, &mapped[1])?)
}

/// The sum of a chain of consecutive differences, with their variances added.
pub fn chained(pairs: &[Estimate]) -> Estimate {
    Estimate {
        delta_f: pairs.iter().map(|p| p.delta_f).sum(),
        stderr: pairs
            .iter()
            .map(|p| p.stderr * p.stderr)
            .sum::<f64>()
            .sqrt(),
    }
}

/// The columns of state `i`'s samples in the reduced-energy matrix.
fn columns(energies: &ReducedEnergies, i: usize) -> std::ops::Range<usize> {
    let start: usize = energies.counts()[..i].iter().sum();
    start..start + energies.counts()[i]
}

/// Trains (or resumes) the density-ratio estimator between states `i` and `i + 1` and
/// evaluates log q/p at every sample of every state.
fn dre_pair<B: AutodiffFlowBackend>(
    config: &DreConfig,
    evaluated: &Evaluated,
    i: usize,
    dre: &DreContext<B>,
) -> Result<DreResult> {
    let dim = evaluated.dim;
    let rows = |r: std::ops::Range<usize>| &evaluated.x[r.start * dim..r.end * dim];
    let pair = SamplePair {
        p: rows(columns(&evaluated.energies, i)),
        q: rows(columns(&evaluated.energies, i + 1)),
        dim,
    };
    let run_dir = dre.runs.join(format!("pair_{i}"));
    estimate_ratio::<B>(
        config,
        pair,
        &evaluated.x,
        crate::seed::derive(dre.seed, i as u64),
        &run_dir,
        &dre.stop,
        dre.show_progress,
        dre.device.clone(),
    )?
    .ok_or_else(|| {
        Error::Interrupted(format!(
            "the density-ratio estimator was interrupted; its checkpoint is in {}: run the same \
             command again to resume",
            run_dir.display()
        ))
    })
}

/// How far the learned ratio is from exact, where energies tell: log q/p + u_{i+1} − u_i is Δf
/// at every sample for an exact ratio.
#[derive(Clone, Copy, Debug)]
pub struct RatioCheck {
    /// The standard deviation of log q/p + Δu over the held-out samples of both states: 0 for
    /// an exact ratio, otherwise about the ratio's RMS error.
    pub residual_sd: f64,
    /// The mean of log q/p + Δu over the held-out samples of each state alone: equal for an
    /// exact ratio; their difference shows the ratio's bias on one side (typically where one
    /// state's samples lie in the other's tails).
    pub delta_f_by_state: [f64; 2],
}

/// Δf from state `i` to `i + 1` as the mean of log q/p + u_{i+1} − u_i over the held-out samples
/// of both states (each term is Δf exactly where the ratio is exact), with a bootstrap error
/// over those samples. The error covers the samples' noise, not the training's; the
/// [`RatioCheck`] beside it measures the training's.
fn dre_delta_f(
    config: &DreConfig,
    energies: &ReducedEnergies,
    i: usize,
    result: &DreResult,
    seed: u64,
) -> Result<(Estimate, RatioCheck)> {
    let u = energies.matrix();
    let by_state: Vec<Vec<f64>> = [i, i + 1]
        .iter()
        .zip(&result.held_out)
        .map(|(&state, held)| {
            let start = columns(energies, state).start;
            held.iter()
                .map(|&n| result.log_ratio[start + n] + u[(i + 1, start + n)] - u[(i, start + n)])
                .filter(|v| v.is_finite())
                .collect()
        })
        .collect();
    if by_state.iter().any(|v| v.len() < 2) {
        return Err(Error::InvalidArgument(format!(
            "Dre: states {i} and {} need at least 2 held-out samples each with finite energies \
             at both",
            i + 1
        )));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let values = by_state.concat();
    let n = values.len();
    let delta_f = mean(&values);
    let spread =
        (values.iter().map(|v| (v - delta_f).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(crate::seed::derive(seed, 1000 + i as u64));
    let resampled: Vec<f64> = (0..config.bootstrap)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    let centre = mean(&resampled);
    let variance =
        resampled.iter().map(|v| (v - centre).powi(2)).sum::<f64>() / (resampled.len() - 1) as f64;
    Ok((
        Estimate {
            delta_f,
            stderr: variance.sqrt(),
        },
        RatioCheck {
            residual_sd: spread,
            delta_f_by_state: [mean(&by_state[0]), mean(&by_state[1])],
        },
    ))
}
