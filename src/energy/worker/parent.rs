//! The parent side: a system whose energy is computed by a worker process.
//!
//! Calls go one at a time: the numbers through the shared memory, the requests and replies
//! through the worker's pipes. A reader thread takes the worker's
//! replies off its stdout, so that a call can wait with a timeout: a worker that does not
//! answer in time is killed, and one that dies (a segfault, an abort, an exit) is reported
//! with its signal or exit status, naming the plugin and the call. After that every call fails
//! with the same report; nothing is retried behind the user's back.

use super::protocol::{Hello, Request, SharedBuffer, Status, read_frame, write_frame};
use crate::{Error, Result};
use std::io;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long a worker that closed its output may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A system evaluated by a worker process (an isolated plugin, or Python).
#[derive(Debug)]
pub struct WorkerSystem {
    hello: Hello,
    timeout: Duration,
    channel: Mutex<Channel>,
}

/// The worker process and its pipes.
#[derive(Debug)]
struct Channel {
    child: Child,
    /// `None` once the worker is gone.
    stdin: Option<ChildStdin>,
    replies: Receiver<io::Result<Option<Vec<u8>>>>,
    /// Why the worker is gone, once it is.
    gone: Option<String>,
    /// The batches' numbers, both ways.
    shared: SharedBuffer,
}

impl WorkerSystem {
    /// Starts `command` as a worker, sends it `start` (a JSON object, to which the shared
    /// memory's path is added as `shared`), and waits up to `timeout` for its hello. `label`
    /// names the plugin in errors until the worker has named itself.
    pub fn spawn(
        mut command: Command,
        mut start: serde_json::Value,
        label: &str,
        timeout: Duration,
    ) -> Result<Self> {
        let shared = SharedBuffer::create().map_err(|e| Error::WorkerStart {
            plugin: label.to_owned(),
            message: format!("could not create its shared memory: {e}"),
        })?;
        start["shared"] = serde_json::json!(shared.path());
        let start = serde_json::to_vec(&start).expect("the start message serialises");
        let program = command.get_program().to_string_lossy().into_owned();
        // Its own process group: Ctrl-C in the terminal reaches boltzflow, which stops
        // cleanly, and not the worker in the middle of a call.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::WorkerStart {
                plugin: label.to_owned(),
                message: format!("could not run {program}: {e}"),
            })?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let (sender, replies) = channel();
        std::thread::spawn(move || {
            loop {
                let frame = read_frame(&mut stdout);
                let end = !matches!(frame, Ok(Some(_)));
                if sender.send(frame).is_err() || end {
                    break;
                }
            }
        });
        let mut channel = Channel {
            child,
            stdin,
            replies,
            gone: None,
            shared,
        };
        let started = |message: String| Error::WorkerStart {
            plugin: label.to_owned(),
            message,
        };
        let hello = match channel.call(&start, timeout) {
            Ok((Status::Ok, payload)) => serde_json::from_slice::<Hello>(&payload)
                .map_err(|e| started(format!("its hello is not valid: {e}")))?,
            Ok((_, message)) => return Err(started(String::from_utf8_lossy(&message).into())),
            Err(how) => return Err(started(how)),
        };
        if !(1..=crate::energy::plugin_system::MAX_DIM).contains(&hello.dim) {
            return Err(started(format!(
                "dimension {} is not between 1 and {}",
                hello.dim,
                crate::energy::plugin_system::MAX_DIM
            )));
        }
        hello
            .metadata
            .check(hello.dim)
            .map_err(|reason| started(format!("its metadata does not fit the system: {reason}")))?;
        Ok(WorkerSystem {
            hello,
            timeout,
            channel: Mutex::new(channel),
        })
    }

    /// The worker's plugin name and version.
    pub fn provenance(&self) -> (String, String) {
        (self.hello.name.clone(), self.hello.version.clone())
    }

    /// What the worker said about its system.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// The energies (and gradients) of one contiguous batch, computed by the worker.
    pub fn energy_raw(&self, x: &[f64], u: &mut [f64], grad: Option<&mut [f64]>) -> Result<()> {
        let n = u.len();
        let mut channel = self.lock();
        let shared = &mut channel.shared;
        shared
            .reserve(2 * x.len() + n)
            .map_err(|e| self.shared_error("energy", e))?;
        shared.values_mut()[..x.len()].copy_from_slice(x);
        let request = Request::Energy {
            n,
            with_grad: grad.is_some(),
            len: shared.len(),
        };
        self.call(&mut channel, "energy", request)?;
        let values = channel.shared.values();
        u.copy_from_slice(&values[x.len()..x.len() + n]);
        if let Some(grad) = grad {
            grad.copy_from_slice(&values[x.len() + n..2 * x.len() + n]);
        }
        Ok(())
    }

    /// Exact samples of one block from `seed` into `out` (`n × dim`), drawn by the worker.
    pub fn sample_raw(&self, seed: u64, out: &mut [f64]) -> Result<()> {
        let mut channel = self.lock();
        channel
            .shared
            .reserve(out.len())
            .map_err(|e| self.shared_error("sample", e))?;
        let request = Request::Sample {
            seed,
            n: out.len() / self.hello.dim,
            len: channel.shared.len(),
        };
        self.call(&mut channel, "sample", request)?;
        out.copy_from_slice(&channel.shared.values()[..out.len()]);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Channel> {
        self.channel.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One request, and its error as boltzflow's when it fails.
    fn call(&self, channel: &mut Channel, call: &'static str, request: Request) -> Result<()> {
        let plugin = self.hello.name.clone();
        let (status, payload) = channel
            .call(&request.encode(), self.timeout)
            .map_err(|how| Error::PluginCrashed {
                plugin: plugin.clone(),
                call,
                how,
            })?;
        let message = || String::from_utf8_lossy(&payload).into_owned();
        match status {
            Status::Ok => Ok(()),
            Status::Failed => Err(Error::PluginFailed {
                plugin,
                call,
                message: message(),
            }),
            Status::Panicked => Err(Error::PluginPanicked {
                plugin,
                call,
                message: message(),
            }),
            Status::Unsupported => Err(Error::Unsupported {
                plugin,
                system: self.hello.metadata.system.clone(),
                capability: "exact sampler",
            }),
        }
    }

    fn shared_error(&self, call: &'static str, error: io::Error) -> Error {
        Error::PluginFailed {
            plugin: self.hello.name.clone(),
            call,
            message: format!("the batch could not go through the shared memory: {error}"),
        }
    }
}

impl Channel {
    /// Sends one frame and waits up to `timeout` for the reply's status and payload; or says
    /// how the worker went away (it is then gone for good).
    fn call(
        &mut self,
        request: &[u8],
        timeout: Duration,
    ) -> std::result::Result<(Status, Vec<u8>), String> {
        if let Some(gone) = &self.gone {
            return Err(format!("the worker had already stopped: {gone}"));
        }
        let sent = match self.stdin.as_mut() {
            Some(stdin) => write_frame(stdin, request).is_ok(),
            None => false,
        };
        let reply = if sent {
            self.replies.recv_timeout(timeout)
        } else {
            // It died before reading: its exit status says why.
            Err(RecvTimeoutError::Disconnected)
        };
        let how = match reply {
            Ok(Ok(Some(frame))) => match frame.split_first() {
                Some((&byte, payload)) => match Status::from_byte(byte) {
                    Some(status) => return Ok((status, payload.to_vec())),
                    None => format!("it replied with the unknown status {byte}"),
                },
                None => "it replied with an empty frame".to_owned(),
            },
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                format!(
                    "no answer within {} s (the `timeout_s` of the system file); the worker \
                     was stopped",
                    timeout.as_secs_f64()
                )
            }
            Ok(Err(e)) => format!("reading its reply failed: {e}"),
            Ok(Ok(None)) | Err(RecvTimeoutError::Disconnected) => self.exit_report(),
        };
        self.stdin = None;
        self.gone = Some(how.clone());
        Err(how)
    }

    /// How the worker ended, once it closed its output: its signal or exit status (killed if
    /// it does not exit within [`EXIT_GRACE`]).
    fn exit_report(&mut self) -> String {
        self.stdin = None;
        let deadline = Instant::now() + EXIT_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return describe_exit(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return "the worker closed its output and was stopped".to_owned();
                }
            }
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // Closing stdin asks the worker to end; one that does not is killed.
        self.stdin = None;
        if self.gone.is_none() {
            self.exit_report();
        }
    }
}

