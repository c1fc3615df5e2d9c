//! `boltzflow analyze` on the committed alanine-dipeptide samples file
//! (`tests/fixtures/aldp_samples.h5`, made by `examples/make_analyze_fixture.rs`), checked
//! against numbers computed here independently.

mod common;

use boltzflow::io::OutputFile;
use common::*;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

const PHI: [usize; 4] = [4, 6, 8, 14];
const PSI: [usize; 4] = [6, 8, 14, 16];
const ATOMS: usize = 22;
const FRAMES: usize = 300;
/// k_B in kJ/mol/K as the plugins use it (the SDK's `BOLTZMANN`).
const KB: f64 = 0.008_314_462_6;

fn fixture() -> PathBuf {
    workspace().join("tests/fixtures/aldp_samples.h5")
}

/// A copy of the fixture in `dir`.
fn copy_fixture(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(fixture(), &path).unwrap();
    path
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The dihedral by the projection formula (independent of the library's cross-product one):
/// v, w are b0 = p0 − p1 and b2 = p3 − p2 projected off the unit axis b1 = p2 − p1.
fn dihedral(frame: &[f64], atoms: [usize; 4]) -> f64 {
    let p = |i: usize| [frame[3 * i], frame[3 * i + 1], frame[3 * i + 2]];
    let sub = |a: [f64; 3], b: [f64; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let [p0, p1, p2, p3] = atoms.map(p);
    let b0 = sub(p0, p1);
    let b1 = sub(p2, p1);
    let b2 = sub(p3, p2);
    let norm = dot(b1, b1).sqrt();
    let b1 = b1.map(|c| c / norm);
    let v = sub(b0, b1.map(|c| c * dot(b0, b1)));
    let w = sub(b2, b1.map(|c| c * dot(b2, b1)));
    let cross = [
        b1[1] * v[2] - b1[2] * v[1],
        b1[2] * v[0] - b1[0] * v[2],
        b1[0] * v[1] - b1[1] * v[0],
    ];
    dot(cross, w).atan2(dot(v, w))
}

/// Angle difference modulo 2π, in (−π, π].
fn wrapped(d: f64) -> f64 {
    let d = d.rem_euclid(2.0 * PI);
    if d > PI { d - 2.0 * PI } else { d }
}

/// Bin of an angle among `bins` uniform bins over [−π, π], π in the last.
fn bin(x: f64, bins: usize) -> usize {
    (((x + PI) / (2.0 * PI) * bins as f64).floor() as usize).min(bins - 1)
}

/// (φ, ψ) of every fixture frame by the independent formula, and its log weights.
fn fixture_angles() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (x, shape) = read_h5(&fixture(), "samples/x");
    assert_eq!(shape, vec![FRAMES, 3 * ATOMS]);
    let frames = x.chunks_exact(3 * ATOMS);
    let phi = frames.clone().map(|f| dihedral(f, PHI)).collect();
    let psi = frames.map(|f| dihedral(f, PSI)).collect();
    (phi, psi, read_h5(&fixture(), "samples/log_w").0)
}

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    (info.width, info.height)
}

fn attr_names(path: &Path, group: &str) -> Vec<String> {
    hdf5::File::open(path)
        .unwrap()
        .group(group)
        .unwrap()
        .attr_names()
        .unwrap()
}

#[test]
fn analyze_writes_dihedrals_histograms_populations_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let samples = copy_fixture(dir.path(), "run.h5");
    let err = String::from_utf8(boltzflow(&["analyze", arg(&samples)]).stderr).unwrap();
    assert!(err.contains("2 of 300 samples"), "{err}");
    let (phi, psi, log_w) = fixture_angles();

    // Dihedrals: the independent formula, and mdtraj's angles stored in the OpenMM fixture
    // (float32, so 1e-5 rad, compared modulo 2π).
    let (ours, shape) = read_h5(&samples, "dihedrals/phi");
    assert_eq!(shape, vec![FRAMES]);
    let (ours_psi, _) = read_h5(&samples, "dihedrals/psi");
    for i in 0..FRAMES {
        assert!((ours[i] - phi[i]).abs() < 1e-12, "phi {i}");
        assert!((ours_psi[i] - psi[i]).abs() < 1e-12, "psi {i}");
    }
    let fixtures = workspace().join("data/alanine_dipeptide/fixtures.h5");
    let (kind, _) = read_h5(&fixtures, "obc1/kind");
    let (mdtraj_phi, _) = read_h5(&fixtures, "obc1/phi");
    let (mdtraj_psi, _) = read_h5(&fixtures, "obc1/psi");
    let md: Vec<usize> = (0..kind.len()).filter(|&i| kind[i] <= 1.0).collect();
    assert_eq!(md.len(), FRAMES);
    for (k, &i) in md.iter().enumerate() {
        assert!(
            wrapped(ours[k] - mdtraj_phi[i]).abs() < 1e-5,
            "phi {k} vs mdtraj"
        );
        assert!(
            wrapped(ours_psi[k] - mdtraj_psi[i]).abs() < 1e-5,
            "psi {k} vs mdtraj"
        );
    }
    let file = hdf5::File::open(&samples).unwrap();
    let atoms: Vec<u64> = file
        .dataset("dihedrals/psi")
        .unwrap()
        .attr("atoms")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(atoms, PSI.map(|a| a as u64));
    drop(file);

    // Populations: weighted sums by hand over the finite log weights, errors from 20 blocks.
    let kept: Vec<usize> = (0..FRAMES).filter(|&i| log_w[i].is_finite()).collect();
    assert_eq!(kept.len(), FRAMES - 2);
    let max = kept.iter().map(|&i| log_w[i]).fold(f64::MIN, f64::max);
    let basin = |i: usize| {
        let psi_deg = psi[i] * 180.0 / PI;
        if phi[i] >= 0.0 {
            2
        } else if psi_deg > -120.0 && psi_deg < 50.0 {
            1
        } else {
            0
        }
    };
    let pops = |idx: &[usize]| {
        let mut mass = [0.0; 3];
        let mut total = 0.0;
        for &i in idx {
            let w = (log_w[i] - max).exp();
            mass[basin(i)] += w;
            total += w;
        }
        mass.map(|m| m / total)
    };
    let all = pops(&kept);
    // 298 kept samples in 20 blocks: 18 of 15, then 2 of 14.
    let mut blocks = Vec::new();
    let mut start = 0;
    for b in 0..20 {
        let len = if b < 18 { 15 } else { 14 };
        blocks.push(pops(&kept[start..start + len]));
        start += len;
    }
    for (k, name) in ["pop_c7eq_beta", "pop_alpha_r", "pop_phi_pos"]
        .iter()
        .enumerate()
    {
        let value = read_attr(&samples, "estimates", name);
        assert!(
            (value - all[k]).abs() < 1e-12,
            "{name} {value} vs {}",
            all[k]
        );
        let mean = blocks.iter().map(|p| p[k]).sum::<f64>() / 20.0;
        let var = blocks.iter().map(|p| (p[k] - mean).powi(2)).sum::<f64>() / 19.0;
        let stderr = read_attr(&samples, "estimates", &format!("{name}_stderr"));
        assert!(
            (stderr - (var / 20.0).sqrt()).abs() < 1e-12,
            "{name} stderr"
        );
    }
    assert!((all.iter().sum::<f64>() - 1.0).abs() < 1e-12);

    // Estimates from the log weights (non-finite ones as zero weights).
    let sum: f64 = kept.iter().map(|&i| (log_w[i] - max).exp()).sum();
    let sum_sq: f64 = kept.iter().map(|&i| (2.0 * (log_w[i] - max)).exp()).sum();
    let ess = sum * sum / (FRAMES as f64 * sum_sq);
    assert!((read_attr(&samples, "estimates", "ess") - ess).abs() < 1e-12);
    let log_z = max + (sum / FRAMES as f64).ln();
    assert!((read_attr(&samples, "estimates", "log_z") - log_z).abs() < 1e-12);
    let file = hdf5::File::open(&samples).unwrap();
    let count = |name: &str| -> u64 {
        file.group("estimates")
            .unwrap()
            .attr(name)
            .unwrap()
            .read_scalar()
            .unwrap()
    };
    assert_eq!((count("n_samples"), count("n_nonfinite")), (300, 2));
    drop(file);

    // The φ histogram: a density over 64 bins, each bin the weighted count by hand.
    let (density, shape) = read_h5(&samples, "histograms/phi/density");
    assert_eq!(shape, vec![64]);
    let width = 2.0 * PI / 64.0;
    let mut expected = [0.0; 64];
    for &i in &kept {
        expected[bin(phi[i], 64)] += (log_w[i] - max).exp() / (sum * width);
    }
    for (d, e) in density.iter().zip(expected) {
        assert!((d - e).abs() < 1e-9 * e.max(1.0), "{d} vs {e}");
    }
    let (edges, _) = read_h5(&samples, "histograms/phi/edges");
    assert_eq!((edges.len(), edges[0], edges[64]), (65, -PI, PI));
    let (unweighted, _) = read_h5(&samples, "histograms/psi/density_unweighted");
    let mut expected = [0.0; 64];
    for &x in &psi {
        expected[bin(x, 64)] += 1.0 / (FRAMES as f64 * width);
    }
    for (d, e) in unweighted.iter().zip(expected) {
        assert!((d - e).abs() < 1e-9, "{d} vs {e}");
    }

    // Free-energy surface: −k_BT ln p shifted to 0, +∞ where empty.
    let (p, shape) = read_h5(&samples, "histograms/phi_psi/density");
    assert_eq!(shape, vec![64, 64]);
    assert!((p.iter().sum::<f64>() * width * width - 1.0).abs() < 1e-12);
    let (f, _) = read_h5(&samples, "histograms/fes_phi_psi/free_energy");
    let p_max = p.iter().copied().fold(0.0, f64::max);
    let kbt = KB * 300.0;
    for (p, f) in p.iter().zip(&f) {
        if *p > 0.0 {
            assert!((f + kbt * (p / p_max).ln()).abs() < 1e-9, "{f}");
        } else {
            assert_eq!(*f, f64::INFINITY);
        }
    }
    assert_eq!(f.iter().copied().fold(f64::INFINITY, f64::min), 0.0);

    // Plots next to the samples file: unweighted and reweighted surfaces, φ and ψ marginals.
    assert_eq!(
        png_size(&dir.path().join("run_ramachandran.png")),
        (2 * 480 + 130, 480)
    );
    assert_eq!(
        png_size(&dir.path().join("run_marginals.png")),
        (2 * 560, 420)
    );
    assert!(!attr_names(&samples, "estimates").contains(&"ramachandran_kl".to_owned()));
}

