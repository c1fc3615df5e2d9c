//! The reweighted ∫C dt is right, with a calibrated error bar, for a flow that is not the
//! path's transport.

use super::GaussianTarget;
use crate::flow::testing::*;
use crate::train::pde::{Interpolation, PdeModelConfig, rate_integrals};
use burn::prelude::*;

/// For an untrained model (random field, random NN of the learned interpolation, C = 0) on a
/// shifted, narrowed 2-D Gaussian, over 12 seeds of 1,000 samples through 16 times: the
/// reweighted ∫C dt is unbiased (mean error within 3 standard errors of the mean), its error bar
/// is calibrated (the errors' RMS over the mean error bar within [0.6, 1.6]; no error beyond 3.5
/// error bars), while the trained rate and the unweighted least-squares rate on the flow's
/// samples, which are not distributed as the path, miss log Z by far more.
#[test]
fn reweighted_rate_integral_is_unbiased_with_calibrated_errors() {
    let target = GaussianTarget {
        dim: 2,
        mean: 1.0,
        std: 0.7,
        offset: 0.3,
    };
    let exact = target.log_z();
    let config = PdeModelConfig {
        flow: super::flow_config(2, 1.5, false, vec![16, 16]),
        interpolation: Interpolation::Learned { hidden: vec![16] },
        rate_hidden: vec![16],
    };
    let device = device();
    let model = config.init::<TestBackend>(&device).unwrap();
    let (mut errors, mut stderrs) = (Vec::new(), Vec::new());
    for seed in 0..12 {
        TestBackend::seed(&device, seed);
        let found = rate_integrals(&model, 1000, 16, &|x| target.energies(x)).unwrap();
        println!("seed {seed}: {found:?}, exact {exact:.4}");
        assert!((found.trained - exact).abs() > 0.5, "{found:?}");
        assert!((found.unweighted - exact).abs() > 0.5, "{found:?}");
        let error = found.reweighted - exact;
        assert!(
            error.abs() < 3.5 * found.reweighted_stderr,
            "{found:?}, exact {exact}"
        );
        errors.push(error);
        stderrs.push(found.reweighted_stderr);
    }
    let k = errors.len() as f64;
    let mean_error = errors.iter().sum::<f64>() / k;
    let rms = (errors.iter().map(|e| e * e).sum::<f64>() / k).sqrt();
    let mean_stderr = stderrs.iter().sum::<f64>() / k;
    println!("mean error {mean_error:.4}, RMS {rms:.4}, mean error bar {mean_stderr:.4}");
    assert!(mean_error.abs() < 3.0 * mean_stderr / k.sqrt());
    assert!((0.6..1.6).contains(&(rms / mean_stderr)));
}
