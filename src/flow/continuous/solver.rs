//! ODE solvers for the augmented state (x, ℓ) of a continuous flow, dx/dt = V(x, t),
//! dℓ/dt = ∇·V(x, t).
//!
//! Discretise-then-optimise: every stage is an ordinary tensor op, so backpropagating through a
//! solve gives the exact gradient of the discrete solution (no adjoint equation).

use super::{Dopri5Config, Rk4Config};
use crate::backend::FlowBackend;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The right-hand side of an augmented ODE: at time t and points x (`[n, d]`), the rates
/// `(dx/dt [n, d], dℓ/dt [n])`.
pub trait Dynamics<B: FlowBackend>: Fn(f64, Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {}

impl<B: FlowBackend, F: Fn(f64, Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>)> Dynamics<B> for F {}

/// Which solver integrates a continuous flow, with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SolverConfig {
    /// Classical fourth-order Runge–Kutta with a fixed number of steps.
    Rk4(Rk4Config),
    /// Adaptive Dormand–Prince 5(4).
    Dopri5(Dopri5Config),
}

impl SolverConfig {
    /// Checks the settings.
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            SolverConfig::Rk4(c) => c.validate(),
            SolverConfig::Dopri5(c) => c.validate(),
        }
    }

    /// The solver for the part [t0, t1] of the unit time interval: RK4 with ⌈steps·|t1 − t0|⌉
    /// steps (at least one), so that its step length stays that of the whole interval; Dopri5
    /// as it is (it adapts).
    pub fn over(&self, t0: f64, t1: f64) -> SolverConfig {
        match self {
            SolverConfig::Rk4(c) => SolverConfig::Rk4(Rk4Config {
                steps: ((c.steps as f64 * (t1 - t0).abs() - 1e-9).ceil() as usize).max(1),
            }),
            SolverConfig::Dopri5(_) => self.clone(),
        }
    }

    /// Integrates from `(x0, ℓ = 0)` at `t0` to `t1` (either direction): `(x(t1), ℓ(t1))`.
    pub fn solve<B: FlowBackend>(
        &self,
        dynamics: &impl Dynamics<B>,
        x0: Tensor<B, 2>,
        t0: f64,
        t1: f64,
    ) -> crate::Result<(Tensor<B, 2>, Tensor<B, 1>)> {
        self.validate()?;
        let [n, _] = x0.dims();
        let start = State {
            log_det: Tensor::zeros([n], &x0.device()),
            x: x0,
        };
        let end = match self {
            SolverConfig::Rk4(c) => c.solve(dynamics, start, t0, t1),
            SolverConfig::Dopri5(c) => c.solve(dynamics, start, t0, t1)?,
        };
        Ok((end.x, end.log_det))
    }
}

/// A point of the augmented ODE (or a rate of it).
#[derive(Clone, Debug)]
pub(super) struct State<B: FlowBackend> {
    /// Positions `[n, d]`.
    pub x: Tensor<B, 2>,
    /// Accumulated log-determinant `[n]`.
    pub log_det: Tensor<B, 1>,
}

impl<B: FlowBackend> State<B> {
    /// The rates of the dynamics at this state.
    pub fn rate(&self, dynamics: &impl Dynamics<B>, t: f64) -> State<B> {
        let (x, log_det) = dynamics(t, self.x.clone());
        State { x, log_det }
    }

    /// self + h Σ_i c_i k_i, skipping zero coefficients.
    pub fn step(&self, h: f64, terms: &[(f64, &State<B>)]) -> State<B> {
        let mut out = self.clone();
        for &(c, k) in terms.iter().filter(|(c, _)| *c != 0.0) {
            out.x = out.x + k.x.clone().mul_scalar(h * c);
            out.log_det = out.log_det + k.log_det.clone().mul_scalar(h * c);
        }
        out
    }

