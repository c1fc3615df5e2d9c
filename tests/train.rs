//! Training flows through the library API: exact resumption from checkpoints, data-parallel
//! training over ranks, and a maximum-likelihood fit that reaches the exact test
//! log-likelihood.

mod common;

use common::one_at_a_time;

use boltzflow::backend::Cpu;
use boltzflow::flow::{Density, from_f64, to_host};
use boltzflow::job::{Outcome, StopFlag};
use boltzflow::parallel::Ranks;
use boltzflow::train::Trainer;
use burn::backend::Autodiff;
use std::path::Path;

type B = Autodiff<Cpu>;

/// burn fixes the CPU device's float type at its first tensor, once per process, and these tests
/// run in f32: a test in f64 runs alone, in a child process (this test binary again, told by
/// an environment variable to run the test's body).
fn in_own_process(test: &str, body: impl FnOnce()) {
    const CHILD: &str = "BOLTZFLOW_TEST_IN_OWN_PROCESS";
    if std::env::var_os(CHILD).is_some() {
        body();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} in its own process: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Maximum likelihood on exact samples.
const ML: &str = "[ForwardKl(weight: 1.0, samples: Exact(n: 5000))]";

/// FAB with a replay buffer and adaptive HMC in its AIS: a resume must restore the buffer and
/// the adapted step sizes.
const FAB: &str = "[Fab(ais: (intermediate: 2, kernel: Hmc(step_size: 0.5, leapfrog_steps: 3)),
    buffer: (capacity: 640, min_length: 128, updates_per_batch: 4))]";

fn write_config(
    dir: &Path,
    steps: usize,
    checkpoint_every: usize,
    precision: &str,
    objectives: &str,
) -> std::path::PathBuf {
    common::gmm4_train_config(
        dir,
        &format!(
            "flow: RealNvp(layers: 4, hidden: [16], trainable_base: true, base_std: 8.0),
             precision: {precision}, seed: 3, steps: {steps}, batch_size: 64,
             objectives: {objectives},
             optimizer: (lr: 3e-3, warmup_steps: 5, cosine: true, clip_grad_norm: 10.0),
             checkpoint_every: {checkpoint_every}, test_samples: 500"
        ),
    )
}

/// log q of fixed points under a trainer's flow.
fn log_q(trainer: &Trainer<B>) -> Vec<f64> {
    let x = from_f64(
        vec![0.5, -1.0, 8.0, 8.0, -7.5, 8.5],
        [3, 2],
        &Default::default(),
    );
    to_host(trainer.model().flow().unwrap().log_prob(x))
}

/// Trains 30 steps in one go, and 13 + 17 steps with a checkpoint in between; the two runs must
/// agree bit for bit.
fn assert_resumes_exactly(precision: &str, objectives: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 30, 10, precision, objectives);
    let never = StopFlag::new();

    let whole_dir = dir.path().join("whole");
    let mut whole = Trainer::<B>::new(&config, None, &whole_dir, Default::default()).unwrap();
    assert_eq!(whole.run(&never, false).unwrap(), Outcome::Finished);

    let split_dir = dir.path().join("split");
    let mut first = Trainer::<B>::new(&config, None, &split_dir, Default::default()).unwrap();
    assert_eq!(
        first.run_steps(13, &never, false).unwrap(),
        Outcome::Paused,
        "stopped early"
    );
    let at_stop = log_q(&first);
    drop(first);
    let mut second = Trainer::<B>::new(&config, None, &split_dir, Default::default()).unwrap();
    assert_eq!(second.step(), 13, "resumed where it stopped");
    assert_eq!(
        log_q(&second),
        at_stop,
        "the checkpoint restores the parameters exactly"
    );
    assert_eq!(second.run(&never, false).unwrap(), Outcome::Finished);

    let losses = |t: &Trainer<B>| t.state().history.iter().map(|r| r.loss).collect::<Vec<_>>();
    assert_eq!(losses(&whole), losses(&second), "same loss at every step");
    assert_eq!(log_q(&whole), log_q(&second), "same parameters");
    assert!(split_dir.join("run.h5").is_file());
}

#[test]
fn an_interrupted_run_resumes_exactly() {
    let _serial = one_at_a_time();
    assert_resumes_exactly("F32", ML);
}

#[test]
fn an_interrupted_fab_run_resumes_exactly() {
    let _serial = one_at_a_time();
    assert_resumes_exactly("F32", FAB);
}

/// Parameters and optimiser moments are checkpointed in f64, so f64 runs resume exactly too.
#[test]
fn an_interrupted_f64_run_resumes_exactly() {
    in_own_process("an_interrupted_f64_run_resumes_exactly", || {
        let _serial = one_at_a_time();
        assert_resumes_exactly("F64", ML);
    });
}

