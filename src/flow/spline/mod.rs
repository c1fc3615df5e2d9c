//! Monotone rational-quadratic splines (Gregory & Delbourgo 1982, as used by Durkan et al. 2019,
//! "Neural Spline Flows"): a batch of splines, one per point and coordinate, of [0, 1] onto
//! itself, as one backend operation ([`FlowBackend::rq_spline`]) with a fused CPU kernel and a
//! tensor implementation for every other backend.

mod autodiff;
mod composite;
mod cpu;
mod kernel;
mod op;

pub use op::{AutodiffFlowBackend, FlowBackend};

use burn::prelude::*;

/// Smallest width and height of a bin, as a fraction of the interval.
pub(crate) const MIN_BIN_SIZE: f64 = 1e-3;

/// Smallest derivative at a knot.
const MIN_DERIVATIVE: f64 = 1e-3;

/// A bin's size is `MIN_BIN_SIZE + size_scale(K)·p` for its softmax probability p, so that the K
/// sizes add up to 1.
fn size_scale(k: usize) -> f64 {
    1.0 - k as f64 * MIN_BIN_SIZE
}

/// `(v, ln |dv/dt|)`, `[n, m]` each, of the splines with parameters `params` `[n, m, 3K]` (per
/// spline `[raw widths (K) | raw heights (K) | raw interior knot derivatives (K − 1) | raw end
/// derivative (1)]`; all zeros give the identity) at `t` `[n, m]` in [0, 1], or of their inverses.
pub(crate) fn rational_quadratic<B: FlowBackend>(
    params: Tensor<B, 3>,
    t: Tensor<B, 2>,
    inverse: bool,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let [n, m] = t.dims();
    let out: Tensor<B, 3> = op::float(B::rq_spline(
        params.into_primitive().tensor(),
        t.into_primitive().tensor(),
        inverse,
    ));
    (
        out.clone().slice_dim(0, 0..1).reshape([n, m]),
        out.slice_dim(0, 1..2).reshape([n, m]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::TensorData;

    /// Packed parameters `[n, m, 3K]`: the same m random splines with K bins for every point,
    /// their shared end derivative −0.7 raw.
    fn shared(n: usize, m: usize, k: usize, scale: f64) -> Tensor<TestBackend, 3> {
        let one: Vec<f64> = (0..m)
            .flat_map(|c| {
                let mut row = points(1, 3 * k - 1, scale, 10 + c as u64);
                row.push(-0.7);
                row
            })
            .collect();
        let all: Vec<f64> = (0..n).flat_map(|_| one.iter().copied()).collect();
        crate::flow::from_f64(all, [n, m, 3 * k], &device())
    }

    /// Both implementations: the backend's (fused on the CPU) and the tensor one.
    fn both(
        params: &Tensor<TestBackend, 3>,
        t: &[f64],
        inverse: bool,
    ) -> [(Vec<f64>, Vec<f64>); 2] {
        let [n, m, _] = params.dims();
        let fused = rational_quadratic(params.clone(), tensor(t, n, m), inverse);
        let reference = composite::apply(params.clone(), tensor(t, n, m), inverse);
        let [v, l] = [0, 1].map(|i| reference.clone().slice_dim(0, i..i + 1).reshape([n, m]));
        [(values(fused.0), values(fused.1)), (values(v), values(l))]
    }

    #[test]
    fn zero_parameters_give_the_identity() {
        let params = Tensor::zeros([4, 2, 15], &device());
        let u: Vec<f64> = points(4, 2, 0.5, 7).iter().map(|x| x + 0.5).collect();
        for (v, log_derivative) in both(&params, &u, false) {
            for (a, b) in u.iter().zip(v) {
                assert!((a - b).abs() < 1e-15, "{a} became {b}");
            }
            assert!(log_derivative.iter().all(|l| l.abs() < 1e-14));
        }
    }

    #[test]
    fn increasing_onto_the_unit_interval_and_invertible() {
        let n = 401;
        let params = shared(n, 2, 6, 2.0);
        // Both coordinates on a grid of [0, 1], ends and knots included.
        let grid: Vec<f64> = (0..n)
            .flat_map(|i| [i as f64 / (n - 1) as f64; 2])
            .collect();
        let forward = both(&params, &grid, false);
        for (v, log_derivative) in &forward {
            for c in 0..2 {
                assert!(v[c].abs() < 1e-15 && (v[2 * (n - 1) + c] - 1.0).abs() < 1e-15);
                assert!((1..n).all(|i| v[2 * i + c] > v[2 * (i - 1) + c]));
            }
            for (u, log_derivative_inverse) in both(&params, v, true) {
                for (a, b) in grid.iter().zip(u) {
                    assert!((a - b).abs() < 1e-12, "round trip: {a} became {b}");
                }
                for (f, i) in log_derivative.iter().zip(log_derivative_inverse) {
                    assert!((f + i).abs() < 1e-10);
                }
            }
        }
    }

    #[test]
    fn log_derivative_matches_differences() {
        let n = 50;
        let params = shared(3 * n, 1, 4, 1.5);
        let h = 1e-6;
        let u: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let batch: Vec<f64> = [-h, 0.0, h]
            .iter()
            .flat_map(|s| u.iter().map(move |x| x + s))
            .collect();
        for (v, log_derivative) in both(&params, &batch, false) {
            for i in 0..n {
                let by_differences = ((v[2 * n + i] - v[i]) / (2.0 * h)).ln();
                assert!((by_differences - log_derivative[n + i]).abs() < 1e-7);
            }
        }
    }

    /// n points × m coordinates, each with its own random spline of K bins, and inputs on
    /// [0, 1] with both ends and some knots among them. With `extreme`, every 7th spline's raw
    /// values are up to ±40: bins near their minimum size and knot derivatives in softplus's
    /// linear range.
    fn random_batch(
        n: usize,
        m: usize,
        k: usize,
        seed: u64,
        extreme: bool,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut params = points(n * m, 3 * k, 2.5, seed);
        if extreme {
            for row in params.chunks_mut(3 * k).step_by(7) {
                row.iter_mut().for_each(|v| *v *= 16.0);
            }
        }
        let mut t: Vec<f64> = points(n, m, 0.5, seed + 1)
            .iter()
            .map(|x| x + 0.5)
            .collect();
        t[0] = 0.0;
        t[1] = 1.0;
        (params, t)
    }

    #[test]
    fn the_fused_kernel_equals_the_tensor_implementation_with_its_gradients() {
        type Ad = burn::backend::Autodiff<TestBackend>;
        // The CPU backend's own kernel, not the tensor implementation, is under test.
        assert!(TestBackend::rq_spline_backward().is_some());
        let (n, m, k) = (300, 3, 7);
        let (raw, t) = random_batch(n, m, k, 5, true);
        // Upstream gradients of both outputs, so the backward sees every path.
        let upstream =
            crate::flow::from_f64::<Ad, 3>(points(2, n * m, 1.0, 9), [2, n, m], &device());
        for inverse in [false, true] {
            // The inverse's inputs: the forward's outputs, so each lies where a spline reaches.
            let t = if inverse {
                let params = crate::flow::from_f64(raw.clone(), [n, m, 3 * k], &device());
                both(&params, &t, false)[1].0.clone()
            } else {
                t.clone()
            };
            let run = |fused: bool| {
                let params = crate::flow::from_f64::<Ad, 3>(raw.clone(), [n, m, 3 * k], &device())
                    .require_grad();
                let inputs =
                    crate::flow::from_f64::<Ad, 2>(t.clone(), [n, m], &device()).require_grad();
                let out = if fused {
                    let (v, l) = rational_quadratic(params.clone(), inputs.clone(), inverse);
                    Tensor::stack(vec![v, l], 0)
                } else {
                    composite::apply(params.clone(), inputs.clone(), inverse)
                };
                let gradients = (out.clone() * upstream.clone()).sum().backward();
                (
                    values(out.inner()),
                    values(params.grad(&gradients).unwrap()),
                    values(inputs.grad(&gradients).unwrap()),
                )
            };
            let (fused, reference) = (run(true), run(false));
            // Values and gradients agree to rounding (1e-12 and 1e-9 relative); on the extreme
            // splines, ill-conditioned, the two orders of summation differ by up to 1e-7.
            let close = |a: &[f64], b: &[f64], per_spline: usize, tol: f64, what: &str| {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    let extreme = ((i / per_spline) % (n * m)).is_multiple_of(7);
                    let tol = if extreme { 1e-7 } else { tol };
                    assert!(
                        (x - y).abs() <= tol * (1.0 + y.abs()),
                        "{what} (inverse {inverse}) at {i}: fused {x}, tensor ops {y}"
                    );
                }
            };
            close(&fused.0, &reference.0, 1, 1e-12, "value");
            close(
                &fused.1,
                &reference.1,
                3 * k,
                1e-9,
                "gradient of the parameters",
            );
            close(&fused.2, &reference.2, 1, 1e-9, "gradient of the inputs");
        }
    }

    #[test]
    fn the_fused_kernel_runs_in_f32() {
        let (n, m, k) = (64, 2, 8);
        let (raw, t) = random_batch(n, m, k, 11, false);
        let upstream = points(2, n * m, 1.0, 13);
        let as_f32 = |values: &[f64], shape: Vec<usize>| {
            let values: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            FlexTensor::from_data(TensorData::new(values, shape))
        };
        let as_f64 = |values: &[f64], shape: Vec<usize>| {
            FlexTensor::from_data(TensorData::new(values.to_vec(), shape))
        };
        let backward = TestBackend::rq_spline_backward().unwrap();
        for inverse in [false, true] {
            let run = |tensor: &dyn Fn(&[f64], Vec<usize>) -> FlexTensor| {
                let (params, inputs) = (tensor(&raw, vec![n, m, 3 * k]), tensor(&t, vec![n, m]));
                let out = TestBackend::rq_spline(params.clone(), inputs.clone(), inverse);
                let (g_params, g_inputs) =
                    backward(params, inputs, inverse, tensor(&upstream, vec![2, n, m]));
                [out, g_params, g_inputs].map(|x| {
                    x.into_data()
                        .convert::<f64>()
                        .to_vec::<f64>()
                        .expect("float values")
                })
            };
            let (single, double) = (run(&as_f32), run(&as_f64));
            for (what, (a, b)) in ["values", "parameter gradients", "input gradients"]
                .iter()
                .zip(single.iter().zip(&double))
            {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() < 2e-4 * (1.0 + y.abs()),
                        "{what} (inverse {inverse}) at {i}: {x} in f32, {y} in f64"
                    );
                }
            }
        }
    }
}
