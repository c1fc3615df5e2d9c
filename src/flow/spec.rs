//! Flow architectures by name, as written in run configurations. A [`FlowSpec`] is expanded
//! into an explicit [`FlowConfig`] (masks and all) once, from the run's seed.

use super::{
    Activation, AffineCouplingConfig, BaseConfig, DiagGaussianConfig, FlowConfig, LayerConfig,
    alternating_mask,
};
use serde::{Deserialize, Serialize};

/// A flow architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FlowSpec {
    /// RealNVP: affine couplings with alternating masks over a diagonal Gaussian base.
    RealNvp {
        /// Number of coupling layers.
        layers: usize,
        /// Hidden widths of each conditioner.
        hidden: Vec<usize>,
        /// Conditioner activation.
        #[serde(default)]
        activation: Activation,
        /// Train the base's mean and scales too.
        #[serde(default)]
        trainable_base: bool,
        /// Standard deviation of the base (match the target's scale).
        #[serde(default = "one")]
        base_std: f64,
    },
}

fn one() -> f64 {
    1.0
}

impl FlowSpec {
    /// The explicit configuration for a `dim`-dimensional target; random choices come from `seed`.
    pub fn build(&self, dim: usize, _seed: u64) -> crate::Result<FlowConfig> {
        if dim < 2 {
            return Err(crate::Error::InvalidArgument(format!(
                "coupling flows need dim ≥ 2, the system has {dim}"
            )));
        }
        match self {
            FlowSpec::RealNvp {
                layers,
                hidden,
                activation,
                trainable_base,
                base_std,
            } => Ok(FlowConfig {
                base: BaseConfig::DiagGaussian(DiagGaussianConfig {
                    dim,
                    trainable: *trainable_base,
                    std: *base_std,
                }),
                layers: (0..*layers)
                    .map(|i| {
                        LayerConfig::Affine(AffineCouplingConfig {
                            mask: alternating_mask(dim, i % 2 == 0),
                            hidden: hidden.clone(),
                            activation: *activation,
                        })
                    })
                    .collect(),
            }),
        }
    }
}
