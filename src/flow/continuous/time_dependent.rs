//! Time-dependent networks with forward-mode tangents, and the input derivatives built from them:
//! the divergence of a vector field (exact or Hutchinson), and the spatial gradient and time
//! derivative of a scalar network.

use crate::backend::FlowBackend;
use burn::prelude::*;

/// A differentiable map (x, t) ↦ y from `R^d × [0, 1]` to `R^k`, batched (`x`: `[n, d]`, one time
/// per point `t`: `[n]`), with Jacobian–vector products written as tensor ops.
///
/// Every derivative it returns is an ordinary tensor of burn's graph, so a loss built from
/// divergences, gradients or time derivatives can be backpropagated to the parameters (burn's
/// own autodiff is first order only and cannot do this). The PDE residual's ∂_t f + ∇f · V is
/// a single [`jvp`](TimeDependent::jvp) of f along the tangent (V, 1).
pub trait TimeDependent<B: FlowBackend> {
    /// Dimension d of the spatial input x.
    fn dim(&self) -> usize;

    /// Dimension k of the output.
    fn dim_output(&self) -> usize;

    /// The map at each point: `[n, k]`.
    fn forward(&self, x: Tensor<B, 2>, t: Tensor<B, 1>) -> Tensor<B, 2>;

    /// The map and its derivatives along `m` tangents at once: `vx` (`[m, n, d]`) is the tangent
    /// of x and `vt` (`[m, n]`) that of t (`None`: time held fixed). Returns `(y, ẏ)` with
    /// shapes `[n, k]` and `[m, n, k]`.
    fn jvp(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        vx: Tensor<B, 3>,
        vt: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Tensor<B, 3>);

