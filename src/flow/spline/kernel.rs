//! One rational-quadratic spline at one point, with its reverse-mode derivatives written out by
//! hand: the fused CPU implementation of [`super::FlowBackend::rq_spline`] and its backward.
//!
//! A spline's parameters are one row of `3K` unconstrained values, `[widths (K) | heights (K) |
//! interior derivatives (K − 1) | end derivative (1)]`, mapped exactly as the tensor
//! implementation in `composite.rs` maps them (softmax bin sizes of at least `MIN_BIN_SIZE`, knot
//! derivatives `MIN_DERIVATIVE + softplus(raw + c)`), so the two agree to rounding; the tests
//! check the values and every derivative against burn's autodiff of that implementation.

use super::{MIN_BIN_SIZE, MIN_DERIVATIVE, size_scale};
use crate::flow::positive::{SOFTPLUS_LINEAR_ABOVE, positive_offset};
use num_traits::Float;

/// Work space for one spline of K bins, reused from point to point.
pub(super) struct Scratch<F> {
    /// Softmax probabilities of the widths.
    p_x: Vec<F>,
    /// Softmax probabilities of the heights.
    p_y: Vec<F>,
    /// Input knots, `K + 1`.
    x: Vec<F>,
    /// Output knots, `K + 1`.
    y: Vec<F>,
    /// Gradients with respect to the bin sizes.
    g_size: Vec<F>,
    /// The c of a knot derivative `MIN_DERIVATIVE + softplus(raw + c)`.
    offset: F,
}

impl<F: Float> Scratch<F> {
    /// Work space for splines of `bins` bins.
    pub(super) fn new(bins: usize) -> Self {
        Scratch {
            p_x: vec![F::zero(); bins],
            p_y: vec![F::zero(); bins],
            x: vec![F::zero(); bins + 1],
            y: vec![F::zero(); bins + 1],
            g_size: vec![F::zero(); bins],
            offset: real(positive_offset(MIN_DERIVATIVE)),
        }
    }
}

fn real<F: Float>(value: f64) -> F {
    F::from(value).expect("a float constant")
}

/// Softmax probabilities `p` of `raw` and the knots: exactly 0, the running sums of the bin sizes
/// `MIN_BIN_SIZE + (1 − K·MIN_BIN_SIZE) p`, exactly 1.
fn knots<F: Float>(raw: &[F], p: &mut [F], out: &mut [F]) {
    let k = raw.len();
    let max = raw.iter().fold(F::neg_infinity(), |m, &r| m.max(r));
    let mut total = F::zero();
    for (pi, &r) in p.iter_mut().zip(raw) {
        *pi = (r - max).exp();
        total = total + *pi;
    }
    let scale = real::<F>(size_scale(k));
    let min = real::<F>(MIN_BIN_SIZE);
    out[0] = F::zero();
    let mut sum = F::zero();
    for i in 0..k {
        p[i] = p[i] / total;
        if i + 1 < k {
            sum = sum + (p[i] * scale + min);
            out[i + 1] = sum;
        }
    }
    out[k] = F::one();
}

/// The knot derivative `MIN_DERIVATIVE + softplus(raw + offset)` and its derivative with respect
/// to `raw`.
fn derivative<F: Float>(raw: F, offset: F) -> (F, F) {
    let x = raw + offset;
    let softplus = if x > real(SOFTPLUS_LINEAR_ABOVE) {
        x
    } else {
        x.exp().ln_1p()
    };
    let sigmoid = F::one() / (F::one() + (-x).exp());
    (real::<F>(MIN_DERIVATIVE) + softplus, sigmoid)
}

/// A bin of a spline: its lower-left corner, its size and the derivatives at its two knots (or
/// the gradient of a scalar with respect to each).
#[derive(Clone, Copy)]
struct Shape<F> {
    x0: F,
    width: F,
    y0: F,
    height: F,
    d0: F,
    d1: F,
}

/// The bin that holds a point.
struct Bin<F> {
    index: usize,
    shape: Shape<F>,
    /// d d₀/d raw and d d₁/d raw.
    d0_slope: F,
    d1_slope: F,
}

/// The number of interior knots at or below `t`: the bin index, in 0..K.
fn bin_index<F: Float>(knots: &[F], t: F) -> usize {
    knots[1..knots.len() - 1]
        .iter()
        .filter(|&&knot| t >= knot)
        .count()
}

