//! Classical fourth-order Runge–Kutta with fixed steps.

use super::solver::{Dynamics, State};
use crate::backend::FlowBackend;
use serde::{Deserialize, Serialize};

/// Settings of the fixed-step RK4 solver (the published sampler uses 50 steps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rk4Config {
    /// Number of equal steps over the interval.
    pub steps: usize,
}

impl Rk4Config {
    /// Checks the settings.
    pub fn validate(&self) -> crate::Result<()> {
        if self.steps == 0 {
            return Err(crate::Error::InvalidArgument(
                "RK4 needs at least one step; set `steps` ≥ 1 (50 published)".into(),
            ));
        }
        Ok(())
    }

    /// Integrates `state` from `t0` to `t1`; its global error is O(h⁴).
    pub(super) fn solve<B: FlowBackend>(
        &self,
        f: &impl Dynamics<B>,
        mut y: State<B>,
        t0: f64,
        t1: f64,
    ) -> State<B> {
        let h = (t1 - t0) / self.steps as f64;
        for i in 0..self.steps {
            let t = t0 + i as f64 * h;
            let k1 = y.rate(f, t);
            let k2 = y.step(h, &[(0.5, &k1)]).rate(f, t + 0.5 * h);
            let k3 = y.step(h, &[(0.5, &k2)]).rate(f, t + 0.5 * h);
            let k4 = y.step(h, &[(1.0, &k3)]).rate(f, t + h);
            y = y.step(
                h,
                &[
                    (1.0 / 6.0, &k1),
                    (1.0 / 3.0, &k2),
                    (1.0 / 3.0, &k3),
                    (1.0 / 6.0, &k4),
                ],
            );
        }
        y
    }
}
