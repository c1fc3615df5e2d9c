//! The potential flow of VAPO: a time-dependent scalar potential Φ_θ(z, t) whose gradient
//! carries the prior N(0, I) to the data along ż = ∇Φ, on standardised coordinates.

use super::GaussianPath;
use crate::backend::FlowBackend;
use crate::ebm::scales::{column_scales, standardise, unstandardise};
use crate::flow::{
    Activation, Density, Rk4Config, SolverConfig, TimeDependent, TimeMlp, TimeMlpConfig, from_f64,
    rerooted,
};
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// The potential of a VAPO run, as the training configuration writes it (`potential: (...)`).
///
/// ```ron
/// potential: (hidden: [64, 64, 64], sigma: 0.02, solver: Rk4((steps: 50))),
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PotentialSpec {
    /// Hidden widths of the MLP on [z, t].
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Activation: `Silu` (default) or `Tanh`. Not `Relu`: the log density integrates the
    /// Laplacian of Φ, which is zero almost everywhere for a ReLU network.
    #[serde(default = "silu")]
    pub activation: Activation,
    /// σ, the width of the Gaussian around each data point at t = 1, in standard deviations
    /// of the data: the learnt density is the data's smoothed by about this much.
    #[serde(default = "crate::defaults::real::<2, 100>")]
    pub sigma: f64,
    /// The ODE solver of sampling and log q (RK4 with 50 steps by default).
    #[serde(default = "default_solver")]
    pub solver: SolverConfig,
}

fn default_hidden() -> Vec<usize> {
    vec![64, 64, 64]
}

fn silu() -> Activation {
    Activation::Silu
}

fn default_solver() -> SolverConfig {
    SolverConfig::Rk4(Rk4Config { steps: 50 })
}

impl Default for PotentialSpec {
    fn default() -> Self {
        PotentialSpec {
            hidden: default_hidden(),
            activation: silu(),
            sigma: 0.02,
            solver: default_solver(),
        }
    }
}

impl PotentialSpec {
    /// Checks the widths, the activation, σ and the solver.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::InvalidArgument(format!(
                "potential: `hidden` needs at least one positive width, not {:?}",
                self.hidden
            )));
        }
        if self.activation == Activation::Relu {
            return Err(Error::InvalidArgument(
                "potential: `activation: Relu` has no second derivative, which log q needs; \
                 use Silu or Tanh"
                    .into(),
            ));
        }
        GaussianPath::new(self.sigma)?;
        self.solver.validate()
    }

    /// The explicit model configuration for data `x` (`n × dim`), standardised by its
    /// per-coordinate mean and standard deviation; `periodic` when the coordinates are angles.
    pub fn build(&self, x: &[f64], dim: usize, periodic: bool) -> Result<PotentialFlowConfig> {
        self.validate()?;
        let (mean, sd) = column_scales(x, dim, "the potential's training samples")?;
        Ok(PotentialFlowConfig {
            spec: self.clone(),
            mean,
            sd,
            periodic,
        })
    }
}

/// Everything needed to rebuild a [`PotentialFlow`], saved in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PotentialFlowConfig {
    /// The architecture.
    pub spec: PotentialSpec,
    /// Per-coordinate mean of the training data.
    pub mean: Vec<f64>,
    /// Per-coordinate standard deviation of the training data.
    pub sd: Vec<f64>,
    /// The coordinates are angles: the model's density is wrapped onto the torus.
    #[serde(default)]
    pub periodic: bool,
}

impl PotentialFlowConfig {
    /// Builds the model on `device`. Φ starts at zero, so the model starts as the prior.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> Result<PotentialFlow<B>> {
        self.spec.validate()?;
        let net = TimeMlpConfig::new(self.mean.len(), self.spec.hidden.clone(), 1)
            .with_activation(self.spec.activation)
            .init(device)?;
        Ok(PotentialFlow {
            net,
            mean: self.mean.clone(),
            sd: self.sd.clone(),
            sigma: self.spec.sigma,
            solver: self.spec.solver.clone(),
            periodic: self.periodic,
        })
    }
}

