//! Langevin dynamics with the BAOAB splitting (Leimkuhler & Matthews, 2013), in f64.
//!
//! Units: for molecules, positions in nm, time in ps, masses in dalton and energies in kJ/mol
//! (1 kJ/mol = 1 Da nm²/ps², so F/m is in nm/ps²). The plugin returns the reduced energy
//! u = E/(k_B T0) and ∇u, so the force is −k_B T0 ∇u. Systems without a molecule use reduced
//! units: unit masses and k_B T0 = 1.

use super::log_density::{LogDensity, evaluate};
use crate::energy::BOLTZMANN;
use crate::{Error, Result};
use boltzflow_plugin::Metadata;
use rand_distr::{Distribution, StandardNormal};

/// The physical units of the dynamics: masses and the energy scale of u.
#[derive(Clone, Debug, PartialEq)]
pub struct Units {
    /// 1/m per coordinate (1/dalton for molecules, 1 in reduced units).
    pub inv_mass: Vec<f64>,
    /// k_B T0 in the energy unit (kJ/mol for molecules, 1 in reduced units): E = `kt0` · u.
    pub kt0: f64,
}

impl Units {
    /// Reduced units for `dim` coordinates: unit masses, k_B T0 = 1.
    pub fn reduced(dim: usize) -> Self {
        Units {
            inv_mass: vec![1.0; dim],
            kt0: 1.0,
        }
    }

    /// The units of a system from its metadata: for a molecule, the atoms' masses (dalton) and
    /// k_B T0 in kJ/mol from its temperature; reduced units otherwise. Refuses a molecule whose
    /// atom count does not match `dim`, a mass that is not positive, or a missing temperature.
    pub fn of(metadata: &Metadata, dim: usize) -> Result<Self> {
        let Some(molecule) = &metadata.molecule else {
            return Ok(Self::reduced(dim));
        };
        let bad = |m: String| Error::InvalidArgument(format!("{}: {m}", metadata.system));
        if 3 * molecule.atoms.len() != dim {
            return Err(bad(format!(
                "{} atoms but {dim} coordinates",
                molecule.atoms.len()
            )));
        }
        let t0 = metadata
            .temperature_kelvin
            .filter(|t| t.is_finite() && *t > 0.0)
            .ok_or_else(|| {
                bad("a molecule needs a positive temperature_kelvin for dynamics".to_owned())
            })?;
        let mut inv_mass = Vec::with_capacity(dim);
        for (i, atom) in molecule.atoms.iter().enumerate() {
            if !(atom.mass.is_finite() && atom.mass > 0.0) {
                return Err(bad(format!(
                    "atom {i} ({}) has mass {}: dynamics needs positive masses (no virtual sites)",
                    atom.name, atom.mass
                )));
            }
            inv_mass.extend([1.0 / atom.mass; 3]);
        }
        Ok(Units {
            inv_mass,
            kt0: BOLTZMANN * t0,
        })
    }

    /// Number of coordinates per point.
    pub fn dim(&self) -> usize {
        self.inv_mass.len()
    }
}

/// Positions and velocities of n replicas, each at its own temperature, with u and ∇u at the
/// current positions.
#[derive(Clone, Debug, PartialEq)]
pub struct LangevinState {
    /// Positions, n × dim, row-major.
    pub x: Vec<f64>,
    /// Velocities, n × dim (nm/ps for molecules).
    pub v: Vec<f64>,
    /// Reduced energy u = E/(k_B T0) at each position (n values).
    pub u: Vec<f64>,
    /// ∇u at each position, n × dim.
    pub grad: Vec<f64>,
    /// Each replica's temperature as a factor of T0: replica r samples exp(−u / `temperature[r]`).
    pub temperature: Vec<f64>,
    /// Steps taken so far (restored with the state from a checkpoint).
    pub steps: u64,
}

impl LangevinState {
    /// Number of replicas.
    pub fn n(&self) -> usize {
        self.u.len()
    }
}

/// BAOAB Langevin dynamics: half kick (B), half drift (A), exact Ornstein–Uhlenbeck velocity
/// update (O), half drift, force evaluation, half kick. Its configurational sampling error is
/// O(Δt²) and it is exact for harmonic potentials. Each step evaluates the target once for all
/// replicas (one batched call).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Langevin {
    timestep: f64,
    friction: f64,
}

