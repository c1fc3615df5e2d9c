//! The worker side for native plugins: `boltzflow plugin-worker` loads one plugin, as an
//! in-process system of its own, and answers the parent's requests until its stdin closes.
//! Whatever the plugin does to this process (a segfault, an abort, an endless loop) ends only
//! this process; the parent reports it.

use super::protocol::{Hello, Request, SharedBuffer, Status, read_frame, reply, write_frame};
use crate::energy::{PluginLibrary, System};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// What a native plugin worker loads: the parent's start message.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// The plugin library.
    pub library: PathBuf,
    /// The plugin's configuration (RON text).
    pub config: String,
    /// The system file the configuration came from (relative files resolve against its folder).
    pub context: Option<PathBuf>,
    /// The parent's shared memory file (filled in by the parent when it starts the worker).
    #[serde(default)]
    pub shared: PathBuf,
}

/// Serves one plugin over `input` and `output` (the process's stdin and stdout): reads the
/// start message, loads the plugin and says hello (or why it could not), then answers requests
/// until `input` ends. Fails only when the streams do.
pub fn serve(input: &mut impl Read, output: &mut impl Write) -> Result<()> {
    let io_error = |source: std::io::Error| Error::Io {
        path: "the parent's pipe".into(),
        source,
    };
    let Some(start) = read_frame(input).map_err(io_error)? else {
        return Ok(());
    };
    let (system, mut shared) = match load(&start) {
        Ok(loaded) => loaded,
        Err(e) => {
            return write_frame(output, &reply(Status::Failed, e.to_string().as_bytes()))
                .map_err(io_error);
        }
    };
    let (name, version) = system.provenance();
    let hello = Hello {
        name,
        version,
        dim: system.dim(),
        metadata: system.metadata().clone(),
        log_z: system.log_z(),
        exact_sampler: system.has_exact_sampler(),
    };
    let hello = serde_json::to_vec(&hello).expect("the hello serialises");
    write_frame(output, &reply(Status::Ok, &hello)).map_err(io_error)?;
    while let Some(request) = read_frame(input).map_err(io_error)? {
        let answer = match answer(&system, &mut shared, &request) {
            Ok(()) => reply(Status::Ok, &[]),
            Err(e) => {
                let (status, message) = status_of(e);
                reply(status, message.as_bytes())
            }
        };
        write_frame(output, &answer).map_err(io_error)?;
    }
    Ok(())
}

/// The plugin of a start message, as an in-process system, and the shared memory.
fn load(start: &[u8]) -> Result<(System, SharedBuffer)> {
    let start: Start = serde_json::from_slice(start).map_err(|e| {
        Error::InvalidArgument(format!("the worker's start message is malformed: {e}"))
    })?;
    let shared = SharedBuffer::open(&start.shared).map_err(|source| Error::Io {
        path: start.shared.clone(),
        source,
    })?;
    let library = Arc::new(PluginLibrary::open(&start.library)?);
    let system = System::plugin(library, &start.config, start.context.as_deref())?;
    Ok((system, shared))
}

/// Answers one request, computing in the shared memory.
fn answer(system: &System, shared: &mut SharedBuffer, request: &[u8]) -> Result<()> {
    let malformed = |what: String| Error::InvalidArgument(format!("malformed request: {what}"));
    let dim = system.dim();
    let request = Request::decode(request).map_err(malformed)?;
    // x, then u and the gradient after it.
    let (n, len, values) = match request {
        Request::Energy { n, with_grad, len } => (
            n,
            len,
            (dim + 1 + usize::from(with_grad) * dim).checked_mul(n),
        ),
        Request::Sample { n, len, .. } => (n, len, dim.checked_mul(n)),
    };
    let values = values.ok_or_else(|| malformed(format!("{n} points are too many")))?;
    shared.remap(len).map_err(|source| Error::Io {
        path: "the shared memory".into(),
        source,
    })?;
    let memory = shared.values_mut();
    if memory.len() < values {
        return Err(malformed(format!(
            "{n} points need {values} values; the shared memory holds {}",
            memory.len()
        )));
    }
    match request {
        Request::Energy { with_grad, .. } => {
            let (x, rest) = memory.split_at_mut(n * dim);
            let (u, rest) = rest.split_at_mut(n);
            let grad = with_grad.then(|| &mut rest[..n * dim]);
            system.evaluate_into(x, u, grad)?;
        }
        Request::Sample { seed, .. } => {
            // One block, as the parent asked for it: the same samples as in-process.
            system.sample_raw(seed, &mut memory[..n * dim])?;
        }
    }
    Ok(())
}

/// The status and message of a failed call: the plugin's own message for its failures, so
/// that the parent's error reads as the in-process one would.
fn status_of(error: Error) -> (Status, String) {
    match error {
        Error::PluginFailed { message, .. } => (Status::Failed, message),
        Error::PluginPanicked { message, .. } => (Status::Panicked, message),
        e @ Error::Unsupported { .. } => (Status::Unsupported, e.to_string()),
        e => (Status::Failed, e.to_string()),
    }
}
