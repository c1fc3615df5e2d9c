//! Langevin dynamics and parallel tempering on model systems with exact answers, and the `md`
//! runs: output, blow-up, resume.

mod common;

use boltzflow::Error;
use boltzflow::densities::TargetDensity;
use boltzflow::job::StopFlag;
use boltzflow::md::MdRun;
use boltzflow::parallel::{Single, run_on_threads};
use boltzflow::sampling::{Langevin, ParallelTempering, Units};
use boltzflow::seed::derive;
use common::*;
use std::path::{Path, PathBuf};

/// The Many-Well's 1-D double well f(t) = t⁴ − 6t² − 0.5t (left minimum ≈ −1.71, barrier at
/// ≈ −0.04, global minimum ≈ 1.75; barrier ≈ 8.1 from the left and 9.9 from the right).
fn f(t: f64) -> f64 {
    t * (t * (t * t - 6.0) - 0.5)
}

/// Under p(t) ∝ exp(−f(t)/τ): P(t < 0) and E[t], by the trapezoidal rule on [−5, 5].
fn exact_double_well(tau: f64) -> (f64, f64) {
    let n = 200_000;
    let h = 10.0 / n as f64;
    let (mut z, mut left, mut mean) = (0.0, 0.0, 0.0);
    for i in 0..=n {
        let t = -5.0 + i as f64 * h;
        let w = if i == 0 || i == n { 0.5 } else { 1.0 } * (-(f(t) - f(1.75)) / tau).exp();
        z += w;
        mean += w * t;
        if t < 0.0 {
            left += w;
        }
    }
    (left / z, mean / z)
}

/// Mean and standard error over independent walkers.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// The 2-D Many-Well (x₀ in the double well, x₁ standard normal), from the `double-well` plugin.
fn double_well(dir: &Path) -> PathBuf {
    write_system(
        dir,
        "dw.ron",
        "double-well",
        "(system: \"many_well\", dim: 2)",
    )
}

/// Per walker, over `steps` steps after `burn`: the time averages of [x₀ < 0], x₀ and x₁² at the
/// lowest rung of each walker.
fn walker_averages(
    pt: &ParallelTempering,
    system: &boltzflow::energy::System,
    burn: usize,
    steps: usize,
    seed: u64,
) -> Vec<[f64; 3]> {
    let target = TargetDensity(system);
    let units = Units::reduced(2);
    // Every walker starts in the right-hand (deeper) well.
    let mut state = pt
        .init(&target, &units, &[1.75, 0.0], seed, &Single)
        .unwrap();
    let mut sums = vec![[0.0; 3]; pt.walkers()];
    let rungs = pt.temperatures().len();
    for s in 0..burn + steps {
        pt.step(&mut state, &target, &units, derive(seed, s as u64), &Single)
            .unwrap();
        if s >= burn {
            for (w, sum) in sums.iter_mut().enumerate() {
                let r = state.ladder[w * rungs];
                let (x0, x1) = (state.md.x[2 * r], state.md.x[2 * r + 1]);
                sum[0] += f64::from(u8::from(x0 < 0.0)) / steps as f64;
                sum[1] += x0 / steps as f64;
                sum[2] += x1 * x1 / steps as f64;
            }
        }
    }
    sums
}

/// BAOAB at temperature factor 3 (barrier ≈ 3 k_BT): started in one well, the walkers' well
/// population, mean and the harmonic coordinate's variance match the exact values (quadrature;
/// τ for the Gaussian) within 4 standard errors over 200 independent walkers.
#[test]
fn langevin_samples_a_double_well_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let system = load(&double_well(dir.path()));
    let tau = 3.0;
    let pt = ParallelTempering::new(Langevin::new(0.01, 1.0).unwrap(), vec![tau], 200, 1).unwrap();
    let sums = walker_averages(&pt, &system, 2_000, 30_000, 1);
    let (left, mean) = exact_double_well(tau);
    for (j, exact) in [(0, left), (1, mean), (2, tau)] {
        let (m, se) = mean_se(&sums.iter().map(|s| s[j]).collect::<Vec<_>>());
        assert!(
            (m - exact).abs() < 4.0 * se,
            "average {j}: {m} ± {se}, exact {exact}"
        );
        // Tight enough to see a wrong temperature or mass (the mean of x₀ is near 0).
        assert!(
            se < 0.05 * exact.abs().max(1.0),
            "average {j}: se {se} too large"
        );
    }
}

