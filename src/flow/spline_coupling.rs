//! Rational-quadratic spline coupling: linear-tail splines for ordinary coordinates (Durkan et
//! al. 2019, "Neural Spline Flows") and circular splines for angles (Rezende et al. 2020,
//! "Normalizing flows on tori and spheres"), in one layer.

use super::columns::{check_flags, index_tensor, inverse_permutation};
use super::spline::{FlowBackend, MIN_BIN_SIZE, rational_quadratic};
use super::{Activation, Bijection, Mask, Mlp, MlpConfig, from_f64};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Configuration of a [`SplineCoupling`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplineCouplingConfig {
    /// Which coordinates are transformed (the others condition).
    pub mask: Mask,
    /// Which coordinates are angles in [−π, π) (empty: none). A transformed angle gets a
    /// circular spline; a conditioning angle enters the conditioner as (cos θ, sin θ).
    #[serde(default)]
    pub circular: Vec<bool>,
    /// Hidden widths of the conditioner.
    pub hidden: Vec<usize>,
    /// Activation of the conditioner.
    #[serde(default)]
    pub activation: Activation,
    /// Residual connections in the conditioner (see [`MlpConfig::with_residual`]).
    #[serde(default)]
    pub residual: bool,
    /// Number of bins K of each spline.
    #[serde(default = "default_bins")]
    pub bins: usize,
    /// Ordinary coordinates are splined on [−tail_bound, tail_bound] and left unchanged outside.
    #[serde(default = "default_tail_bound")]
    pub tail_bound: f64,
}

fn default_bins() -> usize {
    8
}

fn default_tail_bound() -> f64 {
    5.0
}

impl SplineCouplingConfig {
    /// A coupling with no angles, 8 bins, tail bound 5 and a ReLU conditioner without residual
    /// connections.
    pub fn new(mask: Mask, hidden: Vec<usize>) -> Self {
        SplineCouplingConfig {
            mask,
            circular: Vec::new(),
            hidden,
            activation: Activation::default(),
            residual: false,
            bins: default_bins(),
            tail_bound: default_tail_bound(),
        }
    }

    /// Sets which coordinates are angles.
    pub fn with_circular(mut self, circular: Vec<bool>) -> Self {
        self.circular = circular;
        self
    }

    /// Sets the number of bins.
    pub fn with_bins(mut self, bins: usize) -> Self {
        self.bins = bins;
        self
    }

    /// Sets the tail bound of the ordinary coordinates.
    pub fn with_tail_bound(mut self, tail_bound: f64) -> Self {
        self.tail_bound = tail_bound;
        self
    }

    /// Sets the activation of the conditioner.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets residual connections in the conditioner.
    pub fn with_residual(mut self, residual: bool) -> Self {
        self.residual = residual;
        self
    }

    /// Builds the layer; it starts as the identity.
    pub fn init<B: FlowBackend>(&self, device: &B::Device) -> crate::Result<SplineCoupling<B>> {
        self.mask.validate()?;
        let dim = self.mask.dim();
        let circular = if self.circular.is_empty() {
            vec![false; dim]
        } else {
            check_flags(
                &self.circular,
                dim,
                "the `circular` list of a spline coupling",
            )?;
            self.circular.clone()
        };
        let most_bins = (1.0 / MIN_BIN_SIZE) as usize - 1;
        if !(2..=most_bins).contains(&self.bins) {
            return Err(crate::Error::InvalidArgument(format!(
                "a spline coupling needs between 2 and {most_bins} bins; got {}",
                self.bins
            )));
        }
        if !(self.tail_bound.is_finite() && self.tail_bound > 0.0) {
            return Err(crate::Error::InvalidArgument(format!(
                "the tail bound of a spline coupling must be positive and finite; got {}",
                self.tail_bound
            )));
        }
        let columns = |transformed: bool, angle: bool| -> Vec<usize> {
            (0..dim)
                .filter(|&i| self.mask.0[i] == transformed && circular[i] == angle)
                .collect()
        };
        let (linear, angles) = (columns(true, false), columns(true, true));
        let (linear_conditioning, angle_conditioning) =
            (columns(false, false), columns(false, true));
        let bins = self.bins;
        let transformed = [linear.as_slice(), &angles].concat();
        let conditioning = [linear_conditioning.as_slice(), &angle_conditioning].concat();
        let unsort = inverse_permutation(&[transformed.as_slice(), &conditioning].concat());

        let d_input = linear_conditioning.len() + 2 * angle_conditioning.len();
        let d_output = transformed.len() * (3 * bins - 1) + angles.len();
        let conditioner = MlpConfig::new(d_input, self.hidden.clone(), d_output)
            .with_activation(self.activation)
            .with_residual(self.residual)
            .init(device);
        let interval = |linear_value: f64, angle_value: f64| {
            let values = [
                vec![linear_value; linear.len()],
                vec![angle_value; angles.len()],
            ]
            .concat();
            from_f64(values, [1, transformed.len()], device)
        };
        Ok(SplineCoupling {
            conditioner,
            lower: interval(-self.tail_bound, -PI),
            width: interval(2.0 * self.tail_bound, 2.0 * PI),
            transformed: index_tensor(&transformed, device),
            conditioning: index_tensor(&conditioning, device),
            unsort: index_tensor(&unsort, device),
            linear: linear.len(),
            angles: angles.len(),
            linear_conditioning: linear_conditioning.len(),
            bins,
        })
    }
}

/// x_T = g(z_T; z_C) on the transformed coordinates T, identity on the conditioning ones C, where
/// g is a monotone rational-quadratic spline per coordinate whose bins and knot derivatives come
/// from an MLP of z_C.
///
/// An ordinary coordinate is splined on [−B, B] with derivative 1 at both ends and left
/// unchanged outside (linear tails). An angle is splined on [−π, π] with the same learned
/// derivative at both ends, which makes the map a smooth diffeomorphism of the circle; angles
/// must lie in [−π, π] (values outside are left unchanged). A zero conditioner output gives
/// equal bins and unit derivatives: the identity.
///
/// The conditioner output holds, per transformed coordinate, K raw widths, K raw heights and
/// K − 1 raw interior derivatives, then one raw end derivative per transformed angle.
#[derive(Module, Debug)]
pub struct SplineCoupling<B: FlowBackend> {
    conditioner: Mlp<B>,
    /// Lower end of each transformed coordinate's interval `[1, T]`.
    lower: Tensor<B, 2>,
    /// Width of each transformed coordinate's interval `[1, T]`.
    width: Tensor<B, 2>,
    /// Columns of the transformed coordinates: ordinary ones, then angles.
    transformed: Tensor<B, 1, Int>,
    /// Columns of the conditioning coordinates: ordinary ones, then angles.
    conditioning: Tensor<B, 1, Int>,
    /// Puts the columns `[transformed, conditioning]` back in their original order.
    unsort: Tensor<B, 1, Int>,
    /// Number of transformed ordinary coordinates.
    linear: usize,
    /// Number of transformed angles.
    angles: usize,
    /// Number of conditioning ordinary coordinates (the rest of the conditioning are angles).
    linear_conditioning: usize,
    bins: usize,
}

impl<B: FlowBackend> SplineCoupling<B> {
    /// The conditioner's input: ordinary conditioning coordinates as they are, angles as their
    /// cosines and sines.
    fn features(&self, kept: Tensor<B, 2>) -> Tensor<B, 2> {
        let total = kept.dims()[1];
        let mut parts = Vec::with_capacity(3);
        if self.linear_conditioning > 0 {
            parts.push(kept.clone().slice_dim(1, 0..self.linear_conditioning));
        }
        if total > self.linear_conditioning {
            let angles = kept.slice_dim(1, self.linear_conditioning..total);
            parts.push(angles.clone().cos());
            parts.push(angles.sin());
        }
        Tensor::cat(parts, 1)
    }

    /// The packed parameters `[n, T, 3K]` of the splines of the transformed coordinates, on
    /// [0, 1], given the conditioning ones (see [`rational_quadratic`]).
    fn splines(&self, kept: Tensor<B, 2>) -> Tensor<B, 3> {
        let out = self.conditioner.forward(self.features(kept));
        let n = out.dims()[0];
        let (t, k) = (self.linear + self.angles, self.bins);
        let per_coordinate =
            out.clone()
                .slice_dim(1, 0..t * (3 * k - 1))
                .reshape([n, t, 3 * k - 1]);
        // Raw end derivatives: 0 (derivative 1, for linear tails) for ordinary coordinates,
        // learned for angles.
        let mut ends = Vec::with_capacity(2);
        if self.linear > 0 {
            ends.push(Tensor::zeros([n, self.linear], &out.device()));
        }
        if self.angles > 0 {
            ends.push(out.slice_dim(1, t * (3 * k - 1)..t * (3 * k - 1) + self.angles));
        }
        Tensor::cat(
            vec![per_coordinate, Tensor::cat(ends, 1).unsqueeze_dim::<3>(2)],
            2,
        )
    }

    /// Applies the splines (or their inverses) to the transformed coordinates of `input`.
    fn transform(&self, input: Tensor<B, 2>, inverse: bool) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let kept = input.clone().select(1, self.conditioning.clone());
        let splines = self.splines(kept.clone());
        let moved = input.select(1, self.transformed.clone());
        let upper = self.lower.clone() + self.width.clone();
        let inside = moved
            .clone()
            .greater_equal(self.lower.clone())
            .bool_and(moved.clone().lower_equal(upper));
        // Clamped so that points outside stay finite (and their masked gradients zero).
        let unit = ((moved.clone() - self.lower.clone()) / self.width.clone()).clamp(0.0, 1.0);
        let (image, log_derivative) = rational_quadratic(splines, unit, inverse);
        let image = image * self.width.clone() + self.lower.clone();
        let moved = moved.mask_where(inside.clone(), image);
        let log_det = log_derivative
            .mask_fill(inside.bool_not(), 0.0)
            .sum_dim(1)
            .squeeze_dim(1);
        let output = Tensor::cat(vec![moved, kept], 1).select(1, self.unsort.clone());
        (output, log_det)
    }
}

