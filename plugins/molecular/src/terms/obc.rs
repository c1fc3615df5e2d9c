//! Onufriev–Bashford–Case (OBC) generalised Born implicit solvent, shared by the OBC1 form that
//! OpenMM's `app` layer emits as a `CustomGBForce` ([`crate::terms::obc::from_custom_gb`]) and
//! OpenMM's built-in `GBSAOBCForce` (OBC2, [`Obc::from_gbsaobc`]).
//!
//! For atoms with offset radius oᵢ, scaled radius sᵢ and charge qᵢ:
//!
//! - HCT integral, over every other atom j (no exclusions), with U = r + sⱼ,
//!   L = max(oᵢ, |r − sⱼ|), counted only when r + sⱼ ≥ oᵢ:
//!   Tᵢⱼ = 1/L − 1/U + ¼(r − sⱼ²/r)(1/U² − 1/L²) + ½ ln(L/U)/r
//!   (`GBSAOBCForce` adds 2(1/oᵢ − 1/L) when oᵢ < sⱼ − r, atom i buried in j's sphere);
//! - ψᵢ = ½ oᵢ Σⱼ Tᵢⱼ, Born radius Bᵢ = 1/(1/oᵢ − tanh(αψ − βψ² + γψ³)/ρᵢ), ρᵢ = oᵢ + 0.009;
//! - E = Σᵢ ½ c qᵢ²/Bᵢ + Σᵢ<ⱼ c qᵢqⱼ/fᵢⱼ + Σᵢ A (ρᵢ + 0.14)² (ρᵢ/Bᵢ)⁶,
//!   fᵢⱼ = √(r² + BᵢBⱼ exp(−r²/(4BᵢBⱼ))), c = −K (1/ε_solute − 1/ε_solvent).
//!
//! Gradients take the standard two passes: dE/dBᵢ from the energy terms, then the chain rule
//! through dBᵢ/dψᵢ and dTᵢⱼ/dr. dT/dL vanishes when L = r − s; when L = s − r (buried atom) it
//! does not, and the OBC1 form keeps that derivative, whereas in OBC2 it cancels exactly
//! against the derivative of the buried-atom correction.

use super::{PairTable, Workspace, gather_pairs, scatter_pairs};
use crate::terms::nonbonded::{ONE_4PI_EPS0, method_name};
use crate::xml::ForceXml;
use boltzflow_plugin::fastmath;

pub use crate::terms::obc_custom::from_custom_gb;

/// The OBC model with per-atom parameters resolved.
#[derive(Clone, Debug)]
pub struct Obc {
    /// Which OpenMM force this came from, for reporting.
    pub(crate) model: &'static str,
    /// oᵢ: radius minus the dielectric offset (nm).
    pub(crate) offset_radius: Vec<f64>,
    /// ρᵢ in the Born radius formula (nm).
    pub(crate) tanh_radius: Vec<f64>,
    /// sᵢ: scaled offset radius (nm).
    pub(crate) scaled_radius: Vec<f64>,
    /// Radius in the surface-area term (nm).
    pub(crate) sa_radius: Vec<f64>,
    /// Charges (e).
    pub(crate) charge: Vec<f64>,
    /// α, β, γ of the tanh rescaling.
    pub(crate) alpha: f64,
    pub(crate) beta: f64,
    pub(crate) gamma: f64,
    /// c = −K (1/ε_solute − 1/ε_solvent), kJ/mol nm e⁻².
    pub(crate) prefactor: f64,
    /// A: surface-area energy factor (kJ/mol/nm²), 4π × surface-area energy.
    pub(crate) sa_factor: f64,
    /// Solvent probe radius (nm).
    pub(crate) probe_radius: f64,
    /// Whether the buried-atom correction of `GBSAOBCForce` is included.
    pub(crate) buried_correction: bool,
    /// Per pair (i, j), filled by [`Obc::finish`]: c qᵢ qⱼ.
    pub(crate) pair_charge: Vec<f64>,
    /// Per pair: (oᵢ, sᵢ, 1/oᵢ) and (oⱼ, sⱼ, 1/oⱼ).
    pub(crate) pair_first: [Vec<f64>; 3],
    pub(crate) pair_second: [Vec<f64>; 3],
}

