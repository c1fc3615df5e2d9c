//! Every system file shipped under examples/systems loads through the plugin ABI (a learned one
//! is only read) and reports what its benchmark needs; every run configuration under examples
//! reads and validates.

mod common;

use boltzflow::config::load_system;
use common::*;

fn load(file: &str) -> boltzflow::energy::System {
    load_system(&workspace().join("examples/systems").join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .1
}

#[test]
fn every_shipped_system_loads_with_an_exact_log_z() {
    let expected = [
        ("gmm40.ron", 2, true),
        ("gmm4.ron", 2, true),
        ("gmm2.ron", 2, true),
        ("many_well32.ron", 32, true),
        ("quantum_double_well_N16_m1.5.ron", 16, false),
        ("quantum_double_well_N16_m3.ron", 16, false),
        ("quantum_double_well_N16_m4.5.ron", 16, false),
        ("quantum_double_well_N16_m6.ron", 16, false),
        ("gaussian_blocks_d4.ron", 4, true),
        ("gaussian_standard_d4.ron", 4, true),
        ("gaussian_blocks_d40.ron", 40, true),
        ("gaussian_standard_d40.ron", 40, true),
        ("gaussian_blocks_d80.ron", 80, true),
        ("gaussian_standard_d80.ron", 80, true),
        ("rings.ron", 2, true),
    ];
    let shipped = std::fs::read_dir(workspace().join("examples/systems"))
        .unwrap()
        .count();
    // And one space of angles without an energy, for learning free-energy surfaces.
    let angles = load("alanine_dipeptide_phi_psi.ron");
    assert_eq!(angles.dim(), 2);
    assert!(!angles.has_energy() && angles.log_z().is_none());
    assert_eq!(
        angles.metadata().angles.as_deref(),
        Some(&["phi".to_owned(), "psi".to_owned()][..])
    );
    // And one learned surface, which loads once its training run exists (not in a fresh
    // checkout): here it is only read.
    let learned = boltzflow::config::SystemFile::read(
        &workspace().join("examples/systems/alanine_dipeptide_vapo.ron"),
    )
    .unwrap();
    assert!(matches!(
        learned.source,
        boltzflow::config::SystemSource::Learned {
            table: Some(256),
            ..
        }
    ));
    assert_eq!(
        shipped,
        expected.len() + 2,
        "a system file is not covered by this test"
    );
    for (file, dim, sampler) in expected {
        let system = load(file);
        assert_eq!(system.dim(), dim, "{file}");
        assert_eq!(system.has_exact_sampler(), sampler, "{file}");
        let log_z = system
            .log_z()
            .unwrap_or_else(|| panic!("{file}: no exact log Z"));
        assert!(log_z.is_finite(), "{file}");
        if file.starts_with("gmm") || file.starts_with("gaussian") || file.starts_with("rings") {
            assert_eq!(log_z, 0.0, "{file}: mixtures are normalised");
        }
    }
}

/// GMM-40's normalisation through the ABI, by 2-D quadrature of exp(−u) on a grid: an
/// independent check of the plugin's claim log Z = 0.
#[test]
fn gmm40_normalisation_by_quadrature() {
    let system = load("gmm40.ron");
    let (lo, hi, m) = (-50.0, 50.0, 1001);
    let h = (hi - lo) / (m - 1) as f64;
    let x: Vec<f64> = (0..m * m)
        .flat_map(|k| [lo + (k / m) as f64 * h, lo + (k % m) as f64 * h])
        .collect();
    let eval = system.evaluate(&x, false).unwrap();
    let z: f64 = eval.u.iter().map(|u| (-u).exp()).sum::<f64>() * h * h;
    assert!((z - 1.0).abs() < 1e-6, "∫ exp(−u) = {z}");
}

#[test]
fn info_json_prints_the_exact_log_z_of_the_quantum_double_well() {
    let out = boltzflow_ok(&[
        "info",
        "--system",
        "examples/systems/quantum_double_well_N16_m6.ron",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let log_z = json["log_z"].as_f64().expect("log_z in the JSON");
    assert_eq!(
        log_z,
        load("quantum_double_well_N16_m6.ron").log_z().unwrap()
    );
}

/// Many-Well-32's exact samples, weighted by the exact log Z, give an importance-sampling log Z
/// equal to it, and their energies are those the plugin evaluates.
#[test]
fn many_well_exact_samples_are_consistent() {
    let system = load("many_well32.ron");
    let x = system.sample_exact(20_000, 11).unwrap();
    let eval = system.evaluate(&x, true).unwrap();
    assert_eq!(eval.n_nonfinite, 0);
    // Each x1 of a pair sits in one of the two wells at ±1.7; the +0.5 x1 tilt favours x1 > 0.
    let positive = x.chunks(2).filter(|p| p[0] > 0.0).count() as f64 / (x.len() / 2) as f64;
    assert!(
        positive > 0.5 && positive < 0.9,
        "fraction of x1 > 0: {positive}"
    );
}

/// Every shipped run configuration (examples/*.ron) reads as the configuration its first word
/// names and passes that configuration's checks.
#[test]
fn every_shipped_configuration_reads_and_validates() {
    let mut checked = 0;
    for entry in std::fs::read_dir(workspace().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ron") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let body: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect();
        let result = if body.trim_start().starts_with("Train(") {
            boltzflow::config::read_ron_file::<boltzflow::train::TrainConfig>(&path)
                .and_then(|(config, _)| config.validate())
        } else if body.trim_start().starts_with("Md(") {
            boltzflow::config::read_ron_file::<boltzflow::md::MdConfig>(&path)
                .and_then(|(config, _)| config.validate())
        } else if body.trim_start().starts_with("FreeEnergy(") {
            boltzflow::config::read_ron_file::<boltzflow::free_energy::FreeEnergyConfig>(&path)
                .and_then(|(config, _)| {
                    // Every state's system file exists and loads (the samples come from runs).
                    let folder = path.parent().unwrap();
                    for state in &config.states {
                        load_system(&folder.join(&state.system))?;
                    }
                    config.validate()
                })
        } else {
            panic!(
                "{}: not Train(...), Md(...) or FreeEnergy(...)",
                path.display()
            );
        };
        result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        checked += 1;
    }
    assert!(checked >= 21, "only {checked} configurations found");
}

/// The shipped λ-states (examples/lambda) load, with both plugins and no exact log Z: the
/// double well's (16-D) and alanine dipeptide's vacuum → OBC1 path (66-D).
#[test]
fn shipped_lambda_states_load() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(workspace().join("examples/lambda")).unwrap() {
        let path = entry.unwrap().path();
        let (_, system) = load_system(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let dim = if path.to_string_lossy().contains("alanine") {
            66
        } else {
            16
        };
        assert_eq!(
            (system.dim(), system.plugins().len(), system.log_z()),
            (dim, 2, None),
            "{}",
            path.display()
        );
        loaded += 1;
    }
    assert_eq!(loaded, 7);
}