/// x = mean + sd · z(1), where ż = ∇Φ_θ(z, t) from z(0) ~ N(0, I); its log density is
/// log q(x) = log N(z(0)) − ∫₀¹ ΔΦ_θ dt − Σ log sd.
///
/// For angles (`periodic`) the density is that of x wrapped onto the torus,
/// q_w(θ) = Σ_k q(θ + 2πk), summed over the images k ∈ {−1, 0, 1}^dim of θ reduced into
/// [mean − π, mean + π) (the data, and so q, lie within one period of their mean), and samples are
/// wrapped into [−π, π).
#[derive(Module, Debug)]
pub struct PotentialFlow<B: FlowBackend> {
    net: TimeMlp<B>,
    mean: Vec<f64>,
    sd: Vec<f64>,
    sigma: f64,
    solver: SolverConfig,
    periodic: bool,
}

impl<B: FlowBackend> PotentialFlow<B> {
    /// The conditional path the potential is trained along.
    pub fn path(&self) -> Result<GaussianPath> {
        GaussianPath::new(self.sigma)
    }

    /// The standardised coordinates of `x` (`[n, dim]`).
    pub fn standardise(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        standardise(x, &self.mean, &self.sd)
    }

    /// Per-coordinate mean and standard deviation of the training data.
    pub fn scales(&self) -> (&[f64], &[f64]) {
        (&self.mean, &self.sd)
    }

    /// Φ and ∇_zΦ at standardised points `z` (`[n, d]`) and times `t` (`[n]`), differentiable
    /// with respect to the parameters: `([n], [n, d])`.
    pub fn potential_and_velocity(
        &self,
        z: Tensor<B, 2>,
        t: Tensor<B, 1>,
    ) -> (Tensor<B, 1>, Tensor<B, 2>) {
        let (phi, gradient, _) = self.net.value_and_gradient(z, t);
        (phi, gradient)
    }

    /// Carries standardised points from time `t0` to `t1` along ż = ∇Φ:
    /// `(z(t1), ∫ ΔΦ dt from t0 to t1)`.
    pub fn transport(
        &self,
        z: Tensor<B, 2>,
        t0: f64,
        t1: f64,
    ) -> Result<(Tensor<B, 2>, Tensor<B, 1>)> {
        let [n, _] = z.dims();
        let device = z.device();
        let net = rerooted(self.net.clone());
        let dynamics = |t: f64, z: Tensor<B, 2>| {
            let (_, velocity, laplacian) =
                net.potential_gradient_laplacian(z, Tensor::full([n], t, &device));
            (velocity, laplacian)
        };
        self.solver.solve(&dynamics, z, t0, t1)
    }

    /// log N(z; 0, I) of each row, minus Σ log sd: the prior's log density carried to x units.
    fn log_prior(&self, z: Tensor<B, 2>) -> Tensor<B, 1> {
        let [n, d] = z.dims();
        let constant = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()
            + self.sd.iter().map(|s| s.ln()).sum::<f64>();
        z.powi_scalar(2)
            .sum_dim(1)
            .reshape([n])
            .mul_scalar(-0.5)
            .sub_scalar(constant)
    }
}

/// Panics with the solver's message where [`PotentialFlow::transport`] fails (the adaptive
/// solver's step budget, or a field that blew up), as the continuous flows do.
fn solved<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("potential flow: {e}"))
}

