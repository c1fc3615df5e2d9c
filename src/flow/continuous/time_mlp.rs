//! An MLP on the concatenation [x, t], with tangents.

use super::TimeDependent;
use crate::flow::{Activation, Mlp, MlpConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of a [`TimeMlp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeMlpConfig {
    /// Dimension d of x (the network reads d + 1 inputs).
    pub dim: usize,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Output width.
    pub d_output: usize,
    /// Activation after each hidden layer (swish by default: smooth, so tangents are smooth).
    #[serde(default = "super::silu")]
    pub activation: Activation,
    /// Initialise the output layer to zero, so the network starts as the zero function.
    #[serde(default = "crate::defaults::yes")]
    pub zero_output: bool,
}

impl TimeMlpConfig {
    /// A swish MLP `[x, t] → hidden… → d_output` with a zero output layer.
    pub fn new(dim: usize, hidden: Vec<usize>, d_output: usize) -> Self {
        TimeMlpConfig {
            dim,
            hidden,
            d_output,
            activation: Activation::Silu,
            zero_output: true,
        }
    }

    /// Sets the activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets whether the output layer starts at zero.
    pub fn with_zero_output(mut self, zero_output: bool) -> Self {
        self.zero_output = zero_output;
        self
    }

    /// Builds the network on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<TimeMlp<B>> {
        if self.dim == 0 || self.d_output == 0 || self.hidden.contains(&0) {
            return Err(crate::Error::InvalidArgument(format!(
                "a time-dependent MLP needs positive sizes; got dim {}, hidden {:?}, output {}",
                self.dim, self.hidden, self.d_output
            )));
        }
        let mlp = MlpConfig {
            d_input: self.dim + 1,
            hidden: self.hidden.clone(),
            d_output: self.d_output,
            activation: self.activation,
            residual: false,
            zero_output: self.zero_output,
        }
        .init(device);
        Ok(TimeMlp { mlp })
    }
}

/// y = MLP([x, t]).
#[derive(Module, Debug)]
pub struct TimeMlp<B: Backend> {
    mlp: Mlp<B>,
}

/// [x, t] as one `[n, d + 1]` tensor.
fn with_time<B: Backend>(x: Tensor<B, 2>, t: Tensor<B, 1>) -> Tensor<B, 2> {
    Tensor::cat(vec![x, t.unsqueeze_dim(1)], 1)
}

impl<B: Backend> TimeDependent<B> for TimeMlp<B> {
    fn dim(&self) -> usize {
        self.mlp
            .hidden
            .first()
            .unwrap_or(&self.mlp.output)
            .weight
            .dims()[0]
            - 1
    }

    fn dim_output(&self) -> usize {
        self.mlp.output.weight.dims()[1]
    }

    fn forward(&self, x: Tensor<B, 2>, t: Tensor<B, 1>) -> Tensor<B, 2> {
        self.mlp.forward(with_time(x, t))
    }

    fn jvp(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        vx: Tensor<B, 3>,
        vt: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Tensor<B, 3>) {
        let [m, n, _] = vx.dims();
        let vt = vt.unwrap_or_else(|| Tensor::zeros([m, n], &vx.device()));
        let v = Tensor::cat(vec![vx, vt.unsqueeze_dim(2)], 2);
        self.mlp.jvp(with_time(x, t), v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::continuous::test_support::*;
    use crate::flow::testing::*;

    #[test]
    fn jvp_matches_central_differences() {
        for (activation, d_output) in [(Activation::Silu, 1), (Activation::Tanh, 3)] {
            let config = TimeMlpConfig::new(3, vec![7, 5], d_output).with_activation(activation);
            let net: TimeMlp<TestBackend> = seeded(config.init(&device()).unwrap(), 0.6, 1);
            assert_eq!((net.dim(), net.dim_output()), (3, d_output));
            assert_jvp_matches_differences(&net);
        }
    }

    #[test]
    fn starts_at_zero_and_rejects_empty_sizes() {
        let net = TimeMlpConfig::new(2, vec![4], 1)
            .init::<TestBackend>(&device())
            .unwrap();
        let out = net.forward(
            tensor(&points(3, 2, 1.0, 1), 3, 2),
            tensor1(&[0.1, 0.5, 0.9]),
        );
        assert!(values(out).iter().all(|v| *v == 0.0));
        for bad in [
            TimeMlpConfig::new(0, vec![4], 1),
            TimeMlpConfig::new(2, vec![4, 0], 1),
            TimeMlpConfig::new(2, vec![4], 0),
        ] {
            let error = bad.init::<TestBackend>(&device()).unwrap_err().to_string();
            assert!(error.contains("positive sizes"), "{error}");
        }
    }
}
