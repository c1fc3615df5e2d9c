//! Multilayer perceptrons: the conditioners of coupling layers.

use crate::backend::FlowBackend;
use burn::module::Initializer;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation;
use serde::{Deserialize, Serialize};

/// Activation function between the layers of an MLP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// max(0, x)
    #[default]
    Relu,
    /// x · sigmoid(x), also called swish
    Silu,
    /// tanh(x)
    Tanh,
}

impl Activation {
    /// Applies the activation elementwise.
    pub fn apply<B: FlowBackend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Silu => activation::silu(x),
            Activation::Tanh => x.tanh(),
        }
    }
}

/// Configuration of an [`Mlp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input width.
    pub d_input: usize,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Output width.
    pub d_output: usize,
    /// Activation after each hidden layer.
    #[serde(default)]
    pub activation: Activation,
    /// Residual connections between hidden layers of equal width (h ← h + act(W h + b)).
    #[serde(default)]
    pub residual: bool,
    /// Initialise the output layer to zero, so the MLP starts as the zero function: a coupling
    /// layer then starts as the identity.
    #[serde(default = "crate::defaults::yes")]
    pub zero_output: bool,
}

impl MlpConfig {
    /// An MLP `d_input → hidden… → d_output` with ReLU, no residual connections and a zero
    /// output layer.
    pub fn new(d_input: usize, hidden: Vec<usize>, d_output: usize) -> Self {
        MlpConfig {
            d_input,
            hidden,
            d_output,
            activation: Activation::default(),
            residual: false,
            zero_output: true,
        }
    }

    /// Sets the activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets residual connections.
    pub fn with_residual(mut self, residual: bool) -> Self {
        self.residual = residual;
        self
    }

    /// Builds the MLP on `device`.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> Mlp<B> {
        let mut widths = vec![self.d_input];
        widths.extend(&self.hidden);
        let hidden = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        let last = *widths.last().unwrap_or(&self.d_input);
        let mut output = LinearConfig::new(last, self.d_output);
        if self.zero_output {
            output = output.with_initializer(Initializer::Zeros);
        }
        Mlp {
            hidden,
            output: output.init(device),
            activation: self.activation,
            residual: self.residual,
        }
    }
}

/// A multilayer perceptron.
#[derive(Module, Debug)]
pub struct Mlp<B: FlowBackend> {
    /// Hidden layers.
    pub hidden: Vec<Linear<B>>,
    /// Output layer.
    pub output: Linear<B>,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Residual connections between hidden layers of equal width.
    pub residual: bool,
}

impl<B: FlowBackend> Mlp<B> {
    /// Applies the MLP to a batch `[n, d_input]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut h = x;
        for layer in &self.hidden {
            let [_, d_in] = h.dims();
            let out = self.activation.apply(layer.forward(h.clone()));
            h = if self.residual && out.dims()[1] == d_in {
                h + out
            } else {
                out
            };
        }
        self.output.forward(h)
    }
}