impl<B: FlowBackend> Density<B> for PotentialFlow<B> {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn sample(&self, n: usize) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let device = self.net.devices()[0].clone();
        let z0 = Tensor::<B, 2>::random([n, self.dim()], Distribution::Normal(0.0, 1.0), &device);
        let (z1, integral) = solved(self.transport(z0.clone(), 0.0, 1.0));
        let x = unstandardise(z1, &self.mean, &self.sd);
        if self.periodic {
            let wrapped = wrap(x, &vec![0.0; self.dim()]);
            let log_q = self.log_prob(wrapped.clone());
            return (wrapped, log_q);
        }
        (x, self.log_prior(z0) - integral)
    }

    fn sample_points(&self, n: usize) -> Tensor<B, 2> {
        let device = self.net.devices()[0].clone();
        let z0 = Tensor::<B, 2>::random([n, self.dim()], Distribution::Normal(0.0, 1.0), &device);
        let (z1, _) = solved(self.transport(z0, 0.0, 1.0));
        let x = unstandardise(z1, &self.mean, &self.sd);
        if self.periodic {
            wrap(x, &vec![0.0; self.dim()])
        } else {
            x
        }
    }

    fn log_prob(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        if !self.periodic {
            return self.log_prob_on_the_plane(x);
        }
        let [n, d] = x.dims();
        let reduced = wrap(x, &self.mean);
        let device = reduced.device();
        let images: Vec<Tensor<B, 2>> = periodic_images(d)
            .into_iter()
            .map(|shift| reduced.clone() + from_f64::<B, 2>(shift, [1, d], &device))
            .collect();
        let m = images.len();
        let log_q = self
            .log_prob_on_the_plane(Tensor::cat(images, 0))
            .reshape([m, n]);
        let top = log_q.clone().detach().max_dim(0);
        (log_q - top.clone())
            .exp()
            .sum_dim(0)
            .log()
            .add(top)
            .reshape([n])
    }
}

impl<B: FlowBackend> PotentialFlow<B> {
    /// log q(x) of the unwrapped model: one backward solve.
    fn log_prob_on_the_plane(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        // Backwards, the integral ∫₁⁰ ΔΦ dt is minus the forward one.
        let (z0, integral) = solved(self.transport(self.standardise(x), 1.0, 0.0));
        self.log_prior(z0) + integral
    }
}

/// Each coordinate of `x` (`[n, d]`) reduced into [centre_j − π, centre_j + π).
fn wrap<B: FlowBackend>(x: Tensor<B, 2>, centre: &[f64]) -> Tensor<B, 2> {
    use std::f64::consts::PI;
    let device = x.device();
    let low: Vec<f64> = centre.iter().map(|c| c - PI).collect();
    let low = from_f64::<B, 2>(low, [1, centre.len()], &device);
    let shifted = x - low.clone();
    let turns = shifted.clone().div_scalar(2.0 * PI).floor();
    shifted - turns.mul_scalar(2.0 * PI) + low
}

