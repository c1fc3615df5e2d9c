//! Reweighted samples of a trained flow, and the file that holds them with their estimates.
//!
//! `boltzflow sample` draws from a run's flow (optionally carried on by AIS toward p), weighs
//! every point by log w = −u − log q (or its AIS weight), and writes `/samples/…` and
//! `/estimates` (reverse ESS, log Ẑ ± standard error, non-finite count; the forward ESS and
//! KL when the system has an exact sampler).

use crate::Result;
use crate::analysis::{ForwardSummary, ImportanceSummary};
use crate::config::SystemFile;
use crate::energy::System;
use crate::flow::set_precision;
use crate::io::{OutputFile, RunInfo};
use crate::sampling::{Ais, AisConfig, AisOutput, LogDensity};
use crate::train::{
    Checkpoint, FlowDensity, ModelConfig, ObjectiveConfig, ObjectiveState, RunManifest,
    TargetDensity, internal_densities,
};
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use std::path::{Path, PathBuf};

/// Stream index of the exact samples used for the forward estimates.
const FORWARD_STREAM: u64 = 1;
/// Stream index of the AIS transitions.
const AIS_STREAM: u64 = 2;
/// Chains per warm-up round of `sample --ais`.
const WARMUP_CHAINS: usize = 256;

/// Points with their energies and, for a sampler with a density, their log q and weights.
pub struct WeightedSamples {
    /// Points, row-major `n × dim`.
    pub x: Vec<f64>,
    /// Coordinates per point.
    pub dim: usize,
    /// Reduced energies.
    pub u: Vec<f64>,
    /// The sampler's log density and the log importance weights, when known.
    pub weights: Option<Weights>,
}

/// Log densities and weights of a sample set.
pub struct Weights {
    /// The flow's log q at each point.
    pub log_q: Vec<f64>,
    /// Log importance weights (−u − log q, or AIS weights).
    pub log_w: Vec<f64>,
    /// AIS chains dropped for a non-finite weight: zero weights that are not in the file but
    /// count in the estimates (so Ẑ stays unbiased).
    pub n_dropped: usize,
}

/// Estimates beyond the importance summary, when they can be made.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExtraEstimates {
    /// Forward ESS and KL, from exact samples of the target.
    pub forward: Option<ForwardSummary>,
    /// log Z from ∫ C dt of the PDE objective.
    pub log_z_pde: Option<f64>,
}

/// How `boltzflow sample` draws.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    /// Number of flow samples (AIS chains with `ais`).
    pub n: usize,
    /// Carry the flow samples toward p by AIS, with the run's FAB AIS settings (or the
    /// defaults) and its adapted step sizes.
    pub ais: bool,
    /// Warm-up AIS rounds (of 256 chains) that adapt the step sizes to the path toward p
    /// before the final run.
    pub ais_warmup: usize,
    /// Random seed.
    pub seed: u64,
    /// Exact target samples for the forward estimates (when the system has a sampler).
    pub forward_samples: usize,
}

