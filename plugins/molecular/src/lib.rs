//! boltzflow energy plugin `molecular`: classical force fields read from an OpenMM `System`
//! (serialised with `XmlSerializer`) plus a PDB topology, evaluated natively in f64 with
//! analytic forces.
//!
//! Supported forces: `HarmonicBondForce`, `HarmonicAngleForce`, `PeriodicTorsionForce`,
//! `NonbondedForce` with `NoCutoff` (Coulomb with OpenMM's 1/(4πε₀), Lennard-Jones with
//! Lorentz–Berthelot mixing, exceptions), OBC implicit solvent as the OBC1 `CustomGBForce` that
//! OpenMM's `app` layer emits or as `GBSAOBCForce` (OBC2); `CMMotionRemover` is ignored. Anything
//! else — another force, a cutoff, periodic boundaries, constraints, virtual sites, a
//! `CustomGBForce` of another form — is refused with an error that names it, never evaluated
//! approximately.
//!
//! The plugin returns u = E/(k_B T) with the SDK's `BOLTZMANN` (0.0083144626 kJ/mol/K), and reports the molecule
//! (atoms, masses, bonds, backbone φ/ψ) and the temperature in its metadata, so the host can
//! write energies in kJ/mol and forces in kJ/mol/nm. Positions are atoms × 3 in nm.
//!
//! Non-finite input is data: a NaN coordinate gives u = NaN for that conformation, two atoms on
//! top of each other (closer than 1e-8 nm) give u = +∞ with a zero gradient.

mod config;
pub mod forcefield;
pub mod pdb;
pub mod terms;
mod topology;
mod vec3;
pub mod xml;

use boltzflow_plugin::{
    Context, Energy, Metadata, Molecule, PluginError, export_plugin, parse_config,
};
use config::Config;
use forcefield::ForceField;
use serde::Serialize;
use std::sync::Mutex;
use terms::Workspace;

pub use boltzflow_plugin::BOLTZMANN;

/// A molecular system at a temperature: the plugin's [`Energy`].
pub struct Molecular {
    force_field: ForceField,
    /// 1/(k_B T) in mol/kJ.
    beta: f64,
    metadata: Metadata,
    /// Workspaces of earlier calls, reused (one per concurrent call), so that a call of one
    /// conformation, an MD step, allocates nothing.
    workspaces: Mutex<Vec<Workspace>>,
}

/// Resolved parameters, recorded in the metadata.
#[derive(Serialize)]
struct Parameters<'a> {
    xml: String,
    pdb: String,
    temperature_kelvin: f64,
    k_b_t_kj_per_mol: f64,
    atoms: usize,
    forces: Vec<&'a str>,
    forces_in_system: &'a [String],
    implicit_solvent: Option<&'static str>,
}

