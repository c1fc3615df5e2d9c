//! Finite-difference checks shared by the tests of the continuous flows (f64).

use super::{GatedField, GatedFieldConfig, TimeDependent};
use crate::backend::FlowBackend;
use crate::flow::testing::*;
use crate::flow::{Activation, from_f64};
use burn::backend::flex::FlexDevice;
use burn::prelude::*;

/// Step of the central differences.
const H: f64 = 1e-5;

/// Deterministic times in [0, 1].
pub fn times(n: usize, seed: u64) -> Vec<f64> {
    points(n, 1, 0.5, seed).iter().map(|v| v + 0.5).collect()
}

/// A `[n]` tensor.
pub fn tensor1<B: FlowBackend<Device = FlexDevice>>(values: &[f64]) -> Tensor<B, 1> {
    from_f64(values.to_vec(), [values.len()], &device())
}

/// A random-weight gated field (nonzero output layers) on any backend of the tests.
pub fn random_field<B: FlowBackend<Device = FlexDevice>>(
    dim: usize,
    activation: Activation,
) -> GatedField<B> {
    let config = GatedFieldConfig {
        activation,
        ..GatedFieldConfig::new(dim, vec![6, 6])
    };
    seeded(config.init(&device()).unwrap(), 0.6, 1)
}

/// The central difference of `map` at `(x, t)` along one tangent `(vx, vt)`: `[n · k]`.
pub fn central_difference(
    map: &impl TimeDependent<TestBackend>,
    (x, t): (&[f64], &[f64]),
    (vx, vt): (&[f64], &[f64]),
) -> Vec<f64> {
    let (n, d) = (t.len(), map.dim());
    let at = |sign: f64| {
        let x: Vec<f64> = x.iter().zip(vx).map(|(a, b)| a + sign * H * b).collect();
        let t: Vec<f64> = t.iter().zip(vt).map(|(a, b)| a + sign * H * b).collect();
        values(map.forward(tensor(&x, n, d), tensor1(&t)))
    };
    let (plus, minus) = (at(1.0), at(-1.0));
    plus.iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * H))
        .collect()
}

/// Asserts that `jvp` along random tangents of x and t, and of x alone, matches central
/// differences of `forward` to relative `1e-7`, and that its value is `forward`.
pub fn assert_jvp_matches_differences(map: &impl TimeDependent<TestBackend>) {
    let (n, m, d, k) = (6, 3, map.dim(), map.dim_output());
    let x = points(n, d, 2.0, 11);
    let t = times(n, 12);
    let vx = points(m * n, d, 1.0, 13);
    let vt = points(m, n, 1.0, 14);
    let device = device();
    for with_time in [true, false] {
        let vt = if with_time {
            vt.clone()
        } else {
            vec![0.0; m * n]
        };
        let (value, tangents) = map.jvp(
            tensor(&x, n, d),
            tensor1(&t),
            from_f64(vx.clone(), [m, n, d], &device),
            with_time.then(|| tensor(&vt, m, n)),
        );
        assert_eq!(
            values(value),
            values(map.forward(tensor(&x, n, d), tensor1(&t)))
        );
        let tangents = values(tangents);
        for j in 0..m {
            let tangent = (&vx[j * n * d..(j + 1) * n * d], &vt[j * n..(j + 1) * n]);
            let expected = central_difference(map, (&x, &t), tangent);
            for (a, e) in tangents[j * n * k..(j + 1) * n * k].iter().zip(expected) {
                assert_close(*a, e, 1e-7, "tangent");
            }
        }
    }
}
