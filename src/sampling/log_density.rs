//! Unnormalised log densities on batches of points, and the annealed (geometric) path between two.

use super::state::ChainState;
use crate::{Error, Result};

/// An unnormalised log density log π, evaluated on a batch of points.
pub trait LogDensity {
    /// Dimension of a point.
    fn dim(&self) -> usize;

    /// log π at each of the n points of `x` (n × dim, row-major); when `grad` is given (n × dim),
    /// also ∇ log π.
    /// Values may be non-finite (NaN/±inf): callers treat them as zero density, never as errors.
    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>>;

    /// Number of auxiliary values per point that [`LogDensity::log_density_aux`] fills (0 unless
    /// overridden). Kernels carry them along with their chains' current points (copied when a
    /// proposal is accepted), for callers that need more than log π at the current points.
    fn aux_len(&self, with_grad: bool) -> usize {
        let _ = with_grad;
        0
    }

    /// [`LogDensity::log_density`], also filling `aux` (n × `aux_len(grad.is_some())`). The
    /// default fills nothing.
    fn log_density_aux(
        &self,
        x: &[f64],
        grad: Option<&mut [f64]>,
        aux: &mut [f64],
    ) -> Result<Vec<f64>> {
        let _ = aux;
        self.log_density(x, grad)
    }
}

impl<T: LogDensity + ?Sized> LogDensity for &T {
    fn dim(&self) -> usize {
        (**self).dim()
    }

    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        (**self).log_density(x, grad)
    }

    fn aux_len(&self, with_grad: bool) -> usize {
        (**self).aux_len(with_grad)
    }

    fn log_density_aux(
        &self,
        x: &[f64],
        grad: Option<&mut [f64]>,
        aux: &mut [f64],
    ) -> Result<Vec<f64>> {
        (**self).log_density_aux(x, grad, aux)
    }
}

/// Calls `target` on the n points of `x` and checks that it returned n values.
pub(crate) fn evaluate<T: LogDensity + ?Sized>(
    target: &T,
    x: &[f64],
    grad: Option<&mut [f64]>,
    aux: Option<&mut [f64]>,
) -> Result<Vec<f64>> {
    let n = x.len() / target.dim().max(1);
    let values = match aux {
        Some(aux) => target.log_density_aux(x, grad, aux)?,
        None => target.log_density(x, grad)?,
    };
    if values.len() != n {
        return Err(Error::Shape {
            what: "log density values returned for a batch".to_owned(),
            expected: format!("{n} values (one per point)"),
            found: format!("{} values", values.len()),
        });
    }
    Ok(values)
}

/// The geometric path from q to g = p^α q^(1−α):
/// log π_β = (1 − αβ) log q + αβ log p, for β in [0, 1].
///
/// α = 1 anneals to p (evaluation); α = 2 anneals to FAB's g = p²/q (training). Each evaluation
/// calls q and p once on the whole batch and combines them (with gradients). A point where log q
/// or log p is not finite lies outside the support of every π_β: its log π_β is −∞.
///
/// Its auxiliary values ([`LogDensity::aux_len`]) per point are `[log q, log p]`, followed, when
/// gradients are computed, by `∇log q` and `∇log p` (dim each): from them [`AnnealedDensity::retarget`]
/// moves chains to another β without evaluating q or p again.
pub struct AnnealedDensity<'a, Q: ?Sized, P: ?Sized> {
    q: &'a Q,
    p: &'a P,
    alpha: f64,
    beta: f64,
}

impl<Q: ?Sized, P: ?Sized> Clone for AnnealedDensity<'_, Q, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Q: ?Sized, P: ?Sized> Copy for AnnealedDensity<'_, Q, P> {}

