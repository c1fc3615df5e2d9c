//! The configuration of `boltzflow free-energy` (RON).

use super::dre::DreConfig;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Free-energy differences between thermodynamic states, from samples of them.
///
/// ```ron
/// FreeEnergy(
///     states: [
///         // Each a system file (a plugin, or a λ-state) and, optionally, samples of it: an
///         // HDF5 file with /samples/x (or /x, /positions) from `md`, `sample` or
///         // `sample-exact`. Paths are relative to this file's folder.
///         (system: "systems/quantum_double_well_N16_m3.ron", samples: "m3.h5"),
///         (system: "systems/quantum_double_well_N16_m4.5.ron", samples: "m4.5.h5"),
///     ],
///     estimators: [ExpForward, ExpReverse, Bar, Mbar],   // the default: these four
///     // and the density-ratio estimator, from the samples alone (see `DreConfig`):
///     // estimators: [Bar, Dre((flow_steps: 3000))],
///     subsample: true,                                   // the default: thin correlated samples
/// )
/// ```
///
/// Δf is reported from the first state to the last (and, for MBAR, between every pair). With
/// more than two states, the two-state estimators chain consecutive states and add their
/// variances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "FreeEnergy")]
pub struct FreeEnergyConfig {
    /// The thermodynamic states, at least two, in the order of the path between them.
    pub states: Vec<StateConfig>,
    /// The estimators to run.
    #[serde(default = "all_estimators")]
    pub estimators: Vec<EstimatorConfig>,
    /// Seed of the resampling of weighted samples (see [`StateConfig::samples`]).
    #[serde(default)]
    pub seed: u64,
    /// Whether each state's samples are thinned to nearly independent ones before estimating:
    /// every g-th sample, g the statistical inefficiency of the state's own reduced energy
    /// along each walker's trajectory (the largest over the walkers). The estimators' error
    /// bars assume independent samples; MD frames are not.
    #[serde(default = "crate::defaults::yes")]
    pub subsample: bool,
}

/// One thermodynamic state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The system file.
    pub system: PathBuf,
    /// Samples of this state (none: MBAR only evaluates it). Samples with importance weights
    /// (`/samples/log_w` of `sample`, not all equal) are resampled, systematically, to as many
    /// samples as their Kish effective sample size, because the estimators assume unweighted
    /// samples of each state.
    #[serde(default)]
    pub samples: Option<PathBuf>,
}

/// A free-energy estimator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EstimatorConfig {
    /// Exponential averaging (FEP) on the samples of each state toward the next.
    ExpForward,
    /// Exponential averaging on the samples of each state toward the previous one.
    ExpReverse,
    /// Bennett's acceptance ratio between consecutive states.
    Bar,
    /// MBAR over all the states.
    Mbar,
    /// The density ratio log q/p between consecutive states from their samples alone (an
    /// optimal-transport flow and infinitesimal density-ratio estimation); Δf follows from the
    /// energies as ⟨log q/p + u_B − u_A⟩.
    Dre(DreConfig),
}

impl EstimatorConfig {
    /// The name of its group in the output, `/free_energy/<name>`.
    pub fn name(&self) -> &'static str {
        match self {
            EstimatorConfig::ExpForward => "exp_forward",
            EstimatorConfig::ExpReverse => "exp_reverse",
            EstimatorConfig::Bar => "bar",
            EstimatorConfig::Mbar => "mbar",
            EstimatorConfig::Dre(_) => "dre",
        }
    }

    /// The states whose samples the estimator needs, of `k` states.
    pub fn needs_samples(&self, k: usize) -> Vec<usize> {
        match self {
            EstimatorConfig::ExpForward => (0..k - 1).collect(),
            EstimatorConfig::ExpReverse => (1..k).collect(),
            EstimatorConfig::Bar | EstimatorConfig::Dre(_) => (0..k).collect(),
            EstimatorConfig::Mbar => Vec::new(),
        }
    }
}

fn all_estimators() -> Vec<EstimatorConfig> {
    vec![
        EstimatorConfig::ExpForward,
        EstimatorConfig::ExpReverse,
        EstimatorConfig::Bar,
        EstimatorConfig::Mbar,
    ]
}

impl FreeEnergyConfig {
    /// Checks what serde cannot: two states or more, some estimator, each estimator's samples.
    pub fn validate(&self) -> Result<()> {
        let fail = |m: String| Err(Error::InvalidArgument(m));
        let k = self.states.len();
        if k < 2 {
            return fail(format!(
                "`states` has {k} state(s); a free-energy difference needs at least two"
            ));
        }
        if self.estimators.is_empty() {
            return fail(
                "`estimators` is empty: give at least one of ExpForward, ExpReverse, Bar, Mbar, Dre"
                    .into(),
            );
        }
        for estimator in &self.estimators {
            if let EstimatorConfig::Dre(dre) = estimator {
                dre.validate()?;
            }
            if let Some(missing) = estimator
                .needs_samples(k)
                .into_iter()
                .find(|&i| self.states[i].samples.is_none())
            {
                return fail(format!(
                    "{estimator:?} needs samples of state {missing} ({}), which has none",
                    self.states[missing].system.display()
                ));
            }
        }
        if self.states.iter().all(|s| s.samples.is_none()) {
            return fail("no state has samples".into());
        }
        Ok(())
    }
}
