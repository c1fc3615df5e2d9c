//! Free-energy differences between thermodynamic states from their samples.
//!
//! All quantities are dimensionless (reduced, in units of k_BT): a state's free energy is
//! f = −log Z, and Δf from A to B is f_B − f_A. The estimators:
//!
//! - [`exponential_averaging`] (FEP, Zwanzig): Δf = −log⟨exp(−w)⟩_A with w = u_B − u_A on
//!   samples of A; simple, and biased when the states overlap poorly;
//! - [`bar`] (Bennett's acceptance ratio): both directions' work values, the minimum-variance
//!   estimator for two states; it is MBAR with K = 2;
//! - [`Mbar`]: K states, every sample evaluated at every state, with the asymptotic covariance
//!   and the overlap matrix.
//!
//! - [`dre`]: the density ratio log q/p itself, from the two sample sets alone, through an
//!   optimal-transport flow between them (no overlap needed); with energies, Δf follows.
//!
//! `boltzflow free-energy` ([`FreeEnergyConfig`]) loads the states' systems and samples
//! ([`load_states`]), evaluates every sample at every state ([`reduced_energies`]) and runs the
//! estimators ([`run_estimator`]).
//!
//! ```
//! use boltzflow::free_energy::{bar, exponential_averaging};
//! // Two harmonic wells u_A = x²/2 and u_B = x²/(2·0.25): Δf = −log(1/2) = 0.693.
//! let xa = [-1.2, -0.4, 0.1, 0.7, 1.5, -0.9, 0.3, 1.1];
//! let xb = [-0.5, 0.2, 0.6, -0.1, 0.35, -0.3, 0.05, 0.45];
//! let ua = |x: f64| x * x / 2.0;
//! let ub = |x: f64| x * x / 0.5;
//! let w_forward: Vec<f64> = xa.iter().map(|&x| ub(x) - ua(x)).collect();
//! let w_reverse: Vec<f64> = xb.iter().map(|&x| ua(x) - ub(x)).collect();
//! let fep = exponential_averaging(&w_forward);
//! let both = bar(&w_forward, &w_reverse)?;
//! assert!((both.delta_f - 0.693).abs() < 3.0 * both.stderr + 0.1);
//! assert!(fep.stderr > 0.0);
//! # Ok::<(), boltzflow::Error>(())
//! ```

mod config;
pub mod dre;
mod estimate;
mod mbar;
mod states;
mod two_state;

pub use config::{EstimatorConfig, FreeEnergyConfig, StateConfig};
pub use estimate::{DreContext, EstimatorResult, RatioCheck, chained, run_estimator};
pub use mbar::{Mbar, ReducedEnergies};
pub use states::{Evaluated, State, load_states, reduced_energies};
pub use two_state::{bar, exponential_averaging};

#[cfg(test)]
mod tests;

/// A free-energy difference and its standard error, in k_BT.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Δf = f_B − f_A.
    pub delta_f: f64,
    /// Its standard error (asymptotic or delta-method).
    pub stderr: f64,
}
