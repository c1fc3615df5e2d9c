//! A path with a known exact solution: Gaussian base N(0, I) to a Gaussian target through
//! Gaussians, where V, C(t) and log Z are known in closed form.

use crate::flow::TimeDependent;
use crate::flow::testing::*;
use crate::flow::{Activation, Base, BaseConfig, DiagGaussianConfig, MlpConfig, from_f64};
use crate::train::pde::{Energies, PdeModelConfig, continuity_residual, gauss_legendre};
use burn::prelude::*;
use std::f64::consts::PI;

/// f_t = t |x|²/(2s²) + (1 − t)(|x|²/2 + c₀) + t(1 − t) b |x|², c₀ = (d/2) log 2π, is
/// a(t) |x|²/2 + (1 − t) c₀ with a(t) = t/s² + 1 − t + 2b t(1 − t): p_t = N(0, I/a(t)),
/// log Z_t = t c₀ − (d/2) log a(t), C(t) = c₀ − (d/2) a'/a, and V = −(a'/2a) x · `error`
/// (the exact field when `error` = 1).
struct Path {
    dim: usize,
    s: f64,
    b: f64,
    error: f64,
}

impl Path {
    fn a(&self, t: f64) -> f64 {
        t / (self.s * self.s) + 1.0 - t + 2.0 * self.b * t * (1.0 - t)
    }

    fn a_prime(&self, t: f64) -> f64 {
        1.0 / (self.s * self.s) - 1.0 + 2.0 * self.b * (1.0 - 2.0 * t)
    }

    fn c0(&self) -> f64 {
        0.5 * self.dim as f64 * (2.0 * PI).ln()
    }

    fn rate(&self, t: f64) -> f64 {
        self.c0() - 0.5 * self.dim as f64 * self.a_prime(t) / self.a(t)
    }

    fn log_z(&self, t: f64) -> f64 {
        t * self.c0() - 0.5 * self.dim as f64 * self.a(t).ln()
    }

    /// g(t) and g'(t) of V = g(t) x, as `[n]` tensors (computed on the host).
    fn g(&self, t: &Tensor<TestBackend, 1>) -> (Tensor<TestBackend, 1>, Tensor<TestBackend, 1>) {
        let t = values(t.clone());
        let g = |t: f64| -0.5 * self.error * self.a_prime(t) / self.a(t);
        let h = 1e-6;
        let slope: Vec<f64> = t
            .iter()
            .map(|&t| (g(t + h) - g(t - h)) / (2.0 * h))
            .collect();
        let value: Vec<f64> = t.iter().map(|&t| g(t)).collect();
        (tensor1(&value), tensor1(&slope))
    }
}

fn tensor1(v: &[f64]) -> Tensor<TestBackend, 1> {
    from_f64(v.to_vec(), [v.len()], &device())
}

/// V = g(t) x.
impl TimeDependent<TestBackend> for Path {
    fn dim(&self) -> usize {
        self.dim
    }

    fn dim_output(&self) -> usize {
        self.dim
    }

    fn forward(
        &self,
        x: Tensor<TestBackend, 2>,
        t: Tensor<TestBackend, 1>,
    ) -> Tensor<TestBackend, 2> {
        x * self.g(&t).0.unsqueeze_dim(1)
    }

    fn jvp(
        &self,
        x: Tensor<TestBackend, 2>,
        t: Tensor<TestBackend, 1>,
        vx: Tensor<TestBackend, 3>,
        vt: Option<Tensor<TestBackend, 2>>,
    ) -> (Tensor<TestBackend, 2>, Tensor<TestBackend, 3>) {
        let [m, n, d] = vx.dims();
        let (g, slope) = self.g(&t);
        let g3 = g.clone().reshape([1, n, 1]).expand([m, n, d]);
        let mut tangent = vx * g3;
        if let Some(vt) = vt {
            let rate = vt.reshape([m, n, 1]).expand([m, n, d]);
            let moved = (x.clone() * slope.unsqueeze_dim(1))
                .unsqueeze_dim::<3>(0)
                .expand([m, n, d]);
            tangent = tangent + rate * moved;
        }
        (x * g.unsqueeze_dim(1), tangent)
    }
}

/// NN(x, t) = b |x|².
struct Quadratic(f64);

impl TimeDependent<TestBackend> for Quadratic {
    fn dim(&self) -> usize {
        0
    }

    fn dim_output(&self) -> usize {
        1
    }

    fn forward(
        &self,
        x: Tensor<TestBackend, 2>,
        _t: Tensor<TestBackend, 1>,
    ) -> Tensor<TestBackend, 2> {
        x.powi_scalar(2).sum_dim(1).mul_scalar(self.0)
    }

    fn jvp(
        &self,
        x: Tensor<TestBackend, 2>,
        t: Tensor<TestBackend, 1>,
        vx: Tensor<TestBackend, 3>,
        _vt: Option<Tensor<TestBackend, 2>>,
    ) -> (Tensor<TestBackend, 2>, Tensor<TestBackend, 3>) {
        let tangent = (vx * x.clone().unsqueeze_dim::<3>(0))
            .sum_dim(2)
            .mul_scalar(2.0 * self.0);
        (self.forward(x, t), tangent)
    }
}

