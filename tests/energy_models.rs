//! Energy models and VAPO's potential flow learned from samples through `boltzflow train`:
//! contrastive divergence and VAPO reach stated KL divergences to a known density, runs resume
//! exactly, learned models are systems, and configurations that mix model kinds with the wrong
//! objectives are refused.

mod common;

use common::one_at_a_time;

use boltzflow::backend::Cpu;
use boltzflow::flow::{from_f64, to_host};
use boltzflow::job::{Outcome, StopFlag};
use boltzflow::train::Trainer;
use burn::backend::Autodiff;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

type B = Autodiff<Cpu>;

/// Contrastive divergence on 20,000 exact samples.
const CD: &str = "[ContrastiveDivergence(samples: Exact(n: 20000),
    langevin: (steps: 10, step_size: 0.02), chains: 2000)]";

/// A connected bimodal density in 2-D: two Gaussians 3 apart, weights 1 : 2 (exact log Z = 0).
const CONNECTED: &str = "(means: [[-1.5, 0.0], [1.5, 0.5]], stds: [0.8, 1.0], weights: [1.0, 2.0])";

/// Two Gaussians 8 apart (11 standard deviations), weights 1 : 2: no Langevin chain or
/// transported particle crosses between them.
const SEPARATED: &str = "(means: [[-4.0, 0.0], [4.0, 0.0]], stds: [0.7, 0.7], weights: [1.0, 2.0])";

/// A run of `objectives` on the mixture `mixture`.
fn write_run(
    dir: &Path,
    mixture: &str,
    steps: usize,
    checkpoint_every: usize,
    model: &str,
    objectives: &str,
) -> PathBuf {
    common::write_system(dir, "mixture.ron", "gaussian-mixture", mixture);
    let path = dir.join("train.ron");
    std::fs::write(
        &path,
        format!(
            "Train(system: \"mixture.ron\", {model}, seed: 0, steps: {steps}, batch_size: 256,
             objectives: {objectives}, optimizer: (lr: 3e-3, cosine: true),
             checkpoint_every: {checkpoint_every}, test_samples: 5000)"
        ),
    )
    .unwrap();
    path
}

/// Contrastive divergence on the connected mixture.
fn write_config(dir: &Path, steps: usize, checkpoint_every: usize, model: &str) -> PathBuf {
    write_run(dir, CONNECTED, steps, checkpoint_every, model, CD)
}

const ENERGY: &str = "energy: (hidden: [32, 32])";

/// A small potential flow with a coarse solver (20 RK4 steps: 100 give the same KL to four
/// decimals on this mixture).
const POTENTIAL: &str = "potential: (hidden: [32, 32], sigma: 0.05, solver: Rk4((steps: 20)))";

/// VAPO on 20,000 exact samples.
const VAPO: &str = "[Vapo(samples: Exact(n: 20000))]";

/// Fixed points of the connected mixture's plane.
const POINTS: [f64; 6] = [0.0, 0.0, -1.5, 0.0, 2.0, 1.0];

/// The potential flow's log q at [`POINTS`].
fn log_q(trainer: &Trainer<B>) -> Vec<f64> {
    use boltzflow::flow::Density;
    let x = from_f64(POINTS.to_vec(), [3, 2], &Default::default());
    to_host(trainer.model().flow().unwrap().log_prob(x).inner())
}

/// The learned energy at fixed points.
fn energies(trainer: &Trainer<B>) -> Vec<f64> {
    let x = from_f64(POINTS.to_vec(), [3, 2], &Default::default());
    to_host(trainer.model().energy().unwrap().energy(x))
}

/// Trains `config` to its end in the folder `run` beside it: the run folder and the trainer.
fn train_to_end(config: &Path) -> (PathBuf, Trainer<'static, B>) {
    let run = config.with_file_name("run");
    let mut trainer = Trainer::<B>::new(config, None, &run, Default::default()).unwrap();
    assert_eq!(
        trainer.run(&StopFlag::new(), false).unwrap(),
        Outcome::Finished
    );
    (run, trainer)
}

