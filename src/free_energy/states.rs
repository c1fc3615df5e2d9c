//! The thermodynamic states of a free-energy calculation: their systems and samples, and the
//! reduced energy of every sample at every state.

use super::config::FreeEnergyConfig;
use super::mbar::ReducedEnergies;
use crate::analysis::correlation::{statistical_inefficiency, subsample_indices};
use crate::analysis::{ImportanceSummary, normalised_weights, systematic_resample};
use crate::config::{SystemFile, load_system};
use crate::energy::System;
use crate::io::{dataset_exists, read_array, read_points};
use crate::{Error, Result};
use indicatif::ProgressBar;
use nalgebra::DMatrix;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One state: its system and its samples (n × dim, row-major; empty without samples).
pub struct State {
    /// The system file.
    pub file: SystemFile,
    /// The system.
    pub system: System,
    /// The samples file, if any.
    pub samples_file: Option<PathBuf>,
    /// The samples used, row-major.
    pub x: Vec<f64>,
    /// For weighted samples, how many were read before resampling.
    pub resampled_from: Option<usize>,
    /// The samples' independent trajectories: contiguous ranges, one per MD walker
    /// (`/trajectory/walker`), or one range for all.
    pub segments: Vec<Range<usize>>,
}

impl State {
    /// Number of samples used.
    pub fn n(&self) -> usize {
        self.x.len() / self.system.dim()
    }
}

/// The reduced-energy matrix and what was dropped on the way.
pub struct Evaluated {
    /// u_kn with N_k.
    pub energies: ReducedEnergies,
    /// The samples behind the columns of u_kn, row-major (N × `dim`).
    pub x: Vec<f64>,
    /// Their dimension.
    pub dim: usize,
    /// Each state's statistical inefficiency g (1 when not subsampled; NaN without samples).
    pub inefficiency: Vec<f64>,
    /// Samples dropped because their energy at their own state is not finite.
    pub dropped: usize,
    /// Energies at other states that were NaN, taken as +∞ (the sample is impossible there).
    pub nan_elsewhere: usize,
}

/// Loads every state's system and samples, resolving paths against `folder`. The systems must
/// share one dimension; weighted samples are resampled (see [`super::StateConfig::samples`]).
pub fn load_states(config: &FreeEnergyConfig, folder: &Path) -> Result<Vec<State>> {
    let mut states: Vec<State> = Vec::with_capacity(config.states.len());
    for (k, state) in config.states.iter().enumerate() {
        let (file, system) = load_system(&folder.join(&state.system))?;
        if let Some(first) = states.first()
            && first.system.dim() != system.dim()
        {
            return Err(Error::Shape {
                what: format!("the system of state {k} ({})", file.path.display()),
                expected: format!("dimension {} (as state 0)", first.system.dim()),
                found: format!("dimension {}", system.dim()),
            });
        }
        let samples_file = state.samples.as_ref().map(|s| folder.join(s));
        let (x, resampled_from) = match &samples_file {
            Some(path) => read_samples(path, &system, crate::seed::derive(config.seed, k as u64))?,
            None => (Vec::new(), None),
        };
        let n = x.len() / system.dim();
        let segments = match &samples_file {
            Some(path) if resampled_from.is_none() => walker_segments(path, n)?,
            _ => std::iter::once(0..n).collect(),
        };
        states.push(State {
            file,
            system,
            samples_file,
            x,
            resampled_from,
            segments,
        });
    }
    Ok(states)
}

