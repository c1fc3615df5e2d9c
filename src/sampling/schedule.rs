//! Schedules of β for annealed importance sampling.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// How the M intermediate distributions are placed between β_0 = 0 (q) and β_(M+1) = 1 (g).
///
/// ```ron
/// Linear
/// Geometric(min_beta: 0.01)
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Schedule {
    /// β_k = k / (M + 1), k = 0, …, M + 1 (FAB's choice).
    #[default]
    Linear,
    /// β_0 = 0 and β_k = min_beta^((M + 1 − k) / M) for k = 1, …, M + 1: log-spaced from
    /// β_1 = `min_beta` to β_(M+1) = 1 (with M = 0, just 0 and 1). Denser near q, which suits
    /// paths whose log density changes fastest at small β.
    Geometric {
        /// β_1, in (0, 1); default 0.01.
        #[serde(default = "crate::defaults::real::<1, 100>")]
        min_beta: f64,
    },
}

impl Schedule {
    /// Checks the numbers that serde cannot.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Schedule::Linear => Ok(()),
            Schedule::Geometric { min_beta } if min_beta > 0.0 && min_beta < 1.0 => Ok(()),
            Schedule::Geometric { min_beta } => Err(Error::InvalidArgument(format!(
                "Geometric schedule: `min_beta` must be in (0, 1), e.g. 0.01, got {min_beta}"
            ))),
        }
    }

    /// β_0 = 0, β_1, …, β_M, β_(M+1) = 1 for M = `intermediate` distributions (M + 2 values,
    /// increasing).
    pub fn betas(&self, intermediate: usize) -> Vec<f64> {
        let m = intermediate;
        let mut betas = vec![0.0];
        for k in 1..=m {
            betas.push(match *self {
                Schedule::Linear => k as f64 / (m + 1) as f64,
                Schedule::Geometric { min_beta } => min_beta.powf((m + 1 - k) as f64 / m as f64),
            });
        }
        betas.push(1.0);
        betas
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn betas() {
        assert_eq!(Schedule::Linear.betas(0), vec![0.0, 1.0]);
        assert_eq!(Schedule::Linear.betas(3), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let g = Schedule::Geometric { min_beta: 0.01 }.betas(2);
        assert_eq!(g.len(), 4);
        assert_eq!((g[0], g[3]), (0.0, 1.0));
        assert!(
            (g[1] - 0.01).abs() < 1e-15 && (g[2] - 0.1).abs() < 1e-15,
            "{g:?}"
        );
        assert_eq!(
            Schedule::Geometric { min_beta: 0.5 }.betas(0),
            vec![0.0, 1.0]
        );
    }

    #[test]
    fn refuses_bad_min_beta() {
        for b in [0.0, 1.0, -0.1, f64::NAN] {
            let err = Schedule::Geometric { min_beta: b }.validate().unwrap_err();
            assert!(err.to_string().contains("min_beta"), "{err}");
        }
    }
}
