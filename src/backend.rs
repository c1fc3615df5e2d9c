//! The compute backends flows run on: burn's Flex on the CPU, and CUDA with `--features cuda`.

use crate::{Error, Result};
use burn::backend::Autodiff;
use serde::{Deserialize, Serialize};

pub use crate::flow::{AutodiffFlowBackend, FlowBackend};

/// The CPU backend.
pub type Cpu = burn::backend::Flex;

/// The CUDA backend (built with `--features cuda`).
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda;

/// Where a flow runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum DeviceKind {
    /// The CPU (burn's Flex backend), multithreaded.
    #[default]
    Cpu,
    /// The first CUDA GPU (needs a build with `--features cuda` and an NVIDIA driver); under
    /// `mpirun`, the GPU of the rank's local rank.
    Cuda,
}

/// Checks that a CUDA device can be used: this build has the feature and the driver library
/// loads. (burn panics on a background thread when it finds no GPU, so look first.)
pub fn check_cuda() -> Result<()> {
    if !cfg!(feature = "cuda") {
        return Err(Error::InvalidArgument(
            "this boltzflow was built without CUDA support; rebuild with `cargo build --release --features cuda`"
                .to_owned(),
        ));
    }
    // SAFETY: loading the NVIDIA driver library runs its initialisers; nothing is called.
    match unsafe { libloading::Library::new("libcuda.so.1") } {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::InvalidArgument(format!(
            "no CUDA driver found ({e}); use `--device cpu`, or run on a machine with an NVIDIA GPU"
        ))),
    }
}

/// Work generic over the autodiff backend, run by [`run_on`] on the device the user chose.
pub trait OnDevice {
    /// What the work returns.
    type Output;
    /// Does the work on backend `B`'s default device.
    fn run<B: AutodiffFlowBackend>(self, device: B::Device) -> Result<Self::Output>;
}

/// Runs `work` on `kind`'s backend: burn's Flex on the CPU, or CUDA (checked first: a build
/// without the feature, or a machine without a driver, is a clear error) on the GPU whose index
/// is the process's local MPI rank (0 outside `mpirun`).
pub fn run_on<W: OnDevice>(kind: DeviceKind, work: W) -> Result<W::Output> {
    match kind {
        DeviceKind::Cpu => work.run::<Autodiff<Cpu>>(Default::default()),
        DeviceKind::Cuda => {
            check_cuda()?;
            #[cfg(feature = "cuda")]
            return work.run::<Autodiff<Cuda>>(burn::backend::cuda::CudaDevice {
                index: crate::parallel::gpu_index(),
            });
            #[cfg(not(feature = "cuda"))]
            unreachable!("check_cuda refuses builds without CUDA")
        }
    }
}
