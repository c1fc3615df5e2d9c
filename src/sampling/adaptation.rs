//! Step-size adaptation toward a target acceptance rate.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Smallest step size adaptation goes to.
const MIN_STEP: f64 = 1e-12;
/// Largest step size adaptation goes to.
const MAX_STEP: f64 = 1e12;

/// A Robbins–Monro update of the log step size from a batch's mean acceptance:
/// log ε ← log ε + rate · (acceptance − target_acceptance), clamped to ε ∈ [1e-12, 1e12].
///
/// The gain is constant (not decaying), so the step size keeps tracking a target that changes, as
/// a flow's does during training. Its whole state is the step size, a plain number that the
/// kernel exposes for checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adaptation {
    /// Acceptance rate to reach, in (0, 1).
    pub target_acceptance: f64,
    /// Gain of the update of log ε, positive.
    pub rate: f64,
}

impl Default for Adaptation {
    fn default() -> Self {
        Adaptation {
            target_acceptance: Self::DEFAULT_TARGET,
            rate: Self::DEFAULT_RATE,
        }
    }
}

impl Adaptation {
    /// Default target acceptance rate (FAB's, for HMC).
    pub const DEFAULT_TARGET: f64 = 0.65;
    /// Default gain of the log step-size update.
    pub const DEFAULT_RATE: f64 = 0.1;

    /// Checked constructor: `target_acceptance` in (0, 1), `rate` positive and finite.
    pub fn new(target_acceptance: f64, rate: f64) -> Result<Self> {
        let a = Adaptation {
            target_acceptance,
            rate,
        };
        a.validate()?;
        Ok(a)
    }

    /// Checks the numbers.
    pub fn validate(&self) -> Result<()> {
        if !(self.target_acceptance > 0.0 && self.target_acceptance < 1.0) {
            return Err(Error::InvalidArgument(format!(
                "`target_acceptance` must be in (0, 1), e.g. 0.65, got {}",
                self.target_acceptance
            )));
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "`adapt_rate` must be positive and finite, e.g. 0.1, got {}",
                self.rate
            )));
        }
        Ok(())
    }

    /// The next step size after a batch with mean acceptance `acceptance`; unchanged when the
    /// acceptance is not finite (no chains).
    pub fn update(&self, step_size: f64, acceptance: f64) -> f64 {
        if !acceptance.is_finite() {
            return step_size;
        }
        (step_size.ln() + self.rate * (acceptance - self.target_acceptance))
            .exp()
            .clamp(MIN_STEP, MAX_STEP)
    }
}

/// Checks a step size: positive and finite.
pub(crate) fn check_step_size(step_size: f64) -> Result<()> {
    if step_size.is_finite() && step_size > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "`step_size` must be positive and finite, got {step_size}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_toward_the_target() {
        let a = Adaptation::default();
        assert!(a.update(1.0, 0.9) > 1.0);
        assert!(a.update(1.0, 0.1) < 1.0);
        assert_eq!(a.update(1.0, 0.65), 1.0);
        assert_eq!(a.update(0.3, f64::NAN), 0.3);
        assert_eq!(a.update(1e-12, 0.0), 1e-12);
    }

    #[test]
    fn refuses_bad_numbers() {
        for (t, r) in [
            (0.0, 0.1),
            (1.0, 0.1),
            (f64::NAN, 0.1),
            (0.5, 0.0),
            (0.5, f64::INFINITY),
        ] {
            assert!(Adaptation::new(t, r).is_err(), "{t} {r}");
        }
        assert!(
            check_step_size(-1.0)
                .unwrap_err()
                .to_string()
                .contains("step_size")
        );
        assert!(check_step_size(0.0).is_err());
        assert!(check_step_size(f64::NAN).is_err());
    }
}
