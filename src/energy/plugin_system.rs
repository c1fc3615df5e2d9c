//! One configured instance of a plugin, with its metadata: the plugin behind a [`System`].
//!
//! [`System`]: super::System

use super::PluginLibrary;
use crate::{Error, Result};
use boltzflow_plugin::Metadata;
use boltzflow_plugin::ffi::*;
use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The largest dimension a system may have: 2^24 coordinates (about 5.6 million atoms), far
/// beyond any system a flow can learn, and small enough that one point's buffers allocate.
pub const MAX_DIM: usize = 1 << 24;

/// A configured energy u(x) from a plugin: its dimension, metadata and capabilities, and the
/// calls into it. A plugin that is not thread-safe is called under a lock.
pub(super) struct PluginSystem {
    library: Arc<PluginLibrary>,
    instance: *mut c_void,
    dim: usize,
    flags: u32,
    metadata: Metadata,
    log_z: Option<f64>,
    /// Held around every plugin call when the plugin is not thread-safe.
    serial: Option<Mutex<()>>,
}

// SAFETY: the instance is only used through the plugin's functions; a plugin that is not
// thread-safe is called under the `serial` lock.
unsafe impl Send for PluginSystem {}
// SAFETY: as above.
unsafe impl Sync for PluginSystem {}

impl PluginSystem {
    /// Creates an instance of the plugin from its configuration text (RON). `context` is the
    /// file the configuration came from: it names it in errors, and relative file names in the
    /// configuration resolve against its folder (the current directory when `None`).
    pub fn new(library: Arc<PluginLibrary>, config: &str, context: Option<&Path>) -> Result<Self> {
        let rejected = |message: String| Error::ConfigRejected {
            plugin: library.name().to_owned(),
            context: context.map(Path::to_owned),
            message,
        };
        let config_c = CString::new(config)
            .map_err(|_| rejected("the configuration contains a NUL byte".to_owned()))?;
        let base_dir = context
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base_dir_c = CString::new(base_dir.to_string_lossy().as_bytes()).map_err(|_| {
            rejected("the system file's folder name contains a NUL byte".to_owned())
        })?;
        let api = library.api();
        let mut instance: *mut c_void = std::ptr::null_mut();
        let mut err = ErrorBuffer::new();
        // SAFETY: ABI contract: NUL-terminated config and folder, a handle slot, an error buffer.
        let status = unsafe {
            (api.create)(
                config_c.as_ptr(),
                base_dir_c.as_ptr(),
                &mut instance,
                err.ptr(),
                err.len(),
            )
        };
        match status {
            STATUS_OK if !instance.is_null() => {}
            STATUS_OK => return Err(rejected("create returned no instance".to_owned())),
            STATUS_PANIC => {
                return Err(Error::PluginPanicked {
                    plugin: library.name().to_owned(),
                    call: "create",
                    message: err.message(),
                });
            }
            _ => return Err(rejected(err.message())),
        }
        // From here on, dropping `partial` destroys the instance.
        let partial = Instance {
            library: &library,
            instance,
        };
        // SAFETY: a live instance.
        let (dim, flags, metadata_ptr) = unsafe {
            (
                (api.dim)(instance),
                (api.flags)(instance),
                (api.metadata)(instance),
            )
        };
        let dim = usize::try_from(dim)
            .ok()
            .filter(|&d| (1..=MAX_DIM).contains(&d))
            .ok_or_else(|| Error::InvalidPlugin {
                path: library.path().to_owned(),
                reason: format!("dimension {dim} is not between 1 and {MAX_DIM}"),
            })?;
        let promised = |flag: u32, function: Option<()>, what: &str| -> Result<()> {
            if flags & flag != 0 && function.is_none() {
                return Err(Error::InvalidPlugin {
                    path: library.path().to_owned(),
                    reason: format!("its flags promise {what}, but its table has no such function"),
                });
            }
            Ok(())
        };
        promised(FLAG_EXACT_LOG_Z, api.log_z.map(|_| ()), "an exact log Z")?;
        promised(
            FLAG_EXACT_SAMPLER,
            api.sample.map(|_| ()),
            "an exact sampler",
        )?;
        let metadata = parse_metadata(&library, metadata_ptr)?;
        metadata.check(dim).map_err(|reason| Error::InvalidPlugin {
            path: library.path().to_owned(),
            reason: format!("its metadata does not fit the system: {reason}"),
        })?;
        let log_z = match api.log_z {
            Some(log_z) if flags & FLAG_EXACT_LOG_Z != 0 => {
                let mut value = f64::NAN;
                // SAFETY: a live instance and one writable f64.
                let status = unsafe { log_z(instance, &mut value) };
                (status == STATUS_OK && value.is_finite()).then_some(value)
            }
            _ => None,
        };
        std::mem::forget(partial);
        let serial = (flags & FLAG_THREAD_SAFE == 0).then(|| Mutex::new(()));
        Ok(PluginSystem {
            library,
            instance,
            dim,
            flags,
            metadata,
            log_z,
            serial,
        })
    }

    /// The plugin library this system comes from.
    pub(super) fn library(&self) -> &PluginLibrary {
        &self.library
    }

