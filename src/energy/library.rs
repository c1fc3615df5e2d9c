//! Opening a plugin library and checking its function table.

use crate::{Error, Result};
use boltzflow_plugin::ffi::{ABI_VERSION, ENTRY_SYMBOL, EntryFn, PluginApi};
use libloading::Library;
use std::ffi::{CStr, c_char};
use std::path::{Path, PathBuf};

/// A loaded plugin library: its function table, name and version.
///
/// The library stays loaded as long as this value (or a [`System`](super::System) made from it)
/// lives.
pub struct PluginLibrary {
    api: *const PluginApi,
    name: String,
    version: String,
    path: PathBuf,
    // Declared last so that it is dropped last: `api` points into it.
    _library: Library,
}

// SAFETY: the function table is immutable static data inside the library, which stays loaded for
// the lifetime of this value; the fields are read-only after construction.
unsafe impl Send for PluginLibrary {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for PluginLibrary {}

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
            reason: e.to_string(),
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

    pub(super) fn api(&self) -> &PluginApi {
        // SAFETY: checked in `open`; the library outlives `self`.
        unsafe { &*self.api }
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
