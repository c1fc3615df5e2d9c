//! The `molecular` plugin against OpenMM: every frame of the committed fixture
//! (`data/alanine_dipeptide/fixtures.h5`, OpenMM 8.6.1 Reference platform, double precision),
//! per force and in total, through the host (plugin ABI) and the `boltzflow energy` command;
//! the geometry helpers against mdtraj's φ/ψ. CI needs no OpenMM.

mod common;

use boltzflow::analysis::geometry::{ALANINE_DIPEPTIDE_CHIRALITY, chirality_of, dihedral_of};
use boltzflow::energy::System;
use common::*;
use std::path::{Path, PathBuf};

/// Boltzmann constant in kJ/mol/K, as the plugin and the host use it.
const KB: f64 = 0.008_314_462_6;
const T: f64 = 300.0;

/// Required agreement: |ΔE| ≤ 1e-4 kJ/mol, or 1e-8 relative for huge energies.
fn energy_tolerance(e: f64) -> f64 {
    1e-4_f64.max(1e-8 * e.abs())
}
/// Required agreement of every force component, kJ/mol/nm.
const FORCE_TOLERANCE: f64 = 1e-3;

fn data() -> PathBuf {
    workspace().join("data/alanine_dipeptide")
}

fn fixture() -> PathBuf {
    data().join("fixtures.h5")
}

fn read_i32(path: &Path, name: &str) -> Vec<i32> {
    hdf5::File::open(path)
        .unwrap()
        .dataset(name)
        .unwrap()
        .read_raw()
        .unwrap()
}

/// The alanine dipeptide system of `xml`, evaluating only `force` if given.
fn system(dir: &Path, xml: &str, force: Option<&str>) -> System {
    let forces = force.map_or(String::new(), |f| format!(", forces: [{f:?}]"));
    let config = format!(
        "(xml: {:?}, pdb: {:?}, temperature_kelvin: {T}{forces})",
        data().join(xml),
        data().join("topology.pdb")
    );
    common::system(dir, "molecular", &config).unwrap()
}

/// Largest errors of one comparison, for the report.
#[derive(Default, Debug)]
struct MaxErrors {
    energy: f64,
    energy_relative: f64,
    force: f64,
    force_scale: f64,
}

/// Evaluates every frame and checks energy and forces against OpenMM's; panics with the first
/// frame out of tolerance.
fn compare(
    system: &System,
    positions: &[f64],
    energy: &[f64],
    forces: &[f64],
    what: &str,
) -> MaxErrors {
    let eval = system.evaluate(positions, true).unwrap();
    let grad = eval.grad.unwrap();
    let kbt = KB * T;
    let dim = system.dim();
    let mut max = MaxErrors::default();
    for (k, &e_ref) in energy.iter().enumerate() {
        let e = eval.u[k] * kbt;
        let de = (e - e_ref).abs();
        assert!(
            de <= energy_tolerance(e_ref),
            "{what}, frame {k}: energy {e} vs OpenMM {e_ref} (|ΔE| = {de:e} kJ/mol)"
        );
        max.energy = max.energy.max(de);
        max.energy_relative = max.energy_relative.max(de / e_ref.abs().max(1.0));
        for c in 0..dim {
            let f = -grad[k * dim + c] * kbt;
            let f_ref = forces[k * dim + c];
            let df = (f - f_ref).abs();
            assert!(
                df <= FORCE_TOLERANCE,
                "{what}, frame {k}, atom {} component {}: force {f} vs OpenMM {f_ref} (|ΔF| = {df:e})",
                c / 3,
                c % 3
            );
            max.force = max.force.max(df);
            max.force_scale = max.force_scale.max(f_ref.abs());
        }
    }
    max
}

/// Compares a fixture set, per force and in total.
fn compare_set(set: &str, xml: &str, forces: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (positions, shape) = read_h5(&fixture(), &format!("{set}/positions"));
    assert_eq!(shape[1..], [22, 3]);
    let n = shape[0];
    for &force in forces {
        let (e, _) = read_h5(&fixture(), &format!("{set}/terms/{force}/energy"));
        let (f, _) = read_h5(&fixture(), &format!("{set}/terms/{force}/forces"));
        let s = system(dir.path(), xml, Some(force));
        let max = compare(&s, &positions, &e, &f, &format!("{set} {force}"));
        eprintln!(
            "{set} {force:<22} {n} frames: max |ΔE| {:.2e} kJ/mol (relative {:.1e}), max |ΔF| {:.2e} kJ/mol/nm (|F| up to {:.1e})",
            max.energy, max.energy_relative, max.force, max.force_scale
        );
    }
    let (e, _) = read_h5(&fixture(), &format!("{set}/energy"));
    let (f, _) = read_h5(&fixture(), &format!("{set}/forces"));
    let max = compare(
        &system(dir.path(), xml, None),
        &positions,
        &e,
        &f,
        &format!("{set} total"),
    );
    eprintln!(
        "{set} {:<22} {n} frames: max |ΔE| {:.2e} kJ/mol (relative {:.1e}), max |ΔF| {:.2e} kJ/mol/nm (|F| up to {:.1e})",
        "total", max.energy, max.energy_relative, max.force, max.force_scale
    );
}

