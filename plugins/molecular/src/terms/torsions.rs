//! `PeriodicTorsionForce`: E = k (1 + cos(n φ − φ₀)), φ the dihedral angle with the IUPAC sign.
//!
//! Terms on the same four atoms are grouped, so each dihedral's geometry and gradient directions
//! are computed once; cos(nφ) and sin(nφ) come from cos φ and sin φ by the multiple-angle
//! recurrence, without calling atan2, cos or sin per term. Terms with k = 0 are dropped.

use super::Workspace;
use crate::vec3::{V3, add_to, cross, dot, scale, sub};
use crate::xml::ForceXml;

/// One periodic term: periodicity n, k (kJ/mol), cos φ₀, sin φ₀.
#[derive(Clone, Copy, Debug)]
struct Periodic {
    n: u32,
    k: f64,
    cos_phase: f64,
    sin_phase: f64,
}

/// Periodic torsions, grouped by atom quadruple.
#[derive(Clone, Debug)]
pub struct Torsions {
    /// (atoms, range of `terms`).
    groups: Vec<([usize; 4], std::ops::Range<usize>)>,
    terms: Vec<Periodic>,
}

impl Torsions {
    /// Reads the `<Torsions>` of a `PeriodicTorsionForce` element.
    pub fn from_xml(force: &ForceXml, n: usize) -> Result<Self, String> {
        let mut all: Vec<([usize; 4], Periodic)> = Vec::new();
        for (t, e) in force.element.list("Torsions").iter().enumerate() {
            let context = format!("{} torsion {t}", force.name);
            let atoms = [
                e.particle("p1", n, &context)?,
                e.particle("p2", n, &context)?,
                e.particle("p3", n, &context)?,
                e.particle("p4", n, &context)?,
            ];
            let periodicity = e.int("periodicity", &context)?;
            let periodicity = u32::try_from(periodicity)
                .ok()
                .filter(|&p| p <= 1000)
                .ok_or_else(|| {
                    format!("{context}: periodicity {periodicity} is not in 0..=1000")
                })?;
            let (k, phase) = (e.f64("k", &context)?, e.f64("phase", &context)?);
            if k != 0.0 {
                let term = Periodic {
                    n: periodicity,
                    k,
                    cos_phase: phase.cos(),
                    sin_phase: phase.sin(),
                };
                all.push((atoms, term));
            }
        }
        // Group by quadruple, keeping the first appearance order.
        let mut groups: Vec<([usize; 4], Vec<Periodic>)> = Vec::new();
        for (atoms, term) in all {
            match groups.iter_mut().find(|(a, _)| *a == atoms) {
                Some((_, terms)) => terms.push(term),
                None => groups.push((atoms, vec![term])),
            }
        }
        let mut terms = Vec::new();
        let groups = groups
            .into_iter()
            .map(|(atoms, group)| {
                let start = terms.len();
                terms.extend(group);
                (atoms, start..terms.len())
            })
            .collect();
        Ok(Torsions { groups, terms })
    }

    /// Adds the energy and gradient of every torsion.
    #[inline(always)]
    pub fn accumulate(&self, ws: &mut Workspace) -> f64 {
        let mut energy = 0.0;
        for (atoms, range) in &self.groups {
            let [a, b, c, d] = atoms.map(|i| ws.pos[i]);
            let (cos_phi, sin_phi, g) = dihedral_with_gradient(a, b, c, d);
            let mut de_dphi = 0.0;
            for t in &self.terms[range.clone()] {
                let (cos_n, sin_n) = multiple_angle(cos_phi, sin_phi, t.n);
                // cos(nφ − φ₀) and sin(nφ − φ₀).
                let cos_arg = cos_n * t.cos_phase + sin_n * t.sin_phase;
                let sin_arg = sin_n * t.cos_phase - cos_n * t.sin_phase;
                energy += t.k * (1.0 + cos_arg);
                de_dphi -= t.k * f64::from(t.n) * sin_arg;
            }
            if let Some(g) = g {
                for (&atom, gi) in atoms.iter().zip(g) {
                    add_to(&mut ws.grad[atom], scale(de_dphi, gi));
                }
            }
        }
        energy
    }
}

/// cos(nφ), sin(nφ) from cos φ, sin φ.
#[inline(always)]
fn multiple_angle(c: f64, s: f64, n: u32) -> (f64, f64) {
    let (mut cn, mut sn) = (1.0, 0.0);
    for _ in 0..n {
        (cn, sn) = (cn * c - sn * s, sn * c + cn * s);
    }
    (cn, sn)
}

