//! The [`Energy`] trait that a Rust plugin implements.

use crate::Metadata;
use std::fmt;
use std::path::{Path, PathBuf};

/// An error a plugin reports to the host. It crosses the C ABI as its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginError(String);

impl PluginError {
    /// An error with this message. Say what was wrong and, if you can, what to do.
    pub fn new(message: impl Into<String>) -> Self {
        PluginError(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        PluginError(message)
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        PluginError(message.to_owned())
    }
}

/// Where a plugin's configuration came from: relative file names in it (a force field, a
/// topology) are taken relative to the folder of the system file that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    base_dir: PathBuf,
}

impl Context {
    /// A context whose relative paths resolve against `base_dir`.
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Context {
            base_dir: base_dir.into(),
        }
    }

    /// The folder relative paths resolve against.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// `path` if absolute, else `path` inside the base folder.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        self.base_dir.join(path)
    }
}

impl Default for Context {
    /// Relative paths resolve against the current directory.
    fn default() -> Self {
        Context::new(".")
    }
}

/// A reduced energy u(x) = E(x)/k_BT on ℝ^dim, with its gradient, in f64.
///
/// Implement the required methods and call [`export_plugin!`](crate::export_plugin) once in the
/// crate. The host calls the methods from several threads at once (the type is `Sync`), on batches
/// of points stored row-major: point `i` is `x[i * dim..(i + 1) * dim]`.
///
/// Numbers that are not finite are data, not crashes: return `f64::INFINITY` for a forbidden
/// configuration (atoms on top of each other, say) and `f64::NAN` for a point where the energy is
/// undefined (a NaN coordinate). The host counts them and gives them zero weight.
pub trait Energy: Send + Sync + Sized + 'static {
    /// Builds the energy from its configuration text (RON; see [`parse_config`](crate::parse_config)).
    /// Resolve file names in the configuration with [`Context::resolve`].
    fn from_config(config: &str, context: &Context) -> Result<Self, PluginError>;

    /// Number of coordinates of one point (3 × atoms for a molecule).
    fn dim(&self) -> usize;

    /// Description of the system. Called once, when the host creates the energy.
    fn metadata(&self) -> Metadata;

    /// Reduced energy of one point `x` (length `dim`). If `grad` is given (length `dim`), write
    /// ∇u(x) into it.
    fn energy(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64;

    /// Reduced energies of `u.len()` points, and their gradients if `grad` is given
    /// (row-major, `u.len() × dim`). The default calls [`Energy::energy`] point by point; override
    /// it when a batch can be done faster. The host already splits batches across threads.
    fn energy_batch(
        &self,
        x: &[f64],
        u: &mut [f64],
        grad: Option<&mut [f64]>,
    ) -> Result<(), PluginError> {
        let dim = self.dim();
        match grad {
            Some(grad) => {
                for ((ui, xi), gi) in u
                    .iter_mut()
                    .zip(x.chunks_exact(dim))
                    .zip(grad.chunks_exact_mut(dim))
                {
                    *ui = self.energy(xi, Some(gi));
                }
            }
            None => {
                for (ui, xi) in u.iter_mut().zip(x.chunks_exact(dim)) {
                    *ui = self.energy(xi, None);
                }
            }
        }
        Ok(())
    }

    /// The exact log normalising constant log Z = log ∫ exp(−u(x)) dx, when the plugin knows it.
    fn log_z(&self) -> Option<f64> {
        None
    }

    /// Whether [`Energy::sample`] draws exact samples of p(x) ∝ exp(−u(x)).
    fn has_exact_sampler(&self) -> bool {
        false
    }

    /// Fills `out` (row-major, `n × dim`) with `n` independent exact samples, reproducibly from
    /// `seed`. Only called when [`Energy::has_exact_sampler`] is true.
    fn sample(&self, seed: u64, out: &mut [f64]) -> Result<(), PluginError> {
        let _ = (seed, out);
        Err(PluginError::new("this plugin has no exact sampler"))
    }
}
