//! MCMC kernels, Langevin dynamics, parallel tempering and annealed importance sampling on the
//! host, in f64 (no burn).
//!
//! Every sampler follows the BlackJAX shape: `init` builds an explicit [`ChainState`] for a batch
//! of chains and `step` advances it, with nothing hidden in globals. A kernel evaluates its target
//! once per batch (one [`LogDensity::log_density`] call for all chains), never chain by chain.
//!
//! - [`LogDensity`]: an unnormalised log density on a batch of points, and [`AnnealedDensity`], the
//!   geometric path log π_β = (1 − αβ) log q + αβ log p from q to g = p^α q^(1−α);
//! - [`Metropolis`] (random walk) and [`Hmc`] (leapfrog, unit mass), wrapped by [`Kernel`], with
//!   step-size [`Adaptation`] toward a target acceptance rate;
//! - [`Langevin`]: BAOAB Langevin dynamics of a batch of replicas in physical or reduced
//!   [`Units`], and [`ParallelTempering`] (replica exchange over a temperature ladder, several
//!   independent ladders in one batch);
//! - [`Ais`]: annealed importance sampling from q to g with a [`Schedule`] of β, configured by
//!   [`AisConfig`] (RON), optionally with [`TorsionJumps`] (Metropolis jumps of angle groups
//!   that cross the barriers a local kernel cannot).
//!
//! Non-finite numbers are data: a proposal whose log density (or, for HMC, any position, gradient
//! or log density along its trajectory) is not finite is rejected and counted in
//! [`StepStats::n_nonfinite`], apart from ordinary Metropolis–Hastings rejections.
//!
//! ```
//! use boltzflow::sampling::{LogDensity, Metropolis, Transition};
//! use rand::SeedableRng;
//!
//! /// log π(x) = −x²/2 in one dimension.
//! struct StdNormal;
//! impl LogDensity for StdNormal {
//!     fn dim(&self) -> usize { 1 }
//!     fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> boltzflow::Result<Vec<f64>> {
//!         if let Some(g) = grad {
//!             for (g, x) in g.iter_mut().zip(x) { *g = -x; }
//!         }
//!         Ok(x.iter().map(|x| -0.5 * x * x).collect())
//!     }
//! }
//!
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
//! let mut kernel = Metropolis::new(1.0, None)?;
//! let mut state = kernel.init(vec![0.0; 100], &StdNormal)?;
//! for _ in 0..10 {
//!     let stats = kernel.step(&mut state, &StdNormal, &mut rng)?;
//!     assert_eq!(stats.n_nonfinite, 0);
//! }
//! # Ok::<(), boltzflow::Error>(())
//! ```

mod adaptation;
mod ais;
mod hmc;
mod kernel;
mod langevin;
mod log_density;
mod metropolis;
mod schedule;
mod state;
mod tempering;
#[cfg(test)]
mod testing;
mod torsion_jump;

pub use adaptation::Adaptation;
pub use ais::{Ais, AisConfig, AisOutput};
pub use hmc::Hmc;
pub use kernel::{Kernel, KernelConfig, Transition};
pub use langevin::{Langevin, LangevinState, Units};
pub use log_density::{AnnealedDensity, LogDensity};
pub use metropolis::Metropolis;
pub use schedule::Schedule;
pub use state::{ChainState, StepStats};
pub use tempering::{ParallelTempering, TemperingState, exchange_probability};
pub use torsion_jump::TorsionJumps;
