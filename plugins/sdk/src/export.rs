//! Turning an [`Energy`] into the C ABI: the generic `extern "C"` shims behind [`export_plugin!`].
//!
//! Every shim catches panics, so a bug in a plugin becomes an error message for the host
//! ([`STATUS_PANIC`]) instead of an abort. Plugins must therefore keep the default
//! `panic = "unwind"`.

use crate::ffi::*;
use crate::{Context, Energy, PluginError};
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// An energy with what the host reads often, computed once at creation.
struct Instance<E> {
    energy: E,
    dim: usize,
    flags: u32,
    metadata_json: CString,
    log_z: Option<f64>,
}

/// Builds the function table for `E`. Used by [`export_plugin!`]; `name` and `version` must end
/// in a NUL byte.
pub const fn api<E: Energy>(name: &'static str, version: &'static str) -> PluginApi {
    PluginApi {
        abi_version: ABI_VERSION,
        struct_size: size_of::<PluginApi>() as u32,
        name: name.as_ptr().cast(),
        version: version.as_ptr().cast(),
        create: Some(create::<E>),
        destroy: Some(destroy::<E>),
        dim: Some(dim::<E>),
        flags: Some(flags::<E>),
        metadata: Some(metadata::<E>),
        energy: Some(energy::<E>),
        log_z: Some(log_z::<E>),
        sample: Some(sample::<E>),
    }
}

/// Exports `$ty` (an [`Energy`]) as a boltzflow plugin named `$name`, with the crate's version.
///
/// Call it once per `cdylib` crate. It defines the entry symbol `boltzflow_plugin`.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty, $name:expr) => {
        /// Entry point of this boltzflow plugin: returns its function table.
        #[unsafe(no_mangle)]
        pub extern "C" fn boltzflow_plugin() -> *const $crate::ffi::PluginApi {
            static API: $crate::ffi::PluginApi = $crate::export::api::<$ty>(
                concat!($name, "\0"),
                concat!(env!("CARGO_PKG_VERSION"), "\0"),
            );
            &API
        }
    };
}

/// Runs `f`, turning an error or a panic into a status and a message in the caller's buffer.
fn guarded(err: *mut c_char, err_len: usize, f: impl FnOnce() -> Result<(), PluginError>) -> i32 {
    install_panic_hook();
    let (status, message) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return STATUS_OK,
        Ok(Err(e)) => (STATUS_ERROR, e.message().to_owned()),
        Err(_) => (STATUS_PANIC, LAST_PANIC.with_borrow_mut(std::mem::take)),
    };
    // SAFETY: the host passes a buffer of `err_len` bytes, or NULL.
    unsafe { write_error(err, err_len, &message) };
    status
}

thread_local! {
    /// The message and location of the last panic on this thread, recorded by the panic hook.
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Replaces the plugin's panic hook (a cdylib has its own copy of std, so this does not touch
/// the host's) with one that records the panic for the host instead of printing it.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            LAST_PANIC.with_borrow_mut(|last| *last = format!("{message}{location}"));
        }))
    });
}

/// # Safety
/// `inst` must come from `create::<E>` and not be destroyed.
unsafe fn instance<'a, E>(inst: *const c_void) -> &'a Instance<E> {
    // SAFETY: guaranteed by the caller.
    unsafe { &*inst.cast::<Instance<E>>() }
}

fn new_instance<E: Energy>(text: &str, context: &Context) -> Result<Instance<E>, PluginError> {
    let energy = E::from_config(text, context)?;
    let json = serde_json::to_string(&energy.metadata())
        .map_err(|e| PluginError::new(format!("cannot encode metadata: {e}")))?;
    let metadata_json =
        CString::new(json).map_err(|_| PluginError::new("metadata contains a NUL byte"))?;
    let log_z = energy.log_z();
    let mut flags = FLAG_THREAD_SAFE;
    if log_z.is_some() {
        flags |= FLAG_EXACT_LOG_Z;
    }
    if energy.has_exact_sampler() {
        flags |= FLAG_EXACT_SAMPLER;
    }
    Ok(Instance {
        dim: energy.dim(),
        energy,
        flags,
        metadata_json,
        log_z,
    })
}

