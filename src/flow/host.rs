//! Moving flow samples and densities between burn tensors and host `Vec<f64>`s, in chunks.

use super::{Density, from_f64};
use crate::backend::FlowBackend;
use burn::prelude::*;

/// Points per chunk when a large sample set is processed on the device.
const CHUNK: usize = 8192;

/// `n` samples of `flow` and their log q, on the host (row-major `n × dim`, and `n`).
pub fn sample_to_host<B: FlowBackend>(flow: &impl Density<B>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = Vec::with_capacity(n * flow.dim());
    let mut log_q = Vec::with_capacity(n);
    let mut remaining = n;
    while remaining > 0 {
        let m = remaining.min(CHUNK);
        let (xs, lq) = flow.sample(m);
        x.extend(to_host(xs));
        log_q.extend(to_host(lq));
        remaining -= m;
    }
    (x, log_q)
}

/// `n` samples of `flow` without their log q, on the host (row-major `n × dim`).
pub fn sample_points_to_host<B: FlowBackend>(flow: &impl Density<B>, n: usize) -> Vec<f64> {
    let mut x = Vec::with_capacity(n * flow.dim());
    for start in (0..n).step_by(CHUNK) {
        x.extend(to_host(flow.sample_points(CHUNK.min(n - start))));
    }
    x
}

/// log q of each point of `x` (row-major `n × dim`), on the host.
pub fn log_prob_on_host<B: FlowBackend>(
    flow: &impl Density<B>,
    x: &[f64],
    device: &B::Device,
) -> Vec<f64> {
    let dim = flow.dim();
    x.chunks(CHUNK * dim)
        .flat_map(|chunk| {
            to_host(flow.log_prob(from_f64(chunk.to_vec(), [chunk.len() / dim, dim], device)))
        })
        .collect()
}

/// A tensor's values as f64, row-major.
pub fn to_host<B: FlowBackend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec()
        .expect("a float tensor converts to f64")
}
