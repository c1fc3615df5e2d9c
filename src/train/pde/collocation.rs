//! Collocation points: the flow's own trajectories, detached.

use crate::backend::FlowBackend;
use crate::flow::{ContinuousFlow, Rk4Config, SolverConfig, to_host};
use burn::prelude::*;

/// Positions of `n` fresh base samples carried by the flow's field with RK4 (`substeps` steps
/// per interval of `times`, which increase from 0), at each time of `times`: row-major
/// `[times.len() · n, d]`, time-major (point i at time k is row k·n + i), on the host.
///
/// Only positions: no divergence and, on a non-autodiff backend, no graph (call it with
/// `model.flow.valid()` while training). Positions that blow up are returned as they are
/// (non-finite) for the caller to mask.
pub fn trajectory<B: FlowBackend>(
    flow: &ContinuousFlow<B>,
    n: usize,
    times: &[f64],
    substeps: usize,
) -> crate::Result<Vec<f64>> {
    let solver = SolverConfig::Rk4(Rk4Config { steps: substeps });
    solver.validate()?;
    let mut x = flow.base.sample(n);
    let device = x.device();
    let field = &flow.field;
    let dynamics = |t: f64, x: Tensor<B, 2>| {
        let velocity = crate::flow::TimeDependent::forward(field, x, Tensor::full([n], t, &device));
        (velocity, Tensor::zeros([n], &device))
    };
    let mut path = Vec::with_capacity(times.len());
    for (k, &t) in times.iter().enumerate() {
        if k > 0 {
            (x, _) = solver.solve(&dynamics, x, times[k - 1], t)?;
        }
        path.push(x.clone());
    }
    Ok(to_host(Tensor::cat(path, 0)))
}
