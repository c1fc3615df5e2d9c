//! Molecular geometry: dihedral angles, the chirality of a stereocentre, and rigid
//! superposition.
//!
//! Positions are flat `[x0, y0, z0, x1, ...]` arrays (atoms × 3, nm) as plugins and HDF5 files
//! store them, or nalgebra points.

use nalgebra::{Matrix3, Point3, Vector3};

/// The alanine dipeptide atoms of the CA chirality test: N, CA, C, CB.
pub const ALANINE_DIPEPTIDE_CHIRALITY: [usize; 4] = [6, 8, 14, 10];

/// The dihedral angle of `a-b-c-d` in radians, in (−π, π], with the IUPAC sign convention (as
/// mdtraj): looking along b→c, the angle is positive when the bond b–a must turn clockwise to
/// eclipse c–d. NaN when a-b-c or b-c-d is collinear only if the input is; a collinear triple
/// gives 0 or π rather than NaN.
pub fn dihedral(a: &Point3<f64>, b: &Point3<f64>, c: &Point3<f64>, d: &Point3<f64>) -> f64 {
    let b1: Vector3<f64> = b - a;
    let b2: Vector3<f64> = c - b;
    let b3: Vector3<f64> = d - c;
    let n1 = b1.cross(&b2);
    let n2 = b2.cross(&b3);
    (b2.norm() * b1.dot(&n2)).atan2(n1.dot(&n2))
}

/// The signed volume (n − ca)·((c − ca) × (cb − ca)) of a stereocentre `ca` with neighbours
/// `n`, `c`, `cb`. For an amino acid with N, CA, C, CB it is positive for the L form.
pub fn signed_volume(n: &Point3<f64>, ca: &Point3<f64>, c: &Point3<f64>, cb: &Point3<f64>) -> f64 {
    (n - ca).dot(&(c - ca).cross(&(cb - ca)))
}

/// Atom `i` of flat positions (atoms × 3). Panics if `i` is out of range.
pub fn atom(positions: &[f64], i: usize) -> Point3<f64> {
    Point3::new(positions[3 * i], positions[3 * i + 1], positions[3 * i + 2])
}

/// The dihedral angle over four atoms of flat positions (see [`dihedral`]).
pub fn dihedral_of(positions: &[f64], atoms: [usize; 4]) -> f64 {
    let [a, b, c, d] = atoms.map(|i| atom(positions, i));
    dihedral(&a, &b, &c, &d)
}

/// The signed volume over atoms `[n, ca, c, cb]` of flat positions (see [`signed_volume`]).
pub fn chirality_of(positions: &[f64], atoms: [usize; 4]) -> f64 {
    let [n, ca, c, cb] = atoms.map(|i| atom(positions, i));
    signed_volume(&n, &ca, &c, &cb)
}

/// Whether an alanine dipeptide conformation (22 atoms × 3) has the L form at its CA.
pub fn is_l_alanine_dipeptide(positions: &[f64]) -> bool {
    chirality_of(positions, ALANINE_DIPEPTIDE_CHIRALITY) > 0.0
}

