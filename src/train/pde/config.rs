//! Configuration of a [`PdeModel`].

use super::PdeModel;
use crate::backend::FlowBackend;
use crate::flow::{Activation, BaseConfig, ContinuousFlowConfig, MlpConfig, TimeMlpConfig};
use serde::{Deserialize, Serialize};

/// How the energy f_t interpolates between the base (t = 0) and the target (t = 1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Interpolation {
    /// f_t = t·u + (1 − t)·f₀ (fixed).
    #[default]
    Linear,
    /// f_t = t·u + (1 − t)·f₀ + t(1 − t)·NN(x, t), NN a swish MLP on [x, t] whose output layer
    /// starts at zero (so training starts from the linear path).
    Learned {
        /// Hidden widths of NN.
        hidden: Vec<usize>,
    },
}

/// Configuration of a [`PdeModel`].
///
/// ```ron
/// (
///     flow: (
///         base: GeneralizedGaussian((dim: 16, power: 4.0)),
///         field: (dim: 16, hidden: [128, 128, 128]),
///         solver: Rk4((steps: 50)),
///     ),
///     interpolation: Learned(hidden: [64, 64]),   // default Linear
///     rate_hidden: [32, 32],                      // default [32, 32]
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdeModelConfig {
    /// The continuous flow (base, gated field, solver) that samples.
    pub flow: ContinuousFlowConfig,
    /// The path of energies.
    #[serde(default)]
    pub interpolation: Interpolation,
    /// Hidden widths of the swish MLP C(t), whose output layer starts at zero.
    #[serde(default = "default_rate_hidden")]
    pub rate_hidden: Vec<usize>,
}

/// Hidden widths of the rate network C(t) unless given: 32×2.
pub fn default_rate_hidden() -> Vec<usize> {
    vec![32, 32]
}

impl PdeModelConfig {
    /// The flow with a linear interpolation and the default rate network.
    pub fn new(flow: ContinuousFlowConfig) -> Self {
        PdeModelConfig {
            flow,
            interpolation: Interpolation::Linear,
            rate_hidden: default_rate_hidden(),
        }
    }

    /// Builds the model on `device`. Fails for a base with no energy on R^d (the circular
    /// one) and for empty layer widths.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<PdeModel<B>> {
        if let BaseConfig::CircularGaussian(_) = self.flow.base {
            return Err(crate::Error::InvalidArgument(
                "the PDE objective needs a base energy f₀ = −log base on all of R^d; the circular \
                 base has none: use a DiagGaussian or GeneralizedGaussian base"
                    .into(),
            ));
        }
        if self.rate_hidden.contains(&0) {
            return Err(crate::Error::InvalidArgument(format!(
                "`rate_hidden` must hold positive widths; got {:?}",
                self.rate_hidden
            )));
        }
        let flow = self.flow.init(device)?;
        let interpolation = match &self.interpolation {
            Interpolation::Linear => None,
            Interpolation::Learned { hidden } => {
                Some(TimeMlpConfig::new(self.flow.field.dim, hidden.clone(), 1).init(device)?)
            }
        };
        let rate = MlpConfig::new(1, self.rate_hidden.clone(), 1)
            .with_activation(Activation::Silu)
            .init(device);
        Ok(PdeModel {
            flow,
            interpolation,
            rate,
        })
    }
}
