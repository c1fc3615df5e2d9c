//! The model a run trains: a flow (a coupling flow, a continuous flow with the PDE objective's
//! networks, or VAPO's potential flow), or an energy model learned from samples.

use super::ObjectiveConfig;
use super::pde::{Interpolation, PdeModel, PdeModelConfig, default_rate_hidden};
use crate::backend::FlowBackend;
use crate::ebm::{EnergyModel, EnergyModelConfig, PotentialFlow, PotentialFlowConfig};
use crate::flow::{
    BuildContext, BuiltFlow, Density, Flow, FlowConfig, FlowSpec, InternalCoordinates,
};
use crate::{Error, Result};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// A trained flow.
// One model lives per run, so the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Model<B: FlowBackend> {
    /// A base and a chain of layers.
    Coupling(Flow<B>),
    /// A continuous flow, with the interpolation and rate networks of the PDE objective.
    Continuous(PdeModel<B>),
    /// VAPO's potential flow, learned from samples.
    Potential(PotentialFlow<B>),
}

/// Everything needed to rebuild a [`Model`]: the explicit configuration saved in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelConfig {
    /// A coupling flow.
    Coupling(FlowConfig),
    /// A continuous flow with its PDE networks.
    Continuous(PdeModelConfig),
    /// An energy model.
    Energy(EnergyModelConfig),
    /// VAPO's potential flow.
    Potential(PotentialFlowConfig),
}

impl ModelConfig {
    /// The explicit configuration of `spec` for the system of `context`. A continuous flow
    /// takes its PDE networks from the run's PDE objective (the defaults without one).
    pub fn build(
        spec: &FlowSpec,
        context: &BuildContext,
        objectives: &[ObjectiveConfig],
    ) -> Result<Self> {
        Ok(match spec.build(context)? {
            BuiltFlow::Coupling(flow) => ModelConfig::Coupling(flow),
            BuiltFlow::Continuous(flow) => {
                let (interpolation, rate_hidden) = objectives
                    .iter()
                    .find_map(|o| match o {
                        ObjectiveConfig::Pde {
                            interpolation,
                            rate_hidden,
                            ..
                        } => Some((interpolation.clone(), rate_hidden.clone())),
                        _ => None,
                    })
                    .unwrap_or((Interpolation::Linear, default_rate_hidden()));
                ModelConfig::Continuous(PdeModelConfig {
                    flow,
                    interpolation,
                    rate_hidden,
                })
            }
        })
    }

    /// Builds the flow on `device`; an error for an energy model, which is not a flow.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> Result<Model<B>> {
        Ok(match self {
            ModelConfig::Coupling(c) => Model::Coupling(c.init(device)?),
            ModelConfig::Continuous(c) => Model::Continuous(c.init(device)?),
            ModelConfig::Potential(c) => Model::Potential(c.init::<B>(device)?),
            ModelConfig::Energy(_) => return Err(not_a_flow()),
        })
    }

    /// Builds whatever the run trains on `device`.
    pub fn init_trainable<B: FlowBackend>(&self, device: &B::Device) -> Result<Trainable<B>> {
        Ok(match self {
            ModelConfig::Energy(c) => Trainable::Energy(c.init(device)?),
            _ => Trainable::Flow(self.init(device)?),
        })
    }
}

/// The error of asking an energy model for what only a flow has (samples, log q).
fn not_a_flow() -> Error {
    Error::InvalidArgument(
        "this run trains an energy model, which is not a flow: it has no sampler or log q of \
         its own; the flow objectives (ForwardKl, ReverseKl, Fab, Pde) and `sample` need a \
         `flow:`"
            .into(),
    )
}

/// What a run trains: a flow, or an energy model. The objectives ask for the kind they need
/// ([`Trainable::flow`], [`Trainable::energy`]); the configuration's validation has already
/// matched them, so the errors are a second line of defence.
// One model lives per run, so the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Trainable<B: FlowBackend> {
    /// A flow.
    Flow(Model<B>),
    /// An energy model p_θ ∝ exp(−E_θ).
    Energy(EnergyModel<B>),
}

impl<B: FlowBackend> Trainable<B> {
    /// The flow, or an error for an energy model.
    pub fn flow(&self) -> Result<&Model<B>> {
        match self {
            Trainable::Flow(model) => Ok(model),
            Trainable::Energy(_) => Err(not_a_flow()),
        }
    }

    /// The energy model, or an error for a flow.
    pub fn energy(&self) -> Result<&EnergyModel<B>> {
        match self {
            Trainable::Energy(model) => Ok(model),
            Trainable::Flow(_) => Err(Error::InvalidArgument(
                "this objective learns an energy model; the run trains a flow (give \
                 `energy: (...)` instead of `flow:`)"
                    .into(),
            )),
        }
    }
}

impl<B: FlowBackend> Model<B> {
    /// A molecular flow split into its flow on internal coordinates and its internal-coordinate
    /// layer (see [`Flow::split_internal`]); `None` for any other model.
    pub fn split_internal(&self) -> Option<(Flow<B>, InternalCoordinates<B>)> {
        match self {
            Model::Coupling(flow) => flow.split_internal(),
            Model::Continuous(_) | Model::Potential(_) => None,
        }
    }

    /// The continuous model, when it is one.
    pub fn continuous(&self) -> Option<&PdeModel<B>> {
        match self {
            Model::Continuous(m) => Some(m),
            Model::Coupling(_) | Model::Potential(_) => None,
        }
    }

    /// VAPO's potential flow, or an error for any other flow.
    pub fn potential(&self) -> Result<&PotentialFlow<B>> {
        match self {
            Model::Potential(m) => Ok(m),
            Model::Coupling(_) | Model::Continuous(_) => Err(Error::InvalidArgument(
                "the Vapo objective trains a potential flow: give `potential: (...)` instead of \
                 `flow:`"
                    .into(),
            )),
        }
    }
}

impl<B: FlowBackend> Density<B> for Model<B> {
    fn dim(&self) -> usize {
        match self {
            Model::Coupling(m) => m.dim(),
            Model::Continuous(m) => m.dim(),
            Model::Potential(m) => m.dim(),
        }
    }

    fn sample(&self, n: usize) -> (Tensor<B, 2>, Tensor<B, 1>) {
        match self {
            Model::Coupling(m) => m.sample(n),
            Model::Continuous(m) => m.sample(n),
            Model::Potential(m) => m.sample(n),
        }
    }

    fn log_prob(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        match self {
            Model::Coupling(m) => m.log_prob(x),
            Model::Continuous(m) => m.log_prob(x),
            Model::Potential(m) => m.log_prob(x),
        }
    }
}
