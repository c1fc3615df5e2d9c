//! Adaptive Dormand–Prince 5(4) with error control (Hairer, Nørsett & Wanner, *Solving Ordinary
//! Differential Equations I*, §II.4–5): fifth-order steps, a fourth-order embedded error
//! estimate, first-same-as-last.

use super::solver::{Dynamics, State};
use crate::backend::FlowBackend;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Stage times c_i of stages 2–6 (stage 1 is at the start of the step, stage 7 at its end).
const C: [f64; 5] = [1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];

/// Stage coefficients a_ij of stages 2–6.
const A: [&[f64]; 5] = [
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ],
    &[
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
];

/// Weights of the fifth-order solution; stage 7 is the rate there (first same as last).
const B: [f64; 6] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
];

/// Fifth- minus fourth-order weights of the seven stages: the local error estimate.
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// Step-size control: safety factor and bounds on the change of h per step.
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;

/// Settings of the adaptive Dormand–Prince solver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dopri5Config {
    /// Relative tolerance of each step's local error.
    pub rtol: f64,
    /// Absolute tolerance of each step's local error.
    pub atol: f64,
    /// Most step attempts (accepted and rejected) per solve before giving up with an error.
    #[serde(default = "ten_thousand")]
    pub max_steps: usize,
}

fn ten_thousand() -> usize {
    10_000
}

impl Dopri5Config {
    /// Tolerances `rtol` and `atol`, at most 10,000 steps.
    pub fn new(rtol: f64, atol: f64) -> Self {
        Dopri5Config {
            rtol,
            atol,
            max_steps: ten_thousand(),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> crate::Result<()> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.rtol) || !positive(self.atol) {
            return Err(crate::Error::InvalidArgument(format!(
                "Dopri5 tolerances must be finite and > 0 (for example rtol = atol = 1e-5); got \
                 rtol = {}, atol = {}",
                self.rtol, self.atol
            )));
        }
        if self.max_steps == 0 {
            return Err(crate::Error::InvalidArgument(
                "Dopri5 needs `max_steps` ≥ 1 (10,000 by default)".into(),
            ));
        }
        Ok(())
    }

    /// Integrates `y` from `t0` to `t1`. Every coordinate of every point (log-determinant
    /// included) keeps its local error below atol + rtol·|y| at each step.
    pub(super) fn solve<B: FlowBackend>(
        &self,
        f: &impl Dynamics<B>,
        mut y: State<B>,
        t0: f64,
        t1: f64,
    ) -> crate::Result<State<B>> {
        let span = (t1 - t0).abs();
        let direction = (t1 - t0).signum();
        if span == 0.0 {
            return Ok(y);
        }
        let mut k1 = y.rate(f, t0);
        let mut h = self.initial_step(f, &y, &k1, t0, direction).min(span);
        let mut done = 0.0;
        for _ in 0..self.max_steps {
            let last = h >= span - done;
            let h_now = if last { span - done } else { h };
            let (t, step) = (t0 + direction * done, direction * h_now);
            let mut k = vec![k1.clone()];
            for (c, a) in C.iter().zip(A) {
                let terms: Vec<_> = a.iter().copied().zip(&k).collect();
                let stage = y.step(step, &terms);
                k.push(stage.rate(f, t + c * step));
            }
            let weights: Vec<_> = B.iter().copied().zip(&k).collect();
            let candidate = y.step(step, &weights);
            k.push(candidate.rate(f, t + step));
            let error = E
                .iter()
                .zip(&k)
                .filter(|(e, _)| **e != 0.0)
                .map(|(e, k)| k.flat().mul_scalar(e * step))
                .reduce(|a, b| a + b)
                .expect("nonzero error weights");
            let ratios = self.scaled(error, &y.flat(), &candidate.flat());
            // The sum is not finite when any ratio or coordinate is not (max skips NaN).
            let check = ratios.clone().sum() + candidate.flat().sum();
            let [ratio, check] = read(Tensor::cat(vec![ratios.max(), check], 0));
            if !check.is_finite() {
                return Err(crate::Error::InvalidArgument(format!(
                    "the vector field gave non-finite values at t = {t:.6} (Dopri5 step \
                     {h_now:.3e}); the flow is blowing up: check its inputs and parameters"
                )));
            }
            let accepted = ratio <= 1.0;
            if accepted {
                y = candidate;
                k1 = k.pop().expect("seven stages");
                if last {
                    return Ok(y);
                }
                done += h_now;
            }
            let most = if accepted { MAX_FACTOR } else { 1.0 };
            h = h_now * (SAFETY * ratio.powf(-0.2)).clamp(MIN_FACTOR, most);
        }
        Err(crate::Error::InvalidArgument(format!(
            "Dopri5 used all {} steps and stopped at t = {:.6} of [{t0}, {t1}] (step {h:.3e}); \
             raise `max_steps`, loosen `rtol`/`atol`, or use fixed-step RK4: the vector field may \
             be stiff or blowing up",
            self.max_steps,
            t0 + direction * done
        )))
    }

    /// |error| / (atol + rtol · max(|y|, |y_new|)) for every component.
    fn scaled<B: FlowBackend>(
        &self,
        error: Tensor<B, 2>,
        y: &Tensor<B, 2>,
        y_new: &Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        let scale = y
            .clone()
            .abs()
            .max_pair(y_new.clone().abs())
            .mul_scalar(self.rtol)
            .add_scalar(self.atol);
        error.abs() / scale
    }

    /// The largest component of [`scaled`](Self::scaled) for `y_new = y`.
    fn norm<B: FlowBackend>(&self, v: Tensor<B, 2>, y: &Tensor<B, 2>) -> f64 {
        let [largest] = read(self.scaled(v, y, y).max());
        largest
    }

    /// The starting step size (magnitude) of Hairer, Nørsett & Wanner (§II.4), from the rates
    /// `k1` at the start and one trial Euler step.
    fn initial_step<B: FlowBackend>(
        &self,
        f: &impl Dynamics<B>,
        y: &State<B>,
        k1: &State<B>,
        t0: f64,
        direction: f64,
    ) -> f64 {
        let flat = y.flat();
        let d0 = self.norm(flat.clone(), &flat);
        let d1 = self.norm(k1.flat(), &flat);
        let h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        };
        let k2 = y
            .step(direction * h0, &[(1.0, k1)])
            .rate(f, t0 + direction * h0);
        let d2 = self.norm(k2.flat() - k1.flat(), &flat) / h0;
        let h1 = if d1.max(d2) <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / d1.max(d2)).powf(0.2)
        };
        h1.min(100.0 * h0)
    }
}

/// The values of a `K`-element tensor.
fn read<B: FlowBackend, const K: usize>(t: Tensor<B, 1>) -> [f64; K] {
    let values: Vec<f64> = t.into_data().iter::<f64>().collect();
    values.try_into().expect("a tensor of K elements")
}