impl Obc {
    /// Reads a `GBSAOBCForce` element (OBC2: α = 1, β = 0.8, γ = 4.85, offset 0.009 nm, probe
    /// 0.14 nm, as OpenMM's reference platform).
    pub fn from_gbsaobc(force: &ForceXml, n: usize, pairs: &PairTable) -> Result<Self, String> {
        let e = &force.element;
        let name = &force.name;
        let method = e.int("method", name)?;
        if method != 0 {
            let method = match method {
                1 => "CutoffNonPeriodic".to_owned(),
                2 => "CutoffPeriodic".to_owned(),
                m => method_name(m),
            };
            return Err(format!(
                "{name} (GBSAOBCForce) uses the nonbonded method {method}; only NoCutoff is supported"
            ));
        }
        let solute = e.f64("soluteDielectric", name)?;
        let solvent = e.f64("solventDielectric", name)?;
        let surface = e.f64("surfaceAreaEnergy", name)?;
        let particles = e.list("Particles");
        if particles.len() != n {
            return Err(format!(
                "{name} (GBSAOBCForce) has {} particles but the system has {n}",
                particles.len()
            ));
        }
        const OFFSET: f64 = 0.009;
        let mut obc = Obc::empty("GBSAOBCForce (OBC2)", n);
        for (i, p) in particles.iter().enumerate() {
            let context = format!("{name} particle {i}");
            let radius = p.f64("r", &context)?;
            let scale = p.f64("scale", &context)?;
            if radius <= OFFSET || scale < 0.0 {
                return Err(format!(
                    "{context}: radius {radius} nm must exceed the 0.009 nm offset and scale \
                     {scale} must not be negative"
                ));
            }
            let offset_radius = radius - OFFSET;
            obc.charge.push(p.f64("q", &context)?);
            obc.offset_radius.push(offset_radius);
            obc.tanh_radius.push(radius);
            obc.scaled_radius.push(offset_radius * scale);
            obc.sa_radius.push(radius);
        }
        obc.alpha = 1.0;
        obc.beta = 0.8;
        obc.gamma = 4.85;
        // ObcParameters: electricConstant = −½ K, preFactor = 2 electricConstant (1/εin − 1/εout).
        obc.prefactor = if solute != 0.0 && solvent != 0.0 {
            2.0 * (-0.5 * ONE_4PI_EPS0) * (1.0 / solute - 1.0 / solvent)
        } else {
            0.0
        };
        obc.sa_factor = 4.0 * std::f64::consts::PI * surface;
        obc.probe_radius = 0.14;
        obc.buried_correction = true;
        obc.finish(pairs);
        Ok(obc)
    }

    /// An OBC model with no atoms yet, to be filled by a reader.
    pub(crate) fn empty(model: &'static str, n: usize) -> Self {
        Obc {
            model,
            offset_radius: Vec::with_capacity(n),
            tanh_radius: Vec::with_capacity(n),
            scaled_radius: Vec::with_capacity(n),
            sa_radius: Vec::with_capacity(n),
            charge: Vec::with_capacity(n),
            alpha: 0.0,
            beta: 0.0,
            gamma: 0.0,
            prefactor: 0.0,
            sa_factor: 0.0,
            probe_radius: 0.0,
            buried_correction: false,
            pair_charge: Vec::new(),
            pair_first: Default::default(),
            pair_second: Default::default(),
        }
    }

    /// Precomputes the per-pair parameters.
    pub(crate) fn finish(&mut self, pairs: &PairTable) {
        let (o, s) = (&self.offset_radius, &self.scaled_radius);
        let per_atom = |atoms: &[usize]| -> [Vec<f64>; 3] {
            [
                atoms.iter().map(|&i| o[i]).collect(),
                atoms.iter().map(|&i| s[i]).collect(),
                atoms.iter().map(|&i| 1.0 / o[i]).collect(),
            ]
        };
        self.pair_first = per_atom(&pairs.first);
        self.pair_second = per_atom(&pairs.second);
        self.pair_charge = pairs
            .iter()
            .map(|(i, j)| self.prefactor * self.charge[i] * self.charge[j])
            .collect();
    }