/// 1,500 steps (about 5 s) bring KL(p‖p_θ), measured exactly on the grid, below 0.03 nats
/// (0.015 seen; 0.002 after 3,000 steps), and the test log-likelihood within 0.05 of the exact
/// one. Every energy-model evaluation is counted: E and ∇E at each chain in each Langevin step,
/// E at the data and the negatives.
#[test]
fn contrastive_divergence_learns_a_bimodal_density() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 1500, 500, ENERGY);
    let (run, trainer) = train_to_end(&config);
    let last = trainer.state().history.last().unwrap().clone();
    let kl = last.kl.expect("a 2-D system with an exact log Z gets a KL");
    assert!(kl > 0.0 && kl < 0.03, "KL(p‖p_θ) {kl}");
    let exact = common::read_attr(&run.join("run.h5"), "training", "exact_test_log_likelihood");
    let gap = exact - last.test_log_likelihood.unwrap();
    assert!(
        gap.abs() < 0.05,
        "test log-likelihood {gap} below the exact one"
    );
    assert_eq!(last.model_evaluations, (1500 * 256 * (10 + 2)) as u64);
    let (curve, _) = common::read_h5(&run.join("run.h5"), "training/kl");
    assert_eq!(curve.len(), 1500);
    assert!(
        curve[499].is_finite() && curve[0].is_nan(),
        "KL at evaluation steps only"
    );
}

/// The Wasserstein-gradient-flow scheme's birth–death reweighting moves mass between modes that
/// its transport cannot connect: 800 steps of 200 particles (about 6 s) give the separated
/// mixture's second mode its 2/3 of the mass within 0.03 (0.674 seen; contrastive divergence,
/// whose chains never cross, gave 0.749 in the same run length).
#[test]
fn the_wasserstein_scheme_balances_separated_modes() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let wgf = "[Wgf(samples: Exact(n: 20000),
        scheme: (particles: 200, bandwidth: 0.2, step_size: 0.01))]";
    let config = write_run(dir.path(), SEPARATED, 800, 400, ENERGY, wgf);
    let run = dir.path().join("run");
    let mut trainer = Trainer::<B>::new(&config, None, &run, Default::default()).unwrap();
    trainer.run(&StopFlag::new(), false).unwrap();
    let (x, _) = common::read_h5(&run.join("run.h5"), "energy/grid");
    let (log_p, _) = common::read_h5(&run.join("run.h5"), "energy/log_density");
    let total: f64 = log_p.iter().map(|l| l.exp()).sum();
    let right: f64 = log_p
        .iter()
        .zip(x.chunks(2))
        .filter(|(_, p)| p[0] > 0.0)
        .map(|(l, _)| l.exp())
        .sum();
    let mass = right / total;
    assert!(
        (mass - 2.0 / 3.0).abs() < 0.03,
        "mass of the right mode {mass}"
    );
    assert!(run.join("energy.png").is_file());
}

/// 30 steps in one go, and 13 + 17 with a checkpoint between: the persistent chains (and the
/// Wasserstein scheme's particles and weights) are saved with the checkpoint, so both runs
/// agree bit for bit.
#[test]
fn an_interrupted_contrastive_divergence_run_resumes_exactly() {
    let _serial = one_at_a_time();
    assert_resumes_exactly(ENERGY, CD, energies);
}

#[test]
fn an_interrupted_wasserstein_run_resumes_exactly() {
    let _serial = one_at_a_time();
    assert_resumes_exactly(
        ENERGY,
        "[Wgf(samples: Exact(n: 2000), scheme: (particles: 50))]",
        energies,
    );
}

#[test]
fn an_interrupted_vapo_run_resumes_exactly() {
    let _serial = one_at_a_time();
    assert_resumes_exactly(POTENTIAL, VAPO, log_q);
}

/// Runs `objectives` on `model` in one go and with a checkpoint between, and compares the
/// losses and `learned` (the model at fixed points) of both.
fn assert_resumes_exactly(model: &str, objectives: &str, learned: fn(&Trainer<B>) -> Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_run(dir.path(), CONNECTED, 30, 10, model, objectives);
    let never = StopFlag::new();
    let mut whole =
        Trainer::<B>::new(&config, None, &dir.path().join("whole"), Default::default()).unwrap();
    assert_eq!(whole.run(&never, false).unwrap(), Outcome::Finished);
    let split = dir.path().join("split");
    let mut first = Trainer::<B>::new(&config, None, &split, Default::default()).unwrap();
    assert_eq!(first.run_steps(13, &never, false).unwrap(), Outcome::Paused);
    drop(first);
    if model == ENERGY {
        assert!(split.join("checkpoint/particles_0.h5").is_file());
    }
    let mut second = Trainer::<B>::new(&config, None, &split, Default::default()).unwrap();
    assert_eq!(second.step(), 13);
    assert_eq!(second.run(&never, false).unwrap(), Outcome::Finished);
    let losses = |t: &Trainer<B>| t.state().history.iter().map(|r| r.loss).collect::<Vec<_>>();
    assert_eq!(losses(&whole), losses(&second));
    assert_eq!(learned(&whole), learned(&second));
}