/// Samples the flow of the run in `run_dir` and writes the reweighted samples to `output`.
/// With AIS, the AIS step sizes of the run's FAB objective are used as adapted in training.
pub fn sample_run<B: AutodiffBackend>(
    run_dir: &Path,
    options: &SampleOptions,
    output: &Path,
    device: &B::Device,
) -> Result<PathBuf> {
    let manifest = RunManifest::read(run_dir)?;
    let config = manifest.train_config()?;
    let file = SystemFile::read(&manifest.system_file)?;
    let system = file.load()?;
    set_precision::<B>(device, config.precision)?;
    let checkpoint = Checkpoint::of_run(run_dir);
    let model_config: ModelConfig = checkpoint.model_config()?;
    let flow = checkpoint.load_model(model_config.init::<B>(device)?, device)?;
    B::seed(device, options.seed);
    let q = FlowDensity::new(&flow, device);
    let target = TargetDensity(&system);
    let samples = if options.ais {
        let (ais_config, step_sizes) = evaluation_ais(&config.objectives, &checkpoint)?;
        let mut ais = Ais::new(ais_config)?;
        if let Some(step_sizes) = step_sizes {
            ais.set_step_sizes(&step_sizes)?;
        }
        match flow.split_internal() {
            // FAB's AIS of a molecular flow runs on its internal coordinates (where the saved
            // step sizes were adapted); the chains' end points are mapped back to positions.
            Some((latent, layer)) => {
                let (q_z, target_z) = internal_densities(&latent, &layer, &system, device);
                let mut out = annealed(
                    &mut ais,
                    &q_z,
                    &|n| q_z.inner().sample(n),
                    &target_z,
                    options,
                )?;
                q_z.wrap(&mut out.x);
                let x = target_z.positions(&out.x);
                WeightedSamples {
                    u: system.evaluate(&x, false)?.u,
                    weights: Some(Weights {
                        log_q: q.log_density(&x, None)?,
                        log_w: out.log_w,
                        n_dropped: out.n_dropped,
                    }),
                    x,
                    dim: system.dim(),
                }
            }
            None => {
                let out = annealed(&mut ais, &q, &|n| q.sample(n), &target, options)?;
                WeightedSamples {
                    x: out.x,
                    dim: system.dim(),
                    u: out.log_p.iter().map(|log_p| -log_p).collect(),
                    weights: Some(Weights {
                        log_q: out.log_q,
                        log_w: out.log_w,
                        n_dropped: out.n_dropped,
                    }),
                }
            }
        }
    } else {
        let (x0, log_q0) = q.sample(options.n);
        let u = system.evaluate(&x0, false)?.u;
        let log_w = u.iter().zip(&log_q0).map(|(u, lq)| -u - lq).collect();
        WeightedSamples {
            x: x0,
            dim: system.dim(),
            u,
            weights: Some(Weights {
                log_q: log_q0,
                log_w,
                n_dropped: 0,
            }),
        }
    };
    let extra = ExtraEstimates {
        forward: forward_estimates(&system, &q, &samples, options)?,
        log_z_pde: config
            .objectives
            .iter()
            .any(|o| matches!(o, ObjectiveConfig::Pde { .. }))
            .then(|| flow.continuous().map(|m| m.log_z_integral()))
            .flatten(),
    };
    let info = RunInfo::new("sample", Some(options.seed), &file, &system);
    write_samples(output, &info, &samples, &extra)
}

/// `options.n` chains of AIS from q (drawn by `sample`) toward p, after `options.ais_warmup`
/// warm-up rounds that adapt the step sizes to this path. Training adapted them on the path to
/// p²/q; the final run keeps them fixed, so its weights stay unbiased.
fn annealed(
    ais: &mut Ais,
    q: &dyn LogDensity,
    sample: &dyn Fn(usize) -> (Vec<f64>, Vec<f64>),
    target: &dyn LogDensity,
    options: &SampleOptions,
) -> Result<AisOutput> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(crate::seed::derive(options.seed, AIS_STREAM));
    for _ in 0..options.ais_warmup {
        let (x, log_q) = sample(WARMUP_CHAINS);
        ais.run(q, target, 1.0, x, Some(log_q), &mut rng)?;
    }
    let (x0, log_q0) = sample(options.n);
    ais.run(q, target, 1.0, x0, Some(log_q0), &mut rng)
}

/// The AIS of the run's first FAB objective (with its adapted step sizes), or the defaults.
fn evaluation_ais(
    objectives: &[ObjectiveConfig],
    checkpoint: &Checkpoint,
) -> Result<(AisConfig, Option<Vec<f64>>)> {
    let state = checkpoint.state()?;
    for (index, objective) in objectives.iter().enumerate() {
        if let ObjectiveConfig::Fab { ais, .. } = objective {
            let step_sizes = match state.objectives.get(index) {
                Some(ObjectiveState::Fab(fab)) => Some(fab.step_sizes.clone()),
                _ => None,
            };
            return Ok((ais.clone(), step_sizes));
        }
    }
    Ok((AisConfig::default(), None))
}