#[test]
fn fixture_covers_md_and_distorted_frames() {
    let kinds = read_i32(&fixture(), "obc1/kind");
    assert!(kinds.len() >= 300, "{} frames", kinds.len());
    for kind in 0..=4 {
        assert!(kinds.contains(&kind), "no frame of kind {kind}");
    }
    // OBC2's buried-atom branch (an atom inside another's scaled sphere) is exercised.
    assert!(read_i32(&fixture(), "obc2/obc_buried").contains(&1));
    let (e, _) = read_h5(&fixture(), "obc1/energy");
    assert!(
        e.iter().cloned().fold(0.0, f64::max) > 1e5,
        "near-overlaps are present"
    );
}

#[test]
fn obc1_matches_openmm_reference_per_force_and_in_total() {
    compare_set(
        "obc1",
        "system.xml",
        &[
            "HarmonicBondForce",
            "HarmonicAngleForce",
            "PeriodicTorsionForce",
            "NonbondedForce",
            "CustomGBForce",
        ],
    );
}

/// The vacuum system (`system_vacuum.xml`: system.xml less its CustomGBForce, written by
/// make_vacuum.py) is OpenMM's total energy and forces minus the OBC1 term's, frame by frame, and
/// its shipped system file loads it at 300 K.
#[test]
fn vacuum_system_is_the_implicit_one_without_its_solvent_term() {
    let (positions, shape) = read_h5(&fixture(), "obc1/positions");
    let n = shape[0];
    let (total, _) = read_h5(&fixture(), "obc1/energy");
    let (total_forces, _) = read_h5(&fixture(), "obc1/forces");
    let (gb, _) = read_h5(&fixture(), "obc1/terms/CustomGBForce/energy");
    let (gb_forces, _) = read_h5(&fixture(), "obc1/terms/CustomGBForce/forces");
    let energy: Vec<f64> = total.iter().zip(&gb).map(|(t, g)| t - g).collect();
    let forces: Vec<f64> = total_forces
        .iter()
        .zip(&gb_forces)
        .map(|(t, g)| t - g)
        .collect();
    let (file, vacuum) = boltzflow::config::load_system(&data().join("system_vacuum.ron")).unwrap();
    assert_eq!(
        vacuum.metadata().temperature_kelvin,
        Some(T),
        "{}",
        file.path.display()
    );
    let max = compare(&vacuum, &positions, &energy, &forces, "vacuum");
    eprintln!("vacuum {n} frames: max |ΔE| {:.2e} kJ/mol", max.energy);
}

#[test]
fn obc2_matches_openmm_reference_per_force_and_in_total() {
    compare_set(
        "obc2",
        "system_obc2.xml",
        &["NonbondedForce", "GBSAOBCForce"],
    );
}

#[test]
fn energy_command_writes_kj_per_mol_and_counts_bad_points() {
    let dir = tempfile::tempdir().unwrap();
    let (positions, shape) = read_h5(&fixture(), "obc1/positions");
    let (energy_ref, _) = read_h5(&fixture(), "obc1/energy");
    let (forces_ref, _) = read_h5(&fixture(), "obc1/forces");
    let n = 12;
    let mut input = positions[..n * 66].to_vec();
    // A NaN coordinate, and two atoms on top of each other.
    let mut nan = positions[..66].to_vec();
    nan[4] = f64::NAN;
    let mut overlap = positions[..66].to_vec();
    overlap.copy_within(0..3, 3);
    input.extend(&nan);
    input.extend(&overlap);
    let in_path = dir.path().join("in.h5");
    write_h5(&in_path, "positions", &input, &[n + 2, shape[1], 3]);
    let out_path = dir.path().join("out.h5");
    boltzflow_ok(&[
        "energy",
        "--system",
        "data/alanine_dipeptide/system.ron",
        "--input",
        in_path.to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
    ]);
    let (energy, eshape) = read_h5(&out_path, "energy");
    let (forces, fshape) = read_h5(&out_path, "forces");
    let (u, _) = read_h5(&out_path, "u");
    assert_eq!(eshape, [n + 2]);
    assert_eq!(fshape, [n + 2, 22, 3]);
    for k in 0..n {
        assert!((energy[k] - energy_ref[k]).abs() <= 1e-4, "frame {k}");
        assert!((u[k] - energy_ref[k] / (KB * T)).abs() <= 1e-4 / (KB * T));
        for c in 0..66 {
            assert!((forces[k * 66 + c] - forces_ref[k * 66 + c]).abs() <= FORCE_TOLERANCE);
        }
    }
    assert!(u[n].is_nan(), "NaN positions give u = NaN");
    assert_eq!(
        u[n + 1],
        f64::INFINITY,
        "atoms on top of each other give +inf"
    );
    assert!(
        !forces[(n + 1) * 66..].iter().any(|f| f.is_nan()),
        "no NaN spreads"
    );
    assert_eq!(read_attr_u64(&out_path, "n_nonfinite"), 2);
}