/// Energy models and flows do not mix: each refusal names what to change.
#[test]
fn energy_and_flow_configurations_are_kept_apart() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let refused = |model: &str, objectives: Option<&str>| {
        let config = write_config(dir.path(), 10, 5, model);
        if let Some(objectives) = objectives {
            let text = std::fs::read_to_string(&config).unwrap();
            let start = text.find("objectives:").unwrap();
            let end = text.find("optimizer:").unwrap();
            let text = format!(
                "{}objectives: {objectives},\n{}",
                &text[..start],
                &text[end..]
            );
            std::fs::write(&config, text).unwrap();
        }
        match Trainer::<B>::new(&config, None, &dir.path().join("run"), Default::default()) {
            Ok(_) => panic!("{model} with {objectives:?} must be refused"),
            Err(e) => e.to_string(),
        }
    };
    let both = refused(
        &format!("{ENERGY}, flow: RealNvp(layers: 2, hidden: [8])"),
        None,
    );
    assert!(both.contains("exactly one of `flow"), "{both}");
    let three = refused(&format!("{ENERGY}, {POTENTIAL}"), None);
    assert!(three.contains("exactly one of `flow"), "{three}");
    let neither = refused("precision: F32", None);
    assert!(neither.contains("exactly one of `flow"), "{neither}");
    let cd_on_flow = refused("flow: RealNvp(layers: 2, hidden: [8])", None);
    assert!(
        cd_on_flow.contains("ContrastiveDivergence: this objective trains an energy model"),
        "{cd_on_flow}"
    );
    let cd_on_potential = refused(POTENTIAL, None);
    assert!(
        cd_on_potential.contains("give `energy: (...)` (the run has `potential: (...)`)"),
        "{cd_on_potential}"
    );
    let vapo_on_energy = refused(ENERGY, Some(VAPO));
    assert!(
        vapo_on_energy.contains("Vapo: this objective trains a potential flow"),
        "{vapo_on_energy}"
    );
    let relu = refused("potential: (activation: Relu)", Some(VAPO));
    assert!(relu.contains("second derivative"), "{relu}");
    let no_names = refused(
        POTENTIAL,
        Some("[Vapo(samples: Dihedrals(path: \"md.h5\", names: []))]"),
    );
    assert!(
        no_names.contains("Vapo: `Dihedrals`: `names` is empty"),
        "{no_names}"
    );
    let cuts = refused(
        POTENTIAL,
        Some("[Vapo(samples: Dihedrals(path: \"md.h5\", names: [\"phi\"], cuts: [0, 1]))]"),
    );
    assert!(cuts.contains("one finite angle per name"), "{cuts}");
    let flow_objective = refused(ENERGY, Some("[ReverseKl()]"));
    assert!(
        flow_objective.contains("ReverseKl: this objective trains a flow"),
        "{flow_objective}"
    );
    let bad_langevin = refused(
        ENERGY,
        Some("[ContrastiveDivergence(samples: Exact(n: 100), langevin: (steps: 0))]"),
    );
    assert!(bad_langevin.contains("langevin: `steps`"), "{bad_langevin}");
    assert!(
        !dir.path().join("run/run.ron").exists(),
        "a refused run leaves nothing"
    );
}

/// `sample` on an energy-model run says why it cannot, instead of failing obscurely.
#[test]
fn sampling_an_energy_model_run_is_refused_clearly() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 2, 2, ENERGY);
    let run = dir.path().join("run");
    let mut trainer = Trainer::<B>::new(&config, None, &run, Default::default()).unwrap();
    trainer.run(&StopFlag::new(), false).unwrap();
    drop(trainer);
    let out = dir.path().join("samples.h5");
    let message = common::boltzflow_err(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "-n",
        "10",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(
        message.contains("energy model, which is not a flow"),
        "{message}"
    );
    assert!(!out.exists());
}