/// "killed by signal 11 (SIGSEGV)", or "exited with status 3".
fn describe_exit(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!(
                "the worker was killed by signal {signal}{}",
                signal_name(signal)
            );
        }
    }
    match status.code() {
        Some(code) => format!("the worker exited with status {code}"),
        None => format!("the worker ended: {status}"),
    }
}

/// The usual name of a Linux signal number, as " (SIGSEGV)", or nothing.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        4 => " (SIGILL)",
        6 => " (SIGABRT)",
        7 => " (SIGBUS)",
        8 => " (SIGFPE)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_worker_that_dies_or_hangs_is_reported() {
        let second = Duration::from_secs(1);
        let err = WorkerSystem::spawn(shell("kill -SEGV $$"), json!({}), "test", second)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("signal 11 (SIGSEGV)") && err.contains("'test'"),
            "{err}"
        );
        let err = WorkerSystem::spawn(shell("exit 3"), json!({}), "test", second)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exited with status 3"), "{err}");
        let err = WorkerSystem::spawn(shell("exec sleep 30"), json!({}), "test", second)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no answer within 1 s"), "{err}");
        let err = WorkerSystem::spawn(
            Command::new("/nonexistent/worker"),
            json!({}),
            "test",
            second,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("could not run /nonexistent/worker"), "{err}");
    }
}