/// Data-parallel maximum likelihood: a checkpoint continued on 2 thread ranks (each computing
/// half of every batch, the gradients summed) ends where one process ends, to rounding (f64),
/// with the same parameters on both ranks, and with rank 0's run folder.
#[test]
fn two_ranks_train_as_one_process() {
    in_own_process("two_ranks_train_as_one_process", || {
        let _serial = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), 16, 8, "F64", ML);
        let never = StopFlag::new();
        // Both continue one checkpoint: burn's generator, which initialises the parameters, is
        // shared by the thread ranks.
        let one = dir.path().join("one");
        let mut first = Trainer::<B>::new(&config, None, &one, Default::default()).unwrap();
        assert_eq!(first.run_steps(8, &never, false).unwrap(), Outcome::Paused);
        drop(first);
        let two = dir.path().join("two");
        std::fs::create_dir_all(two.join("checkpoint")).unwrap();
        std::fs::copy(one.join("run.ron"), two.join("run.ron")).unwrap();
        for file in std::fs::read_dir(one.join("checkpoint")).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(
                &file,
                two.join("checkpoint").join(file.file_name().unwrap()),
            )
            .unwrap();
        }
        let mut single = Trainer::<B>::new(&config, None, &one, Default::default()).unwrap();
        assert_eq!(single.run(&never, false).unwrap(), Outcome::Finished);
        let ranks = boltzflow::parallel::run_on_threads(2, |ranks| {
            let mut trainer =
                Trainer::<B>::on_ranks(&config, None, &two, Default::default(), ranks).unwrap();
            assert_eq!(trainer.step(), 8);
            assert_eq!(trainer.run(&never, false).unwrap(), Outcome::Finished);
            let losses: Vec<f64> = trainer.state().history.iter().map(|r| r.loss).collect();
            (log_q(&trainer), losses)
        });
        assert_eq!(ranks[0].0, ranks[1].0, "the ranks' parameters are alike");
        let losses: Vec<f64> = single.state().history.iter().map(|r| r.loss).collect();
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(1.0))
        };
        assert!(
            close(&ranks[0].1, &losses),
            "{:?} against {losses:?}",
            ranks[0].1
        );
        assert!(
            close(&ranks[0].0, &log_q(&single)),
            "{:?} against {:?}",
            ranks[0].0,
            log_q(&single)
        );
        // The summed gradients are not the one process's bit for bit: summation order.
        assert!(two.join("run.h5").is_file() && two.join("checkpoint/model.h5").is_file());
    });
}

/// A plugin that fails on one rank only (its `fail_at_call`): every rank stops at that step,
/// rank 0 saves the steps before it, the failing rank reports the plugin's error and the other
/// that a rank's plugin failed.
#[test]
fn a_plugin_failure_on_one_rank_stops_every_rank_with_the_checkpoint() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let healthy = common::write_system(dir.path(), "healthy.ron", "faulty", "(dim: 2)");
    let failing = common::write_system(
        dir.path(),
        "failing.ron",
        "faulty",
        "(dim: 2, fail_at_call: 4)",
    );
    let config = dir.path().join("train.ron");
    std::fs::write(
        &config,
        format!(
            "Train(system: {healthy:?}, flow: RealNvp(layers: 2, hidden: [8]), steps: 10, \
             batch_size: 16, objectives: [ReverseKl()], checkpoint_every: 100, eval_samples: 0)"
        ),
    )
    .unwrap();
    let run = dir.path().join("run");
    let errors = boltzflow::parallel::run_on_threads(2, |ranks| {
        // One call of the energy per step: rank 1 fails in step 3 (counted from 0).
        let system = (ranks.rank() == 1).then_some(failing.as_path());
        let mut trainer =
            Trainer::<B>::on_ranks(&config, system, &run, Default::default(), ranks).unwrap();
        let error = trainer.run(&StopFlag::new(), false).unwrap_err();
        (trainer.step(), error.to_string())
    });
    assert!(
        errors[1].1.contains("asked to fail at call 4"),
        "{:?}",
        errors[1]
    );
    assert!(
        errors[0].1.contains("another MPI rank failed"),
        "{:?}",
        errors[0]
    );
    assert_eq!(
        (errors[0].0, errors[1].0),
        (3, 3),
        "the failed step is not counted"
    );
    let state = std::fs::read_to_string(run.join("checkpoint/state.ron")).unwrap();
    assert!(state.contains("step: 3,"), "{state}");
}

