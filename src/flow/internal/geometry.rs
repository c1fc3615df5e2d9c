//! Bond lengths, bond angles and dihedrals of batched points, and the inverse placement (NeRF).
//!
//! Every function works on tensors whose last dimension holds (x, y, z) and returns tensors whose
//! last dimension has size 1, so the same code serves `[n, 3]` points and `[n, rows, 3]` batches
//! of Z-matrix rows. Norms are clamped away from zero so that degenerate geometry (coincident
//! atoms, collinear triples) gives finite values and gradients instead of NaN.

use crate::backend::FlowBackend;
use burn::prelude::*;

/// Smallest length (nm) a norm is clamped to.
const MIN_NORM: f64 = 1e-12;

/// Dot product along the last dimension.
fn dot<B: FlowBackend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> Tensor<B, D> {
    (a * b).sum_dim(D - 1)
}

/// Euclidean norm along the last dimension, at least [`MIN_NORM`].
fn norm<B: FlowBackend, const D: usize>(a: Tensor<B, D>) -> Tensor<B, D> {
    a.powi_scalar(2)
        .sum_dim(D - 1)
        .clamp_min(MIN_NORM * MIN_NORM)
        .sqrt()
}

/// `a` scaled to unit length.
fn unit<B: FlowBackend, const D: usize>(a: Tensor<B, D>) -> Tensor<B, D> {
    a.clone() / norm(a)
}

/// Distance |a − b|.
pub(super) fn distance<B: FlowBackend, const D: usize>(
    a: Tensor<B, D>,
    b: Tensor<B, D>,
) -> Tensor<B, D> {
    norm(a - b)
}

/// The angle a–vertex–c in [0, π], as atan2(|u × w|, u · w) (accurate near 0 and π, where
/// acos is not).
pub(super) fn angle<B: FlowBackend, const D: usize>(
    a: Tensor<B, D>,
    vertex: Tensor<B, D>,
    c: Tensor<B, D>,
) -> Tensor<B, D> {
    let u = a - vertex.clone();
    let w = c - vertex;
    norm(u.clone().cross(w.clone(), D - 1)).atan2(dot(u, w))
}

/// The dihedral a–b–c–d in [−π, π], IUPAC sign convention (positive when, looking along b → c,
/// the bond b–a turns clockwise onto the bond c–d), as in mdtraj. Where it is undefined (b–a or
/// c–d along the axis b–c, or coincident atoms) it is 0, with finite gradients.
pub(super) fn dihedral<B: FlowBackend, const D: usize>(
    a: Tensor<B, D>,
    b: Tensor<B, D>,
    c: Tensor<B, D>,
    d: Tensor<B, D>,
) -> Tensor<B, D> {
    let axis = unit(c.clone() - b.clone());
    let n1 = unit((b - a).cross(axis.clone(), D - 1));
    let n2 = unit(axis.clone().cross(d - c, D - 1));
    let cos = dot(n1.clone(), n2.clone());
    let sin = dot(n1.cross(n2, D - 1), axis);
    // cos² + sin² is 1, or 0 where a normal is undefined: atan2(0, 0) has no gradient.
    let undefined = (cos.clone().powi_scalar(2) + sin.clone().powi_scalar(2)).lower_elem(0.5);
    sin.atan2(cos.mask_fill(undefined, 1.0))
}

/// The point d with |c − d| = `bond`, angle b–c–d = `angle` and dihedral a–b–c–d = `dihedral`
/// (natural extension reference frame, Parsons et al. 2005): the inverse of [`distance`],
/// [`angle`] and [`dihedral`]. Points are `[n, 3]`, internal coordinates `[n, 1]`.
pub(super) fn place<B: FlowBackend>(
    a: Tensor<B, 2>,
    b: Tensor<B, 2>,
    c: Tensor<B, 2>,
    bond: Tensor<B, 2>,
    angle: Tensor<B, 2>,
    dihedral: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let bc = unit(c.clone() - b.clone());
    let normal = unit((b - a).cross(bc.clone(), 1));
    let in_plane = normal.clone().cross(bc.clone(), 1);
    let radial = bond.clone() * angle.clone().sin();
    c + bc * (bond * angle.cos()).neg()
        + in_plane * (radial.clone() * dihedral.clone().cos())
        + normal * (radial * dihedral.sin())
}
