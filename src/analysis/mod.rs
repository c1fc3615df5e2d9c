//! Analyses of weighted samples.

pub mod blocking;
pub mod correlation;
pub mod dihedral_report;
pub mod geometry;
pub mod histogram;
mod importance;
mod modes;
pub mod plots;
pub mod ramachandran;

pub use importance::{ForwardSummary, ImportanceSummary, normalised_weights, systematic_resample};
pub use modes::mode_masses;
