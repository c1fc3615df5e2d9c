//! Densities on coordinates of which some are angles.

use crate::Result;
use crate::sampling::LogDensity;
use std::f64::consts::PI;

/// A density on coordinates of which some are angles: those are wrapped into [−π, π) before
/// the inner density sees them, so that MCMC may cross ±π (the density is periodic in them).
pub struct OnTorus<D> {
    inner: D,
    circular: Vec<bool>,
}

impl<D: LogDensity> OnTorus<D> {
    /// `inner` with the coordinates flagged in `circular` wrapped.
    pub fn new(inner: D, circular: Vec<bool>) -> Self {
        OnTorus { inner, circular }
    }

    /// The inner density.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Wraps the angles of the points `x` (row-major) into [−π, π), in place.
    pub fn wrap(&self, x: &mut [f64]) {
        for point in x.chunks_mut(self.circular.len()) {
            for (v, &circular) in point.iter_mut().zip(&self.circular) {
                if circular {
                    *v = (*v + PI).rem_euclid(2.0 * PI) - PI;
                }
            }
        }
    }
}

impl<D: LogDensity> LogDensity for OnTorus<D> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn log_density(&self, x: &[f64], grad: Option<&mut [f64]>) -> Result<Vec<f64>> {
        let mut wrapped = x.to_vec();
        self.wrap(&mut wrapped);
        self.inner.log_density(&wrapped, grad)
    }
}
