//! Time per batch of FAB's alanine-dipeptide flow on the CPU backend, forward (sampling with
//! log q) and training (log q of given points + backward), in f32 or f64:
//!
//! ```sh
//! cargo run --release --example flow_step_benchmark -- f32
//! cargo run --release --example flow_step_benchmark -- f64
//! ```
//!
//! The flow is FAB's (docs/benchmarks.md §5): a uniform-circle × Gaussian base on the 60 internal
//! coordinates, 12 rational-quadratic spline couplings (8 bins, circular splines on the 12
//! circular dihedrals, linear tails at ±5 elsewhere) with residual 256-unit conditioners and
//! random masks, a random periodic shift every 2 layers, then the internal → Cartesian layer.

use boltzflow::backend::Cpu;
use boltzflow::flow::{
    BuildContext, BuiltFlow, Density, FlowConfig, FlowSpec, InternalSpec, Precision, set_precision,
};
use burn::backend::Autodiff;
use burn::prelude::*;
use std::path::Path;
use std::time::Instant;

type B = Autodiff<Cpu>;

const BATCH: usize = 1024;
const REPEATS: usize = 5;

fn main() -> boltzflow::Result<()> {
    let precision = match std::env::args().nth(1).as_deref() {
        Some("f64") => Precision::F64,
        Some("f32") | None => Precision::F32,
        Some(other) => {
            return Err(boltzflow::Error::InvalidArgument(format!(
                "precision {other}: use f32 or f64"
            )));
        }
    };
    let device = Default::default();
    set_precision::<B>(&device, precision)?;
    B::seed(&device, 0);
    let flow = fab_alanine_flow()?.init::<B>(&device)?;

    let (x, _) = flow.sample(BATCH); // warm-up, and points for the training direction
    let x = x.detach();
    let mut sample_times = Vec::new();
    let mut train_times = Vec::new();
    for _ in 0..REPEATS {
        let start = Instant::now();
        let (xs, log_q) = flow.sample(BATCH);
        let _ = (xs.into_data(), log_q.into_data());
        sample_times.push(start.elapsed().as_secs_f64());

        let start = Instant::now();
        let loss = flow.log_prob(x.clone()).mean().neg();
        let grads = loss.backward();
        drop(grads);
        train_times.push(start.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "FAB alanine flow, batch {BATCH}, {precision:?}, {} threads: sample + log q {:.3} s, log q + backward {:.3} s (median of {REPEATS})",
        rayon::current_num_threads(),
        median(&mut sample_times),
        median(&mut train_times)
    );
    Ok(())
}

/// FAB's alanine-dipeptide flow (docs/benchmarks.md §5), as `FlowSpec::Molecular` builds it.
fn fab_alanine_flow() -> boltzflow::Result<FlowConfig> {
    let spec = FlowSpec::Molecular {
        internal: InternalSpec::AlanineDipeptide,
        reference: "aldp_min_energy.csv".into(),
        layers: 12,
        hidden: vec![256, 256],
        bins: 8,
        tail_bound: 5.0,
        shift_every: 2,
    };
    let context = BuildContext {
        dim: 66,
        seed: 0,
        base_dir: Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/alanine_dipeptide"
        )),
        molecule: None,
    };
    match spec.build(&context)? {
        BuiltFlow::Coupling(config) => Ok(config),
        BuiltFlow::Continuous(_) => unreachable!("a molecular flow is a coupling flow"),
    }
}
