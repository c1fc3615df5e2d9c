//! Gauss–Legendre quadrature on [0, 1].

/// The `n` nodes and weights of Gauss–Legendre quadrature on [0, 1]: Σ wᵢ g(tᵢ) is exact for
/// polynomials of degree up to 2n − 1.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for i in 0..n {
        // Newton on P_n from the usual asymptotic guess of root i (on [−1, 1], descending).
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut slope = 0.0;
        for _ in 0..100 {
            let (p, dp) = legendre(n, x);
            slope = dp;
            let step = p / dp;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        let (_, dp) = legendre(n, x);
        slope = if dp != 0.0 { dp } else { slope };
        nodes.push(0.5 * (1.0 - x));
        weights.push(1.0 / ((1.0 - x * x) * slope * slope));
    }
    (nodes, weights)
}

/// P_n(x) and P_n'(x) by the three-term recurrence.
fn legendre(n: usize, x: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, x);
    if n == 0 {
        return (1.0, 0.0);
    }
    for k in 2..=n {
        let k = k as f64;
        (p0, p1) = (p1, ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k);
    }
    let derivative = n as f64 * (x * p1 - p0) / (x * x - 1.0);
    (p1, derivative)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integrate(n: usize, g: impl Fn(f64) -> f64) -> f64 {
        let (t, w) = gauss_legendre(n);
        t.iter().zip(&w).map(|(t, w)| w * g(*t)).sum()
    }

    /// Exact for monomials up to degree 2n − 1, not beyond; nodes inside (0, 1), increasing.
    #[test]
    fn exact_for_polynomials_up_to_degree_2n_minus_1() {
        for n in [1, 2, 5, 16, 64] {
            let (t, w) = gauss_legendre(n);
            assert!(t.windows(2).all(|p| p[0] < p[1]) && t[0] > 0.0 && t[n - 1] < 1.0);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-14);
            for degree in 0..(2 * n).min(40) {
                let exact = 1.0 / (degree as f64 + 1.0);
                let got = integrate(n, |t| t.powi(degree as i32));
                assert!((got - exact).abs() < 1e-13, "n {n}, t^{degree}: {got}");
            }
            if n <= 5 {
                let degree = 2 * n as i32;
                let error =
                    integrate(n, |t| (2.0 * t - 1.0).powi(degree)) - 1.0 / (degree + 1) as f64;
                assert!(
                    error.abs() > 1e-8,
                    "n {n} exact at degree 2n: too good to be Gauss"
                );
            }
        }
        let smooth = integrate(64, |t| (3.0 * t).sin() * (-t).exp());
        let exact = (3.0 - (3.0f64.sin() + 3.0 * 3.0f64.cos()) / 1.0f64.exp()) / 10.0;
        assert!((smooth - exact).abs() < 1e-14, "{smooth} against {exact}");
    }
}
