//! The networks of the estimator, in one module so that one optimiser and one checkpoint hold
//! them: the transport field, the two classifiers that estimate its KL terms, the ratio network
//! and the single-classifier baseline.

use super::DreConfig;
use super::ratio::RatioNetwork;
use crate::backend::FlowBackend;
use crate::flow::{
    Activation, GatedField, GatedFieldConfig, Mlp, MlpConfig, Rk4Config, SolverConfig,
    TimeDependent, rerooted,
};
use burn::prelude::*;
use burn::tensor::activation::softplus;

/// The networks, for samples of dimension `dim`.
#[derive(Module, Debug)]
pub struct DreModel<B: FlowBackend> {
    /// V_t(x), the velocity of the flow carrying P (t = 0) to Q (t = 1).
    pub field: GatedField<B>,
    /// Logit ≈ log(T#P / Q): the KL term of the forward map.
    pub forward_classifier: Mlp<B>,
    /// Logit ≈ log(T⁻¹#Q / P): the KL term of the inverse map.
    pub backward_classifier: Mlp<B>,
    /// r(x, t) ≈ ∂ₜ log ρ_t(x).
    pub ratio: RatioNetwork<B>,
    /// Logit ≈ log(Q / P) from one classifier between the two sample sets (the baseline).
    pub direct_classifier: Mlp<B>,
}

impl<B: FlowBackend> DreModel<B> {
    /// Fresh networks (fields and logits start at zero).
    pub fn new(config: &DreConfig, dim: usize, device: &B::Device) -> crate::Result<Self> {
        let mut field = GatedFieldConfig::new(dim, config.field_hidden.clone());
        field.gates = config.field_gates;
        let classifier = || {
            MlpConfig::new(dim, config.classifier_hidden.clone(), 1)
                .with_activation(Activation::Silu)
                .init(device)
        };
        Ok(DreModel {
            field: field.init(device)?,
            forward_classifier: classifier(),
            backward_classifier: classifier(),
            ratio: RatioNetwork::new(
                dim,
                config.ratio_hidden.clone(),
                config.ratio_quadratic_rank,
                device,
            )?,
            direct_classifier: classifier(),
        })
    }
}

/// The positions at the nodes t_k = k/K of the flow's RK4 solve (K = `steps`): from t = 0 to 1
/// when `forward` (x from P), from t = 1 to 0 otherwise (x from Q). Node k of the result is at
/// time k/K when forward and (K − k)/K otherwise.
pub fn trajectory<B: FlowBackend>(
    field: &GatedField<B>,
    x: Tensor<B, 2>,
    steps: usize,
    forward: bool,
) -> Vec<Tensor<B, 2>> {
    let [n, _] = x.dims();
    let device = x.device();
    let field = rerooted(field.clone());
    let dynamics = |t: f64, x: Tensor<B, 2>| {
        let velocity = field.forward(x, Tensor::full([n], t, &device));
        (velocity, Tensor::zeros([n], &device))
    };
    let one_step = SolverConfig::Rk4(Rk4Config { steps: 1 });
    let h = 1.0 / steps as f64;
    let mut nodes = vec![x];
    for k in 0..steps {
        let (t0, t1) = if forward {
            (k as f64 * h, (k + 1) as f64 * h)
        } else {
            (1.0 - k as f64 * h, 1.0 - (k + 1) as f64 * h)
        };
        let last = nodes.last().expect("the start").clone();
        let (next, _) = one_step
            .solve(&dynamics, last, t0, t1)
            .expect("fixed-step RK4 does not fail");
        nodes.push(next);
    }
    nodes
}

/// Σ_k ‖x(t_k) − x(t_{k−1})‖²/h per trajectory, `[n]`: the kinetic action of the discrete path,
/// at least W2²(P, T#P), with equality for the optimal map at constant speed.
pub fn path_cost<B: FlowBackend>(nodes: &[Tensor<B, 2>]) -> Tensor<B, 1> {
    let steps = nodes.len() - 1;
    nodes
        .windows(2)
        .map(|w| (w[1].clone() - w[0].clone()).powi_scalar(2).sum_dim(1))
        .reduce(|a, b| a + b)
        .expect("at least one step")
        .mul_scalar(steps as f64)
        .squeeze_dim(1)
}