/// A trained energy model is a system: `System(learned: "RUN_DIR")` loads with the training
/// system's dimension, gives the model's energies, runs MD, and names what is wrong with a bad
/// folder.
#[test]
fn a_learned_energy_is_a_system() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 300, 300, ENERGY);
    let mut trainer =
        Trainer::<B>::new(&config, None, &dir.path().join("run"), Default::default()).unwrap();
    trainer.run(&StopFlag::new(), false).unwrap();
    let learned = dir.path().join("learned.ron");
    std::fs::write(&learned, "System(learned: \"run\")").unwrap();
    let (_, system) = boltzflow::config::load_system(&learned).unwrap();
    assert_eq!((system.dim(), system.log_z()), (2, None));
    assert!(!system.has_exact_sampler());
    let x = vec![0.0, 0.0, -1.5, 0.0, 2.0, 1.0];
    let from_system = system.evaluate(&x, true).unwrap();
    for (a, b) in from_system.u.iter().zip(energies(&trainer)) {
        assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} against {b}");
    }
    assert!(
        from_system
            .grad
            .as_ref()
            .unwrap()
            .iter()
            .all(|g| g.is_finite())
    );

    let md = dir.path().join("md.ron");
    std::fs::write(
        &md,
        "Md(system: \"learned.ron\", temperatures: [1.0], timestep_fs: 10.0, friction_per_ps: 1.0,
            steps: 2000, equilibration_steps: 100, save_every: 10, walkers: 2, seed: 1)",
    )
    .unwrap();
    let out = dir.path().join("md.h5");
    common::boltzflow_ok(&[
        "md",
        md.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let (frames, shape) = common::read_h5(&out, "samples/x");
    assert_eq!(shape, [400, 2]);
    assert!(frames.iter().all(|v| v.is_finite()));

    let refused = |text: &str| {
        std::fs::write(&learned, text).unwrap();
        boltzflow::config::load_system(&learned)
            .unwrap_err()
            .to_string()
    };
    let missing = refused("System(learned: \"nowhere\")");
    assert!(
        missing.contains("learned.ron") && missing.contains("nowhere"),
        "{missing}"
    );
    let both = refused("System(plugin: \"gaussian-mixture\", learned: \"run\")");
    assert!(both.contains("either a plugin"), "{both}");

    let flow_run = dir.path().join("flow");
    let flow_config = write_run(
        dir.path(),
        CONNECTED,
        2,
        2,
        "flow: RealNvp(layers: 2, hidden: [8])",
        "[ForwardKl(samples: Exact(n: 100))]",
    );
    Trainer::<B>::new(&flow_config, None, &flow_run, Default::default())
        .unwrap()
        .run(&StopFlag::new(), false)
        .unwrap();
    let flow = refused("System(learned: \"flow\")");
    assert!(flow.contains("trained a flow"), "{flow}");
}

/// VAPO on the connected mixture: 1,500 steps (about 8 s) bring KL(p‖q), estimated on 5,000
/// exact test samples (standard error about 0.004), below 0.08 nats (0.048 seen; 0.017 after
/// 6,000 steps). No model samples are drawn in training: one evaluation of Φ and ∇Φ per point.
/// `sample --run` draws from it with importance weights against the mixture.
#[test]
fn vapo_learns_a_bimodal_density_and_samples_it() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = write_run(dir.path(), CONNECTED, 1500, 500, POTENTIAL, VAPO);
    let (run, trainer) = train_to_end(&config);
    let last = trainer.state().history.last().unwrap().clone();
    let kl = last.kl.expect("an exact test set and log Z give a KL");
    assert!(kl > 0.0 && kl < 0.08, "KL(p‖q) {kl}");
    let first = trainer.state().history[499].kl.unwrap();
    assert!(first > kl, "KL {first} at step 500, {kl} at the end");
    assert_eq!(last.model_evaluations, 1500 * 256);
    drop(trainer);

    let out = dir.path().join("samples.h5");
    common::boltzflow_ok(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "-n",
        "3000",
        "--output",
        out.to_str().unwrap(),
    ]);
    let (x, shape) = common::read_h5(&out, "samples/x");
    let (log_w, _) = common::read_h5(&out, "samples/log_w");
    assert_eq!(shape, [3000, 2]);
    // The right mode (mean x₁ = 1.5) holds 2/3 of the mass: the flow's share, reweighted.
    let max = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|l| (l - max).exp()).collect();
    let right: f64 = w
        .iter()
        .zip(x.chunks(2))
        .filter(|(_, p)| p[0] > 0.0)
        .map(|(w, _)| w)
        .sum();
    let share = right / w.iter().sum::<f64>();
    // The boundary x₁ = 0 cuts both Gaussians: the exact share right of it.
    let phi = |z: f64| 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
    let exact = (1.0 / 3.0) * (1.0 - phi(1.5 / 0.8)) + (2.0 / 3.0) * phi(1.5);
    assert!(
        (share - exact).abs() < 0.03,
        "share {share} against {exact}"
    );
}

