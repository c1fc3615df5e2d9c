//! Molecular internal coordinates as a flow layer (Boltzmann generators; FAB's alanine
//! dipeptide).
//!
//! [`InternalCoordinates`] maps 3N − 6 normalised internal coordinates (base side) to the 3N
//! Cartesian coordinates of N atoms (target side), with an exact log-determinant:
//! - a [`ZMatrix`] says which atoms fix the frame and which partners define each other atom's
//!   bond length, bond angle and dihedral; write one by hand ([`ZMatrix::alanine_dipeptide`])
//!   or build one from a bond graph ([`ZMatrix::from_bond_graph`]);
//! - an [`InternalCoordinatesConfig`] adds the reference structure and scales that normalise
//!   the coordinates, and which dihedrals are circular.

mod alanine_dipeptide;
mod bond_graph;
mod config;
mod geometry;
mod layer;
#[cfg(test)]
mod tests;
mod z_matrix;

pub use alanine_dipeptide::{ALDP_PHI, ALDP_PHI_ROTATION, ALDP_PSI, ALDP_PSI_ROTATION};
pub use config::{InternalCoordinatesConfig, NormalisationScales};
pub use layer::InternalCoordinates;
pub use z_matrix::{ZMatrix, ZRow};
