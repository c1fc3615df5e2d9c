//! A kernel chosen by configuration: Metropolis or HMC.

use super::adaptation::Adaptation;
use super::hmc::Hmc;
use super::log_density::LogDensity;
use super::metropolis::Metropolis;
use super::state::{ChainState, StepStats};
use crate::Result;
use serde::{Deserialize, Serialize};

/// An MCMC kernel (RON).
///
/// ```ron
/// Metropolis(step_size: 5.0, adapt: false)
/// Hmc(step_size: 1.0, leapfrog_steps: 5, target_acceptance: 0.65)
/// ```
///
/// Omitted fields take their defaults: `step_size: 1.0`, `leapfrog_steps: 5`, `adapt: true`,
/// `target_acceptance: 0.65`, `adapt_rate: 0.1` (see [`Adaptation`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum KernelConfig {
    /// Random-walk Metropolis ([`Metropolis`]).
    Metropolis {
        /// Initial (or fixed) step size: the proposal's standard deviation per coordinate.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        step_size: f64,
        /// Whether the step size adapts toward `target_acceptance`.
        #[serde(default = "crate::defaults::yes")]
        adapt: bool,
        /// Acceptance rate that adaptation aims at, in (0, 1).
        #[serde(default = "default_target")]
        target_acceptance: f64,
        /// Gain of the log step-size update.
        #[serde(default = "default_rate")]
        adapt_rate: f64,
    },
    /// Hamiltonian Monte Carlo ([`Hmc`]).
    Hmc {
        /// Initial (or fixed) leapfrog step size.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        step_size: f64,
        /// Leapfrog steps per transition, at least 1.
        #[serde(default = "crate::defaults::int::<5>")]
        leapfrog_steps: usize,
        /// Whether the step size adapts toward `target_acceptance`.
        #[serde(default = "crate::defaults::yes")]
        adapt: bool,
        /// Acceptance rate that adaptation aims at, in (0, 1).
        #[serde(default = "default_target")]
        target_acceptance: f64,
        /// Gain of the log step-size update.
        #[serde(default = "default_rate")]
        adapt_rate: f64,
    },
}

fn default_target() -> f64 {
    Adaptation::DEFAULT_TARGET
}

fn default_rate() -> f64 {
    Adaptation::DEFAULT_RATE
}

impl Default for KernelConfig {
    /// `Hmc(step_size: 1.0, leapfrog_steps: 5)`, adapting toward acceptance 0.65.
    fn default() -> Self {
        KernelConfig::Hmc {
            step_size: 1.0,
            leapfrog_steps: 5,
            adapt: true,
            target_acceptance: Adaptation::DEFAULT_TARGET,
            adapt_rate: Adaptation::DEFAULT_RATE,
        }
    }
}

impl KernelConfig {
    /// Builds the kernel, refusing bad numbers with a message that names the field.
    pub fn build(&self) -> Result<Kernel> {
        let adaptation = |adapt: bool, target: f64, rate: f64| {
            // The numbers are checked even when adaptation is off, to catch typos early.
            let a = Adaptation::new(target, rate)?;
            Ok::<_, crate::Error>(adapt.then_some(a))
        };
        Ok(match *self {
            KernelConfig::Metropolis {
                step_size,
                adapt,
                target_acceptance,
                adapt_rate,
            } => Kernel::Metropolis(Metropolis::new(
                step_size,
                adaptation(adapt, target_acceptance, adapt_rate)?,
            )?),
            KernelConfig::Hmc {
                step_size,
                leapfrog_steps,
                adapt,
                target_acceptance,
                adapt_rate,
            } => Kernel::Hmc(Hmc::new(
                step_size,
                leapfrog_steps,
                adaptation(adapt, target_acceptance, adapt_rate)?,
            )?),
        })
    }

    /// Checks the numbers that serde cannot.
    pub fn validate(&self) -> Result<()> {
        self.build().map(|_| ())
    }
}

/// One of the kernels, behind one interface.
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// Random-walk Metropolis.
    Metropolis(Metropolis),
    /// Hamiltonian Monte Carlo.
    Hmc(Hmc),
}

impl Kernel {
    /// Whether the kernel uses ∇log π (its states carry gradients).
    pub fn needs_gradient(&self) -> bool {
        matches!(self, Kernel::Hmc(_))
    }

    /// The current step size.
    pub fn step_size(&self) -> f64 {
        match self {
            Kernel::Metropolis(k) => k.step_size(),
            Kernel::Hmc(k) => k.step_size(),
        }
    }

    /// Sets the step size (positive and finite), e.g. from a checkpoint.
    pub fn set_step_size(&mut self, step_size: f64) -> Result<()> {
        match self {
            Kernel::Metropolis(k) => k.set_step_size(step_size),
            Kernel::Hmc(k) => k.set_step_size(step_size),
        }
    }

    /// The state of chains started at `x` (n × dim).
    pub fn init<T: LogDensity + ?Sized>(&self, x: Vec<f64>, target: &T) -> Result<ChainState> {
        ChainState::new(target, x, self.needs_gradient())
    }
}

