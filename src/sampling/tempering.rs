//! Parallel tempering (replica exchange) over a temperature ladder, with Langevin dynamics,
//! on one process or spread over several ([`Ranks`]).
//!
//! A ladder T_0 < T_1 < … < T_{K−1} is given as factors τ_k = T_k / T_0 (τ_0 = 1 for sampling the
//! system's own distribution); rung k samples exp(−u/τ_k) = exp(−u·T_0/T_k), u being the plugin's
//! reduced energy at T_0. Several independent ladders ("walkers") run side by side so that one
//! batched evaluation advances them all. Replicas `w · K .. (w + 1) · K` belong to walker w. An
//! accepted exchange swaps the temperatures of two replicas of a walker (with their velocities
//! rescaled to the new temperatures), never their positions: the ladder (which replica is at
//! which rung) moves, the configurations stay where they are. So over several processes an
//! exchange needs only the energies of all replicas (one all-gather), and the positions stay on
//! the rank that holds them.
//!
//! Random numbers do not depend on how the replicas are spread: each step has a seed, replica r's
//! noise comes from the stream `derive(seed, r)` and the exchange decisions (made identically on
//! every rank) from `derive(seed, EXCHANGE_STREAM)`. One process and several give the same
//! numbers, bit for bit.

use super::langevin::{Langevin, LangevinState, Units};
use super::log_density::LogDensity;
use crate::parallel::{Ranks, agree};
use crate::seed::derive;
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::ops::Range;

/// The stream of a step's exchange decisions, above any replica's index.
const EXCHANGE_STREAM: u64 = u64::MAX;

/// Probability of accepting the exchange of configurations between rungs with inverse
/// temperatures β_i, β_j (in units of 1/T_0) whose reduced energies are u_i, u_j:
/// min(1, exp((β_i − β_j)(u_i − u_j))). Zero when the exponent is NaN.
pub fn exchange_probability(beta_i: f64, beta_j: f64, u_i: f64, u_j: f64) -> f64 {
    let log_ratio = (beta_i - beta_j) * (u_i - u_j);
    if log_ratio.is_nan() {
        0.0
    } else {
        log_ratio.min(0.0).exp()
    }
}

/// Parallel tempering with BAOAB Langevin dynamics: `walkers` independent ladders of the same
/// temperatures, an exchange round every `exchange_every` steps. Rounds alternate between the
/// even pairs (0,1), (2,3), … and the odd pairs (1,2), (3,4), …
#[derive(Clone, Debug, PartialEq)]
pub struct ParallelTempering {
    langevin: Langevin,
    temperatures: Vec<f64>,
    walkers: usize,
    exchange_every: u64,
}

/// The state of parallel tempering on one rank: its replicas' dynamics, the ladder and the
/// exchange counts (the same on every rank).
#[derive(Clone, Debug, PartialEq)]
pub struct TemperingState {
    /// This rank's replicas, a contiguous block of all of them starting at `first` (all of
    /// them on one process).
    pub md: LangevinState,
    /// The global index of `md`'s first replica.
    pub first: usize,
    /// Which replica is at each rung, walker-major: `ladder[w · K + k]` is the replica at rung
    /// k of walker w (one of w · K .. (w + 1) · K).
    pub ladder: Vec<usize>,
    /// Exchange attempts per neighbour pair (k, k+1), K − 1 values, summed over walkers.
    pub attempts: Vec<u64>,
    /// Accepted exchanges per neighbour pair.
    pub accepted: Vec<u64>,
    /// Exchange rounds done (their parity chooses the pairs of the next round).
    pub rounds: u64,
}

impl TemperingState {
    /// Acceptance rate per neighbour pair (NaN for a pair never attempted).
    pub fn acceptance(&self) -> Vec<f64> {
        self.attempts
            .iter()
            .zip(&self.accepted)
            .map(|(&n, &a)| {
                if n == 0 {
                    f64::NAN
                } else {
                    a as f64 / n as f64
                }
            })
            .collect()
    }

    /// The global indices of this rank's replicas.
    pub fn replicas(&self) -> Range<usize> {
        self.first..self.first + self.md.n()
    }
}

