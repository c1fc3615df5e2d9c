//! `NonbondedForce` with `NoCutoff`: Coulomb plus Lennard-Jones over every pair that is not an
//! exception, Lorentz–Berthelot mixing (σ = (σᵢ + σⱼ)/2, ε = √(εᵢεⱼ)); exceptions (1-4 pairs,
//! excluded pairs) with their own charge product, σ and ε.
//!
//! E = K qq/r + 4ε ((σ/r)¹² − (σ/r)⁶), with K = 1/(4π ε₀) exactly as OpenMM computes it.

use super::{PairTable, Workspace};
use crate::xml::ForceXml;
use boltzflow_plugin::fastmath;

/// 1/(4π ε₀) in kJ mol⁻¹ nm e⁻², written as OpenMM 8 defines it
/// (`platforms/reference/include/SimTKOpenMMRealType.h`, CODATA 2018 constants), in the same
/// order of operations: 138.93545764438198. (OpenMM 7 used the rounded 138.935456.)
pub const ONE_4PI_EPS0: f64 = {
    const E_CHARGE: f64 = 1.602176634e-19;
    const AVOGADRO: f64 = 6.02214076e23;
    const EPSILON0: f64 = 1e-6 * 8.8541878128e-12 / (E_CHARGE * E_CHARGE * AVOGADRO);
    1.0 / (4.0 * std::f64::consts::PI * EPSILON0)
};

/// OpenMM's `NonbondedForce` nonbonded methods, by number, for error messages.
const METHODS: [&str; 6] = [
    "NoCutoff",
    "CutoffNonPeriodic",
    "CutoffPeriodic",
    "Ewald",
    "PME",
    "LJPME",
];

/// The name of OpenMM nonbonded method number `m`.
pub fn method_name(m: i64) -> String {
    usize::try_from(m)
        .ok()
        .and_then(|m| METHODS.get(m))
        .map_or_else(|| format!("method {m}"), |s| (*s).to_owned())
}

/// Coulomb and Lennard-Jones parameters for every atom pair (zero for excluded pairs), so that
/// the pair loop is straight-line code over all pairs.
#[derive(Clone, Debug)]
pub struct Nonbonded {
    /// K·q_i·q_j (or K × the exception's charge product), kJ/mol nm.
    qq: Vec<f64>,
    /// σ² in nm².
    sigma2: Vec<f64>,
    /// 4ε in kJ/mol.
    eps4: Vec<f64>,
    charges: Vec<f64>,
}

impl Nonbonded {
    /// Reads a `NonbondedForce` element; refuses any cutoff or periodic method, parameter
    /// offsets and global parameters.
    pub fn from_xml(force: &ForceXml, n: usize, table: &PairTable) -> Result<Self, String> {
        let e = &force.element;
        let name = &force.name;
        let method = e.int("method", name)?;
        if method != 0 {
            return Err(format!(
                "{name} (NonbondedForce) uses the nonbonded method {}; only NoCutoff is supported",
                method_name(method)
            ));
        }
        if e.attr("includeDirectSpace").is_some() && e.int("includeDirectSpace", name)? != 1 {
            return Err(format!(
                "{name} (NonbondedForce) has includeDirectSpace = 0, which is not supported"
            ));
        }
        for section in ["GlobalParameters", "ParticleOffsets", "ExceptionOffsets"] {
            if !e.list(section).is_empty() {
                return Err(format!(
                    "{name} (NonbondedForce) has {section}; parameter offsets and global \
                     parameters are not supported"
                ));
            }
        }
        let particles = e.list("Particles");
        if particles.len() != n {
            return Err(format!(
                "{name} (NonbondedForce) has {} particles but the system has {n}",
                particles.len()
            ));
        }
        let mut q = Vec::with_capacity(n);
        let mut sigma = Vec::with_capacity(n);
        let mut eps = Vec::with_capacity(n);
        for (i, p) in particles.iter().enumerate() {
            let context = format!("{name} particle {i}");
            q.push(p.f64("q", &context)?);
            sigma.push(p.f64("sig", &context)?);
            let e = p.f64("eps", &context)?;
            if e < 0.0 {
                return Err(format!("{context}: epsilon {e} is negative"));
            }
            eps.push(e);
        }

        let n_pairs = table.len();
        let (mut qq, mut sigma2, mut eps4) =
            (vec![0.0; n_pairs], vec![0.0; n_pairs], vec![0.0; n_pairs]);
        for (p, (i, j)) in table.iter().enumerate() {
            let sig = 0.5 * (sigma[i] + sigma[j]);
            qq[p] = ONE_4PI_EPS0 * q[i] * q[j];
            sigma2[p] = sig * sig;
            eps4[p] = 4.0 * (eps[i] * eps[j]).sqrt();
        }
        let mut is_exception = vec![false; n_pairs];
        for (x, ex) in e.list("Exceptions").iter().enumerate() {
            let context = format!("{name} exception {x}");
            let i = ex.particle("p1", n, &context)?;
            let j = ex.particle("p2", n, &context)?;
            if i == j {
                return Err(format!("{context}: pairs atom {i} with itself"));
            }
            let p = table.index(i, j);
            if std::mem::replace(&mut is_exception[p], true) {
                return Err(format!(
                    "{context}: a second exception for atoms {i} and {j}"
                ));
            }
            let sig = ex.f64("sig", &context)?;
            qq[p] = ONE_4PI_EPS0 * ex.f64("q", &context)?;
            sigma2[p] = sig * sig;
            eps4[p] = 4.0 * ex.f64("eps", &context)?;
        }
        Ok(Nonbonded {
            qq,
            sigma2,
            eps4,
            charges: q,
        })
    }

    /// Partial charges (e), for reporting.
    pub fn charges(&self) -> &[f64] {
        &self.charges
    }

    /// Adds the energy and dE/dr of every pair.
    #[inline(always)]
    pub fn accumulate(&self, ws: &mut Workspace) -> f64 {
        let n = self.qq.len();
        let (qq, sigma2, eps4) = (&self.qq[..n], &self.sigma2[..n], &self.eps4[..n]);
        let (inv_r, de_dr) = (&ws.inv_r[..n], &mut ws.de_dr[..n]);
        let energy = &mut ws.pair[0][..n];
        for p in 0..n {
            let inv_r = inv_r[p];
            let s2 = sigma2[p] * inv_r * inv_r;
            let s6 = s2 * s2 * s2;
            let coulomb = qq[p] * inv_r;
            energy[p] = eps4[p] * (s6 * s6 - s6) + coulomb;
            de_dr[p] -= (eps4[p] * (12.0 * s6 * s6 - 6.0 * s6) + coulomb) * inv_r;
        }
        fastmath::sum(energy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coulomb_constant_is_openmm_8() {
        // The energy OpenMM 8.6.1's Reference platform gives for charges +1 and −1 at 1 nm.
        assert_eq!(ONE_4PI_EPS0, 138.93545764438198);
    }

    #[test]
    fn method_names() {
        assert_eq!(method_name(4), "PME");
        assert_eq!(method_name(9), "method 9");
    }
}
