//! The rational-quadratic spline as one backend operation, with its own backward.
//!
//! Written in burn's tensor ops, a batch of splines is some forty small operations on strided and
//! broadcast tensors, each recorded on the autodiff graph; on the CPU that overhead, not the
//! arithmetic, dominated a flow's step. [`FlowBackend::rq_spline`] does the whole batch in one
//! pass: on burn's Flex (the CPU backend) by the fused kernel of `kernel.rs` over contiguous rows,
//! in parallel, with the kernel's hand-written backward as one node of the autodiff graph; on
//! any other backend (CUDA for now) by the tensor implementation (`composite.rs`), which autodiff
//! records op by op. Same interface, so a fused CUDA kernel can be added behind it.

use super::{composite, kernel};
use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Element, TensorData, TensorMetadata, TensorPrimitive};
use num_traits::Float;
use rayon::prelude::*;

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

/// Splines per parallel task of the fused kernel.
const CHUNK: usize = 256;

/// The shape `[n, m, 3K]` of a spline batch's parameters, checked against its inputs `[n, m]`.
fn batch_shape(params: &FlexTensor, inputs: &FlexTensor) -> [usize; 3] {
    let [n, m, width] = params.shape().dims::<3>();
    assert_eq!(inputs.shape().dims::<2>(), [n, m], "one input per spline");
    assert_eq!(
        inputs.dtype(),
        params.dtype(),
        "inputs of the parameters' precision"
    );
    assert!(width >= 6 && width % 3 == 0, "3K spline parameters, K ≥ 2");
    [n, m, width / 3]
}

/// The values of a contiguous Flex tensor of `F`.
fn slice<F: Element + bytemuck::Pod>(tensor: &FlexTensor) -> &[F] {
    tensor
        .as_slice::<F>()
        .expect("a contiguous tensor of the batch's float type")
}

/// [`FlowBackend::rq_spline`] on the CPU: the kernel over contiguous rows, in parallel chunks.
fn fused_rq_spline<F: Float + Element + bytemuck::Pod + Send + Sync>(
    params: FlexTensor,
    inputs: FlexTensor,
    inverse: bool,
) -> FlexTensor {
    let [n, m, k] = batch_shape(&params, &inputs);
    let (params, inputs) = (params.to_contiguous(), inputs.to_contiguous());
    let (params, inputs) = (slice::<F>(&params), slice::<F>(&inputs));
    let mut out = vec![F::zero(); 2 * n * m];
    let (values, logs) = out.split_at_mut(n * m);
    values
        .par_chunks_mut(CHUNK)
        .zip(logs.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(chunk, (values, logs))| {
            let mut scratch = kernel::Scratch::new(k);
            for (i, (value, log)) in values.iter_mut().zip(logs.iter_mut()).enumerate() {
                let j = chunk * CHUNK + i;
                let row = &params[3 * k * j..3 * k * (j + 1)];
                (*value, *log) = kernel::apply(row, inputs[j], inverse, &mut scratch);
            }
        });
    FlexTensor::from_data(TensorData::new(out, [2, n, m]))
}

/// The backward of [`fused_rq_spline`]: the kernel's hand-written reverse mode, row by row.
fn fused_rq_spline_backward<F: Float + Element + bytemuck::Pod + Send + Sync>(
    params: FlexTensor,
    inputs: FlexTensor,
    inverse: bool,
    grad: FlexTensor,
) -> (FlexTensor, FlexTensor) {
    let [n, m, k] = batch_shape(&params, &inputs);
    let (params, inputs, grad) = (
        params.to_contiguous(),
        inputs.to_contiguous(),
        grad.to_contiguous(),
    );
    let (params, inputs, grad) = (slice::<F>(&params), slice::<F>(&inputs), slice::<F>(&grad));
    let (g_values, g_logs) = grad.split_at(n * m);
    let mut g_params = vec![F::zero(); 3 * k * n * m];
    let mut g_inputs = vec![F::zero(); n * m];
    g_params
        .par_chunks_mut(3 * k * CHUNK)
        .zip(g_inputs.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(chunk, (g_rows, g_inputs))| {
            let mut scratch = kernel::Scratch::new(k);
            for (i, (g_row, g_input)) in g_rows
                .chunks_mut(3 * k)
                .zip(g_inputs.iter_mut())
                .enumerate()
            {
                let j = chunk * CHUNK + i;
                let row = &params[3 * k * j..3 * k * (j + 1)];
                *g_input = kernel::backward(
                    row,
                    inputs[j],
                    inverse,
                    (g_values[j], g_logs[j]),
                    &mut scratch,
                    g_row,
                );
            }
        });
    (
        FlexTensor::from_data(TensorData::new(g_params, [n, m, 3 * k])),
        FlexTensor::from_data(TensorData::new(g_inputs, [n, m])),
    )
}

/// The CPU backend: the fused kernel, in f32 and f64 (the precisions of flows).
impl FlowBackend for burn::backend::Flex {
    fn rq_spline(params: FlexTensor, inputs: FlexTensor, inverse: bool) -> FlexTensor {
        match params.dtype() {
            DType::F64 => fused_rq_spline::<f64>(params, inputs, inverse),
            DType::F32 => fused_rq_spline::<f32>(params, inputs, inverse),
            other => panic!("splines run in f32 or f64, not {other:?}"),
        }
    }

    fn rq_spline_backward() -> Option<SplineBackward<Self>> {
        Some(|params, inputs, inverse, grad| match params.dtype() {
            DType::F64 => fused_rq_spline_backward::<f64>(params, inputs, inverse, grad),
            DType::F32 => fused_rq_spline_backward::<f32>(params, inputs, inverse, grad),
            other => panic!("splines run in f32 or f64, not {other:?}"),
        })
    }
}

/// CUDA: the tensor implementation (a fused CUDA kernel would go here).
#[cfg(feature = "cuda")]
impl FlowBackend for burn::backend::Cuda {}

/// With a fused backward inside, the spline is one node of the autodiff graph, whose backward is
/// the inner backend's; without, autodiff records the tensor implementation.
impl<B: FlowBackend, C: CheckpointStrategy> FlowBackend for Autodiff<B, C> {
    fn rq_spline(
        params: FloatTensor<Self>,
        inputs: FloatTensor<Self>,
        inverse: bool,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Spline;

        impl<B: FlowBackend> Backward<B, 2> for Spline {
            type State = (SplineBackward<B>, FloatTensor<B>, FloatTensor<B>, bool);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (backward, params, inputs, inverse) = ops.state;
                let grad = grads.consume::<B>(&ops.node);
                let (g_params, g_inputs) = backward(params, inputs, inverse, grad);
                let [params_node, inputs_node] = ops.parents;
                if let Some(node) = params_node {
                    grads.register::<B>(node.id, g_params);
                }
                if let Some(node) = inputs_node {
                    grads.register::<B>(node.id, g_inputs);
                }
            }
        }

        let Some(backward) = B::rq_spline_backward() else {
            return composite::apply::<Self>(float(params), float(inputs), inverse)
                .into_primitive()
                .tensor();
        };
        let output = B::rq_spline(params.primitive.clone(), inputs.primitive.clone(), inverse);
        match Spline
            .prepare::<C>([params.node.clone(), inputs.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                (backward, params.primitive, inputs.primitive, inverse),
                output,
            ),
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }
}