impl ParallelTempering {
    /// Tempering over `temperatures` (factors of T_0, positive, strictly increasing; one factor
    /// is plain Langevin dynamics) for `walkers` ≥ 1 ladders, exchanging every
    /// `exchange_every` ≥ 1 steps.
    pub fn new(
        langevin: Langevin,
        temperatures: Vec<f64>,
        walkers: usize,
        exchange_every: u64,
    ) -> Result<Self> {
        let fail = |m: String| Err(Error::InvalidArgument(m));
        if temperatures.is_empty()
            || temperatures.iter().any(|t| !(t.is_finite() && *t > 0.0))
            || temperatures.windows(2).any(|w| w[1] <= w[0])
        {
            return fail(format!(
                "temperatures must be positive and strictly increasing, got {temperatures:?}"
            ));
        }
        if walkers == 0 || exchange_every == 0 {
            return fail("`walkers` and `exchange_every` must be at least 1".to_owned());
        }
        Ok(ParallelTempering {
            langevin,
            temperatures,
            walkers,
            exchange_every,
        })
    }

    /// The temperature factors τ_k of the ladder.
    pub fn temperatures(&self) -> &[f64] {
        &self.temperatures
    }

    /// Number of independent ladders.
    pub fn walkers(&self) -> usize {
        self.walkers
    }

    /// Number of replicas: walkers × temperatures.
    pub fn replicas(&self) -> usize {
        self.walkers * self.temperatures.len()
    }

    /// The dynamics.
    pub fn langevin(&self) -> &Langevin {
        &self.langevin
    }

    /// The ladder before any exchange: replica w · K + k at rung k of walker w.
    pub fn initial_ladder(&self) -> Vec<usize> {
        (0..self.replicas()).collect()
    }

    /// The state of this rank's replicas (its [`Ranks::share`] of all of them), started at `x`:
    /// either one point (dim values) for all, one per walker, or one per replica; velocities
    /// from Maxwell–Boltzmann at each rung's temperature, replica r's from the stream
    /// `derive(seed, r)`.
    pub fn init<T>(
        &self,
        target: &T,
        units: &Units,
        x: &[f64],
        seed: u64,
        ranks: &dyn Ranks,
    ) -> Result<TemperingState>
    where
        T: LogDensity + ?Sized,
    {
        let dim = units.dim();
        let k = self.temperatures.len();
        let given = x.len().checked_div(dim).unwrap_or(0);
        let per_replica: usize = match given {
            _ if x.len() != given * dim || given == 0 => 0,
            1 => self.replicas(),
            n if n == self.walkers => k,
            n if n == self.replicas() => 1,
            _ => 0,
        };
        if per_replica == 0 {
            return Err(Error::Shape {
                what: "starting positions".to_owned(),
                expected: format!(
                    "one point, one per walker ({}) or one per replica ({}) of {dim} coordinates",
                    self.walkers,
                    self.replicas()
                ),
                found: format!("{} values", x.len()),
            });
        }
        let mine = ranks.share(self.replicas());
        let mut start = Vec::with_capacity(mine.len() * dim);
        for r in mine.clone() {
            let p = r / per_replica;
            start.extend_from_slice(&x[p * dim..(p + 1) * dim]);
        }
        let temperature = mine.clone().map(|r| self.temperatures[r % k]).collect();
        let mut rngs = streams(seed, mine.clone());
        let md = self
            .langevin
            .init(target, units, start, temperature, &mut rngs);
        Ok(TemperingState {
            md: agree_on_step(ranks, md, mine.start)?,
            first: mine.start,
            ladder: self.initial_ladder(),
            attempts: vec![0; k - 1],
            accepted: vec![0; k - 1],
            rounds: 0,
        })
    }

    /// One Langevin step of this rank's replicas (one batched evaluation, noise from the
    /// streams of the step's `seed`), then, when the step count is a multiple of
    /// `exchange_every`, an exchange round over all replicas (every rank makes the same
    /// decisions from the energies of all). A failure on any rank fails the step on every rank.
    pub fn step<T>(
        &self,
        state: &mut TemperingState,
        target: &T,
        units: &Units,
        seed: u64,
        ranks: &dyn Ranks,
    ) -> Result<()>
    where
        T: LogDensity + ?Sized,
    {
        let mut rngs = streams(seed, state.replicas());
        let stepped = self.langevin.step(&mut state.md, target, units, &mut rngs);
        agree_on_step(ranks, stepped, state.first)?;
        if state.md.steps.is_multiple_of(self.exchange_every) {
            let u = ranks.all_gather(&state.md.u);
            let mut rng = Pcg64::seed_from_u64(derive(seed, EXCHANGE_STREAM));
            self.exchange(state, &u, &mut rng);
        }
        Ok(())
    }

