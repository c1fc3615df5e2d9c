//! `boltzflow sample`: reweighted samples of a trained flow.
//!
//! Draws from a run's flow (optionally carried on by AIS toward p), weighs every point by
//! log w = −u − log q (or its AIS weight), and writes the samples file (`/samples/…` and
//! `/estimates`: reverse ESS, log Ẑ ± standard error, non-finite count; the forward ESS and KL
//! when the system has an exact sampler; ∫C dt for a run trained with the PDE objective).

use super::{check_memory, report_nonfinite};
use crate::analysis::ForwardSummary;
use crate::backend::{AutodiffFlowBackend, DeviceKind, OnDevice, run_on};
use crate::densities::{FlowDensity, McmcSpace};
use crate::energy::System;
use crate::io::{ExtraEstimates, RunInfo, WeightedSamples, Weights, check_output, write_samples};
use crate::job::StopFlag;
use crate::parallel::{Ranks, Single, agree};
use crate::run::RunDir;
use crate::sampling::{Ais, AisConfig, AisOutput, LogDensity};
use crate::seed::Stream;
use crate::train::{ObjectiveConfig, TargetEnergies, rate_integrals};
use crate::{Error, Result};
use burn::module::AutodiffModule;
use rand::SeedableRng;
use std::path::{Path, PathBuf};

/// Chains per warm-up round of `sample --ais`.
const WARMUP_CHAINS: usize = 256;
/// Flow samples per block. Each block is drawn from its own seed ([`Stream::SampleBlock`]), so
/// the samples are the same however the blocks are shared among MPI ranks; Ctrl-C is checked
/// between blocks.
const BLOCK: usize = 8192;
/// Flow samples (their own, whatever `-n`) carried through the Gauss–Legendre times of the
/// reweighted ∫C dt.
const RATE_SAMPLES: usize = 4096;
/// Gauss–Legendre times of the reweighted ∫C dt.
const RATE_NODES: usize = 16;

/// Sample a trained flow and reweight the samples to the system's Boltzmann distribution. Under
/// `mpirun -np R` (a build with `--features mpi`) the R ranks draw the samples' blocks in shares
/// and rank 0 writes the file, the same as one process's.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run folder of `boltzflow train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Number of samples.
    #[arg(short = 'n', long)]
    pub n: usize,
    /// HDF5 file to write (/samples/x, /samples/log_q, /samples/u, /samples/log_w, /estimates).
    #[arg(long)]
    pub output: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Carry the flow samples toward the target by annealed importance sampling (the run's
    /// FAB settings and adapted step sizes; the defaults otherwise).
    #[arg(long)]
    pub ais: bool,
    /// With --ais: warm-up rounds of 256 chains that adapt the AIS step sizes to the path
    /// toward the target before the final run (whose step sizes stay fixed).
    #[arg(long, default_value_t = 10)]
    pub ais_warmup: usize,
    /// Exact target samples for the forward ESS and KL, when the system has a sampler.
    #[arg(long, default_value_t = 100_000)]
    pub forward_samples: usize,
    /// Where the flow runs.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let ranks = crate::parallel::world()?;
    let options = SampleOptions {
        n: args.n,
        ais: args.ais,
        ais_warmup: args.ais_warmup,
        seed: args.seed,
        forward_samples: args.forward_samples,
    };
    let written = run_on(
        args.device,
        Sampling {
            run: &args.run,
            options: &options,
            output: &args.output,
            stop: StopFlag::ctrl_c(),
            ranks: ranks.as_ref(),
        },
    )?;
    if !ranks.is_root() {
        return Ok(());
    }
    let how = if options.ais { "flow + AIS" } else { "flow" };
    eprintln!("wrote {} {how} samples to {}", options.n, written.display());
    Ok(())
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

/// The sampling, generic over the backend.
struct Sampling<'a> {
    run: &'a Path,
    options: &'a SampleOptions,
    output: &'a Path,
    stop: StopFlag,
    ranks: &'a dyn Ranks,
}

impl OnDevice for Sampling<'_> {
    type Output = PathBuf;
    fn run<B: AutodiffFlowBackend>(self, device: B::Device) -> Result<PathBuf> {
        let Sampling {
            run,
            options,
            output,
            stop,
            ranks,
        } = self;
        sample_run_until::<B>(run, options, output, &device, &stop, ranks)
    }
}

/// Samples the flow of the run in `run_dir` and writes the reweighted samples to `output`.
/// With AIS, the AIS step sizes of the run's FAB objective are used as adapted in training.
pub fn sample_run<B: AutodiffFlowBackend>(
    run_dir: &Path,
    options: &SampleOptions,
    output: &Path,
    device: &B::Device,
) -> Result<PathBuf> {
    sample_run_until::<B>(run_dir, options, output, device, &StopFlag::new(), &Single)
}

