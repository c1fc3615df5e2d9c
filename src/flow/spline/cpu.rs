//! [`FlowBackend`] on burn's Flex, the CPU backend: the fused kernel of `kernel.rs` over
//! contiguous rows, in parallel chunks, in f32 and f64 (the precisions of flows).

use super::kernel;
use super::op::{FlowBackend, SplineBackward};
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Element, TensorData, TensorMetadata};
use num_traits::Float;
use rayon::prelude::*;

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

/// The CPU backend: the fused kernel.
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