impl<B: FlowBackend> Bijection<B> for SplineCoupling<B> {
    fn forward(&self, z: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        self.transform(z, false)
    }

    fn inverse(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        self.transform(x, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::alternating_mask;
    use crate::flow::testing::*;
    use burn::module::AutodiffModule;

    /// Coordinates 0 and 2 transformed, 1 and 3 conditioning; 2 and 3 are angles.
    fn mixed_config() -> SplineCouplingConfig {
        SplineCouplingConfig::new(alternating_mask(4, true), vec![16, 16])
            .with_circular(vec![false, false, true, true])
            .with_bins(6)
            .with_tail_bound(3.0)
            .with_activation(Activation::Tanh)
            .with_residual(true)
    }

    fn mixed_layer() -> SplineCoupling<TestBackend> {
        randomized(mixed_config().init(&device()).unwrap(), 0.3)
    }

    /// n points with ordinary coordinates in [−4, 4] (tails included) and angles in [−π, π).
    fn mixed_points(n: usize, seed: u64) -> Vec<f64> {
        let mut z = points(n, 4, 4.0, seed);
        for row in z.chunks_mut(4) {
            row[2] *= 0.99 * PI / 4.0;
            row[3] *= 0.99 * PI / 4.0;
        }
        z
    }

    #[test]
    fn starts_as_the_identity() {
        let layer = mixed_config().init::<TestBackend>(&device()).unwrap();
        let z = mixed_points(10, 1);
        assert_identity(&layer, &z, 10, 4, 1e-14);
    }

    #[test]
    fn round_trip_and_log_det() {
        let layer = mixed_layer();
        let z = mixed_points(30, 2);
        assert_round_trip(&layer, &z, 30, 4, 1e-10);
        assert_log_det_matches_jacobian(&layer, &z, 30, 4, 1e-6);
    }

    #[test]
    fn linear_tails_increasing_onto_the_interval_identity_outside() {
        let config = SplineCouplingConfig::new(alternating_mask(2, true), vec![8]);
        let layer = randomized(config.init::<TestBackend>(&device()).unwrap(), 1.0);
        let b = config.tail_bound;
        // One conditioning value; the transformed coordinate sweeps [−2B, 2B].
        let n = 801;
        let z: Vec<f64> = (0..n)
            .flat_map(|i| [4.0 * b * (i as f64 / (n - 1) as f64 - 0.5), 0.7])
            .collect();
        let (x, log_det) = layer.forward(tensor(&z, n, 2));
        let (x, log_det) = (values(x), values(log_det));
        assert!((1..n).all(|i| x[2 * i] > x[2 * (i - 1)]), "not increasing");
        let (first, last) = (n / 4, 3 * n / 4);
        assert_eq!(z[2 * first], -b);
        assert_eq!(z[2 * last], b);
        assert!((x[2 * first] + b).abs() < 1e-14 && (x[2 * last] - b).abs() < 1e-14);
        for i in (0..first).chain(last + 1..n) {
            assert_eq!(x[2 * i], z[2 * i], "not the identity outside [−B, B]");
            assert_eq!(log_det[i], 0.0);
        }
        // The derivative is continuous at ±B: 1 on both sides.
        let inner = [-b + 1e-9, 0.7, b - 1e-9, 0.7];
        let log_det = values(layer.forward(tensor(&inner, 2, 2)).1);
        assert!(log_det.iter().all(|l| l.abs() < 1e-6), "{log_det:?}");
        // The spline is not trivial inside.
        assert!((first..last).any(|i| (x[2 * i] - z[2 * i]).abs() > 1e-2));
    }

    #[test]
    fn circular_splines_are_smooth_maps_of_the_circle() {
        let layer = mixed_layer();
        let eps = 1e-7;
        // Angle 2 transformed near −π and near π, with the same conditioning (1 ordinary, 3
        // angle); coordinate 0 in the tail, so that the log-determinant is the angle's alone.
        let z = [[4.0, -1.2, -PI + eps, 2.0], [4.0, -1.2, PI - eps, 2.0]].concat();
        let (x, log_det) = layer.forward(tensor(&z, 2, 4));
        let (x, log_det) = (values(x), values(log_det));
        // Both ends are fixed, so f(π − ε) ≈ f(−π + ε) + 2π, with equal derivatives there.
        assert!((x[6] - x[2] - 2.0 * PI).abs() < 1e-5, "{} {}", x[2], x[6]);
        assert!((log_det[0] - log_det[1]).abs() < 1e-5, "{log_det:?}");
        // ... which were learned: not 1.
        assert!(log_det[0].abs() > 1e-3);
        // [−π, π) maps into [−π, π].
        let n = 200;
        let z = mixed_points(n, 3);
        let (x, _) = layer.forward(tensor(&z, n, 4));
        for row in values(x).chunks(4) {
            assert!(row[2].abs() <= PI && row[3].abs() <= PI);
        }
    }

    #[test]
    fn angles_condition_through_cosine_and_sine() {
        // A conditioning angle of −π and of π is the same point of the circle.
        let layer = mixed_layer();
        let z = [0.5, 0.1, 1.0, -PI, 0.5, 0.1, 1.0, PI];
        let x = values(layer.forward(tensor(&z, 2, 4)).0);
        for c in 0..3 {
            assert!((x[c] - x[4 + c]).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_configurations_are_refused() {
        let base = || SplineCouplingConfig::new(alternating_mask(4, true), vec![8]);
        let device = device();
        let refused = |c: SplineCouplingConfig| c.init::<TestBackend>(&device).is_err();
        assert!(refused(base().with_bins(1)));
        assert!(refused(base().with_tail_bound(0.0)));
        assert!(refused(base().with_circular(vec![true])));
    }

    #[test]
    fn gradients_match_finite_differences() {
        type Ad = burn::backend::Autodiff<TestBackend>;
        let inner = mixed_layer();
        let mut layer = SplineCoupling::<Ad>::from_inner(inner.clone());
        // The weight whose gradient is checked (`randomized` drops the gradient flags).
        let weight = layer.conditioner.output.weight.val();
        layer.conditioner.output.weight = burn::module::Param::from_tensor(weight);
        let z = mixed_points(8, 4);
        // d/dθ Σ (log|det| + x) for one output weight θ of the conditioner, both directions.
        for inverse in [false, true] {
            let loss = |l: &SplineCoupling<Ad>| {
                let input = Tensor::from_inner(tensor(&z, 8, 4));
                let (x, log_det) = if inverse {
                    l.inverse(input)
                } else {
                    l.forward(input)
                };
                log_det.sum() + x.sum()
            };
            let grads = loss(&layer).backward();
            let weight = &layer.conditioner.output.weight;
            let analytic = values(weight.grad(&grads).expect("a gradient"));
            let [rows, cols] = weight.dims();
            // Columns: a width of coordinate 0, a height, an interior derivative of the angle
            // and the angle's end derivative (the last column).
            for (r, c) in [(0, 0), (3, 8), (7, 17 + 13), (rows - 1, cols - 1)] {
                let h = 1e-5;
                let value = |delta: f64| {
                    let mut shifted = inner.clone();
                    let mut w = values(shifted.conditioner.output.weight.val());
                    w[r * cols + c] += delta;
                    shifted.conditioner.output.weight =
                        burn::module::Param::from_tensor(tensor(&w, rows, cols));
                    values(loss(&SplineCoupling::<Ad>::from_inner(shifted)).inner())[0]
                };
                let by_differences = (value(h) - value(-h)) / (2.0 * h);
                let exact = analytic[r * cols + c];
                assert!(
                    (by_differences - exact).abs() < 1e-6 * (1.0 + exact.abs()),
                    "weight ({r}, {c}), inverse {inverse}: {exact} vs {by_differences}"
                );
            }
        }
    }
}
