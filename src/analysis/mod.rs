//! Analyses of weighted samples.

pub mod geometry;
mod importance;

pub use importance::{ForwardSummary, ImportanceSummary};
