//! The target's density, from its plugin.

use crate::Result;
use crate::energy::System;
use crate::sampling::LogDensity;

/// The target's unnormalised log density −u(x), from its plugin.
pub struct TargetDensity<'a>(pub &'a System);

impl LogDensity for TargetDensity<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        let eval = self.0.evaluate(x, grad.is_some())?;
        if let (Some(out), Some(g)) = (grad, eval.grad) {
            for (o, g) in out.iter_mut().zip(g) {
                *o = -g;
            }
        }
        Ok(eval.u.into_iter().map(|u| -u).collect())
    }
}