impl<'a, Q: LogDensity + ?Sized, P: LogDensity + ?Sized> AnnealedDensity<'a, Q, P> {
    /// The path from `q` to p^α q^(1−α), at `beta`. Refuses different dimensions, α that is not
    /// positive and finite, and β outside [0, 1].
    pub fn new(q: &'a Q, p: &'a P, alpha: f64, beta: f64) -> Result<Self> {
        if q.dim() != p.dim() {
            return Err(Error::Shape {
                what: "annealed path: dimension of p".to_owned(),
                expected: format!("the dimension of q, {}", q.dim()),
                found: p.dim().to_string(),
            });
        }
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "annealed path: α must be positive and finite (1: anneal to p, 2: to p²/q), got {alpha}"
            )));
        }
        let path = AnnealedDensity {
            q,
            p,
            alpha,
            beta: 0.0,
        };
        path.with_beta(beta)
    }

    /// The same path at another β in [0, 1].
    pub fn with_beta(&self, beta: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&beta) {
            return Err(Error::InvalidArgument(format!(
                "annealed path: β must be in [0, 1], got {beta}"
            )));
        }
        Ok(AnnealedDensity { beta, ..*self })
    }

    /// α: the path ends at p^α q^(1−α).
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// β: the position on the path.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// log π_β from log q and log p (−∞ unless both are finite).
    pub fn combine(&self, log_q: f64, log_p: f64) -> f64 {
        if log_q.is_finite() && log_p.is_finite() {
            let c = self.alpha * self.beta;
            (1.0 - c) * log_q + c * log_p
        } else {
            f64::NEG_INFINITY
        }
    }

    /// A state for `x` (n × dim) at this β, evaluating q and p once each. When `log_q` is given
    /// (n values, e.g. from the flow that drew `x`) and no gradient is needed, q is not called;
    /// when gradients are needed, q is called for ∇log q but the given values are kept.
    pub fn init_state(
        &self,
        x: Vec<f64>,
        log_q: Option<Vec<f64>>,
        with_grad: bool,
    ) -> Result<ChainState> {
        let dim = self.dim();
        let n = ChainState::check_points(&x, dim, "initial points")?;
        if let Some(lq) = &log_q
            && lq.len() != n
        {
            return Err(Error::Shape {
                what: "given log q of the initial points".to_owned(),
                expected: format!("{n} values"),
                found: format!("{} values", lq.len()),
            });
        }
        let (mut gq, mut gp) = if with_grad {
            (vec![0.0; n * dim], vec![0.0; n * dim])
        } else {
            (Vec::new(), Vec::new())
        };
        let lp = evaluate(self.p, &x, with_grad.then_some(&mut gp[..]), None)?;
        let lq = match log_q {
            Some(lq) if !with_grad => lq,
            given => {
                let evaluated = evaluate(self.q, &x, with_grad.then_some(&mut gq[..]), None)?;
                given.unwrap_or(evaluated)
            }
        };
        let stride = self.aux_len(with_grad);
        let mut aux = vec![0.0; n * stride];
        for i in 0..n {
            let a = &mut aux[i * stride..(i + 1) * stride];
            a[0] = lq[i];
            a[1] = lp[i];
            if with_grad {
                a[2..2 + dim].copy_from_slice(&gq[i * dim..(i + 1) * dim]);
                a[2 + dim..].copy_from_slice(&gp[i * dim..(i + 1) * dim]);
            }
        }
        let mut state = ChainState {
            x,
            log_density: vec![0.0; n],
            grad: with_grad.then(|| vec![0.0; n * dim]),
            aux,
        };
        self.retarget(&mut state)?;
        Ok(state)
    }

    /// Recomputes `state.log_density` (and `state.grad`, if present) at this β from the auxiliary
    /// values that this path's evaluations left in `state.aux`, without evaluating q or p.
    pub fn retarget(&self, state: &mut ChainState) -> Result<()> {
        let dim = self.dim();
        let with_grad = state.grad.is_some();
        let stride = self.aux_len(with_grad);
        let n = state.n();
        if state.aux.len() != n * stride {
            return Err(Error::Shape {
                what: "auxiliary values of a chain state to re-target on the annealed path"
                    .to_owned(),
                expected: format!("{n} × {stride} values (from this path's evaluations)"),
                found: format!("{} values", state.aux.len()),
            });
        }
        let c = self.alpha * self.beta;
        for i in 0..n {
            let a = &state.aux[i * stride..(i + 1) * stride];
            state.log_density[i] = self.combine(a[0], a[1]);
            if let Some(grad) = &mut state.grad {
                let (gq, gp) = a[2..].split_at(dim);
                for (j, g) in grad[i * dim..(i + 1) * dim].iter_mut().enumerate() {
                    *g = (1.0 - c) * gq[j] + c * gp[j];
                }
            }
        }
        Ok(())
    }
}