/// FAB's metric, by hand: Σ p ln((p + ε)/(q + ε)) · (2π/64)² of the density histograms.
fn fab_kl(reference: &[(f64, f64, f64)], model: &[(f64, f64, f64)]) -> f64 {
    let area = (2.0 * PI / 64.0).powi(2);
    let hist = |points: &[(f64, f64, f64)]| {
        let mut h = vec![0.0; 64 * 64];
        let total: f64 = points.iter().map(|p| p.2).sum();
        for &(phi, psi, w) in points {
            h[bin(phi, 64) * 64 + bin(psi, 64)] += w / (total * area);
        }
        h
    };
    let (p, q) = (hist(reference), hist(model));
    p.iter()
        .zip(&q)
        .map(|(p, q)| p * ((p + 1e-10) / (q + 1e-10)).ln())
        .sum::<f64>()
        * area
}

/// A molecular samples file with `/samples/positions` only (MD-like, unweighted), with the
/// fixture's metadata when `metadata` is set.
fn write_positions(path: &Path, positions: &[f64], atoms: usize, metadata: bool) {
    let n = positions.len() / (3 * atoms);
    let out = OutputFile::create(path).unwrap();
    if metadata {
        let file = hdf5::File::open(fixture()).unwrap();
        let json: hdf5::types::VarLenUnicode =
            file.attr("metadata").unwrap().read_scalar().unwrap();
        out.set_str("", "metadata", json.as_str()).unwrap();
        out.set_f64("", "temperature_kelvin", 300.0).unwrap();
    }
    out.write_array("samples/positions", positions, &[n, atoms, 3])
        .unwrap();
    out.commit().unwrap();
}

