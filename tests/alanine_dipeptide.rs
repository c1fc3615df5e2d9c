//! Alanine dipeptide through the real binary: a tiny FAB run on FAB's molecular flow, then
//! samples with their Cartesian positions.

mod common;

use common::{boltzflow_ok, read_h5, workspace};

/// A few FAB steps on a tiny molecular flow: the run counts the mirror-image AIS samples it
/// dropped (an untrained flow draws the CB torsion uniformly, so about half are D), and
/// `sample` writes `/samples/positions` `[n, 22, 3]` equal to `/samples/x`, in the flow's frame
/// (CA at the origin, N on +x, C in the xy-plane).
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
        ais: (intermediate: 1, kernel: Hmc(step_size: 0.001, leapfrog_steps: 2)),
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
    let dropped: u64 = hdf5::File::open(run.join("run.h5"))
        .unwrap()
        .group("training")
        .unwrap()
        .attr("mirror_images_dropped")
        .unwrap()
        .read_scalar()
        .unwrap();
    // At least 64 AIS samples were drawn to fill the buffer, about half of them D.
    assert!(dropped >= 10, "{dropped} mirror images dropped");

    let samples = dir.path().join("samples.h5");
    boltzflow_ok(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "-n",
        "50",
        "--output",
        samples.to_str().unwrap(),
    ]);
    let (x, x_shape) = read_h5(&samples, "samples/x");
    let (positions, shape) = read_h5(&samples, "samples/positions");
    assert_eq!(x_shape, [50, 66]);
    assert_eq!(shape, [50, 22, 3]);
    assert_eq!(positions, x);
    for frame in positions.chunks(66) {
        let ca = &frame[8 * 3..9 * 3];
        let n = &frame[6 * 3..7 * 3];
        let c = &frame[14 * 3..15 * 3];
        assert!(ca.iter().all(|v| v.abs() < 1e-6), "CA at {ca:?}");
        assert!(
            n[0] > 0.1 && n[1].abs() < 1e-6 && n[2].abs() < 1e-6,
            "N at {n:?}"
        );
        assert!(c[2].abs() < 1e-6, "C at {c:?}");
    }
}
