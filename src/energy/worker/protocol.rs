//! The messages between boltzflow and an energy worker: small frames over the worker's stdin
//! and stdout, and the numbers themselves in memory both processes map.
//!
//! Every frame is its length in bytes (u64, little-endian), then the bytes. The numbers (f64,
//! native byte order: both processes run on one machine) go through a [`SharedBuffer`], a
//! file in `/dev/shm` that the parent creates and both map, so that a batch is copied once
//! each way rather than pushed through a pipe. The parent speaks first:
//!
//! 1. parent → worker: the start message (UTF-8 JSON: what to load, and the shared file's path
//!    as `shared`; the rest is the worker's business: [`super::Start`] for plugins, the Python
//!    runner's own for Python);
//! 2. worker → parent: a status byte, then the [`Hello`] as JSON (status 0) or an error message;
//! 3. then, one at a time, a request and its reply. A request names the shared file's current
//!    length (the worker maps it again when it grew):
//!    - energy: `1u8, with_grad u8, n u64, len u64`, with x [n·dim] at the start of the shared
//!      memory → `0u8`, with u [n] after x and, when asked for, grad [n·dim] after u;
//!    - exact samples: `2u8, seed u64, n u64, len u64` → `0u8`, with x [n·dim] at the start;
//!
//!    a failed call replies with a non-zero [`Status`] byte and a UTF-8 message.
//!
//! Closing the worker's stdin ends it. Anything a worker prints goes to its stderr (the Python
//! runner moves `print` there), so its stdout carries frames only.

use boltzflow_plugin::Metadata;
use memmap2::MmapMut;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The most bytes one frame may hold (64 MiB: frames carry messages, the largest a hello with
/// the metadata of a molecule of some hundred thousand atoms); a longer length prefix is taken
/// for garbage.
const MAX_FRAME: u64 = 1 << 26;

/// Request code of an energy evaluation.
pub const OP_ENERGY: u8 = 1;
/// Request code of exact samples.
pub const OP_SAMPLE: u8 = 2;

/// The first byte of every reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// The call succeeded; its numbers are in the shared memory (the hello follows inline).
    Ok = 0,
    /// The call failed; a message follows.
    Failed = 1,
    /// The code panicked; a message follows.
    Panicked = 2,
    /// The capability is missing; a message follows.
    Unsupported = 3,
}

impl Status {
    /// The status of a byte, or `None` for a byte no worker sends.
    pub fn from_byte(byte: u8) -> Option<Status> {
        [
            Status::Ok,
            Status::Failed,
            Status::Panicked,
            Status::Unsupported,
        ]
        .into_iter()
        .find(|s| *s as u8 == byte)
    }
}

/// What a worker says about its system once it is loaded.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The plugin's name (recorded in outputs).
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Coordinates per point.
    pub dim: usize,
    /// The system's metadata.
    pub metadata: Metadata,
    /// The exact log Z, when known.
    #[serde(default)]
    pub log_z: Option<f64>,
    /// Whether the worker draws exact samples.
    #[serde(default)]
    pub exact_sampler: bool,
}

/// A request: what to compute, and the shared memory's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// u (and ∇u) at the `n` points at the start of the shared memory.
    Energy {
        /// Points.
        n: usize,
        /// Whether the gradient is wanted.
        with_grad: bool,
        /// Bytes of shared memory.
        len: usize,
    },
    /// `n` exact samples from `seed`.
    Sample {
        /// The seed of this block.
        seed: u64,
        /// Points.
        n: usize,
        /// Bytes of shared memory.
        len: usize,
    },
}

impl Request {
    /// The frame of this request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(26);
        match *self {
            Request::Energy { n, with_grad, len } => {
                out.extend([OP_ENERGY, u8::from(with_grad)]);
                out.extend((n as u64).to_le_bytes());
                out.extend((len as u64).to_le_bytes());
            }
            Request::Sample { seed, n, len } => {
                out.push(OP_SAMPLE);
                out.extend(seed.to_le_bytes());
                out.extend((n as u64).to_le_bytes());
                out.extend((len as u64).to_le_bytes());
            }
        }
        out
    }

    /// The request of a frame, or what is wrong with it.
    pub fn decode(frame: &[u8]) -> Result<Request, String> {
        let u64_at = |at: usize| {
            frame
                .get(at..at + 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .ok_or_else(|| format!("a request of {} bytes is too short", frame.len()))
        };
        match frame.first() {
            Some(&OP_ENERGY) if frame.len() == 18 => Ok(Request::Energy {
                with_grad: frame[1] != 0,
                n: u64_at(2)? as usize,
                len: u64_at(10)? as usize,
            }),
            Some(&OP_SAMPLE) if frame.len() == 25 => Ok(Request::Sample {
                seed: u64_at(1)?,
                n: u64_at(9)? as usize,
                len: u64_at(17)? as usize,
            }),
            other => Err(format!(
                "unknown request (code {other:?}, {} bytes)",
                frame.len()
            )),
        }
    }
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    w.write_all(&(bytes.len() as u64).to_le_bytes())?;
    w.write_all(bytes)?;
    w.flush()
}

/// Reads one frame; `None` at the end of the stream (the other side closed it).
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 8];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u64::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes: the stream is not boltzflow's worker protocol"),
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    r.read_exact(&mut bytes)?;
    Ok(Some(bytes))
}

/// A reply: the status byte and its payload.
pub fn reply(status: Status, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + payload.len());
    out.push(status as u8);
    out.extend_from_slice(payload);
    out
}

