//! The GPU path: each kind of flow, trained for a few steps on the CPU, gives the same log q on
//! the GPU from the CPU's checkpoint; training goes on on the GPU from there, and its checkpoint
//! gives the same log q back on the CPU.
//!
//! Without a GPU (a build without `--features cuda`, as in CI, or a machine without an NVIDIA
//! driver) each test says "no GPU" and the CPU stands in for it: the same round trip, CPU to
//! CPU, which checks the test's own workings. `scripts/gpu_check.sh` runs them on a GPU:
//!
//! ```sh
//! cargo test --release --features cuda --test gpu -- --test-threads=1 --nocapture
//! ```
//!
//! Paths are relative to the current folder, the repository's root (where cargo runs
//! integration tests, and where `scripts/gpu_check.sh` runs this test program).

mod common;

use boltzflow::backend::AutodiffFlowBackend;
use boltzflow::flow::{Density, from_f64, to_host};
use boltzflow::job::{Outcome, StopFlag};
use boltzflow::train::Trainer;
use burn::backend::Autodiff;
use std::path::Path;

type Cpu = Autodiff<boltzflow::backend::Cpu>;

/// Points at which log q is compared.
const POINTS: usize = 64;

/// f32 on two devices: sums in another order and other transcendental functions, so log q
/// agrees to a few units in the sixth digit; a wrong kernel is off by far more.
const TOLERANCE: f64 = 1e-3;

/// A reverse-KL run of `flow` on `system` (relative to the repository's root).
fn write_config(dir: &Path, system: &str, flow: &str, steps: usize) -> std::path::PathBuf {
    let system = std::env::current_dir().unwrap().join(system);
    let path = dir.join("train.ron");
    std::fs::write(
        &path,
        format!(
            "Train(system: {system:?}, flow: {flow}, precision: F32, seed: 5, steps: {steps},
             batch_size: 128, objectives: [ReverseKl()],
             optimizer: (lr: 1e-4, clip_grad_norm: 100.0), checkpoint_every: 3, eval_samples: 256)"
        ),
    )
    .unwrap();
    path
}

/// log q of row-major `points` under a trainer's flow, on the trainer's device.
fn log_q<B: AutodiffFlowBackend>(trainer: &Trainer<B>, points: &[f64], dim: usize) -> Vec<f64> {
    let x = from_f64(
        points.to_vec(),
        [points.len() / dim, dim],
        &Default::default(),
    );
    to_host(trainer.model().flow().unwrap().log_prob(x))
}

/// Asserts that two log q vectors agree within [`TOLERANCE`] relative.
fn assert_close(cpu: &[f64], gpu: &[f64], what: &str) {
    assert_eq!(cpu.len(), gpu.len());
    for (i, (a, b)) in cpu.iter().zip(gpu).enumerate() {
        assert!(
            a.is_finite() && (a - b).abs() <= TOLERANCE * (1.0 + a.abs()),
            "{what}: log q of point {i} is {a} on the CPU and {b} on the GPU"
        );
    }
}

/// The round trip CPU → GPU → CPU, or CPU → CPU where there is no GPU (saying so).
fn round_trip(system: &str, flow: &str) {
    let _guard = common::one_at_a_time();
    #[cfg(feature = "cuda")]
    match boltzflow::backend::check_cuda() {
        Ok(()) => return round_trip_on::<Autodiff<boltzflow::backend::Cuda>>(system, flow),
        Err(e) => eprintln!("no GPU ({e}): the CPU stands in for it"),
    }
    #[cfg(not(feature = "cuda"))]
    eprintln!("no GPU (a build without --features cuda): the CPU stands in for it");
    round_trip_on::<Cpu>(system, flow);
}

/// Trains 3 steps on the CPU, compares log q on both devices from that checkpoint, trains 3
/// more on the other device `G`, and compares again after loading its checkpoint on the CPU.
fn round_trip_on<G: AutodiffFlowBackend>(system: &str, flow: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), system, flow, 6);
    let run = dir.path().join("run");
    let never = StopFlag::new();

    let mut cpu = Trainer::<Cpu>::new(&config, None, &run, Default::default()).unwrap();
    assert_eq!(cpu.run_steps(3, &never, false).unwrap(), Outcome::Paused);
    let flow_on_cpu = cpu.model().flow().unwrap();
    let dim = flow_on_cpu.dim();
    let points = to_host(flow_on_cpu.sample(POINTS).0);
    let before = log_q(&cpu, &points, dim);
    drop(cpu);

    let mut gpu = Trainer::<G>::new(&config, None, &run, Default::default()).unwrap();
    assert_eq!(gpu.step(), 3, "the GPU run resumes the CPU's checkpoint");
    assert_close(
        &before,
        &log_q(&gpu, &points, dim),
        "from the CPU's checkpoint",
    );
    assert_eq!(gpu.run(&never, false).unwrap(), Outcome::Finished);
    let losses: Vec<f64> = gpu.state().history.iter().map(|r| r.loss).collect();
    assert!(
        losses.len() == 6 && losses.iter().all(|l| l.is_finite()),
        "losses {losses:?}"
    );
    let after = log_q(&gpu, &points, dim);
    assert_ne!(after, before, "the GPU's steps changed the flow");
    drop(gpu);

    let cpu = Trainer::<Cpu>::new(&config, None, &run, Default::default()).unwrap();
    assert_eq!(cpu.step(), 6);
    assert_close(
        &log_q(&cpu, &points, dim),
        &after,
        "from the GPU's checkpoint",
    );
}

#[test]
fn real_nvp_moves_between_cpu_and_gpu() {
    round_trip(
        "examples/systems/gmm4.ron",
        "RealNvp(layers: 4, hidden: [32, 32], lu: true, trainable_base: true, base_std: 8.0)",
    );
}

#[test]
fn spline_flow_moves_between_cpu_and_gpu() {
    round_trip(
        "examples/systems/gmm4.ron",
        "Spline(layers: 4, hidden: [32, 32], tail_bound: 20.0, residual: true, lu: true, base_std: 8.0)",
    );
}

#[test]
fn continuous_flow_moves_between_cpu_and_gpu() {
    round_trip(
        "examples/systems/gmm4.ron",
        "Continuous(hidden: [32, 32], base: Gaussian(std: 8.0), solver: Rk4((steps: 10)))",
    );
}

#[test]
fn molecular_flow_moves_between_cpu_and_gpu() {
    let reference = std::env::current_dir()
        .unwrap()
        .join("data/alanine_dipeptide/aldp_min_energy.csv");
    round_trip(
        "data/alanine_dipeptide/system.ron",
        &format!(
            "Molecular(internal: BondGraph, reference: {reference:?}, layers: 4, hidden: [64, 64])"
        ),
    );
}