impl<Q: LogDensity + ?Sized, P: LogDensity + ?Sized> LogDensity for AnnealedDensity<'_, Q, P> {
    fn dim(&self) -> usize {
        self.q.dim()
    }

    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        let mut aux = vec![0.0; x.len() / self.dim().max(1) * self.aux_len(grad.is_some())];
        self.log_density_aux(x, grad, &mut aux)
    }

    fn aux_len(&self, with_grad: bool) -> usize {
        if with_grad { 2 + 2 * self.dim() } else { 2 }
    }

    fn log_density_aux(
        &self,
        x: &[f64],
        grad: Option<&mut [f64]>,
        aux: &mut [f64],
    ) -> Result<Vec<f64>> {
        let dim = self.dim();
        let n = x.len() / dim.max(1);
        let with_grad = grad.is_some();
        let stride = self.aux_len(with_grad);
        if aux.len() != n * stride {
            return Err(Error::Shape {
                what: "auxiliary buffer of the annealed path".to_owned(),
                expected: format!("{n} × {stride} values"),
                found: format!("{} values", aux.len()),
            });
        }
        let (mut gq, mut gp) = if with_grad {
            (vec![0.0; n * dim], vec![0.0; n * dim])
        } else {
            (Vec::new(), Vec::new())
        };
        let lq = evaluate(self.q, x, with_grad.then_some(&mut gq[..]), None)?;
        let lp = evaluate(self.p, x, with_grad.then_some(&mut gp[..]), None)?;
        let c = self.alpha * self.beta;
        if let Some(grad) = grad {
            for ((g, a), b) in grad.iter_mut().zip(&gq).zip(&gp) {
                *g = (1.0 - c) * a + c * b;
            }
        }
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let a = &mut aux[i * stride..(i + 1) * stride];
            a[0] = lq[i];
            a[1] = lp[i];
            if with_grad {
                a[2..2 + dim].copy_from_slice(&gq[i * dim..(i + 1) * dim]);
                a[2 + dim..].copy_from_slice(&gp[i * dim..(i + 1) * dim]);
            }
            values.push(self.combine(lq[i], lp[i]));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::testing::Gaussian;

    #[test]
    fn combines_q_and_p_with_gradients() {
        let q = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let p = Gaussian::new(vec![1.0, -2.0], [[2.0, 0.5], [0.5, 1.0]], 0.7);
        let path = AnnealedDensity::new(&q, &p, 2.0, 0.3).unwrap();
        let x = vec![0.5, 0.1, -1.0, 3.0];
        let mut g = vec![0.0; 4];
        let v = path.log_density(&x, Some(&mut g)).unwrap();
        let (mut gq, mut gp) = (vec![0.0; 4], vec![0.0; 4]);
        let lq = q.log_density(&x, Some(&mut gq)).unwrap();
        let lp = p.log_density(&x, Some(&mut gp)).unwrap();
        for i in 0..2 {
            assert!((v[i] - (0.4 * lq[i] + 0.6 * lp[i])).abs() < 1e-12);
        }
        for j in 0..4 {
            assert!((g[j] - (0.4 * gq[j] + 0.6 * gp[j])).abs() < 1e-12);
        }
        // Re-targeting from the auxiliary values equals evaluating at the new β.
        let mut state = path.init_state(x.clone(), None, true).unwrap();
        let other = path.with_beta(0.9).unwrap();
        other.retarget(&mut state).unwrap();
        let mut g2 = vec![0.0; 4];
        let v2 = other.log_density(&x, Some(&mut g2)).unwrap();
        assert_eq!(state.log_density, v2);
        assert_eq!(state.grad.unwrap(), g2);
    }

    #[test]
    fn refuses_bad_paths() {
        let q = Gaussian::isotropic(vec![0.0, 0.0], 1.0, 0.0);
        let p3 = Gaussian::isotropic(vec![0.0; 3], 1.0, 0.0);
        let err = AnnealedDensity::new(&q, &p3, 1.0, 0.5).err().unwrap();
        assert!(err.to_string().contains("dimension"), "{err}");
        let err = AnnealedDensity::new(&q, &q, 0.0, 0.5).err().unwrap();
        assert!(err.to_string().contains("α"), "{err}");
        let err = AnnealedDensity::new(&q, &q, 1.0, 1.5).err().unwrap();
        assert!(err.to_string().contains("β"), "{err}");
    }
}
