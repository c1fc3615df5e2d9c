//! Configuration of the internal-coordinate layer: Z-matrix, reference structure, normalisation.

use super::ZMatrix;
use super::layer::InternalCoordinates;
use super::z_matrix::FRAME_OUTPUTS;
use crate::backend::FlowBackend;
use serde::{Deserialize, Serialize};

/// Scales that divide the deviations of the internal coordinates from the reference structure.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormalisationScales {
    /// Bond lengths, nm.
    pub bond: f64,
    /// Bond angles, rad.
    pub angle: f64,
    /// Non-circular dihedrals, rad (circular ones are never scaled).
    pub dihedral: f64,
}

impl Default for NormalisationScales {
    /// FAB's values (Midgley et al. 2023): 0.005 nm, 0.15 rad, 0.2 rad.
    fn default() -> Self {
        NormalisationScales {
            bond: 0.005,
            angle: 0.15,
            dihedral: 0.2,
        }
    }
}

/// Configuration of an [`InternalCoordinates`] layer.
///
/// Normalisation, as FAB / boltzgen's `CoordinateTransform` with a single reference structure:
/// with q the raw internal coordinate and q_ref its value in `reference`,
/// - bond lengths and bond angles: (q − q_ref) / scale;
/// - dihedrals: wrap(q − q_ref) / scale with wrap into [−π, π), and scale 1 for circular ones,
///   which therefore live on [−π, π) (boltzgen shifts circular dihedrals by the reference value
///   too; we follow it, so the reference structure maps to all zeros). Use
///   [`InternalCoordinates::to_physical`] for the dihedrals themselves (φ, ψ).
///
/// Dihedrals follow the IUPAC sign convention (as mdtraj); boltzgen's `calc_dihedrals` returns
/// the opposite sign, which only mirrors those coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InternalCoordinatesConfig {
    /// The Z-matrix.
    pub z_matrix: ZMatrix,
    /// Reference structure, `3 · n_atoms` values (nm, atom-major x, y, z): its internal
    /// coordinates are the normalisation's zero.
    pub reference: Vec<f64>,
    /// One flag per Z-matrix row: whether its dihedral is circular (a torsion that can take any
    /// value, modelled on [−π, π) without scaling).
    pub circular: Vec<bool>,
    /// Normalisation scales.
    #[serde(default)]
    pub scales: NormalisationScales,
}

impl InternalCoordinatesConfig {
    /// Number of internal coordinates (the layer's input width), 3n − 6.
    pub fn dim(&self) -> usize {
        self.z_matrix.dim()
    }

    /// Number of Cartesian coordinates (the layer's output width), 3n.
    pub fn cartesian_dim(&self) -> usize {
        3 * self.z_matrix.n_atoms()
    }

    /// For each internal coordinate, whether it is a circular dihedral (on [−π, π)): for
    /// circular splines and base distributions.
    pub fn circular_outputs(&self) -> Vec<bool> {
        let mut flags = vec![false; FRAME_OUTPUTS];
        for &circular in &self.circular {
            flags.extend([false, false, circular]);
        }
        flags
    }

    /// Index of the internal coordinate that is the dihedral a–b–c–d, if the Z-matrix defines it.
    pub fn dihedral_output(&self, atoms: [usize; 4]) -> Option<usize> {
        self.z_matrix.dihedral_output(atoms)
    }

    /// Checks the Z-matrix, the lengths of `reference` and `circular`, and the scales.
    pub fn validate(&self) -> crate::Result<()> {
        self.z_matrix.validate()?;
        let invalid = |message: String| Err(crate::Error::InvalidArgument(message));
        let n = self.z_matrix.n_atoms();
        if self.reference.len() != 3 * n {
            return invalid(format!(
                "the reference structure has {} values; the Z-matrix has {n} atoms, so it needs \
                 3 × {n} = {} (x, y, z of each atom in nm)",
                self.reference.len(),
                3 * n
            ));
        }
        if self.reference.iter().any(|v| !v.is_finite()) {
            return invalid("the reference structure contains non-finite values".into());
        }
        if self.circular.len() != self.z_matrix.rows.len() {
            return invalid(format!(
                "`circular` has {} flags; it needs one per Z-matrix row ({})",
                self.circular.len(),
                self.z_matrix.rows.len()
            ));
        }
        let s = self.scales;
        if [s.bond, s.angle, s.dihedral]
            .iter()
            .any(|v| !(v.is_finite() && *v > 0.0))
        {
            return invalid(format!(
                "normalisation scales must be positive and finite; got {s:?}"
            ));
        }
        Ok(())
    }

    /// The scale of each internal coordinate, in the layout of [`ZMatrix`].
    pub(super) fn output_scales(&self) -> Vec<f64> {
        let s = self.scales;
        let mut scales = vec![s.bond, s.bond, s.angle];
        for &circular in &self.circular {
            scales.extend([s.bond, s.angle, if circular { 1.0 } else { s.dihedral }]);
        }
        scales
    }

    /// Builds the layer; fails on an invalid configuration or a reference structure in which a
    /// row's bond angle or dihedral is undefined (coincident or collinear atoms).
    pub fn init<B: FlowBackend>(
        &self,
        device: &B::Device,
    ) -> crate::Result<InternalCoordinates<B>> {
        self.validate()?;
        InternalCoordinates::new(self, device)
    }
}
