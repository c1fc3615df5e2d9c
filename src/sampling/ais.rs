//! Annealed importance sampling from q to g = p^α q^(1−α).

use super::kernel::{Kernel, KernelConfig, Transition};
use super::log_density::{AnnealedDensity, LogDensity};
use super::schedule::Schedule;
use super::state::ChainState;
use super::torsion_jump::TorsionJumps;
use crate::analysis::ImportanceSummary;
use crate::job::StopFlag;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Configuration of AIS (RON). Every field has a default.
///
/// ```ron
/// (intermediate: 1, schedule: Linear, kernel: Metropolis(step_size: 5.0, adapt: false), steps: 1)
/// (intermediate: 4, schedule: Linear, kernel: Hmc(step_size: 1.0, leapfrog_steps: 5, target_acceptance: 0.65))
/// (intermediate: 2, kernel: Hmc(step_size: 0.1, leapfrog_steps: 4), torsion_jumps: [[17, 26, 29], [44]])
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AisConfig {
    /// Number M of intermediate distributions (0: plain importance sampling from q to g).
    #[serde(default = "crate::defaults::int::<1>")]
    pub intermediate: usize,
    /// Placement of the intermediate β.
    #[serde(default)]
    pub schedule: Schedule,
    /// The kernel at each intermediate distribution; each has its own adapted step size.
    #[serde(default)]
    pub kernel: KernelConfig,
    /// Kernel transitions per intermediate distribution, at least 1.
    #[serde(default = "crate::defaults::int::<1>")]
    pub steps: usize,
    /// Groups of angle coordinates for [`TorsionJumps`] (default none): after the kernel's
    /// transitions at each intermediate distribution, every chain proposes one jump, which can
    /// cross barriers that the kernel cannot. The weights stay exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub torsion_jumps: Vec<Vec<usize>>,
}

impl Default for AisConfig {
    /// One intermediate distribution, linear schedule, one adaptive HMC transition (5 leapfrog
    /// steps, initial step size 1).
    fn default() -> Self {
        AisConfig {
            intermediate: 1,
            schedule: Schedule::default(),
            kernel: KernelConfig::default(),
            steps: 1,
            torsion_jumps: Vec::new(),
        }
    }
}

impl AisConfig {
    /// Checks the numbers that serde cannot, with messages that name the field.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::InvalidArgument(
                "AIS: `steps` (kernel transitions per intermediate distribution) must be at least 1"
                    .to_owned(),
            ));
        }
        self.schedule
            .validate()
            .and_then(|_| self.kernel.validate())
            .and_then(|_| TorsionJumps::new(self.torsion_jumps.clone()).map(|_| ()))
            .map_err(|e| Error::InvalidArgument(format!("AIS: {e}")))
    }
}

/// Annealed importance sampling between q and g = p^α q^(1−α) along log π_β =
/// (1 − αβ) log q + αβ log p (see [`AnnealedDensity`]).
///
/// From x_0 ~ q, for k = 1, …, M: log w += (β_k − β_(k−1)) α (log p − log q)(x_(k−1)), then x_k
/// comes from `steps` transitions of the k-th kernel, which leaves π_(β_k) invariant; finally
/// log w += (1 − β_M) α (log p − log q)(x_M). Then E(w) = Z_g / Z_q and, for any f,
/// E(w f(x_M)) / E(w) = E_g(f). With M = 0 this is importance sampling: log w = α (log p − log q).
///
/// Each intermediate distribution has its own kernel and step size. Within a run the step sizes
/// are fixed, so the weights are exactly unbiased given them; after the run each adapts (if its
/// kernel adapts) from its mean acceptance in that run. The step sizes persist across runs and
/// are plain numbers ([`Ais::step_sizes`], [`Ais::set_step_sizes`]) for checkpoints.
#[derive(Clone, Debug)]
pub struct Ais {
    config: AisConfig,
    betas: Vec<f64>,
    kernels: Vec<Kernel>,
    jumps: TorsionJumps,
    /// Checked before each transition: Ctrl-C abandons a run with [`crate::Error::Interrupted`].
    stop: StopFlag,
}

