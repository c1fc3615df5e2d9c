//! The two-state estimators: exponential averaging (FEP) and BAR.

use super::{Estimate, Mbar, ReducedEnergies};
use crate::Result;
use crate::analysis::ImportanceSummary;

/// Exponential averaging (Zwanzig's free-energy perturbation): Δf = −log⟨exp(−w)⟩ over the work
/// values w = u_B − u_A of samples of A, with the delta-method standard error
/// sd(e^{−w}) / (√n ⟨e^{−w}⟩) (the sample standard deviation, n − 1 in its denominator).
///
/// The estimate of the reverse direction is `exponential_averaging(u_A − u_B on samples of B)`,
/// which estimates f_A − f_B. A NaN or +∞ work value counts as a sample of weight 0.
pub fn exponential_averaging(work: &[f64]) -> Estimate {
    let log_w: Vec<f64> = work.iter().map(|w| -w).collect();
    let summary = ImportanceSummary::from_log_weights(&log_w);
    Estimate {
        delta_f: -summary.log_z,
        stderr: summary.log_z_stderr,
    }
}

/// Bennett's acceptance ratio from forward work values w_F = u_B − u_A on samples of A and
/// reverse ones w_R = u_A − u_B on samples of B: Δf = f_B − f_A with its asymptotic standard
/// error.
///
/// BAR's Δf is MBAR's with two states, so it is solved as one ([`Mbar`]). The error is BAR's own
/// (Shirts, Bair, Hooker & Pande, Phys. Rev. Lett. 91, 140601, 2003), with M = log(N_F/N_R)
/// and the Fermi function φ(x) = 1/(1 + eˣ):
///
/// ```text
/// σ² = (⟨φ_F²⟩/⟨φ_F⟩² − 1)/N_F + (⟨φ_R²⟩/⟨φ_R⟩² − 1)/N_R,
/// φ_F = φ(w_F + M − Δf) on samples of A,  φ_R = φ(w_R − M + Δf) on samples of B;
/// ```
///
/// it differs from MBAR's asymptotic error for K = 2 by O(1/N) relative, and is the one pymbar's
/// `bar` reports.
pub fn bar(w_forward: &[f64], w_reverse: &[f64]) -> Result<Estimate> {
    let mbar = Mbar::solve(&ReducedEnergies::from_work(w_forward, w_reverse)?)?;
    let delta_f = mbar.delta_f(0, 1).delta_f;
    let m = (w_forward.len() as f64 / w_reverse.len() as f64).ln();
    let relative_variance = |work: &[f64], shift: f64| {
        // φ(x) = 1/(1 + eˣ) computed as exp(−log(1 + eˣ)), stable for large |x|.
        let phi = |x: f64| (-(x.max(0.0) + (-x.abs()).exp().ln_1p())).exp();
        let n = work.len() as f64;
        let (sum, sum_sq) = work
            .iter()
            .map(|w| phi(w + shift))
            .fold((0.0, 0.0), |(s, s2), p| (s + p, s2 + p * p));
        (sum_sq / n) / (sum / n).powi(2) - 1.0
    };
    let variance = relative_variance(w_forward, m - delta_f) / w_forward.len() as f64
        + relative_variance(w_reverse, delta_f - m) / w_reverse.len() as f64;
    Ok(Estimate {
        delta_f,
        stderr: variance.max(0.0).sqrt(),
    })
}