/// cos φ and sin φ of the dihedral angle φ of a-b-c-d with the IUPAC sign (as mdtraj and
/// OpenMM), and dφ/dx for the four atoms. When a-b-c or b-c-d is collinear, φ is undefined:
/// the gradient is `None` (and φ is taken as 0 if nothing defines it).
#[inline(always)]
pub fn dihedral_with_gradient(a: V3, b: V3, c: V3, d: V3) -> (f64, f64, Option<[V3; 4]>) {
    let b1 = sub(b, a);
    let b2 = sub(c, b);
    let b3 = sub(d, c);
    let m = cross(b1, b2);
    let n = cross(b2, b3);
    let b2_sq = dot(b2, b2);
    let b2_norm = b2_sq.sqrt();
    // φ = atan2(y, x), and x² + y² = |m|²|n|².
    let x = dot(m, n);
    let y = b2_norm * dot(b1, n);
    let mm = dot(m, m);
    let nn = dot(n, n);
    let scale_ref = b2_sq * (dot(b1, b1) + dot(b3, b3));
    if mm <= 1e-20 * scale_ref || nn <= 1e-20 * scale_ref {
        let r = (x * x + y * y).sqrt();
        return if r > 0.0 {
            (x / r, y / r, None)
        } else {
            (1.0, 0.0, None)
        };
    }
    let inv_r = 1.0 / (mm * nn).sqrt();
    // Blondel & Karplus (J. Comput. Chem. 17, 1132, 1996): dφ/da = −|b2|/|m|² m,
    // dφ/dd = |b2|/|n|² n, and the middle atoms through the projections p, q of b1 and b3 on
    // b2 (the four gradients sum to zero: translation invariance).
    let ga = scale(-b2_norm / mm, m);
    let gd = scale(b2_norm / nn, n);
    let p = dot(b1, b2) / b2_sq;
    let q = dot(b3, b2) / b2_sq;
    let gb = sub(scale(q, gd), scale(1.0 + p, ga));
    let gc = sub(scale(p, ga), scale(1.0 + q, gd));
    (x * inv_r, y * inv_r, Some([ga, gb, gc, gd]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phi(x: &[V3; 4]) -> f64 {
        let (c, s, _) = dihedral_with_gradient(x[0], x[1], x[2], x[3]);
        s.atan2(c)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [
            [0.1, 0.03, -0.02],
            [0.0, 0.0, 0.0],
            [0.0, 0.15, 0.01],
            [0.12, 0.2, 0.09],
        ];
        let (_, _, g) = dihedral_with_gradient(x[0], x[1], x[2], x[3]);
        let g = g.unwrap();
        let h = 1e-7;
        for atom in 0..4 {
            for dim in 0..3 {
                let mut xp = x;
                xp[atom][dim] += h;
                let mut xm = x;
                xm[atom][dim] -= h;
                let fd = (phi(&xp) - phi(&xm)) / (2.0 * h);
                assert!(
                    (fd - g[atom][dim]).abs() < 1e-6,
                    "atom {atom} dim {dim}: {fd} vs {}",
                    g[atom][dim]
                );
            }
        }
    }

    #[test]
    fn iupac_sign() {
        // Looking along b→c (+z), a is on +x and d on +y: a turns clockwise onto d, φ = +90°;
        // the mirror image has φ = −90°.
        let a = [1.0, 0.0, 0.0];
        let (b, c) = ([0.0, 0.0, 0.0], [0.0, 0.0, 1.0]);
        let p = phi(&[a, b, c, [0.0, 1.0, 1.0]]);
        assert!((p - std::f64::consts::FRAC_PI_2).abs() < 1e-14, "{p}");
        let p = phi(&[a, b, c, [0.0, -1.0, 1.0]]);
        assert!((p + std::f64::consts::FRAC_PI_2).abs() < 1e-14, "{p}");
    }

    #[test]
    fn multiple_angles() {
        let t: f64 = 2.2;
        for n in 0..6 {
            let (c, s) = multiple_angle(t.cos(), t.sin(), n);
            assert!((c - (n as f64 * t).cos()).abs() < 1e-14);
            assert!((s - (n as f64 * t).sin()).abs() < 1e-14);
        }
    }

    #[test]
    fn collinear_dihedral_is_finite() {
        let (c, s, g) =
            dihedral_with_gradient([0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [2.0, 1.0, 0.0]);
        assert_eq!((c, s), (1.0, 0.0));
        assert!(g.is_none());
    }
}