/// Superposes `frame` (flat positions, atoms × 3) onto `reference` in place: translates its
/// centroid onto the reference's, then applies the proper rotation that minimises the squared
/// distance to it (Kabsch 1976, by the SVD of the 3 × 3 covariance, with the reflection case
/// turned into a rotation). Atoms weigh equally.
pub fn superpose(frame: &mut [f64], reference: &[f64]) {
    assert_eq!(frame.len(), reference.len(), "frames of different sizes");
    let atoms = frame.len() / 3;
    let centroid = |x: &[f64]| -> Vector3<f64> {
        (0..atoms).map(|i| atom(x, i).coords).sum::<Vector3<f64>>() / atoms as f64
    };
    let (c_frame, c_reference) = (centroid(frame), centroid(reference));
    let covariance: Matrix3<f64> = (0..atoms)
        .map(|i| {
            (atom(frame, i).coords - c_frame)
                * (atom(reference, i).coords - c_reference).transpose()
        })
        .sum();
    let svd = covariance.svd(true, true);
    let (u, v_t) = (svd.u.expect("asked for"), svd.v_t.expect("asked for"));
    let sign = (v_t.transpose() * u.transpose()).determinant().signum();
    let rotation =
        v_t.transpose() * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, sign)) * u.transpose();
    for i in 0..atoms {
        let moved = rotation * (atom(frame, i).coords - c_frame) + c_reference;
        frame[3 * i..3 * i + 3].copy_from_slice(moved.as_slice());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::{FRAC_PI_2, PI};

    fn p(x: f64, y: f64, z: f64) -> Point3<f64> {
        Point3::new(x, y, z)
    }

    #[test]
    fn iupac_sign_on_a_hand_built_configuration() {
        // b at the origin, c on +z; looking along b→c, a is on +x.
        let (a, b, c) = (p(1.0, 0.0, 0.0), p(0.0, 0.0, 0.0), p(0.0, 0.0, 1.0));
        // d on +y: seen along +z, +x turns clockwise onto +y, so φ = +90°.
        assert!((dihedral(&a, &b, &c, &p(0.0, 1.0, 1.0)) - FRAC_PI_2).abs() < 1e-15);
        assert!((dihedral(&a, &b, &c, &p(0.0, -1.0, 1.0)) + FRAC_PI_2).abs() < 1e-15);
        // cis (eclipsed) is 0, trans is π.
        assert!(dihedral(&a, &b, &c, &p(1.0, 0.0, 1.0)).abs() < 1e-15);
        assert!((dihedral(&a, &b, &c, &p(-1.0, 0.0, 1.0)).abs() - PI).abs() < 1e-15);
        // 60° off: d at angle +60° from +x around +z.
        let d = p(0.5, 3f64.sqrt() / 2.0, 1.0);
        assert!((dihedral(&a, &b, &c, &d) - PI / 3.0).abs() < 1e-14);
    }

    #[test]
    fn dihedral_is_invariant_under_rotation_and_flips_under_reflection() {
        let pts = [
            p(0.1, 0.03, -0.02),
            p(0.0, 0.0, 0.0),
            p(0.0, 0.15, 0.01),
            p(0.12, 0.2, 0.09),
        ];
        let phi = dihedral(&pts[0], &pts[1], &pts[2], &pts[3]);
        let rot = nalgebra::Rotation3::from_euler_angles(0.3, -1.1, 2.0);
        let r: Vec<_> = pts.iter().map(|q| rot * q).collect();
        assert!((dihedral(&r[0], &r[1], &r[2], &r[3]) - phi).abs() < 1e-13);
        let m: Vec<_> = pts.iter().map(|q| p(-q.x, q.y, q.z)).collect();
        assert!((dihedral(&m[0], &m[1], &m[2], &m[3]) + phi).abs() < 1e-13);
    }

    #[test]
    fn flat_positions_helpers() {
        let flat = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        assert!((dihedral_of(&flat, [0, 1, 2, 3]) - FRAC_PI_2).abs() < 1e-15);
        assert!((dihedral_of(&flat, [3, 2, 1, 0]) - FRAC_PI_2).abs() < 1e-15);
    }

    #[test]
    fn chirality_sign_and_mirror_image() {
        // An L-alanine-like stereocentre: CA at the origin, N, C, CB around it such that
        // (N−CA)·((C−CA)×(CB−CA)) > 0; its mirror image (D form) has the opposite sign.
        let (n, ca, c, cb) = (
            p(1.0, 0.0, 0.0),
            p(0.0, 0.0, 0.0),
            p(0.0, 1.0, 0.0),
            p(0.0, 0.0, 1.0),
        );
        let v = signed_volume(&n, &ca, &c, &cb);
        assert!((v - 1.0).abs() < 1e-15);
        let mirror = |q: &Point3<f64>| p(q.x, q.y, -q.z);
        assert!(
            (signed_volume(&mirror(&n), &mirror(&ca), &mirror(&c), &mirror(&cb)) + 1.0).abs()
                < 1e-15
        );
        // Swapping two substituents inverts the centre too.
        assert!(signed_volume(&c, &ca, &n, &cb) < 0.0);
        let mut flat = vec![0.0; 22 * 3];
        for (i, q) in [(6, n), (8, ca), (14, c), (10, cb)] {
            flat[3 * i..3 * i + 3].copy_from_slice(&[q.x, q.y, q.z]);
        }
        assert!(is_l_alanine_dipeptide(&flat));
        flat[3 * 10 + 2] = -1.0;
        assert!(!is_l_alanine_dipeptide(&flat));
    }

    /// A rotated, translated copy of a frame superposes back onto it exactly; the result is
    /// a proper rotation of the input (distances kept), also when the best fit of a mirror
    /// image would be a reflection.
    #[test]
    fn superpose_undoes_a_rigid_motion_and_never_reflects() {
        let reference = [
            0.0, 0.0, 0.0, 1.0, 0.1, 0.0, 0.2, 1.3, 0.0, 0.3, 0.4, 0.9, -0.5, 0.2, 0.4,
        ];
        let rotation = nalgebra::Rotation3::from_euler_angles(0.3, -1.1, 2.0);
        let mut frame: Vec<f64> = (0..5)
            .flat_map(|i| {
                let moved = rotation * atom(&reference, i).coords + Vector3::new(3.0, -2.0, 0.5);
                moved.as_slice().to_vec()
            })
            .collect();
        superpose(&mut frame, &reference);
        for (a, b) in frame.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let mut mirror: Vec<f64> = reference
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 3 == 2 { -v } else { *v })
            .collect();
        let before = mirror.clone();
        superpose(&mut mirror, &reference);
        let distance = |x: &[f64], i: usize, j: usize| (atom(x, i) - atom(x, j)).norm();
        for (i, j) in [(0, 3), (1, 4), (2, 3)] {
            assert!((distance(&mirror, i, j) - distance(&before, i, j)).abs() < 1e-12);
        }
        assert!(
            (chirality_of(&mirror, [0, 1, 2, 3]) - chirality_of(&before, [0, 1, 2, 3])).abs()
                < 1e-12
        );
    }
}
