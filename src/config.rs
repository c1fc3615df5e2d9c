//! Configuration files in RON: system files (which plugin, with which parameters).
//!
//! A system file names a plugin and gives its configuration:
//!
//! ```ron
//! // FAB's GMM-40
//! System(
//!     plugin: "gaussian-mixture",   // a name on the plugin search path, or a path to a library
//!     config: (preset: "gmm40"),    // handed to the plugin as RON text
//! )
//! ```
//!
//! or makes the λ-state u_λ = (1 − λ) u_A + λ u_B between two system files of the same
//! dimension (paths relative to this file's folder), for free energies along a path:
//!
//! ```ron
//! Lambda(a: "quantum_double_well_N16_m3.ron", b: "quantum_double_well_N16_m4.5.ron", lambda: 0.25)
//! ```
//!
//! or is the energy model trained in a run folder (`boltzflow train` with `energy: (...)`),
//! usable wherever a system file is:
//!
//! ```ron
//! System(learned: "../runs/energy_cd_2d")   // relative to this file's folder
//! ```
//!
//! (a potential flow of one or two angles, `System(learned: "RUN_DIR", table: 128)`, is
//! tabulated on 128 points per axis when the file is loaded and interpolated: see
//! [`LearnedEnergy::open`]),
//!
//! or is a space of angles with no energy of its own, for runs that learn an energy over
//! dihedral angles from samples:
//!
//! ```ron
//! Angles(names: ["phi", "psi"], temperature_kelvin: 300.0)
//! ```
//!
//! Unknown fields are errors that name the field and the file.

use crate::ebm::LearnedEnergy;
use crate::energy::worker::{self, python::PYTHON_PLUGIN};
use crate::energy::{Angles, PluginLibrary, System, resolve_plugin};
use crate::{Error, Result};
use ron::value::RawValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The RON options every boltzflow file is read with: `Option` fields may be written bare.
pub fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

/// Reads and parses a RON file into `T`, with errors that name the file and the position.
pub fn read_ron_file<T: DeserializeOwned>(path: &Path) -> Result<(T, String)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let value = ron_options().from_str(&text).map_err(|e| Error::Config {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok((value, text))
}

/// Writes `value` as pretty RON to `path`, atomically (a temporary file renamed into place).
pub fn write_ron_file<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::default()).map_err(|e| {
            Error::Config {
                path: path.to_owned(),
                message: e.to_string(),
            }
        })?;
    crate::io::write_atomically(path, text.as_bytes())
}

/// The contents of a system file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
enum SystemFileContents {
    System {
        #[serde(default)]
        plugin: Option<String>,
        #[serde(default)]
        config: Option<Box<RawValue>>,
        #[serde(default)]
        learned: Option<PathBuf>,
        #[serde(default)]
        table: Option<usize>,
        #[serde(default)]
        isolate: bool,
        #[serde(default)]
        timeout_s: Option<f64>,
    },
    Lambda {
        a: PathBuf,
        b: PathBuf,
        lambda: f64,
    },
    Angles {
        names: Vec<String>,
        #[serde(default)]
        temperature_kelvin: Option<f64>,
    },
}

/// How deep λ-state files may refer to other λ-state files (deeper is taken for a cycle).
const MAX_SYSTEM_NESTING: usize = 8;

/// A parsed system file: what its energy is made of.
#[derive(Clone, Debug)]
pub struct SystemFile {
    /// The file it was read from.
    pub path: PathBuf,
    /// The whole file, recorded in outputs for reproducibility.
    pub text: String,
    /// What the file says.
    pub source: SystemSource,
}

/// What a system file makes.
#[derive(Clone, Debug, PartialEq)]
pub enum SystemSource {
    /// One plugin instance.
    Plugin {
        /// The plugin: a name on the search path or a path (relative to the file's folder);
        /// `python` for a Python energy.
        plugin: String,
        /// The plugin's configuration as RON text (empty when the file gives none).
        config: String,
        /// Run it in a worker process of its own (always so for Python).
        isolate: bool,
        /// The longest a worker may take over one call, in seconds (the default when `None`).
        timeout_s: Option<f64>,
    },
    /// The energy model trained in a run folder.
    Learned {
        /// The run folder, resolved against the file's folder.
        run: PathBuf,
        /// Points per axis of the table that replaces a potential flow of angles (see
        /// [`LearnedEnergy::open`]); `None`: the model itself.
        table: Option<usize>,
    },
    /// The λ-state between two system files.
    Lambda {
        /// System A's file, resolved against the file's folder.
        a: PathBuf,
        /// System B's file, likewise.
        b: PathBuf,
        /// λ in [0, 1]: u = (1 − λ) u_A + λ u_B.
        lambda: f64,
    },
    /// A space of named angles with no energy of its own.
    Angles {
        /// The angles' names, one per coordinate.
        names: Vec<String>,
        /// Temperature, when the angles come from a physical system.
        temperature_kelvin: Option<f64>,
    },
}

