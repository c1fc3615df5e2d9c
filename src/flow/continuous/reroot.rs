//! A work-around for burn-autodiff 0.21's graph bookkeeping in long computations that use the
//! same parameters many times (ODE solves, objectives over many times).

use crate::backend::FlowBackend;
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

/// `module` with every parameter replaced by a copy one op away from it; gradients still reach
/// the original parameters. Use the copy for one long computation (one solve), then drop it.
///
/// Why: burn-autodiff 0.21 keeps one graph per connected computation and merges graphs when an
/// op joins them, keeping an arbitrary one of the two and moving the other's entries into it. A
/// parameter is the origin of its own graph, and after its graph has been merged twice the
/// parameter's entry points to an emptied graph; each later use of the parameter merges again,
/// moving the whole growing graph half of the time. With parameters used directly in every
/// step, a solve's forward pass took time quadratic in its number of steps (4.2 s instead of
/// 0.44 s for 50 RK4 steps of the 2-D gated field, batch 256). The copies are ordinary nodes,
/// which the merges keep track of.
pub fn rerooted<B: FlowBackend, M: Module<B>>(module: M) -> M {
    module.map(&mut Reroot)
}

/// Replaces each float parameter by `parameter · 1`.
struct Reroot;

impl<B: FlowBackend> ModuleMapper<B> for Reroot {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.mul_scalar(1.0), mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::continuous::TimeDependent;
    use crate::flow::continuous::test_support::*;
    use crate::flow::testing::*;
    use crate::flow::{Activation, GatedField, from_f64};

    /// The copy computes the same values, and backpropagating through it gives the original
    /// parameters the same gradients as using them directly.
    #[test]
    fn copies_compute_the_same_and_pass_gradients_on() {
        let field: GatedField<TestAutodiff> = random_field(2, Activation::Silu);
        let x = || from_f64(points(5, 2, 1.0, 141), [5, 2], &device());
        let t = || tensor1(&times(5, 142));
        let direct = field.forward(x(), t());
        let copied = rerooted(field.clone()).forward(x(), t());
        assert_eq!(
            values(direct.clone().inner()),
            values(copied.clone().inner())
        );
        let gradients = |loss: Tensor<TestAutodiff, 2>| {
            let grads = loss.powi_scalar(2).sum().backward();
            (0..24)
                .map(|p| parameter_gradient(&field, &grads, p))
                .collect::<Vec<_>>()
        };
        let (direct, copied) = (gradients(direct), gradients(copied));
        assert!(direct.iter().flatten().any(|g| *g != 0.0));
        assert_eq!(direct, copied);
    }
}
