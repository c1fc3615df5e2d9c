//! Opening a plugin library and checking its function table.

use crate::{Error, Result};
use boltzflow_plugin::ffi::{
    ABI_VERSION, CreateFn, DestroyFn, DimFn, ENTRY_SYMBOL, EnergyFn, EntryFn, FlagsFn, LogZFn,
    MetadataFn, PluginApi, SampleFn,
};
use libloading::Library;
use std::ffi::{CStr, c_char};
use std::path::{Path, PathBuf};

/// A loaded plugin library: its function table, name and version.
///
/// The library stays loaded as long as this value (or a [`System`](super::System) made from it)
/// lives.
pub struct PluginLibrary {
    api: Api,
    name: String,
    version: String,
    path: PathBuf,
    // Declared last so that it is dropped last: the functions in `api` live in it.
    _library: Library,
}

/// A plugin's functions, checked at load: every required one is there.
#[derive(Clone, Copy)]
pub(super) struct Api {
    pub(super) create: CreateFn,
    pub(super) destroy: DestroyFn,
    pub(super) dim: DimFn,
    pub(super) flags: FlagsFn,
    pub(super) metadata: MetadataFn,
    pub(super) energy: EnergyFn,
    pub(super) log_z: Option<LogZFn>,
    pub(super) sample: Option<SampleFn>,
}

impl PluginLibrary {
    /// Loads the plugin at `path` and checks its entry symbol and ABI version.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::PluginFileMissing {
                path: path.to_owned(),
            });
        }
        // SAFETY: loading a library runs its initialisers; plugins are trusted code the user chose.
        let library = unsafe { Library::new(path) }.map_err(|e| Error::NotALibrary {
            path: path.to_owned(),
            reason: with_sources(&e),
        })?;
        // SAFETY: the symbol is declared by the plugin ABI with this signature.
        let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) }.map_err(|_| {
            Error::EntrySymbolMissing {
                path: path.to_owned(),
            }
        })?;
        // SAFETY: calling the entry function takes no arguments and returns a static table.
        let api = unsafe { entry() };
        let invalid = |reason: &str| Error::InvalidPlugin {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if api.is_null() {
            return Err(invalid("the entry function returned NULL"));
        }
        // Read the version alone first: the rest of the table's layout depends on it.
        // SAFETY: every ABI version starts the table with a u32 version.
        let found = unsafe { api.cast::<u32>().read() };
        if found != ABI_VERSION {
            return Err(Error::AbiMismatch {
                path: path.to_owned(),
                found,
                expected: ABI_VERSION,
            });
        }
        // SAFETY: the version matches, so the table has this layout.
        let table = unsafe { &*api };
        if (table.struct_size as usize) < size_of::<PluginApi>() {
            return Err(invalid(&format!(
                "the table is {} bytes, expected {}",
                table.struct_size,
                size_of::<PluginApi>()
            )));
        }
        // SAFETY: the ABI requires static NUL-terminated strings (or NULL, checked).
        let (name, version) = unsafe { (static_str(table.name), static_str(table.version)) };
        let name = name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("the plugin has no name"))?;
        let required = |name: &str| invalid(&format!("its `{name}` function is NULL"));
        let api = Api {
            create: table.create.ok_or_else(|| required("create"))?,
            destroy: table.destroy.ok_or_else(|| required("destroy"))?,
            dim: table.dim.ok_or_else(|| required("dim"))?,
            flags: table.flags.ok_or_else(|| required("flags"))?,
            metadata: table.metadata.ok_or_else(|| required("metadata"))?,
            energy: table.energy.ok_or_else(|| required("energy"))?,
            log_z: table.log_z,
            sample: table.sample,
        };
        Ok(PluginLibrary {
            api,
            name,
            version: version.unwrap_or_default(),
            path: path.to_owned(),
            _library: library,
        })
    }

    /// The plugin's name, as it reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version, as it reports it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The file the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The checked functions (valid while `self` lives: the library stays loaded).
    pub(super) fn api(&self) -> &Api {
        &self.api
    }
}

impl std::fmt::Debug for PluginLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginLibrary")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("path", &self.path)
            .finish()
    }
}

/// An error's message followed by those of its sources: libloading's says only "dlopen
/// failed" and keeps the dynamic loader's own reason in its source.
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// Reads a NUL-terminated string, lossily, or `None` for NULL.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string.
unsafe fn static_str(ptr: *const c_char) -> Option<String> {
    // SAFETY: guaranteed by the caller.
    (!ptr.is_null()).then(|| {
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned()
    })
}