fn read_attr_u64(path: &Path, name: &str) -> u64 {
    hdf5::File::open(path)
        .unwrap()
        .attr(name)
        .unwrap()
        .read_scalar::<u64>()
        .unwrap()
}

#[test]
fn info_reports_the_molecule() {
    let out = boltzflow_ok(&[
        "info",
        "--system",
        "data/alanine_dipeptide/system.ron",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dim"], 66);
    let md = &v["metadata"];
    assert_eq!(md["temperature_kelvin"], 300.0);
    assert_eq!(md["energy_unit"], "kJ/mol");
    assert_eq!(md["molecule"]["atoms"].as_array().unwrap().len(), 22);
    assert_eq!(md["molecule"]["atoms"][10]["name"], "CB");
    assert_eq!(md["molecule"]["dihedrals"][0]["name"], "phi");
    assert_eq!(
        md["molecule"]["dihedrals"][0]["atoms"],
        serde_json::json!([4, 6, 8, 14])
    );
    assert_eq!(md["molecule"]["dihedrals"][1]["name"], "psi");
    assert_eq!(
        md["molecule"]["dihedrals"][1]["atoms"],
        serde_json::json!([6, 8, 14, 16])
    );
}

#[test]
fn unsupported_force_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let xml = std::fs::read_to_string(data().join("system.xml")).unwrap();
    let marker = "<Force forceGroup=\"0\" frequency=\"1\" name=\"CMMotionRemover\"";
    assert!(xml.contains(marker));
    let xml = xml.replace(
        marker,
        &format!(
            "<Force forceGroup=\"0\" name=\"MyRestraint\" type=\"CustomBondForce\" energy=\"r^2\" \
             usesPeriodic=\"0\" version=\"3\"/>\n{marker}"
        ),
    );
    std::fs::write(dir.path().join("extra.xml"), xml).unwrap();
    std::fs::copy(data().join("topology.pdb"), dir.path().join("topology.pdb")).unwrap();
    let sys = write_system(
        dir.path(),
        "extra.ron",
        "molecular",
        "(xml: \"extra.xml\", pdb: \"topology.pdb\", temperature_kelvin: 300.0)",
    );
    let err = boltzflow_err(&["info", "--system", sys.to_str().unwrap()]);
    assert!(
        err.contains("unsupported force")
            && err.contains("MyRestraint")
            && err.contains("CustomBondForce"),
        "{err}"
    );
    assert!(err.contains("extra.xml"), "the file is named: {err}");
}

#[test]
fn wrong_atom_count_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let in_path = dir.path().join("in.h5");
    write_h5(&in_path, "positions", &vec![0.1; 2 * 21 * 3], &[2, 21, 3]);
    let err = boltzflow_err(&[
        "energy",
        "--system",
        "data/alanine_dipeptide/system.ron",
        "--input",
        in_path.to_str().unwrap(),
        "--output",
        dir.path().join("out.h5").to_str().unwrap(),
    ]);
    assert!(err.contains("21 atoms") && err.contains("66"), "{err}");
}

#[test]
fn geometry_matches_mdtraj_dihedrals_and_chirality() {
    let (positions, shape) = read_h5(&fixture(), "obc1/positions");
    let (phi, _) = read_h5(&fixture(), "obc1/phi");
    let (psi, _) = read_h5(&fixture(), "obc1/psi");
    let (chirality, _) = read_h5(&fixture(), "obc1/chirality");
    let kinds = read_i32(&fixture(), "obc1/kind");
    let wrapped = |a: f64| {
        (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
    };
    let mut max_err: f64 = 0.0;
    for k in 0..shape[0] {
        let x = &positions[k * 66..(k + 1) * 66];
        // mdtraj works in float32: agreement to ~1e-6 rad.
        for (atoms, reference) in [([4, 6, 8, 14], phi[k]), ([6, 8, 14, 16], psi[k])] {
            let err = wrapped(dihedral_of(x, atoms) - reference).abs();
            assert!(
                err < 1e-5,
                "frame {k}, dihedral {atoms:?}: {} vs mdtraj {reference}",
                dihedral_of(x, atoms)
            );
            max_err = max_err.max(err);
        }
        let v = chirality_of(x, ALANINE_DIPEPTIDE_CHIRALITY);
        assert!(
            (v - chirality[k]).abs() <= 1e-12 * chirality[k].abs().max(1e-3),
            "frame {k}"
        );
        if kinds[k] <= 1 {
            assert!(v > 0.0, "MD frame {k} of L-alanine has the L form");
        }
    }
    eprintln!("geometry: max |Δφ|, |Δψ| vs mdtraj {max_err:.1e} rad");
}
