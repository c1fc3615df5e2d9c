//! Unit tests on the shipped alanine dipeptide files: gradients against finite differences,
//! robustness, and every way an input can be refused. (The comparison with OpenMM's energies and
//! forces is in the workspace's `tests/molecular.rs`, through the host.)

use super::*;
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/alanine_dipeptide")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data_dir().join(name)).unwrap()
}

fn force_field(xml_text: &str) -> Result<ForceField, String> {
    ForceField::from_system(&xml::parse_system(xml_text)?, None)
}

/// The reference minimum-energy structure, 22 × 3 in nm.
fn min_energy_positions() -> Vec<f64> {
    read("aldp_min_energy.csv")
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split(',')
                .skip(1)
                .map(|v| v.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A strained conformation: the minimum with a deterministic distortion, and hydrogen 7 pushed
/// 0.003 nm from its nitrogen (6), inside the nitrogen's Born sphere.
fn strained_positions() -> Vec<f64> {
    let mut x = min_energy_positions();
    for (k, v) in x.iter_mut().enumerate() {
        *v += 0.02 * ((k as f64) * 1.7).sin();
    }
    for d in 0..3 {
        x[7 * 3 + d] = x[6 * 3 + d] + [0.002, -0.001, 0.0018][d];
    }
    x
}

fn energy_and_grad(ff: &ForceField, x: &[f64]) -> (f64, Vec<f64>) {
    let mut ws = ff.workspace();
    let mut g = vec![0.0; x.len()];
    let e = ff.evaluate(x, &mut ws, Some(&mut g));
    (e, g)
}

fn check_gradient(ff: &ForceField, x: &[f64], tol: f64) {
    let (_, g) = energy_and_grad(ff, x);
    let mut ws = ff.workspace();
    let h = 1e-6;
    for k in 0..x.len() {
        let mut xp = x.to_vec();
        xp[k] += h;
        let mut xm = x.to_vec();
        xm[k] -= h;
        let fd = (ff.evaluate(&xp, &mut ws, None) - ff.evaluate(&xm, &mut ws, None)) / (2.0 * h);
        assert!(
            (fd - g[k]).abs() <= tol * (1.0 + g[k].abs()),
            "coordinate {k}: finite difference {fd}, analytic {}",
            g[k]
        );
    }
}

#[test]
fn gradients_match_finite_differences_obc1_and_obc2() {
    for file in ["system.xml", "system_obc2.xml"] {
        let ff = force_field(&read(file)).unwrap();
        check_gradient(&ff, &min_energy_positions(), 1e-6);
        check_gradient(&ff, &strained_positions(), 1e-6);
        // Every term on its own, so that an error in one cannot hide behind another.
        for name in ff.available().to_vec() {
            let only = ForceField::from_system(
                &xml::parse_system(&read(file)).unwrap(),
                Some(std::slice::from_ref(&name)),
            )
            .unwrap();
            assert_eq!(only.evaluated(), [name.as_str()]);
            check_gradient(&only, &strained_positions(), 1e-6);
        }
    }
}

#[test]
fn minimum_energy_structure_has_openmm_energy() {
    // make_system.py prints OpenMM's energy of aldp_min_energy.csv: −172.677502 kJ/mol.
    let ff = force_field(&read("system.xml")).unwrap();
    let (e, _) = energy_and_grad(&ff, &min_energy_positions());
    assert!((e + 172.677502).abs() < 1e-5, "{e}");
}

#[test]
fn nan_positions_give_nan_for_that_point_only() {
    let ff = force_field(&read("system.xml")).unwrap();
    let good = min_energy_positions();
    let mut bad = good.clone();
    bad[10] = f64::NAN;
    let mut ws = ff.workspace();
    let mut g = vec![0.0; 66];
    assert!(ff.evaluate(&bad, &mut ws, Some(&mut g)).is_nan());
    assert!(g.iter().all(|v| v.is_nan()));
    // The workspace is not poisoned: the next conformation is fine.
    let e = ff.evaluate(&good, &mut ws, Some(&mut g));
    assert!(e.is_finite() && g.iter().all(|v| v.is_finite()));
}

#[test]
fn atoms_on_top_of_each_other_give_infinity_not_nan() {
    let ff = force_field(&read("system.xml")).unwrap();
    let mut x = min_energy_positions();
    for d in 0..3 {
        x[5 * 3 + d] = x[16 * 3 + d]; // O of ACE onto N of NME
    }
    let mut ws = ff.workspace();
    let mut g = vec![1.0; 66];
    assert_eq!(ff.evaluate(&x, &mut ws, Some(&mut g)), f64::INFINITY);
    assert!(g.iter().all(|&v| v == 0.0));
    // Nearly on top: a huge, finite energy with finite forces.
    x[5 * 3] += 1e-4;
    let e = ff.evaluate(&x, &mut ws, Some(&mut g));
    assert!(e.is_finite() && e > 1e20, "{e}");
    assert!(g.iter().all(|v| v.is_finite()));
}

#[test]
fn reduced_units_and_batches() {
    let dir = data_dir();
    let config = Config {
        xml: "system.xml".into(),
        pdb: "topology.pdb".into(),
        temperature_kelvin: 300.0,
        name: None,
        forces: None,
    };
    let m = Molecular::new(&config, &Context::new(&dir)).unwrap();
    assert_eq!(m.dim(), 66);
    let x1 = min_energy_positions();
    let x2 = strained_positions();
    let mut x = x1.clone();
    x.extend_from_slice(&x2);
    x.extend(std::iter::repeat_n(f64::NAN, 66));
    let mut u = vec![0.0; 3];
    let mut g = vec![0.0; 3 * 66];
    m.energy_batch(&x, &mut u, Some(&mut g)).unwrap();
    let (e1, g1) = energy_and_grad(m.force_field(), &x1);
    let kbt = BOLTZMANN * 300.0;
    assert!((u[0] * kbt - e1).abs() < 1e-9);
    assert!((g[5] * kbt - g1[5]).abs() < 1e-9);
    assert_eq!(u[1], m.energy(&x2, None));
    assert!(u[2].is_nan());
    let mut u_only = vec![0.0; 3];
    m.energy_batch(&x, &mut u_only, None).unwrap();
    assert_eq!(u[..2], u_only[..2]);
}

#[test]
fn metadata_describes_alanine_dipeptide() {
    let config: Config =
        parse_config("(xml: \"system.xml\", pdb: \"topology.pdb\", temperature_kelvin: 300.0)")
            .unwrap();
    let m = Molecular::new(&config, &Context::new(data_dir())).unwrap();
    let md = m.metadata();
    assert_eq!(md.temperature_kelvin, Some(300.0));
    let mol = md.molecule.unwrap();
    assert_eq!(mol.atoms.len(), 22);
    assert_eq!(mol.atoms[8].name, "CA");
    assert_eq!(mol.atoms[8].residue, "ALA");
    assert_eq!(mol.atoms[8].residue_index, 1);
    assert_eq!(mol.atoms[8].element, "C");
    assert!((mol.atoms[0].mass - 1.008).abs() < 1e-9);
    assert_eq!(mol.bonds.len(), 21);
    let dihedrals: Vec<_> = mol
        .dihedrals
        .iter()
        .map(|d| (d.name.as_str(), d.atoms))
        .collect();
    assert_eq!(dihedrals, [("phi", [4, 6, 8, 14]), ("psi", [6, 8, 14, 16])]);
    assert_eq!(
        md.parameters["implicit_solvent"],
        "CustomGBForce (OBC1, openmm.app)"
    );
}

#[test]
fn unsupported_force_is_named() {
    let text = read("system.xml").replace(
        "<Force forceGroup=\"0\" frequency=\"1\" name=\"CMMotionRemover\"",
        "<Force forceGroup=\"0\" name=\"restraint\" type=\"CustomExternalForce\" energy=\"x^2\" \
         version=\"1\"/>\n<Force forceGroup=\"0\" frequency=\"1\" name=\"CMMotionRemover\"",
    );
    let err = force_field(&text).unwrap_err();
    assert!(
        err.contains("unsupported force")
            && err.contains("CustomExternalForce")
            && err.contains("restraint"),
        "{err}"
    );
}

#[test]
fn cutoffs_and_periodic_systems_are_refused() {
    let xml = read("system.xml");
    let nb = xml.replace(
        "method=\"0\" name=\"NonbondedForce\"",
        "method=\"4\" name=\"NonbondedForce\"",
    );
    assert_ne!(nb, xml);
    let err = force_field(&nb).unwrap_err();
    assert!(
        err.contains("NonbondedForce") && err.contains("PME"),
        "{err}"
    );

    let gb = xml.replace(
        "cutoff=\"1\" forceGroup=\"0\" method=\"0\" name=\"CustomGBForce\"",
        "cutoff=\"1\" forceGroup=\"0\" method=\"1\" name=\"CustomGBForce\"",
    );
    assert_ne!(gb, xml);
    let err = force_field(&gb).unwrap_err();
    assert!(
        err.contains("CustomGBForce") && err.contains("CutoffNonPeriodic"),
        "{err}"
    );

    let obc2 = read("system_obc2.xml");
    let cut = obc2.replace(
        "method=\"0\" name=\"GBSAOBCForce\"",
        "method=\"2\" name=\"GBSAOBCForce\"",
    );
    assert_ne!(cut, obc2);
    let err = force_field(&cut).unwrap_err();
    assert!(
        err.contains("GBSAOBCForce") && err.contains("CutoffPeriodic"),
        "{err}"
    );

    let periodic = xml.replacen("usesPeriodic=\"0\"", "usesPeriodic=\"1\"", 1);
    let err = force_field(&periodic).unwrap_err();
    assert!(
        err.contains("HarmonicBondForce") && err.contains("periodic"),
        "{err}"
    );

    let offsets = xml.replace(
        "<ParticleOffsets/>",
        "<ParticleOffsets><Offset/></ParticleOffsets>",
    );
    let err = force_field(&offsets).unwrap_err();
    assert!(err.contains("ParticleOffsets"), "{err}");
}

#[test]
fn other_custom_gb_forms_are_refused() {
    let xml = read("system.xml");
    // OBC2 written as a CustomGBForce (other tanh coefficients).
    let other = xml.replace(
        "tanh(0.8*psi+2.909125*psi^3)",
        "tanh(psi-0.8*psi^2+4.85*psi^3)",
    );
    assert_ne!(other, xml);
    let err = force_field(&other).unwrap_err();
    assert!(
        err.contains("CustomGBForce") && err.contains("not a recognised form"),
        "{err}"
    );
    assert!(
        err.contains("4.85"),
        "the differing expression is shown: {err}"
    );

    // Salt screening.
    let salt = xml.replace("kappa=0", "kappa=0.7");
    assert!(
        force_field(&salt)
            .unwrap_err()
            .contains("not a recognised form")
    );

    // A global parameter.
    let global = xml.replacen(
        "<GlobalParameters/>\n\t\t\t<EnergyParameterDerivatives/>",
        "<GlobalParameters><Parameter default=\"1\" name=\"lambda\"/></GlobalParameters>\n\t\t\t<EnergyParameterDerivatives/>",
        1,
    );
    assert_ne!(global, xml);
    assert!(
        force_field(&global)
            .unwrap_err()
            .contains("GlobalParameters")
    );

    // Whitespace does not matter; other dielectrics are read from the expressions.
    let spaced = xml.replace("U=r+sr2;L=max(or1, D)", "U = r + sr2; L = max(or1,D)");
    assert_ne!(spaced, xml);
    force_field(&spaced).unwrap();
    let water80 = xml.replace("solventDielectric=78.5", "solventDielectric=80");
    let x = min_energy_positions();
    let e80 = energy_and_grad(&force_field(&water80).unwrap(), &x).0;
    let e785 = energy_and_grad(&force_field(&xml).unwrap(), &x).0;
    assert!(
        e80 < e785,
        "a higher solvent dielectric solvates more: {e80} vs {e785}"
    );
    let inconsistent = xml.replacen("solventDielectric=78.5", "solventDielectric=80", 1);
    assert!(
        force_field(&inconsistent)
            .unwrap_err()
            .contains("not a recognised form")
    );
}

#[test]
fn constraints_and_virtual_sites_are_refused() {
    let xml = read("system.xml");
    let constrained = xml.replace(
        "<Constraints/>",
        "<Constraints><Constraint d=\".1\" p1=\"0\" p2=\"1\"/></Constraints>",
    );
    assert!(
        force_field(&constrained)
            .unwrap_err()
            .contains("constraints")
    );
}

#[test]
fn malformed_inputs_give_clear_errors() {
    let dir = std::env::temp_dir().join(format!("boltzflow-molecular-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let xml = read("system.xml");
    let pdb = read("topology.pdb");
    let build = |xml_text: &str, pdb_text: &str| {
        std::fs::write(dir.join("s.xml"), xml_text).unwrap();
        std::fs::write(dir.join("t.pdb"), pdb_text).unwrap();
        let config = Config {
            xml: "s.xml".into(),
            pdb: "t.pdb".into(),
            temperature_kelvin: 300.0,
            name: None,
            forces: None,
        };
        Molecular::new(&config, &Context::new(&dir)).map(|_| ())
    };
    build(&xml, &pdb).unwrap();

    let err = build(&xml[..xml.len() * 2 / 3], &pdb).unwrap_err();
    assert!(
        err.message().contains("s.xml") && err.message().contains("not well-formed"),
        "{err}"
    );

    let truncated_pdb: String = pdb.lines().take(12).collect::<Vec<_>>().join("\n");
    let err = build(&xml, &truncated_pdb).unwrap_err();
    assert!(
        err.message().contains("11 atoms") && err.message().contains("22 particles"),
        "{err}"
    );

    let cut_line = &pdb[..pdb.find("HETATM    3").unwrap() + 40];
    let err = build(&xml, cut_line).unwrap_err();
    assert!(
        err.message().contains("t.pdb") && err.message().contains("truncated"),
        "{err}"
    );

    let err = build(&xml.replace("<Bond d=", "<Bond dd="), &pdb).unwrap_err();
    assert!(err.message().contains("missing attribute `d`"), "{err}");

    let missing = Config {
        xml: "nowhere.xml".into(),
        pdb: "t.pdb".into(),
        temperature_kelvin: 300.0,
        name: None,
        forces: None,
    };
    let err = Molecular::new(&missing, &Context::new(&dir))
        .map(|_| ())
        .unwrap_err();
    assert!(err.message().contains("nowhere.xml"), "{err}");

    build(&xml, &pdb).unwrap(); // valid files again for the configuration checks

    let err = Molecular::from_config(
        "(xml: \"s.xml\", pdb: \"t.pdb\", temperature_kelvin: -3.0)",
        &Context::new(&dir),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(err.message().contains("temperature_kelvin"), "{err}");

    let err = Molecular::from_config(
        "(xml: \"s.xml\", pdb: \"t.pdb\", temperature_kelvin: 300.0, forces: [\"Nonbonded\"])",
        &Context::new(&dir),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(
        err.message().contains("\"Nonbonded\"") && err.message().contains("NonbondedForce"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
