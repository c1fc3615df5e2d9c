//! Clipping the global gradient norm (over all parameters together, as FAB does; burn's own
//! clipping acts on each parameter tensor separately).

use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::flow::to_host;
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Scales all gradients so that their joint L2 norm is at most `max_norm`, and returns the norm
/// before clipping (NaN or ∞ if some gradient is not finite). The norm is computed on gradients
/// scaled by their total magnitude, so that huge but finite gradients (AIS finds points where
/// q is tiny) are clipped rather than overflowing the sum of squares.
pub fn clip_global_norm<B: AutodiffFlowBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let mut magnitude = AbsoluteSum::<B> {
        grads,
        total: 0.0,
        _b: Default::default(),
    };
    module.visit(&mut magnitude);
    let scale = magnitude.total;
    if !scale.is_finite() || scale == 0.0 {
        return scale;
    }
    let mut squares = SumOfSquares::<B> {
        grads,
        scale: 1.0 / scale,
        total: 0.0,
        _b: Default::default(),
    };
    module.visit(&mut squares);
    let norm = scale * squares.total.sqrt();
    if norm.is_finite() && norm > max_norm {
        module.visit(&mut Scale::<B> {
            grads,
            factor: max_norm / norm,
            _b: Default::default(),
        });
    }
    norm
}

/// The value of a one-element tensor, in f64 (`into_scalar` would go through the backend's
/// default element type, f32 on the CPU, whatever the tensor's own precision).
fn scalar<B: FlowBackend>(t: Tensor<B, 1>) -> f64 {
    to_host(t)[0]
}

/// Σ |g| over all gradients (NaN if any is NaN): between the largest magnitude and n times it,
/// so g / Σ|g| can be squared and summed without overflow.
struct AbsoluteSum<'a, B: AutodiffFlowBackend> {
    grads: &'a GradientsParams,
    total: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffFlowBackend> ModuleVisitor<B> for AbsoluteSum<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.total += scalar(g.abs().sum());
        }
    }
}

/// Σ (scale · g)² over all gradients.
struct SumOfSquares<'a, B: AutodiffFlowBackend> {
    grads: &'a GradientsParams,
    scale: f64,
    total: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffFlowBackend> ModuleVisitor<B> for SumOfSquares<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.total += scalar(g.mul_scalar(self.scale).powi_scalar(2).sum());
        }
    }
}

struct Scale<'a, B: AutodiffFlowBackend> {
    grads: &'a mut GradientsParams,
    factor: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffFlowBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads
                .register::<B::InnerBackend, D>(param.id, g.mul_scalar(self.factor));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::{TestAutodiff, device, randomized};
    use crate::flow::{Activation, Mlp, MlpConfig, from_f64};

    /// Gradients of `factor · Σ mlp(x)` for a small MLP, and the MLP.
    fn gradients(factor: f64) -> (Mlp<TestAutodiff>, GradientsParams) {
        let device = device();
        let mlp = randomized(
            MlpConfig::new(2, vec![4], 1)
                .with_activation(Activation::Tanh)
                .init::<TestAutodiff>(&device),
            0.5,
        );
        let x = from_f64::<TestAutodiff, 2>(vec![0.3, -0.2, 1.0, 0.5], [2, 2], &device);
        let loss = mlp.forward(x).sum().mul_scalar(factor);
        let grads = GradientsParams::from_grads(loss.backward(), &mlp);
        (mlp, grads)
    }

    fn norm_after(mlp: &Mlp<TestAutodiff>, grads: &mut GradientsParams) -> f64 {
        clip_global_norm(mlp, grads, f64::INFINITY)
    }

    #[test]
    fn clips_to_the_maximum_and_reports_the_norm_before() {
        let (mlp, mut grads) = gradients(1.0);
        let norm = clip_global_norm(&mlp, &mut grads, 1e-3);
        assert!(norm > 1e-3 && norm.is_finite());
        let after = norm_after(&mlp, &mut grads);
        assert!((after - 1e-3).abs() < 1e-15, "{after}");
    }

    /// 1e300² overflows f64: the norm is still computed, and the gradients clipped.
    #[test]
    fn huge_finite_gradients_are_clipped_not_skipped() {
        let (mlp, mut small) = gradients(1.0);
        let reference = norm_after(&mlp, &mut small);
        let (mlp, mut grads) = gradients(1e300);
        let norm = clip_global_norm(&mlp, &mut grads, 100.0);
        assert!(
            (norm / 1e300 - reference).abs() < 1e-12 * reference,
            "{norm}"
        );
        let after = norm_after(&mlp, &mut grads);
        assert!((after - 100.0).abs() < 1e-9, "{after}");
    }

    #[test]
    fn nan_gradients_give_a_nan_norm() {
        let (mlp, mut grads) = gradients(f64::NAN);
        assert!(clip_global_norm(&mlp, &mut grads, 1.0).is_nan());
    }
}