impl Transition for Kernel {
    /// One transition of every chain, without adaptation.
    fn transition<T, R>(&self, state: &mut ChainState, target: &T, rng: &mut R) -> Result<StepStats>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng + ?Sized,
    {
        match self {
            Kernel::Metropolis(k) => k.transition(state, target, rng),
            Kernel::Hmc(k) => k.transition(state, target, rng),
        }
    }

    /// Updates the step size from a mean acceptance (no-op without adaptation).
    fn adapt(&mut self, acceptance: f64) {
        match self {
            Kernel::Metropolis(k) => k.adapt(acceptance),
            Kernel::Hmc(k) => k.adapt(acceptance),
        }
    }
}

/// A Markov kernel acting on a batch of chains held in an explicit [`ChainState`].
pub trait Transition {
    /// One transition of every chain at the current step size, without adaptation.
    fn transition<T, R>(
        &self,
        state: &mut ChainState,
        target: &T,
        rng: &mut R,
    ) -> Result<StepStats>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng + ?Sized;

    /// Updates the step size from a mean acceptance (no-op without adaptation).
    fn adapt(&mut self, acceptance: f64);

    /// [`Transition::transition`], then [`Transition::adapt`] from its mean acceptance.
    fn step<T, R>(&mut self, state: &mut ChainState, target: &T, rng: &mut R) -> Result<StepStats>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng + ?Sized,
    {
        let stats = self.transition(state, target, rng)?;
        self.adapt(stats.acceptance);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::testing::{Gaussian, mean_se, moments2};
    use rand::SeedableRng;

    fn kernels() -> Vec<(Kernel, usize)> {
        vec![
            (Kernel::Metropolis(Metropolis::new(1.0, None).unwrap()), 1),
            (Kernel::Hmc(Hmc::new(0.3, 5, None).unwrap()), 5),
        ]
    }

    /// Chains started exactly at a correlated Gaussian stay distributed as it: mean and covariance
    /// within 5 standard errors after many transitions that did move the chains.
    #[test]
    fn kernels_leave_a_correlated_gaussian_invariant() {
        let cov = [[2.0, 1.2], [1.2, 1.0]];
        let mean = [1.0, -2.0];
        let target = Gaussian::new(mean.to_vec(), cov, 0.0);
        let (n, steps) = (4000, 100);
        for (mut kernel, evals_per_step) in kernels() {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
            let mut state = kernel.init(target.sample(n, &mut rng), &target).unwrap();
            let start = state.x.clone();
            let calls = target.calls.get();
            let mut acceptance = Vec::new();
            for _ in 0..steps {
                let s = kernel.step(&mut state, &target, &mut rng).unwrap();
                assert_eq!(s.n_accepted + s.n_rejected + s.n_nonfinite, n);
                assert_eq!(s.n_nonfinite, 0);
                acceptance.push(s.acceptance);
            }
            // One batched evaluation per leapfrog step or proposal, never one per chain.
            assert_eq!(target.calls.get() - calls, steps * evals_per_step);
            let (acc, _) = mean_se(&acceptance);
            assert!((0.2..0.99).contains(&acc), "{kernel:?}: acceptance {acc}");
            let moved = (0..n).filter(|&i| state.x[2 * i] != start[2 * i]).count();
            assert!(moved > n * 9 / 10, "{kernel:?}: only {moved} chains moved");
            let (m, c) = moments2(&state.x);
            let nf = n as f64;
            for i in 0..2 {
                let se = (cov[i][i] / nf).sqrt();
                assert!((m[i] - mean[i]).abs() < 5.0 * se, "{kernel:?}: mean {m:?}");
                for j in 0..2 {
                    let se = ((cov[i][i] * cov[j][j] + cov[i][j] * cov[i][j]) / nf).sqrt();
                    assert!(
                        (c[i][j] - cov[i][j]).abs() < 5.0 * se,
                        "{kernel:?}: cov {c:?}"
                    );
                }
            }
        }
    }

    /// N(0, I) with log π = −∞ where x_0 > 2 and NaN where x_1 > 1.5 (NaN gradients there).
    struct Holed(Gaussian);

    impl LogDensity for Holed {
        fn dim(&self) -> usize {
            2
        }

        fn log_density(&self, x: &[f64], mut grad: Option<&mut [f64]>) -> crate::Result<Vec<f64>> {
            let mut v = self.0.log_density(x, grad.as_deref_mut())?;
            for (i, p) in x.chunks_exact(2).enumerate() {
                let hole = if p[0] > 2.0 {
                    f64::NEG_INFINITY
                } else if p[1] > 1.5 {
                    f64::NAN
                } else {
                    continue;
                };
                v[i] = hole;
                if let Some(g) = grad.as_deref_mut() {
                    g[2 * i..2 * i + 2].fill(f64::NAN);
                }
            }
            Ok(v)
        }
    }

    /// The zero-density and NaN regions are never entered, their proposals are counted apart from
    /// ordinary rejections, and the chains sample the truncated Gaussian.
    #[test]
    fn nonfinite_regions_are_never_entered_and_counted() {
        let target = Holed(Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0));
        let n = 4000;
        for (kernel, _) in kernels() {
            let mut kernel = match kernel {
                Kernel::Hmc(_) => Kernel::Hmc(Hmc::new(0.5, 5, None).unwrap()),
                k => k,
            };
            let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
            // Exact samples of the truncated Gaussian, by rejection.
            let mut x = Vec::new();
            while x.len() < 2 * n {
                let p = target.0.sample(1, &mut rng);
                if p[0] <= 2.0 && p[1] <= 1.5 {
                    x.extend(p);
                }
            }
            let mut state = kernel.init(x, &target).unwrap();
            let (mut nonfinite, mut rejected) = (0, 0);
            for _ in 0..100 {
                let s = kernel.step(&mut state, &target, &mut rng).unwrap();
                assert_eq!(s.n_accepted + s.n_rejected + s.n_nonfinite, n);
                nonfinite += s.n_nonfinite;
                rejected += s.n_rejected;
                for (p, v) in state.x.chunks_exact(2).zip(&state.log_density) {
                    assert!(
                        p[0] <= 2.0 && p[1] <= 1.5 && v.is_finite(),
                        "{kernel:?} entered {p:?}"
                    );
                }
            }
            assert!(
                nonfinite > 1000,
                "{kernel:?}: {nonfinite} non-finite proposals"
            );
            assert!(rejected > 100, "{kernel:?}: {rejected} ordinary rejections");
            // Truncated standard normal above b: mean −φ(b)/Φ(b).
            for (j, expected) in [(0, -0.05525), (1, -0.13879)] {
                let col: Vec<f64> = state.x.iter().skip(j).step_by(2).copied().collect();
                let (m, se) = mean_se(&col);
                assert!(
                    (m - expected).abs() < 4.5 * se,
                    "{kernel:?}: mean x_{j} = {m} ± {se}"
                );
            }
        }
    }

