//! Time of one step of the PDE (continuity) objective on the CPU backend: collocation (the
//! flow's RK4 trajectories, no graph, plus the target), residual with the exact divergence, and
//! backward, in f32 or f64:
//!
//! ```sh
//! cargo run --release --example pde_step_benchmark -- f32            # d = 16 double well
//! cargo run --release --example pde_step_benchmark -- f64 16 256 51 128,128,128 learned
//! cargo run --release --example pde_step_benchmark -- f32 16 256 51 128,128,128 learned 3 1
//! ```
//!
//! Arguments (all optional, in order): precision, dimension, batch, grid times, hidden widths
//! of each of the 4 gated MLPs, `linear` or `learned` (NN with the field's hidden widths),
//! repeats, and Hutchinson probes per divergence estimate in the residual (0: exact, the
//! default). The target is the quantum double well of docs/benchmarks.md §3 (N = d sites, T = 4,
//! m = 3, λ = 1) with the published generalised-Gaussian base (p = 4).

use boltzflow::backend::Cpu;
use boltzflow::flow::{
    BaseConfig, ContinuousFlowConfig, DivergenceMethod, GatedFieldConfig,
    GeneralizedGaussianConfig, Precision, Probe, Rk4Config, SolverConfig, set_precision,
};
use boltzflow::train::{Interpolation, PdeModelConfig, PdeObjective};
use burn::backend::Autodiff;
use burn::prelude::*;
use std::time::Instant;

type B = Autodiff<Cpu>;

/// The lattice double well u and ∇u at row-major points of dimension `n` (docs/benchmarks.md §3).
fn double_well(x: &[f64], n: usize) -> boltzflow::Result<(Vec<f64>, Vec<f64>)> {
    let (mass, lambda, dt) = (3.0, 1.0, 4.0 / n as f64);
    let mut u = Vec::with_capacity(x.len() / n);
    let mut gradient = Vec::with_capacity(x.len());
    for p in x.chunks(n) {
        let mut energy = 0.0;
        for i in 0..n {
            let (prev, next) = (p[(i + n - 1) % n], p[(i + 1) % n]);
            let v = 0.25 * lambda * p[i].powi(4) - 0.5 * mass * p[i] * p[i];
            energy += dt * v + 0.5 * mass * (p[i] - prev).powi(2) / dt;
            let dv = lambda * p[i].powi(3) - mass * p[i];
            gradient.push(dt * dv + mass * (2.0 * p[i] - prev - next) / dt);
        }
        u.push(energy);
    }
    Ok((u, gradient))
}

fn main() -> boltzflow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let bad = |what: &str| boltzflow::Error::InvalidArgument(format!("bad argument: {what}"));
    let precision = match arg(0, "f32").as_str() {
        "f32" => Precision::F32,
        "f64" => Precision::F64,
        other => return Err(bad(other)),
    };
    let dim: usize = arg(1, "16").parse().map_err(|_| bad("dimension"))?;
    let batch: usize = arg(2, "256").parse().map_err(|_| bad("batch"))?;
    let times: usize = arg(3, "51").parse().map_err(|_| bad("times"))?;
    let hidden: Vec<usize> = arg(4, "128,128,128")
        .split(',')
        .map(|w| w.parse().map_err(|_| bad("hidden widths")))
        .collect::<Result<_, _>>()?;
    let interpolation = match arg(5, "linear").as_str() {
        "linear" => Interpolation::Linear,
        "learned" => Interpolation::Learned {
            hidden: hidden.clone(),
        },
        other => return Err(bad(other)),
    };
    let repeats: usize = arg(6, "3").parse().map_err(|_| bad("repeats"))?;
    let divergence = match arg(7, "0").parse().map_err(|_| bad("probes"))? {
        0 => DivergenceMethod::Exact,
        probes => DivergenceMethod::Hutchinson {
            probes,
            probe: Probe::Rademacher,
        },
    };

    let device = Default::default();
    set_precision::<B>(&device, precision)?;
    B::seed(&device, 0);
    let config = PdeModelConfig {
        flow: ContinuousFlowConfig {
            base: BaseConfig::GeneralizedGaussian(GeneralizedGaussianConfig::new(dim, 4.0)),
            field: GatedFieldConfig {
                zero_output: false,
                ..GatedFieldConfig::new(dim, hidden.clone())
            },
            solver: SolverConfig::Rk4(Rk4Config { steps: 50 }),
            divergence: Default::default(),
        },
        interpolation: interpolation.clone(),
        rate_hidden: vec![32, 32],
    };
    let model = config.init::<B>(&device)?;
    let objective = PdeObjective {
        batch,
        times,
        divergence,
        ..PdeObjective::new(1.0)
    };
    let target = |x: &[f64]| double_well(x, dim);
    let mut rows = Vec::new();
    for repeat in 0..=repeats {
        let start = Instant::now();
        let points = objective.collocation(&model, &target, &device)?;
        let collocation = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let loss = objective.residual_loss(&model, &points)?;
        let forward = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let grads = loss.loss.backward();
        drop(grads);
        let backward = start.elapsed().as_secs_f64();
        if repeat > 0 {
            rows.push([collocation, forward, backward]);
        }
    }
    let median = |k: usize| {
        let mut v: Vec<f64> = rows.iter().map(|r| r[k] * 1e3).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let total = {
        let mut v: Vec<f64> = rows.iter().map(|r| r.iter().sum::<f64>() * 1e3).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "PDE step, d {dim}, 4 × {hidden:?}, {interpolation:?}, batch {batch} × {times} times, \
         {precision:?}, {divergence:?}, {} threads: {total:.0} ms (collocation {:.0}, residual {:.0}, \
         backward {:.0}; medians of {repeats})",
        rayon::current_num_threads(),
        median(0),
        median(1),
        median(2)
    );
    Ok(())
}
