//! The plugin's configuration: which system, and its parameters.
//!
//! One flat RON struct with a `system` string, so that every mistake gets a message in this
//! plugin's words: an unknown field is refused by name (with the list of known fields), an unknown
//! system lists the valid ones, a field that belongs to the other system is named, and every bad
//! value says what is allowed.

use boltzflow_plugin::{PluginError, parse_config};
use serde::Deserialize;

/// The configuration text as written, before validation.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `"many_well"` or `"quantum"`.
    pub system: Option<String>,
    /// Many-Well: number of coordinates, even and ≥ 2.
    pub dim: Option<i64>,
    /// Quantum: number of time slices N ≥ 2.
    pub sites: Option<i64>,
    /// Quantum: mass m > 0.
    pub mass: Option<f64>,
    /// Quantum: quartic coupling λ > 0 (default 1).
    pub lambda: Option<f64>,
    /// Quantum: imaginary-time extent T = β > 0 (default 4).
    pub time_extent: Option<f64>,
}

/// Default quartic coupling λ.
pub const DEFAULT_LAMBDA: f64 = 1.0;
/// Default time extent T.
pub const DEFAULT_TIME_EXTENT: f64 = 4.0;
/// Largest number of sites accepted.
pub const MAX_SITES: i64 = 100_000;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum SystemConfig {
    /// The FAB Many-Well in `dim` (even) dimensions.
    ManyWell {
        /// Number of coordinates.
        dim: usize,
    },
    /// The lattice path integral of a particle in a double well.
    Quantum {
        /// Number of sites N.
        sites: usize,
        /// Mass m.
        mass: f64,
        /// Quartic coupling λ.
        lambda: f64,
        /// Time extent T.
        time_extent: f64,
    },
}

const EXAMPLES: &str =
    r#"for example (system: "many_well", dim: 32) or (system: "quantum", sites: 16, mass: 3.0)"#;

/// Parses and validates the configuration text.
pub fn parse(text: &str) -> Result<SystemConfig, PluginError> {
    let raw: RawConfig = parse_config(text)?;
    validate(raw)
}

fn validate(raw: RawConfig) -> Result<SystemConfig, PluginError> {
    let Some(system) = raw.system.as_deref() else {
        return Err(PluginError::new(format!(
            "the double-well plugin needs `system`: \"many_well\" or \"quantum\"; {EXAMPLES}"
        )));
    };
    match system {
        "many_well" => {
            reject_fields(
                system,
                "`dim`",
                [
                    ("sites", raw.sites.is_some()),
                    ("mass", raw.mass.is_some()),
                    ("lambda", raw.lambda.is_some()),
                    ("time_extent", raw.time_extent.is_some()),
                ],
            )?;
            let Some(dim) = raw.dim else {
                return Err(PluginError::new(
                    "system \"many_well\" needs `dim`, an even number ≥ 2 (for example dim: 32)",
                ));
            };
            if dim < 2 {
                return Err(PluginError::new(format!(
                    "`dim` must be an even number ≥ 2, got {dim}"
                )));
            }
            if dim % 2 != 0 {
                return Err(PluginError::new(format!(
                    "`dim` must be even, got {dim}: the Many-Well is made of 2-D pairs; use {} or {}",
                    dim - 1,
                    dim + 1
                )));
            }
            let dim = usize::try_from(dim)
                .map_err(|_| PluginError::new(format!("`dim` = {dim} is too large")))?;
            Ok(SystemConfig::ManyWell { dim })
        }
        "quantum" => {
            reject_fields(
                system,
                "`sites`, `mass`, `lambda` and `time_extent`",
                [("dim", raw.dim.is_some())],
            )?;
            let Some(sites) = raw.sites else {
                return Err(PluginError::new(
                    "system \"quantum\" needs `sites`, the number N ≥ 2 of imaginary-time slices (for example sites: 16)",
                ));
            };
            if !(2..=MAX_SITES).contains(&sites) {
                return Err(PluginError::new(format!(
                    "`sites` must be an integer from 2 to {MAX_SITES}, got {sites}"
                )));
            }
            let Some(mass) = raw.mass else {
                return Err(PluginError::new(
                    "system \"quantum\" needs `mass`, a positive number (for example mass: 3.0)",
                ));
            };
            let mass = positive("mass", mass)?;
            let lambda = positive("lambda", raw.lambda.unwrap_or(DEFAULT_LAMBDA))?;
            let time_extent = positive(
                "time_extent",
                raw.time_extent.unwrap_or(DEFAULT_TIME_EXTENT),
            )?;
            Ok(SystemConfig::Quantum {
                sites: sites as usize,
                mass,
                lambda,
                time_extent,
            })
        }
        other => Err(PluginError::new(format!(
            "unknown system \"{other}\": use \"many_well\" (the FAB Many-Well) or \"quantum\" (a particle \
             in a double well, as a lattice path integral); {EXAMPLES}"
        ))),
    }
}