/// Forward ESS and KL from exact target samples, when the system has a sampler. log Z is the
/// exact one when the plugin knows it, else the importance-sampling estimate.
fn forward_estimates(
    system: &System,
    q: &impl LogDensity,
    samples: &WeightedSamples,
    options: &SampleOptions,
) -> Result<Option<ForwardSummary>> {
    if !system.has_exact_sampler() || options.forward_samples == 0 {
        return Ok(None);
    }
    let Some(weights) = &samples.weights else {
        return Ok(None);
    };
    let x = system.sample_exact(
        options.forward_samples,
        crate::seed::derive(options.seed, FORWARD_STREAM),
    )?;
    let u = system.evaluate(&x, false)?.u;
    let log_q = q.log_density(&x, None)?;
    let log_w: Vec<f64> = u.iter().zip(&log_q).map(|(u, lq)| -u - lq).collect();
    let log_z = system
        .log_z()
        .unwrap_or_else(|| importance_summary(weights).log_z);
    Ok(Some(ForwardSummary::from_log_weights(&log_w, log_z)))
}

/// The importance summary of the weights, dropped AIS chains counted as zero weights.
fn importance_summary(weights: &Weights) -> ImportanceSummary {
    let mut log_w = weights.log_w.clone();
    log_w.extend(std::iter::repeat_n(f64::NEG_INFINITY, weights.n_dropped));
    ImportanceSummary::from_log_weights(&log_w)
}

/// Writes a sample file: `/samples/x`, `/samples/u` (for molecules also `/samples/positions`
/// `[n, atoms, 3]` in nm), and, with weights, `/samples/log_q`, `/samples/log_w` and the
/// `/estimates` they give. Prints the estimates.
pub fn write_samples(
    output: &Path,
    info: &RunInfo,
    samples: &WeightedSamples,
    extra: &ExtraEstimates,
) -> Result<PathBuf> {
    let n = samples.u.len();
    let out = OutputFile::create(output)?;
    out.write_run_info(info)?;
    out.write_array("samples/x", &samples.x, &[n, samples.dim])?;
    if let Some(atoms) = info.atoms {
        // The same values as Cartesian positions, for mdtraj, MDAnalysis and `analyze`.
        out.write_array("samples/positions", &samples.x, &[n, atoms, 3])?;
    }
    out.write_array("samples/u", &samples.u, &[n])?;
    if let Some(weights) = &samples.weights {
        let summary = importance_summary(weights);
        out.write_array("samples/log_q", &weights.log_q, &[n])?;
        out.write_array("samples/log_w", &weights.log_w, &[n])?;
        out.set_f64("estimates", "ess", summary.ess)?;
        out.set_f64("estimates", "log_z", summary.log_z)?;
        out.set_f64("estimates", "log_z_stderr", summary.log_z_stderr)?;
        out.set_u64("estimates", "n_nonfinite", summary.n_nonfinite as u64)?;
        out.set_u64("estimates", "n_dropped", weights.n_dropped as u64)?;
        let mut line = format!(
            "reverse ESS {:.4}, log Z = {:.5} ± {:.5}",
            summary.ess, summary.log_z, summary.log_z_stderr
        );
        if let Some(forward) = extra.forward {
            out.set_f64("estimates", "ess_forward", forward.ess)?;
            out.set_f64("estimates", "forward_kl", forward.kl)?;
            line += &format!(
                ", forward ESS {:.4}, KL(p‖q) {:.4}",
                forward.ess, forward.kl
            );
        }
        if let Some(log_z_pde) = extra.log_z_pde {
            out.set_f64("estimates", "log_z_pde", log_z_pde)?;
            line += &format!(", ∫C dt log Z {log_z_pde:.5}");
        }
        eprintln!("{line}");
    }
    out.commit()
}