    /// Which model this is (for metadata).
    pub fn model(&self) -> &'static str {
        self.model
    }

    /// Adds the GB energy and its gradient (through `ws.de_dr`).
    #[inline(always)]
    pub fn accumulate(&self, ws: &mut Workspace, pairs: &PairTable) -> f64 {
        let n = pairs.len();
        let Workspace {
            r,
            inv_r,
            de_dr,
            pair:
                [
                    t_ij,
                    dt_ij,
                    t_ji,
                    dt_ji,
                    b_i,
                    b_j,
                    ib_i,
                    ib_j,
                    e_pair,
                    db_pair,
                ],
            atom: [sum, born, inv_born, de_db, chain],
            ..
        } = ws;
        let (r, inv_r, de_dr) = (&r[..n], &inv_r[..n], &mut de_dr[..n]);
        let (t_ij, dt_ij, t_ji, dt_ji) = (
            &mut t_ij[..n],
            &mut dt_ij[..n],
            &mut t_ji[..n],
            &mut dt_ji[..n],
        );

        // Pass 1 (vectorised): the HCT integrals and their radial derivatives, both directions.
        {
            let [o_i, s_i, io_i] = &self.pair_first;
            let [o_j, s_j, io_j] = &self.pair_second;
            let (o_i, s_i, io_i) = (&o_i[..n], &s_i[..n], &io_i[..n]);
            let (o_j, s_j, io_j) = (&o_j[..n], &s_j[..n], &io_j[..n]);
            for p in 0..n {
                let [(a, da), (b, db)] = pair_integrals(
                    r[p],
                    inv_r[p],
                    (o_i[p], s_i[p], io_i[p]),
                    (o_j[p], s_j[p], io_j[p]),
                    self.buried_correction,
                );
                t_ij[p] = a;
                dt_ij[p] = da;
                t_ji[p] = b;
                dt_ji[p] = db;
            }
        }
        sum.fill(0.0);
        scatter_pairs(pairs, t_ij, t_ji, sum);

        // Born radii, self and surface-area energies, and dB/dΣT.
        let o = &self.offset_radius;
        let mut energy = 0.0;
        for i in 0..o.len() {
            let psi = 0.5 * o[i] * sum[i];
            let arg = psi * (self.alpha + psi * (-self.beta + psi * self.gamma));
            let th = arg.tanh();
            let b = 1.0 / (1.0 / o[i] - th / self.tanh_radius[i]);
            born[i] = b;
            inv_born[i] = 1.0 / b;
            let darg = self.alpha + psi * (-2.0 * self.beta + 3.0 * self.gamma * psi);
            chain[i] = b * b * (1.0 - th * th) * darg / self.tanh_radius[i] * 0.5 * o[i];

            let q = self.charge[i];
            let e_self = 0.5 * self.prefactor * q * q / b;
            let rs = self.sa_radius[i];
            let ratio = rs / b;
            let ratio3 = ratio * ratio * ratio;
            let e_sa = self.sa_factor * (rs + self.probe_radius).powi(2) * ratio3 * ratio3;
            energy += e_self + e_sa;
            de_db[i] = -(e_self + 6.0 * e_sa) / b;
        }

        // Pass 2 (vectorised): the pair energies c qᵢqⱼ/f, their dE/dr and dE/dB.
        let (b_i, b_j, ib_i, ib_j) = (&mut b_i[..n], &mut b_j[..n], &mut ib_i[..n], &mut ib_j[..n]);
        gather_pairs(pairs, born, b_i, b_j);
        gather_pairs(pairs, inv_born, ib_i, ib_j);
        let (e_pair, db_pair, qq) = (&mut e_pair[..n], &mut db_pair[..n], &self.pair_charge[..n]);
        for p in 0..n {
            let rr = r[p] * r[p];
            let d = 0.25 * rr * ib_i[p] * ib_j[p];
            let ex = fastmath::exp_nonpositive(-d);
            let f2 = rr + b_i[p] * b_j[p] * ex;
            let inv_f = 1.0 / f2.sqrt();
            let e = qq[p] * inv_f;
            e_pair[p] = e;
            let e_over_f2 = e * inv_f * inv_f;
            de_dr[p] -= e_over_f2 * r[p] * (1.0 - 0.25 * ex);
            db_pair[p] = -0.5 * e_over_f2 * ex * (1.0 + d);
        }
        energy += fastmath::sum(e_pair);
        // dE/dBᵢ += db·Bⱼ and dE/dBⱼ += db·Bᵢ (products in the now free integral arrays).
        for p in 0..n {
            t_ij[p] = db_pair[p] * b_j[p];
            t_ji[p] = db_pair[p] * b_i[p];
        }
        scatter_pairs(pairs, t_ij, t_ji, de_db);

        // Pass 3: the chain rule through the Born radii.
        for i in 0..o.len() {
            chain[i] *= de_db[i];
        }
        gather_pairs(pairs, chain, b_i, b_j);
        for p in 0..n {
            de_dr[p] += b_i[p] * dt_ij[p] + b_j[p] * dt_ji[p];
        }
        energy
    }
}

