//! The settings of the density-ratio estimator (RON, inside `Dre(…)` in a free-energy
//! configuration).

use crate::flow::Precision;
use crate::train::{OptimizerConfig, learning_rate};
use crate::{Error, Result, defaults};
use serde::{Deserialize, Serialize};

/// Settings of the optimal-transport flow and the infinitesimal density-ratio estimator. Every
/// field has a default, so `Dre(())` runs the defaults:
///
/// ```ron
/// Dre((
///     field_hidden: [128, 128],   // the transport field: gated swish MLPs on [x, t]
///     time_steps: 10,             // RK4 steps of the flow = intervals of the telescoping sum
///     transport_weight: 0.3,      // γ in KL + γ·Σ‖x(t_k) − x(t_{k−1})‖²/h, at first…
///     transport_weight_final: 0.01, // …decaying geometrically to this over phase 1
///     flow_steps: 2000,           // phase 1: the flow and its two classifiers
///     ratio_steps: 8000,          // phase 2: the ratio network r(x, t)
///     ratio_quadratic_rank: 0,    // a quadratic form of this rank in r (0: MLP only)
///     batch_size: 512,
///     learning_rate: 1e-3,        // classifiers and ratio network
///     flow_learning_rate: 3e-4,   // transport field
///     cosine: true,               // the field's and the ratio network's rates decay to 0
///     holdout: 0.25,              // the estimates use only samples not trained on
///     mapped_samples: 2000,       // held-out samples per state for the mapped BAR estimate
///     align: false,               // superpose molecular samples (Cartesian) first
/// ))
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DreConfig {
    /// Hidden widths of each MLP of the transport field.
    #[serde(default = "hidden")]
    pub field_hidden: Vec<usize>,
    /// Number of time-gated MLPs of the transport field.
    #[serde(default = "defaults::int::<4>")]
    pub field_gates: usize,
    /// RK4 steps from t = 0 to 1; their nodes t_k = k/K are the intermediate distributions whose
    /// neighbours the ratio network separates.
    #[serde(default = "defaults::int::<10>")]
    pub time_steps: usize,
    /// γ, the weight of the transport cost Σ_k ‖x(t_k) − x(t_{k−1})‖²/h against the two KL
    /// terms, at the start of phase 1. A large γ keeps the early flow short and stable (the
    /// classifiers' gradients are rough while they learn); the minimiser of KL + γ·cost stops
    /// short of Q, by more the larger γ (for Gaussians, 17% of W2² at γ = 0.1, 4% at 0.02).
    #[serde(default = "defaults::real::<3, 10>")]
    pub transport_weight: f64,
    /// γ at the end of phase 1: γ decays geometrically from `transport_weight` to this, so that
    /// the final map is close to the optimal transport map onto Q. Equal to `transport_weight`
    /// for a constant γ.
    #[serde(default = "defaults::real::<1, 100>")]
    pub transport_weight_final: f64,
    /// Hidden widths of the logistic classifiers (the KL terms and the single-classifier
    /// baseline).
    #[serde(default = "hidden")]
    pub classifier_hidden: Vec<usize>,
    /// Hidden widths of the ratio network r(x, t).
    #[serde(default = "hidden")]
    pub ratio_hidden: Vec<usize>,
    /// Rank of the quadratic form Σ_j c_j(t)·(u_j·x)² added to the ratio network's MLP (0: none;
    /// at most the dimension). The log-ratio is needed at samples in the tails of the
    /// distributions the network was trained on, where the MLP extrapolates linearly; the
    /// quadratic form extrapolates like the log-ratio of harmonic wells or Gaussians. On the
    /// Gaussian benchmark it took the mutual information from 2.0% to 0.25% of the truth at
    /// d = 40 and from 5.9% to 0.3% at d = 80, with the same flow and steps (BENCHMARKS.md).
    /// On the 16-D double well it mended Q's side only. It adds about R·(d + 64) weights, and
    /// as many multiplications per evaluation.
    #[serde(default)]
    pub ratio_quadratic_rank: usize,
    /// Gradient steps of phase 1 (the flow and its classifiers).
    #[serde(default = "defaults::int::<2000>")]
    pub flow_steps: usize,
    /// Gradient steps of phase 2 (the ratio network, and the single classifier beside it).
    /// The flow's nodes are computed once for all of them. On a 4-D Gaussian the ratio's
    /// accuracy kept improving up to 4,800 steps; on the 16-D double well more steps did not
    /// help (BENCHMARKS.md).
    #[serde(default = "defaults::int::<8000>")]
    pub ratio_steps: usize,
    /// Samples of each state per step.
    #[serde(default = "defaults::int::<512>")]
    pub batch_size: usize,
    /// Adam's learning rate of the classifiers and the ratio network, constant.
    #[serde(default = "defaults::real::<1, 1000>")]
    pub learning_rate: f64,
    /// Adam's learning rate of the transport field, constant: lower than the classifiers', so
    /// that they keep up with the flow they judge (as a GAN's discriminator must).
    #[serde(default = "defaults::real::<3, 10000>")]
    pub flow_learning_rate: f64,
    /// Whether the learning rate of what a phase trains decays by a cosine to 0 over the phase
    /// (the field's in phase 1, the ratio network's in phase 2; the KL classifiers keep theirs,
    /// so that they keep up). A decaying rate damps the flow's oscillation against its
    /// classifiers, which a constant rate keeps up to the end of phase 1.
    #[serde(default = "defaults::yes")]
    pub cosine: bool,
    /// Global gradient-norm clipping.
    #[serde(default = "defaults::real::<10, 1>")]
    pub clip_grad_norm: f64,
    /// Fraction of each state's samples held out of training; the KL, transport and free-energy
    /// estimates are computed on them only, so that overfitting cannot bias them.
    #[serde(default = "defaults::real::<1, 4>")]
    pub holdout: f64,
    /// Held-out samples of each state carried through the flow with exact log-determinants, for
    /// the mapped (targeted) BAR estimate of Δf; 0 skips it. Each costs d tangents per field
    /// evaluation.
    #[serde(default = "defaults::int::<2000>")]
    pub mapped_samples: usize,
    /// For molecules in Cartesian coordinates (3 per atom): superpose every sample onto the first
    /// sample of P (centroids, then the Kabsch rotation) before training and evaluation. When
    /// neither energy changes under rigid motions (a molecule without external fields), q/p is
    /// the same at a sample and at its superposed copy, so the estimates are unchanged, and the
    /// networks see conformations only instead of the six rigid-body coordinates, which MD
    /// spreads widely. The mapped BAR estimate is then skipped: on superposed coordinates the
    /// flow's log-determinant is not the change of density.
    #[serde(default)]
    pub align: bool,
    /// Bootstrap resamples for the error of the free-energy estimate.
    #[serde(default = "defaults::int::<200>")]
    pub bootstrap: usize,
    /// Steps between checkpoints.
    #[serde(default = "defaults::int::<250>")]
    pub checkpoint_every: usize,
    /// Float precision of the networks.
    #[serde(default)]
    pub precision: Precision,
}

