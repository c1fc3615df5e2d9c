//! Time per batch of FAB's alanine-dipeptide flow, forward (sampling with log q) and training
//! (log q of given points + backward), in f32 or f64, on the CPU (burn's Flex backend) or, in a
//! build with `--features cuda`, on the GPU:
//!
//! ```sh
//! cargo run --release --example flow_step_benchmark -- f32
//! cargo run --release --example flow_step_benchmark -- f64
//! cargo run --release --features cuda --example flow_step_benchmark -- f32 cuda
//! ```
//!
//! Run it from the repository's root (it reads `data/alanine_dipeptide/aldp_min_energy.csv`).
//! The flow is FAB's (docs/benchmarks.md §5): a uniform-circle × Gaussian base on the 60 internal
//! coordinates, 12 rational-quadratic spline couplings (8 bins, circular splines on the 12
//! circular dihedrals, linear tails at ±5 elsewhere) with residual 256-unit conditioners and
//! random masks, a random periodic shift every 2 layers, then the internal → Cartesian layer.

use boltzflow::backend::{AutodiffFlowBackend, DeviceKind, OnDevice, run_on};
use boltzflow::flow::{
    BuildContext, BuiltFlow, Density, FlowConfig, FlowSpec, InternalSpec, Precision, set_precision,
};
use burn::module::AutodiffModule;
use burn::prelude::*;
use std::path::Path;
use std::time::Instant;

const BATCH: usize = 1024;
const REPEATS: usize = 5;

fn main() -> boltzflow::Result<()> {
    let mut args = std::env::args().skip(1);
    let precision = match args.next().as_deref() {
        Some("f64") => Precision::F64,
        Some("f32") | None => Precision::F32,
        Some(other) => {
            return Err(boltzflow::Error::InvalidArgument(format!(
                "precision {other}: use f32 or f64"
            )));
        }
    };
    let device = match args.next().as_deref() {
        Some("cpu") | None => DeviceKind::Cpu,
        Some("cuda") => DeviceKind::Cuda,
        Some(other) => {
            return Err(boltzflow::Error::InvalidArgument(format!(
                "device {other}: use cpu or cuda"
            )));
        }
    };
    boltzflow::parallel::on_pool(|| run_on(device, Benchmark { precision, device }))
}

/// The timed work, on whichever backend [`run_on`] picks.
struct Benchmark {
    precision: Precision,
    device: DeviceKind,
}

impl OnDevice for Benchmark {
    type Output = ();

    fn run<B: AutodiffFlowBackend>(self, device: B::Device) -> boltzflow::Result<()> {
        set_precision::<B>(&device, self.precision)?;
        B::seed(&device, 0);
        let flow = fab_alanine_flow()?.init::<B>(&device)?;
        // Kernels are queued on a GPU: wait for them before reading the clock.
        let sync = || {
            B::sync(&device).map_err(|e| {
                boltzflow::Error::InvalidArgument(format!("device synchronisation failed: {e:?}"))
            })
        };

        // Sampling needs no gradients: as in training and `boltzflow sample`, it runs on the
        // backend without autodiff, so no graph is recorded (PyTorch's side: `torch.no_grad()`).
        let sampler = flow.valid();
        let (x, _) = sampler.sample(BATCH); // warm-up, and points for the training direction
        let x = Tensor::<B, 2>::from_inner(x);
        let mut sample_times = Vec::new();
        let mut train_times = Vec::new();
        for _ in 0..REPEATS {
            sync()?;
            let start = Instant::now();
            let (xs, log_q) = sampler.sample(BATCH);
            let _ = (xs.into_data(), log_q.into_data());
            sample_times.push(start.elapsed().as_secs_f64());

            let start = Instant::now();
            let loss = flow.log_prob(x.clone()).mean().neg();
            let grads = loss.backward();
            sync()?;
            drop(grads);
            train_times.push(start.elapsed().as_secs_f64());
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "FAB alanine flow, batch {BATCH}, {:?}, {:?} ({} CPU threads): sample + log q {:.4} s, log q + backward {:.4} s (median of {REPEATS})",
            self.precision,
            self.device,
            rayon::current_num_threads(),
            median(&mut sample_times),
            median(&mut train_times)
        );
        Ok(())
    }
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
        base_dir: Path::new("data/alanine_dipeptide"),
        molecule: None,
    };
    match spec.build(&context)? {
        BuiltFlow::Coupling(config) => Ok(config),
        BuiltFlow::Continuous(_) => unreachable!("a molecular flow is a coupling flow"),
    }
}
