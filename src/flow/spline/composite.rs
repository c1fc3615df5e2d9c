//! The splines in burn's tensor ops, batched over points and coordinates: the implementation of
//! [`super::FlowBackend::rq_spline`] on backends without a fused one, and the reference the fused
//! kernel is tested against.
//!
//! Each spline maps the unit interval onto itself through K bins; coupling layers scale it to
//! their own intervals. Bins are found by comparisons and read with `gather`, so everything is
//! differentiable with respect to the spline parameters.

use super::{MIN_BIN_SIZE, MIN_DERIVATIVE, size_scale};
use crate::flow::positive::positive_from_raw;
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// `[2, n, m]`: values and log-derivatives of the splines with packed parameters `params`
/// `[n, m, 3K]` at `t` `[n, m]` (see [`super::rational_quadratic`]), or of their inverses.
pub(super) fn apply<B: Backend>(
    params: Tensor<B, 3>,
    t: Tensor<B, 2>,
    inverse: bool,
) -> Tensor<B, 3> {
    let k = params.dims()[2] / 3;
    let splines = RationalQuadratic::new(
        params.clone().slice_dim(2, 0..k),
        params.clone().slice_dim(2, k..2 * k),
        params.clone().slice_dim(2, 2 * k..3 * k - 1),
        params.slice_dim(2, 3 * k - 1..3 * k).squeeze_dim::<2>(2),
    );
    let (v, log_derivative) = if inverse {
        splines.inverse(t)
    } else {
        splines.forward(t)
    };
    Tensor::stack(vec![v, log_derivative], 0)
}

/// Derivatives at knots from unconstrained values, at least `MIN_DERIVATIVE`; `raw = 0` gives a
/// derivative of 1 (an identity spline).
fn knot_derivatives<B: Backend, const D: usize>(raw: Tensor<B, D>) -> Tensor<B, D> {
    positive_from_raw(raw, MIN_DERIVATIVE)
}

/// Knot positions `[n, m, K + 1]` from unconstrained bin sizes `[n, m, K]`: exactly 0, the
/// cumulative softmax sizes (each bin at least `MIN_BIN_SIZE`), exactly 1.
fn knots<B: Backend>(raw_sizes: Tensor<B, 3>) -> Tensor<B, 3> {
    let [n, m, k] = raw_sizes.dims();
    let device = raw_sizes.device();
    let sizes = softmax(raw_sizes, 2)
        .mul_scalar(size_scale(k))
        .add_scalar(MIN_BIN_SIZE);
    let inner = sizes.cumsum(2).slice_dim(2, 0..k - 1);
    Tensor::cat(
        vec![
            Tensor::zeros([n, m, 1], &device),
            inner,
            Tensor::ones([n, m, 1], &device),
        ],
        2,
    )
}

/// A batch of increasing splines of [0, 1] onto itself, one per point and coordinate (`[n, m]`).
struct RationalQuadratic<B: Backend> {
    /// Input knots `[n, m, K + 1]`.
    xs: Tensor<B, 3>,
    /// Output knots `[n, m, K + 1]`.
    ys: Tensor<B, 3>,
    /// Unconstrained derivatives at the knots `[n, m, K + 1]`, mapped through
    /// [`knot_derivatives`] only where needed (at the two knots of each point's bin).
    raw_derivatives: Tensor<B, 3>,
}

/// The bin that holds each point: its lower-left corner, size and end derivatives, `[n, m]` each.
struct Bin<B: Backend> {
    x0: Tensor<B, 2>,
    y0: Tensor<B, 2>,
    width: Tensor<B, 2>,
    height: Tensor<B, 2>,
    d0: Tensor<B, 2>,
    d1: Tensor<B, 2>,
}

impl<B: Backend> RationalQuadratic<B> {
    /// Splines from unconstrained bin widths and heights `[n, m, K]` (zeros: equal bins),
    /// unconstrained interior knot derivatives `[n, m, K − 1]` and one unconstrained derivative
    /// `[n, m]` shared by both ends (zeros: derivatives 1, so all zeros give the identity).
    fn new(
        raw_widths: Tensor<B, 3>,
        raw_heights: Tensor<B, 3>,
        raw_interior_derivatives: Tensor<B, 3>,
        raw_end_derivatives: Tensor<B, 2>,
    ) -> Self {
        let ends = raw_end_derivatives.unsqueeze_dim::<3>(2);
        RationalQuadratic {
            xs: knots(raw_widths),
            ys: knots(raw_heights),
            raw_derivatives: Tensor::cat(vec![ends.clone(), raw_interior_derivatives, ends], 2),
        }
    }