/// Reads a state's samples, checking their dimension; weighted samples are resampled.
fn read_samples(path: &Path, system: &System, seed: u64) -> Result<(Vec<f64>, Option<usize>)> {
    let points = read_points(path)?;
    if points.dim != system.dim() {
        return Err(Error::Shape {
            what: format!("the samples in {}", path.display()),
            expected: format!("points of dimension {} (the system's)", system.dim()),
            found: format!("dimension {}", points.dim),
        });
    }
    if points.n == 0 {
        return Err(Error::InvalidArgument(format!(
            "{} holds no samples",
            path.display()
        )));
    }
    if !dataset_exists(path, "samples/log_w")? {
        return Ok((points.data, None));
    }
    let (log_w, _) = read_array(path, "samples/log_w")?;
    if log_w.len() != points.n {
        return Err(Error::Shape {
            what: format!("/samples/log_w in {}", path.display()),
            expected: format!("{} values, one per sample", points.n),
            found: format!("{} values", log_w.len()),
        });
    }
    let first = log_w[0];
    if log_w.iter().all(|&v| v == first) && first.is_finite() {
        return Ok((points.data, None));
    }
    let summary = ImportanceSummary::from_log_weights(&log_w);
    let m = ((summary.ess * points.n as f64).round() as usize).max(1);
    let picked = systematic_resample(&normalised_weights(&log_w), m, seed);
    let dim = points.dim;
    let x = picked
        .iter()
        .flat_map(|&i| points.data[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    Ok((x, Some(points.n)))
}

/// The contiguous runs of equal `/trajectory/walker` in an MD output (one range for all `n`
/// samples when the file has none).
fn walker_segments(path: &Path, n: usize) -> Result<Vec<Range<usize>>> {
    if !dataset_exists(path, "trajectory/walker")? {
        return Ok(std::iter::once(0..n).collect());
    }
    let (walker, _) = read_array(path, "trajectory/walker")?;
    if walker.len() != n {
        return Err(Error::Shape {
            what: format!("/trajectory/walker in {}", path.display()),
            expected: format!("{n} values, one per sample"),
            found: format!("{} values", walker.len()),
        });
    }
    let mut segments = Vec::new();
    let mut start = 0;
    for i in 1..=n {
        if i == n || walker[i] != walker[start] {
            segments.push(start..i);
            start = i;
        }
    }
    Ok(segments)
}

/// The statistical inefficiency of a state's own reduced energies (the largest over its
/// segments, over their finite values) and the indices of the samples that thin them.
fn thin(own: &[f64], segments: &[Range<usize>]) -> (f64, Vec<usize>) {
    let g = segments
        .iter()
        .map(|r| {
            let finite: Vec<f64> = own[r.clone()]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            statistical_inefficiency(&finite)
        })
        .fold(1.0, f64::max);
    let keep = segments
        .iter()
        .flat_map(|r| {
            subsample_indices(r.len(), g)
                .into_iter()
                .map(move |i| r.start + i)
        })
        .collect();
    (g, keep)
}

/// The reduced energy of every state's samples at every state (K × N, samples in state order),
/// advancing `progress` by the points evaluated (its length grows as the thinned sizes become
/// known). With `subsample`, each state's samples are
/// thinned to nearly independent ones first (see [`super::FreeEnergyConfig::subsample`]). A
/// sample whose energy at its own state is not finite is dropped; a NaN at another state
/// becomes +∞.
pub fn reduced_energies(
    states: &[State],
    subsample: bool,
    progress: &ProgressBar,
) -> Result<Evaluated> {
    let k = states.len();
    let mut columns: Vec<f64> = Vec::new();
    let mut positions: Vec<f64> = Vec::new();
    let mut n_k = vec![0; k];
    let mut inefficiency = vec![f64::NAN; k];
    let (mut dropped, mut nan_elsewhere) = (0, 0);
    progress.set_length(states.iter().map(State::n).sum::<usize>() as u64);
    for (own, state) in states.iter().enumerate() {
        if state.x.is_empty() {
            continue;
        }
        // The own state first: it decides which samples are kept (thinning, finite energy);
        // only those are evaluated at the other states.
        let own_u = state.system.evaluate(&state.x, false)?.u;
        progress.inc(state.n() as u64);
        let (g, thinned) = if subsample {
            thin(&own_u, &state.segments)
        } else {
            (1.0, (0..state.n()).collect())
        };
        inefficiency[own] = g;
        let thinned_len = thinned.len();
        let keep: Vec<usize> = thinned
            .into_iter()
            .filter(|&n| own_u[n].is_finite())
            .collect();
        dropped += thinned_len - keep.len();
        progress.inc_length((keep.len() * (k - 1)) as u64);
        let dim = state.system.dim();
        let x: Vec<f64> = keep
            .iter()
            .flat_map(|&n| state.x[n * dim..(n + 1) * dim].iter().copied())
            .collect();
        let at: Vec<Vec<f64>> = states
            .iter()
            .enumerate()
            .map(|(other, s)| {
                if other == own {
                    return Ok(keep.iter().map(|&n| own_u[n]).collect());
                }
                let u = s.system.evaluate(&x, false).map(|e| e.u);
                progress.inc(keep.len() as u64);
                u
            })
            .collect::<Result<_>>()?;
        n_k[own] = keep.len();
        positions.extend_from_slice(&x);
        for n in 0..keep.len() {
            columns.extend(at.iter().map(|u| {
                if u[n].is_nan() {
                    nan_elsewhere += 1;
                    f64::INFINITY
                } else {
                    u[n]
                }
            }));
        }
    }
    let n: usize = n_k.iter().sum();
    let energies = ReducedEnergies::new(DMatrix::from_vec(k, n, columns), n_k)?;
    Ok(Evaluated {
        energies,
        x: positions,
        dim: states[0].system.dim(),
        inefficiency,
        dropped,
        nan_elsewhere,
    })
}
