//! Flow architectures by name, as written in run configurations. A [`FlowSpec`] is expanded
//! into an explicit [`FlowConfig`] (masks and all) once, from the run's seed.

use super::{
    Activation, AffineCouplingConfig, BaseConfig, ContinuousFlowConfig, DiagGaussianConfig,
    DivergenceMethod, FlowConfig, GatedFieldConfig, GeneralizedGaussianConfig, LayerConfig,
    LuLinearConfig, Rk4Config, SolverConfig, SplineCouplingConfig, alternating_mask,
};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// A flow architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FlowSpec {
    /// RealNVP: affine couplings with alternating masks, optionally with an invertible linear
    /// (LU) mixing layer after each (FAB's layout), over a diagonal Gaussian base.
    RealNvp {
        /// Number of coupling layers.
        layers: usize,
        /// Hidden widths of each conditioner.
        hidden: Vec<usize>,
        /// Conditioner activation.
        #[serde(default)]
        activation: Activation,
        /// An LU mixing layer after each coupling.
        #[serde(default)]
        lu: bool,
        /// Train the base's mean and scales too.
        #[serde(default)]
        trainable_base: bool,
        /// Standard deviation of the base (match the target's scale).
        #[serde(default = "one")]
        base_std: f64,
    },
    /// Neural spline flow: rational-quadratic spline couplings with linear tails and alternating
    /// masks, optionally with an invertible linear (LU) mixing layer after each, over a diagonal
    /// Gaussian base.
    Spline {
        /// Number of coupling layers.
        layers: usize,
        /// Hidden widths of each conditioner.
        hidden: Vec<usize>,
        /// Bins per spline.
        #[serde(default = "eight")]
        bins: usize,
        /// Splines act on [−tail_bound, tail_bound], identity outside.
        #[serde(default = "five")]
        tail_bound: f64,
        /// Conditioner activation.
        #[serde(default)]
        activation: Activation,
        /// Residual connections in the conditioners.
        #[serde(default)]
        residual: bool,
        /// An LU mixing layer after each coupling.
        #[serde(default)]
        lu: bool,
        /// Train the base's mean and scales too.
        #[serde(default)]
        trainable_base: bool,
        /// Standard deviation of the base.
        #[serde(default = "one")]
        base_std: f64,
    },
    /// A continuous flow dx/dt = V_t(x) with the published time-gated field (Máté & Fleuret),
    /// trained by the PDE objective (and optionally others).
    Continuous {
        /// Hidden widths of each of the field's MLPs (128×3 published for the double well,
        /// 64×2 for the 2-D mixtures).
        hidden: Vec<usize>,
        /// Number of gated MLPs.
        #[serde(default = "four")]
        gates: usize,
        /// The base distribution at t = 0.
        base: ContinuousBase,
        /// The ODE solver (RK4 with 50 steps published).
        #[serde(default = "rk4_50")]
        solver: SolverConfig,
        /// How ∇·V is computed in log q.
        #[serde(default)]
        divergence: DivergenceMethod,
    },
}

/// The base of a continuous flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ContinuousBase {
    /// N(0, std² I), fixed.
    Gaussian {
        /// Standard deviation.
        #[serde(default = "one")]
        std: f64,
    },
    /// exp(−Σ|xᵢ/σ|ᵖ)/Z (p = 4, σ = 1 published for the double well).
    GeneralizedGaussian {
        /// The power p.
        power: f64,
        /// The scale σ.
        #[serde(default = "one")]
        scale: f64,
    },
}

/// A flow's explicit configuration: a chain of layers or a continuous flow.
#[derive(Clone, Debug, PartialEq)]
pub enum BuiltFlow {
    /// A base and a chain of layers.
    Coupling(FlowConfig),
    /// A continuous flow.
    Continuous(ContinuousFlowConfig),
}

fn four() -> usize {
    4
}

fn rk4_50() -> SolverConfig {
    SolverConfig::Rk4(Rk4Config { steps: 50 })
}

fn eight() -> usize {
    8
}

fn five() -> f64 {
    5.0
}

fn one() -> f64 {
    1.0
}

impl FlowSpec {
    /// The explicit configuration for a `dim`-dimensional target; random choices come from `seed`.
    pub fn build(&self, dim: usize, seed: u64) -> crate::Result<BuiltFlow> {
        let coupling_dim = || {
            if dim < 2 {
                return Err(crate::Error::InvalidArgument(format!(
                    "coupling flows need dim ≥ 2, the system has {dim}"
                )));
            }
            Ok(())
        };
        match self {
            FlowSpec::RealNvp {
                layers,
                hidden,
                activation,
                lu,
                trainable_base,
                base_std,
            } => {
                coupling_dim()?;
                let couplings = (0..*layers).map(|i| {
                    LayerConfig::Affine(AffineCouplingConfig {
                        mask: alternating_mask(dim, i % 2 == 0),
                        hidden: hidden.clone(),
                        activation: *activation,
                    })
                });
                Ok(BuiltFlow::Coupling(FlowConfig {
                    base: diagonal_base(dim, *trainable_base, *base_std),
                    layers: with_mixing(couplings, dim, *lu, seed),
                }))
            }
            FlowSpec::Spline {
                layers,
                hidden,
                bins,
                tail_bound,
                activation,
                residual,
                lu,
                trainable_base,
                base_std,
            } => {
                coupling_dim()?;
                let couplings = (0..*layers).map(|i| {
                    LayerConfig::Spline(SplineCouplingConfig {
                        bins: *bins,
                        tail_bound: *tail_bound,
                        activation: *activation,
                        residual: *residual,
                        ..SplineCouplingConfig::new(
                            alternating_mask(dim, i % 2 == 0),
                            hidden.clone(),
                        )
                    })
                });
                Ok(BuiltFlow::Coupling(FlowConfig {
                    base: diagonal_base(dim, *trainable_base, *base_std),
                    layers: with_mixing(couplings, dim, *lu, seed),
                }))
            }
            FlowSpec::Continuous {
                hidden,
                gates,
                base,
                solver,
                divergence,
            } => {
                let base = match *base {
                    ContinuousBase::Gaussian { std } => diagonal_base(dim, false, std),
                    ContinuousBase::GeneralizedGaussian { power, scale } => {
                        BaseConfig::GeneralizedGaussian(GeneralizedGaussianConfig {
                            dim,
                            power,
                            scale,
                        })
                    }
                };
                Ok(BuiltFlow::Continuous(ContinuousFlowConfig {
                    base,
                    field: GatedFieldConfig {
                        gates: *gates,
                        ..GatedFieldConfig::new(dim, hidden.clone())
                    },
                    solver: solver.clone(),
                    divergence: *divergence,
                }))
            }
        }
    }
}

fn diagonal_base(dim: usize, trainable: bool, std: f64) -> BaseConfig {
    BaseConfig::DiagGaussian(DiagGaussianConfig {
        dim,
        trainable,
        std,
    })
}

/// The couplings, each followed by a random LU mixing layer when `lu`.
fn with_mixing(
    couplings: impl Iterator<Item = LayerConfig>,
    dim: usize,
    lu: bool,
    seed: u64,
) -> Vec<LayerConfig> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(crate::seed::derive(seed, 0));
    let mut layers = Vec::new();
    for coupling in couplings {
        layers.push(coupling);
        if lu {
            layers.push(LayerConfig::LuLinear(LuLinearConfig::random(dim, &mut rng)));
        }
    }
    layers
}