/// Where in a row of `3K` parameters the raw derivative at knot `i` (0..=K) is: the interior
/// ones in order, the shared end value for both ends.
fn derivative_slot(k: usize, i: usize) -> usize {
    if i == 0 || i == k {
        3 * k - 1
    } else {
        2 * k + i - 1
    }
}

/// Knots of `params` into `scratch`, and the bin of `t` (an input, or an output when `inverse`).
fn locate<F: Float>(params: &[F], t: F, inverse: bool, scratch: &mut Scratch<F>) -> Bin<F> {
    let k = scratch.p_x.len();
    knots(&params[..k], &mut scratch.p_x, &mut scratch.x);
    knots(&params[k..2 * k], &mut scratch.p_y, &mut scratch.y);
    let index = bin_index(if inverse { &scratch.y } else { &scratch.x }, t);
    let (d0, d0_slope) = derivative(params[derivative_slot(k, index)], scratch.offset);
    let (d1, d1_slope) = derivative(params[derivative_slot(k, index + 1)], scratch.offset);
    Bin {
        index,
        shape: Shape {
            x0: scratch.x[index],
            width: scratch.x[index + 1] - scratch.x[index],
            y0: scratch.y[index],
            height: scratch.y[index + 1] - scratch.y[index],
            d0,
            d1,
        },
        d0_slope,
        d1_slope,
    }
}

impl<F: Float> Shape<F> {
    /// `(v, ln dv/du)` at position ξ = (u − x₀)/w in the bin.
    fn evaluate(&self, xi: F) -> (F, F) {
        let two = real::<F>(2.0);
        let s = self.height / self.width;
        let q = xi * (F::one() - xi);
        let denominator = s + (self.d0 + self.d1 - two * s) * q;
        let numerator = self.height * (s * xi * xi + self.d0 * q);
        let rest = F::one() - xi;
        let m = self.d1 * xi * xi + two * s * q + self.d0 * rest * rest;
        (
            self.y0 + numerator / denominator,
            two * s.ln() + m.ln() - two * denominator.ln(),
        )
    }

    /// ξ where the spline takes the value `v`: the root of the bin's quadratic in the form that
    /// does not cancel (Durkan et al. 2019, appendix A.3).
    fn solve(&self, v: F) -> F {
        let two = real::<F>(2.0);
        let s = self.height / self.width;
        let rise = v - self.y0;
        let curvature = self.d0 + self.d1 - two * s;
        let a = self.height * (s - self.d0) + rise * curvature;
        let b = self.height * self.d0 - rise * curvature;
        let c = -s * rise;
        let discriminant = (b * b - real::<F>(4.0) * a * c).max(F::zero());
        two * c / (-b - discriminant.sqrt())
    }

    /// The gradient of `g_v·v + g_log·ln dv/du` at ξ with respect to u and the bin's quantities
    /// (the reverse of [`Shape::evaluate`], step by step).
    fn adjoint(&self, xi: F, g_v: F, g_log: F) -> (F, Shape<F>) {
        let two = real::<F>(2.0);
        let (w, h, d0, d1) = (self.width, self.height, self.d0, self.d1);
        let s = h / w;
        let rest = F::one() - xi;
        let q = xi * rest;
        let c = d0 + d1 - two * s;
        let denominator = s + c * q;
        let numerator = h * (s * xi * xi + d0 * q);
        let m = d1 * xi * xi + two * s * q + d0 * rest * rest;

        let mut g = Shape {
            x0: F::zero(),
            width: F::zero(),
            y0: g_v,
            height: F::zero(),
            d0: F::zero(),
            d1: F::zero(),
        };
        let g_numerator = g_v / denominator;
        let g_denominator =
            -g_v * numerator / (denominator * denominator) - two * g_log / denominator;
        let g_m = g_log / m;
        let mut g_s = two * g_log / s;
        // m = d₁ξ² + 2sq + d₀(1 − ξ)²
        g.d1 = g_m * xi * xi;
        g_s = g_s + g_m * two * q;
        let mut g_q = g_m * two * s;
        g.d0 = g_m * rest * rest;
        let mut g_xi = g_m * two * (d1 * xi - d0 * rest);
        // numerator = h (sξ² + d₀q)
        g.height = g_numerator * (s * xi * xi + d0 * q);
        g_s = g_s + g_numerator * h * xi * xi;
        g_xi = g_xi + g_numerator * h * two * s * xi;
        g.d0 = g.d0 + g_numerator * h * q;
        g_q = g_q + g_numerator * h * d0;
        // denominator = s + c q, c = d₀ + d₁ − 2s
        g_s = g_s + g_denominator;
        let g_c = g_denominator * q;
        g_q = g_q + g_denominator * c;
        g.d0 = g.d0 + g_c;
        g.d1 = g.d1 + g_c;
        g_s = g_s - two * g_c;
        // q = ξ(1 − ξ)
        g_xi = g_xi + g_q * (F::one() - two * xi);
        // s = h / w
        g.height = g.height + g_s / w;
        g.width = -g_s * s / w;
        // ξ = (u − x₀) / w
        g.x0 = -g_xi / w;
        g.width = g.width - g_xi * xi / w;
        (g_xi / w, g)
    }
}

