//! placeholder until the sampling branch lands
mod log_density;
pub use log_density::LogDensity;
use serde::{Deserialize, Serialize};
/// placeholder
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AisConfig {
    /// placeholder
    pub intermediate: usize,
}
/// placeholder
pub struct Ais;
/// placeholder
pub struct AisOutput {
    /// placeholder
    pub x: Vec<f64>,
    /// placeholder
    pub log_w: Vec<f64>,
    /// placeholder
    pub n_dropped: usize,
}
impl Ais {
    /// placeholder
    pub fn new(_c: &AisConfig) -> crate::Result<Self> {
        Ok(Ais)
    }
    /// placeholder: plain importance sampling
    pub fn run(
        &mut self,
        q: &dyn LogDensity,
        p: &dyn LogDensity,
        alpha: f64,
        x0: Vec<f64>,
        log_q0: Option<Vec<f64>>,
        _rng: &mut impl rand::Rng,
    ) -> crate::Result<AisOutput> {
        let lq = match log_q0 {
            Some(v) => v,
            None => q.log_density(&x0, None)?,
        };
        let lp = p.log_density(&x0, None)?;
        let d = q.dim();
        let mut x = Vec::new();
        let mut log_w = Vec::new();
        let mut n_dropped = 0;
        for i in 0..lq.len() {
            let w = alpha * (lp[i] - lq[i]);
            if w.is_finite() {
                x.extend_from_slice(&x0[i * d..(i + 1) * d]);
                log_w.push(w);
            } else {
                n_dropped += 1;
            }
        }
        Ok(AisOutput {
            x,
            log_w,
            n_dropped,
        })
    }
    /// placeholder
    pub fn step_sizes(&self) -> Vec<f64> {
        vec![]
    }
    /// placeholder
    pub fn set_step_sizes(&mut self, _s: &[f64]) -> crate::Result<()> {
        Ok(())
    }
}