/// The HCT integrals of a pair, both directions: (Tᵢⱼ, dTᵢⱼ/dr) of atom i over atom j and
/// (Tⱼᵢ, dTⱼᵢ/dr), for atoms given as (offset radius o, scaled radius s, 1/o). Branch-free; the
/// four reciprocals 1/L and 1/U take one division.
#[inline(always)]
fn pair_integrals(
    r: f64,
    inv_r: f64,
    (o_i, s_i, io_i): (f64, f64, f64),
    (o_j, s_j, io_j): (f64, f64, f64),
    buried_correction: bool,
) -> [(f64, f64); 2] {
    let (l_ij, u_ij) = (o_i.max((r - s_j).abs()), r + s_j);
    let (l_ji, u_ji) = (o_j.max((r - s_i).abs()), r + s_i);
    let a = l_ij * u_ij;
    let b = l_ji * u_ji;
    let inv_ab = 1.0 / (a * b);
    let (inv_a, inv_b) = (b * inv_ab, a * inv_ab);
    [
        integral(
            r,
            inv_r,
            (o_i, io_i),
            s_j,
            l_ij,
            u_ij * inv_a,
            l_ij * inv_a,
            buried_correction,
        ),
        integral(
            r,
            inv_r,
            (o_j, io_j),
            s_i,
            l_ji,
            u_ji * inv_b,
            l_ji * inv_b,
            buried_correction,
        ),
    ]
}

/// The HCT pair integral T of atom i (offset radius `o`, and 1/o) over atom j (scaled radius
/// `s`) at distance `r`, and dT/dr, given L = max(o, |r − s|), l = 1/L and u = 1/(r + s). See
/// the module documentation. Branch-free.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn integral(
    r: f64,
    inv_r: f64,
    (o, inv_o): (f64, f64),
    s: f64,
    big_l: f64,
    l: f64,
    u: f64,
    buried_correction: bool,
) -> (f64, f64) {
    let (l2, u2) = (l * l, u * u);
    let log_ratio = fastmath::ln_positive(big_l * u); // ln(L/U), L/U in (0, 1] when it counts
    let s2_over_r = s * s * inv_r;
    let t = l - u + 0.25 * (r - s2_over_r) * (u2 - l2) + 0.5 * log_ratio * inv_r;
    let dt = -0.25 * (1.0 + s2_over_r * inv_r) * (l2 - u2) - 0.5 * log_ratio * inv_r * inv_r;
    // Atom i inside j's scaled sphere: OBC2's correction term, or OBC1's dL/dr ≠ 0.
    let buried = o < s - r;
    let (t, dt) = match (buried, buried_correction) {
        (true, true) => (t + 2.0 * (inv_o - l), dt),
        (true, false) => (t, dt + 2.0 * l2),
        (false, _) => (t, dt),
    };
    // No overlap at all: nothing to integrate.
    if r + s < o { (0.0, 0.0) } else { (t, dt) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T and dT/dr of atom i (offset radius o) over j (scaled radius s), computed plainly.
    fn integral_at(r: f64, o: f64, s: f64, buried: bool) -> (f64, f64) {
        let big_l = o.max((r - s).abs());
        integral(
            r,
            1.0 / r,
            (o, 1.0 / o),
            s,
            big_l,
            1.0 / big_l,
            1.0 / (r + s),
            buried,
        )
    }

    #[test]
    fn pair_integrals_agree_with_the_plain_computation() {
        for &(r, oi, si, oj, sj) in &[
            (0.3, 0.15, 0.12, 0.111, 0.09435),
            (0.004, 0.111, 0.09, 0.146, 0.116),
        ] {
            for buried in [false, true] {
                let [a, b] =
                    pair_integrals(r, 1.0 / r, (oi, si, 1.0 / oi), (oj, sj, 1.0 / oj), buried);
                for (x, y) in [
                    (a, integral_at(r, oi, sj, buried)),
                    (b, integral_at(r, oj, si, buried)),
                ] {
                    assert!(
                        (x.0 - y.0).abs() <= 1e-13 * y.0.abs().max(1.0),
                        "{x:?} {y:?}"
                    );
                    assert!(
                        (x.1 - y.1).abs() <= 1e-13 * y.1.abs().max(1.0),
                        "{x:?} {y:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn integral_derivative_matches_finite_differences_in_every_regime() {
        // (r, o, s): outside, L = r − s, L = o, buried (L = s − r) for both forms.
        let cases = [
            (0.30, 0.15, 0.12),
            (0.20, 0.10, 0.05),
            (0.05, 0.15, 0.12),
            (0.01, 0.10, 0.14),
            (0.004, 0.111, 0.116),
        ];
        for &(r, o, s) in &cases {
            for buried in [false, true] {
                let h = 1e-7;
                let fd = (integral_at(r + h, o, s, buried).0 - integral_at(r - h, o, s, buried).0)
                    / (2.0 * h);
                let (_, dt) = integral_at(r, o, s, buried);
                assert!(
                    (fd - dt).abs() <= 1e-6 * (1.0 + dt.abs()),
                    "r {r} o {o} s {s} buried {buried}: {fd} vs {dt}"
                );
            }
        }
        assert_eq!(integral_at(0.01, 0.2, 0.05, false), (0.0, 0.0));
    }
}