#[test]
fn ramachandran_kl_against_itself_and_against_a_different_reference() {
    let dir = tempfile::tempdir().unwrap();
    let samples = copy_fixture(dir.path(), "run.h5");
    let plots = dir.path().join("plots");
    std::fs::create_dir(&plots).unwrap();
    boltzflow_ok(&[
        "analyze",
        arg(&samples),
        "--reference",
        arg(&fixture()),
        "--plots",
        arg(&plots),
    ]);
    assert_eq!(read_attr(&samples, "estimates", "ramachandran_kl"), 0.0);
    assert_eq!(
        png_size(&plots.join("run_ramachandran.png")),
        (3 * 480 + 130, 480)
    );

    // Reference: the 150 frames at 300 K, unweighted, as MD writes them.
    let (x, _) = read_h5(&fixture(), "samples/x");
    let reference = dir.path().join("md.h5");
    write_positions(&reference, &x[..150 * 3 * ATOMS], ATOMS, true);
    boltzflow_ok(&["analyze", arg(&samples), "--reference", arg(&reference)]);
    let (phi, psi, log_w) = fixture_angles();
    let max = log_w
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::MIN, f64::max);
    let md: Vec<_> = (0..150).map(|i| (phi[i], psi[i], 1.0)).collect();
    let weighted: Vec<_> = (0..FRAMES)
        .filter(|&i| log_w[i].is_finite())
        .map(|i| (phi[i], psi[i], (log_w[i] - max).exp()))
        .collect();
    let unweighted: Vec<_> = (0..FRAMES).map(|i| (phi[i], psi[i], 1.0)).collect();
    let kl = read_attr(&samples, "estimates", "ramachandran_kl");
    let kl_unweighted = read_attr(&samples, "estimates", "ramachandran_kl_unweighted");
    assert!(kl > 0.1, "{kl}");
    assert!((kl - fab_kl(&md, &weighted)).abs() < 1e-10, "{kl}");
    assert!((kl_unweighted - fab_kl(&md, &unweighted)).abs() < 1e-10);

    // Re-running without a reference replaces the analysis: no stale KL.
    boltzflow_ok(&["analyze", arg(&samples)]);
    assert!(!attr_names(&samples, "estimates").contains(&"ramachandran_kl".to_owned()));
}

