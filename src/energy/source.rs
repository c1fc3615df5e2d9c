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

    /// The reduced energies of a contiguous batch (`x`: `u.len() × dim` values) and, if `grad`
    /// is given, their gradients. Non-finite values are left for the caller to count.
    fn energy_raw(&self, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) -> Result<()>;
}

/// A space of angles with no energy of its own (u = 0): the system of a run that learns an
/// energy over dihedral angles from samples, `Angles(dim: 2, temperature_kelvin: 300.0)`. It
/// gives the run its dimension and its temperature (for free energies in kJ/mol).
#[derive(Debug)]
pub struct Angles {
    dim: usize,
    metadata: Metadata,
}

impl Angles {
    /// `dim` angles (1 to 16), at `temperature_kelvin` when given.
    pub fn new(dim: usize, temperature_kelvin: Option<f64>) -> Result<Self> {
        if !(1..=MAX_ANGLES).contains(&dim) {
            return Err(crate::Error::InvalidArgument(format!(
                "Angles: `dim` must be 1 to {MAX_ANGLES}, not {dim}"
            )));
        }
        if let Some(t) = temperature_kelvin
            && !(t.is_finite() && t > 0.0)
        {
            return Err(crate::Error::InvalidArgument(format!(
                "Angles: `temperature_kelvin` must be a positive finite number, not {t}"
            )));
        }
        let mut metadata = Metadata::new(format!("{dim} angles"))
            .with_description("angles in radians with no energy of their own (u = 0)")
            .with_parameters(serde_json::json!({ "dim": dim }));
        metadata.temperature_kelvin = temperature_kelvin;
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

    fn energy_raw(&self, _x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) -> Result<()> {
        u.fill(0.0);
        if let Some(grad) = grad {
            grad.fill(0.0);
        }
        Ok(())
    }
}
