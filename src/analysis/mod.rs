//! Analyses of weighted samples.

mod importance;

pub use importance::ImportanceSummary;