#[test]
fn output_file_and_extra_dihedrals_leave_the_samples_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let samples = copy_fixture(dir.path(), "run.h5");
    let before = std::fs::read(&samples).unwrap();
    let output = dir.path().join("analysed.h5");
    boltzflow_ok(&[
        "analyze",
        arg(&samples),
        "--output",
        arg(&output),
        "--dihedral",
        "omega=1,4,6,8",
        "--bins",
        "36",
        "--blocks",
        "10",
    ]);
    assert_eq!(std::fs::read(&samples).unwrap(), before);
    let (omega, _) = read_h5(&output, "dihedrals/omega");
    let (x, _) = read_h5(&fixture(), "samples/x");
    for (i, frame) in x.chunks_exact(3 * ATOMS).enumerate() {
        assert!((omega[i] - dihedral(frame, [1, 4, 6, 8])).abs() < 1e-12);
    }
    let (density, shape) = read_h5(&output, "histograms/omega/density");
    assert_eq!(shape, vec![36]);
    assert!((density.iter().sum::<f64>() * 2.0 * PI / 36.0 - 1.0).abs() < 1e-12);
    assert_eq!(
        read_h5(&output, "histograms/phi_psi/density").1,
        vec![36, 36]
    );
    assert_eq!(read_h5(&output, "samples/x").0, x, "the samples are copied");
    // Plots go next to the samples file, named after it; one marginal panel per dihedral.
    assert_eq!(
        png_size(&dir.path().join("run_marginals.png")),
        (3 * 560, 420)
    );
}

#[test]
fn bad_input_fails_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let samples = copy_fixture(dir.path(), "run.h5");
    let before = std::fs::read(&samples).unwrap();
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    let missing = dir.path().join("missing.h5");
    let err = boltzflow_err(&["analyze", arg(&missing)]);
    assert!(
        err.contains("missing.h5") && err.contains("not found"),
        "{err}"
    );

    let wrong_shape = dir.path().join("wrong_shape.h5");
    {
        let file = hdf5::File::open(fixture()).unwrap();
        let json: hdf5::types::VarLenUnicode =
            file.attr("metadata").unwrap().read_scalar().unwrap();
        let out = OutputFile::create(&wrong_shape).unwrap();
        out.set_str("", "metadata", json.as_str()).unwrap();
        out.write_array("samples/x", &[0.0; 4 * 65], &[4, 65])
            .unwrap();
        out.commit().unwrap();
    }
    let err = boltzflow_err(&["analyze", arg(&wrong_shape)]);
    assert!(
        err.contains("/samples/x") && err.contains("[n, 66]"),
        "{err}"
    );

    let small = dir.path().join("small.h5");
    write_positions(&small, &[0.1; 40 * 10 * 3], 10, false);
    let err = boltzflow_err(&["analyze", arg(&samples), "--reference", arg(&small)]);
    assert!(
        err.contains("22 atoms") && err.contains("10 atoms"),
        "{err}"
    );

    let err = boltzflow_err(&["analyze", arg(&samples), "--dihedral", "chi=0,1,2,22"]);
    assert!(
        err.contains("atom index 22 is out of range for 22 atoms"),
        "{err}"
    );
    let err = boltzflow_err(&["analyze", arg(&samples), "--dihedral", "chi=0,1,2"]);
    assert!(err.contains("NAME=a,b,c,d"), "{err}");
    let err = boltzflow_err(&["analyze", arg(&samples), "--blocks", "400"]);
    assert!(err.contains("cannot be split into 400 blocks"), "{err}");

    assert_eq!(
        std::fs::read(&samples).unwrap(),
        before,
        "the samples file is untouched"
    );
    assert_eq!(
        listing(),
        vec!["run.h5", "small.h5", "wrong_shape.h5"],
        "no partial files nor plots are left behind"
    );
}

