//! The internal-coordinate layer on alanine dipeptide, with FAB's Z-matrix and with one built
//! from the bond graph; geometry is checked against independent f64 helpers.

use super::*;
use crate::flow::testing::*;
use crate::flow::{Bijection, from_f64};
use std::f64::consts::PI;

const MIN_ENERGY_CSV: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/alanine_dipeptide/aldp_min_energy.csv"
));

/// Elements of alanine dipeptide's atoms 0..21.
const ELEMENTS: [&str; 22] = [
    "H", "C", "H", "H", "C", "O", "N", "H", "C", "H", "C", "H", "H", "H", "C", "O", "N", "H", "C",
    "H", "H", "H",
];

/// The 21 bonds of alanine dipeptide: each row of FAB's Z-matrix with its bond partner, and the
/// frame's N–CA and CA–C.
const ALDP_BONDS: [(usize, usize); 21] = [
    (0, 1),
    (1, 4),
    (2, 1),
    (3, 1),
    (4, 6),
    (5, 4),
    (7, 6),
    (9, 8),
    (10, 8),
    (11, 10),
    (12, 10),
    (13, 10),
    (15, 14),
    (16, 14),
    (17, 16),
    (18, 16),
    (19, 18),
    (20, 18),
    (21, 18),
    (6, 8),
    (8, 14),
];

/// The minimum-energy structure, 66 values in nm.
fn min_energy() -> Vec<f64> {
    crate::io::parse_structure_csv(MIN_ENERGY_CSV).unwrap()
}

/// Covalent radius (nm, Cordero et al. 2008) and mass (Da) of an element.
fn radius_and_mass(element: &str) -> (f64, f64) {
    match element {
        "H" => (0.031, 1.008),
        "C" => (0.076, 12.011),
        "N" => (0.071, 14.007),
        "O" => (0.066, 15.999),
        other => panic!("no data for element {other}"),
    }
}

type V3 = [f64; 3];