/// The result of one AIS run.
#[derive(Clone, Debug, PartialEq)]
pub struct AisOutput {
    /// Final points x_M of the kept chains (n × dim).
    pub x: Vec<f64>,
    /// Their log AIS weights, all finite.
    pub log_w: Vec<f64>,
    /// log q at the final points.
    pub log_q: Vec<f64>,
    /// log p at the final points.
    pub log_p: Vec<f64>,
    /// Chains dropped because their log weight was not finite (they count as zero weight).
    pub n_dropped: usize,
    /// Mean acceptance at each intermediate distribution (over its `steps` transitions).
    pub acceptance: Vec<f64>,
    /// Mean acceptance of the torsion jumps at each intermediate distribution (empty without
    /// jumps).
    pub jump_acceptance: Vec<f64>,
    /// Torsion jumps accepted, over all chains and intermediate distributions.
    pub n_jumps_accepted: usize,
    /// Ordinary (Metropolis–Hastings) rejections at each intermediate distribution.
    pub n_rejected: Vec<usize>,
    /// Proposals rejected for being non-finite at each intermediate distribution.
    pub n_nonfinite: Vec<usize>,
    /// The step size used at each intermediate distribution (before this run's adaptation).
    pub step_sizes: Vec<f64>,
}

impl AisOutput {
    /// Number of kept chains.
    pub fn n(&self) -> usize {
        self.log_w.len()
    }

    /// ESS and log Ẑ (of Z_g / Z_q) over all chains, the dropped ones counting as zero weight.
    pub fn summary(&self) -> ImportanceSummary {
        let mut log_w = self.log_w.clone();
        log_w.extend(std::iter::repeat_n(f64::NEG_INFINITY, self.n_dropped));
        ImportanceSummary::from_log_weights(&log_w)
    }
}

