//! The internal-coordinate layer: normalised internal coordinates ↔ Cartesian positions.

use super::geometry::{angle, dihedral, distance, place};
use super::z_matrix::{FRAME_OUTPUTS, row_output};
use super::{InternalCoordinatesConfig, ZMatrix, ZRow};
use crate::backend::FlowBackend;
use crate::flow::{Bijection, from_f64};
use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use std::f64::consts::PI;

/// Shortest bond length (nm) accepted in a reference structure.
const MIN_BOND: f64 = 1e-3;
/// Smallest angle (rad) between bonds accepted in a reference structure, and its supplement.
const MIN_ANGLE: f64 = PI / 180.0;

/// Normalised internal coordinates (base side, `[n, 3N − 6]`) ↔ Cartesian positions (target
/// side, `[n, 3N]`, nm, atom-major x, y, z).
///
/// `forward` places the frame atoms (origin at 0, x-axis atom on +x, plane atom in the xy-plane)
/// and then every Z-matrix row in placement order (NeRF), so its output always has the 6
/// external degrees of freedom fixed. `inverse` measures bond lengths, angles and dihedrals, which do not depend
/// on the position or orientation of its input.
///
/// log|det| of `forward` is that of the map from the 3N − 6 inputs to the 3N − 6 free Cartesian
/// coordinates (all but origin x, y, z, x-axis atom y, z and plane atom z). The map is triangular
/// in placement order: each row's atom contributes r² sin θ (spherical coordinates around its
/// bond partner), the frame contributes r_plane (from (r_x, r_plane, α) to (x_x, x_plane,
/// y_plane) = (r_x, r_plane cos α, r_plane sin α)), and the normalisation Π scale.
/// `inverse` returns the negative at its input's internal coordinates.
///
/// `inverse` maps onto bond lengths > 0, bond angles in (0, π) and dihedrals in [−π, π) (before
/// normalisation); `forward` is its inverse on that box. Outside it (a negative bond length, a
/// non-circular dihedral beyond ±π/scale) `forward` still returns a valid structure, the same as
/// for some point inside, as in FAB.
#[derive(Module, Debug)]
pub struct InternalCoordinates<B: FlowBackend> {
    /// Internal coordinates of the reference structure, `[1, dim]`.
    offset: Tensor<B, 2>,
    /// Normalisation scales, `[1, dim]`.
    scale: Tensor<B, 2>,
    /// 1 on the dihedrals, 0 elsewhere, `[1, dim]`.
    dihedral_mask: Tensor<B, 2>,
    /// The frame atoms `[origin, x_axis, plane]`.
    frame_atoms: Tensor<B, 1, Int>,
    /// The atoms of the rows (none for a three-atom molecule).
    row_atoms: Option<RowAtoms<B>>,
    /// Σ log scale: log|det| of the de-normalisation.
    log_scale: f64,
    /// The Z-matrix.
    z_matrix: ZMatrix,
    /// Row indices in placement order.
    placement: Vec<usize>,
    /// Whether each input is a circular dihedral.
    circular: Vec<bool>,
}

/// The atoms of every Z-matrix row by role, as index tensors `[rows]`.
#[derive(Module, Debug)]
struct RowAtoms<B: FlowBackend> {
    atom: Tensor<B, 1, Int>,
    bond: Tensor<B, 1, Int>,
    angle: Tensor<B, 1, Int>,
    dihedral: Tensor<B, 1, Int>,
}

impl<B: FlowBackend> RowAtoms<B> {
    /// The positions `[n, rows, 3]` of every row's atom, bond, angle and dihedral partner, from
    /// positions `[n, atoms, 3]`.
    fn positions(&self, points: &Tensor<B, 3>) -> [Tensor<B, 3>; 4] {
        [&self.atom, &self.bond, &self.angle, &self.dihedral]
            .map(|index| points.clone().select(1, index.clone()))
    }
}

/// An index tensor of atoms.
fn atom_index<B: FlowBackend>(atoms: Vec<usize>, device: &B::Device) -> Tensor<B, 1, Int> {
    let len = atoms.len();
    let atoms = atoms.into_iter().map(|a| a as i64).collect::<Vec<_>>();
    Tensor::from_data(TensorData::new(atoms, [len]), device)
}

