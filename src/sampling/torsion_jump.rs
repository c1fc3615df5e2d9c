//! Metropolis jumps of torsion angles, which cross the barriers that local kernels cannot.

use super::kernel::Transition;
use super::log_density::LogDensity;
use super::metropolis::metropolis_test;
use super::state::{ChainState, StepStats};
use crate::{Error, Result};
use rand::RngExt;
use std::f64::consts::PI;

/// Jumps of groups of angle coordinates, accepted with probability min(1, π(x′)/π(x)). A group
/// holds the coordinates that one physical rotation changes together, its lead (first) angle
/// the torsion it turns. Each chain proposes, with probability ½ each:
///
/// - a shift: one group drawn uniformly, every coordinate of it shifted by one angle δ drawn
///   uniformly in [−π, π);
/// - a mirror: every group shifted by −2·(its lead angle), which negates each lead angle.
///
/// Angles are wrapped into [−π, π). A shift is a translation on the torus by a symmetric random
/// amount; a mirror is an involution with |det| = 1. Both leave π invariant, so AIS weights stay
/// exact. In FAB's Z-matrix of alanine dipeptide, a rotation about N–CA changes φ (output 17)
/// and the dihedrals of HA and CB (outputs 26 and 29, placed relative to the acetyl C): the group
/// `[17, 26, 29]` rotates the acetyl side rigidly and keeps CA's chirality; ψ (output 44) is a
/// group of its own. The mirror (φ, ψ) → (−φ, −ψ) maps αR onto αL and C7eq onto C7ax, the basins
/// that a local kernel cannot reach across the φ barrier.
#[derive(Clone, Debug, PartialEq)]
pub struct TorsionJumps {
    groups: Vec<Vec<usize>>,
}

impl TorsionJumps {
    /// Jumps of the given groups of coordinate indices; refuses an empty group or an index listed
    /// twice in one group.
    pub fn new(groups: Vec<Vec<usize>>) -> Result<Self> {
        for (g, group) in groups.iter().enumerate() {
            if group.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "torsion jump group {g} is empty; list the angle coordinates it rotates"
                )));
            }
            if let Some(i) = (1..group.len()).find(|&i| group[..i].contains(&group[i])) {
                return Err(Error::InvalidArgument(format!(
                    "torsion jump group {g} lists coordinate {} twice",
                    group[i]
                )));
            }
        }
        Ok(TorsionJumps { groups })
    }

    /// The groups of coordinate indices.
    pub fn groups(&self) -> &[Vec<usize>] {
        &self.groups
    }

    /// Whether there is nothing to jump (no groups): its [`Transition::transition`] is then a
    /// no-op that draws no random numbers.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl Transition for TorsionJumps {
    /// One jump proposal for every chain, accepted or rejected by the Metropolis test; keeps the
    /// state's gradients (if any) up to date. Refuses groups that index past `target.dim()`.
    fn transition<T, R>(&self, state: &mut ChainState, target: &T, rng: &mut R) -> Result<StepStats>
    where
        T: LogDensity + ?Sized,
        R: rand::Rng + ?Sized,
    {
        state.check(target, false)?;
        let dim = target.dim();
        if let Some(&i) = self.groups.iter().flatten().find(|&&i| i >= dim) {
            return Err(Error::InvalidArgument(format!(
                "torsion jumps: coordinate {i} does not exist in points of dimension {dim}"
            )));
        }
        if self.groups.is_empty() {
            return Ok(StepStats {
                acceptance: f64::NAN,
                n_accepted: 0,
                n_rejected: 0,
                n_nonfinite: 0,
                step_size: PI,
            });
        }
        let mut proposal = state.x.clone();
        for point in proposal.chunks_exact_mut(dim) {
            if rng.random::<bool>() {
                let group = &self.groups[rng.random_range(0..self.groups.len())];
                rotate(point, group, rng.random_range(-PI..PI));
            } else {
                for group in &self.groups {
                    rotate(point, group, -2.0 * point[group[0]]);
                }
            }
        }
        let finite = vec![true; state.n()];
        metropolis_test(state, target, &proposal, &finite, PI, rng)
    }

    /// Jumps have no step size: nothing adapts.
    fn adapt(&mut self, _acceptance: f64) {}
}

/// Adds `delta` to the coordinates of `group` in `point`, wrapped into [−π, π).
fn rotate(point: &mut [f64], group: &[usize], delta: f64) {
    for &i in group {
        point[i] = wrap_angle(point[i] + delta);
    }
}