/// [`sample_run`] over `ranks` (rank 0 writes), abandoned (nothing written) when `stop` is set
/// on any rank.
fn sample_run_until<B: AutodiffFlowBackend>(
    run_dir: &Path,
    options: &SampleOptions,
    output: &Path,
    device: &B::Device,
    stop: &StopFlag,
    ranks: &dyn Ranks,
) -> Result<PathBuf> {
    if options.n == 0 {
        return Err(Error::InvalidArgument(
            "-n 0: ask for at least one sample".to_owned(),
        ));
    }
    let opened = RunDir::open(run_dir)?;
    check_output(output, &[])?;
    let system = &opened.system;
    if options.ais && !system.has_energy() {
        return Err(Error::InvalidArgument(format!(
            "--ais anneals toward exp(-u), but the run's system ({}) has no energy of its own; \
             sample the model without --ais",
            system.metadata().system
        )));
    }
    if options.ais && ranks.size() > 1 {
        return Err(Error::InvalidArgument(
            "sample --ais does not run over several MPI ranks yet: run it as one process"
                .to_owned(),
        ));
    }
    let dim = system.dim();
    // MPI counts values in 32-bit integers: rank 0 gathers each rank's share in one message.
    if ranks.size() > 1 && options.n.div_ceil(ranks.size()).saturating_mul(dim) > i32::MAX as usize
    {
        return Err(Error::InvalidArgument(format!(
            "-n {} over {} MPI ranks is more than 2³¹ numbers per rank for MPI's gather; use more \
             ranks, or several runs of `sample` with different seeds",
            options.n,
            ranks.size()
        )));
    }
    // x, positions, u, log q, log w; the flow's tensors take about as much again.
    check_memory(
        options.n.saturating_mul(2 * dim + 3).saturating_mul(8),
        &format!("-n {}", options.n),
    )?;
    check_memory(
        options
            .forward_samples
            .saturating_mul(dim + 3)
            .saturating_mul(8),
        &format!("--forward-samples {}", options.forward_samples),
    )?;
    let flow = opened.load_model::<B>(device)?;
    B::seed(device, options.seed);
    let q = FlowDensity::new(&flow, device);
    let samples = if options.ais {
        let (ais_config, step_sizes) = evaluation_ais(&opened)?;
        let mut ais = Ais::new(ais_config)?;
        if let Some(step_sizes) = step_sizes {
            ais.set_step_sizes(&step_sizes)?;
        }
        ais.set_stop(stop.clone());
        let space = McmcSpace::of(&flow, system, device);
        let mut out = annealed(&mut ais, &space, options)?;
        space.canonicalise(&mut out.x);
        let x = space.positions(&out.x);
        let eval = system.evaluate(&x, false)?;
        report_nonfinite(eval.n_nonfinite, out.log_w.len());
        WeightedSamples {
            u: eval.u,
            weights: Some(Weights {
                log_q: q.log_density(&x, None)?,
                log_w: out.log_w,
                n_dropped: out.n_dropped,
            }),
            x,
            dim,
        }
    } else {
        let Some(drawn) = drawn_on_ranks(&q, system, options, device, stop, ranks)? else {
            return Ok(output.to_owned());
        };
        let Drawn { x, log_q, u } = drawn;
        // Without an energy there is nothing to reweight toward: the model's own samples.
        let weights = system.has_energy().then(|| Weights {
            log_w: u.iter().zip(&log_q).map(|(u, lq)| -u - lq).collect(),
            log_q,
            n_dropped: 0,
        });
        WeightedSamples { x, dim, u, weights }
    };
    stop.check("sampling (nothing was written)")?;
    let extra = ExtraEstimates {
        forward: forward_estimates(system, &q, &samples, options)?,
        log_z_pde: match flow.continuous() {
            Some(model) if trained_by_pde(&opened) => {
                B::seed(device, Stream::RateSamples.seed(options.seed));
                let target = |x: &[f64]| -> TargetEnergies { system.energy_and_gradient(x) };
                Some(rate_integrals(
                    &model.clone().valid(),
                    RATE_SAMPLES,
                    RATE_NODES,
                    &target,
                )?)
            }
            _ => None,
        },
    };
    let info = RunInfo::new("sample", Some(options.seed), &opened.system_file, system);
    write_samples(output, &info, &samples, &extra)
}

/// Flow samples with their log q (empty without an energy) and u, in block order.
struct Drawn {
    x: Vec<f64>,
    log_q: Vec<f64>,
    u: Vec<f64>,
}