impl Langevin {
    /// Dynamics with timestep Δt (positive; ps for molecules) and friction γ (non-negative; 1/ps).
    pub fn new(timestep: f64, friction: f64) -> Result<Self> {
        if !(timestep.is_finite() && timestep > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "the timestep must be positive and finite, got {timestep}"
            )));
        }
        if !(friction.is_finite() && friction >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "the friction must be non-negative and finite, got {friction}"
            )));
        }
        Ok(Langevin { timestep, friction })
    }

    /// The timestep Δt.
    pub fn timestep(&self) -> f64 {
        self.timestep
    }

    /// The friction γ.
    pub fn friction(&self) -> f64 {
        self.friction
    }

    /// The state of replicas at positions `x` (n × dim) with temperature factors `temperature`
    /// (n positive values), velocities drawn from Maxwell–Boltzmann at each replica's
    /// temperature, replica r's from `rngs[r]` (one generator per replica, so that a replica's
    /// numbers do not depend on which others are in the batch). Evaluates the target once; a
    /// non-finite energy or force is an error naming the replica.
    pub fn init<T, R>(
        &self,
        target: &T,
        units: &Units,
        x: Vec<f64>,
        temperature: Vec<f64>,
        rngs: &mut [R],
    ) -> Result<LangevinState>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng,
    {
        let dim = units.dim();
        if target.dim() != dim {
            return Err(Error::Shape {
                what: "Langevin units".to_owned(),
                expected: format!("{} coordinates (the target's)", target.dim()),
                found: format!("{dim} masses"),
            });
        }
        let n = super::state::ChainState::check_points(&x, dim, "initial positions")?;
        if temperature.len() != n || temperature.iter().any(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(Error::InvalidArgument(format!(
                "need one positive temperature factor per replica ({n}), got {temperature:?}"
            )));
        }
        check_generators(rngs, n)?;
        let mut v = vec![0.0; n * dim];
        for ((vr, t), rng) in v.chunks_exact_mut(dim).zip(&temperature).zip(rngs) {
            for (vi, inv_m) in vr.iter_mut().zip(&units.inv_mass) {
                let z: f64 = StandardNormal.sample(rng);
                *vi = (units.kt0 * t * inv_m).sqrt() * z;
            }
        }
        let mut state = LangevinState {
            x,
            v,
            u: vec![0.0; n],
            grad: vec![0.0; n * dim],
            temperature,
            steps: 0,
        };
        evaluate_u(target, &mut state, 0)?;
        Ok(state)
    }

    /// One BAOAB step of every replica, replica r's noise from `rngs[r]`. A non-finite position,
    /// energy or force is an error that names the replica and the step
    /// ([`Error::DynamicsUnstable`]); the state is then not usable.
    pub fn step<T, R>(
        &self,
        state: &mut LangevinState,
        target: &T,
        units: &Units,
        rngs: &mut [R],
    ) -> Result<()>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng,
    {
        check_generators(rngs, state.n())?;
        let dim = units.dim();
        let h = 0.5 * self.timestep;
        let c1 = (-self.friction * self.timestep).exp();
        let c2 = (1.0 - c1 * c1).max(0.0).sqrt();
        self.kick(state, units);
        drift(&mut state.x, &state.v, h);
        for ((vr, t), rng) in state
            .v
            .chunks_exact_mut(dim)
            .zip(&state.temperature)
            .zip(&mut *rngs)
        {
            let kt = units.kt0 * t;
            for (vi, inv_m) in vr.iter_mut().zip(&units.inv_mass) {
                let z: f64 = StandardNormal.sample(rng);
                *vi = c1 * *vi + c2 * (kt * inv_m).sqrt() * z;
            }
        }
        drift(&mut state.x, &state.v, h);
        state.steps += 1;
        evaluate_u(target, state, state.steps)?;
        self.kick(state, units);
        Ok(())
    }

    /// B: v ← v − (Δt/2) k_B T0 ∇u / m.
    fn kick(&self, state: &mut LangevinState, units: &Units) {
        let dim = units.dim();
        let h = 0.5 * self.timestep * units.kt0;
        for (vr, gr) in state
            .v
            .chunks_exact_mut(dim)
            .zip(state.grad.chunks_exact(dim))
        {
            for ((vi, gi), inv_m) in vr.iter_mut().zip(gr).zip(&units.inv_mass) {
                *vi -= h * gi * inv_m;
            }
        }
    }
}

