//! `boltzflow` under `mpirun` (a build with `--features mpi`): parallel tempering over 2 ranks
//! writes the file of one process, bit for bit, and a checkpoint resumes on another number of
//! ranks; data-parallel training over 2 ranks follows one process's maximum likelihood, and
//! FAB with its replay buffer split between the ranks resumes exactly. CI runs these with Open MPI (`.ci/setup-mpi`):
//!
//! ```sh
//! cargo test --release --features mpi --test mpi
//! ```
#![cfg(feature = "mpi")]

mod common;

use common::{read_attr_as, read_h5};
use std::path::Path;
use std::process::Command;

/// Runs `boltzflow ARGS` as `ranks` MPI processes (as root too, and with more processes than
/// cores, as CI's machine needs) and asserts success.
fn mpirun(ranks: usize, args: &[&str]) {
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np"])
        .arg(ranks.to_string())
        .arg(env!("CARGO_BIN_EXE_boltzflow"))
        .args(args)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(common::workspace())
        .output()
        .expect("`mpirun` (Open MPI or MPICH) is needed: .ci/setup-mpi installs Open MPI");
    assert!(
        out.status.success(),
        "mpirun -np {ranks} boltzflow {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small parallel-tempering run on the 2-D double well: 3 walkers × 3 temperatures.
fn md_config(dir: &Path, steps: u64) -> std::path::PathBuf {
    let system = common::write_system(
        dir,
        "dw.ron",
        "double-well",
        "(system: \"many_well\", dim: 2)",
    );
    let path = dir.join(format!("md{steps}.ron"));
    std::fs::write(
        &path,
        format!(
            "Md(system: {system:?}, temperatures: [1.0, 2.0, 4.0], timestep_fs: 10.0, \
             steps: {steps}, equilibration_steps: 200, save_every: 20, exchange_every: 10, \
             walkers: 3, seed: 7, checkpoint_every: 300)"
        ),
    )
    .unwrap();
    path
}

/// The datasets of an `md` output that must agree bit for bit.
const MD_DATASETS: [&str; 4] = [
    "samples/x",
    "samples/u",
    "trajectory/walker",
    "trajectory/step",
];

#[test]
fn parallel_tempering_over_two_ranks_is_the_single_process_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = md_config(dir.path(), 1500);
    let config = config.to_str().unwrap();
    let one = dir.path().join("one.h5");
    common::boltzflow_ok(&["md", config, "--output", one.to_str().unwrap()]);
    let two = dir.path().join("two.h5");
    mpirun(2, &["md", config, "--output", two.to_str().unwrap()]);
    for name in MD_DATASETS {
        assert_eq!(read_h5(&one, name), read_h5(&two, name), "{name}");
    }
    assert_eq!(read_attr_as::<u64>(&two, "md", "ranks"), 2);
    assert_eq!(read_attr_as::<u64>(&one, "md", "ranks"), 1);
}

/// A checkpoint written by one process at step 600 (through the library) resumes on 2 ranks and
/// ends with the file of an uninterrupted run. (Checkpoints written by some ranks and resumed
/// on others: `ranks_write_the_file_of_one_process` in tests/md.rs, with thread ranks.)
#[test]
fn a_single_process_checkpoint_resumes_on_two_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let config = md_config(dir.path(), 900);
    let one = dir.path().join("one.h5");
    let config_arg = config.to_str().unwrap();
    common::boltzflow_ok(&["md", config_arg, "--output", one.to_str().unwrap()]);

    let parts = dir.path().join("parts.h5");
    let mut run = boltzflow::md::MdRun::new(&config, None, &parts).unwrap();
    let never = boltzflow::job::StopFlag::new();
    assert_eq!(run.run_steps(600, &never, false).unwrap(), None);
    drop(run);
    mpirun(2, &["md", config_arg, "--output", parts.to_str().unwrap()]);
    for name in MD_DATASETS {
        assert_eq!(read_h5(&one, name), read_h5(&parts, name), "{name}");
    }
    assert!(
        !parts.with_extension("checkpoint.h5").exists(),
        "checkpoint removed"
    );
}

