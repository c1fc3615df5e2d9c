//! Clipping the global gradient norm (over all parameters together, as FAB does; burn's own
//! clipping acts on each parameter tensor separately).

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// Scales all gradients so that their joint L2 norm is at most `max_norm`, and returns the norm
/// before clipping (NaN or ∞ if some gradient is not finite).
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let mut squares = SumOfSquares::<B> {
        grads,
        total: 0.0,
        _b: Default::default(),
    };
    module.visit(&mut squares);
    let norm = squares.total.sqrt();
    if norm.is_finite() && norm > max_norm {
        module.visit(&mut Scale::<B> {
            grads,
            factor: max_norm / norm,
            _b: Default::default(),
        });
    }
    norm
}

struct SumOfSquares<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SumOfSquares<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.total += g.powi_scalar(2).sum().into_scalar().elem::<f64>();
        }
    }
}

struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads
                .register::<B::InnerBackend, D>(param.id, g.mul_scalar(self.factor));
        }
    }
}