/// A trainer in `run` of an f32 configuration with `steps` steps and a checkpoint every 2.
fn trainer(
    dir: &Path,
    run: &Path,
    steps: usize,
    objectives: &str,
) -> boltzflow::Result<Trainer<'static, B>> {
    let config = write_config(dir, steps, 2, "F32", objectives);
    Trainer::<B>::new(&config, None, run, Default::default())
}

#[test]
fn a_changed_configuration_is_not_resumed() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let never = StopFlag::new();
    trainer(dir.path(), &run, 4, ML)
        .unwrap()
        .run(&never, false)
        .unwrap();
    let manifest = std::fs::read(run.join("run.ron")).unwrap();
    let Err(err) = trainer(dir.path(), &run, 4, FAB) else {
        panic!("a different configuration must be refused");
    };
    assert!(err.to_string().contains("another configuration"), "{err}");
    let Err(err) = trainer(dir.path(), &run, 3, ML) else {
        panic!("fewer steps than done must be refused");
    };
    assert!(err.to_string().contains("not shortened"), "{err}");
    assert_eq!(
        std::fs::read(run.join("run.ron")).unwrap(),
        manifest,
        "a refused configuration leaves the run untouched"
    );
}

/// A finished run trained further with a larger `steps` continues from its checkpoint.
#[test]
fn a_larger_step_count_extends_a_finished_run() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let never = StopFlag::new();
    assert_eq!(
        trainer(dir.path(), &run, 4, ML)
            .unwrap()
            .run(&never, false)
            .unwrap(),
        Outcome::Finished
    );
    let mut extended = trainer(dir.path(), &run, 7, ML).unwrap();
    assert_eq!((extended.step(), extended.total_steps()), (4, 7));
    assert_eq!(extended.run(&never, false).unwrap(), Outcome::Finished);
    assert_eq!(extended.step(), 7);
    assert_eq!(
        extended.state().history.len(),
        7,
        "one history row per step"
    );
    let manifest = std::fs::read_to_string(run.join("run.ron")).unwrap();
    assert!(manifest.contains("steps: 7"), "{manifest}");
}

#[test]
fn configuration_typos_are_named() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(&path, "Train(system: \"s.ron\", flow: RealNvp(layers: 2, hiden: [4]), steps: 1, batch_size: 1, objectives: [])").unwrap();
    let Err(err) = Trainer::<B>::new(&path, None, &dir.path().join("run"), Default::default())
    else {
        panic!("a typo must be refused");
    };
    let message = err.to_string();
    assert!(
        message.contains("hiden") && message.contains("bad.ron"),
        "{message}"
    );
}

/// Ctrl-C in the middle of FAB's replay-buffer fill: the checkpoint keeps the points gathered
/// so far, and the resumed run ends exactly where an uninterrupted one does (each AIS batch of
/// the fill has its own random stream).
#[test]
fn a_buffer_fill_interrupted_by_ctrl_c_resumes_exactly() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let fab = "[Fab(ais: (intermediate: 1, kernel: Metropolis(step_size: 1.0)),
        buffer: (capacity: 400000, min_length: 200000, updates_per_batch: 2))]";
    let config = write_config(dir.path(), 6, 3, "F32", fab);
    let whole_dir = dir.path().join("whole");
    let mut whole = Trainer::<B>::new(&config, None, &whole_dir, Default::default()).unwrap();
    assert_eq!(
        whole.run(&StopFlag::new(), false).unwrap(),
        Outcome::Finished
    );

    let split_dir = dir.path().join("split");
    let stop = StopFlag::new();
    let mut first = Trainer::<B>::new(&config, None, &split_dir, Default::default()).unwrap();
    let ctrl_c = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(40));
            stop.request();
        })
    };
    assert_eq!(first.run(&stop, false).unwrap(), Outcome::Interrupted);
    ctrl_c.join().unwrap();
    assert_eq!(first.step(), 0, "interrupted during the fill");
    drop(first);
    let (log_w, _) = common::read_h5(&split_dir.join("checkpoint/buffer_0.h5"), "log_w");
    assert!(
        !log_w.is_empty() && log_w.len() < 200000,
        "a partly filled buffer is saved: {}",
        log_w.len()
    );
    let mut second = Trainer::<B>::new(&config, None, &split_dir, Default::default()).unwrap();
    assert_eq!(second.step(), 0);
    assert_eq!(
        second.run(&StopFlag::new(), false).unwrap(),
        Outcome::Finished
    );
    let losses = |t: &Trainer<B>| t.state().history.iter().map(|r| r.loss).collect::<Vec<_>>();
    assert_eq!(losses(&whole), losses(&second), "same loss at every step");
    assert_eq!(log_q(&whole), log_q(&second), "same parameters");
}
