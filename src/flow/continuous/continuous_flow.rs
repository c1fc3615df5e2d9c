//! A continuous normalizing flow: base samples carried by dx/dt = V_t(x) from t = 0 to t = 1.

use super::{DivergenceMethod, GatedField, GatedFieldConfig, SolverConfig};
use crate::flow::{Base, BaseConfig, Bijection, Density};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of a [`ContinuousFlow`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContinuousFlowConfig {
    /// The base distribution (at t = 0).
    pub base: BaseConfig,
    /// The vector field.
    pub field: GatedFieldConfig,
    /// The ODE solver.
    pub solver: SolverConfig,
    /// How ∇·V is computed.
    #[serde(default)]
    pub divergence: DivergenceMethod,
}

impl ContinuousFlowConfig {
    /// Builds the flow on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<ContinuousFlow<B>> {
        self.solver.validate()?;
        self.divergence.validate()?;
        let base = self.base.init(device);
        if base.dim() != self.field.dim {
            return Err(crate::Error::InvalidArgument(format!(
                "the base distribution has dimension {} but the vector field {}; make them equal",
                base.dim(),
                self.field.dim
            )));
        }
        Ok(ContinuousFlow {
            base,
            field: self.field.init(device)?,
            solver: self.solver.clone(),
            divergence: self.divergence,
        })
    }
}

/// x = φ_1(z), z ~ base, where φ_t is the flow of dx/dt = V_t(x); the log-determinant
/// log|det ∂x/∂z| = ∫₀¹ ∇·V_t dt is integrated with x as an augmented state.
#[derive(Module, Debug)]
pub struct ContinuousFlow<B: Backend> {
    /// The base distribution.
    pub base: Base<B>,
    /// The vector field.
    pub field: GatedField<B>,
    solver: SolverConfig,
    divergence: DivergenceMethod,
}

impl<B: Backend> ContinuousFlow<B> {
    /// Carries points from time `t0` to `t1`: `(x(t1), ∫ ∇·V dt from t0 to t1)`, the second being
    /// the log|det| of the map applied. Fails when the adaptive solver exceeds its step budget
    /// or the field blows up.
    pub fn transport(
        &self,
        x: Tensor<B, 2>,
        t0: f64,
        t1: f64,
    ) -> crate::Result<(Tensor<B, 2>, Tensor<B, 1>)> {
        let [n, d] = x.dims();
        let device = x.device();
        let estimator = self.divergence.estimator::<B>(n, d, &device);
        let dynamics = |t: f64, x: Tensor<B, 2>| {
            let time = Tensor::full([n], t, &device);
            estimator.value_and_divergence(&self.field, x, time)
        };
        self.solver.solve(&dynamics, x, t0, t1)
    }
}

/// Panics with the solver's message where [`ContinuousFlow::transport`] fails.
fn solved<T>(result: crate::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("continuous flow: {e}"))
}

impl<B: Backend> Bijection<B> for ContinuousFlow<B> {
    /// Integrates t: 0 → 1. Panics where [`ContinuousFlow::transport`] fails.
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        solved(self.transport(z, 0.0, 1.0))
    }

    /// Integrates t: 1 → 0. Panics where [`ContinuousFlow::transport`] fails.
    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        solved(self.transport(x, 1.0, 0.0))
    }
}

impl<B: Backend> Density<B> for ContinuousFlow<B> {
    fn dim(&self) -> usize {
        self.base.dim()
    }

    /// log q(x) = log base(z) − ∫₀¹ ∇·V dt. Panics where [`ContinuousFlow::transport`] fails.
    fn sample(&self, n: usize) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let z = self.base.sample(n);
        let log_base = self.base.log_prob(z.clone());
        let (x, log_det) = self.forward(z);
        (x, log_base - log_det)
    }

    /// Panics where [`ContinuousFlow::transport`] fails.
    fn log_prob(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let (z, log_det) = self.inverse(x);
        self.base.log_prob(z) + log_det
    }
}