/// The starting points (row-major) whose coordinates, and log q when given, are all finite.
fn finite_starts(
    x0: Vec<f64>,
    log_q0: Option<Vec<f64>>,
    dim: usize,
) -> (Vec<f64>, Option<Vec<f64>>) {
    let finite = |i: usize| {
        x0[i * dim..(i + 1) * dim].iter().all(|v| v.is_finite())
            && log_q0.as_ref().is_none_or(|lq| lq[i].is_finite())
    };
    let n = x0.len().checked_div(dim).unwrap_or(0);
    let malformed = n * dim != x0.len() || log_q0.as_ref().is_some_and(|lq| lq.len() != n);
    // A malformed input goes on unchanged, to be refused with a message by the chain state.
    if malformed || (0..n).all(finite) {
        return (x0, log_q0);
    }
    let kept: Vec<usize> = (0..n).filter(|&i| finite(i)).collect();
    let x = kept
        .iter()
        .flat_map(|&i| x0[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let log_q = log_q0.map(|lq| kept.iter().map(|&i| lq[i]).collect());
    (x, log_q)
}

impl Ais {
    /// Builds the schedule and one kernel per intermediate distribution, refusing a bad
    /// configuration with a message.
    pub fn new(config: AisConfig) -> Result<Self> {
        config.validate()?;
        let betas = config.schedule.betas(config.intermediate);
        let kernels = (0..config.intermediate)
            .map(|_| config.kernel.build())
            .collect::<Result<_>>()?;
        let jumps = TorsionJumps::new(config.torsion_jumps.clone())?;
        Ok(Ais {
            config,
            betas,
            kernels,
            jumps,
            stop: StopFlag::new(),
        })
    }

    /// Lets `stop` (Ctrl-C) abandon a run between transitions; the step sizes are then left as
    /// they were before the run.
    pub fn set_stop(&mut self, stop: StopFlag) {
        self.stop = stop;
    }

    /// The configuration.
    pub fn config(&self) -> &AisConfig {
        &self.config
    }

    /// β_0 = 0, β_1, …, β_M, β_(M+1) = 1.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// The kernels of the M intermediate distributions.
    pub fn kernels(&self) -> &[Kernel] {
        &self.kernels
    }

    /// The current step size of each intermediate distribution (M values).
    pub fn step_sizes(&self) -> Vec<f64> {
        self.kernels.iter().map(Kernel::step_size).collect()
    }

    /// Restores the step sizes (M positive values, e.g. from a checkpoint).
    pub fn set_step_sizes(&mut self, step_sizes: &[f64]) -> Result<()> {
        if step_sizes.len() != self.kernels.len() {
            return Err(Error::Shape {
                what: "AIS step sizes".to_owned(),
                expected: format!(
                    "{} values (one per intermediate distribution)",
                    self.kernels.len()
                ),
                found: format!("{} values", step_sizes.len()),
            });
        }
        // Check all before changing any.
        for (k, &s) in step_sizes.iter().enumerate() {
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "AIS step size of intermediate distribution {} must be positive and finite, got {s}",
                    k + 1
                )));
            }
        }
        for (kernel, &s) in self.kernels.iter_mut().zip(step_sizes) {
            kernel.set_step_size(s)?;
        }
        Ok(())
    }

    /// Runs AIS from `x0` (n × dim, drawn from q by the caller) toward g = p^α q^(1−α). `log_q0`,
    /// when given, is log q(x0) (n values) and saves an evaluation of q where no gradient is
    /// needed. Starting points with a non-finite coordinate (or log q) are dropped and counted
    /// in `n_dropped`, like chains whose weight is not finite. Evaluations: q and p once at x0 and once per Metropolis transition, or L times per
    /// HMC transition, each on the whole batch.
    pub fn run<Q, P, R>(
        &mut self,
        q: &Q,
        p: &P,
        alpha: f64,
        x0: Vec<f64>,
        log_q0: Option<Vec<f64>>,
        rng: &mut R,
    ) -> Result<AisOutput>
    where
        Q: LogDensity + ?Sized,
        P: LogDensity + ?Sized,
        R: rand::Rng + ?Sized,
    {
        let m = self.kernels.len();
        let with_grad = m > 0 && self.kernels[0].needs_gradient();
        let path = AnnealedDensity::new(q, p, alpha, self.betas[1])?;
        let n = if path.dim() == 0 {
            0
        } else {
            x0.len() / path.dim()
        };
        let (x0, log_q0) = finite_starts(x0, log_q0, path.dim());
        let mut state = path.init_state(x0, log_q0, with_grad)?;
        let n_started = state.n();
        let stride = path.aux_len(with_grad);
        let mut log_w = vec![0.0; n_started];
        let step_sizes = self.step_sizes();
        let mut acceptance = Vec::with_capacity(m);
        let mut jump_acceptance = Vec::new();
        let mut n_jumps_accepted = 0;
        let mut n_rejected = Vec::with_capacity(m);
        let mut n_nonfinite = Vec::with_capacity(m);
        for (k, kernel) in (1..=m).zip(&self.kernels) {
            add_increment(
                &mut log_w,
                &state,
                stride,
                (self.betas[k] - self.betas[k - 1]) * alpha,
            );
            let target = path.with_beta(self.betas[k])?;
            target.retarget(&mut state)?;
            let (mut acc, mut rejected, mut nonfinite) = (0.0, 0, 0);
            for _ in 0..self.config.steps {
                self.stop.check("an AIS run")?;
                let stats = kernel.transition(&mut state, &target, rng)?;
                acc += stats.acceptance;
                rejected += stats.n_rejected;
                nonfinite += stats.n_nonfinite;
            }
            acceptance.push(acc / self.config.steps as f64);
            if !self.jumps.is_empty() {
                let stats = self.jumps.transition(&mut state, &target, rng)?;
                jump_acceptance.push(stats.acceptance);
                n_jumps_accepted += stats.n_accepted;
            }
            n_rejected.push(rejected);
            n_nonfinite.push(nonfinite);
        }
        add_increment(&mut log_w, &state, stride, (1.0 - self.betas[m]) * alpha);
        for (kernel, &a) in self.kernels.iter_mut().zip(&acceptance) {
            kernel.adapt(a);
        }

        let dim = path.dim();
        let kept = log_w.iter().filter(|w| w.is_finite()).count();
        let mut out = AisOutput {
            x: Vec::with_capacity(kept * dim),
            log_w: Vec::with_capacity(kept),
            log_q: Vec::with_capacity(kept),
            log_p: Vec::with_capacity(kept),
            n_dropped: n - kept,
            acceptance,
            jump_acceptance,
            n_jumps_accepted,
            n_rejected,
            n_nonfinite,
            step_sizes,
        };
        for (i, &w) in log_w.iter().enumerate() {
            if w.is_finite() {
                out.x.extend_from_slice(&state.x[i * dim..(i + 1) * dim]);
                out.log_w.push(w);
                out.log_q.push(state.aux[i * stride]);
                out.log_p.push(state.aux[i * stride + 1]);
            }
        }
        Ok(out)
    }
}

