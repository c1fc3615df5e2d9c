//! Collocation points with the target's energies, non-finite ones masked.

use crate::backend::FlowBackend;
use crate::flow::from_f64;
use crate::{Error, Result};
use burn::prelude::*;

/// What a target returns for row-major points (`m × d`): its reduced energy u (`[m]`) and the
/// gradient ∇u (`[m × d]`, row-major). Non-finite values are allowed (the point is masked).
pub type TargetEnergies = Result<(Vec<f64>, Vec<f64>)>;

/// The inputs of the residual at `m` collocation points, on the device. A point whose position,
/// u or ∇u is not finite is masked: its values are replaced by zeros (so the residual stays
/// finite) and its `mask` entry is 0.
pub struct PdePoints<B: FlowBackend> {
    /// Positions `[m, d]` (no graph).
    pub x: Tensor<B, 2>,
    /// Times `[m]`.
    pub t: Tensor<B, 1>,
    /// Target energy u `[m]`.
    pub u: Tensor<B, 1>,
    /// Its gradient ∇u `[m, d]`.
    pub grad_u: Tensor<B, 2>,
    /// 1 for a usable point, 0 for a masked one `[m]`.
    pub mask: Tensor<B, 1>,
    /// Number of usable points.
    pub usable: usize,
    /// Number of masked points.
    pub masked: usize,
    /// Points sent to the target (those with a finite position).
    pub target_evaluations: u64,
}

impl<B: FlowBackend> PdePoints<B> {
    /// Evaluates `target` (row-major points `k × d` → (u `[k]`, ∇u `[k × d]`)) at the points of
    /// `x` (`[m × d]`) whose coordinates are all finite, once for all of them, and masks the
    /// rest and those where u or ∇u is not finite. Fails on a target error or wrong lengths.
    pub fn evaluate(
        x: Vec<f64>,
        t: Vec<f64>,
        dim: usize,
        target: &dyn Fn(&[f64]) -> TargetEnergies,
        device: &B::Device,
    ) -> Result<Self> {
        let m = t.len();
        check_len("collocation points", x.len(), m * dim)?;
        let finite: Vec<usize> = (0..m)
            .filter(|&i| x[i * dim..(i + 1) * dim].iter().all(|v| v.is_finite()))
            .collect();
        let sent: Vec<f64> = finite
            .iter()
            .flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied())
            .collect();
        let (u_sent, grad_sent) = if finite.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            target(&sent)?
        };
        check_len("target energies u", u_sent.len(), finite.len())?;
        check_len("target gradients ∇u", grad_sent.len(), finite.len() * dim)?;
        let mut u = vec![f64::NAN; m];
        let mut grad_u = vec![f64::NAN; m * dim];
        for (k, &i) in finite.iter().enumerate() {
            u[i] = u_sent[k];
            grad_u[i * dim..(i + 1) * dim].copy_from_slice(&grad_sent[k * dim..(k + 1) * dim]);
        }
        let mut points = Self::from_host(x, t, u, grad_u, dim, device)?;
        points.target_evaluations = finite.len() as u64;
        Ok(points)
    }

    /// Points from host data (`x`, `grad_u`: `[m × d]`; `t`, `u`: `[m]`), masking those with
    /// any non-finite value; `target_evaluations` is 0.
    pub fn from_host(
        mut x: Vec<f64>,
        t: Vec<f64>,
        mut u: Vec<f64>,
        mut grad_u: Vec<f64>,
        dim: usize,
        device: &B::Device,
    ) -> Result<Self> {
        let m = t.len();
        check_len("collocation points", x.len(), m * dim)?;
        check_len("target energies u", u.len(), m)?;
        check_len("target gradients ∇u", grad_u.len(), m * dim)?;
        if let Some(bad) = t.iter().find(|t| !t.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "collocation time {bad} is not finite"
            )));
        }
        let mut mask = vec![1.0; m];
        for i in 0..m {
            let rows = i * dim..(i + 1) * dim;
            let finite = u[i].is_finite()
                && x[rows.clone()].iter().all(|v| v.is_finite())
                && grad_u[rows.clone()].iter().all(|v| v.is_finite());
            if !finite {
                mask[i] = 0.0;
                u[i] = 0.0;
                x[rows.clone()].fill(0.0);
                grad_u[rows].fill(0.0);
            }
        }
        let usable = mask.iter().filter(|v| **v == 1.0).count();
        Ok(PdePoints {
            x: from_f64(x, [m, dim], device),
            t: from_f64(t, [m], device),
            u: from_f64(u, [m], device),
            grad_u: from_f64(grad_u, [m, dim], device),
            mask: from_f64(mask, [m], device),
            usable,
            masked: m - usable,
            target_evaluations: 0,
        })
    }
}

/// An error unless `found == expected`.
fn check_len(what: &str, found: usize, expected: usize) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            what: format!("PDE objective: {what}"),
            expected: format!("{expected} values"),
            found: format!("{found} values"),
        })
    }
}
