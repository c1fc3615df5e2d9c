//! The data's per-coordinate mean and standard deviation, which set a learned model's units:
//! every model of this module works on standardised coordinates z = (x − mean)/sd.

use crate::backend::FlowBackend;
use crate::flow::from_f64;
use crate::{Error, Result};
use burn::prelude::*;

/// Per-coordinate mean and (sample) standard deviation of `x` (`n × dim`), the points an
/// energy is learnt from (`what` names them in errors). Fails on fewer than two points, a
/// wrong length, or a coordinate that does not vary.
pub fn column_scales(x: &[f64], dim: usize, what: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = x.len() / dim.max(1);
    if dim == 0 || n < 2 || x.len() != n * dim {
        return Err(Error::Shape {
            what: what.into(),
            expected: format!("at least 2 points of {dim} coordinates"),
            found: format!("{} values", x.len()),
        });
    }
    let column = |j: usize| x.iter().skip(j).step_by(dim);
    let mean: Vec<f64> = (0..dim)
        .map(|j| column(j).sum::<f64>() / n as f64)
        .collect();
    let sd = (0..dim)
        .map(|j| {
            let var = column(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / (n - 1) as f64;
            if var > 0.0 && var.is_finite() {
                Ok(var.sqrt())
            } else {
                Err(Error::InvalidArgument(format!(
                    "coordinate {j} of {what} does not vary (or is not finite); an energy \
                     cannot be learnt along it"
                )))
            }
        })
        .collect::<Result<_>>()?;
    Ok((mean, sd))
}

/// (x − mean)/sd of each row of `x` (`[n, dim]`).
pub fn standardise<B: FlowBackend>(x: Tensor<B, 2>, mean: &[f64], sd: &[f64]) -> Tensor<B, 2> {
    let device = x.device();
    (x - row(mean, &device)) / row(sd, &device)
}

/// mean + sd · z of each row of `z` (`[n, dim]`).
pub fn unstandardise<B: FlowBackend>(z: Tensor<B, 2>, mean: &[f64], sd: &[f64]) -> Tensor<B, 2> {
    let device = z.device();
    z * row(sd, &device) + row(mean, &device)
}

/// `values` as one `[1, len]` row.
fn row<B: FlowBackend>(values: &[f64], device: &B::Device) -> Tensor<B, 2> {
    from_f64::<B, 2>(values.to_vec(), [1, values.len()], device)
}
