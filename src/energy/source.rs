//! Energies computed by boltzflow itself rather than by a plugin instance.

use crate::Result;
use boltzflow_plugin::Metadata;

/// An energy that a [`super::System`] evaluates in-process without a plugin: a learned energy
/// model (`System(learned: "RUN_DIR")`). Every system, whatever its source, goes through the
/// same batched, checked evaluation.
pub trait EnergySource: Send + Sync + std::fmt::Debug {
    /// What computes it and its version, recorded in outputs where a plugin's name and version
    /// would be.
    fn provenance(&self) -> (String, String);

    /// Its metadata.
    fn metadata(&self) -> &Metadata;

    /// Number of coordinates of one point.
    fn dim(&self) -> usize;

    /// Whether u(x) is an energy at all (false for a space with no energy of its own).
    fn has_energy(&self) -> bool {
        true
    }

    /// The reduced energies of a contiguous batch (`x`: `u.len() × dim` values) and, if `grad`
    /// is given, their gradients. Non-finite values are left for the caller to count.
    fn energy_raw(&self, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) -> Result<()>;
}

/// A space of named angles with no energy of its own (u = 0): the system of a run that learns
/// an energy over dihedral angles from samples,
/// `Angles(names: ["phi", "psi"], temperature_kelvin: 300.0)`. It gives the run its dimension
/// (one coordinate per name), its temperature (for free energies in kJ/mol) and the angles'
/// names, which its outputs carry in their metadata so that `analyze` reads them.
#[derive(Debug)]
pub struct Angles {
    dim: usize,
    metadata: Metadata,
}

impl Angles {
    /// One angle per name (1 to 16 names), at `temperature_kelvin` when given.
    pub fn new(names: Vec<String>, temperature_kelvin: Option<f64>) -> Result<Self> {
        let dim = names.len();
        if !(1..=MAX_ANGLES).contains(&dim) {
            return Err(crate::Error::InvalidArgument(format!(
                "Angles: give 1 to {MAX_ANGLES} names, not {dim}"
            )));
        }
        if let Some(t) = temperature_kelvin
            && !(t.is_finite() && t > 0.0)
        {
            return Err(crate::Error::InvalidArgument(format!(
                "Angles: `temperature_kelvin` must be a positive finite number, not {t}"
            )));
        }
        let mut metadata = Metadata::new(format!("angles {}", names.join(", ")))
            .with_description("angles in radians with no energy of their own (u = 0)")
            .with_parameters(serde_json::json!({ "names": names }));
        metadata.temperature_kelvin = temperature_kelvin;
        metadata.angles = Some(names);
        metadata
            .check(dim)
            .map_err(|e| crate::Error::InvalidArgument(format!("Angles: {e}")))?;
        Ok(Angles { dim, metadata })
    }
}

/// The most angles an [`Angles`] space has.
const MAX_ANGLES: usize = 16;

impl EnergySource for Angles {
    fn provenance(&self) -> (String, String) {
        ("angles".into(), crate::VERSION.into())
    }

    fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn has_energy(&self) -> bool {
        false
    }

    fn energy_raw(&self, _x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) -> Result<()> {
        u.fill(0.0);
        if let Some(grad) = grad {
            grad.fill(0.0);
        }
        Ok(())
    }
}
