//! Learning-rate schedule: linear warm-up, then constant or cosine decay.

use super::OptimizerConfig;

/// The learning rate at `step` (from 0) of a run of `total` steps.
pub fn learning_rate(config: &OptimizerConfig, step: usize, total: usize) -> f64 {
    let warmup = config.warmup_steps;
    if step < warmup {
        return config.lr * (step + 1) as f64 / warmup as f64;
    }
    if !config.cosine || total <= warmup {
        return config.lr;
    }
    let progress = (step - warmup) as f64 / (total - warmup) as f64;
    let floor = config.lr * config.final_lr_fraction;
    floor + (config.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let c = OptimizerConfig {
            lr: 1.0,
            warmup_steps: 10,
            cosine: true,
            final_lr_fraction: 0.0,
            ..Default::default()
        };
        assert!((learning_rate(&c, 0, 110) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&c, 9, 110) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&c, 10, 110) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&c, 60, 110) - 0.5).abs() < 1e-12);
        assert!(learning_rate(&c, 109, 110) < 1e-3);
        let constant = OptimizerConfig {
            lr: 0.3,
            ..Default::default()
        };
        assert_eq!(learning_rate(&constant, 500, 1000), 0.3);
    }
}
