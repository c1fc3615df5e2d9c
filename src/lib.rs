//! boltzflow: unbiased Boltzmann sampling of physical systems whose energy comes from a plugin.
//!
//! - [`energy`]: loading energy plugins and evaluating them in parallel batches;
//! - [`config`]: RON configuration files;
//! - [`io`]: HDF5 input and output, written atomically;
//! - [`analysis`]: importance weights, effective sample size and log Z estimates, block errors,
//!   histograms, dihedrals, the dihedral report of a samples file, and plots;
//! - [`sampling`]: MCMC kernels (Metropolis, HMC), Langevin dynamics, parallel tempering and
//!   annealed importance sampling on the host;
//! - [`densities`]: the target and flows as densities on the host, and the space MCMC runs in;
//! - [`flow`]: normalizing flows on burn; [`train`]: objectives, the trainer, checkpoints;
//! - [`ebm`]: energy models learned from samples (contrastive divergence);
//! - [`run`]: a training run's folder as one object; [`job`]: the driver of long commands
//!   (Ctrl-C, progress, checkpoints); [`md`]: the `md` command's runs; [`parallel`]: work
//!   spread over MPI ranks;
//! - [`commands`]: the commands of the `boltzflow` program, one file each.
//!
//! ```no_run
//! use std::path::Path;
//! let (_, system) = boltzflow::config::load_system(Path::new("examples/systems/gmm40.ron"))?;
//! let x = system.sample_exact(1000, 42)?;
//! let eval = system.evaluate(&x, true)?;
//! assert_eq!(eval.n_nonfinite, 0);
//! # Ok::<(), boltzflow::Error>(())
//! ```

pub mod analysis;
pub mod backend;
pub mod commands;
pub mod config;
pub mod defaults;
pub mod densities;
pub mod ebm;
pub mod energy;
mod error;
pub mod flow;
pub mod free_energy;
pub mod io;
pub mod job;
pub mod md;
pub mod parallel;
pub mod progress;
pub mod run;
pub mod sampling;
pub mod seed;
pub mod train;

pub use error::{Error, Result};

/// The program version, recorded in every output file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
