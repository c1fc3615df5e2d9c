//! Placeholder: replaced by the sampling branch.
/// An unnormalised log density log π, evaluated on a batch of points.
pub trait LogDensity {
    /// Dimension.
    fn dim(&self) -> usize;
    /// log π at each point; with `grad`, also ∇ log π.
    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> crate::Result<Vec<f64>>;
}
