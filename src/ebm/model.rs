//! The energy model E_θ(x) = MLP(z) + κ‖z‖²/2 on standardised coordinates z = (x − mean)/sd.

use super::scales::{column_scales, standardise};
use crate::backend::FlowBackend;
use crate::flow::{Activation, Mlp, MlpConfig, from_f64};
use crate::{Error, Result};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The energy model of a run, as the training configuration writes it (`energy: (...)`).
///
/// ```ron
/// energy: (hidden: [64, 64], activation: Silu, confinement: 0.1),
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergySpec {
    /// Hidden widths of the MLP.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Activation of the MLP (swish by default: smooth, so the Langevin forces are smooth).
    #[serde(default = "silu")]
    pub activation: Activation,
    /// κ of the confining term κ‖z‖²/2 on the standardised coordinates. An MLP of swish or tanh
    /// grows at most linearly, so exp(−MLP) alone need not be normalisable; the quadratic term
    /// makes it so. Within the data (|z| ≲ 3) it adds at most about 0.45κ·d nats, which the MLP
    /// learns to cancel.
    #[serde(default = "crate::defaults::real::<1, 10>")]
    pub confinement: f64,
}

fn default_hidden() -> Vec<usize> {
    vec![64, 64]
}

fn silu() -> Activation {
    Activation::Silu
}

impl Default for EnergySpec {
    fn default() -> Self {
        EnergySpec {
            hidden: default_hidden(),
            activation: silu(),
            confinement: 0.1,
        }
    }
}

impl EnergySpec {
    /// Checks the widths and the confinement.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::InvalidArgument(format!(
                "energy: `hidden` needs at least one positive width, not {:?}",
                self.hidden
            )));
        }
        if !(self.confinement.is_finite() && self.confinement > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "energy: `confinement` must be a positive finite number (0.1 by default), not {}",
                self.confinement
            )));
        }
        Ok(())
    }

    /// The explicit model configuration for data `x` (`n × dim`): its coordinates are
    /// standardised by the data's per-coordinate mean and standard deviation.
    pub fn build(&self, x: &[f64], dim: usize) -> Result<EnergyModelConfig> {
        self.validate()?;
        let (mean, sd) = column_scales(x, dim, "the energy model's training samples")?;
        Ok(EnergyModelConfig {
            spec: self.clone(),
            mean,
            sd,
        })
    }
}

/// Everything needed to rebuild an [`EnergyModel`], saved in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnergyModelConfig {
    /// The architecture.
    pub spec: EnergySpec,
    /// Per-coordinate mean of the training data.
    pub mean: Vec<f64>,
    /// Per-coordinate standard deviation of the training data.
    pub sd: Vec<f64>,
}

impl EnergyModelConfig {
    /// Builds the model on `device`. Its MLP's output layer starts at zero, so the model starts
    /// as the Gaussian exp(−κ‖z‖²/2).
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> Result<EnergyModel<B>> {
        self.spec.validate()?;
        let dim = self.mean.len();
        let mlp = MlpConfig::new(dim, self.spec.hidden.clone(), 1)
            .with_activation(self.spec.activation)
            .init(device);
        Ok(EnergyModel {
            mlp,
            mean: self.mean.clone(),
            sd: self.sd.clone(),
            confinement: self.spec.confinement,
        })
    }
}

/// E_θ(x) = MLP(z) + κ‖z‖²/2 with z = (x − mean)/sd: the model density is exp(−E_θ)/Z_θ.
#[derive(Module, Debug)]
pub struct EnergyModel<B: FlowBackend> {
    mlp: Mlp<B>,
    mean: Vec<f64>,
    sd: Vec<f64>,
    confinement: f64,
}

impl<B: FlowBackend> EnergyModel<B> {
    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Per-coordinate standard deviation of the training data (the model's length scales).
    pub fn scales(&self) -> &[f64] {
        &self.sd
    }

    /// The standardised coordinates of `x` (`[n, dim]`).
    fn standardise(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        standardise(x, &self.mean, &self.sd)
    }

    /// E_θ at each point of `x` (`[n, dim]`): `[n]`, differentiable with respect to the
    /// parameters.
    pub fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let [n, _] = x.dims();
        let z = self.standardise(x);
        let quadratic = z
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .mul_scalar(0.5 * self.confinement);
        (self.mlp.forward(z) + quadratic).reshape([n])
    }

    /// E_θ and its gradient ∇ₓE_θ (`[n]`, `[n, dim]`), the gradient by forward-mode tangents
    /// along each coordinate (no autodiff needed, so it runs on any backend).
    pub fn energy_and_gradient(&self, x: Tensor<B, 2>) -> (Tensor<B, 1>, Tensor<B, 2>) {
        let [n, d] = x.dims();
        let device = x.device();
        let z = self.standardise(x);
        // Tangent j of every point is the unit vector e_j.
        let eye: Tensor<B, 2> = Tensor::eye(d, &device);
        let tangents = eye.reshape([d, 1, d]).expand([d, n, d]);
        let (mlp, d_mlp) = self.mlp.jvp(z.clone(), tangents);
        let grad_z = d_mlp.reshape([d, n]).transpose() + z.clone().mul_scalar(self.confinement);
        let quadratic = z
            .powi_scalar(2)
            .sum_dim(1)
            .mul_scalar(0.5 * self.confinement);
        let sd = from_f64::<B, 2>(self.sd.clone(), [1, d], &device);
        ((mlp + quadratic).reshape([n]), grad_z / sd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    fn model(dim: usize) -> EnergyModel<TestBackend> {
        let x: Vec<f64> = (0..40 * dim)
            .map(|i| ((i * 7919) % 23) as f64 * 0.3 - 2.0)
            .collect();
        let config = EnergySpec {
            hidden: vec![8, 8],
            ..EnergySpec::default()
        }
        .build(&x, dim)
        .unwrap();
        seeded(config.init::<TestBackend>(&device()).unwrap(), 0.8, 5)
    }

    /// The tangent gradient against central differences of the energy.
    #[test]
    fn gradient_matches_central_differences() {
        let (n, d, h) = (6, 3, 1e-6);
        let model = model(d);
        let x = points(n, d, 1.5, 2);
        let (u, grad) = model.energy_and_gradient(tensor(&x, n, d));
        assert_eq!(values(u.clone()), values(model.energy(tensor(&x, n, d))));
        let grad = values(grad);
        for k in 0..n * d {
            let shifted = |s: f64| {
                let mut p = x.clone();
                p[k] += s * h;
                values(model.energy(tensor(&p, n, d)))[k / d]
            };
            let numeric = (shifted(1.0) - shifted(-1.0)) / (2.0 * h);
            assert_close(grad[k], numeric, 1e-7, "∇E");
        }
    }

    #[test]
    fn refuses_constant_coordinates_and_bad_settings() {
        let flat = vec![1.0, 2.0, 1.0, 3.0, 1.0, 4.0];
        let error = EnergySpec::default().build(&flat, 2).unwrap_err();
        assert!(error.to_string().contains("coordinate 0"), "{error}");
        let bad = EnergySpec {
            confinement: f64::NAN,
            ..EnergySpec::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("confinement")
        );
        let empty = EnergySpec {
            hidden: vec![],
            ..EnergySpec::default()
        };
        assert!(empty.validate().is_err());
    }
}
