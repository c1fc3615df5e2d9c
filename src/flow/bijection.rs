//! The interface every flow layer implements.

use crate::backend::FlowBackend;
use burn::prelude::*;

/// An invertible map on batches of points `[n, dim_in] → [n, dim_out]`, with the log absolute
/// determinant of its Jacobian per point.
///
/// `forward` goes from the base side to the target side (sampling direction), `inverse` back
/// (density direction). Each returns the log-determinant *of the map it applies*, so for a
/// correct layer `forward(inverse(x)) = x` and the two log-determinants sum to zero.
pub trait Bijection<B: FlowBackend> {
    /// Base side → target side: `(x, log|det ∂x/∂z|)`.
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>);

    /// Target side → base side: `(z, log|det ∂z/∂x|)`.
    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>);
}