/// Memory shared by the parent and its worker: a file both map. The worker computes in it
/// directly; the parent copies its batches in and the results out.
#[derive(Debug)]
pub struct SharedBuffer {
    file: File,
    map: MmapMut,
    /// The file, deleted when the parent's buffer is dropped (`None` in the worker).
    owned: Option<tempfile::TempPath>,
}

/// The shared memory's first size: 1 MiB, a batch of about a thousand 60-coordinate points.
const INITIAL_SHARED_BYTES: usize = 1 << 20;

impl SharedBuffer {
    /// A new shared file of the parent: in `/dev/shm` (memory, never the disk) where it
    /// exists, else the temporary folder.
    pub fn create() -> io::Result<Self> {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        let (file, path) = tempfile::Builder::new()
            .prefix("boltzflow-worker-")
            .tempfile_in(dir)?
            .into_parts();
        file.set_len(INITIAL_SHARED_BYTES as u64)?;
        // SAFETY: the file is ours and stays open with the map; the worker writes it only
        // while the parent waits for its reply, and the parent holds no view across a call.
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(SharedBuffer {
            file,
            map,
            owned: Some(path),
        })
    }

    /// The parent's shared file, mapped by the worker.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::options().read(true).write(true).open(path)?;
        // SAFETY: as in `create`; the parent does not touch the memory during a call.
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(SharedBuffer {
            file,
            map,
            owned: None,
        })
    }

    /// The shared file's path.
    pub fn path(&self) -> Option<PathBuf> {
        self.owned.as_ref().map(|p| p.to_path_buf())
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is mapped (never, in practice: the file starts at 1 MiB).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Makes room for `values` f64s (the parent grows the file, doubling).
    pub fn reserve(&mut self, values: usize) -> io::Result<()> {
        let bytes = values.checked_mul(8).ok_or_else(too_large)?;
        if bytes <= self.len() {
            return Ok(());
        }
        let len = bytes.checked_next_power_of_two().ok_or_else(too_large)?;
        self.file.set_len(len as u64)?;
        self.remap(len)
    }

    /// Maps the file again at `len` bytes when that is not the length mapped (the worker,
    /// after the parent grew it).
    pub fn remap(&mut self, len: usize) -> io::Result<()> {
        if len != self.len() {
            if !len.is_multiple_of(8) || len == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a shared length of {len} bytes is not a whole number of f64s"),
                ));
            }
            if (self.file.metadata()?.len() as usize) < len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the shared file is shorter than the {len} bytes announced"),
                ));
            }
            // SAFETY: as in `create`.
            self.map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(&self.file)? };
        }
        Ok(())
    }

    /// The memory as f64 values.
    pub fn values(&self) -> &[f64] {
        // SAFETY: the map is page-aligned and its length a multiple of 8 (a power of two of at
        // least 1 MiB, or what the parent announced, checked in `remap`); every bit pattern is
        // an f64. The other process writes it only while this one waits for a reply.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast(), self.map.len() / 8) }
    }

    /// The memory as f64 values, to write.
    pub fn values_mut(&mut self) -> &mut [f64] {
        // SAFETY: as in `values`, and `&mut self` makes this the only view in this process.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast(), self.map.len() / 8) }
    }
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "a batch too large to share")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_requests_round_trip() {
        let requests = [
            Request::Energy {
                n: 3,
                with_grad: true,
                len: 4096,
            },
            Request::Sample {
                seed: u64::MAX,
                n: 7,
                len: 1 << 20,
            },
        ];
        let mut stream = Vec::new();
        for r in requests {
            write_frame(&mut stream, &r.encode()).unwrap();
        }
        write_frame(&mut stream, b"").unwrap();
        let mut r = stream.as_slice();
        for expected in requests {
            let frame = read_frame(&mut r).unwrap().unwrap();
            assert_eq!(Request::decode(&frame).unwrap(), expected);
        }
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"");
        assert!(read_frame(&mut r).unwrap().is_none(), "end of stream");
        assert!(Request::decode(&[OP_ENERGY, 1, 2]).is_err());
        assert!(Request::decode(&[9; 18]).is_err());
        let garbage = u64::MAX.to_le_bytes();
        assert!(read_frame(&mut garbage.as_slice()).is_err());
        assert_eq!(Status::from_byte(2), Some(Status::Panicked));
        assert_eq!(Status::from_byte(9), None);
    }

    #[test]
    fn both_sides_see_the_shared_values_and_growth() {
        let mut parent = SharedBuffer::create().unwrap();
        let path = parent.path().unwrap();
        let mut worker = SharedBuffer::open(&path).unwrap();
        parent.values_mut()[2..5].copy_from_slice(&[1.5, f64::NAN, -0.0]);
        let seen = &worker.values()[2..5];
        assert_eq!(seen[0], 1.5);
        assert!(seen[1].is_nan() && seen[2].to_bits() == (-0.0f64).to_bits());
        parent.reserve(1 << 18).unwrap();
        assert_eq!(parent.len(), 2 << 20);
        worker.remap(parent.len()).unwrap();
        worker.values_mut()[(1 << 18) - 1] = 7.0;
        assert_eq!(parent.values()[(1 << 18) - 1], 7.0);
        assert_eq!(worker.values().len(), 1 << 18);
        assert!(worker.remap(8 << 20).is_err(), "longer than the file");
        assert!(worker.remap(1001).is_err(), "not whole f64s");
        drop(parent);
        assert!(!path.exists(), "the parent's file is deleted with it");
    }
}
