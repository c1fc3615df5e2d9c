//! boltzflow plugin `double-well`: two double-well benchmark systems with exact log Z.
//!
//! The configuration (RON) names the system with a `system` string and gives its parameters:
//!
//! - **`"many_well"`**: the Many-Well of the FAB paper (Midgley et al., 2023) in `dim` (even)
//!   dimensions, u(x) = Σᵢ x₂ᵢ⁴ − 6x₂ᵢ² − 0.5x₂ᵢ + ½x₂ᵢ₊₁². Exact log Z (by 1-D quadrature, the
//!   energy being separable) and an exact sampler (rejection for each x₂ᵢ, normal draws for each
//!   x₂ᵢ₊₁, reproducible from the seed).
//!
//!   ```ron
//!   (system: "many_well", dim: 32)
//!   ```
//!
//! - **`"quantum"`**: a quantum particle in the double well V(x) = (λ/4)x⁴ − (m/2)x², as the
//!   periodic lattice path integral of Máté & Fleuret with `sites` = N time slices over the
//!   imaginary time `time_extent` = T (Δτ = T/N):
//!   u(x) = Δτ Σᵢ [V(xᵢ) + (m/2)(xᵢ − xᵢ₋₁)²/Δτ²], x₋₁ = x_{N−1}. Exact log Z by a transfer
//!   matrix (see [`transfer_matrix`]); no exact sampler. `lambda` defaults to 1 and `time_extent`
//!   to 4.
//!
//!   ```ron
//!   (system: "quantum", sites: 16, mass: 3.0)
//!   (system: "quantum", sites: 16, mass: 4.5, lambda: 1.0, time_extent: 4.0)
//!   ```
//!
//! Unknown fields, unknown systems, fields of the other system and out-of-range values are
//! refused with a message naming the field and what it accepts (see [`config`]).

pub mod config;
pub mod many_well;
pub mod quadrature;
pub mod quantum;
pub mod transfer_matrix;

use boltzflow_plugin::{Context, Energy, Metadata, PluginError};
use config::SystemConfig;
use many_well::ManyWell;
use quantum::QuantumDoubleWell;

/// The plugin's energy: one of the two systems, chosen by the configuration.
#[derive(Clone, Debug)]
pub enum DoubleWell {
    /// The FAB Many-Well.
    ManyWell(ManyWell),
    /// The lattice path integral of a particle in a double well.
    Quantum(QuantumDoubleWell),
}

impl Energy for DoubleWell {
    fn from_config(text: &str, _context: &Context) -> Result<Self, PluginError> {
        match config::parse(text)? {
            SystemConfig::ManyWell { dim } => Ok(DoubleWell::ManyWell(ManyWell::new(dim))),
            SystemConfig::Quantum {
                sites,
                mass,
                lambda,
                time_extent,
            } => {
                let grid = QuantumDoubleWell::grid_for(sites, mass, lambda, time_extent);
                if grid.points > transfer_matrix::MAX_POINTS {
                    return Err(PluginError::new(format!(
                        "system \"quantum\": the transfer matrix for log Z would need {} grid points (the \
                         limit is {}), because the kinetic width √(Δτ/m) = {:.3e} is small; use fewer \
                         `sites`, a longer `time_extent` or a smaller `mass`",
                        grid.points,
                        transfer_matrix::MAX_POINTS,
                        (time_extent / sites as f64 / mass).sqrt()
                    )));
                }
                Ok(DoubleWell::Quantum(QuantumDoubleWell::new(
                    sites,
                    mass,
                    lambda,
                    time_extent,
                )))
            }
        }
    }

    fn dim(&self) -> usize {
        match self {
            DoubleWell::ManyWell(s) => s.dim(),
            DoubleWell::Quantum(s) => s.dim(),
        }
    }

    fn metadata(&self) -> Metadata {
        match self {
            DoubleWell::ManyWell(s) => Metadata::new(s.name())
                .with_description(
                    "FAB Many-Well: sum over coordinate pairs of x1^4 - 6 x1^2 - 0.5 x1 + x2^2/2 \
                     (2^(dim/2) modes); exact log Z and exact sampler",
                )
                .with_parameters(s.parameters()),
            DoubleWell::Quantum(s) => Metadata::new(s.name())
                .with_description(
                    "quantum particle in the double well V(x) = (lambda/4) x^4 - (m/2) x^2: periodic \
                     lattice path integral in imaginary time (Mate & Fleuret); exact log Z by transfer matrix",
                )
                .with_parameters(s.parameters()),
        }
    }

    fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        match self {
            DoubleWell::ManyWell(s) => s.energy(x, grad),
            DoubleWell::Quantum(s) => s.energy(x, grad),
        }
    }

    fn log_z(&self) -> Option<f64> {
        Some(match self {
            DoubleWell::ManyWell(s) => s.log_z(),
            DoubleWell::Quantum(s) => s.log_z(),
        })
    }

    fn has_exact_sampler(&self) -> bool {
        matches!(self, DoubleWell::ManyWell(_))
    }

    fn sample(&self, seed: u64, out: &mut [f64]) -> Result<(), PluginError> {
        match self {
            DoubleWell::ManyWell(s) => s.sample(seed, out),
            DoubleWell::Quantum(_) => Err(PluginError::new(
                "the quantum double well has no exact sampler",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> DoubleWell {
        DoubleWell::from_config(text, &Context::default()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn reference_log_z_values() {
        let many_well = build(r#"(system: "many_well", dim: 32)"#);
        println!(
            "many_well dim 32: log Z = {:.12}",
            many_well.log_z().unwrap()
        );
        assert_eq!(many_well.dim(), 32);
        assert!(many_well.has_exact_sampler());
        assert_eq!(many_well.metadata().system, "Many-Well-32");
        println!(
            "many_well sampler acceptance: {}",
            many_well.metadata().parameters["sampler_acceptance"]
        );
        for mass in ["1.5", "3.0", "4.5", "6.0"] {
            let text = format!(
                r#"(system: "quantum", sites: 16, mass: {mass}, lambda: 1.0, time_extent: 4.0)"#
            );
            let system = build(&text);
            let DoubleWell::Quantum(q) = &system else {
                unreachable!()
            };
            println!(
                "quantum N=16 λ=1 T=4 m={mass}: log Z = {:.12}  (grid {:?})",
                q.log_z(),
                q.grid()
            );
            assert_eq!(system.dim(), 16);
            assert!(!system.has_exact_sampler());
            assert!(system.log_z().unwrap().is_finite());
        }
        let m3 = build(r#"(system: "quantum", sites: 16, mass: 3.0)"#);
        assert_eq!(m3.metadata().system, "quantum double well N=16 m=3");
    }

    #[test]
    fn metadata_reports_parameters() {
        let meta =
            build(r#"(system: "quantum", sites: 16, mass: 3.0, time_extent: 2.0)"#).metadata();
        assert_eq!(meta.system, "quantum double well N=16 m=3 T=2");
        let p = &meta.parameters;
        assert_eq!(p["sites"], 16);
        assert_eq!(p["dt"], 0.125);
        assert!(p["transfer_matrix"]["grid_points"].as_u64().unwrap() > 100);
        let meta = build(r#"(system: "many_well", dim: 8)"#).metadata();
        assert_eq!(meta.parameters["pairs"], 4);
        assert!(meta.parameters["sampler_acceptance"].as_f64().unwrap() > 0.85);
    }

    #[test]
    fn quantum_has_no_sampler_and_refuses_huge_grids() {
        let q = build(r#"(system: "quantum", sites: 4, mass: 1.0)"#);
        assert!(q.sample(1, &mut [0.0; 4]).is_err());
        let e = DoubleWell::from_config(
            r#"(system: "quantum", sites: 5000, mass: 6.0)"#,
            &Context::default(),
        )
        .unwrap_err();
        assert!(
            e.message().contains("grid points") && e.message().contains("fewer `sites`"),
            "{e}"
        );
    }

    #[test]
    fn config_errors_reach_the_host() {
        for (text, needle) in [
            (r#"(system: "many_well", dim: 31)"#, "`dim` must be even"),
            (r#"(system: "many_well", dimm: 32)"#, "dimm"),
            (
                r#"(system: "quantum", sites: 16, mass: -1.0)"#,
                "`mass` must be a positive",
            ),
        ] {
            let e = DoubleWell::from_config(text, &Context::default()).unwrap_err();
            assert!(e.message().contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn exported_table_round_trip() {
        use boltzflow_plugin::ffi;
        use std::ffi::{CStr, CString, c_char};
        // SAFETY: the entry point returns a pointer to a static table; every call below follows
        // the ABI contract (valid NUL-terminated config, buffers of the stated sizes).
        unsafe {
            let api = &*boltzflow_plugin();
            assert_eq!(api.abi_version, ffi::ABI_VERSION);
            assert_eq!(CStr::from_ptr(api.name).to_str().unwrap(), "double-well");
            let mut err = vec![0 as c_char; ffi::ERROR_BUFFER_LEN];
            let mut handle = std::ptr::null_mut();

            let bad = CString::new(r#"(system: "many_well", dim: 3)"#).unwrap();
            let status = (api.create.unwrap())(
                bad.as_ptr(),
                std::ptr::null(),
                &mut handle,
                err.as_mut_ptr(),
                err.len(),
            );
            assert_eq!(status, ffi::STATUS_ERROR);
            assert!(
                CStr::from_ptr(err.as_ptr())
                    .to_str()
                    .unwrap()
                    .contains("`dim` must be even")
            );

            let config = CString::new(r#"(system: "many_well", dim: 4)"#).unwrap();
            let status = (api.create.unwrap())(
                config.as_ptr(),
                std::ptr::null(),
                &mut handle,
                err.as_mut_ptr(),
                err.len(),
            );
            assert_eq!(status, ffi::STATUS_OK);
            assert_eq!((api.dim.unwrap())(handle), 4);
            let flags = (api.flags.unwrap())(handle);
            assert_ne!(flags & ffi::FLAG_EXACT_LOG_Z, 0);
            assert_ne!(flags & ffi::FLAG_EXACT_SAMPLER, 0);
            let json = CStr::from_ptr((api.metadata.unwrap())(handle))
                .to_str()
                .unwrap();
            assert!(json.contains("Many-Well-4"), "{json}");
            let mut log_z = 0.0;
            assert_eq!((api.log_z.unwrap())(handle, &mut log_z), ffi::STATUS_OK);
            assert!(
                (log_z - 2.0 * many_well::log_z1() - (2.0 * std::f64::consts::PI).ln()).abs()
                    < 1e-12
            );
            let mut samples = vec![0.0; 3 * 4];
            let status = (api.sample.unwrap())(
                handle,
                9,
                3,
                samples.as_mut_ptr(),
                err.as_mut_ptr(),
                err.len(),
            );
            assert_eq!(status, ffi::STATUS_OK);
            let (mut u, mut grad) = (vec![0.0; 3], vec![0.0; 12]);
            let status = (api.energy.unwrap())(
                handle,
                3,
                samples.as_ptr(),
                u.as_mut_ptr(),
                grad.as_mut_ptr(),
                err.as_mut_ptr(),
                err.len(),
            );
            assert_eq!(status, ffi::STATUS_OK);
            assert!(u.iter().all(|v| v.is_finite()) && grad.iter().all(|v| v.is_finite()));
            (api.destroy.unwrap())(handle);

            let config = CString::new(r#"(system: "quantum", sites: 8, mass: 3.0)"#).unwrap();
            let status = (api.create.unwrap())(
                config.as_ptr(),
                std::ptr::null(),
                &mut handle,
                err.as_mut_ptr(),
                err.len(),
            );
            assert_eq!(status, ffi::STATUS_OK);
            assert_eq!((api.flags.unwrap())(handle) & ffi::FLAG_EXACT_SAMPLER, 0);
            let mut samples = vec![0.0; 8];
            let status = (api.sample.unwrap())(
                handle,
                9,
                1,
                samples.as_mut_ptr(),
                err.as_mut_ptr(),
                err.len(),
            );
            assert_eq!(status, ffi::STATUS_UNSUPPORTED);
            (api.destroy.unwrap())(handle);
        }
    }
}

boltzflow_plugin::export_plugin!(DoubleWell, "double-well");
