//! Alanine dipeptide through the real binary: a tiny FAB run on FAB's molecular flow, then
//! samples with their Cartesian positions.

mod common;

use common::{boltzflow_ok, read_h5, workspace};

/// A few FAB steps on a tiny molecular flow with torsion jumps: the run counts the mirror-image
/// AIS samples it dropped (an untrained flow draws the CB torsion uniformly, so about half are
/// D) and the jumps it accepted, and
/// `sample`, with and without AIS (which runs on the internal coordinates), writes
/// `/samples/positions` `[n, 22, 3]` equal to `/samples/x`, in the flow's frame (CA at the
/// origin, N on +x, C in the xy-plane), with finite log weights.
#[test]
fn a_tiny_fab_run_drops_mirror_images_and_samples_positions() {
    let dir = tempfile::tempdir().unwrap();
    let data = workspace().join("data/alanine_dipeptide");
    let config = dir.path().join("tiny.ron");
    std::fs::write(
        &config,
        format!(
            r#"Train(
    system: "{}",
    flow: Molecular(internal: AlanineDipeptide, reference: "{}", layers: 2, hidden: [8]),
    precision: F32,
    steps: 4,
    batch_size: 32,
    objectives: [Fab(
        ais: (
            intermediate: 1,
            kernel: Hmc(step_size: 0.1, leapfrog_steps: 2),
            torsion_jumps: [[17, 26, 29], [44]],
        ),
        buffer: (capacity: 256, min_length: 64, updates_per_batch: 2),
        filter_chirality: Some((6, 8, 14, 10)),
    )],
    checkpoint_every: 2,
    eval_samples: 64,
)"#,
            data.join("system.ron").display(),
            data.join("aldp_min_energy.csv").display()
        ),
    )
    .unwrap();
    let run = dir.path().join("run");
    boltzflow_ok(&[
        "train",
        config.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    let training = hdf5::File::open(run.join("run.h5"))
        .unwrap()
        .group("training")
        .unwrap();
    let count = |name: &str| -> u64 { training.attr(name).unwrap().read_scalar().unwrap() };
    // At least 64 AIS samples were drawn to fill the buffer, about half of them D.
    let dropped = count("mirror_images_dropped");
    assert!(dropped >= 10, "{dropped} mirror images dropped");
    // One jump proposal per chain: on an untrained flow's clashing structures many go downhill.
    let jumps = count("torsion_jumps_accepted");
    assert!(jumps >= 5, "{jumps} torsion jumps accepted");

    for (name, extra) in [
        ("samples.h5", &[][..]),
        ("ais.h5", &["--ais", "--ais-warmup", "1"][..]),
    ] {
        let samples = dir.path().join(name);
        let mut args = vec![
            "sample",
            "--run",
            run.to_str().unwrap(),
            "-n",
            "50",
            "--output",
            samples.to_str().unwrap(),
        ];
        args.extend(extra);
        boltzflow_ok(&args);
        let (x, x_shape) = read_h5(&samples, "samples/x");
        let (positions, shape) = read_h5(&samples, "samples/positions");
        let (log_w, _) = read_h5(&samples, "samples/log_w");
        assert_eq!(x_shape[1], 66, "{name}");
        assert_eq!(shape[1..], [22, 3], "{name}");
        assert_eq!(positions, x, "{name}");
        assert!(log_w.iter().all(|w| w.is_finite()), "{name}");
        for frame in positions.chunks(66) {
            let ca = &frame[8 * 3..9 * 3];
            let n = &frame[6 * 3..7 * 3];
            let c = &frame[14 * 3..15 * 3];
            assert!(ca.iter().all(|v| v.abs() < 1e-6), "{name}: CA at {ca:?}");
            assert!(
                n[0] > 0.1 && n[1].abs() < 1e-6 && n[2].abs() < 1e-6,
                "{name}: N at {n:?}"
            );
            assert!(c[2].abs() < 1e-6, "{name}: C at {c:?}");
        }
    }
}

/// FAB's target on internal coordinates, log p(z) = −u(x(z)) + log|det ∂x/∂z|: its value is
/// the plugin's energy at x(z) plus the layer's log-determinant, its gradient matches central
/// finite differences, and the angles' periodicity holds (z and z + 2π on a torsion agree).
#[test]
fn the_target_on_internal_coordinates_has_the_right_value_and_gradient() {
    use boltzflow::backend::Cpu;
    use boltzflow::densities::InternalTarget;
    use boltzflow::flow::{
        Bijection, InternalCoordinatesConfig, Precision, from_f64, set_precision, to_host,
    };
    use boltzflow::sampling::LogDensity;
    use burn::backend::Autodiff;
    use rand::{RngExt, SeedableRng};
    type B = Autodiff<Cpu>;

    let device = Default::default();
    set_precision::<B>(&device, Precision::F64).unwrap();
    let data = workspace().join("data/alanine_dipeptide");
    let reference = boltzflow::io::read_structure_csv(&data.join("aldp_min_energy.csv")).unwrap();
    let config = InternalCoordinatesConfig::alanine_dipeptide(reference).unwrap();
    let circular = config.circular_outputs();
    let layer = config.init::<B>(&device).unwrap();
    let (_, system) = boltzflow::config::load_system(&data.join("system.ron")).unwrap();
    let target = InternalTarget::new(&system, &layer, &device);
    assert_eq!(target.dim(), 60);

    let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
    let n = 4;
    let z: Vec<f64> = (0..n * 60).map(|_| rng.random_range(-0.3..0.3)).collect();
    let mut grad = vec![0.0; z.len()];
    let log_p = target.log_density(&z, Some(&mut grad)).unwrap();

    let (x, log_det) = layer.forward(from_f64::<B, 2>(z.clone(), [n, 60], &device));
    let u = system.evaluate(&to_host(x), false).unwrap().u;
    for ((lp, u), ld) in log_p.iter().zip(&u).zip(to_host(log_det)) {
        assert!(
            (lp - (ld - u)).abs() < 1e-9 * u.abs().max(1.0),
            "{lp} vs {}",
            ld - u
        );
    }
    for (a, b) in target.log_density(&z, None).unwrap().iter().zip(&log_p) {
        assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }

    let h = 1e-6;
    for i in [0, 1, 2, 5, 14, 29, 41, 59] {
        let mut plus = z.clone();
        let mut minus = z.clone();
        plus[i] += h;
        minus[i] -= h;
        let fd = (target.log_density(&plus, None).unwrap()[0]
            - target.log_density(&minus, None).unwrap()[0])
            / (2.0 * h);
        assert!(
            (fd - grad[i]).abs() < 1e-4 * fd.abs().max(1.0),
            "coordinate {i}: finite difference {fd}, gradient {}",
            grad[i]
        );
    }

    let torsion = circular.iter().position(|&c| c).unwrap();
    let mut turned = z.clone();
    turned[torsion] += 2.0 * std::f64::consts::PI;
    let turned_log_p = target.log_density(&turned, None).unwrap();
    assert!((turned_log_p[0] - log_p[0]).abs() < 1e-8 * log_p[0].abs().max(1.0));
}