    /// Number of coordinates of one point.
    pub(super) fn dim(&self) -> usize {
        self.dim
    }

    /// The system's metadata.
    pub(super) fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The exact log Z, when the plugin knows it.
    pub(super) fn log_z(&self) -> Option<f64> {
        self.log_z
    }

    /// Whether the plugin can be called from several threads at once.
    pub(super) fn is_thread_safe(&self) -> bool {
        self.flags & FLAG_THREAD_SAFE != 0
    }

    /// Whether the plugin draws exact samples ([`System::sample_exact`]).
    pub(super) fn has_exact_sampler(&self) -> bool {
        self.flags & FLAG_EXACT_SAMPLER != 0
    }

    /// Calls the plugin's `energy` on one contiguous batch (no splitting). `x` holds
    /// `u.len() × dim` values; `grad`, if given, as many.
    pub(super) fn energy_raw(
        &self,
        x: &[f64],
        u: &mut [f64],
        grad: Option<&mut [f64]>,
    ) -> Result<()> {
        debug_assert_eq!(x.len(), u.len() * self.dim);
        let grad_ptr = grad.map_or(std::ptr::null_mut(), |g| g.as_mut_ptr());
        let api = self.library.api();
        self.call("energy", |err, len| {
            // SAFETY: ABI contract; the lengths are checked by the caller.
            unsafe {
                (api.energy)(
                    self.instance,
                    u.len() as u64,
                    x.as_ptr(),
                    u.as_mut_ptr(),
                    grad_ptr,
                    err,
                    len,
                )
            }
        })
    }

    /// Calls the plugin's exact sampler for `n` points from `seed` into `out` (`n × dim`).
    pub(super) fn sample_raw(&self, seed: u64, out: &mut [f64]) -> Result<()> {
        let sample = self
            .library
            .api()
            .sample
            .filter(|_| self.has_exact_sampler())
            .ok_or_else(|| Error::Unsupported {
                plugin: self.library.name().to_owned(),
                system: self.metadata.system.clone(),
                capability: "exact sampler",
            })?;
        let n = (out.len() / self.dim) as u64;
        self.call("sample", |err, len| {
            // SAFETY: ABI contract: `out` holds n × dim values.
            unsafe { sample(self.instance, seed, n, out.as_mut_ptr(), err, len) }
        })
    }

    /// Runs one fallible plugin call with an error buffer, under the lock if the plugin is not
    /// thread-safe, and turns its status into a result.
    fn call(&self, call: &'static str, f: impl FnOnce(*mut c_char, usize) -> i32) -> Result<()> {
        let _guard = self
            .serial
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()));
        let mut err = ErrorBuffer::new();
        let status = f(err.ptr(), err.len());
        let plugin = self.library.name().to_owned();
        match status {
            STATUS_OK => Ok(()),
            STATUS_PANIC => Err(Error::PluginPanicked {
                plugin,
                call,
                message: err.message(),
            }),
            STATUS_UNSUPPORTED => Err(Error::Unsupported {
                plugin,
                system: self.metadata.system.clone(),
                capability: if call == "sample" {
                    "exact sampler"
                } else {
                    "such capability"
                },
            }),
            _ => Err(Error::PluginFailed {
                plugin,
                call,
                message: err.message(),
            }),
        }
    }
}

impl Drop for PluginSystem {
    fn drop(&mut self) {
        // SAFETY: the instance is live and destroyed exactly once.
        unsafe { (self.library.api().destroy)(self.instance) };
    }
}

impl std::fmt::Debug for PluginSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSystem")
            .field("plugin", &self.library.name())
            .field("system", &self.metadata.system)
            .field("dim", &self.dim)
            .finish()
    }
}

/// An instance not yet owned by a [`PluginSystem`]: destroyed if construction fails half-way.
struct Instance<'a> {
    library: &'a PluginLibrary,
    instance: *mut c_void,
}

impl Drop for Instance<'_> {
    fn drop(&mut self) {
        // SAFETY: the instance is live and not owned by anything else.
        unsafe { (self.library.api().destroy)(self.instance) };
    }
}

fn parse_metadata(library: &PluginLibrary, ptr: *const c_char) -> Result<Metadata> {
    let invalid = |reason: String| Error::InvalidPlugin {
        path: library.path().to_owned(),
        reason,
    };
    if ptr.is_null() {
        return Err(invalid("metadata returned NULL".to_owned()));
    }
    // SAFETY: the ABI requires a NUL-terminated string owned by the instance.
    let text = unsafe { CStr::from_ptr(ptr) }.to_string_lossy();
    serde_json::from_str(&text)
        .map_err(|e| invalid(format!("metadata is not valid JSON metadata: {e}")))
}

/// The caller-owned buffer a plugin writes its error message into.
struct ErrorBuffer(Vec<u8>);

impl ErrorBuffer {
    fn new() -> Self {
        ErrorBuffer(vec![0; ERROR_BUFFER_LEN])
    }

    fn ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr().cast()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn message(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        match String::from_utf8_lossy(&self.0[..end]).trim() {
            "" => "(the plugin gave no message)".to_owned(),
            m => m.to_owned(),
        }
    }
}
