//! The rational-quadratic spline as one backend operation, with its own backward.
//!
//! Written in burn's tensor ops, a batch of splines is some forty small operations on strided and
//! broadcast tensors, each recorded on the autodiff graph; on the CPU that overhead, not the
//! arithmetic, dominated a flow's step. [`FlowBackend::rq_spline`] does the whole batch in one
//! pass: on burn's Flex (the CPU backend, `cpu.rs`) by the fused kernel of `kernel.rs` over
//! contiguous rows, in parallel, with the kernel's hand-written backward as one node of the
//! autodiff graph (`autodiff.rs`); on any other backend (CUDA for now) by the tensor
//! implementation (`composite.rs`), which autodiff records op by op. Same interface, so a fused
//! CUDA kernel can be added behind it.

use super::composite;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;

/// The backward of a fused spline: the gradients with respect to `params` and `inputs` of
/// ⟨grad, rq_spline(params, inputs, inverse)⟩, given `(params, inputs, inverse, grad)`.
pub type SplineBackward<B> =
    fn(FloatTensor<B>, FloatTensor<B>, bool, FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>);

/// A burn backend with the operations flows need beyond burn's own: a batch of rational-quadratic
/// splines in one operation. The provided methods work on any backend through burn's tensor ops
/// (which autodiff then records one by one); a backend overrides them with a fused
/// implementation and its backward (the CPU backend does).
pub trait FlowBackend: Backend {
    /// `[2, n, m]`: the values and the log-derivatives ln |dv/dt| of the splines with parameters
    /// `params` `[n, m, 3K]` (per spline `[raw widths (K) | raw heights (K) | raw interior knot
    /// derivatives (K − 1) | raw end derivative (1)]`) at `inputs` `[n, m]` in [0, 1]; with
    /// `inverse`, of the inverse splines.
    fn rq_spline(
        params: FloatTensor<Self>,
        inputs: FloatTensor<Self>,
        inverse: bool,
    ) -> FloatTensor<Self> {
        composite::apply::<Self>(float(params), float(inputs), inverse)
            .into_primitive()
            .tensor()
    }

    /// The backward of a fused [`FlowBackend::rq_spline`], if this backend has one; `None` (the
    /// default) makes autodiff record the tensor implementation instead.
    fn rq_spline_backward() -> Option<SplineBackward<Self>> {
        None
    }
}

/// An autodiff backend for training flows: a [`FlowBackend`] over a [`FlowBackend`].
pub trait AutodiffFlowBackend: AutodiffBackend<InnerBackend: FlowBackend> + FlowBackend {}

impl<B> AutodiffFlowBackend for B where B: AutodiffBackend<InnerBackend: FlowBackend> + FlowBackend {}

/// A float tensor from a backend primitive.
pub(super) fn float<B: Backend, const D: usize>(primitive: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

/// CUDA: the tensor implementation (a fused CUDA kernel would go here).
#[cfg(feature = "cuda")]
impl FlowBackend for burn::backend::Cuda {}