/// The largest |ε| of `path` over random points and the 51 grid times, with u = |x|²/(2s²),
/// the true base energy, NN = b |x|² (when b ≠ 0) and the exact C(t).
fn worst_residual(path: &Path) -> f64 {
    let (n, d) = (40, path.dim);
    let times: Vec<f64> = (0..51).map(|k| k as f64 / 50.0).collect();
    let t: Vec<f64> = times
        .iter()
        .flat_map(|&t| std::iter::repeat_n(t, n))
        .collect();
    let m = t.len();
    let x = points(m, d, 3.0, 5);
    let s2 = path.s * path.s;
    let u: Vec<f64> = x
        .chunks(d)
        .map(|p| p.iter().map(|v| v * v).sum::<f64>() / (2.0 * s2))
        .collect();
    let grad_u: Vec<f64> = x.iter().map(|v| v / s2).collect();
    let base = BaseConfig::DiagGaussian(DiagGaussianConfig::standard(d));
    let base: Base<TestBackend> = base.init(&device()).unwrap();
    let (f0, grad_f0) = base.energy_and_gradient(tensor(&x, m, d)).unwrap();
    let energies = Energies {
        base: f0,
        base_gradient: grad_f0,
        target: tensor1(&u),
        target_gradient: tensor(&grad_u, m, d),
    };
    let rate: Vec<f64> = t.iter().map(|&t| path.rate(t)).collect();
    let quadratic = Quadratic(path.b);
    let nn = (path.b != 0.0).then_some(&quadratic as &dyn TimeDependent<TestBackend>);
    let residual = continuity_residual(
        path,
        nn,
        tensor(&x, m, d),
        tensor1(&t),
        energies,
        tensor1(&rate),
        None,
    );
    values(residual.estimate())
        .iter()
        .map(|e| e.abs())
        .fold(0.0, f64::max)
}

/// The exact field and rate make ε vanish, with and without the interpolation term, in 1 and
/// 2 dimensions; a field 10 % off does not.
#[test]
fn residual_vanishes_for_the_exact_solution() {
    for (dim, b) in [(1, 0.0), (2, 0.0), (1, 0.7), (2, -0.3)] {
        let exact = Path {
            dim,
            s: 0.5,
            b,
            error: 1.0,
        };
        let worst = worst_residual(&exact);
        assert!(worst < 1e-8, "d {dim}, b {b}: max |ε| = {worst}");
        let wrong = worst_residual(&Path {
            error: 1.1,
            ..exact
        });
        assert!(
            wrong > 0.1,
            "d {dim}, b {b}: a wrong field gives max |ε| = {wrong}"
        );
    }
}

/// ∫₀¹ C dt of the exact C by the quadrature of `log_z_integral` is log Z₁ − log Z₀ = log Z of
/// the target, for linear and bent paths.
#[test]
fn quadrature_of_the_exact_rate_gives_log_z() {
    let (nodes, weights) = gauss_legendre(64);
    for (dim, b) in [(1, 0.0), (2, 0.0), (3, 0.7)] {
        let path = Path {
            dim,
            s: 0.5,
            b,
            error: 1.0,
        };
        let integral: f64 = nodes
            .iter()
            .zip(&weights)
            .map(|(t, w)| w * path.rate(*t))
            .sum();
        let target = dim as f64 * (0.5 * (2.0 * PI).sqrt()).ln();
        assert!((path.log_z(1.0) - path.log_z(0.0) - target).abs() < 1e-12);
        assert!(
            (integral - target).abs() < 1e-12,
            "d {dim}, b {b}: {integral} against {target}"
        );
    }
}

/// `log_z_integral` integrates the model's C: exactly for a linear C (no hidden layer), and
/// as a fine composite Simpson rule does for a random swish MLP.
#[test]
fn log_z_integral_integrates_the_rate_network() {
    let mut config = PdeModelConfig::new(super::flow_config(1, 1.0, false, vec![4]));
    config.rate_hidden = vec![];
    let mut model = config.init::<TestBackend>(&device()).unwrap();
    model.rate = seeded(model.rate, 1.0, 9);
    let c = values(model.rate(tensor1(&[0.0, 1.0])));
    let linear = 0.5 * (c[0] + c[1]);
    assert!((model.log_z_integral() - linear).abs() < 1e-14);
    assert!(linear.abs() > 0.1, "{c:?}");

    model.rate = seeded(
        MlpConfig::new(1, vec![8, 8], 1)
            .with_activation(Activation::Silu)
            .init(&device()),
        1.5,
        10,
    );
    let intervals = 2000;
    let grid: Vec<f64> = (0..=intervals)
        .map(|k| k as f64 / intervals as f64)
        .collect();
    let c = values(model.rate(tensor1(&grid)));
    let simpson: f64 = (0..intervals / 2)
        .map(|k| (c[2 * k] + 4.0 * c[2 * k + 1] + c[2 * k + 2]) / (3.0 * intervals as f64))
        .sum();
    assert!(
        (model.log_z_integral() - simpson).abs() < 1e-12,
        "{} against {simpson}",
        model.log_z_integral()
    );
}
