//! Running the configured estimators on a reduced-energy matrix.

use super::config::EstimatorConfig;
use super::{Estimate, Mbar, ReducedEnergies, bar, exponential_averaging};
use crate::Result;

/// What one estimator found.
pub struct EstimatorResult {
    /// The estimator.
    pub estimator: EstimatorConfig,
    /// Δf from the first state to the last.
    pub total: Estimate,
    /// Δf between consecutive states (i → i + 1).
    pub pairs: Vec<Estimate>,
    /// MBAR's full solution, for MBAR.
    pub mbar: Option<Mbar>,
}

/// Runs `estimator` on `energies`. The two-state estimators chain consecutive states: their Δf
/// add, and so do their variances (the pairs use disjoint samples only for BAR between two
/// states; a chain's error is then the usual approximation).
pub fn run_estimator(
    estimator: EstimatorConfig,
    energies: &ReducedEnergies,
) -> Result<EstimatorResult> {
    let k = energies.states();
    let (pairs, mbar): (Vec<Estimate>, _) = match estimator {
        EstimatorConfig::ExpForward => (
            (0..k - 1)
                .map(|i| exponential_averaging(&energies.work(i, i + 1)))
                .collect(),
            None,
        ),
        EstimatorConfig::ExpReverse => (
            (0..k - 1)
                .map(|i| {
                    let e = exponential_averaging(&energies.work(i + 1, i));
                    Estimate {
                        delta_f: -e.delta_f,
                        stderr: e.stderr,
                    }
                })
                .collect(),
            None,
        ),
        EstimatorConfig::Bar => (
            (0..k - 1)
                .map(|i| bar(&energies.work(i, i + 1), &energies.work(i + 1, i)))
                .collect::<Result<_>>()?,
            None,
        ),
        EstimatorConfig::Mbar => {
            let mbar = Mbar::solve(energies)?;
            (
                (0..k - 1).map(|i| mbar.delta_f(i, i + 1)).collect(),
                Some(mbar),
            )
        }
    };
    let total = match &mbar {
        Some(mbar) => mbar.delta_f(0, k - 1),
        None => Estimate {
            delta_f: pairs.iter().map(|p| p.delta_f).sum(),
            stderr: pairs
                .iter()
                .map(|p| p.stderr * p.stderr)
                .sum::<f64>()
                .sqrt(),
        },
    };
    Ok(EstimatorResult {
        estimator,
        total,
        pairs,
        mbar,
    })
}
