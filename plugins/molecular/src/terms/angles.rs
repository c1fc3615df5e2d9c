//! `HarmonicAngleForce`: E = ½ k (θ − θ₀)², θ the angle at the middle atom.

use super::Workspace;
use crate::vec3::{V3, add_to, cross, dot, scale, sub, sub_from};
use crate::xml::ForceXml;

/// Harmonic angles.
#[derive(Clone, Debug)]
pub struct Angles {
    /// (atoms, θ₀ in rad, k in kJ/mol/rad²).
    angles: Vec<([usize; 3], f64, f64)>,
}

impl Angles {
    /// Reads the `<Angles>` of a `HarmonicAngleForce` element.
    pub fn from_xml(force: &ForceXml, n: usize) -> Result<Self, String> {
        let mut angles = Vec::new();
        for (a, e) in force.element.list("Angles").iter().enumerate() {
            let context = format!("{} angle {a}", force.name);
            let atoms = [
                e.particle("p1", n, &context)?,
                e.particle("p2", n, &context)?,
                e.particle("p3", n, &context)?,
            ];
            angles.push((atoms, e.f64("a", &context)?, e.f64("k", &context)?));
        }
        Ok(Angles { angles })
    }

    /// Adds the energy and gradient of every angle.
    #[inline(always)]
    pub fn accumulate(&self, ws: &mut Workspace) -> f64 {
        let mut energy = 0.0;
        for &([i, j, k], theta0, kf) in &self.angles {
            let (theta, g) = angle_with_gradient(ws.pos[i], ws.pos[j], ws.pos[k]);
            let d = theta - theta0;
            energy += 0.5 * kf * d * d;
            if let Some([gi, gk]) = g {
                let de = kf * d;
                add_to(&mut ws.grad[i], scale(de, gi));
                add_to(&mut ws.grad[k], scale(de, gk));
                sub_from(&mut ws.grad[j], scale(de, gi));
                sub_from(&mut ws.grad[j], scale(de, gk));
            }
        }
        energy
    }
}

/// The angle θ ∈ [0, π] at `b` between `a` and `c`, and dθ/da, dθ/dc (dθ/db is minus their sum).
/// The gradient is `None` for a collinear or degenerate triple, where its direction is undefined.
#[inline(always)]
pub fn angle_with_gradient(a: V3, b: V3, c: V3) -> (f64, Option<[V3; 2]>) {
    let u = sub(a, b);
    let v = sub(c, b);
    let p = cross(u, v);
    let p_norm = dot(p, p).sqrt();
    let uv = dot(u, v);
    let theta = p_norm.atan2(uv);
    let uu = dot(u, u);
    let vv = dot(v, v);
    // sin θ below ~1e-10: the plane of the angle, and so the gradient's direction, is undefined.
    if p_norm <= 1e-10 * (uu * vv).sqrt() {
        return (theta, None);
    }
    // dθ/du = ((u·v) u/|u|² − v)/|u × v|, and symmetrically for v.
    let inv = 1.0 / p_norm;
    let gu = scale(inv, sub(scale(uv / uu, u), v));
    let gv = scale(inv, sub(scale(uv / vv, v), u));
    (theta, Some([gu, gv]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let a = [0.11, 0.02, -0.03];
        let b = [0.0, 0.0, 0.0];
        let c = [-0.04, 0.13, 0.05];
        let (theta, g) = angle_with_gradient(a, b, c);
        let [ga, gc] = g.unwrap();
        let h = 1e-7;
        for d in 0..3 {
            let mut ap = a;
            ap[d] += h;
            let mut am = a;
            am[d] -= h;
            let fd =
                (angle_with_gradient(ap, b, c).0 - angle_with_gradient(am, b, c).0) / (2.0 * h);
            assert!((fd - ga[d]).abs() < 1e-6, "a[{d}]: {fd} vs {}", ga[d]);
            let mut cp = c;
            cp[d] += h;
            let mut cm = c;
            cm[d] -= h;
            let fd =
                (angle_with_gradient(a, b, cp).0 - angle_with_gradient(a, b, cm).0) / (2.0 * h);
            assert!((fd - gc[d]).abs() < 1e-6, "c[{d}]: {fd} vs {}", gc[d]);
        }
        let cos = dot(a, c) / (dot(a, a) * dot(c, c)).sqrt();
        assert!((theta - cos.acos()).abs() < 1e-14);
    }

    #[test]
    fn collinear_angle_has_no_gradient_and_no_nan() {
        let (theta, g) = angle_with_gradient([1.0, 0.0, 0.0], [0.0; 3], [-2.0, 0.0, 0.0]);
        assert_eq!(theta, std::f64::consts::PI);
        assert!(g.is_none());
    }
}