/// A trained potential flow is a system: its energy is −log q (normalised): `energy` on the
/// learned system gives minus the log q that `sample` gave its own samples, and the gradient, by
/// autodiff through the ODE solve, matches central differences of that energy. Through the
/// command line, in f64 (a process chooses its precision once).
#[test]
fn a_learned_potential_is_a_system() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // Five RK4 steps: u = −log q and the gradient hold for any discretisation, and the
    // end-of-run surface (65,536 solves) stays cheap.
    let model = "potential: (hidden: [32, 32], sigma: 0.05, solver: Rk4((steps: 5))), \
                 precision: F64";
    let config = write_run(dir.path(), CONNECTED, 200, 200, model, VAPO);
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    common::boltzflow_ok(&["train", &path("train.ron"), "--out", &path("run")]);
    assert!(config.is_file());
    common::boltzflow_ok(&[
        "sample",
        "--run",
        &path("run"),
        "-n",
        "4",
        "--output",
        &path("samples.h5"),
    ]);
    let (x, _) = common::read_h5(&dir.path().join("samples.h5"), "samples/x");
    let (log_q, _) = common::read_h5(&dir.path().join("samples.h5"), "samples/log_q");
    // The samples, then each coordinate of the first sample moved by ±h.
    let h = 1e-5;
    let mut points = x.clone();
    for k in 0..2 {
        for s in [1.0, -1.0] {
            let mut p = x[..2].to_vec();
            p[k] += s * h;
            points.extend(p);
        }
    }
    common::write_h5(&dir.path().join("points.h5"), "x", &points, &[8, 2]);
    std::fs::write(dir.path().join("learned.ron"), "System(learned: \"run\")").unwrap();
    common::boltzflow_ok(&[
        "energy",
        "--system",
        &path("learned.ron"),
        "--input",
        &path("points.h5"),
        "--output",
        &path("energies.h5"),
    ]);
    let (u, _) = common::read_h5(&dir.path().join("energies.h5"), "u");
    let (grad, _) = common::read_h5(&dir.path().join("energies.h5"), "grad_u");
    for (u, lq) in u.iter().zip(&log_q) {
        assert!(
            (u + lq).abs() < 1e-6 * (1.0 + lq.abs()),
            "u {u} against log q {lq}"
        );
    }
    for k in 0..2 {
        let numeric = (u[4 + 2 * k] - u[5 + 2 * k]) / (2.0 * h);
        assert!(
            (grad[k] - numeric).abs() < 1e-5 * (1.0 + numeric.abs()),
            "∂u/∂x{k}: {} against {numeric}",
            grad[k]
        );
    }
}

