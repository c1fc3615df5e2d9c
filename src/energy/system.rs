//! A system: an energy u(x) with its dimension, metadata and capabilities, whatever it is made
//! of: one plugin instance, a λ-state between two systems, or an energy boltzflow computes
//! itself (a learned energy model).

use super::worker::{self, WorkerSystem};
use super::{EnergySource, PluginLibrary, plugin_system::PluginSystem};
use crate::{Error, Result};
use boltzflow_plugin::Metadata;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A reduced energy u(x): its dimension, metadata and capabilities.
///
/// Evaluation is in [`System::evaluate`]; batches run in parallel when every plugin involved
/// declares itself thread-safe, and one at a time otherwise.
#[derive(Debug)]
pub struct System {
    kind: Kind,
    /// Points evaluated so far (see [`System::evaluations`]).
    evaluations: AtomicU64,
}

/// What a system is made of.
#[derive(Debug)]
enum Kind {
    /// One instance of a plugin.
    Plugin(Box<PluginSystem>),
    /// u_λ = (1 − λ) u_A + λ u_B.
    Lambda(Box<LambdaState>),
    /// An energy computed in-process (a learned energy model).
    Source(Box<dyn EnergySource>),
    /// An energy computed by a worker process (an isolated plugin, or Python).
    Worker(Box<WorkerSystem>),
}

/// The λ-state between two systems of the same dimension.
#[derive(Debug)]
struct LambdaState {
    a: System,
    b: System,
    lambda: f64,
    metadata: Metadata,
}

impl System {
    /// Creates an instance of the plugin from its configuration text (RON). `context` is the
    /// file the configuration came from: it names it in errors, and relative file names in the
    /// configuration resolve against its folder (the current directory when `None`).
    pub fn plugin(
        library: Arc<PluginLibrary>,
        config: &str,
        context: Option<&Path>,
    ) -> Result<Self> {
        let plugin = PluginSystem::new(library, config, context)?;
        Ok(Self::of(Kind::Plugin(Box::new(plugin))))
    }

    /// The plugin at `library` run in a worker process of its own (`isolate: true`): a crash
    /// or a call past `timeout` becomes an error naming the plugin, the call and the signal.
    /// Otherwise as [`System::plugin`], one batch at a time (the worker splits it across its
    /// threads when the plugin is thread-safe).
    pub fn isolated(
        library: &Path,
        config: &str,
        context: Option<&Path>,
        timeout: std::time::Duration,
    ) -> Result<Self> {
        let worker = worker::native(library, config, context, timeout)?;
        Ok(Self::of(Kind::Worker(Box::new(worker))))
    }

    /// A Python energy (the `python` plugin) from its configuration (RON text) in the system
    /// file `context`, evaluated by a worker running the user's interpreter.
    pub fn python(config: &str, context: &Path, timeout: std::time::Duration) -> Result<Self> {
        let worker = worker::python::start(config, context, timeout)?;
        Ok(Self::of(Kind::Worker(Box::new(worker))))
    }

