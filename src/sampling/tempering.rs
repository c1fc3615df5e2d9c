//! Parallel tempering (replica exchange) over a temperature ladder, with Langevin dynamics.
//!
//! A ladder T_0 < T_1 < … < T_{K−1} is given as factors τ_k = T_k / T_0 (τ_0 = 1 for sampling the
//! system's own distribution); rung k samples exp(−u/τ_k) = exp(−u·T_0/T_k), u being the plugin's
//! reduced energy at T_0. Several independent ladders ("walkers") run side by side so that one
//! batched evaluation advances them all. Replica `w · K + k` is rung k of walker w: rungs keep
//! their temperatures and exchanges swap configurations (positions, velocities, u, ∇u) between
//! neighbouring rungs of a walker, with the velocities rescaled to the new temperature.

use super::langevin::{Langevin, LangevinState, Units};
use super::log_density::LogDensity;
use crate::{Error, Result};
use rand::RngExt;

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

/// The state of parallel tempering: the replicas' dynamics and the exchange counts.
#[derive(Clone, Debug, PartialEq)]
pub struct TemperingState {
    /// All replicas, walker-major: replica `w · K + k` is rung k of walker w.
    pub md: LangevinState,
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

    /// The index of rung `k` of walker `w`.
    pub fn replica(&self, walker: usize, rung: usize) -> usize {
        walker * self.temperatures.len() + rung
    }

    /// The dynamics.
    pub fn langevin(&self) -> &Langevin {
        &self.langevin
    }

    /// The state of all replicas started at `x`: either one point (dim values) for all, one per
    /// walker, or one per replica; velocities from Maxwell–Boltzmann at each rung's temperature.
    pub fn init<T, R>(
        &self,
        target: &T,
        units: &Units,
        x: &[f64],
        rng: &mut R,
    ) -> Result<TemperingState>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng + ?Sized,
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
        let mut start = Vec::with_capacity(self.replicas() * dim);
        for p in x.chunks_exact(dim) {
            for _ in 0..per_replica {
                start.extend_from_slice(p);
            }
        }
        let temperature = (0..self.replicas())
            .map(|r| self.temperatures[r % k])
            .collect();
        Ok(TemperingState {
            md: self.langevin.init(target, units, start, temperature, rng)?,
            attempts: vec![0; k - 1],
            accepted: vec![0; k - 1],
            rounds: 0,
        })
    }

    /// One Langevin step of every replica (one batched evaluation), then an exchange round when
    /// the step count is a multiple of `exchange_every`.
    pub fn step<T, R>(
        &self,
        state: &mut TemperingState,
        target: &T,
        units: &Units,
        rng: &mut R,
    ) -> Result<()>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng + ?Sized,
    {
        self.langevin.step(&mut state.md, target, units, rng)?;
        if state.md.steps.is_multiple_of(self.exchange_every) {
            self.exchange(state, rng);
        }
        Ok(())
    }

    /// One exchange round: in every walker, each even (or, every other round, odd) neighbour
    /// pair swaps its configurations with probability [`exchange_probability`].
    pub fn exchange<R: rand::Rng + ?Sized>(&self, state: &mut TemperingState, rng: &mut R) {
        let k = self.temperatures.len();
        let first = (state.rounds % 2) as usize;
        state.rounds += 1;
        for w in 0..self.walkers {
            for pair in (first..k.saturating_sub(1)).step_by(2) {
                let (a, b) = (self.replica(w, pair), self.replica(w, pair + 1));
                let (ta, tb) = (self.temperatures[pair], self.temperatures[pair + 1]);
                let md = &state.md;
                let p = exchange_probability(1.0 / ta, 1.0 / tb, md.u[a], md.u[b]);
                state.attempts[pair] += 1;
                if rng.random::<f64>() < p {
                    state.accepted[pair] += 1;
                    swap_configurations(&mut state.md, a, b, (tb / ta).sqrt());
                }
            }
        }
    }
}