/// `sample` over 2 ranks writes the samples of one process (each block of samples has its own
/// seed, whichever rank draws it), and the same estimates.
#[test]
fn sampling_over_two_ranks_is_the_single_process_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::gmm4_train_config(
        dir.path(),
        "flow: RealNvp(layers: 4, hidden: [16], base_std: 8.0), seed: 2, steps: 20,
         batch_size: 64, objectives: [ReverseKl()]",
    );
    let run = dir.path().join("run");
    let run = run.to_str().unwrap();
    common::boltzflow_ok(&["train", config.to_str().unwrap(), "--out", run]);
    // 20,000 samples: 3 blocks, 2 for rank 0 and 1 for rank 1.
    let sample = |out: &Path| {
        [
            "sample",
            "--run",
            run,
            "-n",
            "20000",
            "--forward-samples",
            "5000",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain(["--output".to_owned(), out.to_str().unwrap().to_owned()])
        .collect::<Vec<_>>()
    };
    let one = dir.path().join("one.h5");
    let args = sample(&one);
    common::boltzflow_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let two = dir.path().join("two.h5");
    let args = sample(&two);
    mpirun(2, &args.iter().map(String::as_str).collect::<Vec<_>>());
    for name in ["samples/x", "samples/log_q", "samples/u", "samples/log_w"] {
        assert_eq!(read_h5(&one, name), read_h5(&two, name), "{name}");
    }
    // More numbers per rank than MPI's 32-bit counts: refused before anything is drawn.
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np", "2"])
        .arg(env!("CARGO_BIN_EXE_boltzflow"))
        .args(["sample", "--run", run, "-n", "5000000000", "--output"])
        .arg(dir.path().join("huge.h5"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("2³¹ numbers per rank"),
        "{stderr}"
    );
    for estimate in ["log_z", "log_z_stderr", "ess", "ess_forward"] {
        assert_eq!(
            common::read_attr(&one, "estimates", estimate),
            common::read_attr(&two, "estimates", estimate),
            "{estimate}"
        );
    }
}

/// A GMM-4 training configuration with `objectives`, `steps` steps at a constant learning rate
/// (so that a run extended to more steps is the run resumed), a checkpoint every 5.
fn train_config(dir: &Path, name: &str, precision: &str, objectives: &str, steps: usize) -> String {
    let path = common::gmm4_train_config(
        dir,
        &format!(
            "flow: RealNvp(layers: 4, hidden: [16], base_std: 8.0), seed: 5, steps: {steps},
             precision: {precision}, batch_size: 64, objectives: {objectives},
             optimizer: (lr: 3e-3), checkpoint_every: 5, eval_samples: 256"
        ),
    );
    let named = dir.join(name);
    std::fs::rename(path, &named).unwrap();
    named.to_str().unwrap().to_owned()
}

/// `training/loss` of a run folder.
fn losses(run: &Path) -> Vec<f64> {
    read_h5(&run.join("run.h5"), "training/loss").0
}

/// Maximum likelihood over 2 ranks (each half of every batch, the gradients summed) follows
/// the single process's run step by step, to rounding (f64): the same batch, split.
#[test]
fn maximum_likelihood_over_two_ranks_is_the_single_process_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = train_config(
        dir.path(),
        "ml.ron",
        "F64",
        "[ForwardKl(samples: Exact(n: 4000))]",
        20,
    );
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    common::boltzflow_ok(&["train", &config, "--out", one.to_str().unwrap()]);
    mpirun(2, &["train", &config, "--out", two.to_str().unwrap()]);
    let (a, b) = (losses(&one), losses(&two));
    assert_eq!(a.len(), 20);
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(1.0)),
        "{a:?} against {b:?}"
    );
    assert_eq!(
        read_attr_as::<u64>(&two.join("run.h5"), "training", "steps_done"),
        20
    );
}

/// FAB over 2 ranks, each with its share of the AIS chains and of the replay buffer: stopped
/// after 10 steps and resumed on 2 ranks, it ends with the losses of an uninterrupted run, bit
/// for bit (the checkpoint holds both ranks' buffers); a single process's checkpoint resumes
/// on 2 ranks.
#[test]
fn fab_over_two_ranks_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let fab = "[Fab(ais: (intermediate: 2, kernel: Hmc(step_size: 0.5, leapfrog_steps: 3)),
        buffer: (capacity: 640, min_length: 128, updates_per_batch: 4))]";
    let short = train_config(dir.path(), "fab10.ron", "F32", fab, 10);
    let long = train_config(dir.path(), "fab20.ron", "F32", fab, 20);
    let (whole, split) = (dir.path().join("whole"), dir.path().join("split"));
    mpirun(2, &["train", &long, "--out", whole.to_str().unwrap()]);
    mpirun(2, &["train", &short, "--out", split.to_str().unwrap()]);
    let buffer = split.join("checkpoint/buffer_0.h5");
    assert_eq!(
        read_h5(&buffer, "rank_lengths").0.len(),
        2,
        "both ranks' buffers"
    );
    mpirun(2, &["train", &long, "--out", split.to_str().unwrap()]);
    assert_eq!(losses(&whole), losses(&split));
    assert_eq!(losses(&whole).len(), 20);
    // A single process's checkpoint resumes on 2 ranks, each taking its share of the buffer.
    let moved = dir.path().join("moved");
    common::boltzflow_ok(&["train", &short, "--out", moved.to_str().unwrap()]);
    let saved = read_h5(&moved.join("checkpoint/buffer_0.h5"), "log_w")
        .0
        .len();
    mpirun(2, &["train", &long, "--out", moved.to_str().unwrap()]);
    assert_eq!(losses(&moved).len(), 20);
    let lengths = read_h5(&moved.join("checkpoint/buffer_0.h5"), "rank_lengths").0;
    assert_eq!(lengths.len(), 2);
    assert!(
        lengths.iter().sum::<f64>() >= saved as f64,
        "{lengths:?} from {saved}"
    );
}

/// A command that does not run over ranks refuses a launch of several (every copy would write
/// the same files).
#[test]
fn commands_for_one_process_refuse_several() {
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np", "2"])
        .arg(env!("CARGO_BIN_EXE_boltzflow"))
        .args(["info", "--system", "examples/systems/gmm4.ron"])
        .current_dir(common::workspace())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("`boltzflow info` runs as one process")
            && stderr.contains("2 MPI processes"),
        "{stderr}"
    );
}
