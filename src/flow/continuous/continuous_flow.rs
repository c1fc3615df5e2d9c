//! A continuous normalizing flow: base samples carried by dx/dt = V_t(x) from t = 0 to t = 1.

use super::{DivergenceMethod, GatedField, GatedFieldConfig, SolverConfig, rerooted};
use crate::backend::FlowBackend;
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
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<ContinuousFlow<B>> {
        self.solver.validate()?;
        self.divergence.validate()?;
        let base = self.base.init(device)?;
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
pub struct ContinuousFlow<B: FlowBackend> {
    /// The base distribution.
    pub base: Base<B>,
    /// The vector field.
    pub field: GatedField<B>,
    solver: SolverConfig,
    divergence: DivergenceMethod,
}

impl<B: FlowBackend> ContinuousFlow<B> {
    /// Carries points from time `t0` to `t1`: `(x(t1), ∫ ∇·V dt from t0 to t1)`, the second being
    /// the log|det| of the map applied. RK4 keeps the step length of its `steps` over [0, 1]
    /// (⌈steps·|t1 − t0|⌉ steps); Dopri5 adapts. Fails when the adaptive solver exceeds its step
    /// budget or the field blows up.
    pub fn transport(
        &self,
        x: Tensor<B, 2>,
        t0: f64,
        t1: f64,
    ) -> crate::Result<(Tensor<B, 2>, Tensor<B, 1>)> {
        carry(&self.field, &self.solver, self.divergence, x, t0, t1)
    }
}

/// Carries points `x` by the flow of `field` from time `t0` to `t1` with `solver`:
/// `(x(t1), ∫ ∇·V dt from t0 to t1)`, the second being the log|det| of the map applied, with
/// the divergence computed by `divergence`. See [`ContinuousFlow::transport`].
pub fn carry<B: FlowBackend>(
    field: &GatedField<B>,
    solver: &SolverConfig,
    divergence: DivergenceMethod,
    x: Tensor<B, 2>,
    t0: f64,
    t1: f64,
) -> crate::Result<(Tensor<B, 2>, Tensor<B, 1>)> {
    let [n, d] = x.dims();
    let device = x.device();
    let estimator = divergence.estimator::<B>(n, d, &device);
    let field = rerooted(field.clone());
    let dynamics = |t: f64, x: Tensor<B, 2>| {
        let time = Tensor::full([n], t, &device);
        estimator.value_and_divergence(&field, x, time)
    };
    solver.over(t0, t1).solve(&dynamics, x, t0, t1)
}

/// Panics with the solver's message where [`ContinuousFlow::transport`] fails.
fn solved<T>(result: crate::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("continuous flow: {e}"))
}

impl<B: FlowBackend> Bijection<B> for ContinuousFlow<B> {
    /// Integrates t: 0 → 1. Panics where [`ContinuousFlow::transport`] fails.
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        solved(self.transport(z, 0.0, 1.0))
    }

    /// Integrates t: 1 → 0. Panics where [`ContinuousFlow::transport`] fails.
    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        solved(self.transport(x, 1.0, 0.0))
    }
}

