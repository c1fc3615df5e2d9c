//! A force field assembled from an OpenMM System: the supported terms, validated, ready to
//! evaluate conformations.

use crate::terms::{
    PairTable, Term, Workspace, angles::Angles, bonds::Bonds, nonbonded::Nonbonded, obc, obc::Obc,
    torsions::Torsions,
};
use crate::xml::{ForceXml, SystemXml};

/// Two atoms closer than this (nm) are on top of each other: the energy is +∞.
pub const MIN_DISTANCE: f64 = 1e-8;

/// What the plugin supports, for error messages.
const SUPPORTED: &str = "HarmonicBondForce, HarmonicAngleForce, PeriodicTorsionForce, \
    NonbondedForce (NoCutoff), GBSAOBCForce (NoCutoff), the OBC1 CustomGBForce of OpenMM's app \
    layer; CMMotionRemover is ignored";

/// The energy terms of a molecular system, in kJ/mol and nm.
#[derive(Clone, Debug)]
pub struct ForceField {
    n_atoms: usize,
    pairs: PairTable,
    /// (force name, term) of the evaluated forces, in system order.
    terms: Vec<(String, Term)>,
    /// Names of every force of the system that has an energy (CMMotionRemover excluded).
    available: Vec<String>,
    /// Bonded atom pairs of the HarmonicBondForces.
    bonds: Vec<[usize; 2]>,
    /// Whether the running CPU has AVX2 and FMA (then the AVX2 build of the kernels runs).
    avx2: bool,
}

