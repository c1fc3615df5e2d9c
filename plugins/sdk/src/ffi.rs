//! The versioned C ABI between the host and a plugin.
//!
//! A plugin exports one symbol, [`ENTRY_SYMBOL`] (`boltzflow_plugin`), a function with no
//! arguments that returns a pointer to a static [`PluginApi`]. The first field is the ABI version;
//! the host reads it before anything else and refuses a mismatch. The C header
//! `plugins/sdk/include/boltzflow_plugin.h` declares the same table.
//!
//! Conventions for every function:
//! - positions, energies and gradients are f64, row-major, point `i` at `x[i * dim..]`;
//! - a fallible function returns a status ([`STATUS_OK`], ...) and, on failure, writes a
//!   NUL-terminated UTF-8 message into the caller's buffer `err` of `err_len` bytes (truncated to
//!   fit). The buffer belongs to the caller, so concurrent calls never share an error slot;
//! - nothing may unwind across the boundary: a panic is caught and reported as [`STATUS_PANIC`].

use std::ffi::{c_char, c_void};

/// Version of this ABI. The host refuses a plugin that reports another.
pub const ABI_VERSION: u32 = 1;

/// Name of the symbol a plugin exports (without the trailing NUL: `boltzflow_plugin`).
pub const ENTRY_SYMBOL: &[u8] = b"boltzflow_plugin\0";

/// The call succeeded.
pub const STATUS_OK: i32 = 0;
/// The call failed; the error buffer holds the message.
pub const STATUS_ERROR: i32 = 1;
/// The plugin panicked; the error buffer holds the panic message.
pub const STATUS_PANIC: i32 = 2;
/// The plugin does not offer this capability.
pub const STATUS_UNSUPPORTED: i32 = 3;

/// Flag: the host may call `energy` on one instance from several threads at once.
pub const FLAG_THREAD_SAFE: u32 = 1;
/// Flag: `log_z` returns the exact log normalising constant.
pub const FLAG_EXACT_LOG_Z: u32 = 1 << 1;
/// Flag: `sample` draws exact samples.
pub const FLAG_EXACT_SAMPLER: u32 = 1 << 2;

/// Size of the error buffer the host passes (bytes, including the NUL).
pub const ERROR_BUFFER_LEN: usize = 4096;

/// `create(config, base_dir, out_instance, err, err_len) -> status`: builds an instance from the
/// configuration text (UTF-8 RON, NUL-terminated) and stores its handle in `*out_instance`.
/// `base_dir` (NUL-terminated, or NULL for the current directory) is the folder of the system
/// file, against which relative file names in the configuration resolve.
pub type CreateFn =
    unsafe extern "C" fn(*const c_char, *const c_char, *mut *mut c_void, *mut c_char, usize) -> i32;
/// `destroy(instance)`: frees an instance. Never called twice.
pub type DestroyFn = unsafe extern "C" fn(*mut c_void);
/// `dim(instance) -> dim`: number of coordinates of one point.
pub type DimFn = unsafe extern "C" fn(*const c_void) -> u64;
/// `flags(instance) -> flags`: an OR of the `FLAG_*` bits.
pub type FlagsFn = unsafe extern "C" fn(*const c_void) -> u32;
/// `metadata(instance) -> json`: the [`Metadata`](crate::Metadata) as NUL-terminated JSON, owned
/// by the instance and valid until `destroy`.
pub type MetadataFn = unsafe extern "C" fn(*const c_void) -> *const c_char;
/// `energy(instance, n, x, u, grad, err, err_len) -> status`: reduced energies of the `n` points
/// `x` (`n × dim`) into `u` (`n`), and gradients into `grad` (`n × dim`) unless `grad` is NULL.
pub type EnergyFn = unsafe extern "C" fn(
    *const c_void,
    u64,
    *const f64,
    *mut f64,
    *mut f64,
    *mut c_char,
    usize,
) -> i32;
/// `log_z(instance, out) -> status`: the exact log Z into `*out`, or [`STATUS_UNSUPPORTED`].
pub type LogZFn = unsafe extern "C" fn(*const c_void, *mut f64) -> i32;
/// `sample(instance, seed, n, out, err, err_len) -> status`: `n` exact samples into `out`
/// (`n × dim`), reproducibly from `seed`.
pub type SampleFn =
    unsafe extern "C" fn(*const c_void, u64, u64, *mut f64, *mut c_char, usize) -> i32;

/// The function table a plugin exports. Field order and types are the ABI: never reorder them;
/// add fields only at the end together with a new [`ABI_VERSION`].
#[repr(C)]
pub struct PluginApi {
    /// Must equal [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<PluginApi>()` as the plugin was built; a sanity check on the table.
    pub struct_size: u32,
    /// Plugin name, NUL-terminated, static.
    pub name: *const c_char,
    /// Plugin version, NUL-terminated, static.
    pub version: *const c_char,
    /// See [`CreateFn`]. Required: the host refuses a table where it is NULL (as for every
    /// function not marked optional), rather than crash on the call.
    pub create: Option<CreateFn>,
    /// See [`DestroyFn`]. Required.
    pub destroy: Option<DestroyFn>,
    /// See [`DimFn`]. Required.
    pub dim: Option<DimFn>,
    /// See [`FlagsFn`]. Required.
    pub flags: Option<FlagsFn>,
    /// See [`MetadataFn`]. Required.
    pub metadata: Option<MetadataFn>,
    /// See [`EnergyFn`]. Required.
    pub energy: Option<EnergyFn>,
    /// See [`LogZFn`]; may be NULL when the plugin never knows log Z.
    pub log_z: Option<LogZFn>,
    /// See [`SampleFn`]; may be NULL when the plugin has no exact sampler.
    pub sample: Option<SampleFn>,
}

// SAFETY: the table is immutable static data: C strings and function pointers.
unsafe impl Sync for PluginApi {}

/// Signature of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginApi;

/// Writes `message` into a caller's error buffer as NUL-terminated UTF-8, truncated to fit on a
/// character boundary. Does nothing if the buffer is NULL or empty.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes.
pub unsafe fn write_error(buf: *mut c_char, len: usize, message: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let mut end = message.len().min(len - 1);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    // SAFETY: the caller guarantees `len` writable bytes; we write `end + 1 <= len` of them.
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), end);
        *buf.add(end) = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_truncated_on_a_char_boundary() {
        let mut buf = [1 as c_char; 6];
        unsafe { write_error(buf.as_mut_ptr(), buf.len(), "abcdé-long") };
        let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(s.to_str().unwrap(), "abcd");
    }
}