impl<B: FlowBackend> Density<B> for ContinuousFlow<B> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::continuous::test_support::random_field;
    use crate::flow::continuous::{Dopri5Config, Probe, Rk4Config};
    use crate::flow::testing::*;
    use crate::flow::{Activation, DiagGaussianConfig, from_f64};
    use burn::backend::flex::FlexDevice;

    const D: usize = 2;

    fn config(solver: SolverConfig, divergence: DivergenceMethod) -> ContinuousFlowConfig {
        ContinuousFlowConfig {
            base: BaseConfig::DiagGaussian(DiagGaussianConfig {
                dim: D,
                trainable: true,
                std: 1.5,
            }),
            field: GatedFieldConfig::new(D, vec![6, 6]),
            solver,
            divergence,
        }
    }

    /// A flow with a random-weight field (the base stays as configured).
    fn flow<B: FlowBackend<Device = FlexDevice>>(
        solver: SolverConfig,
        divergence: DivergenceMethod,
    ) -> ContinuousFlow<B> {
        let mut flow = config(solver, divergence).init(&device()).unwrap();
        flow.field = random_field(D, Activation::Silu);
        flow
    }

    fn tight() -> SolverConfig {
        SolverConfig::Dopri5(Dopri5Config::new(1e-11, 1e-11))
    }

    /// forward then inverse returns the points and cancels the log-determinants, for a map
    /// that moves the points and changes volumes.
    #[test]
    fn round_trip_with_tight_dopri5() {
        let flow: ContinuousFlow<TestBackend> = flow(tight(), DivergenceMethod::Exact);
        let (n, z) = (16, points(16, D, 2.0, 101));
        assert_round_trip(&flow, &z, n, D, 1e-8);
        let (x, log_det) = flow.forward(tensor(&z, n, D));
        let moved = values(x)
            .iter()
            .zip(&z)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let volume = values(log_det).iter().map(|l| l.abs()).fold(0.0, f64::max);
        assert!(
            moved > 0.1 && volume > 0.1,
            "a trivial map: moved {moved}, log-det {volume}"
        );
    }

    #[test]
    fn log_prob_of_samples_is_their_log_q() {
        let flow: ContinuousFlow<TestBackend> = flow(tight(), DivergenceMethod::Exact);
        assert_eq!(flow.dim(), D);
        let (x, log_q) = flow.sample(32);
        let log_prob = values(flow.log_prob(x));
        for (a, b) in values(log_q).iter().zip(log_prob) {
            assert!(
                (a - b).abs() < 1e-8,
                "log q {a} from sample, {b} from log_prob"
            );
        }
    }

    /// The integrated divergence is log|det| of a central-difference Jacobian of the solve:
    /// to the solver's tolerance with Dopri5, to RK4's O(h⁴) with the published 50 steps.
    #[test]
    fn log_det_matches_brute_force_jacobian() {
        let z = points(8, D, 2.0, 111);
        let dopri5: ContinuousFlow<TestBackend> = flow(tight(), DivergenceMethod::Exact);
        assert_log_det_matches_jacobian(&dopri5, &z, 8, D, 1e-7);
        let rk4: ContinuousFlow<TestBackend> = flow(
            SolverConfig::Rk4(Rk4Config { steps: 50 }),
            DivergenceMethod::Exact,
        );
        assert_log_det_matches_jacobian(&rk4, &z, 8, D, 1e-5);
    }

    /// With Hutchinson's estimate the points follow the same path and the log-determinant, an
    /// average over the probes of each point, is close to the exact one (the margin is about
    /// 10 standard errors).
    #[test]
    fn hutchinson_log_det_estimates_the_exact_one() {
        let solver = SolverConfig::Rk4(Rk4Config { steps: 4 });
        let exact: ContinuousFlow<TestBackend> = flow(solver.clone(), DivergenceMethod::Exact);
        let mut estimated = exact.clone();
        estimated.divergence = DivergenceMethod::Hutchinson {
            probes: 2000,
            probe: Probe::Rademacher,
        };
        let z = tensor(&points(6, D, 2.0, 121), 6, D);
        let (x, log_det) = exact.forward(z.clone());
        let (x_estimated, log_det_estimated) = estimated.forward(z);
        assert_eq!(values(x), values(x_estimated));
        for (a, e) in values(log_det_estimated).iter().zip(values(log_det)) {
            assert!((a - e).abs() < 0.05, "Hutchinson {a}, exact {e}");
        }
    }

    /// Discretise-then-optimise: backpropagating through the RK4 stages gives the gradient of
    /// the discrete log q with respect to the field's weights and the trainable base.
    #[test]
    fn parameter_gradients_flow_through_the_solver() {
        let flow: ContinuousFlow<TestAutodiff> = flow(
            SolverConfig::Rk4(Rk4Config { steps: 8 }),
            DivergenceMethod::Exact,
        );
        let x = points(6, D, 2.0, 131);
        let loss = |flow: &ContinuousFlow<TestAutodiff>| {
            flow.log_prob(from_f64(x.clone(), [6, D], &device())).mean()
        };
        // Base loc and log-scale, then six parameters per MLP of the field.
        let picks = [
            (0, 1),
            (1, 0),
            (2, 4),
            (3, 5),
            (2 + 6 + 2, 11),
            (2 + 18 + 4, 3),
        ];
        let differences = assert_parameter_gradients(&flow, loss, &picks, 1e-7);
        assert!(
            differences.iter().all(|g| g.abs() > 1e-4),
            "{differences:?}"
        );
    }

    #[test]
    fn rejects_inconsistent_configurations() {
        let rk4 = SolverConfig::Rk4(Rk4Config { steps: 10 });
        let mut wrong_dim = config(rk4.clone(), DivergenceMethod::Exact);
        wrong_dim.field.dim = 3;
        let no_probes = config(
            rk4,
            DivergenceMethod::Hutchinson {
                probes: 0,
                probe: Probe::Gaussian,
            },
        );
        let no_steps = config(
            SolverConfig::Rk4(Rk4Config { steps: 0 }),
            DivergenceMethod::Exact,
        );
        for (config, message) in [
            (wrong_dim, "make them equal"),
            (no_probes, "at least 1 probe"),
            (no_steps, "at least one step"),
        ] {
            let error = config
                .init::<TestBackend>(&device())
                .unwrap_err()
                .to_string();
            assert!(error.contains(message), "{error}");
        }
    }

    /// A configuration reads from RON with the published defaults filled in, and round-trips.
    #[test]
    fn configuration_reads_from_ron() {
        let text = "(base: DiagGaussian((dim: 2)), field: (dim: 2, hidden: [64, 64]), \
                    solver: Rk4((steps: 50)))";
        let config: ContinuousFlowConfig = ron::from_str(text).unwrap();
        assert_eq!(config.field, GatedFieldConfig::new(2, vec![64, 64]));
        assert_eq!(config.divergence, DivergenceMethod::Exact);
        let again: ContinuousFlowConfig = ron::from_str(&ron::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config);
        assert!(config.init::<TestBackend>(&device()).is_ok());
    }
}