/// At τ = 1 the barrier (≈ 10 k_BT from the deep well) keeps plain Langevin dynamics in the
/// well it starts in, while parallel tempering over τ = 1 … 8 gives the lowest rung the exact
/// population of the other well.
#[test]
fn tempering_crosses_a_barrier_that_langevin_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let system = load(&double_well(dir.path()));
    let (left, _) = exact_double_well(1.0);
    assert!(left > 0.05, "exact left population {left}");
    let langevin = Langevin::new(0.01, 1.0).unwrap();
    let (burn, steps) = (2_000, 20_000);

    let plain = ParallelTempering::new(langevin, vec![1.0], 100, 10).unwrap();
    let sums = walker_averages(&plain, &system, burn, steps, 2);
    let (m, _) = mean_se(&sums.iter().map(|s| s[0]).collect::<Vec<_>>());
    assert!(m < 0.1 * left, "plain Langevin crossed: {m} vs {left}");

    let ladder = vec![1.0, 1.7, 2.8, 4.8, 8.0];
    let pt = ParallelTempering::new(langevin, ladder, 100, 10).unwrap();
    let sums = walker_averages(&pt, &system, burn, steps, 2);
    let (m, se) = mean_se(&sums.iter().map(|s| s[0]).collect::<Vec<_>>());
    assert!(
        (m - left).abs() < 4.0 * se && se < 0.1 * left,
        "tempering: {m} ± {se} vs {left}"
    );
}

fn load(path: &Path) -> boltzflow::energy::System {
    boltzflow::config::load_system(path).unwrap().1
}

/// A small `md` configuration on the 2-D double well in `dir`, with extra fields.
fn md_config(dir: &Path, extra: &str) -> PathBuf {
    double_well(dir);
    let path = dir.join("md.ron");
    std::fs::write(
        &path,
        format!(
            "Md(system: \"dw.ron\", temperatures: [1.0, 2.0, 4.0], timestep_fs: 10.0, \
             steps: 3000, equilibration_steps: 500, save_every: 50, exchange_every: 10, \
             walkers: 3, seed: 5, {extra})"
        ),
    )
    .unwrap();
    path
}

/// Interrupted (checkpoint) and resumed, a run writes exactly the file of an uninterrupted one.
#[test]
fn resumed_run_is_identical_to_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = md_config(dir.path(), "checkpoint_every: 700");
    let stop = StopFlag::new();
    let whole = dir.path().join("whole.h5");
    let mut run = MdRun::new(&config, None, &whole).unwrap();
    assert!(!run.resumed());
    assert_eq!(run.run(&stop, false).unwrap(), Some(whole.clone()));
    assert!(
        !run.checkpoint_path().exists(),
        "checkpoint removed at the end"
    );

    let parts = dir.path().join("parts.h5");
    for stop_after in [1234, 1, 900] {
        let mut run = MdRun::new(&config, None, &parts).unwrap();
        assert_eq!(run.run_steps(stop_after, &stop, false).unwrap(), None);
        assert!(run.checkpoint_path().is_file());
    }
    let mut run = MdRun::new(&config, None, &parts).unwrap();
    assert!(run.resumed());
    assert_eq!(run.step(), 1234 + 1 + 900);
    run.run(&stop, false).unwrap();

    for name in [
        "samples/x",
        "samples/u",
        "samples/log_w",
        "trajectory/walker",
        "trajectory/time_ps",
    ] {
        assert_eq!(read_h5(&whole, name), read_h5(&parts, name), "{name}");
    }
    let acceptance = |p: &Path| {
        let file = hdf5::File::open(p).unwrap();
        let a = file
            .group("md")
            .unwrap()
            .attr("exchange_acceptance")
            .unwrap();
        a.read_raw::<f64>().unwrap()
    };
    assert_eq!(acceptance(&whole), acceptance(&parts));
    let (walker, shape) = read_h5(&whole, "trajectory/walker");
    assert_eq!(shape, vec![3 * 60]);
    // Walker-major: walker 0's 60 frames, then walker 1's, then walker 2's.
    assert!(walker[..60].iter().all(|&w| w == 0.0) && walker[120..].iter().all(|&w| w == 2.0));
    let (time, _) = read_h5(&whole, "trajectory/time_ps");
    for (i, t) in [(0, 0.5), (59, 30.0), (60, 0.5)] {
        assert!(
            (time[i] - t).abs() < 1e-12,
            "time of frame {i}: {}",
            time[i]
        );
    }
    assert!(acceptance(&whole).iter().all(|a| (0.2..1.0).contains(a)));
    // The output is training data.
    let points = boltzflow::io::read_points(&whole).unwrap();
    assert_eq!((points.n, points.dim), (180, 2));

    // Another configuration does not resume this checkpoint.
    let mut run = MdRun::new(&config, None, &parts).unwrap();
    run.run_steps(10, &stop, false).unwrap();
    let other = md_config(dir.path(), "checkpoint_every: 800");
    let err = MdRun::new(&other, None, &parts).err().unwrap().to_string();
    assert!(err.contains("another configuration"), "{err}");
}