/// Gauss–Legendre 2-point nodes on [0, 1] (exact for cubics in t on each interval).
const GAUSS_2: [f64; 2] = [0.211_324_865_405_187_1, 0.788_675_134_594_812_9];

/// ∫ r(x, t) dt over the interval k (of `steps`) for each row of x, `[n]`: the logit of the
/// classifier between the distributions at t_{k} and t_{k+1} (≈ log ρ_{k+1}/ρ_k).
pub fn interval_logit<B: FlowBackend>(
    ratio: &RatioNetwork<B>,
    x: Tensor<B, 2>,
    k: usize,
    steps: usize,
) -> Tensor<B, 1> {
    let [n, _] = x.dims();
    let device = x.device();
    let h = 1.0 / steps as f64;
    let times: Vec<Tensor<B, 1>> = GAUSS_2
        .iter()
        .map(|c| Tensor::full([n], (k as f64 + c) * h, &device))
        .collect();
    let both = ratio.forward(Tensor::cat(vec![x.clone(), x], 0), Tensor::cat(times, 0));
    let [first, second] = [0, 1].map(|i| both.clone().narrow(0, i * n, n));
    (first + second).mul_scalar(h / 2.0)
}

/// log q/p(x) = ∫₀¹ r(x, t) dt, `[n]`: the interval logits summed (they telescope).
pub fn log_ratio<B: FlowBackend>(
    ratio: &RatioNetwork<B>,
    x: Tensor<B, 2>,
    steps: usize,
) -> Tensor<B, 1> {
    (0..steps)
        .map(|k| interval_logit(ratio, x.clone(), k, steps))
        .reduce(|a, b| a + b)
        .expect("at least one interval")
}

/// The logistic loss of a classifier whose logit `positive` should be large and `negative`
/// small: mean softplus(−positive) + mean softplus(negative).
pub fn logistic_loss<B: FlowBackend>(
    positive: Tensor<B, 1>,
    negative: Tensor<B, 1>,
) -> Tensor<B, 1> {
    softplus(positive.neg(), 1.0).mean() + softplus(negative, 1.0).mean()
}

/// A classifier's logit for each row, `[n]`.
pub fn logit<B: FlowBackend>(classifier: &Mlp<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
    classifier.forward(x).squeeze_dim(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    /// With a zero field the trajectory stands still and costs nothing; the integral of a
    /// constant-in-time ratio network over the intervals is its value (the quadrature weights
    /// sum to the interval).
    #[test]
    fn zero_field_and_quadrature_weights() {
        let config = DreConfig::default();
        let model: DreModel<TestBackend> = DreModel::new(&config, 3, &device()).unwrap();
        let x = tensor(&points(5, 3, 1.0, 7), 5, 3);
        for forward in [true, false] {
            let nodes = trajectory(&model.field, x.clone(), 4, forward);
            assert_eq!(nodes.len(), 5);
            assert_eq!(values(nodes[4].clone()), values(x.clone()));
            assert!(values(path_cost(&nodes)).iter().all(|c| *c == 0.0));
        }
        assert!(
            values(log_ratio(&model.ratio, x, 4))
                .iter()
                .all(|v| *v == 0.0)
        );
    }

    /// The path cost of straight constant-speed nodes from a to b is ‖b − a‖².
    #[test]
    fn path_cost_of_a_straight_line() {
        let (a, b) = ([0.0, 1.0], [3.0, -3.0]);
        let nodes: Vec<Tensor<TestBackend, 2>> = (0..=4)
            .map(|k| {
                let s = k as f64 / 4.0;
                tensor(&[a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1])], 1, 2)
            })
            .collect();
        let cost = values(path_cost(&nodes))[0];
        assert!((cost - 25.0).abs() < 1e-9, "{cost}");
    }
}