fn hidden() -> Vec<usize> {
    vec![128, 128]
}

impl Default for DreConfig {
    fn default() -> Self {
        ron::from_str("()").expect("every field has a default")
    }
}

impl DreConfig {
    /// Checks the numbers serde cannot.
    pub fn validate(&self) -> Result<()> {
        let fail = |m: String| Err(Error::InvalidArgument(format!("Dre: {m}")));
        for (name, widths) in [
            ("field_hidden", &self.field_hidden),
            ("classifier_hidden", &self.classifier_hidden),
            ("ratio_hidden", &self.ratio_hidden),
        ] {
            if widths.contains(&0) {
                return fail(format!("`{name}` has a zero width: {widths:?}"));
            }
        }
        if self.field_gates == 0 || self.time_steps == 0 || self.batch_size == 0 {
            return fail(format!(
                "`field_gates` ({}), `time_steps` ({}) and `batch_size` ({}) must be at least 1",
                self.field_gates, self.time_steps, self.batch_size
            ));
        }
        if self.time_steps > 1000 {
            return fail(format!(
                "`time_steps` is {}; 10 to 100 is plenty (each is 4 field evaluations per sample)",
                self.time_steps
            ));
        }
        if self.checkpoint_every == 0 {
            return fail("`checkpoint_every` must be at least 1".into());
        }
        if self.flow_steps + self.ratio_steps == 0 {
            return fail("`flow_steps` and `ratio_steps` are both 0: nothing to train".into());
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        for (name, rate) in [
            ("learning_rate", self.learning_rate),
            ("flow_learning_rate", self.flow_learning_rate),
        ] {
            if !(positive(rate) && rate < 1.0) {
                return fail(format!("`{name}` must be in (0, 1); got {rate}"));
            }
        }
        for (name, weight) in [
            ("transport_weight", self.transport_weight),
            ("transport_weight_final", self.transport_weight_final),
        ] {
            if !positive(weight) {
                return fail(format!("`{name}` must be finite and > 0; got {weight}"));
            }
        }
        if !positive(self.clip_grad_norm) {
            return fail(format!(
                "`clip_grad_norm` must be positive; got {}",
                self.clip_grad_norm
            ));
        }
        if !(self.holdout > 0.0 && self.holdout < 1.0) {
            return fail(format!(
                "`holdout` is a fraction in (0, 1); got {}",
                self.holdout
            ));
        }
        if self.bootstrap < 2 {
            return fail(format!(
                "`bootstrap` needs at least 2 resamples; got {}",
                self.bootstrap
            ));
        }
        Ok(())
    }

    /// γ at step `step` of phase 1.
    pub fn transport_weight_at(&self, step: usize) -> f64 {
        let progress = step as f64 / self.flow_steps.max(1) as f64;
        self.transport_weight * (self.transport_weight_final / self.transport_weight).powf(progress)
    }

    /// The learning rates (transport field, other networks) at `step`.
    pub fn learning_rates_at(&self, step: usize) -> (f64, f64) {
        let decaying = |lr: f64, step: usize, total: usize| {
            let schedule = OptimizerConfig {
                lr,
                cosine: self.cosine,
                ..OptimizerConfig::default()
            };
            learning_rate(&schedule, step, total)
        };
        if step < self.flow_steps {
            let field = decaying(self.flow_learning_rate, step, self.flow_steps);
            (field, self.learning_rate)
        } else {
            let ratio = decaying(self.learning_rate, step - self.flow_steps, self.ratio_steps);
            (self.flow_learning_rate, ratio)
        }
    }

    /// Steps of both phases.
    pub fn total_steps(&self) -> usize {
        self.flow_steps + self.ratio_steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_defaults_and_typos_are_refused() {
        let config: DreConfig = ron::from_str("()").unwrap();
        assert_eq!(config, DreConfig::default());
        assert_eq!((config.time_steps, config.batch_size), (10, 512));
        assert!(config.validate().is_ok());
        let gamma = [0, 1000, 2000].map(|step| config.transport_weight_at(step));
        assert!((gamma[0] - 0.3).abs() < 1e-12 && (gamma[2] - 0.01).abs() < 1e-12);
        assert!((gamma[1] - (0.3f64 * 0.01).sqrt()).abs() < 1e-12);
        // The field's rate decays over phase 1, the ratio network's over phase 2.
        assert_eq!(config.learning_rates_at(0), (3e-4, 1e-3));
        let (field, classifiers) = config.learning_rates_at(1000);
        assert!((field - 1.5e-4).abs() < 1e-12 && classifiers == 1e-3);
        let (_, ratio) = config.learning_rates_at(6000);
        assert!((ratio - 5e-4).abs() < 1e-12, "{ratio}");
        assert!(config.learning_rates_at(9999).1 < 1e-8);
        let error = ron::from_str::<DreConfig>("(time_step: 3)")
            .unwrap_err()
            .to_string();
        assert!(error.contains("time_step"), "{error}");
    }

    #[test]
    fn absurd_numbers_are_refused() {
        for (text, message) in [
            ("(time_steps: 0)", "at least 1"),
            ("(time_steps: 100000)", "plenty"),
            ("(learning_rate: -1.0)", "learning_rate"),
            ("(holdout: 1.0)", "holdout"),
            ("(field_hidden: [64, 0])", "zero width"),
            ("(flow_steps: 0, ratio_steps: 0)", "nothing to train"),
            ("(bootstrap: 1)", "bootstrap"),
            ("(transport_weight_final: 0.0)", "transport_weight_final"),
        ] {
            let config: DreConfig = ron::from_str(text).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(message), "{text}: {error}");
        }
    }
}