/// `options.n` flow samples with u, block by block ([`BLOCK`], each from its own seed), each
/// rank its share of the blocks; gathered on rank 0 (`None` on the others). Reports non-finite
/// energies.
fn drawn_on_ranks<B: AutodiffFlowBackend>(
    q: &FlowDensity<B, crate::train::Model<B>>,
    system: &System,
    options: &SampleOptions,
    device: &B::Device,
    stop: &StopFlag,
    ranks: &dyn Ranks,
) -> Result<Option<Drawn>> {
    let blocks = options.n.div_ceil(BLOCK);
    let mine = ranks.share(blocks);
    let progress = super::progress_bar(options.n as u64, "sampling");
    if !ranks.is_root() {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (mut x, mut log_q, mut u) = (Vec::new(), Vec::new(), Vec::new());
    let mut n_nonfinite = 0.0;
    // Every rank takes part in as many rounds as the largest share has blocks (the collective
    // operations must match).
    for round in 0..blocks.div_ceil(ranks.size()) {
        if ranks.any(stop.is_set()) {
            return Err(Error::Interrupted(
                "sampling (nothing was written)".to_owned(),
            ));
        }
        let block = mine.clone().nth(round);
        let drawn = block.map_or(Ok(()), |b| {
            let m = BLOCK.min(options.n - b * BLOCK);
            B::seed(device, Stream::SampleBlock(b as u64).seed(options.seed));
            // Without an energy there are no weights: log q is not needed.
            let (x0, log_q0) = if system.has_energy() {
                q.sample(m)
            } else {
                (q.sample_points(m), Vec::new())
            };
            let eval = system.evaluate(&x0, false)?;
            n_nonfinite += eval.n_nonfinite as f64;
            x.extend(x0);
            log_q.extend(log_q0);
            u.extend(eval.u);
            Ok(())
        });
        agree(ranks, drawn)?;
        progress.set_position(options.n.min((round + 1) * BLOCK * ranks.size()) as u64);
    }
    progress.finish_and_clear();
    let mut counts = [n_nonfinite];
    ranks.all_sum(&mut counts);
    let (x, log_q, u) = (ranks.gather(x), ranks.gather(log_q), ranks.gather(u));
    if !ranks.is_root() {
        return Ok(None);
    }
    report_nonfinite(counts[0] as usize, options.n);
    Ok(Some(Drawn { x, log_q, u }))
}

/// Whether the run's objectives include the PDE objective (which trains the rate C).
fn trained_by_pde(opened: &crate::run::OpenRun) -> bool {
    opened
        .config
        .objectives
        .iter()
        .any(|o| matches!(o, ObjectiveConfig::Pde { .. }))
}

/// `options.n` chains of AIS from q toward p in `space`, after `options.ais_warmup` warm-up
/// rounds that adapt the step sizes to this path. Training adapted them on the path to p²/q;
/// the final run keeps them fixed, so its weights stay unbiased.
fn annealed<B: AutodiffFlowBackend>(
    ais: &mut Ais,
    space: &McmcSpace<'_, B>,
    options: &SampleOptions,
) -> Result<AisOutput> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(Stream::SampleAis.seed(options.seed));
    for _ in 0..options.ais_warmup {
        let (x, log_q) = space.sample(WARMUP_CHAINS);
        ais.run(space.q(), space.target(), 1.0, x, Some(log_q), &mut rng)?;
    }
    let (x0, log_q0) = space.sample(options.n);
    ais.run(space.q(), space.target(), 1.0, x0, Some(log_q0), &mut rng)
}

/// The AIS of the run's first objective that has one (with its adapted step sizes), or the
/// defaults.
fn evaluation_ais(opened: &crate::run::OpenRun) -> Result<(AisConfig, Option<Vec<f64>>)> {
    let state = opened.run.checkpoint().state()?;
    for (index, objective) in opened.config.objectives.iter().enumerate() {
        if let Some(ais) = objective.ais() {
            let step_sizes = state
                .objectives
                .get(index)
                .and_then(|s| s.ais_step_sizes())
                .map(<[f64]>::to_vec);
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
        Stream::ForwardSamples.seed(options.seed),
    )?;
    let u = system.evaluate(&x, false)?.u;
    let log_q = q.log_density(&x, None)?;
    let log_w: Vec<f64> = u.iter().zip(&log_q).map(|(u, lq)| -u - lq).collect();
    let log_z = system.log_z().unwrap_or_else(|| weights.summary().log_z);
    Ok(Some(ForwardSummary::from_log_weights(&log_w, log_z)))
}