    /// All components as one detached `[n, d + 1]` tensor, for step-size control.
    pub fn flat(&self) -> Tensor<B, 2> {
        Tensor::cat(
            vec![self.x.clone(), self.log_det.clone().unsqueeze_dim(1)],
            1,
        )
        .detach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;
    use nalgebra::{DMatrix, DVector};

    const D: usize = 3;
    const N: usize = 4;

    /// A non-normal matrix with complex eigenvalues: rotation, shear and growth.
    fn matrix() -> DMatrix<f64> {
        DMatrix::from_row_slice(D, D, &[0.3, -1.2, 0.4, 1.1, -0.2, 0.7, -0.5, 0.3, -0.6])
    }

    /// The linear field V = A x, whose divergence is tr A. Points are rows, so V = X Aᵀ; the
    /// column-major storage of A is the row-major storage of Aᵀ.
    fn linear_field(
        _t: f64,
        x: Tensor<TestBackend, 2>,
    ) -> (Tensor<TestBackend, 2>, Tensor<TestBackend, 1>) {
        let a = matrix();
        let velocity = x.matmul(tensor(a.as_slice(), D, D));
        (velocity, Tensor::full([N], a.trace(), &device()))
    }

    fn start() -> Vec<f64> {
        points(N, D, 2.0, 5)
    }

    /// expm(t A) x for each starting point.
    fn exact(t: f64) -> Vec<f64> {
        let propagator = (matrix() * t).exp();
        start()
            .chunks(D)
            .flat_map(|x| {
                (&propagator * DVector::from_column_slice(x))
                    .data
                    .as_vec()
                    .clone()
            })
            .collect()
    }

    fn solve(solver: SolverConfig, t0: f64, t1: f64, x0: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (x, log_det) = solver
            .solve(&linear_field, tensor(x0, N, D), t0, t1)
            .unwrap();
        (values(x), values(log_det))
    }

    fn max_error(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }

    /// Halving the step divides the error by 2⁴ = 16 (within a factor 2), in both directions;
    /// the log-determinant is t · tr A.
    #[test]
    fn rk4_converges_at_fourth_order() {
        let trace = matrix().trace();
        for (t0, t1, from, to) in [
            (0.0, 1.0, start(), exact(1.0)),
            (1.0, 0.0, exact(1.0), start()),
        ] {
            let errors: Vec<f64> = [10, 20]
                .iter()
                .map(|&steps| {
                    let (x, log_det) = solve(SolverConfig::Rk4(Rk4Config { steps }), t0, t1, &from);
                    for l in log_det {
                        assert_close(l, (t1 - t0) * trace, 1e-12, "log-determinant");
                    }
                    max_error(&x, &to)
                })
                .collect();
            let ratio = errors[0] / errors[1];
            assert!(
                (8.0..32.0).contains(&ratio),
                "errors {errors:?}: ratio {ratio}, expected 16"
            );
        }
    }

    /// A part of the unit interval keeps RK4's step length (rounded up, at least one step, in
    /// either direction); Dopri5 is unchanged.
    #[test]
    fn a_part_of_the_interval_keeps_the_step_length() {
        let rk4 = |steps| SolverConfig::Rk4(Rk4Config { steps });
        for (t0, t1, steps) in [
            (0.0, 1.0, 50),
            (1.0, 0.0, 50),
            (0.2, 0.4, 10),
            (0.5, 0.51, 1),
        ] {
            assert_eq!(rk4(50).over(t0, t1), rk4(steps), "[{t0}, {t1}]");
        }
        assert_eq!(rk4(50).over(0.3, 0.3), rk4(1));
        let dopri5 = SolverConfig::Dopri5(Dopri5Config::new(1e-6, 1e-6));
        assert_eq!(dopri5.over(0.2, 0.4), dopri5);
    }

    /// Every component ends within a small multiple of atol + rtol·|x| of the exact solution,
    /// for loose and tight tolerances, forward and backward.
    #[test]
    fn dopri5_meets_its_tolerance() {
        for tol in [1e-4, 1e-7, 1e-10] {
            let solver = SolverConfig::Dopri5(Dopri5Config::new(tol, tol));
            for (t0, t1, from, to) in [
                (0.0, 1.0, start(), exact(1.0)),
                (1.0, 0.0, exact(1.0), start()),
            ] {
                let (x, log_det) = solve(solver.clone(), t0, t1, &from);
                let worst = x
                    .iter()
                    .zip(&to)
                    .map(|(a, e)| (a - e).abs() / (tol + tol * e.abs()))
                    .fold(0.0, f64::max);
                println!("tol {tol:e} ({t0} → {t1}): error / tolerance = {worst:.3}");
                assert!(
                    worst < 3.0,
                    "tolerance {tol}: error {worst} × the tolerance"
                );
                for l in log_det {
                    assert_close(l, (t1 - t0) * matrix().trace(), 1e-10, "log-determinant");
                }
            }
        }
    }

    #[test]
    fn dopri5_reports_exhausted_steps_and_blow_ups() {
        let starved = SolverConfig::Dopri5(Dopri5Config {
            max_steps: 3,
            ..Dopri5Config::new(1e-12, 1e-12)
        });
        let error = starved
            .solve(&linear_field, tensor(&start(), N, D), 0.0, 1.0)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("all 3 steps") && error.contains("raise `max_steps`"),
            "{error}"
        );

        // dx/dt = x² reaches infinity at t = 1/x₀ < 1 for the coordinates above 1.
        let blow_up = |_t: f64, x: Tensor<TestBackend, 2>| {
            let divergence = x.clone().sum_dim(1).reshape([N]).mul_scalar(2.0);
            (x.powi_scalar(2), divergence)
        };
        let error = SolverConfig::Dopri5(Dopri5Config::new(1e-6, 1e-6))
            .solve(&blow_up, tensor(&start(), N, D), 0.0, 1.0)
            .unwrap_err()
            .to_string();
        assert!(error.contains("non-finite"), "{error}");
    }

    #[test]
    fn rejects_bad_settings_and_handles_empty_intervals() {
        for (solver, message) in [
            (
                SolverConfig::Rk4(Rk4Config { steps: 0 }),
                "at least one step",
            ),
            (
                SolverConfig::Dopri5(Dopri5Config::new(0.0, 1e-6)),
                "tolerances",
            ),
            (
                SolverConfig::Dopri5(Dopri5Config::new(1e-6, f64::NAN)),
                "tolerances",
            ),
            (
                SolverConfig::Dopri5(Dopri5Config {
                    max_steps: 0,
                    ..Dopri5Config::new(1e-6, 1e-6)
                }),
                "max_steps",
            ),
        ] {
            let error = solver.validate().unwrap_err().to_string();
            assert!(error.contains(message), "{error}");
            assert!(
                solver
                    .solve(&linear_field, tensor(&start(), N, D), 0.0, 1.0)
                    .is_err()
            );
        }
        let (x, log_det) = solve(
            SolverConfig::Dopri5(Dopri5Config::new(1e-6, 1e-6)),
            0.5,
            0.5,
            &start(),
        );
        assert_eq!(x, start());
        assert_eq!(log_det, vec![0.0; N]);
    }
}