/// Swaps replicas a < b's positions, velocities, u and ∇u; b's old velocities move to a's
/// temperature (scaled by 1/`scale` = sqrt(T_a/T_b)) and a's to b's (by `scale`).
fn swap_configurations(md: &mut LangevinState, a: usize, b: usize, scale: f64) {
    let dim = md.x.len() / md.n();
    for values in [&mut md.x, &mut md.v, &mut md.grad] {
        let (low, high) = values.split_at_mut(b * dim);
        low[a * dim..(a + 1) * dim].swap_with_slice(&mut high[..dim]);
    }
    for v in &mut md.v[a * dim..(a + 1) * dim] {
        *v /= scale;
    }
    for v in &mut md.v[b * dim..(b + 1) * dim] {
        *v *= scale;
    }
    md.u.swap(a, b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::testing::Gaussian;
    use rand::SeedableRng;

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

    /// Equal energies: the swap leaves the joint density unchanged and is always accepted, and
    /// the velocities are rescaled to the new temperatures.
    #[test]
    fn equal_energies_always_swap_with_rescaled_velocities() {
        for (ta, tb, u) in [(1.0, 2.0, -3.0), (1.0, 7.5, 120.0), (2.0, 2.1, 0.0)] {
            assert_eq!(exchange_probability(1.0 / ta, 1.0 / tb, u, u), 1.0);
        }
        // Two points at the same |x| of a centred Gaussian have the same energy.
        let target = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let units = Units::reduced(2);
        let pt =
            ParallelTempering::new(Langevin::new(0.1, 1.0).unwrap(), vec![1.0, 4.0], 3, 1).unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        let x = [0.6, 0.8, -0.8, 0.6, 1.0, 0.0];
        let mut state = pt.init(&target, &units, &x, &mut rng).unwrap();
        // Walkers started from one point each: give each rung of walker w a rotated copy.
        for w in 0..3 {
            let b = pt.replica(w, 1);
            state.md.x[2 * b..2 * b + 2].copy_from_slice(&[x[2 * w + 1], -x[2 * w]]);
        }
        let before = state.clone();
        pt.exchange(&mut state, &mut rng);
        assert_eq!(
            (state.attempts.clone(), state.accepted.clone()),
            (vec![3], vec![3])
        );
        for w in 0..3 {
            let (a, b) = (pt.replica(w, 0), pt.replica(w, 1));
            assert_eq!(state.md.x[2 * a..2 * a + 2], before.md.x[2 * b..2 * b + 2]);
            assert_eq!(state.md.x[2 * b..2 * b + 2], before.md.x[2 * a..2 * a + 2]);
            for j in 0..2 {
                let (va, vb) = (before.md.v[2 * a + j], before.md.v[2 * b + j]);
                assert!((state.md.v[2 * b + j] - va * 2.0).abs() < 1e-15);
                assert!((state.md.v[2 * a + j] - vb / 2.0).abs() < 1e-15);
            }
        }
        assert_eq!(state.acceptance(), vec![1.0]);
        // The next round is odd: with two rungs there is no odd pair.
        pt.exchange(&mut state, &mut rng);
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
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        let mut state = pt
            .init(&target, &Units::reduced(1), &[0.1], &mut rng)
            .unwrap();
        assert_eq!(
            state.md.temperature,
            vec![1.0, 2.0, 4.0, 8.0, 1.0, 2.0, 4.0, 8.0]
        );
        for _ in 0..20 {
            pt.step(&mut state, &target, &Units::reduced(1), &mut rng)
                .unwrap();
        }
        // 4 rounds: two even (pairs 0 and 2), two odd (pair 1), two walkers each.
        assert_eq!(state.rounds, 4);
        assert_eq!(state.attempts, vec![4, 4, 4]);
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
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        let err = pt
            .init(&target, &Units::reduced(2), &[0.0; 4], &mut rng)
            .unwrap_err();
        assert!(err.to_string().contains("one per walker (3)"), "{err}");
        for n in [1, 3, 6] {
            let state = pt
                .init(&target, &Units::reduced(2), &vec![0.5; 2 * n], &mut rng)
                .unwrap();
            assert_eq!(state.md.n(), 6);
        }
    }
}
