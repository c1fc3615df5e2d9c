//! The time-gated vector field of Máté & Fleuret (TMLR 2023):
//! V_t(x) = Σ_k w_k(t) MLP_k([x, t]), w_k(t) = exp(−s (t − c_k)²).

use super::tangent::scale_tangents;
use super::{TimeDependent, TimeMlp, TimeMlpConfig};
use crate::backend::FlowBackend;
use crate::flow::Activation;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration of a [`GatedField`]. The published settings: 4 gates of sharpness 16, swish,
/// hidden 64×2 for the 2-D mixtures and 128×3 for the double well.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatedFieldConfig {
    /// Dimension d of the space.
    pub dim: usize,
    /// Hidden widths of each MLP.
    pub hidden: Vec<usize>,
    /// Number K of MLPs, with gate centres c_k evenly spaced over [0, 1] (0.5 when K = 1).
    #[serde(default = "four")]
    pub gates: usize,
    /// Sharpness s of the gates exp(−s (t − c_k)²); 0 makes every gate 1.
    #[serde(default = "sixteen")]
    pub sharpness: f64,
    /// Activation of the MLPs.
    #[serde(default = "super::silu")]
    pub activation: Activation,
    /// Initialise the output layers to zero, so the field starts at zero (the identity flow).
    #[serde(default = "crate::defaults::yes")]
    pub zero_output: bool,
}

fn four() -> usize {
    4
}

fn sixteen() -> f64 {
    16.0
}

impl GatedFieldConfig {
    /// The published field in `dim` dimensions with these hidden widths.
    pub fn new(dim: usize, hidden: Vec<usize>) -> Self {
        GatedFieldConfig {
            dim,
            hidden,
            gates: four(),
            sharpness: sixteen(),
            activation: Activation::Silu,
            zero_output: true,
        }
    }

    /// Builds the field on `device`.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<GatedField<B>> {
        if self.gates == 0 {
            return Err(crate::Error::InvalidArgument(
                "a gated vector field needs at least one gate; set `gates` ≥ 1 (4 published)"
                    .into(),
            ));
        }
        if !(self.sharpness.is_finite() && self.sharpness >= 0.0) {
            return Err(crate::Error::InvalidArgument(format!(
                "the gate sharpness must be finite and ≥ 0 (16 published); got {}",
                self.sharpness
            )));
        }
        let net = TimeMlpConfig {
            dim: self.dim,
            hidden: self.hidden.clone(),
            d_output: self.dim,
            activation: self.activation,
            zero_output: self.zero_output,
        };
        let nets = (0..self.gates)
            .map(|_| net.init(device))
            .collect::<crate::Result<_>>()?;
        let centers = match self.gates {
            1 => vec![0.5],
            k => (0..k).map(|i| i as f64 / (k - 1) as f64).collect(),
        };
        Ok(GatedField {
            nets,
            centers,
            sharpness: self.sharpness,
        })
    }
}

/// V_t(x) = Σ_k w_k(t) MLP_k([x, t]) with Gaussian time gates w_k(t) = exp(−s (t − c_k)²).
#[derive(Module, Debug)]
pub struct GatedField<B: FlowBackend> {
    nets: Vec<TimeMlp<B>>,
    centers: Vec<f64>,
    sharpness: f64,
}

impl<B: FlowBackend> GatedField<B> {
    /// Gate k and its time derivative at each time `t` (`[n]`), as `[n, 1]` columns.
    fn gate(&self, k: usize, t: &Tensor<B, 1>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let offset = t.clone().sub_scalar(self.centers[k]).unsqueeze_dim(1);
        let gate = offset
            .clone()
            .powi_scalar(2)
            .mul_scalar(-self.sharpness)
            .exp();
        let slope = offset.mul_scalar(-2.0 * self.sharpness) * gate.clone();
        (gate, slope)
    }
}

impl<B: FlowBackend> TimeDependent<B> for GatedField<B> {
    fn dim(&self) -> usize {
        self.nets[0].dim()
    }

    fn dim_output(&self) -> usize {
        self.nets[0].dim_output()
    }

    fn forward(&self, x: Tensor<B, 2>, t: Tensor<B, 1>) -> Tensor<B, 2> {
        let terms = self.nets.iter().enumerate().map(|(k, net)| {
            let (gate, _) = self.gate(k, &t);
            net.forward(x.clone(), t.clone()) * gate
        });
        terms.reduce(|a, b| a + b).expect("at least one gate")
    }

    fn jvp(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        vx: Tensor<B, 3>,
        vt: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Tensor<B, 3>) {
        let terms = self.nets.iter().enumerate().map(|(k, net)| {
            let (gate, slope) = self.gate(k, &t);
            let (value, tangents) = net.jvp(x.clone(), t.clone(), vx.clone(), vt.clone());
            // d(w V_k) = w dV_k + ẇ ṫ V_k.
            let [m, n, d] = tangents.dims();
            let mut tangents = scale_tangents(tangents, gate.clone().expand([n, d]));
            if let Some(vt) = &vt {
                let rates = vt.clone().unsqueeze_dim::<3>(2).expand([m, n, d]);
                tangents = tangents + scale_tangents(rates, slope * value.clone());
            }
            (value * gate, tangents)
        });
        terms
            .reduce(|(a, da), (b, db)| (a + b, da + db))
            .expect("at least one gate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::continuous::test_support::*;
    use crate::flow::testing::*;

    #[test]
    fn jvp_matches_central_differences() {
        for activation in [Activation::Silu, Activation::Tanh] {
            let field: GatedField<TestBackend> = random_field(3, activation);
            assert_jvp_matches_differences(&field);
        }
    }

    /// The published gates: four centres 0, 1/3, 2/3, 1 and exp(−16 (t − c)²).
    #[test]
    fn gates_follow_the_published_formula() {
        let field: GatedField<TestBackend> = random_field(2, Activation::Silu);
        assert_eq!(field.centers, vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
        let t = [0.0, 0.3, 0.75];
        for k in 0..4 {
            let (gate, slope) = field.gate(k, &tensor1(&t));
            for ((g, s), t) in values(gate).iter().zip(values(slope)).zip(t) {
                let offset: f64 = t - field.centers[k];
                let expected = (-16.0 * offset * offset).exp();
                assert_close(*g, expected, 1e-14, "gate");
                assert_close(s, -32.0 * offset * expected, 1e-14, "gate slope");
            }
        }
    }

    #[test]
    fn rejects_bad_gates() {
        let bad_count = GatedFieldConfig {
            gates: 0,
            ..GatedFieldConfig::new(2, vec![8])
        };
        let bad_sharpness = GatedFieldConfig {
            sharpness: -1.0,
            ..GatedFieldConfig::new(2, vec![8])
        };
        for (config, message) in [
            (bad_count, "at least one gate"),
            (bad_sharpness, "sharpness"),
        ] {
            let error = config
                .init::<TestBackend>(&device())
                .unwrap_err()
                .to_string();
            assert!(error.contains(message), "{error}");
        }
    }
}