fn position(x: &[f64], atom: usize) -> V3 {
    [x[3 * atom], x[3 * atom + 1], x[3 * atom + 2]]
}

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn scaled(a: V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn unit(a: V3) -> V3 {
    scaled(a, 1.0 / dot(a, a).sqrt())
}

/// Pairs of atoms closer than 1.2 × the sum of their covalent radii.
fn bonds_by_distance(x: &[f64]) -> Vec<(usize, usize)> {
    let radius = |atom: usize| radius_and_mass(ELEMENTS[atom]).0;
    let mut bonds = Vec::new();
    for a in 0..x.len() / 3 {
        for b in a + 1..x.len() / 3 {
            let d = sub(position(x, a), position(x, b));
            if dot(d, d).sqrt() < 1.2 * (radius(a) + radius(b)) {
                bonds.push((a, b));
            }
        }
    }
    bonds
}

/// The dihedral a–b–c–d by the projection formula, IUPAC sign (independent of the layer's).
fn iupac_dihedral(x: &[f64], [a, b, c, d]: [usize; 4]) -> f64 {
    let axis = unit(sub(position(x, c), position(x, b)));
    let b0 = sub(position(x, a), position(x, b));
    let b2 = sub(position(x, d), position(x, c));
    let v = sub(b0, scaled(axis, dot(b0, axis)));
    let w = sub(b2, scaled(axis, dot(b2, axis)));
    dot(cross(axis, v), w).atan2(dot(v, w))
}

/// `x` moved so that the frame's origin atom is at 0, its x-axis atom on +x and its plane atom
/// in the xy-plane with y > 0.
fn canonical(x: &[f64], [origin, x_axis, plane]: [usize; 3]) -> Vec<f64> {
    let o = position(x, origin);
    let e1 = unit(sub(position(x, x_axis), o));
    let v = sub(position(x, plane), o);
    let e2 = unit(sub(v, scaled(e1, dot(v, e1))));
    let e3 = cross(e1, e2);
    (0..x.len() / 3)
        .flat_map(|i| {
            let r = sub(position(x, i), o);
            [dot(r, e1), dot(r, e2), dot(r, e3)]
        })
        .collect()
}

/// `x` rotated by a random rotation and translated by a random vector (up to 2 nm).
fn moved(x: &[f64], seed: u64) -> Vec<f64> {
    let q = points(1, 4, 1.0, seed);
    let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    let [w, i, j, k] = [q[0] / norm, q[1] / norm, q[2] / norm, q[3] / norm];
    let rotation = [
        [
            1.0 - 2.0 * (j * j + k * k),
            2.0 * (i * j - k * w),
            2.0 * (i * k + j * w),
        ],
        [
            2.0 * (i * j + k * w),
            1.0 - 2.0 * (i * i + k * k),
            2.0 * (j * k - i * w),
        ],
        [
            2.0 * (i * k - j * w),
            2.0 * (j * k + i * w),
            1.0 - 2.0 * (i * i + j * j),
        ],
    ];
    let shift = points(1, 3, 2.0, seed + 1);
    (0..x.len() / 3)
        .flat_map(|a| {
            let p = position(x, a);
            [0, 1, 2].map(|r| dot(rotation[r], p) + shift[r])
        })
        .collect()
}

/// `n` copies of `x` (nm) with every coordinate displaced by up to `scale`.
fn perturbed(x: &[f64], n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let noise = points(n, x.len(), scale, seed);
    noise
        .iter()
        .enumerate()
        .map(|(i, e)| x[i % x.len()] + e)
        .collect()
}

/// `n` points of internal coordinates: circular ones uniform on [−π, π), the others in [−2, 2]
/// (bonds ±0.01 nm, angles ±0.3 rad, dihedrals ±0.4 rad from the reference).
fn random_internal(circular: &[bool], n: usize, seed: u64) -> Vec<f64> {
    let d = circular.len();
    let u = points(n, d, 1.0, seed);
    u.iter()
        .enumerate()
        .map(|(i, v)| if circular[i % d] { PI * v } else { 2.0 * v })
        .collect()
}

/// |a − b| as angles: the shorter way round the circle.
fn angular_gap(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(2.0 * PI);
    d.min(2.0 * PI - d)
}

/// Asserts two batches of internal coordinates agree to `tol`, circular ones modulo 2π.
fn assert_internal_close(a: &[f64], b: &[f64], circular: &[bool], tol: f64) {
    for (i, (u, v)) in a.iter().zip(b).enumerate() {
        let gap = if circular[i % circular.len()] {
            angular_gap(*u, *v)
        } else {
            (u - v).abs()
        };
        assert!(gap < tol, "internal coordinate {i}: {u} vs {v}");
    }
}

fn aldp() -> InternalCoordinatesConfig {
    InternalCoordinatesConfig::alanine_dipeptide(min_energy()).unwrap()
}

fn from_bond_graph() -> InternalCoordinatesConfig {
    let masses: Vec<f64> = ELEMENTS.iter().map(|e| radius_and_mass(e).1).collect();
    InternalCoordinatesConfig::from_bond_graph(&masses, &ALDP_BONDS, min_energy()).unwrap()
}

/// Cartesian round trip, rotated copies, log-determinant against finite differences, and the
/// internal-coordinate round trip, for one configuration of alanine dipeptide.
fn check_bijection(config: &InternalCoordinatesConfig) {
    let layer = config.init::<TestBackend>(&device()).unwrap();
    let (d, cartesian) = (config.dim(), config.cartesian_dim());
    let circular = config.circular_outputs();
    let frame = config.z_matrix.frame;

    // Cartesian → internal → Cartesian, in the canonical frame.
    let n = 8;
    let structures = perturbed(&min_energy(), n, 0.01, 1);
    let canonical_structures: Vec<f64> = structures
        .chunks(cartesian)
        .flat_map(|x| canonical(x, frame))
        .collect();
    let (z, ld_inverse) = layer.inverse(tensor(&canonical_structures, n, cartesian));
    let (back, ld_forward) = layer.forward(z.clone());
    for (a, b) in canonical_structures.iter().zip(values(back)) {
        assert!(
            (a - b).abs() < 1e-10,
            "Cartesian round trip: {a} became {b}"
        );
    }
    for (f, i) in values(ld_forward).iter().zip(values(ld_inverse)) {
        assert!(
            (f + i).abs() < 1e-10,
            "log-determinants {f} and {i} do not cancel"
        );
    }

    // Rotated and translated copies have the same internal coordinates.
    let copies: Vec<f64> = structures
        .chunks(cartesian)
        .enumerate()
        .flat_map(|(i, x)| moved(x, 10 + i as u64))
        .collect();
    let (z_copies, _) = layer.inverse(tensor(&copies, n, cartesian));
    assert_internal_close(&values(z), &values(z_copies), &circular, 1e-10);

    // Internal → Cartesian → internal, with the frame fixed.
    let z = random_internal(&circular, 16, 2);
    let (x, ld_forward) = layer.forward(tensor(&z, 16, d));
    let x_values = values(x.clone());
    for point in x_values.chunks(cartesian) {
        for fixed in fixed_coordinates(frame) {
            assert_eq!(
                point[fixed], 0.0,
                "coordinate {fixed} of the frame is not fixed"
            );
        }
    }
    let (back, ld_inverse) = layer.inverse(x);
    assert_internal_close(&z, &values(back), &circular, 1e-10);
    for (f, i) in values(ld_forward).iter().zip(values(ld_inverse)) {
        assert!(
            (f + i).abs() < 1e-10,
            "log-determinants {f} and {i} do not cancel"
        );
    }

    // log|det| against the Jacobian onto the 3N − 6 free Cartesian coordinates.
    let fixed = fixed_coordinates(frame);
    let free: Vec<usize> = (0..cartesian).filter(|c| !fixed.contains(c)).collect();
    let z = random_internal(&circular, 3, 3);
    let (_, log_det) = layer.forward(tensor(&z, 3, d));
    for (point, log_det) in z.chunks(d).zip(values(log_det)) {
        let jacobian = jacobian_by_differences(&layer, point, 1e-5).select_rows(&free);
        let brute = jacobian.determinant().abs().ln();
        assert!(
            (brute - log_det).abs() < 1e-7,
            "log|det J| = {brute} by differences, {log_det} by the layer"
        );
    }
}

/// The 6 Cartesian coordinates the frame fixes at zero.
fn fixed_coordinates([origin, x_axis, plane]: [usize; 3]) -> [usize; 6] {
    [
        3 * origin,
        3 * origin + 1,
        3 * origin + 2,
        3 * x_axis + 1,
        3 * x_axis + 2,
        3 * plane + 2,
    ]
}

#[test]
fn fab_alanine_dipeptide_is_a_bijection_with_exact_log_det() {
    let config = aldp();
    assert_eq!((config.dim(), config.cartesian_dim()), (60, 66));
    check_bijection(&config);
}

#[test]
fn z_matrix_from_the_bond_graph_is_a_bijection_with_exact_log_det() {
    assert_eq!(
        bonds_by_distance(&min_energy()),
        {
            let mut bonds: Vec<(usize, usize)> = ALDP_BONDS
                .iter()
                .map(|&(a, b)| (a.min(b), a.max(b)))
                .collect();
            bonds.sort();
            bonds
        },
        "the element order or the structure is not alanine dipeptide"
    );
    let config = from_bond_graph();
    config.z_matrix.validate().unwrap();
    // CA, the central heavy atom, fixes the frame with C and N.
    assert_eq!(config.z_matrix.frame, [8, 14, 6]);
    check_bijection(&config);
}

#[test]
fn fab_layout_and_circular_dihedrals() {
    let config = aldp();
    let circular = config.circular_outputs();
    let circular_indices: Vec<usize> = (0..60).filter(|&i| circular[i]).collect();
    // Row k's dihedral is output 3 + 3k + 2; φ is row 4 (atom 4), ψ row 13 (atom 16).
    assert_eq!(
        circular_indices,
        vec![5, 8, 17, 20, 23, 26, 29, 32, 44, 47, 50, 53]
    );
    assert_eq!(config.dihedral_output(ALDP_PHI), Some(17));
    assert_eq!(config.dihedral_output([14, 8, 6, 4]), Some(17));
    assert_eq!(config.dihedral_output(ALDP_PSI), Some(44));
    let layer = config.init::<TestBackend>(&device()).unwrap();
    assert_eq!(layer.circular_outputs(), circular.as_slice());

    // FAB's `ind_circ_dih` indexes boltzgen's topologically sorted rows, which our placement
    // order reproduces.
    let rows = &config.z_matrix.rows;
    let sorted: Vec<usize> = config
        .z_matrix
        .placement_order()
        .unwrap()
        .iter()
        .map(|&k| rows[k].atom)
        .collect();
    let mut fab: Vec<usize> = [0, 1, 2, 3, 4, 5, 8, 9, 10, 13, 15, 16]
        .iter()
        .map(|&i| sorted[i])
        .collect();
    fab.sort();
    let ours: Vec<usize> = (0..rows.len())
        .filter(|&k| config.circular[k])
        .map(|k| rows[k].atom)
        .collect();
    assert_eq!(ours, fab);
}

#[test]
fn phi_and_psi_match_the_iupac_formula() {
    // The helper itself: looking along b → c (+z), a on +x and d on +y is +90°.
    let square = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
    assert!((iupac_dihedral(&square, [0, 1, 2, 3]) - PI / 2.0).abs() < 1e-15);

    let config = aldp();
    let layer = config.init::<TestBackend>(&device()).unwrap();
    let reference = min_energy();
    // L-alanine: N, C and CB around CA are right-handed.
    let ca = position(&reference, 8);
    let [n, c, cb] = [6, 14, 10].map(|a| sub(position(&reference, a), ca));
    assert!(dot(n, cross(c, cb)) > 0.0);

    let (random, _) = layer.forward(tensor(
        &random_internal(&config.circular_outputs(), 8, 4),
        8,
        60,
    ));
    let mut structures = reference.clone();
    structures.extend(perturbed(&reference, 7, 0.02, 5));
    structures.extend(values(random));
    let n = structures.len() / 66;
    let (z, _) = layer.inverse(tensor(&structures, n, 66));
    let physical = values(layer.to_physical(z));
    let (phi, psi) = (ALDP_PHI, ALDP_PSI);
    for (x, q) in structures.chunks(66).zip(physical.chunks(60)) {
        for (atoms, index) in [(phi, 17), (psi, 44)] {
            let expected = iupac_dihedral(x, atoms);
            assert!(
                (q[index] - expected).abs() < 1e-10,
                "dihedral {atoms:?}: layer {}, IUPAC formula {expected}",
                q[index]
            );
        }
    }
    // The minimum-energy structure is extended (β region): φ ≈ −145.8°, ψ ≈ 150.3°.
    assert!(
        (physical[17] - -2.544_96).abs() < 1e-5,
        "φ = {}",
        physical[17]
    );
    assert!(
        (physical[44] - 2.622_51).abs() < 1e-5,
        "ψ = {}",
        physical[44]
    );
}

#[test]
fn reference_maps_to_zero_and_circular_outputs_stay_on_the_circle() {
    let config = aldp();
    let circular = config.circular_outputs();
    let layer = config.init::<TestBackend>(&device()).unwrap();
    let (z, _) = layer.inverse(tensor(&moved(&min_energy(), 3), 1, 66));
    for (i, v) in values(z).iter().enumerate() {
        assert!(
            v.abs() < 1e-10,
            "internal coordinate {i} of the reference is {v}"
        );
    }
    // Structures whose dihedrals cover the whole circle, in arbitrary frames.
    let n = 64;
    let (x, _) = layer.forward(tensor(&random_internal(&circular, n, 6), n, 60));
    let moved_copies: Vec<f64> = values(x)
        .chunks(66)
        .enumerate()
        .flat_map(|(i, x)| moved(x, 100 + i as u64))
        .collect();
    let (z, _) = layer.inverse(tensor(&moved_copies, n, 66));
    let z = values(z);
    let mut extremes = (0.0f64, 0.0f64);
    for (i, v) in z.iter().enumerate() {
        if circular[i % 60] {
            assert!((-PI..PI).contains(v), "circular output {i} is {v}");
            extremes = (extremes.0.min(*v), extremes.1.max(*v));
        }
    }
    assert!(extremes.0 < -3.0 && extremes.1 > 3.0, "{extremes:?}");
}

#[test]
fn gradients_are_finite_and_match_differences() {
    type Ad = burn::backend::Autodiff<TestBackend>;
    let device = device();
    let config = aldp();
    let circular = config.circular_outputs();
    let layer = config.init::<TestBackend>(&device).unwrap();
    let ad_layer = config.init::<Ad>(&device).unwrap();
    let h = 1e-6;

    // Forward: loss = Σ w·x + log|det|, gradient with respect to z.
    let z = random_internal(&circular, 1, 7);
    let w = points(1, 66, 1.0, 8);
    let forward_loss = |z: &[f64]| {
        let (x, log_det) = layer.forward(tensor(z, 1, 60));
        values(x).iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + values(log_det)[0]
    };
    let z_ad = from_f64::<Ad, 2>(z.clone(), [1, 60], &device).require_grad();
    let (x, log_det) = ad_layer.forward(z_ad.clone());
    let grads =
        ((x * from_f64::<Ad, 2>(w.clone(), [1, 66], &device)).sum() + log_det.sum()).backward();
    let gradient = values(z_ad.grad(&grads).unwrap());
    for (i, g) in gradient.iter().enumerate() {
        let (mut up, mut down) = (z.clone(), z.clone());
        up[i] += h;
        down[i] -= h;
        let brute = (forward_loss(&up) - forward_loss(&down)) / (2.0 * h);
        assert!(
            (g - brute).abs() < 1e-6 * (1.0 + brute.abs()),
            "∂/∂z{i}: {g} vs {brute}"
        );
    }

    // Inverse, at a generic structure and at degenerate ones (coincident atoms 0 and 1;
    // atoms 2, 1, 4 collinear): finite gradients everywhere.
    let generic = moved(&min_energy(), 9);
    let mut coincident = generic.clone();
    coincident.copy_within(3..6, 0);
    let mut collinear = generic.clone();
    let (p1, p4) = (position(&collinear, 1), position(&collinear, 4));
    collinear[6..9].copy_from_slice(&sub(scaled(p1, 2.0), p4));
    let w = points(1, 60, 1.0, 10);
    let inverse_loss = |x: &[f64]| {
        let (z, log_det) = layer.inverse(tensor(x, 1, 66));
        values(z).iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + values(log_det)[0]
    };
    for (name, x) in [
        ("generic", &generic),
        ("coincident", &coincident),
        ("collinear", &collinear),
    ] {
        let x_ad = from_f64::<Ad, 2>(x.clone(), [1, 66], &device).require_grad();
        let (z, log_det) = ad_layer.inverse(x_ad.clone());
        let grads =
            ((z * from_f64::<Ad, 2>(w.clone(), [1, 60], &device)).sum() + log_det.sum()).backward();
        let gradient = values(x_ad.grad(&grads).unwrap());
        assert!(
            gradient.iter().all(|g| g.is_finite()),
            "{name}: {gradient:?}"
        );
        if name == "generic" {
            for (i, g) in gradient.iter().enumerate() {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[i] += h;
                down[i] -= h;
                let brute = (inverse_loss(&up) - inverse_loss(&down)) / (2.0 * h);
                assert!(
                    (g - brute).abs() < 1e-5 * (1.0 + brute.abs()),
                    "∂/∂x{i}: {g} vs {brute}"
                );
            }
        }
    }
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let short = InternalCoordinatesConfig::alanine_dipeptide(vec![0.0; 65]).unwrap_err();
    assert!(short.to_string().contains("3 × 22 = 66"), "{short}");

    let mut config = aldp();
    config.circular.pop();
    let message = config.validate().unwrap_err().to_string();
    assert!(message.contains("one per Z-matrix row"), "{message}");

    let mut config = aldp();
    config.scales.angle = 0.0;
    assert!(config.validate().is_err());

    // C (14) on the line N–CA: the frame's angle is 180°.
    let mut config = aldp();
    let (n, ca) = (
        position(&config.reference, 6),
        position(&config.reference, 8),
    );
    config.reference[42..45].copy_from_slice(&sub(scaled(ca, 2.0), n));
    let message = config
        .init::<TestBackend>(&device())
        .unwrap_err()
        .to_string();
    assert!(message.contains("the angle 6–8–14 is 180.00°"), "{message}");

    // Atom 5 on top of its bond partner 4.
    let mut config = aldp();
    config.reference.copy_within(12..15, 15);
    let message = config
        .init::<TestBackend>(&device())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("atoms 5 and 4 are 0.0000 nm apart"),
        "{message}"
    );
}