    /// Steps so large that proposals overflow: rejected as non-finite, and the target is never
    /// asked about a non-finite position (the test density panics if it is).
    #[test]
    fn overflowing_proposals_are_rejected() {
        let target = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        for mut kernel in [
            Kernel::Metropolis(Metropolis::new(1e308, None).unwrap()),
            Kernel::Hmc(Hmc::new(1e200, 3, None).unwrap()),
        ] {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
            let mut state = kernel.init(vec![0.5; 200], &target).unwrap();
            let s = kernel.step(&mut state, &target, &mut rng).unwrap();
            assert_eq!(s.n_nonfinite, 100, "{kernel:?}: {s:?}");
            assert_eq!(s.acceptance, 0.0);
            assert!(state.x.iter().all(|&v| v == 0.5));
        }
    }

    #[test]
    fn refuses_bad_kernels_and_states() {
        let bad = [
            ("Metropolis(step_size: -1.0)", "step_size"),
            ("Hmc(step_size: 0.0)", "step_size"),
            ("Hmc(leapfrog_steps: 0)", "leapfrog_steps"),
            ("Hmc(target_acceptance: 1.5)", "target_acceptance"),
            (
                "Metropolis(adapt: false, target_acceptance: 0.0)",
                "target_acceptance",
            ),
            ("Hmc(adapt_rate: -0.1)", "adapt_rate"),
        ];
        for (text, field) in bad {
            let config: KernelConfig = ron::from_str(text).unwrap();
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{text}: {err}");
        }
        assert!(ron::from_str::<KernelConfig>("Hmc(leapfrog: 5)").is_err());
        let target = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let hmc = Hmc::new(0.1, 5, None).unwrap();
        let mut state = Metropolis::new(1.0, None)
            .unwrap()
            .init(vec![0.0; 4], &target)
            .unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        let err = hmc.transition(&mut state, &target, &mut rng).unwrap_err();
        assert!(err.to_string().contains("gradients"), "{err}");
        let err = hmc.init(vec![0.0, f64::NAN], &target).unwrap_err();
        assert!(err.to_string().contains("non-finite"), "{err}");
        let err = hmc.init(vec![0.0; 3], &target).unwrap_err();
        assert!(err.to_string().contains("multiple of dim"), "{err}");
    }

    #[test]
    fn defaults() {
        let k: KernelConfig = ron::from_str("Hmc()").unwrap();
        assert_eq!(k, KernelConfig::default());
        let Kernel::Hmc(h) = k.build().unwrap() else {
            panic!()
        };
        assert_eq!((h.step_size(), h.leapfrog_steps()), (1.0, 5));
        assert_eq!(h.adaptation(), Some(Adaptation::default()));
        let k: KernelConfig = ron::from_str("Metropolis(step_size: 5.0, adapt: false)").unwrap();
        let Kernel::Metropolis(m) = k.build().unwrap() else {
            panic!()
        };
        assert_eq!((m.step_size(), m.adaptation()), (5.0, None));
    }
}