/// `(v, ln |dv/du|)` of the spline with parameters `params` at `t`: v = f(t) or, when `inverse`,
/// v = f⁻¹(t).
pub(super) fn apply<F: Float>(
    params: &[F],
    t: F,
    inverse: bool,
    scratch: &mut Scratch<F>,
) -> (F, F) {
    let bin = locate(params, t, inverse, scratch).shape;
    if inverse {
        let xi = bin.solve(t);
        let (_, log_derivative) = bin.evaluate(xi);
        (bin.x0 + xi * bin.width, -log_derivative)
    } else {
        bin.evaluate((t - bin.x0) / bin.width)
    }
}

/// The backward of [`apply`]: given the gradients `g_v` and `g_log` of a loss with respect to its
/// two outputs, writes the loss's gradient with respect to `params` into `g_params` and returns
/// the one with respect to `t`.
pub(super) fn backward<F: Float>(
    params: &[F],
    t: F,
    inverse: bool,
    (g_v, g_log): (F, F),
    scratch: &mut Scratch<F>,
    g_params: &mut [F],
) -> F {
    let bin = locate(params, t, inverse, scratch);
    let shape = bin.shape;
    let (g_t, g) = if inverse {
        // u = f⁻¹(t), ℓ = −ln f'(u): with a = g_u − g_ℓ ∂ ln f'/∂u, the loss moves by
        // a·du − g_ℓ ∂ ln f'/∂θ dθ and du = (dt − ∂f/∂θ dθ)/f'.
        let xi = shape.solve(t);
        let (_, log_slope) = shape.evaluate(xi);
        let slope = log_slope.exp();
        let (dlog_slope_du, _) = shape.adjoint(xi, F::zero(), F::one());
        let a = g_v - g_log * dlog_slope_du;
        (a / slope, shape.adjoint(xi, -a / slope, -g_log).1)
    } else {
        shape.adjoint((t - shape.x0) / shape.width, g_v, g_log)
    };
    let k = scratch.p_x.len();
    softmax_backward(
        &scratch.p_x,
        bin.index,
        g.x0,
        g.width,
        &mut scratch.g_size,
        &mut g_params[..k],
    );
    softmax_backward(
        &scratch.p_y,
        bin.index,
        g.y0,
        g.height,
        &mut scratch.g_size,
        &mut g_params[k..2 * k],
    );
    for value in &mut g_params[2 * k..] {
        *value = F::zero();
    }
    for (knot, g_d, slope) in [
        (bin.index, g.d0, bin.d0_slope),
        (bin.index + 1, g.d1, bin.d1_slope),
    ] {
        let slot = derivative_slot(k, knot);
        g_params[slot] = g_params[slot] + g_d * slope;
    }
    g_t
}

/// The gradient with respect to the raw sizes when the loss depends on the knot `index` (the sum
/// of the sizes below it) with gradient `g_start` and on the bin's size with gradient `g_size`.
/// (Using size `index` for the bin's width, where the tensor implementation takes 1 minus the
/// knot below, changes every size's gradient by the same amount, which the softmax cancels.)
fn softmax_backward<F: Float>(
    p: &[F],
    index: usize,
    g_start: F,
    g_size: F,
    g_sizes: &mut [F],
    g_raw: &mut [F],
) {
    let scale = real::<F>(size_scale(p.len()));
    for (j, g) in g_sizes.iter_mut().enumerate() {
        *g = if j < index {
            g_start
        } else if j == index {
            g_size
        } else {
            F::zero()
        };
    }
    let mean = p
        .iter()
        .zip(g_sizes.iter())
        .fold(F::zero(), |acc, (&pj, &gj)| acc + pj * gj);
    for ((out, &pj), &gj) in g_raw.iter_mut().zip(p).zip(g_sizes.iter()) {
        *out = scale * pj * (gj - mean);
    }
}
