//! The explicit state of a batch of chains, and the statistics of one transition.

use super::log_density::{LogDensity, evaluate};
use crate::{Error, Result};

/// The current points of n chains with what a kernel knows about them. Kernels only ever replace
/// a chain's point by an accepted proposal whose position, log density (and gradient) are finite.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainState {
    /// Positions, n × dim, row-major.
    pub x: Vec<f64>,
    /// log π at each position (n values).
    pub log_density: Vec<f64>,
    /// ∇ log π at each position (n × dim), kept by gradient-based kernels (HMC).
    pub grad: Option<Vec<f64>>,
    /// The target's auxiliary values at each position (n × [`LogDensity::aux_len`]).
    pub aux: Vec<f64>,
}

impl ChainState {
    /// Evaluates `target` (with its gradient when `with_grad`) at the n points of `x` (n × dim).
    /// Refuses points with a non-finite coordinate; a non-finite log density is allowed (such a
    /// chain has zero density and moves to its first finite proposal).
    pub fn new<T: LogDensity + ?Sized>(target: &T, x: Vec<f64>, with_grad: bool) -> Result<Self> {
        let dim = target.dim();
        let n = Self::check_points(&x, dim, "initial points")?;
        let mut grad = with_grad.then(|| vec![0.0; n * dim]);
        let mut aux = vec![0.0; n * target.aux_len(with_grad)];
        let log_density = evaluate(target, &x, grad.as_deref_mut(), Some(&mut aux))?;
        Ok(ChainState {
            x,
            log_density,
            grad,
            aux,
        })
    }

    /// Number of chains.
    pub fn n(&self) -> usize {
        self.log_density.len()
    }

    /// Checks that `x` holds whole finite points of `dim` coordinates; returns their number.
    pub(crate) fn check_points(x: &[f64], dim: usize, what: &str) -> Result<usize> {
        if dim == 0 || !x.len().is_multiple_of(dim) {
            return Err(Error::Shape {
                what: what.to_owned(),
                expected: format!("a multiple of dim = {dim} (positive) values"),
                found: format!("{} values", x.len()),
            });
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "{what}: point {} has a non-finite coordinate",
                i / dim
            )));
        }
        Ok(x.len() / dim)
    }

    /// Checks the state's shapes against `target`; `need_grad` for gradient-based kernels.
    pub(crate) fn check<T: LogDensity + ?Sized>(&self, target: &T, need_grad: bool) -> Result<()> {
        let dim = target.dim();
        let n = self.n();
        let shape = |what: &str, expected: usize, found: usize| {
            Err(Error::Shape {
                what: format!("chain state: {what}"),
                expected: format!("{expected} values"),
                found: format!("{found} values"),
            })
        };
        if self.x.len() != n * dim {
            return shape("positions (n × dim)", n * dim, self.x.len());
        }
        match (&self.grad, need_grad) {
            (Some(g), _) if g.len() != n * dim => return shape("gradients", n * dim, g.len()),
            (None, true) => {
                return Err(Error::InvalidArgument(
                    "chain state has no gradients: a gradient-based kernel (HMC) needs a state \
                     made by its own `init`"
                        .to_owned(),
                ));
            }
            _ => {}
        }
        let stride = target.aux_len(self.grad.is_some());
        if self.aux.len() != n * stride {
            return shape("auxiliary values", n * stride, self.aux.len());
        }
        Ok(())
    }

    /// Replaces chain `i`'s point by a proposal's.
    pub(crate) fn accept(
        &mut self,
        i: usize,
        x: &[f64],
        log_density: f64,
        grad: Option<&[f64]>,
        aux: &[f64],
    ) {
        let dim = x.len();
        self.x[i * dim..(i + 1) * dim].copy_from_slice(x);
        self.log_density[i] = log_density;
        if let (Some(g), Some(new)) = (&mut self.grad, grad) {
            g[i * dim..(i + 1) * dim].copy_from_slice(new);
        }
        let stride = aux.len();
        self.aux[i * stride..(i + 1) * stride].copy_from_slice(aux);
    }
}

/// Statistics of one transition of a batch of chains:
/// `n_accepted + n_rejected + n_nonfinite` is the number of chains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean Metropolis–Hastings acceptance probability min(1, π(x′)/π(x) · …) over the chains,
    /// a non-finite proposal counting as 0 (NaN for no chains).
    pub acceptance: f64,
    /// Chains that moved to their proposal.
    pub n_accepted: usize,
    /// Finite proposals rejected by the Metropolis–Hastings test.
    pub n_rejected: usize,
    /// Proposals rejected because their log density, position or (HMC) a gradient, position or
    /// log density along the trajectory was not finite.
    pub n_nonfinite: usize,
    /// The step size used.
    pub step_size: f64,
}

/// Accumulates [`StepStats`] chain by chain.
pub(crate) struct Tally {
    sum: f64,
    stats: StepStats,
    n: usize,
}

impl Tally {
    pub(crate) fn new(step_size: f64) -> Self {
        Tally {
            sum: 0.0,
            n: 0,
            stats: StepStats {
                acceptance: f64::NAN,
                n_accepted: 0,
                n_rejected: 0,
                n_nonfinite: 0,
                step_size,
            },
        }
    }

    /// A non-finite proposal (rejected).
    pub(crate) fn nonfinite(&mut self) {
        self.n += 1;
        self.stats.n_nonfinite += 1;
    }

    /// A finite proposal with log acceptance ratio `log_ratio` (the current point's log density
    /// may be non-finite: zero density, accept), decided by the uniform number `u` in [0, 1).
    /// Returns whether the proposal is accepted.
    pub(crate) fn decide(&mut self, log_ratio: f64, current_finite: bool, u: f64) -> bool {
        let prob = if !current_finite {
            1.0
        } else if log_ratio.is_nan() {
            self.nonfinite();
            return false;
        } else {
            log_ratio.min(0.0).exp()
        };
        self.n += 1;
        self.sum += prob;
        let accept = u < prob;
        if accept {
            self.stats.n_accepted += 1;
        } else {
            self.stats.n_rejected += 1;
        }
        accept
    }

    pub(crate) fn finish(mut self) -> StepStats {
        if self.n > 0 {
            self.stats.acceptance = self.sum / self.n as f64;
        }
        self.stats
    }
}