#[test]
fn works_as_a_layer_of_a_flow() {
    let config = crate::flow::LayerConfig::Internal(aldp());
    let text = ron::to_string(&config).unwrap();
    assert_eq!(
        ron::from_str::<crate::flow::LayerConfig>(&text).unwrap(),
        config
    );
    let layer = config.init::<TestBackend>(&device()).unwrap();
    let (x, _) = layer.forward(tensor(&[0.0; 60], 1, 60));
    let expected = canonical(&min_energy(), [8, 6, 14]);
    for (a, b) in values(x).iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn a_three_atom_molecule_has_only_the_frame() {
    let angle = 104.52f64.to_radians();
    let water = moved(
        &[
            0.0,
            0.0,
            0.0,
            0.09572,
            0.0,
            0.0,
            0.09572 * angle.cos(),
            0.09572 * angle.sin(),
            0.0,
        ],
        20,
    );
    let config = InternalCoordinatesConfig::from_bond_graph(
        &[15.999, 1.008, 1.008],
        &[(0, 1), (0, 2)],
        water,
    )
    .unwrap();
    let layer = config.init::<TestBackend>(&device()).unwrap();
    let z = points(4, 3, 2.0, 21);
    assert_round_trip(&layer, &z, 4, 3, 1e-10);
    let free: Vec<usize> = (0..9)
        .filter(|c| !fixed_coordinates([0, 1, 2]).contains(c))
        .collect();
    let (_, log_det) = layer.forward(tensor(&z, 4, 3));
    for (point, log_det) in z.chunks(3).zip(values(log_det)) {
        let jacobian = jacobian_by_differences(&layer, point, 1e-5).select_rows(&free);
        let brute = jacobian.determinant().abs().ln();
        assert!((brute - log_det).abs() < 1e-7, "{brute} vs {log_det}");
    }
}

/// Adding one angle to each torsion-jump group rotates one side of the molecule rigidly about
/// its bond: φ (or ψ) changes by that angle, the atoms of the other side (CA's substituents
/// among them) stay where they were, and CA keeps its chirality. In FAB's Z-matrix φ's group
/// also holds the HA and CB dihedrals; in the bond-graph Z-matrix, which places HA and CB
/// relative to the frame, φ is output 17 alone and ψ turns with O's torsion (output 11).
#[test]
fn torsion_jump_groups_are_rigid_rotations() {
    for (config, phi_group, psi_group) in [
        (aldp(), &ALDP_PHI_ROTATION[..], &ALDP_PSI_ROTATION[..]),
        (from_bond_graph(), &[17][..], &[11][..]),
    ] {
        check_rigid_rotations(&config, phi_group, psi_group);
    }
}

fn check_rigid_rotations(
    config: &InternalCoordinatesConfig,
    phi_group: &[usize],
    psi_group: &[usize],
) {
    let layer = config.init::<TestBackend>(&device()).unwrap();
    let delta = 2.3;
    // Atoms that stay fixed: CA's side for φ (CA, its H and CB group, C and beyond), and the
    // acetyl side with CA's substituents for ψ.
    let phi_fixed: Vec<usize> = (8..22).collect();
    let psi_fixed: Vec<usize> = (0..15).collect();
    for (group, dihedral, fixed) in [
        (phi_group, ALDP_PHI, phi_fixed),
        (psi_group, ALDP_PSI, psi_fixed),
    ] {
        let mut z = vec![0.0; 60];
        let (x0, _) = layer.forward(tensor(&z, 1, 60));
        for &i in group {
            z[i] += delta;
        }
        let (x1, _) = layer.forward(tensor(&z, 1, 60));
        let (x0, x1) = (values(x0), values(x1));
        for &atom in &fixed {
            for k in 0..3 {
                let (a, b) = (x0[3 * atom + k], x1[3 * atom + k]);
                assert!((a - b).abs() < 1e-12, "{dihedral:?}: atom {atom} moved");
            }
        }
        let change = iupac_dihedral(&x1, dihedral) - iupac_dihedral(&x0, dihedral);
        assert!(
            angular_gap(change, delta) < 1e-10,
            "{dihedral:?} changed by {change}"
        );
        let chirality = |x: &[f64]| {
            let ca = position(x, 8);
            let [n, c, cb] = [6, 14, 10].map(|a| sub(position(x, a), ca));
            dot(n, cross(c, cb))
        };
        assert!(chirality(&x0) > 0.0 && chirality(&x1) > 0.0);
    }
}
