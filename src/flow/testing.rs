//! Checks shared by the flow tests: round trips and log-determinants against a brute-force
//! Jacobian, in f64 on the CPU backend.

use super::{Bijection, Precision, set_precision};
use crate::backend::FlowBackend;
use burn::backend::Flex;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

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

/// Replaces every float parameter of a module by small random values (still trainable where it
/// was), so that layers built as the identity become generic maps for testing. The values are
/// N(0, scale²) from a fixed seed, so tests are reproducible.
pub fn randomized<B: FlowBackend, M: Module<B>>(module: M, scale: f64) -> M {
    use rand::SeedableRng;
    module.map(&mut Refill {
        scale,
        seed: None,
        normal: rand_pcg::Pcg64::seed_from_u64(1),
        count: 0,
    })
}

/// Like [`randomized`], but reproducible: the values (uniform, of standard deviation `scale`)
/// depend only on `seed` and on the order of the parameters, not on burn's generator, so that
/// a test's thresholds hold for every run.
pub fn seeded<B: FlowBackend, M: Module<B>>(module: M, scale: f64, seed: u64) -> M {
    use rand::SeedableRng;
    module.map(&mut Refill {
        scale,
        seed: Some(seed),
        normal: rand_pcg::Pcg64::seed_from_u64(seed),
        count: 0,
    })
}

/// Refills float parameters with random values: normal from `normal`, or uniform from
/// [`points`] when `seed` is given.
struct Refill {
    scale: f64,
    seed: Option<u64>,
    normal: rand_pcg::Pcg64,
    count: u64,
}

impl<B: FlowBackend> ModuleMapper<B> for Refill {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        let values = match self.seed {
            None => {
                use rand_distr::{Distribution, StandardNormal};
                let n = tensor.shape().num_elements();
                let normal = (0..n)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(&mut self.normal);
                        self.scale * z
                    })
                    .collect();
                super::from_f64(normal, tensor.dims(), &tensor.device())
            }
            Some(seed) => {
                let n = tensor.shape().num_elements();
                let uniform = points(n, 1, self.scale * 3f64.sqrt(), seed * 1000 + self.count);
                super::from_f64(uniform, tensor.dims(), &tensor.device())
            }
        };
        self.count += 1;
        Param::from_mapped_value(id, values.set_require_grad(require_grad), mapper)
    }
}

/// Asserts |actual − expected| ≤ tol · (|expected| + 10⁻³): relative, with a small floor.
pub fn assert_close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol * (expected.abs() + 1e-3),
        "{what}: {actual} against {expected} (difference {:e})",
        actual - expected
    );
}

/// The autodiff backend of the parameter-gradient tests.
pub type TestAutodiff = burn::backend::Autodiff<Flex>;

/// Asserts that backpropagating `loss` (a one-element tensor) gives, for each picked parameter
/// element (index of the float parameter in the module's visiting order, flat index of the
/// element), the central difference of the loss over that element, to relative `tol`.
/// Returns the central differences, so that a test can also check they are not negligible.
pub fn assert_parameter_gradients<M: Module<TestAutodiff>>(
    module: &M,
    loss: impl Fn(&M) -> Tensor<TestAutodiff, 1>,
    picks: &[(usize, usize)],
    tol: f64,
) -> Vec<f64> {
    let h = 1e-5;
    let grads = loss(module).sum().backward();
    picks
        .iter()
        .map(|&(parameter, element)| {
            let gradient = parameter_gradient(module, &grads, parameter);
            let shifted = |delta: f64| {
                let module = module.clone().map(&mut Shift {
                    index: 0,
                    parameter,
                    element,
                    delta,
                });
                values(loss(&module).inner().sum())[0]
            };
            let difference = (shifted(h) - shifted(-h)) / (2.0 * h);
            assert_close(
                gradient[element],
                difference,
                tol,
                &format!("gradient of parameter {parameter}, element {element}"),
            );
            difference
        })
        .collect()
}

/// The gradient of a module's float parameter number `parameter` (in visiting order), zeros
/// where it has none.
pub fn parameter_gradient<M: Module<TestAutodiff>>(
    module: &M,
    grads: &<TestAutodiff as AutodiffBackend>::Gradients,
    parameter: usize,
) -> Vec<f64> {
    let mut visitor = GradientOf {
        grads,
        index: 0,
        parameter,
        gradient: None,
    };
    module.visit(&mut visitor);
    visitor.gradient.expect("the module has this parameter")
}

/// Collects the gradient of one float parameter (zeros where it has none).
struct GradientOf<'a> {
    grads: &'a <TestAutodiff as AutodiffBackend>::Gradients,
    index: usize,
    parameter: usize,
    gradient: Option<Vec<f64>>,
}

impl ModuleVisitor<TestAutodiff> for GradientOf<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<TestAutodiff, D>>) {
        if self.index == self.parameter {
            let value = param.val();
            self.gradient = Some(match value.grad(self.grads) {
                Some(g) => values(g),
                None => vec![0.0; value.shape().num_elements()],
            });
        }
        self.index += 1;
    }
}

/// Adds `delta` to one element of one float parameter.
struct Shift {
    index: usize,
    parameter: usize,
    element: usize,
    delta: f64,
}

impl ModuleMapper<TestAutodiff> for Shift {
    fn map_float<const D: usize>(
        &mut self,
        param: Param<Tensor<TestAutodiff, D>>,
    ) -> Param<Tensor<TestAutodiff, D>> {
        let hit = self.index == self.parameter;
        self.index += 1;
        if !hit {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let mut bump = vec![0.0; tensor.shape().num_elements()];
        bump[self.element] = self.delta;
        let bump = super::from_f64(bump, tensor.dims(), &tensor.device());
        Param::from_mapped_value(id, tensor + bump, mapper)
    }
}