    /// One exchange round, given the energies `u` of all replicas: in every walker, each even
    /// (or, every other round, odd) neighbour pair of rungs swaps its replicas with probability
    /// [`exchange_probability`]; the two replicas of an accepted swap take each other's
    /// temperature, with velocities rescaled to it (on the rank that holds them).
    pub fn exchange<R: rand::Rng + ?Sized>(
        &self,
        state: &mut TemperingState,
        u: &[f64],
        rng: &mut R,
    ) {
        let k = self.temperatures.len();
        let first = (state.rounds % 2) as usize;
        state.rounds += 1;
        for w in 0..self.walkers {
            for pair in (first..k.saturating_sub(1)).step_by(2) {
                let (low, high) = (w * k + pair, w * k + pair + 1);
                let (a, b) = (state.ladder[low], state.ladder[high]);
                let (ta, tb) = (self.temperatures[pair], self.temperatures[pair + 1]);
                let p = exchange_probability(1.0 / ta, 1.0 / tb, u[a], u[b]);
                state.attempts[pair] += 1;
                if rng.random::<f64>() < p {
                    state.accepted[pair] += 1;
                    state.ladder.swap(low, high);
                    retemper(state, a, tb, (tb / ta).sqrt());
                    retemper(state, b, ta, (ta / tb).sqrt());
                }
            }
        }
    }
}

/// Replica r's noise streams for a step seeded `seed`, for the replicas `replicas`.
fn streams(seed: u64, replicas: Range<usize>) -> Vec<Pcg64> {
    replicas
        .map(|r| Pcg64::seed_from_u64(derive(seed, r as u64)))
        .collect()
}

/// Every rank's outcome of a local step ([`agree`]), with the replica of a blow-up made global.
fn agree_on_step<T>(ranks: &dyn Ranks, result: Result<T>, first: usize) -> Result<T> {
    let result = result.map_err(|e| match e {
        Error::DynamicsUnstable {
            step,
            replica,
            what,
            saved,
        } => Error::DynamicsUnstable {
            step,
            replica: replica + first,
            what,
            saved,
        },
        other => other,
    });
    agree(ranks, result)
}

