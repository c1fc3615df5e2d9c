//! ODE solvers for the augmented state (x, ℓ) of a continuous flow, dx/dt = V(x, t),
//! dℓ/dt = ∇·V(x, t).
//!
//! Discretise-then-optimise: every stage is an ordinary tensor op, so backpropagating through a
//! solve gives the exact gradient of the discrete solution (no adjoint equation).

use super::{Dopri5Config, Rk4Config};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The right-hand side of an augmented ODE: at time t and points x (`[n, d]`), the rates
/// `(dx/dt [n, d], dℓ/dt [n])`.
pub trait Dynamics<B: Backend>: Fn(f64, Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {}

impl<B: Backend, F: Fn(f64, Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>)> Dynamics<B> for F {}

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

    /// Integrates from `(x0, ℓ = 0)` at `t0` to `t1` (either direction): `(x(t1), ℓ(t1))`.
    pub fn solve<B: Backend>(
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
pub(super) struct State<B: Backend> {
    /// Positions `[n, d]`.
    pub x: Tensor<B, 2>,
    /// Accumulated log-determinant `[n]`.
    pub log_det: Tensor<B, 1>,
}

impl<B: Backend> State<B> {
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