impl<B: FlowBackend> InternalCoordinates<B> {
    /// Builds the layer from a validated configuration.
    pub(super) fn new(
        config: &InternalCoordinatesConfig,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let z_matrix = config.z_matrix.clone();
        let dim = z_matrix.dim();
        let column = |role: fn(&ZRow) -> usize| {
            atom_index::<B>(z_matrix.rows.iter().map(role).collect(), device)
        };
        let row_atoms = (!z_matrix.rows.is_empty()).then(|| RowAtoms {
            atom: column(|r| r.atom),
            bond: column(|r| r.bond),
            angle: column(|r| r.angle),
            dihedral: column(|r| r.dihedral),
        });
        let mut mask = vec![0.0; dim];
        for k in 0..z_matrix.rows.len() {
            mask[row_output(k) + 2] = 1.0;
        }
        let scales = config.output_scales();
        let mut layer = InternalCoordinates {
            offset: Tensor::zeros([1, dim], device),
            log_scale: scales.iter().map(|s| s.ln()).sum(),
            scale: from_f64(scales, [1, dim], device),
            dihedral_mask: from_f64(mask, [1, dim], device),
            frame_atoms: atom_index(z_matrix.frame.to_vec(), device),
            row_atoms,
            placement: z_matrix.placement_order()?,
            z_matrix,
            circular: config.circular_outputs(),
        };
        let reference = from_f64(
            config.reference.clone(),
            [1, config.cartesian_dim()],
            device,
        );
        layer.offset = layer.check_reference(reference)?;
        Ok(layer)
    }

    /// The Z-matrix.
    pub fn z_matrix(&self) -> &ZMatrix {
        &self.z_matrix
    }

    /// For each input, whether it is a circular dihedral (on [−π, π)).
    pub fn circular_outputs(&self) -> &[bool] {
        &self.circular
    }

    /// Bond lengths (nm), bond angles (rad) and dihedrals (rad, in [−π, π)) from normalised
    /// internal coordinates `[n, dim]`: e.g. φ and ψ of alanine dipeptide from the base side.
    pub fn to_physical(&self, z: Tensor<B, 2>) -> Tensor<B, 2> {
        self.wrap_dihedrals(z * self.scale.clone() + self.offset.clone())
    }

