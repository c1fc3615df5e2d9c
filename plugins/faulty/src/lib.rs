//! A plugin that misbehaves on request, so that boltzflow's tests can check that every failure
//! reaches the user as a clear error and never as a crash.
//!
//! Its energy is the standard normal u(x) = ½|x|² (exact log Z = (dim/2) log 2π), and its
//! configuration switches on faults:
//!
//! ```ron
//! (dim: 2, panic_in_create: false, panic_in_energy: false, fail_in_energy: false,
//!  nan_above: 0.0, inf_above: 1.0)
//! ```
//!
//! `nan_above: v` makes u NaN where x₀ > v; `inf_above: v` makes u +∞ where x₀ > v.
//! `require_file: "name"` refuses the configuration unless that file exists, resolved like any
//! file a plugin reads (relative to the system file's folder).
//! `sampler: true` offers an exact sampler of the standard normal (faults or not).
//! `segfault_at_call: k`, `abort_at_call: k` and `hang_at_call: k` make the k-th call of
//! `energy` (counted from 1 per instance) crash the process with SIGSEGV, abort it (SIGABRT)
//! or never return: what an isolated plugin's worker must survive. `fail_at_call: k` makes the
//! k-th call return an error (as `fail_in_energy` does for every call).

use boltzflow_plugin::{Context, Energy, Metadata, PluginError, export_plugin, parse_config};
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The fault switches.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_dim")]
    dim: usize,
    #[serde(default)]
    panic_in_create: bool,
    #[serde(default)]
    panic_in_energy: bool,
    #[serde(default)]
    fail_in_energy: bool,
    #[serde(default)]
    nan_above: Option<f64>,
    #[serde(default)]
    inf_above: Option<f64>,
    #[serde(default)]
    require_file: Option<String>,
    /// Offer an exact sampler (of the standard normal, whatever the faults).
    #[serde(default)]
    sampler: bool,
    /// The `energy` call (from 1) that returns an error.
    #[serde(default)]
    fail_at_call: Option<usize>,
    /// The `energy` call (from 1) that writes to an invalid address.
    #[serde(default)]
    segfault_at_call: Option<usize>,
    /// The `energy` call (from 1) that aborts the process.
    #[serde(default)]
    abort_at_call: Option<usize>,
    /// The `energy` call (from 1) that never returns.
    #[serde(default)]
    hang_at_call: Option<usize>,
}

fn default_dim() -> usize {
    2
}

/// The standard normal energy with optional faults, and its count of `energy` calls.
struct Faulty(Config, AtomicUsize);

impl Energy for Faulty {
    fn from_config(config: &str, context: &Context) -> Result<Self, PluginError> {
        let config: Config = parse_config(config)?;
        if let Some(file) = &config.require_file {
            let path = context.resolve(file);
            if !path.is_file() {
                return Err(PluginError::new(format!(
                    "required file {} does not exist",
                    path.display()
                )));
            }
        }
        if config.panic_in_create {
            panic!("asked to panic in create");
        }
        Ok(Faulty(config, AtomicUsize::new(0)))
    }

    fn dim(&self) -> usize {
        self.0.dim
    }

    fn metadata(&self) -> Metadata {
        Metadata::new("faulty standard normal")
            .with_description("a standard normal energy that fails on request (for tests)")
            .with_parameters(&self.0)
    }

    fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        if self.0.panic_in_energy {
            panic!("asked to panic in energy");
        }
        if let Some(g) = grad {
            g.copy_from_slice(x);
        }
        if self.0.nan_above.is_some_and(|v| x[0] > v) {
            return f64::NAN;
        }
        if self.0.inf_above.is_some_and(|v| x[0] > v) {
            return f64::INFINITY;
        }
        0.5 * x.iter().map(|v| v * v).sum::<f64>()
    }

    fn energy_batch(
        &self,
        x: &[f64],
        u: &mut [f64],
        grad: Option<&mut [f64]>,
    ) -> Result<(), PluginError> {
        if self.0.fail_in_energy {
            return Err(PluginError::new("asked to fail in energy"));
        }
        let call = self.1.fetch_add(1, Ordering::SeqCst) + 1;
        if self.0.fail_at_call == Some(call) {
            return Err(PluginError::new(format!("asked to fail at call {call}")));
        }
        if self.0.segfault_at_call == Some(call) {
            // SAFETY: none; this is the fault asked for (address 16 is never mapped).
            unsafe { std::ptr::write_volatile(std::ptr::without_provenance_mut::<u8>(16), 1) };
        }
        if self.0.abort_at_call == Some(call) {
            std::process::abort();
        }
        if self.0.hang_at_call == Some(call) {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        for (i, xi) in x.chunks_exact(self.0.dim).enumerate() {
            u[i] = self.energy(xi, None);
        }
        if let Some(g) = grad {
            g.copy_from_slice(x);
        }
        Ok(())
    }

    fn log_z(&self) -> Option<f64> {
        Some(0.5 * self.0.dim as f64 * (2.0 * std::f64::consts::PI).ln())
    }

    fn has_exact_sampler(&self) -> bool {
        self.0.sampler
    }

    fn sample(&self, seed: u64, out: &mut [f64]) -> Result<(), PluginError> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        for v in out {
            *v = rng.sample(StandardNormal);
        }
        Ok(())
    }
}

export_plugin!(Faulty, "faulty");