/// A seed given in place of the configuration's makes the run of a configuration with that
/// seed (and other samples than the configuration's own seed), and a checkpoint written with it
/// resumes only with the same seed.
#[test]
fn a_seed_on_the_command_line_replaces_the_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let config = md_config(dir.path(), "checkpoint_every: 700");
    let stop = StopFlag::new();
    let run = |seed: Option<u64>, name: &str| {
        let out = dir.path().join(name);
        MdRun::on_ranks(&config, None, seed, &out, &Single)
            .unwrap()
            .run(&stop, false)
            .unwrap();
        read_h5(&out, "samples/x")
    };
    let own = run(None, "own.h5");
    let other = run(Some(6), "other.h5");
    assert_ne!(own, other, "another seed gives other samples");
    assert_eq!(
        run(Some(5), "same.h5"),
        own,
        "the configuration's seed given again"
    );
    let written = std::fs::read_to_string(&config)
        .unwrap()
        .replace("seed: 5", "seed: 6");
    let six = dir.path().join("six.ron");
    std::fs::write(&six, written).unwrap();
    let out = dir.path().join("six.h5");
    MdRun::new(&six, None, &out)
        .unwrap()
        .run(&stop, false)
        .unwrap();
    assert_eq!(
        read_h5(&out, "samples/x"),
        other,
        "a configuration with seed 6"
    );

    let parts = dir.path().join("parts.h5");
    let mut started = MdRun::on_ranks(&config, None, Some(6), &parts, &Single).unwrap();
    assert_eq!(started.run_steps(10, &stop, false).unwrap(), None);
    let err = MdRun::new(&config, None, &parts).err().unwrap().to_string();
    assert!(err.contains("another configuration"), "{err}");
    let resumed = MdRun::on_ranks(&config, None, Some(6), &parts, &Single).unwrap();
    assert!(resumed.resumed() && resumed.step() == 10);
}