impl Molecular {
    /// Builds the system from its configuration (paths already resolved).
    pub fn new(config: &Config, context: &Context) -> Result<Self, PluginError> {
        let t = config.temperature_kelvin;
        if !(t.is_finite() && t > 0.0) {
            return Err(PluginError::new(format!(
                "temperature_kelvin must be a positive number, not {t}"
            )));
        }
        let xml_path = context.resolve(&config.xml);
        let pdb_path = context.resolve(&config.pdb);
        let system = xml::read_system(&xml_path)?;
        let force_field =
            ForceField::from_system(&system, config.forces.as_deref()).map_err(|e| {
                format!(
                    "OpenMM system XML {}: {e}. OpenMM itself evaluates any system through the \
                     python plugin: System(plugin: \"python\", config: (file: \
                     \"examples/python/openmm_energy.py\", xml: ..., pdb: ..., \
                     temperature_kelvin: ...)) (see the README)",
                    xml_path.display()
                )
            })?;
        let pdb = pdb::read_pdb(&pdb_path)?;
        if pdb.atoms.len() != force_field.n_atoms() {
            return Err(PluginError::new(format!(
                "the PDB topology {} has {} atoms but the OpenMM system {} has {} particles; \
                 they must describe the same molecule in the same order",
                pdb_path.display(),
                pdb.atoms.len(),
                xml_path.display(),
                force_field.n_atoms()
            )));
        }
        let molecule: Molecule = topology::molecule(&pdb, &system.masses, force_field.bonds());
        let kbt = BOLTZMANN * t;
        let name = config.name.clone().unwrap_or_else(|| {
            xml_path.file_name().map_or_else(
                || "molecule".to_owned(),
                |f| f.to_string_lossy().into_owned(),
            )
        });
        let evaluated = force_field.evaluated();
        let description = format!(
            "OpenMM force field ({}), {} atoms, u = E/k_BT at {t} K",
            evaluated.join(", "),
            force_field.n_atoms()
        );
        let mut metadata = Metadata::new(name)
            .with_description(description)
            .with_parameters(Parameters {
                xml: xml_path.display().to_string(),
                pdb: pdb_path.display().to_string(),
                temperature_kelvin: t,
                k_b_t_kj_per_mol: kbt,
                atoms: force_field.n_atoms(),
                forces: evaluated.clone(),
                forces_in_system: force_field.available(),
                implicit_solvent: force_field.solvent_model(),
            });
        metadata.temperature_kelvin = Some(t);
        metadata.energy_unit = Some("kJ/mol".to_owned());
        metadata.molecule = Some(molecule);
        Ok(Molecular {
            beta: 1.0 / kbt,
            metadata,
            force_field,
            workspaces: Mutex::new(Vec::new()),
        })
    }

    /// The force field (energies in kJ/mol).
    pub fn force_field(&self) -> &ForceField {
        &self.force_field
    }
}

impl Energy for Molecular {
    fn from_config(config: &str, context: &Context) -> Result<Self, PluginError> {
        let config: Config = parse_config(config)?;
        Molecular::new(&config, context)
    }

    fn dim(&self) -> usize {
        3 * self.force_field.n_atoms()
    }

    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        self.with_workspace(|ws| self.reduced(x, ws, grad))
    }

    fn energy_batch(
        &self,
        x: &[f64],
        u: &mut [f64],
        grad: Option<&mut [f64]>,
    ) -> Result<(), PluginError> {
        let dim = self.dim();
        self.with_workspace(|ws| match grad {
            Some(grad) => {
                for ((u, x), g) in u
                    .iter_mut()
                    .zip(x.chunks_exact(dim))
                    .zip(grad.chunks_exact_mut(dim))
                {
                    *u = self.reduced(x, ws, Some(g));
                }
            }
            None => {
                for (u, x) in u.iter_mut().zip(x.chunks_exact(dim)) {
                    *u = self.reduced(x, ws, None);
                }
            }
        });
        Ok(())
    }
}

impl Molecular {
    /// Runs `f` with a workspace from the pool (a new one if every pooled one is in use), then
    /// returns it to the pool.
    fn with_workspace<R>(&self, f: impl FnOnce(&mut Workspace) -> R) -> R {
        let pooled = self.workspaces.lock().map(|mut pool| pool.pop());
        let mut ws = match pooled {
            Ok(Some(ws)) => ws,
            _ => self.force_field.workspace(),
        };
        let result = f(&mut ws);
        if let Ok(mut pool) = self.workspaces.lock() {
            pool.push(ws);
        }
        result
    }

    /// u = E/k_BT and ∇u for one conformation, with a reusable workspace.
    fn reduced(&self, x: &[f64], ws: &mut terms::Workspace, grad: Option<&mut [f64]>) -> f64 {
        match grad {
            Some(g) => {
                let e = self.force_field.evaluate(x, ws, Some(&mut *g));
                for v in g.iter_mut() {
                    *v *= self.beta;
                }
                e * self.beta
            }
            None => self.force_field.evaluate(x, ws, None) * self.beta,
        }
    }
}

export_plugin!(Molecular, "molecular");

#[cfg(test)]
mod tests;
