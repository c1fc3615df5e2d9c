//! The run configuration of `boltzflow md` (RON).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A molecular-dynamics (parallel tempering) run.
///
/// ```ron
/// Md(
///     system: "../data/alanine_dipeptide/system.ron",    // relative to this file's folder
///     temperatures: [300.0, 360.0, 432.0, 518.0, 622.0], // kelvin, the system's own first
///     timestep_fs: 1.0,
///     friction_per_ps: 1.0,
///     steps: 1000000,
///     equilibration_steps: 10000,
///     save_every: 1000,
///     exchange_every: 100,
///     walkers: 4,
///     seed: 1,
///     start: "../data/alanine_dipeptide/aldp_min_energy.csv",
/// )
/// ```
///
/// For a system without a molecule (a model system in reduced units: unit masses, k_B T0 = 1),
/// `temperatures` are factors of the system's temperature starting with 1.0, and time is in
/// reduced units where "1 ps" is one reduced unit (so `timestep_fs: 10.0` is Δt = 0.01).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Md")]
pub struct MdConfig {
    /// The system file, relative to the configuration's folder.
    pub system: PathBuf,
    /// The temperature ladder, strictly increasing: kelvin for molecules (the first equal to the
    /// system's temperature), factors starting with 1.0 for model systems. One temperature is
    /// plain Langevin dynamics.
    pub temperatures: Vec<f64>,
    /// Timestep in fs (no constraints: hydrogens move, so 1 fs is about the limit).
    #[serde(default = "crate::defaults::real::<1, 1>")]
    pub timestep_fs: f64,
    /// Langevin friction coefficient in 1/ps.
    #[serde(default = "crate::defaults::real::<1, 1>")]
    pub friction_per_ps: f64,
    /// Production steps (frames are saved during these).
    pub steps: u64,
    /// Steps before production (nothing saved), exchanges included.
    #[serde(default)]
    pub equilibration_steps: u64,
    /// Steps between saved frames.
    #[serde(default = "crate::defaults::uint::<1000>")]
    pub save_every: u64,
    /// Steps between exchange rounds.
    #[serde(default = "crate::defaults::uint::<100>")]
    pub exchange_every: u64,
    /// Independent temperature ladders run side by side.
    #[serde(default = "crate::defaults::int::<1>")]
    pub walkers: usize,
    /// Random seed: initial velocities and the noise of every step.
    #[serde(default)]
    pub seed: u64,
    /// Starting positions (relative to the configuration's folder): a CSV file with one row
    /// per atom whose last three columns are x, y, z in nm (a header row is allowed), or an HDF5
    /// file read like training data (one point for all replicas, one per walker or one per
    /// replica). Required for molecules; model systems start at the origin without it.
    #[serde(default)]
    pub start: Option<PathBuf>,
    /// Steps between checkpoints (a checkpoint is also written on Ctrl-C).
    #[serde(default = "crate::defaults::uint::<100_000>")]
    pub checkpoint_every: u64,
}

impl MdConfig {
    /// Checks the numbers that serde cannot (the ladder against the system is checked when the
    /// system is loaded).
    pub fn validate(&self) -> crate::Result<()> {
        let fail = |m: &str| Err(crate::Error::InvalidArgument(m.to_owned()));
        if self.temperatures.is_empty()
            || self
                .temperatures
                .iter()
                .any(|t| !(t.is_finite() && *t > 0.0))
            || self.temperatures.windows(2).any(|w| w[1] <= w[0])
        {
            return fail("`temperatures` must be positive and strictly increasing");
        }
        if !(self.timestep_fs.is_finite() && self.timestep_fs > 0.0) {
            return fail("`timestep_fs` must be positive");
        }
        if !(self.friction_per_ps.is_finite() && self.friction_per_ps >= 0.0) {
            return fail("`friction_per_ps` must be non-negative");
        }
        if self.steps == 0 || self.save_every == 0 || self.save_every > self.steps {
            return fail("need `steps` ≥ `save_every` ≥ 1");
        }
        if self.exchange_every == 0 || self.walkers == 0 || self.checkpoint_every == 0 {
            return fail("`exchange_every`, `walkers` and `checkpoint_every` must be at least 1");
        }
        Ok(())
    }

    /// The timestep in ps (reduced time units for model systems).
    pub fn timestep_ps(&self) -> f64 {
        self.timestep_fs * 1e-3
    }

    /// All steps of the run: equilibration and production.
    pub fn total_steps(&self) -> u64 {
        self.equilibration_steps + self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c: MdConfig =
            ron::from_str("Md(system: \"s.ron\", temperatures: [1.0], steps: 5000)").unwrap();
        assert_eq!((c.timestep_fs, c.friction_per_ps, c.walkers), (1.0, 1.0, 1));
        assert_eq!(
            (c.save_every, c.exchange_every, &c.start),
            (1000, 100, &None)
        );
        c.validate().unwrap();
        for (field, value) in [
            ("temperatures", "[1.0, 1.0]"),
            ("timestep_fs", "0.0"),
            ("friction_per_ps", "-1.0"),
            ("save_every", "10000"),
            ("walkers", "0"),
        ] {
            let ladder = if field == "temperatures" {
                ""
            } else {
                "temperatures: [1.0],"
            };
            let text = format!("Md(system: \"s.ron\", {ladder} steps: 5000, {field}: {value})");
            let c: MdConfig = ron::from_str(&text).unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{field}: {err}");
        }
        let err = ron::from_str::<MdConfig>("Md(system: \"s.ron\", temperature: [1.0], steps: 1)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("temperature"), "{err}");
    }
}