/// Angles end to end: MD-like positions are analysed, a small VAPO model is trained on their
/// (φ, ψ) over an `Angles` system, `sample --run` draws angles (unweighted: the system has no
/// energy of its own), and `analyze` reads those angles straight from `/samples/x`, wrapped,
/// with the dihedrals of a positions reference by name: the Ramachandran KL is FAB's formula on
/// the raw angles. Dihedrals by atoms on angle samples, and a reference without the angles'
/// names, are refused clearly.
#[test]
fn angle_samples_of_a_learned_surface_are_analysed_against_positions() {
    let dir = tempfile::tempdir().unwrap();
    let (x, _) = read_h5(&fixture(), "samples/x");
    let md = dir.path().join("md.h5");
    write_positions(&md, &x, ATOMS, true);
    boltzflow_ok(&["analyze", arg(&md)]);
    std::fs::write(
        dir.path().join("angles.ron"),
        "Angles(names: [\"phi\", \"psi\"], temperature_kelvin: 300.0)",
    )
    .unwrap();
    let config = dir.path().join("vapo.ron");
    std::fs::write(
        &config,
        "Train(system: \"angles.ron\", seed: 0, steps: 40, batch_size: 64,
         potential: (hidden: [16, 16], sigma: 0.05, solver: Rk4((steps: 8))),
         objectives: [Vapo(samples: Dihedrals(path: \"md.h5\", names: [\"phi\", \"psi\"]))],
         optimizer: (lr: 1e-3), checkpoint_every: 40, eval_samples: 0)",
    )
    .unwrap();
    let run = dir.path().join("run");
    boltzflow_ok(&["train", arg(&config), "--out", arg(&run)]);
    let samples = dir.path().join("vapo_samples.h5");
    boltzflow_ok(&[
        "sample",
        "--run",
        arg(&run),
        "-n",
        "400",
        "--output",
        arg(&samples),
    ]);
    let names: Vec<String> = hdf5::File::open(&samples)
        .unwrap()
        .group("samples")
        .unwrap()
        .member_names()
        .unwrap();
    assert!(!names.contains(&"log_w".to_owned()), "{names:?}");
    let (angles, shape) = read_h5(&samples, "samples/x");
    assert_eq!(shape, vec![400, 2]);

    boltzflow_ok(&["analyze", arg(&samples), "--reference", arg(&md)]);
    let (phi, _) = read_h5(&samples, "dihedrals/phi");
    let (psi, _) = read_h5(&samples, "dihedrals/psi");
    for i in 0..400 {
        assert!(wrapped(phi[i] - angles[2 * i]).abs() < 1e-12);
        assert!(wrapped(psi[i] - angles[2 * i + 1]).abs() < 1e-12);
        assert!(phi[i].abs() <= PI && psi[i].abs() <= PI);
    }
    let (md_phi, md_psi, _) = fixture_angles();
    let reference: Vec<_> = (0..FRAMES).map(|i| (md_phi[i], md_psi[i], 1.0)).collect();
    let model: Vec<_> = (0..400).map(|i| (phi[i], psi[i], 1.0)).collect();
    let kl = read_attr(&samples, "estimates", "ramachandran_kl");
    assert!((kl - fab_kl(&reference, &model)).abs() < 1e-10, "{kl}");
    let c7eq = read_attr(&samples, "estimates", "pop_c7eq_beta");
    assert!((0.0..=1.0).contains(&c7eq));

    let err = boltzflow_err(&["analyze", arg(&samples), "--dihedral", "omega=1,4,6,8"]);
    assert!(
        err.contains("holds angles, not positions") && err.contains("--dihedral"),
        "{err}"
    );
    let only_phi = dir.path().join("only_phi.h5");
    {
        let out = OutputFile::create(&only_phi).unwrap();
        out.set_str(
            "",
            "metadata",
            r#"{"system": "angles", "angles": ["phi", "chi"]}"#,
        )
        .unwrap();
        out.write_array("samples/x", &[0.1; 20], &[10, 2]).unwrap();
        out.commit().unwrap();
    }
    let err = boltzflow_err(&["analyze", arg(&samples), "--reference", arg(&only_phi)]);
    assert!(
        err.contains("only_phi.h5 has no angle named 'psi'") && err.contains("phi, chi"),
        "{err}"
    );
}