/// log w += coefficient · (log p − log q) at the chains' current points.
fn add_increment(log_w: &mut [f64], state: &ChainState, stride: usize, coefficient: f64) {
    for (w, a) in log_w.iter_mut().zip(state.aux.chunks_exact(stride)) {
        *w += coefficient * (a[1] - a[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::testing::{Gaussian, VonMises, mean_se};
    use rand::SeedableRng;
    use std::f64::consts::PI;

    fn config(text: &str) -> AisConfig {
        ron::from_str(text).unwrap()
    }

    /// A flow can return a non-finite sample: it is dropped and counted, and the others run.
    #[test]
    fn non_finite_starting_points_are_dropped_and_counted() {
        let q = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let p = Gaussian::isotropic(vec![0.5, 0.0], 1.0, 0.0);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let x0 = vec![0.1, 0.2, f64::INFINITY, 0.0, 0.3, -0.1, 0.0, 0.0];
        let log_q0 = q.log_density(&x0[..2], None).unwrap();
        let log_q0 = vec![log_q0[0], 0.0, -1.0, f64::NAN];
        let mut ais = Ais::new(config("(intermediate: 1, kernel: Metropolis())")).unwrap();
        let out = ais.run(&q, &p, 1.0, x0, Some(log_q0), &mut rng).unwrap();
        assert_eq!((out.n(), out.n_dropped), (2, 2));
    }

    /// Runs `runs` AIS estimates of log Z_g (Z_q = 1) with `n` chains each, after `warmup` runs
    /// for the step sizes to adapt; returns Ẑ/Z per run.
    fn ratios(
        ais: &mut Ais,
        p: &Gaussian,
        alpha: f64,
        log_z: f64,
        (warmup, runs, n): (usize, usize, usize),
    ) -> Vec<f64> {
        let q = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let mut out = Vec::new();
        for seed in 0..(warmup + runs) as u64 {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            let x0 = q.sample(n, &mut rng);
            let o = ais.run(&q, p, alpha, x0, None, &mut rng).unwrap();
            assert_eq!(o.n_dropped, 0);
            if seed as usize >= warmup {
                out.push((o.summary().log_z - log_z).exp());
            }
        }
        out
    }

    /// q = N(0, I), p = Z · N(m, s² I) with Z known: over independent runs the mean of Ẑ/Z is 1
    /// within its error bars (which are tight enough to see a bias of a few per cent), for
    /// Metropolis and HMC, linear and geometric schedules, one and several steps.
    #[test]
    fn ais_is_unbiased() {
        let log_z = 1.3;
        let p = Gaussian::isotropic(vec![1.0, -0.5], 0.8, log_z);
        for text in [
            "(intermediate: 3, kernel: Metropolis(step_size: 0.5), steps: 2)",
            "(intermediate: 3, kernel: Hmc(step_size: 0.5))",
            "(intermediate: 4, kernel: Hmc(step_size: 0.5, leapfrog_steps: 3), schedule: Geometric(min_beta: 0.05))",
        ] {
            let mut ais = Ais::new(config(text)).unwrap();
            let r = ratios(&mut ais, &p, 1.0, log_z, (5, 40, 500));
            let (mean, se) = mean_se(&r);
            println!("{text}: Ẑ/Z = {mean} ± {se}");
            assert!(se < 0.01, "{text}: standard error {se}");
            assert!((mean - 1.0).abs() < 4.0 * se, "{text}: Ẑ/Z = {mean} ± {se}");
        }
    }

    /// α = 2: AIS toward g = p²/q estimates Z_g = ∫ p²/q, known in closed form for Gaussians:
    /// per dimension, with a = 1/s² − 1/2,
    /// ∫ N(x; m, s²)² / N(x; 0, 1) dx = √(2π)/(2π s²) · √(π/a) · exp(m²/(s⁴ a) − m²/s²).
    #[test]
    fn ais_estimates_the_integral_of_p_squared_over_q() {
        let (log_z, s, m) = (0.4, 0.9f64, [0.5f64, -0.3]);
        let p = Gaussian::isotropic(m.to_vec(), s, log_z);
        let a = 1.0 / (s * s) - 0.5;
        let log_zg = 2.0 * log_z
            + m.iter()
                .map(|m| {
                    0.5 * (2.0 * PI).ln() - (2.0 * PI * s * s).ln()
                        + 0.5 * (PI / a).ln()
                        + m * m / (s.powi(4) * a)
                        - m * m / (s * s)
                })
                .sum::<f64>();
        let mut ais = Ais::new(config("(intermediate: 2, kernel: Hmc(step_size: 0.5))")).unwrap();
        let r = ratios(&mut ais, &p, 2.0, log_zg, (5, 40, 500));
        let (mean, se) = mean_se(&r);
        println!("α = 2: Ẑ_g/Z_g = {mean} ± {se}");
        assert!(se < 0.01, "standard error {se}");
        assert!((mean - 1.0).abs() < 4.0 * se, "Ẑ_g/Z_g = {mean} ± {se}");
    }

    /// A narrow p far from q: plain importance sampling (M = 0) misses it by several units of
    /// log Z; AIS with 16 intermediate distributions gets within a few tenths.
    #[test]
    fn ais_beats_importance_sampling_on_a_hard_case() {
        let log_z = 1.3;
        let p = Gaussian::isotropic(vec![3.0, 3.0], 0.3, log_z);
        let mean_log_error = |text: &str| {
            let mut ais = Ais::new(config(text)).unwrap();
            let r = ratios(&mut ais, &p, 1.0, log_z, (20, 10, 1000));
            let e: Vec<f64> = r.iter().map(|r| r.ln()).collect();
            println!("{text}: log Ẑ − log Z = {e:?}");
            (
                e.iter().sum::<f64>() / e.len() as f64,
                e.iter().map(|e| e.abs()).sum::<f64>() / e.len() as f64,
            )
        };
        let (is_error, _) = mean_log_error("(intermediate: 0)");
        let (_, ais_abs_error) = mean_log_error(
            "(intermediate: 16, kernel: Hmc(step_size: 0.3), schedule: Geometric(min_beta: 0.01))",
        );
        assert!(
            is_error < -2.0,
            "importance sampling: mean error of log Ẑ {is_error}"
        );
        assert!(
            ais_abs_error < 0.4,
            "AIS: mean absolute error of log Ẑ {ais_abs_error}"
        );
    }

    /// On the circle, q is one von Mises bump and p has two modes (masses 0.7 and 0.3) far
    /// apart, with a barrier that HMC does not cross. With HMC alone, AIS toward p finds only
    /// the first mode (Ẑ/Z ≈ 0.7), and toward g = p²/q, which has almost all its mass in the
    /// mode q misses, it is off by orders of magnitude. With torsion jumps, Ẑ/Z = 1 within its
    /// error bars toward p (the jumps keep the weights exact), and toward p²/q the typical run
    /// is close (its mean is dominated by rare runs, so the median is checked).
    #[test]
    fn torsion_jumps_let_ais_cross_a_barrier() {
        let p = VonMises(vec![(0.7, -2.0, 30.0), (0.3, 1.2, 30.0)]);
        let log_zq = VonMises(vec![(1.0, -2.0, 6.0)]).log_z();
        let q = VonMises(vec![((-log_zq).exp(), -2.0, 6.0)]);
        let log_zg = VonMises::log_integral(|x| 2.0 * p.at(x) - q.at(x));
        let ratios = |jumps: bool, alpha: f64, log_z: f64| {
            let jumps = if jumps { "[[0]]" } else { "[]" };
            let text = format!(
                "(intermediate: 16, kernel: Hmc(step_size: 0.2, leapfrog_steps: 3), \
                 torsion_jumps: {jumps})"
            );
            let mut ais = Ais::new(config(&text)).unwrap();
            let mut out = Vec::new();
            for seed in 0..50u64 {
                let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
                let x0 = q.sample(2000, &mut rng);
                let o = ais.run(&q, &p, alpha, x0, None, &mut rng).unwrap();
                assert_eq!(o.jump_acceptance.len(), if jumps == "[]" { 0 } else { 16 });
                if seed >= 10 {
                    out.push((o.summary().log_z - log_z).exp());
                }
            }
            out
        };
        let median = |mut r: Vec<f64>| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        };
        let hmc_to_p = median(ratios(false, 1.0, p.log_z()));
        let hmc_to_g = median(ratios(false, 2.0, log_zg));
        let (mean, se) = mean_se(&ratios(true, 1.0, p.log_z()));
        let jumps_to_g = median(ratios(true, 2.0, log_zg));
        println!("HMC alone: median Ẑ/Z {hmc_to_p} (p), {hmc_to_g} (p²/q)");
        println!("with jumps: Ẑ/Z = {mean} ± {se} (p), median {jumps_to_g} (p²/q)");
        assert!((hmc_to_p - 0.7).abs() < 0.05 && hmc_to_g < 0.01);
        assert!(se < 0.03, "standard error {se}");
        assert!((mean - 1.0).abs() < 4.0 * se, "Ẑ/Z = {mean} ± {se}");
        assert!(jumps_to_g > 0.5, "median Ẑ/Z toward p²/q {jumps_to_g}");
    }

    /// p with a NaN region, so that some weights are dropped.
    struct Holed(Gaussian);

    impl LogDensity for Holed {
        fn dim(&self) -> usize {
            2
        }

        fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> crate::Result<Vec<f64>> {
            let mut v = self.0.log_density(x, grad)?;
            for (v, p) in v.iter_mut().zip(x.chunks_exact(2)) {
                if p[0] > 1.0 {
                    *v = f64::NAN;
                }
            }
            Ok(v)
        }
    }

    /// With M = 0, log w = α (log p − log q) exactly, the points are x0, a given log q is used
    /// (q is not called) and non-finite weights are dropped and counted.
    #[test]
    fn no_intermediate_distribution_is_importance_sampling() {
        let q = Gaussian::isotropic(vec![0.0, 0.0], 1.3, 0.0);
        let p = Holed(Gaussian::new(vec![0.5, 1.0], [[1.0, 0.3], [0.3, 0.5]], 2.0));
        let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
        let x0 = q.sample(300, &mut rng);
        let lq = q.log_density(&x0, None).unwrap();
        let lp = p.log_density(&x0, None).unwrap();
        let expected_dropped = lp.iter().filter(|v| !v.is_finite()).count();
        assert!(expected_dropped > 10);
        for alpha in [1.0, 2.0] {
            for given in [true, false] {
                let mut ais = Ais::new(config("(intermediate: 0)")).unwrap();
                let calls = q.calls.get();
                let log_q0 = given.then(|| lq.clone());
                let o = ais
                    .run(&q, &p, alpha, x0.clone(), log_q0, &mut rng)
                    .unwrap();
                assert_eq!(q.calls.get() - calls, usize::from(!given));
                assert_eq!(o.n_dropped, expected_dropped);
                assert_eq!(o.n() + o.n_dropped, 300);
                let kept: Vec<usize> = (0..300).filter(|&i| lp[i].is_finite()).collect();
                for (j, &i) in kept.iter().enumerate() {
                    assert_eq!(o.log_w[j], alpha * (lp[i] - lq[i]));
                    assert_eq!(o.x[2 * j..2 * j + 2], x0[2 * i..2 * i + 2]);
                    assert_eq!((o.log_q[j], o.log_p[j]), (lq[i], lp[i]));
                }
                assert!(o.acceptance.is_empty() && o.step_sizes.is_empty());
                // Dropped chains count as zero weight in the summary.
                assert_eq!(o.summary().n, 300);
                assert_eq!(o.summary().n_nonfinite, expected_dropped);
            }
        }
    }

    /// Step sizes adapt per intermediate distribution across runs (not with `adapt: false`), and
    /// restoring them (a checkpoint) reproduces a run exactly.
    #[test]
    fn step_sizes_persist_and_restore() {
        let q = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let p = Gaussian::isotropic(vec![2.0, 0.0], 0.2, 0.0);
        let run = |ais: &mut Ais, seed: u64| {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            let x0 = q.sample(200, &mut rng);
            ais.run(&q, &p, 2.0, x0, None, &mut rng).unwrap()
        };
        let mut ais = Ais::new(config("(intermediate: 3, kernel: Hmc(step_size: 1.0))")).unwrap();
        for seed in 0..30 {
            let o = run(&mut ais, seed);
            assert_eq!(
                (o.acceptance.len(), o.n_nonfinite.len(), o.n_rejected.len()),
                (3, 3, 3)
            );
        }
        let sizes = ais.step_sizes();
        assert!(sizes.iter().all(|&s| s < 0.9), "{sizes:?}");
        assert!(
            sizes[2] < sizes[0],
            "later, narrower distributions need smaller steps: {sizes:?}"
        );
        let mut restored = Ais::new(ais.config().clone()).unwrap();
        restored.set_step_sizes(&sizes).unwrap();
        assert_eq!(run(&mut ais, 99), run(&mut restored, 99));
        assert_eq!(ais.step_sizes(), restored.step_sizes());

        let text = "(intermediate: 2, kernel: Metropolis(step_size: 5.0, adapt: false))";
        let mut fixed = Ais::new(config(text)).unwrap();
        let o = run(&mut fixed, 1);
        assert!(o.acceptance.iter().all(|&a| a < 0.2), "{:?}", o.acceptance);
        assert_eq!(fixed.step_sizes(), vec![5.0, 5.0]);

        let err = fixed.set_step_sizes(&[1.0]).unwrap_err().to_string();
        assert!(err.contains("2 values"), "{err}");
        let err = fixed.set_step_sizes(&[1.0, -1.0]).unwrap_err().to_string();
        assert!(err.contains("positive"), "{err}");
        assert_eq!(fixed.step_sizes(), vec![5.0, 5.0]);
    }

    #[test]
    fn configurations_parse_with_defaults() {
        let c = config(
            "(intermediate: 1, schedule: Linear, kernel: Metropolis(step_size: 5.0, adapt: false), steps: 1)",
        );
        assert_eq!(
            c.kernel,
            KernelConfig::Metropolis {
                step_size: 5.0,
                adapt: false,
                target_acceptance: 0.65,
                adapt_rate: 0.1,
            }
        );
        let c = config(
            "(intermediate: 4, schedule: Linear, kernel: Hmc(step_size: 1.0, leapfrog_steps: 5, target_acceptance: 0.65))",
        );
        assert_eq!((c.intermediate, c.steps), (4, 1));
        assert_eq!(c.kernel, KernelConfig::default());
        let ais = Ais::new(c).unwrap();
        assert_eq!(ais.betas(), &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(config("()"), AisConfig::default());
        let text = ron::to_string(&AisConfig::default()).unwrap();
        assert_eq!(config(&text), AisConfig::default());
    }

    #[test]
    fn bad_configurations_are_refused_with_a_message() {
        for (text, needle) in [
            ("(kernel: Metropolis(step_size: -5.0))", "step_size"),
            ("(kernel: Hmc(leapfrog_steps: 0))", "leapfrog_steps"),
            ("(kernel: Hmc(target_acceptance: 0.0))", "target_acceptance"),
            ("(kernel: Hmc(adapt_rate: 0.0))", "adapt_rate"),
            ("(steps: 0)", "steps"),
            (
                "(intermediate: 3, schedule: Geometric(min_beta: 1.5))",
                "min_beta",
            ),
        ] {
            let err = Ais::new(config(text)).unwrap_err().to_string();
            assert!(
                err.starts_with("AIS: ") && err.contains(needle),
                "{text}: {err}"
            );
        }
        for text in [
            "(intermediates: 2)",
            "(kernel: Hmc(leapfrog: 5))",
            "(schedule: Cosine)",
        ] {
            assert!(ron::from_str::<AisConfig>(text).is_err(), "{text}");
        }
        // Bad arguments to a run.
        let q = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let p3 = Gaussian::isotropic(vec![0.0; 3], 1.0, 0.0);
        let mut ais = Ais::new(AisConfig::default()).unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        let err = ais
            .run(&q, &p3, 1.0, vec![0.0; 4], None, &mut rng)
            .unwrap_err();
        assert!(err.to_string().contains("dimension"), "{err}");
        let err = ais
            .run(&q, &q, -1.0, vec![0.0; 4], None, &mut rng)
            .unwrap_err();
        assert!(err.to_string().contains("α"), "{err}");
        let err = ais
            .run(&q, &q, 1.0, vec![0.0; 4], Some(vec![0.0]), &mut rng)
            .unwrap_err();
        assert!(err.to_string().contains("log q"), "{err}");
        let err = ais
            .run(&q, &q, 1.0, vec![0.0; 3], None, &mut rng)
            .unwrap_err();
        assert!(err.to_string().contains("multiple of dim"), "{err}");
    }
}