    /// A vector field (k = d) and its exact divergence ∇·V = tr ∂V/∂x: `([n, d], [n])`, from d
    /// tangents along the basis vectors, stacked into one pass.
    fn value_and_divergence(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
    ) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let [n, d] = x.dims();
        assert_eq!(
            self.dim_output(),
            d,
            "a divergence needs a vector field (k = d)"
        );
        // Tangent j is the unit vector e_j at every point: [d, n·d].
        let basis = Tensor::<B, 2>::eye(d, &x.device()).repeat_dim(1, n);
        let (value, tangents) = self.jvp(x, t, basis.clone().reshape([d, n, d]), None);
        // Σ_j ∂V_j/∂x_j: component j of tangent j, picked out by the same unit vectors.
        let diagonal = (tangents.reshape([d, n * d]) * basis).sum_dim(0);
        (value, diagonal.reshape([n, d]).sum_dim(1).reshape([n]))
    }

    /// A vector field (k = d) and the Hutchinson estimate of its divergence, the mean over the
    /// `m` probes ε of εᵀ (∂V/∂x) ε: `([n, d], [n])`. `probes` is `[m, n, d]`, probe `j` of
    /// point `i` at `probes[j, i]` (see [`Probe::draw`](super::Probe::draw)); the estimate is
    /// unbiased for probes of zero mean and identity covariance.
    fn value_and_hutchinson_divergence(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        probes: Tensor<B, 3>,
    ) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let [n, d] = x.dims();
        assert_eq!(
            self.dim_output(),
            d,
            "a divergence needs a vector field (k = d)"
        );
        let (value, tangents) = self.jvp(x, t, probes.clone(), None);
        let estimate = (tangents * probes).sum_dim(2).mean_dim(0).reshape([n]);
        (value, estimate)
    }

    /// A scalar network (k = 1) s, its spatial gradient ∇_x s and its time derivative ∂_t s:
    /// `([n], [n, d], [n])`, from d + 1 tangents stacked into one pass.
    fn value_and_gradient(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
    ) -> (Tensor<B, 1>, Tensor<B, 2>, Tensor<B, 1>) {
        let [n, d] = x.dims();
        assert_eq!(
            self.dim_output(),
            1,
            "a gradient needs a scalar network (k = 1)"
        );
        // Tangent j < d moves x_j, tangent d moves t, at every point.
        let eye = Tensor::<B, 2>::eye(d + 1, &x.device());
        let vx = eye.clone().slice([0..d + 1, 0..d]).repeat_dim(1, n);
        let vt = eye.slice([0..d + 1, d..d + 1]).repeat_dim(1, n);
        let (value, tangents) = self.jvp(x, t, vx.reshape([d + 1, n, d]), Some(vt));
        let tangents = tangents.reshape([d + 1, n]);
        let gradient = tangents.clone().slice([0..d, 0..n]).transpose();
        let time_derivative = tangents.slice([d..d + 1, 0..n]).reshape([n]);
        (value.reshape([n]), gradient, time_derivative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::continuous::test_support::*;
    use crate::flow::continuous::{GatedField, TimeMlp, TimeMlpConfig};
    use crate::flow::testing::*;
    use crate::flow::{Activation, Probe, from_f64};
    use burn::backend::flex::FlexDevice;

    /// Unit vector `j` of `d`, repeated for `n` points.
    fn basis(n: usize, d: usize, j: usize) -> Vec<f64> {
        (0..n * d)
            .map(|k| if k % d == j { 1.0 } else { 0.0 })
            .collect()
    }

    fn scalar_net<B: FlowBackend<Device = FlexDevice>>() -> TimeMlp<B> {
        let config = TimeMlpConfig::new(3, vec![6, 6], 1);
        seeded(config.init(&device()).unwrap(), 0.6, 2)
    }

    #[test]
    fn divergence_matches_central_differences() {
        let (n, d) = (6, 3);
        let field: GatedField<TestBackend> = random_field(d, Activation::Silu);
        let (x, t) = (points(n, d, 2.0, 21), times(n, 22));
        let (value, divergence) = field.value_and_divergence(tensor(&x, n, d), tensor1(&t));
        assert_eq!(
            values(value),
            values(field.forward(tensor(&x, n, d), tensor1(&t)))
        );
        let mut expected = vec![0.0; n];
        for j in 0..d {
            let column = central_difference(&field, (&x, &t), (&basis(n, d, j), &vec![0.0; n]));
            for (i, e) in expected.iter_mut().enumerate() {
                *e += column[i * d + j];
            }
        }
        for (a, e) in values(divergence).iter().zip(expected) {
            assert_close(*a, e, 1e-7, "divergence");
        }
    }

    #[test]
    fn gradient_and_time_derivative_match_central_differences() {
        let (n, d) = (6, 3);
        let net: TimeMlp<TestBackend> = scalar_net();
        let (x, t) = (points(n, d, 2.0, 31), times(n, 32));
        let (value, gradient, time_derivative) =
            net.value_and_gradient(tensor(&x, n, d), tensor1(&t));
        assert_eq!(
            values(value),
            values(net.forward(tensor(&x, n, d), tensor1(&t)))
        );
        let gradient = values(gradient);
        for j in 0..d {
            let expected = central_difference(&net, (&x, &t), (&basis(n, d, j), &vec![0.0; n]));
            for i in 0..n {
                assert_close(gradient[i * d + j], expected[i], 1e-7, "∇_x s");
            }
        }
        let expected = central_difference(&net, (&x, &t), (&vec![0.0; n * d], &vec![1.0; n]));
        for (a, e) in values(time_derivative).iter().zip(expected) {
            assert_close(*a, e, 1e-7, "∂_t s");
        }
    }

    /// Probes of zero mean and unit covariance from deterministic uniforms: signs (Rademacher)
    /// or Box–Muller normals.
    fn probes(count: usize, gaussian: bool) -> Vec<f64> {
        let u = points(count, 2, 0.5, 41);
        (0..count)
            .map(|i| {
                let (a, b) = (u[2 * i] + 0.5, u[2 * i + 1] + 0.5);
                if gaussian {
                    (-2.0 * (1.0 - a).ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
                } else if a < 0.5 {
                    -1.0
                } else {
                    1.0
                }
            })
            .collect()
    }

    /// The mean of single-probe Hutchinson estimates over many probes matches the exact trace
    /// within 4 standard errors, at every point, for both kinds of probes.
    #[test]
    fn hutchinson_is_unbiased() {
        let (n, d, m) = (4, 3, 4000);
        let field: GatedField<TestBackend> = random_field(d, Activation::Tanh);
        let (x, t) = (points(n, d, 2.0, 51), times(n, 52));
        let (_, exact) = field.value_and_divergence(tensor(&x, n, d), tensor1(&t));
        // Each point repeated m times, one probe per copy: single-probe estimates.
        let x_rep: Vec<f64> = (0..m).flat_map(|_| x.iter().copied()).collect();
        let t_rep: Vec<f64> = (0..m).flat_map(|_| t.iter().copied()).collect();
        for gaussian in [false, true] {
            let probes = from_f64(probes(m * n * d, gaussian), [1, m * n, d], &device());
            let (_, estimates) = field.value_and_hutchinson_divergence(
                tensor(&x_rep, m * n, d),
                tensor1(&t_rep),
                probes,
            );
            let estimates = values(estimates);
            for (i, exact) in values(exact.clone()).iter().enumerate() {
                let sample: Vec<f64> = (0..m).map(|j| estimates[j * n + i]).collect();
                let mean = sample.iter().sum::<f64>() / m as f64;
                let var = sample.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
                let se = (var / m as f64).sqrt();
                assert!(se > 0.0, "a non-diagonal Jacobian gives a noisy estimate");
                assert!(
                    (mean - exact).abs() < 4.0 * se,
                    "point {i} (gaussian: {gaussian}): mean {mean} ± {se}, exact {exact}"
                );
            }
        }
    }

    /// The mean over several probes per point is the mean of the single-probe estimates, and
    /// the probe distributions have the moments the estimate relies on.
    #[test]
    fn probes_average_and_have_unit_moments() {
        let device = device();
        let rademacher: Tensor<TestBackend, 3> = Probe::Rademacher.draw(500, 4, 3, &device);
        let values_r = values(rademacher);
        assert!(values_r.iter().all(|v| *v == 1.0 || *v == -1.0));
        let gaussian = values(Probe::Gaussian.draw::<TestBackend>(500, 4, 3, &device));
        let mean = gaussian.iter().sum::<f64>() / 6000.0;
        let second = gaussian.iter().map(|v| v * v).sum::<f64>() / 6000.0;
        assert!(
            mean.abs() < 0.07 && (second - 1.0).abs() < 0.1,
            "{mean}, {second}"
        );

        let (n, d, m) = (3, 3, 5);
        let field: GatedField<TestBackend> = random_field(d, Activation::Silu);
        let (x, t) = (points(n, d, 1.0, 61), times(n, 62));
        let p = points(m * n, d, 1.0, 63);
        let (_, together) = field.value_and_hutchinson_divergence(
            tensor(&x, n, d),
            tensor1(&t),
            from_f64(p.clone(), [m, n, d], &device),
        );
        let mut separate = vec![0.0; n];
        for j in 0..m {
            let probe = from_f64(p[j * n * d..(j + 1) * n * d].to_vec(), [1, n, d], &device);
            let (_, one) =
                field.value_and_hutchinson_divergence(tensor(&x, n, d), tensor1(&t), probe);
            for (s, v) in separate.iter_mut().zip(values(one)) {
                *s += v / m as f64;
            }
        }
        for (a, e) in values(together).iter().zip(separate) {
            assert_close(*a, e, 1e-12, "mean over probes");
        }
    }

    /// Index of a float parameter of a gated field with hidden widths [6, 6]: six per MLP
    /// (weight and bias of two hidden layers and of the output layer).
    fn field_parameter(net: usize, layer: usize, bias: bool) -> usize {
        6 * net + 2 * layer + usize::from(bias)
    }

    /// Backprop through the hand-written divergence gives the parameter gradient of
    /// L = mean((∇·V)²), checked against central differences of L, and it is not silently zero:
    /// weights reaching ∇·V only through σ'(a) (the time row of the first layer, hidden biases)
    /// have clearly nonzero gradients; the output bias, which ∇·V does not see, has none.
    #[test]
    fn divergence_parameter_gradients_match_differences() {
        let (n, d) = (8, 2);
        let field: GatedField<TestAutodiff> = random_field(d, Activation::Silu);
        let (x, t) = (points(n, d, 2.0, 71), times(n, 72));
        let loss = |field: &GatedField<TestAutodiff>| {
            let x = from_f64(x.clone(), [n, d], &device());
            let (_, divergence) = field.value_and_divergence(x, tensor1(&t));
            divergence.powi_scalar(2).mean()
        };
        let picks = [
            (field_parameter(0, 0, false), 2 * 6 + 1),
            (field_parameter(1, 0, true), 3),
            (field_parameter(1, 1, false), 7),
            (field_parameter(2, 2, false), 5),
            (field_parameter(3, 2, true), 1),
        ];
        let differences = assert_parameter_gradients(&field, loss, &picks, 1e-7);
        let (seen, unseen) = differences.split_at(4);
        assert!(seen.iter().all(|g| g.abs() > 1e-3), "{seen:?}");
        assert_eq!(unseen, [0.0]);
    }

    /// Same for a loss of the spatial gradient and time derivative of a scalar network.
    #[test]
    fn gradient_and_time_derivative_parameter_gradients_match_differences() {
        let (n, d) = (8, 3);
        let net: TimeMlp<TestAutodiff> = scalar_net();
        let (x, t) = (points(n, d, 2.0, 81), times(n, 82));
        let loss = |net: &TimeMlp<TestAutodiff>| {
            let x = from_f64(x.clone(), [n, d], &device());
            let (_, gradient, time_derivative) = net.value_and_gradient(x, tensor1(&t));
            gradient.powi_scalar(2).sum_dim(1).mean() + time_derivative.powi_scalar(2).mean()
        };
        // Time row and a spatial row of the first layer, a hidden bias, the output weights;
        // the output bias does not reach the derivatives.
        let picks = [(0, 3 * 6 + 2), (0, 4), (1, 5), (2, 13), (4, 3), (5, 0)];
        let differences = assert_parameter_gradients(&net, loss, &picks, 1e-7);
        let (seen, unseen) = differences.split_at(5);
        assert!(seen.iter().all(|g| g.abs() > 1e-3), "{seen:?}");
        assert_eq!(unseen, [0.0]);
    }

    /// A scalar network and a vector field trained together, as in the PDE objective.
    #[derive(Module, Debug)]
    struct Pde<B: FlowBackend> {
        f: TimeMlp<B>,
        v: GatedField<B>,
    }

    /// The published residual ε = ∂_t f − ∇·V + ∇f·V and loss mean(|ε| + ε²): gradients with
    /// respect to the parameters of both networks match central differences; ∂_t f + ∇f·V is
    /// also checked to be the single tangent of f along (V, 1).
    #[test]
    fn pde_residual_parameter_gradients_match_differences() {
        let (n, d) = (8, 3);
        let pde = Pde::<TestAutodiff> {
            f: scalar_net(),
            v: random_field(d, Activation::Silu),
        };
        let (x, t) = (points(n, d, 2.0, 91), times(n, 92));
        let x_tensor = || from_f64::<TestAutodiff, 2>(x.clone(), [n, d], &device());
        let loss = |pde: &Pde<TestAutodiff>| {
            let (v, divergence) = pde.v.value_and_divergence(x_tensor(), tensor1(&t));
            let (_, gradient, time_derivative) = pde.f.value_and_gradient(x_tensor(), tensor1(&t));
            let transport = (gradient * v).sum_dim(1).reshape([n]);
            let residual = time_derivative - divergence + transport;
            (residual.clone().abs() + residual.powi_scalar(2)).mean()
        };
        // f: first-layer weight, hidden bias; V: weights of two MLPs.
        let picks = [
            (0, 7),
            (3, 2),
            (6 + field_parameter(0, 0, false), 9),
            (6 + field_parameter(2, 1, false), 20),
        ];
        let differences = assert_parameter_gradients(&pde, loss, &picks, 1e-7);
        assert!(
            differences.iter().all(|g| g.abs() > 1e-4),
            "{differences:?}"
        );

        let v = pde.v.forward(x_tensor(), tensor1(&t));
        let (_, along) = pde.f.jvp(
            x_tensor(),
            tensor1(&t),
            v.clone().unsqueeze_dim(0),
            Some(Tensor::ones([1, n], &device())),
        );
        let (_, gradient, time_derivative) = pde.f.value_and_gradient(x_tensor(), tensor1(&t));
        let expected = time_derivative + (gradient * v).sum_dim(1).reshape([n]);
        for (a, e) in values(along.inner().reshape([n]))
            .iter()
            .zip(values(expected.inner()))
        {
            assert_close(*a, e, 1e-12, "∂_t f + ∇f·V as one tangent");
        }
    }
}