impl SystemFile {
    /// Reads and parses a system file.
    pub fn read(path: &Path) -> Result<Self> {
        let (contents, text): (SystemFileContents, String) = read_ron_file(path)?;
        let folder = crate::io::folder_of(path);
        let source = match contents {
            SystemFileContents::System {
                plugin: Some(plugin),
                config,
                learned: None,
                table: None,
                isolate,
                timeout_s,
            } => {
                if timeout_s.is_some() && !isolate && plugin != PYTHON_PLUGIN {
                    return Err(Error::Config {
                        path: path.to_owned(),
                        message: "`timeout_s` needs `isolate: true`: a call inside this process \
                                  cannot be stopped"
                            .into(),
                    });
                }
                SystemSource::Plugin {
                    plugin,
                    config: config.map(|c| c.get_ron().to_owned()).unwrap_or_default(),
                    isolate,
                    timeout_s,
                }
            }
            SystemFileContents::System {
                plugin: None,
                config: None,
                learned: Some(run),
                table,
                isolate: false,
                timeout_s: None,
            } => SystemSource::Learned {
                run: folder.join(run),
                table,
            },
            SystemFileContents::System { .. } => {
                return Err(Error::Config {
                    path: path.to_owned(),
                    message: "a system names either a plugin, `System(plugin: \"name\", config: \
                              (...))` (with `isolate` and `timeout_s` if wanted), or a trained \
                              energy model, `System(learned: \"RUN_DIR\")` (with `table` if \
                              wanted)"
                        .into(),
                });
            }
            SystemFileContents::Lambda { a, b, lambda } => SystemSource::Lambda {
                a: folder.join(a),
                b: folder.join(b),
                lambda,
            },
            SystemFileContents::Angles {
                names,
                temperature_kelvin,
            } => SystemSource::Angles {
                names,
                temperature_kelvin,
            },
        };
        Ok(SystemFile {
            path: path.to_owned(),
            text,
            source,
        })
    }

    /// Finds and loads the plugin(s), and creates the system.
    pub fn load(&self) -> Result<System> {
        self.load_nested(0)
    }