/// The shifts 2πk, k ∈ {−1, 0, 1}^d, each as a row of d values.
fn periodic_images(d: usize) -> Vec<Vec<f64>> {
    use std::f64::consts::PI;
    (0..3_usize.pow(d as u32))
        .map(|mut code| {
            (0..d)
                .map(|_| {
                    let k = (code % 3) as f64 - 1.0;
                    code /= 3;
                    2.0 * PI * k
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;

    fn flow() -> PotentialFlow<TestBackend> {
        let x: Vec<f64> = (0..60)
            .map(|i| ((i * 7919) % 23) as f64 * 0.3 - 2.0)
            .collect();
        let spec = PotentialSpec {
            hidden: vec![8, 8],
            solver: SolverConfig::Rk4(Rk4Config { steps: 200 }),
            ..PotentialSpec::default()
        };
        seeded(
            spec.build(&x, 2, false).unwrap().init(&device()).unwrap(),
            0.4,
            9,
        )
    }

    /// log q of the samples equals log_prob of the same points, and both integrate to one
    /// (a moving, volume-changing map, checked on a quadrature grid).
    #[test]
    fn sample_and_log_prob_agree_and_normalise() {
        let flow = flow();
        let (x, log_q) = flow.sample(16);
        for (a, b) in values(log_q).iter().zip(values(flow.log_prob(x))) {
            assert!(
                (a - b).abs() < 1e-6,
                "log q {a} from sample, {b} from log_prob"
            );
        }
        let (mean, sd) = flow.scales();
        let (m, half) = (60, 7.0);
        let h = 2.0 * half / m as f64;
        let grid: Vec<f64> = (0..m * m)
            .flat_map(|k| {
                let (i, j) = (k / m, k % m);
                [
                    mean[0] + sd[0] * (-half + (i as f64 + 0.5) * h),
                    mean[1] + sd[1] * (-half + (j as f64 + 0.5) * h),
                ]
            })
            .collect();
        let log_q = values(flow.log_prob(tensor(&grid, m * m, 2)));
        let mass: f64 = log_q.iter().map(|l| l.exp()).sum::<f64>() * h * h * sd[0] * sd[1];
        // The prior's log density on the same grid: the map must change it.
        let log_prior: Vec<f64> = grid
            .chunks(2)
            .map(|p| {
                let z = [(p[0] - mean[0]) / sd[0], (p[1] - mean[1]) / sd[1]];
                -0.5 * (z[0] * z[0] + z[1] * z[1])
                    - (2.0 * std::f64::consts::PI * sd[0] * sd[1]).ln()
            })
            .collect();
        let change = log_q
            .iter()
            .zip(&log_prior)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            change > 1.0,
            "a trivial map: log q moved by at most {change}"
        );
        assert!((mass - 1.0).abs() < 1e-6, "∫q = {mass}");
    }

    /// On angles the wrapped density is periodic, agrees with the samples' log q (and the
    /// samples drawn without it are the same points), and integrates to one over the torus (midpoint rule, spectrally accurate for a smooth periodic function).
    #[test]
    fn wrapped_density_is_periodic_and_normalised() {
        use std::f64::consts::PI;
        // Angles spread over about one period around (−1.5, 1.0).
        let x: Vec<f64> = (0..80)
            .map(|i| ((i * 7919) % 23) as f64 * 0.2 - 2.2 + if i % 2 == 0 { -1.5 } else { 1.0 })
            .collect();
        let spec = PotentialSpec {
            hidden: vec![8, 8],
            solver: SolverConfig::Rk4(Rk4Config { steps: 100 }),
            ..PotentialSpec::default()
        };
        let config = spec.build(&x, 2, true).unwrap();
        let flow: PotentialFlow<TestBackend> = seeded(config.init(&device()).unwrap(), 0.4, 9);
        TestBackend::seed(&device(), 5);
        let (samples, log_q) = flow.sample(8);
        let samples = values(samples);
        assert!(samples.iter().all(|v| (-PI..PI).contains(v)), "{samples:?}");
        // Without log q, the same points from the same draws.
        TestBackend::seed(&device(), 5);
        assert_eq!(values(flow.sample_points(8)), samples);
        let again = values(flow.log_prob(tensor(&samples, 8, 2)));
        let turned: Vec<f64> = samples.iter().map(|v| v + 2.0 * PI).collect();
        let shifted = values(flow.log_prob(tensor(&turned, 8, 2)));
        for ((a, b), c) in values(log_q).iter().zip(&again).zip(&shifted) {
            assert!(
                (a - b).abs() < 1e-9 && (a - c).abs() < 1e-9,
                "{a}, {b}, {c}"
            );
        }
        let m = 48;
        let h = 2.0 * PI / m as f64;
        let grid: Vec<f64> = (0..m * m)
            .flat_map(|k| {
                [
                    -PI + ((k / m) as f64 + 0.5) * h,
                    -PI + ((k % m) as f64 + 0.5) * h,
                ]
            })
            .collect();
        let log_q = values(flow.log_prob(tensor(&grid, m * m, 2)));
        let mass: f64 = log_q.iter().map(|l| l.exp()).sum::<f64>() * h * h;
        assert!((mass - 1.0).abs() < 1e-4, "∫q_w = {mass}");
    }

    #[test]
    fn refuses_relu_and_bad_widths() {
        let relu = PotentialSpec {
            activation: Activation::Relu,
            ..PotentialSpec::default()
        };
        assert!(relu.validate().unwrap_err().to_string().contains("Relu"));
        let sigma = PotentialSpec {
            sigma: 2.0,
            ..PotentialSpec::default()
        };
        assert!(sigma.validate().unwrap_err().to_string().contains("sigma"));
    }
}
