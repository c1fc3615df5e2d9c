//! `boltzflow md`: reference samples by Langevin dynamics with parallel tempering.
//!
//! An [`MdConfig`] (RON) names the system, the temperature ladder and the integration settings;
//! an [`MdRun`] runs BAOAB Langevin dynamics ([`crate::sampling::Langevin`]) of several
//! independent temperature ladders ([`crate::sampling::ParallelTempering`]) in one batch, saves
//! the lowest temperature of every walker every `save_every` steps, checkpoints, resumes, and
//! writes one HDF5 file:
//!
//! ```text
//! /samples/x           [n, dim]        frames of the lowest temperature, walker-major
//! /samples/positions   [n, atoms, 3]   the same in nm (molecules), read by `train` as data
//! /samples/u           [n]             reduced energy at T0
//! /samples/log_w       [n]             zeros: MD samples are unweighted
//! /trajectory/walker   [n]             the walker of each frame (attribute frames_per_walker)
//! /trajectory/time_ps  [n]             production time of each frame
//! /trajectory/step     [n]             step of each frame (equilibration included)
//! /md                  attributes: temperatures, timestep_fs, friction_per_ps, steps, ...,
//!                      ns_per_replica, ns_per_day, exchange_acceptance (per neighbour pair)
//! ```
//!
//! Frames are walker-major: all frames of walker 0 in time order, then walker 1, and so on, so
//! each walker is one contiguous block for block averaging.

mod config;
mod run;

pub use config::MdConfig;
pub use run::MdRun;