    fn load_nested(&self, depth: usize) -> Result<System> {
        match &self.source {
            SystemSource::Plugin {
                plugin,
                config,
                isolate,
                timeout_s,
            } => {
                let timeout = worker::timeout(*timeout_s).map_err(|e| Error::Config {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
                if plugin == PYTHON_PLUGIN {
                    return System::python(config, &self.path, timeout);
                }
                let library_path = resolve_plugin(plugin, self.path.parent())?;
                if *isolate {
                    return System::isolated(&library_path, config, Some(&self.path), timeout);
                }
                let library = Arc::new(PluginLibrary::open(&library_path)?);
                System::plugin(library, config, Some(&self.path))
            }
            SystemSource::Learned { run, table } => {
                let energy = LearnedEnergy::open(run, *table).map_err(|e| Error::Config {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
                Ok(System::from_source(Box::new(energy)))
            }
            SystemSource::Angles {
                names,
                temperature_kelvin,
            } => {
                let angles =
                    Angles::new(names.clone(), *temperature_kelvin).map_err(|e| Error::Config {
                        path: self.path.clone(),
                        message: e.to_string(),
                    })?;
                Ok(System::from_source(Box::new(angles)))
            }
            SystemSource::Lambda { .. } if depth >= MAX_SYSTEM_NESTING => Err(Error::Config {
                path: self.path.clone(),
                message: format!(
                    "λ-state files refer to each other more than {MAX_SYSTEM_NESTING} deep; is \
                     there a cycle?"
                ),
            }),
            SystemSource::Lambda { a, b, lambda } => {
                let a = SystemFile::read(a)?.load_nested(depth + 1)?;
                let b = SystemFile::read(b)?.load_nested(depth + 1)?;
                System::lambda(a, b, *lambda).map_err(|e| Error::Config {
                    path: self.path.clone(),
                    message: e.to_string(),
                })
            }
        }
    }
}

/// Reads a system file and creates its system: [`SystemFile::read`] then [`SystemFile::load`].
pub fn load_system(path: &Path) -> Result<(SystemFile, System)> {
    let file = SystemFile::read(path)?;
    let system = file.load()?;
    Ok((file, system))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("system.ron");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// `Angles(names, temperature_kelvin)` is a system of one coordinate per name at that
    /// temperature with u = 0 and ∇u = 0, whose metadata names the angles; no names, a
    /// repeated name or an absurd temperature is refused naming the file.
    #[test]
    fn angles_are_a_space_without_energy() {
        let (_dir, path) = write("Angles(names: [\"phi\", \"psi\"], temperature_kelvin: 300.0)");
        let (_, system) = load_system(&path).unwrap();
        assert_eq!(system.dim(), 2);
        assert_eq!(system.metadata().temperature_kelvin, Some(300.0));
        assert_eq!(
            system.metadata().angles,
            Some(vec!["phi".to_owned(), "psi".to_owned()])
        );
        let evaluated = system.evaluate(&[0.3, -1.0, 2.0, 3.0], true).unwrap();
        assert_eq!(evaluated.u, [0.0, 0.0]);
        assert_eq!(evaluated.grad.unwrap(), [0.0; 4]);
        for bad in [
            "Angles(names: [])",
            "Angles(names: [\"phi\", \"phi\"])",
            "Angles(names: [\"a/b\"])",
            "Angles(names: [\"phi\"], temperature_kelvin: -1.0)",
        ] {
            let (_dir, path) = write(bad);
            let error = load_system(&path).unwrap_err().to_string();
            assert!(
                error.contains("system.ron") && error.contains("Angles"),
                "{error}"
            );
        }
    }

    #[test]
    fn config_is_kept_as_ron_text() {
        let (_dir, path) = write("System(plugin: \"x\", config: (preset: \"gmm40\", n: [1, 2]))");
        let file = SystemFile::read(&path).unwrap();
        assert_eq!(
            file.source,
            SystemSource::Plugin {
                plugin: "x".into(),
                config: "(preset: \"gmm40\", n: [1, 2])".into(),
                isolate: false,
                timeout_s: None,
            }
        );
    }

    /// `isolate` and `timeout_s` are read; a timeout without isolation is refused (an
    /// in-process call cannot be stopped), and so is an absurd one.
    #[test]
    fn isolation_settings_are_read_and_checked() {
        let (_dir, path) = write("System(plugin: \"x\", isolate: true, timeout_s: 5.0)");
        assert!(matches!(
            SystemFile::read(&path).unwrap().source,
            SystemSource::Plugin { isolate: true, timeout_s: Some(t), .. } if t == 5.0
        ));
        let (_dir, path) = write("System(plugin: \"x\", timeout_s: 5.0)");
        let error = SystemFile::read(&path).unwrap_err().to_string();
        assert!(
            error.contains("`timeout_s` needs `isolate: true`"),
            "{error}"
        );
        let (_dir, path) = write("System(plugin: \"x\", isolate: true, timeout_s: -5.0)");
        let error = load_system(&path).unwrap_err().to_string();
        assert!(
            error.contains("system.ron") && error.contains("timeout_s = -5"),
            "{error}"
        );
    }

    #[test]
    fn missing_config_is_empty() {
        let (_dir, path) = write("// comment\nSystem(plugin: \"x\")");
        assert!(matches!(
            SystemFile::read(&path).unwrap().source,
            SystemSource::Plugin { config, .. } if config.is_empty()
        ));
    }

    #[test]
    fn typo_names_field_and_file() {
        let (_dir, path) = write("System(plugn: \"x\")");
        let message = SystemFile::read(&path).unwrap_err().to_string();
        assert!(message.contains("plugn"), "{message}");
        assert!(message.contains("system.ron"), "{message}");
    }

    #[test]
    fn missing_file_names_file() {
        let message = SystemFile::read(Path::new("/nonexistent/sys.ron"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("/nonexistent/sys.ron"), "{message}");
    }
}
