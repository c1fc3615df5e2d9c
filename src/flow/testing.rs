//! Checks shared by the flow tests: round trips and log-determinants against a brute-force
//! Jacobian, in f64 on the CPU backend.

use super::{Bijection, Precision, set_precision};
use burn::backend::Flex;
use burn::prelude::*;

/// The backend of the flow tests.
pub type TestBackend = Flex;

/// The CPU device, set to f64.
pub fn device() -> burn::backend::flex::FlexDevice {
    let device = Default::default();
    set_precision::<TestBackend>(&device, Precision::F64).expect("the flow tests run in f64");
    device
}

/// A `[n, d]` tensor from row-major values.
pub fn tensor(values: &[f64], n: usize, d: usize) -> Tensor<TestBackend, 2> {
    super::from_f64(values.to_vec(), [n, d], &device())
}

/// The values of a tensor, row-major.
pub fn values<const D: usize>(t: Tensor<TestBackend, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec()
        .expect("float tensor")
}

/// Deterministic pseudo-random values in [−scale, scale].
pub fn points(n: usize, d: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n * d)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            scale * (2.0 * ((state >> 11) as f64 / (1u64 << 53) as f64) - 1.0)
        })
        .collect()
}

/// Asserts that both directions of the layer leave `z` unchanged with zero log-determinants, to
/// `tol`.
pub fn assert_identity(
    layer: &impl Bijection<TestBackend>,
    z: &[f64],
    n: usize,
    d: usize,
    tol: f64,
) {
    for (out, log_det) in [
        layer.forward(tensor(z, n, d)),
        layer.inverse(tensor(z, n, d)),
    ] {
        for (a, b) in z.iter().zip(values(out)) {
            assert!((a - b).abs() <= tol, "not the identity: {a} became {b}");
        }
        for l in values(log_det) {
            assert!(l.abs() <= tol, "log-determinant {l} of the identity");
        }
    }
}

/// Asserts `inverse(forward(z)) = z` and that the two log-determinants cancel, to `tol`.
pub fn assert_round_trip(
    layer: &impl Bijection<TestBackend>,
    z: &[f64],
    n: usize,
    d: usize,
    tol: f64,
) {
    let (x, ld_forward) = layer.forward(tensor(z, n, d));
    let (back, ld_inverse) = layer.inverse(x);
    let back = values(back);
    for (a, b) in z.iter().zip(&back) {
        assert!((a - b).abs() < tol, "round trip: {a} became {b}");
    }
    for (f, i) in values(ld_forward).iter().zip(values(ld_inverse)) {
        assert!(
            (f + i).abs() < tol,
            "log-determinants {f} and {i} do not cancel"
        );
    }
}

/// The Jacobian `[out_dim, d]` of `forward` at one point of dimension `d`, by central
/// differences with step `h`.
pub fn jacobian_by_differences(
    layer: &impl Bijection<TestBackend>,
    point: &[f64],
    h: f64,
) -> nalgebra::DMatrix<f64> {
    let d = point.len();
    // All 2d perturbed copies of the point in one batch.
    let mut batch = Vec::with_capacity(2 * d * d);
    for j in 0..d {
        for sign in [1.0, -1.0] {
            let mut p = point.to_vec();
            p[j] += sign * h;
            batch.extend(p);
        }
    }
    let (out, _) = layer.forward(tensor(&batch, 2 * d, d));
    let out = values(out);
    let out_dim = out.len() / (2 * d);
    nalgebra::DMatrix::from_fn(out_dim, d, |r, c| {
        (out[(2 * c) * out_dim + r] - out[(2 * c + 1) * out_dim + r]) / (2.0 * h)
    })
}

/// Asserts the forward log-determinant equals log|det J| of a central-difference Jacobian.
pub fn assert_log_det_matches_jacobian(
    layer: &impl Bijection<TestBackend>,
    z: &[f64],
    n: usize,
    d: usize,
    tol: f64,
) {
    let (_, log_det) = layer.forward(tensor(z, n, d));
    let log_det = values(log_det);
    for i in 0..n {
        let jacobian = jacobian_by_differences(layer, &z[i * d..(i + 1) * d], 1e-6);
        assert_eq!(
            jacobian.nrows(),
            d,
            "brute-force log-determinants need a square Jacobian"
        );
        let brute = jacobian.determinant().abs().ln();
        assert!(
            (brute - log_det[i]).abs() < tol,
            "point {i}: log|det J| = {brute} by differences, {} by the layer",
            log_det[i]
        );
    }
}

/// Replaces every float parameter of a module by small random values, so that layers built as
/// the identity become generic maps for testing. The values are N(0, scale²) from a fixed seed,
/// so tests are reproducible.
pub fn randomized<M: burn::module::Module<TestBackend>>(module: M, scale: f64) -> M {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    struct Randomize(f64, rand_pcg::Pcg64);
    impl burn::module::ModuleMapper<TestBackend> for Randomize {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<TestBackend, D>>,
        ) -> burn::module::Param<Tensor<TestBackend, D>> {
            let (id, tensor, mapper) = param.consume();
            let shape: [usize; D] = tensor.dims();
            let noise = (0..tensor.shape().num_elements())
                .map(|_| {
                    let x: f64 = StandardNormal.sample(&mut self.1);
                    self.0 * x
                })
                .collect();
            let noise = super::from_f64(noise, shape, &tensor.device());
            burn::module::Param::from_mapped_value(id, noise, mapper)
        }
    }
    module.map(&mut Randomize(scale, rand_pcg::Pcg64::seed_from_u64(1)))
}
