//! The library's error type: one variant for each way a user can go wrong, each with a message
//! that says what happened and what to do.

use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in boltzflow.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plugin asked for by name was not found on the search path.
    #[error(
        "no plugin named '{name}' was found; searched: {}.\n\
         Build the workspace plugins with `cargo build --release --workspace`, give a path to the \
         library instead of a name, or add its folder to BOLTZFLOW_PLUGIN_PATH",
        searched_list(.searched)
    )]
    PluginNotFound {
        /// The name asked for.
        name: String,
        /// The folders that were searched.
        searched: Vec<PathBuf>,
    },

    /// A plugin path does not exist.
    #[error("plugin file {path} does not exist")]
    PluginFileMissing {
        /// The path given.
        path: PathBuf,
    },

    /// The file exists but the dynamic loader refused it.
    #[error("{path} is not a loadable shared library: {reason}")]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// The dynamic loader's message.
        reason: String,
    },

    /// The library has no `boltzflow_plugin` entry symbol.
    #[error(
        "{path} is a shared library but not a boltzflow plugin: it does not export the entry \
         symbol `boltzflow_plugin` (a Rust plugin calls `boltzflow_plugin::export_plugin!`; a C \
         plugin defines `const BfPluginApi *boltzflow_plugin(void)`)"
    )]
    EntrySymbolMissing {
        /// The library.
        path: PathBuf,
    },

    /// The plugin was built for another version of the plugin ABI.
    #[error(
        "{path} was built for plugin ABI version {found}, but this boltzflow speaks version \
         {expected}; rebuild the plugin against the current SDK"
    )]
    AbiMismatch {
        /// The library.
        path: PathBuf,
        /// The version the plugin reports.
        found: u32,
        /// The version the host speaks.
        expected: u32,
    },

    /// The plugin's function table is malformed.
    #[error("{path}: invalid plugin table: {reason}")]
    InvalidPlugin {
        /// The library.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The plugin refused its configuration.
    #[error("plugin '{plugin}' rejected its configuration{}: {message}", context_suffix(.context))]
    ConfigRejected {
        /// The plugin's name.
        plugin: String,
        /// Where the configuration came from (a system file), if known.
        context: Option<PathBuf>,
        /// The plugin's message.
        message: String,
    },

    /// A plugin call failed with an error message.
    #[error("plugin '{plugin}' failed in {call}: {message}")]
    PluginFailed {
        /// The plugin's name.
        plugin: String,
        /// The function that failed.
        call: &'static str,
        /// The plugin's message.
        message: String,
    },

    /// A plugin panicked; the panic was caught at the boundary.
    #[error("plugin '{plugin}' panicked in {call} (caught; nothing was written): {message}")]
    PluginPanicked {
        /// The plugin's name.
        plugin: String,
        /// The function that panicked.
        call: &'static str,
        /// The panic message.
        message: String,
    },

    /// An isolated plugin's worker process died, or did not answer in time.
    #[error("plugin '{plugin}' crashed in {call}: {how}")]
    PluginCrashed {
        /// The plugin's name.
        plugin: String,
        /// The call it was in.
        call: &'static str,
        /// What happened: the signal, the exit status, or the timeout.
        how: String,
    },

    /// A worker process (an isolated plugin, or Python) could not load its energy.
    #[error("plugin '{plugin}' could not start in its own process: {message}")]
    WorkerStart {
        /// The plugin, as the system file names it.
        plugin: String,
        /// Why: the worker's message, or how it died.
        message: String,
    },

    /// The plugin does not offer a capability the command needs.
    #[error("plugin '{plugin}' ({system}) has no {capability}")]
    Unsupported {
        /// The plugin's name.
        plugin: String,
        /// The system's name.
        system: String,
        /// The missing capability, for example "exact sampler".
        capability: &'static str,
    },

    /// Data has the wrong shape for the system.
    #[error("{what}: expected {expected}, found {found}")]
    Shape {
        /// The data in question, for example "/x in input.h5".
        what: String,
        /// The expected shape.
        expected: String,
        /// The shape found.
        found: String,
    },

    /// A configuration file could not be read or parsed.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the position.
        message: String,
    },

    /// An HDF5 file could not be read or written.
    #[error("{}: {message}", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// An argument is invalid.
    #[error("{0}")]
    InvalidArgument(String),

    /// Training diverged: too many gradient steps in a row had a non-finite loss or gradient.
    #[error(
        "training diverged: the last {steps} gradient steps (up to step {at}) all had a NaN or \
         infinite loss or gradient; the last good checkpoint is kept. Lower the learning rate, \
         clip the gradient norm (`clip_grad_norm`), or use `precision: F64`"
    )]
    Diverged {
        /// Consecutive skipped steps.
        steps: usize,
        /// The step reached.
        at: usize,
    },
    /// Molecular dynamics produced a non-finite position, energy or force.
    #[error(
        "the dynamics blew up at step {step}: replica {replica} has a non-finite {what}. Use a \
         smaller timestep (`timestep_fs`), a higher friction, or check the starting structure{}",
        saved_suffix(.saved)
    )]
    DynamicsUnstable {
        /// The step (counted from the start of the run) that produced the non-finite number.
        step: u64,
        /// The replica where it appeared (replicas w · K .. (w + 1) · K are walker w's, for K
        /// temperatures; exchanges move replicas between rungs).
        replica: usize,
        /// What was not finite: "position", "energy" or "force".
        what: &'static str,
        /// Where the frames collected before the failure were written, if anywhere.
        saved: Option<PathBuf>,
    },

    /// Another MPI rank failed; that rank reports why.
    #[error(
        "another MPI rank failed (its message, above or below, says why); this rank stopped with it"
    )]
    OtherRankFailed {
        /// Whether what failed there was the plugin (so that every rank saves its checkpoint).
        plugin: bool,
    },

    /// The user pressed Ctrl-C: the work stopped cleanly (exit status 130, as for SIGINT).
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl Error {
    /// Whether a plugin failed, panicked, crashed in its worker or did not answer in time (here,
    /// or on another MPI rank).
    pub fn is_plugin_failure(&self) -> bool {
        matches!(
            self,
            Error::PluginFailed { .. }
                | Error::PluginPanicked { .. }
                | Error::PluginCrashed { .. }
                | Error::OtherRankFailed { plugin: true }
        )
    }

    /// The process exit status for this error: 130 for an interruption (what shells report for
    /// SIGINT, so `train && sample` stops), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

fn searched_list(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "(no folders)".to_owned();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn context_suffix(context: &Option<PathBuf>) -> String {
    context
        .as_ref()
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

fn saved_suffix(saved: &Option<PathBuf>) -> String {
    saved
        .as_ref()
        .map(|p| {
            format!(
                "; the frames collected so far were written to {}",
                p.display()
            )
        })
        .unwrap_or_default()
}