impl ForceField {
    /// Builds the force field of `system`. Every force is checked, and any unsupported force,
    /// cutoff, periodic boundary, constraint or virtual site is an error naming it. With
    /// `only`, just the forces of these names are evaluated (like OpenMM's force groups); an
    /// unknown name is an error.
    pub fn from_system(system: &SystemXml, only: Option<&[String]>) -> Result<Self, String> {
        let n = system.masses.len();
        if system.n_constraints > 0 {
            return Err(format!(
                "the system has {} constraints; only unconstrained systems are supported \
                 (create it with constraints=None)",
                system.n_constraints
            ));
        }
        if let Some(&i) = system.virtual_sites.first() {
            return Err(format!(
                "particle {i} is a virtual site; virtual sites are not supported"
            ));
        }
        let pairs = PairTable::new(n);
        let mut terms = Vec::new();
        let mut bonds = Vec::new();
        let mut available = Vec::new();
        for force in &system.forces {
            let Some(term) = build_term(force, n, &pairs)? else {
                continue;
            };
            if let Term::Bonds(b) = &term {
                bonds.extend_from_slice(b.atom_pairs());
            }
            if available.contains(&force.name) {
                return Err(format!(
                    "two forces are named {:?}; give them distinct names",
                    force.name
                ));
            }
            available.push(force.name.clone());
            terms.push((force.name.clone(), term));
        }
        if let Some(only) = only {
            for name in only {
                if !available.contains(name) {
                    return Err(format!(
                        "`forces` names {name:?}, which is not a force of this system; it has {}",
                        available.join(", ")
                    ));
                }
            }
            terms.retain(|(name, _)| only.contains(name));
        }
        bonds.sort_unstable();
        bonds.dedup();
        Ok(ForceField {
            n_atoms: n,
            pairs,
            terms,
            available,
            bonds,
            avx2: has_avx2(),
        })
    }

    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.n_atoms
    }

    /// Names of the evaluated forces.
    pub fn evaluated(&self) -> Vec<&str> {
        self.terms.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Names of all forces of the system that carry energy.
    pub fn available(&self) -> &[String] {
        &self.available
    }

    /// The implicit-solvent model, if any, as a description.
    pub fn solvent_model(&self) -> Option<&'static str> {
        self.terms.iter().find_map(|(_, t)| match t {
            Term::Obc(o) => Some(o.model()),
            _ => None,
        })
    }

    /// Bonded atom pairs `[i, j]` (`i < j`) of the bond forces.
    pub fn bonds(&self) -> &[[usize; 2]] {
        &self.bonds
    }

    /// A workspace for this force field (allocate once, reuse for every conformation).
    pub fn workspace(&self) -> Workspace {
        Workspace::new(self.n_atoms)
    }

    /// Potential energy E(x) in kJ/mol of the positions `x` (atoms × 3, nm), and dE/dx into
    /// `grad` if given (same layout, kJ/mol/nm).
    ///
    /// Not finite positions give NaN (and a NaN gradient); two atoms closer than
    /// [`MIN_DISTANCE`] give +∞ with a zero gradient (no direction is meaningful there).
    pub fn evaluate(&self, x: &[f64], ws: &mut Workspace, grad: Option<&mut [f64]>) -> f64 {
        assert_eq!(x.len(), 3 * self.n_atoms, "positions of the wrong length");
        assert_eq!(ws.pos.len(), self.n_atoms, "a workspace for another system");
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only when the running CPU has AVX2 and FMA.
            return unsafe { self.evaluate_avx2(x, ws, grad) };
        }
        self.evaluate_inner(x, ws, grad)
    }

    /// [`ForceField::evaluate_inner`] compiled for AVX2 and FMA (the same arithmetic: Rust
    /// never contracts a·b + c into an FMA by itself, so both builds give the same numbers).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn evaluate_avx2(&self, x: &[f64], ws: &mut Workspace, grad: Option<&mut [f64]>) -> f64 {
        self.evaluate_inner(x, ws, grad)
    }

    #[inline(always)]
    fn evaluate_inner(&self, x: &[f64], ws: &mut Workspace, grad: Option<&mut [f64]>) -> f64 {
        let mut finite = true;
        for (p, c) in ws.pos.iter_mut().zip(x.chunks_exact(3)) {
            *p = [c[0], c[1], c[2]];
            finite &= c.iter().all(|v| v.is_finite());
        }
        if !finite {
            if let Some(g) = grad {
                g.fill(f64::NAN);
            }
            return f64::NAN;
        }
        let r_min = ws.prepare(&self.pairs);
        if r_min < MIN_DISTANCE {
            if let Some(g) = grad {
                g.fill(0.0);
            }
            return f64::INFINITY;
        }
        let mut energy = 0.0;
        for (_, term) in &self.terms {
            energy += term.accumulate(ws, &self.pairs);
        }
        if let Some(g) = grad {
            ws.distribute_pair_gradients(&self.pairs);
            ws.write_gradient(g);
        }
        energy
    }
}

/// Whether the running CPU has AVX2 and FMA.
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// The energy term of one force element; `None` for forces without energy (CMMotionRemover).
fn build_term(force: &ForceXml, n: usize, pairs: &PairTable) -> Result<Option<Term>, String> {
    let periodic = force.element.attr("usesPeriodic").map(str::trim);
    if periodic == Some("1") || periodic == Some("true") {
        return Err(format!(
            "{} ({}) uses periodic boundary conditions, which are not supported",
            force.name, force.kind
        ));
    }
    let term = match force.kind.as_str() {
        "HarmonicBondForce" => Term::Bonds(Bonds::from_xml(force, n, pairs)?),
        "HarmonicAngleForce" => Term::Angles(Angles::from_xml(force, n)?),
        "PeriodicTorsionForce" => Term::Torsions(Torsions::from_xml(force, n)?),
        "NonbondedForce" => Term::Nonbonded(Nonbonded::from_xml(force, n, pairs)?),
        "GBSAOBCForce" => Term::Obc(Box::new(Obc::from_gbsaobc(force, n, pairs)?)),
        "CustomGBForce" => Term::Obc(Box::new(obc::from_custom_gb(force, n, pairs)?)),
        "CMMotionRemover" => return Ok(None),
        other => {
            return Err(format!(
                "unsupported force {:?} (type {other}, force {} of the system); supported: \
                 {SUPPORTED}",
                force.name, force.index
            ));
        }
    };
    Ok(Some(term))
}
