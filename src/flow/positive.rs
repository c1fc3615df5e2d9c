//! Positive quantities (scales, slopes) from unconstrained network outputs.

use burn::prelude::*;
use burn::tensor::activation::relu;

/// `floor + softplus(raw + c)`, with c chosen so that `raw = 0` gives exactly 1 (so a zeroed
/// network means an identity layer). The floor keeps the value, and the inverse of a layer
/// built on it, away from 0 when a network's output is very negative.
pub fn positive_from_raw<B: Backend, const D: usize>(
    raw: Tensor<B, D>,
    floor: f64,
) -> Tensor<B, D> {
    softplus(raw.add_scalar(positive_offset(floor))).add_scalar(floor)
}

/// The c of [`positive_from_raw`]: floor + softplus(c) = 1.
pub fn positive_offset(floor: f64) -> f64 {
    (1.0 - floor).exp_m1().ln()
}

/// Above this, [`softplus`] is linear: ln(1 + e³⁰) − 30 ≈ 9e-14.
pub const SOFTPLUS_LINEAR_ABOVE: f64 = 30.0;

/// ln(1 + eˣ), linear above a threshold so that it never overflows (burn's `softplus` does, in
/// f32 beyond x ≈ 88 and in f64 beyond x ≈ 709).
pub fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone().clamp_max(SOFTPLUS_LINEAR_ABOVE).exp().log1p()
        + relu(x.sub_scalar(SOFTPLUS_LINEAR_ABOVE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    #[test]
    fn one_at_zero_floored_and_finite_everywhere() {
        let raw = tensor(&[0.0, -1e4, 1e4, 3.0], 1, 4);
        let v = values(positive_from_raw(raw, 0.01));
        assert!((v[0] - 1.0).abs() < 1e-15);
        assert!((v[1] - 0.01).abs() < 1e-15);
        let offset = 0.99f64.exp_m1().ln();
        assert!(
            (v[2] - (1e4 + offset + 0.01)).abs() < 1e-9,
            "linear far above"
        );
        let exact = 0.01 + (1.0 + (3.0 + offset).exp()).ln();
        assert!((v[3] - exact).abs() < 1e-14, "{} vs {exact}", v[3]);
    }
}