/// Puts global replica `r`, if this rank holds it, at temperature factor `t`, its velocities
/// scaled by `scale` = sqrt(t / its old temperature).
fn retemper(state: &mut TemperingState, r: usize, t: f64, scale: f64) {
    if !state.replicas().contains(&r) {
        return;
    }
    let local = r - state.first;
    let dim = state.md.x.len() / state.md.n();
    state.md.temperature[local] = t;
    for v in &mut state.md.v[local * dim..(local + 1) * dim] {
        *v *= scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::{Single, run_on_threads};
    use crate::sampling::testing::Gaussian;

    #[test]
    fn exchange_probability_formula() {
        // The colder rung (β = 1) holds the higher energy: always swap.
        assert_eq!(exchange_probability(1.0, 0.5, 10.0, 4.0), 1.0);
        // The colder rung holds the lower energy: exp((1 − 0.5)(4 − 10)) = e⁻³.
        let p = exchange_probability(1.0, 0.5, 4.0, 10.0);
        assert!((p - (-3.0f64).exp()).abs() < 1e-15, "{p}");
        // Symmetric in the pair.
        assert_eq!(p, exchange_probability(0.5, 1.0, 10.0, 4.0));
        assert_eq!(exchange_probability(1.0, 0.5, f64::NAN, 1.0), 0.0);
    }

    /// Equal energies: the swap leaves the joint density unchanged and is always accepted; the
    /// replicas keep their positions and take each other's temperature, with rescaled
    /// velocities.
    #[test]
    fn equal_energies_always_swap_temperatures_with_rescaled_velocities() {
        for (ta, tb, u) in [(1.0, 2.0, -3.0), (1.0, 7.5, 120.0), (2.0, 2.1, 0.0)] {
            assert_eq!(exchange_probability(1.0 / ta, 1.0 / tb, u, u), 1.0);
        }
        let target = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let units = Units::reduced(2);
        let pt =
            ParallelTempering::new(Langevin::new(0.1, 1.0).unwrap(), vec![1.0, 4.0], 3, 1).unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        // One point per walker: both rungs of a walker start at the same energy.
        let x = [0.6, 0.8, -0.8, 0.6, 1.0, 0.0];
        let mut state = pt.init(&target, &units, &x, 4, &Single).unwrap();
        let before = state.clone();
        pt.exchange(&mut state, &before.md.u, &mut rng);
        assert_eq!(
            (state.attempts.clone(), state.accepted.clone()),
            (vec![3], vec![3])
        );
        assert_eq!(state.ladder, vec![1, 0, 3, 2, 5, 4]);
        assert_eq!(state.md.x, before.md.x, "positions stay");
        assert_eq!(state.md.temperature, vec![4.0, 1.0, 4.0, 1.0, 4.0, 1.0]);
        for w in 0..3 {
            let (a, b) = (2 * w, 2 * w + 1);
            for j in 0..2 {
                assert!((state.md.v[2 * a + j] - before.md.v[2 * a + j] * 2.0).abs() < 1e-15);
                assert!((state.md.v[2 * b + j] - before.md.v[2 * b + j] / 2.0).abs() < 1e-15);
            }
        }
        assert_eq!(state.acceptance(), vec![1.0]);
        // The next round is odd: with two rungs there is no odd pair.
        pt.exchange(&mut state, &before.md.u, &mut rng);
        assert_eq!(state.attempts, vec![3]);
    }

    /// Exchange rounds alternate between even and odd pairs.
    #[test]
    fn rounds_alternate_between_even_and_odd_pairs() {
        let target = Gaussian::isotropic(vec![0.0], 1.0, 0.0);
        let pt = ParallelTempering::new(
            Langevin::new(0.1, 1.0).unwrap(),
            vec![1.0, 2.0, 4.0, 8.0],
            2,
            5,
        )
        .unwrap();
        let units = Units::reduced(1);
        let mut state = pt.init(&target, &units, &[0.1], 4, &Single).unwrap();
        assert_eq!(
            state.md.temperature,
            vec![1.0, 2.0, 4.0, 8.0, 1.0, 2.0, 4.0, 8.0]
        );
        for step in 0..20 {
            pt.step(&mut state, &target, &units, derive(4, step), &Single)
                .unwrap();
        }
        // 4 rounds: two even (pairs 0 and 2), two odd (pair 1), two walkers each.
        assert_eq!(state.rounds, 4);
        assert_eq!(state.attempts, vec![4, 4, 4]);
    }

    /// 12 replicas (3 walkers × 4 rungs) on 1, 2, 3 and 5 thread ranks: the same positions,
    /// velocities, ladder and counts, bit for bit; the ladder of every walker stays a
    /// permutation of its own replicas, each at its rung's temperature.
    #[test]
    fn ranks_change_nothing() {
        let units = Units::reduced(2);
        let pt = ParallelTempering::new(
            Langevin::new(0.2, 1.0).unwrap(),
            vec![1.0, 1.5, 2.2, 3.0],
            3,
            2,
        )
        .unwrap();
        let run = |ranks: &dyn Ranks| {
            // Each rank its own (the test density counts its calls).
            let target = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
            let mut state = pt.init(&target, &units, &[0.3, -0.2], 11, ranks).unwrap();
            for step in 0..60 {
                pt.step(&mut state, &target, &units, derive(11, step), ranks)
                    .unwrap();
            }
            let gather = |v: &[f64]| ranks.all_gather(v);
            (
                gather(&state.md.x),
                gather(&state.md.v),
                gather(&state.md.temperature),
                state.ladder.clone(),
                state.accepted.clone(),
            )
        };
        let one = run(&Single);
        assert!(
            one.4.iter().all(|&a| a > 0),
            "some exchanges accepted: {:?}",
            one.4
        );
        for w in 0..3 {
            let mut rungs: Vec<usize> = one.3[4 * w..4 * w + 4].to_vec();
            for (k, &r) in rungs.iter().enumerate() {
                assert_eq!(one.2[r], pt.temperatures()[k]);
            }
            rungs.sort_unstable();
            assert_eq!(rungs, (4 * w..4 * w + 4).collect::<Vec<_>>());
        }
        for size in [2, 3, 5] {
            for result in run_on_threads(size, |ranks| run(ranks)) {
                assert_eq!(result, one, "{size} ranks");
            }
        }
    }

    #[test]
    fn refuses_bad_ladders_and_starts() {
        let l = Langevin::new(0.1, 1.0).unwrap();
        for temps in [vec![], vec![1.0, 1.0], vec![2.0, 1.0], vec![0.0, 1.0]] {
            assert!(ParallelTempering::new(l, temps, 1, 1).is_err());
        }
        assert!(ParallelTempering::new(l, vec![1.0], 0, 1).is_err());
        let pt = ParallelTempering::new(l, vec![1.0, 2.0], 3, 1).unwrap();
        let target = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let err = pt
            .init(&target, &Units::reduced(2), &[0.0; 4], 4, &Single)
            .unwrap_err();
        assert!(err.to_string().contains("one per walker (3)"), "{err}");
        for n in [1, 3, 6] {
            let state = pt
                .init(&target, &Units::reduced(2), &vec![0.5; 2 * n], 4, &Single)
                .unwrap();
            assert_eq!(state.md.n(), 6);
        }
    }
}
