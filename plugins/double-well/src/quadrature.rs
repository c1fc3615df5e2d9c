//! One-dimensional quadrature and root finding: composite Gauss–Legendre rules and a safeguarded
//! Newton method.

use std::f64::consts::PI;

/// An n-point Gauss–Legendre rule on [−1, 1], exact for polynomials of degree ≤ 2n − 1.
///
/// Used on many panels (a composite rule), it converges exponentially fast for the smooth,
/// rapidly decaying integrands of this crate.
#[derive(Clone, Debug)]
pub struct GaussLegendre {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

impl GaussLegendre {
    /// The `n`-point rule (`n ≥ 1`). Nodes are the roots of the Legendre polynomial P_n, found by
    /// Newton's method from the asymptotic guesses cos(π(i + 3/4)/(n + 1/2)); weights are
    /// 2 / ((1 − x²) P_n'(x)²).
    pub fn new(n: usize) -> Self {
        assert!(n >= 1, "a Gauss–Legendre rule needs at least one node");
        let mut nodes = vec![0.0; n];
        let mut weights = vec![0.0; n];
        for i in 0..n.div_ceil(2) {
            let mut z = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut derivative = legendre(n, z).1;
            for _ in 0..100 {
                let (p, dp) = legendre(n, z);
                let step = p / dp;
                z -= step;
                derivative = dp;
                if step.abs() <= 1e-16 {
                    break;
                }
            }
            // One more evaluation at the converged node for an accurate weight.
            let (_, dp) = legendre(n, z);
            if dp.is_finite() && dp != 0.0 {
                derivative = dp;
            }
            let weight = 2.0 / ((1.0 - z * z) * derivative * derivative);
            nodes[i] = -z;
            nodes[n - 1 - i] = z;
            weights[i] = weight;
            weights[n - 1 - i] = weight;
        }
        GaussLegendre { nodes, weights }
    }

    /// ∫ₐᵇ f, by this rule on `panels` equal panels.
    pub fn integrate(&self, a: f64, b: f64, panels: usize, mut f: impl FnMut(f64) -> f64) -> f64 {
        let width = (b - a) / panels as f64;
        let half = 0.5 * width;
        let mut total = 0.0;
        for p in 0..panels {
            let mid = a + (p as f64 + 0.5) * width;
            let panel: f64 = self
                .nodes
                .iter()
                .zip(&self.weights)
                .map(|(x, w)| w * f(mid + half * x))
                .sum();
            total += half * panel;
        }
        total
    }

    /// Nodes and weights of the composite rule on `panels` equal panels of [a, b].
    #[cfg(test)]
    pub fn composite(&self, a: f64, b: f64, panels: usize) -> (Vec<f64>, Vec<f64>) {
        let width = (b - a) / panels as f64;
        let half = 0.5 * width;
        let mut nodes = Vec::with_capacity(panels * self.nodes.len());
        let mut weights = Vec::with_capacity(panels * self.nodes.len());
        for p in 0..panels {
            let mid = a + (p as f64 + 0.5) * width;
            for (x, w) in self.nodes.iter().zip(&self.weights) {
                nodes.push(mid + half * x);
                weights.push(half * w);
            }
        }
        (nodes, weights)
    }
}

/// (P_n(z), P_n'(z)) by the three-term recurrence.
fn legendre(n: usize, z: f64) -> (f64, f64) {
    let (mut previous, mut current) = (1.0, z);
    for k in 2..=n {
        let k = k as f64;
        let next = ((2.0 * k - 1.0) * z * current - (k - 1.0) * previous) / k;
        previous = current;
        current = next;
    }
    if n == 0 {
        return (1.0, 0.0);
    }
    let derivative = n as f64 * (z * current - previous) / (z * z - 1.0);
    (current, derivative)
}

/// The root of `g` in [a, b], where g(a) and g(b) have opposite signs, by Newton's method
/// safeguarded with bisection (a step that leaves the bracket is replaced by a bisection step).
pub fn bracketed_root(g: impl Fn(f64) -> f64, dg: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (a, b);
    let g_lo = g(lo);
    assert!(
        g_lo * g(hi) <= 0.0,
        "bracketed_root: g must change sign on [{a}, {b}]"
    );
    let rising = g_lo < 0.0;
    let mut t = 0.5 * (lo + hi);
    for _ in 0..200 {
        let value = g(t);
        if value == 0.0 {
            return t;
        }
        if (value < 0.0) == rising {
            lo = t;
        } else {
            hi = t;
        }
        let newton = t - value / dg(t);
        let next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - t).abs() <= 4.0 * f64::EPSILON * t.abs().max(1.0)
            || hi - lo <= f64::EPSILON * t.abs()
        {
            return next;
        }
        t = next;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_is_exact_for_polynomials() {
        for n in [1, 2, 5, 20, 21] {
            let rule = GaussLegendre::new(n);
            assert!(
                (rule.weights.iter().sum::<f64>() - 2.0).abs() < 1e-14,
                "n = {n}"
            );
            for degree in 0..2 * n {
                let exact = if degree % 2 == 1 {
                    0.0
                } else {
                    2.0 / (degree as f64 + 1.0)
                };
                let got = rule.integrate(-1.0, 1.0, 1, |x| x.powi(degree as i32));
                assert!(
                    (got - exact).abs() < 1e-13,
                    "n = {n}, degree {degree}: {got} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn composite_rule_integrates_a_gaussian() {
        let rule = GaussLegendre::new(20);
        let got = rule.integrate(-12.0, 12.0, 48, |x| (-0.5 * x * x).exp());
        let exact = (2.0 * PI).sqrt();
        assert!((got / exact - 1.0).abs() < 1e-14, "{got} vs {exact}");
    }

    #[test]
    fn bracketed_root_finds_cubic_roots() {
        let g = |t: f64| t * t * t - 2.0;
        let root = bracketed_root(g, |t| 3.0 * t * t, 0.0, 3.0);
        assert!((root - 2f64.cbrt()).abs() < 1e-15, "{root}");
        // Decreasing bracket.
        let root = bracketed_root(|t| -g(t), |t| -3.0 * t * t, 0.0, 3.0);
        assert!((root - 2f64.cbrt()).abs() < 1e-15, "{root}");
    }
}