/// Refuses a number of random generators other than one per replica.
fn check_generators<R>(rngs: &[R], replicas: usize) -> Result<()> {
    if rngs.len() == replicas {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "Langevin dynamics needs one random generator per replica ({replicas}), got {}",
            rngs.len()
        )))
    }
}

/// One generator per replica, seeded from `seed` and the replica's index, for tests.
#[cfg(test)]
pub(crate) fn generators(seed: u64, replicas: usize) -> Vec<rand_pcg::Pcg64> {
    use rand::SeedableRng;
    (0..replicas as u64)
        .map(|r| rand_pcg::Pcg64::seed_from_u64(crate::seed::derive(seed, r)))
        .collect()
}

/// A: x ← x + h v.
fn drift(x: &mut [f64], v: &[f64], h: f64) {
    for (xi, vi) in x.iter_mut().zip(v) {
        *xi += h * vi;
    }
}

/// Evaluates u and ∇u at the state's positions (one batched call), refusing non-finite
/// positions (never handed to the target), energies and forces by replica.
fn evaluate_u<T: LogDensity + ?Sized>(
    target: &T,
    state: &mut LangevinState,
    step: u64,
) -> Result<()> {
    let dim = target.dim();
    let unstable = |replica, what| Error::DynamicsUnstable {
        step,
        replica,
        what,
        saved: None,
    };
    if let Some(i) = state.x.iter().position(|v| !v.is_finite()) {
        return Err(unstable(i / dim, "position"));
    }
    let log_p = evaluate(target, &state.x, Some(&mut state.grad), None)?;
    for (r, (lp, g)) in log_p
        .iter()
        .zip(state.grad.chunks_exact_mut(dim))
        .enumerate()
    {
        if !lp.is_finite() {
            return Err(unstable(r, "energy"));
        }
        if g.iter().any(|v| !v.is_finite()) {
            return Err(unstable(r, "force"));
        }
        state.u[r] = -lp;
        for gi in g {
            *gi = -*gi;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::testing::{Gaussian, mean_se};

    /// BAOAB samples a harmonic potential exactly (configurational variance τσ² at temperature
    /// factor τ, for any stable timestep), with masses and k_B T0 other than one; the velocity
    /// variance τ k_B T0 / m holds to O(Δt²).
    #[test]
    fn harmonic_variance_is_exact_at_every_temperature() {
        let sigma = 0.7;
        let target = Gaussian::isotropic(vec![0.0, 0.0], sigma, 0.0);
        let units = Units {
            inv_mass: vec![1.0 / 4.0, 1.0 / 0.5],
            kt0: 2.5,
        };
        let langevin = Langevin::new(0.05, 2.0).unwrap();
        let temps = [1.0, 3.0];
        let n = 400;
        let mut rngs = generators(9, n);
        let x = vec![0.0; 2 * n];
        let temperature: Vec<f64> = (0..n).map(|i| temps[i % 2]).collect();
        let mut state = langevin
            .init(&target, &units, x, temperature, &mut rngs)
            .unwrap();
        // Per replica: time averages of x² and v² (coordinate 0 and 1) after a burn-in.
        let mut x2 = vec![[0.0; 2]; n];
        let mut v2 = vec![[0.0; 2]; n];
        let (burn, steps) = (500, 2000);
        for s in 0..burn + steps {
            langevin
                .step(&mut state, &target, &units, &mut rngs)
                .unwrap();
            if s >= burn {
                for r in 0..n {
                    for j in 0..2 {
                        x2[r][j] += state.x[2 * r + j].powi(2) / steps as f64;
                        v2[r][j] += state.v[2 * r + j].powi(2) / steps as f64;
                    }
                }
            }
        }
        assert_eq!(state.steps, (burn + steps) as u64);
        for (k, tau) in temps.iter().enumerate() {
            for j in 0..2 {
                // The kinetic energy scale k_B T0 does not enter the configurational variance:
                // u is reduced, so p(x) ∝ exp(−u/τ) = N(0, τσ²).
                let xs: Vec<f64> = (k..n).step_by(2).map(|r| x2[r][j]).collect();
                let (m, se) = mean_se(&xs);
                let exact = tau * sigma * sigma;
                assert!((m - exact).abs() < 4.0 * se, "x² {m} ± {se} vs {exact}");
                let vs: Vec<f64> = (k..n).step_by(2).map(|r| v2[r][j]).collect();
                let (m, se) = mean_se(&vs);
                let exact = tau * units.kt0 * units.inv_mass[j];
                assert!(
                    (m - exact).abs() < 4.0 * se + 0.02 * exact,
                    "v² {m} ± {se} vs {exact}"
                );
            }
        }
    }

    /// A timestep far beyond stability makes the energy and then the positions overflow: an
    /// error naming the step and a replica, never a panic, and the target is never asked about
    /// a non-finite position (the test density panics if it is).
    #[test]
    fn blow_up_is_an_error_naming_replica_and_step() {
        let target = Gaussian::isotropic(vec![0.0], 1.0, 0.0);
        let units = Units::reduced(1);
        let langevin = Langevin::new(50.0, 0.0).unwrap();
        let mut rngs = generators(1, 2);
        let mut state = langevin
            .init(&target, &units, vec![1.0, 0.5], vec![1.0, 1.0], &mut rngs)
            .unwrap();
        let err = (0..1000)
            .find_map(|_| langevin.step(&mut state, &target, &units, &mut rngs).err())
            .expect("the dynamics should blow up");
        let Error::DynamicsUnstable { step, what, .. } = &err else {
            panic!("{err}")
        };
        assert!(*step > 0 && ["position", "energy"].contains(what), "{err}");
        let message = err.to_string();
        assert!(message.contains("smaller timestep"), "{message}");
    }

    #[test]
    fn refuses_bad_parameters() {
        assert!(Langevin::new(0.0, 1.0).is_err());
        assert!(Langevin::new(f64::NAN, 1.0).is_err());
        assert!(Langevin::new(1.0, -1.0).is_err());
        let target = Gaussian::isotropic(vec![0.0], 1.0, 0.0);
        let langevin = Langevin::new(0.1, 1.0).unwrap();
        let mut rngs = generators(1, 2);
        let units = Units::reduced(1);
        let err = langevin
            .init(&target, &units, vec![0.0, 0.0], vec![1.0], &mut rngs[..1])
            .unwrap_err();
        assert!(
            err.to_string().contains("one positive temperature"),
            "{err}"
        );
        let err = langevin
            .init(
                &target,
                &Units::reduced(2),
                vec![0.0, 0.0],
                vec![1.0],
                &mut rngs[..1],
            )
            .unwrap_err();
        assert!(err.to_string().contains("masses"), "{err}");
        let err = langevin
            .init(
                &target,
                &units,
                vec![0.0, 0.0],
                vec![1.0, 1.0],
                &mut rngs[..1],
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("one random generator per replica"),
            "{err}"
        );
    }

    #[test]
    fn molecular_units_come_from_the_metadata() {
        let mut metadata = Metadata::new("two atoms");
        assert_eq!(Units::of(&metadata, 6).unwrap(), Units::reduced(6));
        let atom = |mass| boltzflow_plugin::Atom {
            name: "X".to_owned(),
            element: "C".to_owned(),
            mass,
            ..Default::default()
        };
        metadata.molecule = Some(boltzflow_plugin::Molecule {
            atoms: vec![atom(12.0), atom(1.0)],
            ..Default::default()
        });
        let err = Units::of(&metadata, 6).unwrap_err().to_string();
        assert!(err.contains("temperature"), "{err}");
        metadata.temperature_kelvin = Some(300.0);
        let units = Units::of(&metadata, 6).unwrap();
        assert_eq!(units.inv_mass[2], 1.0 / 12.0);
        assert_eq!(units.inv_mass[3], 1.0);
        assert!((units.kt0 - 2.494_338_78).abs() < 1e-8, "{}", units.kt0);
        assert!(Units::of(&metadata, 9).is_err());
        metadata.molecule.as_mut().unwrap().atoms[1].mass = 0.0;
        let err = Units::of(&metadata, 6).unwrap_err().to_string();
        assert!(err.contains("atom 1"), "{err}");
    }
}
