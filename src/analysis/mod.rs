//! Analyses of weighted samples.

pub mod geometry;
mod importance;
mod modes;

pub use importance::{ForwardSummary, ImportanceSummary};
pub use modes::mode_masses;
