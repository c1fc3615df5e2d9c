//! Analytic log densities for the tests.

use super::LogDensity;
use crate::Result;
use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, StandardNormal};
use std::cell::Cell;

/// Z · N(mean, cov): log π(x) = log Z + log N(x; mean, cov), with its gradient. Panics if it is
/// ever asked about a non-finite position.
pub struct Gaussian {
    mean: DVector<f64>,
    precision: DMatrix<f64>,
    chol: DMatrix<f64>,
    log_norm: f64,
    /// Calls to `log_density`.
    pub calls: Cell<usize>,
}

impl Gaussian {
    /// Z · N(mean, cov) in 2-D.
    pub fn new(mean: Vec<f64>, cov: [[f64; 2]; 2], log_z: f64) -> Self {
        let c = DMatrix::from_fn(2, 2, |i, j| cov[i][j]);
        Self::from_matrix(mean, c, log_z)
    }

    /// Z · N(mean, σ² I).
    pub fn isotropic(mean: Vec<f64>, sigma: f64, log_z: f64) -> Self {
        let d = mean.len();
        Self::from_matrix(mean, DMatrix::identity(d, d) * (sigma * sigma), log_z)
    }

    /// Z · N(mean, diag(sd²)).
    pub fn diagonal(mean: Vec<f64>, sd: &[f64], log_z: f64) -> Self {
        let d = mean.len();
        Self::from_matrix(
            mean,
            DMatrix::from_fn(d, d, |i, j| if i == j { sd[i] * sd[i] } else { 0.0 }),
            log_z,
        )
    }

    fn from_matrix(mean: Vec<f64>, cov: DMatrix<f64>, log_z: f64) -> Self {
        let d = mean.len();
        let chol = cov
            .clone()
            .cholesky()
            .expect("covariance not positive definite");
        let log_det = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
        Gaussian {
            mean: DVector::from_vec(mean),
            precision: chol.inverse(),
            chol: chol.l(),
            log_norm: log_z - 0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det),
            calls: Cell::new(0),
        }
    }

    /// n exact samples of N(mean, cov), row-major.
    pub fn sample(&self, n: usize, rng: &mut impl rand::Rng) -> Vec<f64> {
        let d = self.mean.len();
        let mut out = Vec::with_capacity(n * d);
        for _ in 0..n {
            let z = DVector::from_fn(d, |_, _| StandardNormal.sample(rng));
            out.extend((&self.mean + &self.chol * z).iter());
        }
        out
    }
}

impl LogDensity for Gaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn log_density(&self, x: &[f64], mut grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        self.calls.set(self.calls.get() + 1);
        let d = self.dim();
        assert!(
            x.iter().all(|v| v.is_finite()),
            "asked about a non-finite position"
        );
        Ok(x.chunks_exact(d)
            .enumerate()
            .map(|(i, xi)| {
                let r = DVector::from_column_slice(xi) - &self.mean;
                let pr = &self.precision * &r;
                if let Some(g) = grad.as_deref_mut() {
                    for j in 0..d {
                        g[i * d + j] = -pr[j];
                    }
                }
                self.log_norm - 0.5 * r.dot(&pr)
            })
            .collect())
    }
}

/// Mean and covariance (2-D) of row-major points.
pub fn moments2(x: &[f64]) -> ([f64; 2], [[f64; 2]; 2]) {
    let n = (x.len() / 2) as f64;
    let mut m = [0.0; 2];
    for p in x.chunks_exact(2) {
        m[0] += p[0] / n;
        m[1] += p[1] / n;
    }
    let mut c = [[0.0; 2]; 2];
    for p in x.chunks_exact(2) {
        for i in 0..2 {
            for j in 0..2 {
                c[i][j] += (p[i] - m[i]) * (p[j] - m[j]) / (n - 1.0);
            }
        }
    }
    (m, c)
}

/// Mean and standard error of the mean.
pub fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// A mixture of von Mises bumps on the circle, log π(θ) = ln Σ_k w_k exp(κ_k (cos(θ − μ_k) − 1)),
/// with its gradient; components are `(w, μ, κ)`.
pub struct VonMises(pub Vec<(f64, f64, f64)>);

impl VonMises {
    /// log ∫ f over one period by the trapezoid rule, which is spectrally accurate for smooth
    /// periodic functions.
    pub fn log_integral(f: impl Fn(f64) -> f64) -> f64 {
        let n = 20_000;
        let h = 2.0 * std::f64::consts::PI / n as f64;
        let values: Vec<f64> = (0..n)
            .map(|i| f(-std::f64::consts::PI + h * i as f64))
            .collect();
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + (h * values.iter().map(|v| (v - max).exp()).sum::<f64>()).ln()
    }

    /// log π at one point.
    pub fn at(&self, x: f64) -> f64 {
        self.0
            .iter()
            .map(|(w, m, k)| w * (k * ((x - m).cos() - 1.0)).exp())
            .sum::<f64>()
            .ln()
    }

    /// log Z = log ∫ π.
    pub fn log_z(&self) -> f64 {
        Self::log_integral(|x| self.at(x))
    }

    /// n exact samples in [−π, π), by rejection from the uniform distribution.
    pub fn sample(&self, n: usize, rng: &mut impl rand::Rng) -> Vec<f64> {
        use rand::RngExt;
        let bound: f64 = self.0.iter().map(|(w, _, _)| w).sum();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let x = rng.random_range(-std::f64::consts::PI..std::f64::consts::PI);
            if rng.random::<f64>() * bound < self.at(x).exp() {
                out.push(x);
            }
        }
        out
    }
}

impl LogDensity for VonMises {
    fn dim(&self) -> usize {
        1
    }

    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        if let Some(g) = grad {
            for (g, &x) in g.iter_mut().zip(x) {
                let (mut sum, mut slope) = (0.0, 0.0);
                for (w, m, k) in &self.0 {
                    let t = w * (k * ((x - m).cos() - 1.0)).exp();
                    sum += t;
                    slope -= t * k * (x - m).sin();
                }
                *g = slope / sum;
            }
        }
        Ok(x.iter().map(|&x| self.at(x)).collect())
    }
}
