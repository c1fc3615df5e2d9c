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
    let offset = (1.0 - floor).exp_m1().ln();
    softplus(raw.add_scalar(offset)).add_scalar(floor)
}

/// ln(1 + eˣ), linear above a threshold so that it never overflows (burn's `softplus` does, in
/// f32 beyond x ≈ 88 and in f64 beyond x ≈ 709).
pub fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    // ln(1 + e³⁰) − 30 ≈ 9e-14.
    const LINEAR_ABOVE: f64 = 30.0;
    x.clone().clamp_max(LINEAR_ABOVE).exp().log1p() + relu(x.sub_scalar(LINEAR_ABOVE))
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