    /// The λ-state u_λ = (1 − λ) u_A + λ u_B between two systems, for λ in [0, 1]. They must have
    /// the same dimension and, when they have temperatures, the same one (reduced energies at
    /// different temperatures do not mix). Its metadata are A's, renamed, with λ and both
    /// systems' parameters; it has no exact sampler or exact log Z.
    pub fn lambda(a: System, b: System, lambda: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&lambda) {
            return Err(Error::InvalidArgument(format!(
                "λ = {lambda} is not in [0, 1]; a λ-state interpolates between its two systems"
            )));
        }
        if a.dim() != b.dim() {
            return Err(Error::Shape {
                what: "the two systems of a λ-state".into(),
                expected: format!("the same dimension as A ({})", a.dim()),
                found: format!("B of dimension {}", b.dim()),
            });
        }
        let (ma, mb) = (a.metadata(), b.metadata());
        if ma.temperature_kelvin != mb.temperature_kelvin {
            return Err(Error::InvalidArgument(format!(
                "the two systems of a λ-state have different temperatures ({:?} K and {:?} K); \
                 their reduced energies cannot be mixed",
                ma.temperature_kelvin, mb.temperature_kelvin
            )));
        }
        let mut metadata = ma.clone();
        metadata.system = format!("λ = {lambda} between {} and {}", ma.system, mb.system);
        metadata.description = format!(
            "u = (1 − {lambda}) u_A + {lambda} u_B, A: {}, B: {}",
            ma.system, mb.system
        );
        metadata.parameters = serde_json::json!({
            "lambda": lambda,
            "a": ma.parameters,
            "b": mb.parameters,
        });
        Ok(Self::of(Kind::Lambda(Box::new(LambdaState {
            a,
            b,
            lambda,
            metadata,
        }))))
    }

    /// The system of an energy computed in-process. It is evaluated one batch at a time (not
    /// thread-safe), has no exact sampler and no exact log Z.
    pub fn from_source(source: Box<dyn EnergySource>) -> Self {
        Self::of(Kind::Source(source))
    }

    fn of(kind: Kind) -> Self {
        System {
            kind,
            evaluations: AtomicU64::new(0),
        }
    }

    /// Number of points whose energy this system has evaluated so far (each point of a batch
    /// counts once, with or without its gradient): the cost measure that samplers are compared by.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Adds `n` points to the evaluation count.
    pub(super) fn count_evaluations(&self, n: usize) {
        self.evaluations.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The plugin libraries this system's energy comes from, in order (one, or A's then B's for
    /// a λ-state).
    pub fn plugins(&self) -> Vec<&PluginLibrary> {
        match &self.kind {
            Kind::Plugin(p) => vec![p.library()],
            Kind::Lambda(l) => [l.a.plugins(), l.b.plugins()].concat(),
            Kind::Source(_) | Kind::Worker(_) => Vec::new(),
        }
    }

    /// The plugins' names and versions, each joined by " + ", as recorded in outputs (for an
    /// energy computed in-process, what computes it).
    pub fn provenance(&self) -> (String, String) {
        match &self.kind {
            Kind::Source(source) => return source.provenance(),
            Kind::Worker(worker) => return worker.provenance(),
            Kind::Plugin(_) | Kind::Lambda(_) => {}
        }
        let plugins = self.plugins();
        let join = |f: fn(&PluginLibrary) -> &str| {
            plugins.iter().map(|p| f(p)).collect::<Vec<_>>().join(" + ")
        };
        (join(PluginLibrary::name), join(PluginLibrary::version))
    }

    /// Number of coordinates of one point.
    pub fn dim(&self) -> usize {
        match &self.kind {
            Kind::Plugin(p) => p.dim(),
            Kind::Lambda(l) => l.a.dim(),
            Kind::Source(s) => s.dim(),
            Kind::Worker(w) => w.hello().dim,
        }
    }

    /// The system's metadata.
    pub fn metadata(&self) -> &Metadata {
        match &self.kind {
            Kind::Plugin(p) => p.metadata(),
            Kind::Lambda(l) => &l.metadata,
            Kind::Source(s) => s.metadata(),
            Kind::Worker(w) => &w.hello().metadata,
        }
    }

    /// The exact log Z, when it is known.
    pub fn log_z(&self) -> Option<f64> {
        match &self.kind {
            Kind::Plugin(p) => p.log_z(),
            Kind::Worker(w) => w.hello().log_z,
            Kind::Lambda(_) | Kind::Source(_) => None,
        }
    }

    /// Whether the energy can be evaluated from several threads at once.
    pub fn is_thread_safe(&self) -> bool {
        match &self.kind {
            Kind::Plugin(p) => p.is_thread_safe(),
            Kind::Lambda(l) => l.a.is_thread_safe() && l.b.is_thread_safe(),
            Kind::Source(_) | Kind::Worker(_) => false,
        }
    }

    /// Whether the system draws exact samples ([`System::sample_exact`]).
    pub fn has_exact_sampler(&self) -> bool {
        match &self.kind {
            Kind::Plugin(p) => p.has_exact_sampler(),
            Kind::Worker(w) => w.hello().exact_sampler,
            Kind::Lambda(_) | Kind::Source(_) => false,
        }
    }

    /// Whether u(x) is an energy at all: false for a space with no energy of its own
    /// ([`super::Angles`]), whose samples are not reweighted toward exp(−u).
    pub fn has_energy(&self) -> bool {
        match &self.kind {
            Kind::Plugin(_) | Kind::Worker(_) => true,
            Kind::Lambda(l) => l.a.has_energy() || l.b.has_energy(),
            Kind::Source(s) => s.has_energy(),
        }
    }

    /// Number of atoms, for a molecular system.
    pub fn n_atoms(&self) -> Option<usize> {
        self.metadata().molecule.as_ref().map(|m| m.atoms.len())
    }

    /// The energy of one contiguous batch (no splitting). `x` holds `u.len() × dim` values;
    /// `grad`, if given, as many.
    pub(super) fn energy_raw(
        &self,
        x: &[f64],
        u: &mut [f64],
        grad: Option<&mut [f64]>,
    ) -> Result<()> {
        match &self.kind {
            Kind::Plugin(p) => p.energy_raw(x, u, grad),
            Kind::Source(s) => s.energy_raw(x, u, grad),
            Kind::Worker(w) => w.energy_raw(x, u, grad),
            // At the end points the λ-state is one of the two systems, exactly (also where
            // the other one is infinite).
            Kind::Lambda(l) if l.lambda == 0.0 => l.a.energy_raw(x, u, grad),
            Kind::Lambda(l) if l.lambda == 1.0 => l.b.energy_raw(x, u, grad),
            Kind::Lambda(l) => {
                let mut grad = grad;
                l.a.energy_raw(x, u, grad.as_deref_mut())?;
                let mut u_b = vec![0.0; u.len()];
                let mut grad_b = grad.as_ref().map(|g| vec![0.0; g.len()]);
                l.b.energy_raw(x, &mut u_b, grad_b.as_deref_mut())?;
                let mix = |a: &mut f64, b: f64| *a = (1.0 - l.lambda) * *a + l.lambda * b;
                u.iter_mut().zip(u_b).for_each(|(a, b)| mix(a, b));
                if let (Some(g), Some(g_b)) = (grad, grad_b) {
                    g.iter_mut().zip(g_b).for_each(|(a, b)| mix(a, b));
                }
                Ok(())
            }
        }
    }

    /// Exact samples of one block from `seed` into `out` (`n × dim`).
    pub(super) fn sample_raw(&self, seed: u64, out: &mut [f64]) -> Result<()> {
        match &self.kind {
            Kind::Plugin(p) => p.sample_raw(seed, out),
            Kind::Worker(w) => w.sample_raw(seed, out),
            Kind::Lambda(_) | Kind::Source(_) => Err(Error::Unsupported {
                plugin: self.provenance().0,
                system: self.metadata().system.clone(),
                capability: "exact sampler",
            }),
        }
    }
}