/// Refuses the fields that do not belong to `system`.
fn reject_fields<const N: usize>(
    system: &str,
    takes: &str,
    fields: [(&str, bool); N],
) -> Result<(), PluginError> {
    let extra: Vec<String> = fields
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(PluginError::new(format!(
            "{} not apply to system \"{system}\", which takes {takes}: remove {}",
            if extra.len() == 1 {
                format!("{} does", extra[0])
            } else {
                format!("{} do", extra.join(", "))
            },
            if extra.len() == 1 { "it" } else { "them" }
        )))
    }
}

/// Checks that `value` is a positive, finite number.
fn positive(name: &str, value: f64) -> Result<f64, PluginError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(PluginError::new(format!(
            "`{name}` must be a positive, finite number, got {value}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text).unwrap_err().message().to_owned()
    }

    #[test]
    fn valid_configurations() {
        assert_eq!(
            parse(r#"(system: "many_well", dim: 32)"#).unwrap(),
            SystemConfig::ManyWell { dim: 32 }
        );
        assert_eq!(
            parse(r#"(system: "quantum", sites: 16, mass: 3.0)"#).unwrap(),
            SystemConfig::Quantum {
                sites: 16,
                mass: 3.0,
                lambda: 1.0,
                time_extent: 4.0
            }
        );
        assert_eq!(
            parse(r#"(system: "quantum", sites: 16, mass: 3, lambda: 0.5, time_extent: 8)"#)
                .unwrap(),
            SystemConfig::Quantum {
                sites: 16,
                mass: 3.0,
                lambda: 0.5,
                time_extent: 8.0
            }
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = error(r#"(system: "many_well", dim: 33)"#);
        assert!(
            e.contains("`dim`") && e.contains("even") && e.contains("33") && e.contains("32"),
            "{e}"
        );
        let e = error(r#"(system: "many_well", dim: 0)"#);
        assert!(e.contains("`dim`") && e.contains("≥ 2"), "{e}");
        let e = error(r#"(system: "many_well")"#);
        assert!(e.contains("needs `dim`"), "{e}");
        let e = error(r#"(system: "quantum", sites: 16, mas: 3.0)"#);
        assert!(e.contains("mas") && e.contains("mass"), "{e}");
        let e = error(r#"(system: "quantum", sites: 16, mass: -3.0)"#);
        assert!(
            e.contains("`mass`") && e.contains("-3") && e.contains("positive"),
            "{e}"
        );
        let e = error(r#"(system: "quantum", sites: 16, mass: 3.0, lambda: 0.0)"#);
        assert!(e.contains("`lambda`"), "{e}");
        let e = error(r#"(system: "quantum", sites: 16, mass: 3.0, time_extent: NaN)"#);
        assert!(e.contains("`time_extent`"), "{e}");
        let e = error(r#"(system: "quantum", sites: 1, mass: 3.0)"#);
        assert!(e.contains("`sites`") && e.contains("got 1"), "{e}");
        let e = error(r#"(system: "quantum", mass: 3.0)"#);
        assert!(e.contains("needs `sites`"), "{e}");
        let e = error(r#"(system: "quantum", sites: 16)"#);
        assert!(e.contains("needs `mass`"), "{e}");
        let e = error(r#"(system: "quantum", sites: 16, mass: 3.0, dim: 16)"#);
        assert!(
            e.contains("`dim` does not apply") && e.contains("quantum"),
            "{e}"
        );
        let e = error(r#"(system: "many_well", dim: 32, mass: 3.0, sites: 4)"#);
        assert!(e.contains("`sites`, `mass` do not apply"), "{e}");
        let e = error(r#"(system: "manywell", dim: 32)"#);
        assert!(
            e.contains("unknown system \"manywell\"") && e.contains("\"many_well\""),
            "{e}"
        );
        let e = error("");
        assert!(e.contains("needs `system`"), "{e}");
    }
}