/// A potential flow of two angles tabulated for dynamics (`System(learned: …, table: 64)`): the
/// table's energy and gradient match the model's off the grid (its largest difference is in
/// the system's description), a table on the grid of the surface in `run.h5` is read from
/// there, and `md` runs on the table.
#[test]
fn a_learned_surface_of_angles_is_tabulated_for_dynamics() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    // 2,000 angle pairs around two basins (a deterministic scatter).
    let (mut phi, mut psi) = (Vec::new(), Vec::new());
    for k in 0..2000 {
        let (a, b) = (
            (k as f64 * 0.618_034).fract(),
            (k as f64 * 0.754_878).fract(),
        );
        let basin = if k % 3 == 0 { (1.0, -0.8) } else { (-1.4, 2.5) };
        phi.push(basin.0 + 0.6 * (a - 0.5));
        psi.push(basin.1 + 0.6 * (b - 0.5));
    }
    let file = hdf5::File::create(path("angles.h5")).unwrap();
    for (name, values) in [("dihedrals/phi", &phi), ("dihedrals/psi", &psi)] {
        file.new_dataset_builder()
            .with_data(values.as_slice())
            .create(name)
            .unwrap();
    }
    drop(file);
    std::fs::write(
        path("angles.ron"),
        "Angles(names: [\"phi\", \"psi\"], temperature_kelvin: 300.0)",
    )
    .unwrap();
    std::fs::write(
        path("vapo.ron"),
        "Train(system: \"angles.ron\", seed: 0, steps: 40, batch_size: 64, precision: F64,
         potential: (hidden: [16, 16], sigma: 0.05, solver: Rk4((steps: 8))),
         objectives: [Vapo(samples: Dihedrals(path: \"angles.h5\", names: [\"phi\", \"psi\"]))],
         optimizer: (lr: 1e-3), checkpoint_every: 40, eval_samples: 0)",
    )
    .unwrap();
    common::boltzflow_ok(&["train", &path("vapo.ron"), "--out", &path("run")]);
    std::fs::write(path("model.ron"), "System(learned: \"run\")").unwrap();
    std::fs::write(path("table.ron"), "System(learned: \"run\", table: 64)").unwrap();
    let info = common::boltzflow_ok(&["info", "--system", &path("table.ron")]);
    assert!(
        info.contains("tabulated on 64^2 points of the torus from the model"),
        "{info}"
    );
    // The computed table is kept in the run folder, and the next load reads it.
    assert!(dir.path().join("run/table_64.h5").is_file());
    let info = common::boltzflow_ok(&["info", "--system", &path("table.ron")]);
    assert!(info.contains("(kept in the run folder)"), "{info}");
    // On the grid of the surface that training wrote into run.h5, the table is read from it.
    std::fs::write(path("stored.ron"), "System(learned: \"run\", table: 128)").unwrap();
    let info = common::boltzflow_ok(&["info", "--system", &path("stored.ron")]);
    assert!(info.contains("from the surface in run.h5"), "{info}");
    // Points off the grid, some outside [−π, π) (the table is periodic).
    let points: Vec<f64> = (0..12)
        .flat_map(|k| [-4.0 + 0.71 * k as f64, 3.5 - 0.63 * k as f64])
        .collect();
    common::write_h5(&dir.path().join("points.h5"), "x", &points, &[12, 2]);
    let energies = |system: &str, out: &str| {
        common::boltzflow_ok(&[
            "energy",
            "--system",
            &path(system),
            "--input",
            &path("points.h5"),
            "--output",
            &path(out),
        ]);
        let file = dir.path().join(out);
        (
            common::read_h5(&file, "u").0,
            common::read_h5(&file, "grad_u").0,
        )
    };
    let (u_model, g_model) = energies("model.ron", "model.h5");
    let (u_table, g_table) = energies("table.ron", "table.h5");
    let (u_stored, _) = energies("stored.ron", "stored.h5");
    for ((a, b), c) in u_model.iter().zip(&u_table).zip(&u_stored) {
        assert!((a - b).abs() < 1e-3, "u: model {a}, table {b}");
        assert!((a - c).abs() < 1e-3, "u: model {a}, table from run.h5 {c}");
    }
    for (a, b) in g_model.iter().zip(&g_table) {
        assert!(
            (a - b).abs() < 1e-2 * (1.0 + a.abs()),
            "∇u: model {a}, table {b}"
        );
    }
    std::fs::write(
        path("md.ron"),
        "Md(system: \"table.ron\", temperatures: [1.0], timestep_fs: 10.0, steps: 2000, \
         equilibration_steps: 200, save_every: 20, exchange_every: 100, walkers: 2, seed: 3)",
    )
    .unwrap();
    common::boltzflow_ok(&["md", &path("md.ron"), "--output", &path("md.h5")]);
    let (x, shape) = common::read_h5(&dir.path().join("md.h5"), "samples/x");
    assert_eq!(shape[1], 2);
    assert!(x.iter().all(|v| v.is_finite()));
    // FAB on the table, with a flow on the torus: its samples are angles in [−π, π).
    std::fs::write(
        path("fab.ron"),
        "Train(system: \"table.ron\", flow: Torus(layers: 2, hidden: [8], bins: 4), seed: 0, \
         steps: 6, batch_size: 64, objectives: [Fab(ais: (intermediate: 1, schedule: Linear, \
         kernel: Hmc(step_size: 0.1, leapfrog_steps: 2, target_acceptance: 0.65)), \
         buffer: (capacity: 1024, min_length: 64, updates_per_batch: 1))], \
         checkpoint_every: 3, eval_samples: 0)",
    )
    .unwrap();
    common::boltzflow_ok(&["train", &path("fab.ron"), "--out", &path("fab")]);
    common::boltzflow_ok(&[
        "sample",
        "--run",
        &path("fab"),
        "-n",
        "200",
        "--output",
        &path("fab.h5"),
    ]);
    let (x, shape) = common::read_h5(&dir.path().join("fab.h5"), "samples/x");
    assert_eq!(shape, vec![200, 2]);
    assert!(x.iter().all(|v| (-PI..PI).contains(v)), "{x:?}");
}