    /// Finds the bin of each point `t`, searching the input knots or the output knots.
    fn locate(&self, t: &Tensor<B, 2>, by_output: bool) -> Bin<B> {
        let searched = if by_output { &self.ys } else { &self.xs };
        let k = searched.dims()[2] - 1;
        let interior = searched.clone().slice_dim(2, 1..k);
        // The number of interior knots at or below t: the bin index, in 0..K.
        let index = t
            .clone()
            .unsqueeze_dim::<3>(2)
            .greater_equal(interior)
            .int()
            .sum_dim(2);
        let next = index.clone().add_scalar(1);
        let at = |values: &Tensor<B, 3>, i: &Tensor<B, 3, Int>| {
            values.clone().gather(2, i.clone()).squeeze_dim::<2>(2)
        };
        let x0 = at(&self.xs, &index);
        let y0 = at(&self.ys, &index);
        Bin {
            width: at(&self.xs, &next) - x0.clone(),
            height: at(&self.ys, &next) - y0.clone(),
            x0,
            y0,
            d0: knot_derivatives(at(&self.raw_derivatives, &index)),
            d1: knot_derivatives(at(&self.raw_derivatives, &next)),
        }
    }

    /// `(v, ln dv/du)` for inputs `u` in [0, 1], `[n, m]`.
    fn forward(&self, u: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let bin = self.locate(&u, false);
        let slope = bin.height.clone() / bin.width.clone();
        let xi = (u - bin.x0.clone()) / bin.width.clone();
        let xi_rest = xi.clone() * xi.clone().neg().add_scalar(1.0);
        let numerator = bin.height.clone()
            * (slope.clone() * xi.clone().powi_scalar(2) + bin.d0.clone() * xi_rest.clone());
        let v = bin.y0.clone() + numerator / bin.denominator(&slope, xi_rest);
        (v, bin.log_derivative(slope, xi))
    }

    /// `(u, ln du/dv)` for outputs `v` in [0, 1], `[n, m]`: the root of the bin's quadratic in
    /// the form that does not cancel (Durkan et al. 2019, appendix A.3).
    fn inverse(&self, v: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let bin = self.locate(&v, true);
        let slope = bin.height.clone() / bin.width.clone();
        let rise = v - bin.y0.clone();
        let curvature = bin.d0.clone() + bin.d1.clone() - slope.clone().mul_scalar(2.0);
        let a = bin.height.clone() * (slope.clone() - bin.d0.clone())
            + rise.clone() * curvature.clone();
        let b = bin.height.clone() * bin.d0.clone() - rise.clone() * curvature;
        let c = slope.clone().neg() * rise;
        let discriminant =
            (b.clone().powi_scalar(2) - a * c.clone().mul_scalar(4.0)).clamp_min(0.0);
        let xi = c.mul_scalar(2.0) / (b.neg() - discriminant.sqrt());
        let u = bin.x0.clone() + xi.clone() * bin.width.clone();
        (u, bin.log_derivative(slope, xi).neg())
    }
}

impl<B: Backend> Bin<B> {
    /// s + (d₀ + d₁ − 2s) ξ(1 − ξ), the denominator of the rational quadratic.
    fn denominator(&self, slope: &Tensor<B, 2>, xi_rest: Tensor<B, 2>) -> Tensor<B, 2> {
        let curvature = self.d0.clone() + self.d1.clone() - slope.clone().mul_scalar(2.0);
        slope.clone() + curvature * xi_rest
    }

    /// ln dv/du at position ξ in the bin:
    /// ln(s² [d₁ξ² + 2sξ(1 − ξ) + d₀(1 − ξ)²]) − 2 ln(denominator).
    fn log_derivative(&self, slope: Tensor<B, 2>, xi: Tensor<B, 2>) -> Tensor<B, 2> {
        let rest = xi.clone().neg().add_scalar(1.0);
        let xi_rest = xi.clone() * rest.clone();
        let numerator = self.d1.clone() * xi.powi_scalar(2)
            + slope.clone().mul_scalar(2.0) * xi_rest.clone()
            + self.d0.clone() * rest.powi_scalar(2);
        let denominator = self.denominator(&slope, xi_rest);
        slope.log().mul_scalar(2.0) + numerator.log() - denominator.log().mul_scalar(2.0)
    }
}