unsafe extern "C" fn create<E: Energy>(
    config: *const c_char,
    base_dir: *const c_char,
    out: *mut *mut c_void,
    err: *mut c_char,
    err_len: usize,
) -> i32 {
    guarded(err, err_len, || {
        if config.is_null() || out.is_null() {
            return Err(PluginError::new("create was called with a NULL pointer"));
        }
        // SAFETY: the host passes a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(config) }
            .to_str()
            .map_err(|_| PluginError::new("the configuration is not valid UTF-8"))?;
        let context = if base_dir.is_null() {
            Context::default()
        } else {
            // SAFETY: the host passes a NUL-terminated string.
            let dir = unsafe { CStr::from_ptr(base_dir) }
                .to_str()
                .map_err(|_| PluginError::new("the configuration folder is not valid UTF-8"))?;
            Context::new(dir)
        };
        let instance = Box::new(new_instance::<E>(text, &context)?);
        // SAFETY: `out` is a valid pointer to a handle slot.
        unsafe { *out = Box::into_raw(instance).cast() };
        Ok(())
    })
}

unsafe extern "C" fn destroy<E: Energy>(inst: *mut c_void) {
    if !inst.is_null() {
        // SAFETY: `inst` came from `create::<E>`; the host destroys it once.
        let boxed = unsafe { Box::from_raw(inst.cast::<Instance<E>>()) };
        // A panic in a destructor must not unwind into the host either.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
    }
}

unsafe extern "C" fn dim<E: Energy>(inst: *const c_void) -> u64 {
    // SAFETY: the host passes a live instance.
    unsafe { instance::<E>(inst) }.dim as u64
}

unsafe extern "C" fn flags<E: Energy>(inst: *const c_void) -> u32 {
    // SAFETY: the host passes a live instance.
    unsafe { instance::<E>(inst) }.flags
}

unsafe extern "C" fn metadata<E: Energy>(inst: *const c_void) -> *const c_char {
    // SAFETY: the host passes a live instance.
    unsafe { instance::<E>(inst) }.metadata_json.as_ptr()
}

unsafe extern "C" fn energy<E: Energy>(
    inst: *const c_void,
    n: u64,
    x: *const f64,
    u: *mut f64,
    grad: *mut f64,
    err: *mut c_char,
    err_len: usize,
) -> i32 {
    guarded(err, err_len, || {
        // SAFETY: the host passes a live instance.
        let this = unsafe { instance::<E>(inst) };
        let n = usize::try_from(n).map_err(|_| PluginError::new("batch too large"))?;
        let len = n
            .checked_mul(this.dim)
            .ok_or_else(|| PluginError::new("batch too large"))?;
        if n == 0 {
            return Ok(());
        }
        if x.is_null() || u.is_null() {
            return Err(PluginError::new("energy was called with a NULL pointer"));
        }
        // SAFETY: the ABI contract: x has n × dim values, u has n, grad (if not NULL) n × dim.
        let (x, u) = unsafe {
            (
                std::slice::from_raw_parts(x, len),
                std::slice::from_raw_parts_mut(u, n),
            )
        };
        let grad = (!grad.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(grad, len) });
        this.energy.energy_batch(x, u, grad)
    })
}

unsafe extern "C" fn log_z<E: Energy>(inst: *const c_void, out: *mut f64) -> i32 {
    // SAFETY: the host passes a live instance.
    match unsafe { instance::<E>(inst) }.log_z {
        Some(value) if !out.is_null() => {
            // SAFETY: `out` points to one writable f64.
            unsafe { *out = value };
            STATUS_OK
        }
        _ => STATUS_UNSUPPORTED,
    }
}

unsafe extern "C" fn sample<E: Energy>(
    inst: *const c_void,
    seed: u64,
    n: u64,
    out: *mut f64,
    err: *mut c_char,
    err_len: usize,
) -> i32 {
    // SAFETY: the host passes a live instance.
    let this = unsafe { instance::<E>(inst) };
    if this.flags & FLAG_EXACT_SAMPLER == 0 {
        return STATUS_UNSUPPORTED;
    }
    guarded(err, err_len, || {
        let n = usize::try_from(n).map_err(|_| PluginError::new("sample count too large"))?;
        let len = n
            .checked_mul(this.dim)
            .ok_or_else(|| PluginError::new("sample count too large"))?;
        if len == 0 {
            return Ok(());
        }
        if out.is_null() {
            return Err(PluginError::new("sample was called with a NULL pointer"));
        }
        // SAFETY: the ABI contract: out has n × dim values.
        let out = unsafe { std::slice::from_raw_parts_mut(out, len) };
        this.energy.sample(seed, out)
    })
}
