//! [`FlowBackend`] on burn's autodiff backend: with a fused backward inside, the spline is one
//! node of the autodiff graph, whose backward is the inner backend's; without, autodiff records
//! the tensor implementation op by op.

use super::composite;
use super::op::{FlowBackend, SplineBackward, float};
use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::ops::FloatTensor;

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