/// `angle` mapped into [−π, π).
fn wrap_angle(angle: f64) -> f64 {
    (angle + PI).rem_euclid(2.0 * PI) - PI
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::Hmc;
    use crate::sampling::testing::VonMises;
    use rand::SeedableRng;

    /// Two von Mises modes on the circle, weights 0.7 at −2 and 0.3 at `second`, concentration
    /// 30: a barrier of ~60 nats that HMC does not cross.
    fn two_modes(second: f64) -> VonMises {
        VonMises(vec![(0.7, -2.0, 30.0), (0.3, second, 30.0)])
    }

    #[test]
    fn angles_wrap_into_the_half_open_interval() {
        for (a, w) in [
            (PI, -PI),
            (-PI, -PI),
            (3.0 * PI / 2.0, -PI / 2.0),
            (0.5, 0.5),
        ] {
            assert!(
                (wrap_angle(a) - w).abs() < 1e-12,
                "{a} -> {}",
                wrap_angle(a)
            );
        }
    }

    /// Chains started in one mode: HMC alone keeps them there; with jumps they reach the mass of
    /// each mode (0.7 / 0.3), which checks that the jumps leave the target invariant. The second
    /// mode is reached by shifts (at 1.2) and also by mirrors (at 2, the mirror image of −2).
    #[test]
    fn jumps_reach_both_modes_in_their_proportions() {
        let n = 4000;
        let hmc = Hmc::new(0.1, 5, None).unwrap();
        let jumps = TorsionJumps::new(vec![vec![0]]).unwrap();
        for second in [1.2, 2.0] {
            let target = two_modes(second);
            let in_second_mode = |state: &ChainState| {
                let near = state.x.iter().filter(|&&x| (x - second).abs() < 0.6);
                near.count() as f64 / n as f64
            };
            for with_jumps in [false, true] {
                let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
                let mut state = hmc.init(vec![-2.0; n], &target).unwrap();
                for _ in 0..100 {
                    hmc.transition(&mut state, &target, &mut rng).unwrap();
                    if with_jumps {
                        let stats = jumps.transition(&mut state, &target, &mut rng).unwrap();
                        assert_eq!(stats.n_nonfinite, 0);
                    }
                }
                let fraction = in_second_mode(&state);
                if with_jumps {
                    // Binomial standard error √(0.21/4000) ≈ 0.007.
                    assert!(
                        (fraction - 0.3).abs() < 0.03,
                        "mode at {second}: {fraction}"
                    );
                } else {
                    assert_eq!(fraction, 0.0);
                }
                // The state's gradients stay those of its points.
                let mut g = vec![0.0; n];
                target.log_density(&state.x, Some(&mut g)).unwrap();
                assert_eq!(state.grad.as_deref(), Some(g.as_slice()));
            }
        }
    }

    /// A mirror applied twice is the identity, and it moves a group rigidly.
    #[test]
    fn a_mirror_negates_the_lead_angle_and_is_an_involution() {
        let mut point = [0.3, -2.9, 1.0, 3.1];
        let group = [1, 3, 2];
        let mirror = |p: &mut [f64; 4]| {
            let delta = -2.0 * p[group[0]];
            rotate(p, &group, delta)
        };
        mirror(&mut point);
        assert!((point[1] - 2.9).abs() < 1e-12 && point[0] == 0.3);
        // The other coordinates of the group moved by the same angle (5.8, modulo 2π).
        assert!(
            (wrap_angle(point[3] - 3.1 - 5.8)).abs() < 1e-12,
            "{point:?}"
        );
        mirror(&mut point);
        for (a, b) in point.iter().zip([0.3, -2.9, 1.0, 3.1]) {
            assert!(wrap_angle(a - b).abs() < 1e-12, "{point:?}");
        }
    }

    #[test]
    fn bad_groups_are_refused_with_a_reason() {
        let err = TorsionJumps::new(vec![vec![0], vec![]]).unwrap_err();
        assert!(err.to_string().contains("group 1 is empty"), "{err}");
        let err = TorsionJumps::new(vec![vec![3, 1, 3]]).unwrap_err();
        assert!(err.to_string().contains("coordinate 3 twice"), "{err}");
        let jumps = TorsionJumps::new(vec![vec![1]]).unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        let mut state = ChainState::new(&two_modes(1.2), vec![0.0; 3], false).unwrap();
        let err = jumps
            .transition(&mut state, &two_modes(1.2), &mut rng)
            .unwrap_err();
        assert!(
            err.to_string().contains("coordinate 1 does not exist"),
            "{err}"
        );
    }
}