/// The replicas spread over 2 and 3 ranks (threads standing in for MPI processes): the same
/// file as on one process, bit for bit; a checkpoint written by 3 ranks resumes on 2.
#[test]
fn ranks_write_the_file_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = md_config(dir.path(), "checkpoint_every: 700");
    let stop = StopFlag::new();
    let one = dir.path().join("one.h5");
    MdRun::new(&config, None, &one)
        .unwrap()
        .run(&stop, false)
        .unwrap();

    let two = dir.path().join("two.h5");
    run_on_threads(2, |ranks| {
        MdRun::on_ranks(&config, None, None, &two, ranks)
            .unwrap()
            .run(&stop, false)
            .unwrap()
    });
    let parts = dir.path().join("parts.h5");
    run_on_threads(3, |ranks| {
        let mut run = MdRun::on_ranks(&config, None, None, &parts, ranks).unwrap();
        assert_eq!(run.state().md.n(), 3, "9 replicas over 3 ranks");
        assert_eq!(run.run_steps(1000, &stop, false).unwrap(), None);
    });
    run_on_threads(2, |ranks| {
        let mut run = MdRun::on_ranks(&config, None, None, &parts, ranks).unwrap();
        assert!(run.resumed() && run.step() == 1000);
        run.run(&stop, false).unwrap()
    });
    for other in [&two, &parts] {
        for name in [
            "samples/x",
            "samples/u",
            "trajectory/walker",
            "trajectory/step",
        ] {
            assert_eq!(read_h5(&one, name), read_h5(other, name), "{name}");
        }
    }
    assert_eq!(read_attr_as::<u64>(&two, "md", "ranks"), 2);
}

/// A replica whose energy turns NaN stops the run with an error naming the step and the replica;
/// the frames collected before it are written, marked incomplete.
#[test]
fn blow_up_names_replica_and_step_and_keeps_the_frames() {
    let dir = tempfile::tempdir().unwrap();
    write_system(
        dir.path(),
        "faulty.ron",
        "faulty",
        "(dim: 2, nan_above: 2.5)",
    );
    let config = dir.path().join("md.ron");
    std::fs::write(
        &config,
        "Md(system: \"faulty.ron\", temperatures: [1.0, 6.0], timestep_fs: 100.0, \
         steps: 100000, save_every: 1, walkers: 2)",
    )
    .unwrap();
    let output = dir.path().join("out.h5");
    let err = MdRun::new(&config, None, &output)
        .unwrap()
        .run(&StopFlag::new(), false)
        .unwrap_err();
    let Error::DynamicsUnstable {
        step,
        replica,
        what,
        saved,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*what, "energy");
    assert!(*replica < 4, "one of the 4 replicas: {err}");
    assert_eq!(saved.as_deref(), Some(output.as_path()));
    let message = err.to_string();
    assert!(
        message.contains("smaller timestep") && message.contains(&format!("step {step}")),
        "{message}"
    );
    let (_, shape) = read_h5(&output, "samples/x");
    assert_eq!(shape, vec![2 * (*step as usize - 1), 2]);
    assert_eq!(read_attr_as::<u64>(&output, "md", "complete"), 0);
}

/// The command line: a run writes its file and says so; configuration mistakes name the field
/// and the file; a molecule without `start` is refused with an example.
#[test]
fn md_command_runs_and_explains_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let config = md_config(dir.path(), "");
    let output = dir.path().join("out.h5");
    let out = boltzflow(&[
        "md",
        config.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("180 frames") && stderr.contains("ns/day"),
        "{stderr}"
    );
    assert!((read_attr(&output, "md", "ns_per_replica") - 0.035).abs() < 1e-12);

    let typo = dir.path().join("typo.ron");
    std::fs::write(
        &typo,
        "Md(system: \"dw.ron\", temperatures: [1.0], stpes: 10)",
    )
    .unwrap();
    let err = boltzflow_err(&["md", typo.to_str().unwrap(), "--output", "x.h5"]);
    assert!(err.contains("stpes") && err.contains("typo.ron"), "{err}");

    let hot = dir.path().join("hot.ron");
    std::fs::write(
        &hot,
        "Md(system: \"dw.ron\", temperatures: [2.0, 4.0], steps: 1000)",
    )
    .unwrap();
    let err = boltzflow_err(&["md", hot.to_str().unwrap(), "--output", "x.h5"]);
    assert!(err.contains("start at 1.0"), "{err}");

    let aldp = dir.path().join("aldp.ron");
    let system = workspace().join("data/alanine_dipeptide/system.ron");
    std::fs::write(
        &aldp,
        format!("Md(system: {system:?}, temperatures: [300.0], steps: 1000)"),
    )
    .unwrap();
    let err = boltzflow_err(&["md", aldp.to_str().unwrap(), "--output", "x.h5"]);
    assert!(err.contains("needs `start`"), "{err}");
}