    /// Raw internal coordinates of Cartesian positions `[n, 3N]`, in the layout of [`ZMatrix`].
    fn measure(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, _] = x.dims();
        let points = x.reshape([n, self.z_matrix.n_atoms(), 3]);
        let frame = points.clone().select(1, self.frame_atoms.clone());
        let frame_atom = |i| frame.clone().narrow(1, i, 1);
        let (origin, x_axis, plane) = (frame_atom(0), frame_atom(1), frame_atom(2));
        let frame_values = Tensor::cat(
            vec![
                distance(x_axis.clone(), origin.clone()),
                distance(plane.clone(), origin.clone()),
                angle(x_axis, origin, plane),
            ],
            2,
        );
        let mut values = vec![frame_values.reshape([n, FRAME_OUTPUTS])];
        if let Some(row_atoms) = &self.row_atoms {
            let [atom, bond, angle_partner, dihedral_partner] = row_atoms.positions(&points);
            let row_values = Tensor::cat(
                vec![
                    distance(atom.clone(), bond.clone()),
                    angle(atom.clone(), bond.clone(), angle_partner.clone()),
                    dihedral(dihedral_partner, angle_partner, bond, atom),
                ],
                2,
            );
            values.push(row_values.reshape([n, 3 * self.z_matrix.rows.len()]));
        }
        Tensor::cat(values, 1)
    }

    /// log|det ∂x/∂q| of the placement at raw internal coordinates `q`: log r_plane +
    /// Σ_rows (2 log r + log sin θ).
    fn placement_log_det(&self, q: &Tensor<B, 2>) -> Tensor<B, 1> {
        let [n, _] = q.dims();
        let frame = q.clone().narrow(1, 1, 1).abs().log();
        let rows = self.z_matrix.rows.len();
        let total = if rows == 0 {
            frame
        } else {
            let values = q
                .clone()
                .narrow(1, FRAME_OUTPUTS, 3 * rows)
                .reshape([n, rows, 3]);
            let bonds = values.clone().narrow(2, 0, 1);
            let angles = values.narrow(2, 1, 1);
            let per_row = bonds.abs().log() * 2.0 + angles.sin().abs().log();
            frame + per_row.sum_dim(1).reshape([n, 1])
        };
        total.reshape([n])
    }

    /// Maps the dihedral columns of `q` into [−π, π), leaving the others unchanged.
    fn wrap_dihedrals(&self, q: Tensor<B, 2>) -> Tensor<B, 2> {
        let turns = q.clone().add_scalar(PI).div_scalar(2.0 * PI).floor();
        q - turns * self.dihedral_mask.clone() * (2.0 * PI)
    }

    /// The internal coordinates of the reference structure `[1, 3N]`, after checking that every
    /// bond length, bond angle and dihedral is well defined there.
    fn check_reference(&self, reference: Tensor<B, 2>) -> crate::Result<Tensor<B, 2>> {
        let q = self.measure(reference.clone());
        let values = values_of(q.clone());
        let [origin, x_axis, plane] = self.z_matrix.frame;
        let mut bonds = vec![(x_axis, origin, values[0]), (plane, origin, values[1])];
        let mut angles = vec![([x_axis, origin, plane], values[2])];
        if let Some(row_atoms) = &self.row_atoms {
            let points = reference.reshape([1, self.z_matrix.n_atoms(), 3]);
            let [_, bond, angle_partner, dihedral_partner] = row_atoms.positions(&points);
            // The angle between each dihedral's axis and its first bond.
            let axis_angles = values_of(angle(dihedral_partner, angle_partner, bond));
            for (k, row) in self.z_matrix.rows.iter().enumerate() {
                let c = row_output(k);
                bonds.push((row.atom, row.bond, values[c]));
                angles.push(([row.atom, row.bond, row.angle], values[c + 1]));
                angles.push(([row.dihedral, row.angle, row.bond], axis_angles[k]));
            }
        }
        for (a, b, length) in bonds {
            if length < MIN_BOND {
                return Err(crate::Error::InvalidArgument(format!(
                    "atoms {a} and {b} are {length:.4} nm apart in the reference structure; \
                     bonded atoms must be at least {MIN_BOND} nm apart"
                )));
            }
        }
        for ([a, b, c], value) in angles {
            if !(MIN_ANGLE..=PI - MIN_ANGLE).contains(&value) {
                return Err(crate::Error::InvalidArgument(format!(
                    "the angle {a}–{b}–{c} is {:.2}° in the reference structure; Z-matrix angles \
                     must stay away from 0° and 180° (collinear atoms leave a dihedral undefined): \
                     choose other partners for the row that uses it",
                    value.to_degrees()
                )));
            }
        }
        Ok(q)
    }
}

/// The values of a float tensor, as f64.
fn values_of<B: FlowBackend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec()
        .expect("a float tensor converts to f64")
}

impl<B: FlowBackend> Bijection<B> for InternalCoordinates<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let q = z * self.scale.clone() + self.offset.clone();
        let column = |c: usize| q.clone().narrow(1, c, 1);
        let zero = column(0).zeros_like();
        let [origin, x_axis, plane] = self.z_matrix.frame;
        let mut positions = vec![None; self.z_matrix.n_atoms()];
        positions[origin] = Some(Tensor::cat(
            vec![zero.clone(), zero.clone(), zero.clone()],
            1,
        ));
        positions[x_axis] = Some(Tensor::cat(vec![column(0), zero.clone(), zero.clone()], 1));
        let (r, alpha) = (column(1), column(2));
        positions[plane] = Some(Tensor::cat(
            vec![r.clone() * alpha.clone().cos(), r * alpha.sin(), zero],
            1,
        ));
        for &k in &self.placement {
            let row = self.z_matrix.rows[k];
            let at = |atom: usize| {
                positions[atom]
                    .clone()
                    .expect("a validated Z-matrix places partners first")
            };
            let c = row_output(k);
            positions[row.atom] = Some(place(
                at(row.dihedral),
                at(row.angle),
                at(row.bond),
                column(c),
                column(c + 1),
                column(c + 2),
            ));
        }
        let x = Tensor::cat(
            positions
                .into_iter()
                .map(|p| p.expect("a validated Z-matrix places every atom"))
                .collect(),
            1,
        );
        let log_det = self.placement_log_det(&q).add_scalar(self.log_scale);
        (x, log_det)
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let q = self.measure(x);
        let log_det = self.placement_log_det(&q).neg().sub_scalar(self.log_scale);
        let z = self.wrap_dihedrals(q - self.offset.clone()) / self.scale.clone();
        (z, log_det)
    }
}
