//! Non-finite target values are masked and counted; the full loss on a fresh model.

use super::GaussianTarget;
use crate::flow::testing::*;
use crate::flow::to_host;
use crate::train::pde::{PdeModel, PdeModelConfig, PdeObjective, PdePoints, trajectory};
use burn::module::AutodiffModule;

/// A target that fails (NaN u, infinite ∇u) at some points, plus a non-finite position: the
/// loss is finite, counts them, and equals the loss of the usable points alone; with nothing
/// usable it is an error.
#[test]
fn non_finite_points_are_masked_and_counted() {
    let d = 2;
    let config = PdeModelConfig::new(super::flow_config(d, 1.0, false, vec![6]));
    let model: PdeModel<TestAutodiff> = seeded(config.init(&device()).unwrap(), 0.5, 8);
    let target = GaussianTarget {
        dim: d,
        mean: 0.5,
        std: 0.8,
        offset: 0.0,
    };
    let faulty = |x: &[f64]| {
        let (mut u, mut g) = target.energies(x)?;
        for (i, p) in x.chunks(d).enumerate() {
            if p[0] > 1.0 {
                u[i] = f64::NAN;
            } else if p[1] > 1.2 {
                g[i * d + 1] = f64::INFINITY;
            }
        }
        Ok((u, g))
    };
    let m = 40;
    let mut x = points(m, d, 2.0, 41);
    x[2 * d] = f64::NAN; // a trajectory that blew up: never sent to the target
    let t: Vec<f64> = (0..m).map(|i| i as f64 / (m - 1) as f64).collect();
    let bad = |p: &[f64]| !p[0].is_finite() || p[0] > 1.0 || p[1] > 1.2;
    let expected_masked = x.chunks(d).filter(|p| bad(p)).count();
    assert!(expected_masked >= 5, "{expected_masked}");

    let objective = PdeObjective::new(1.0);
    let points = PdePoints::evaluate(x.clone(), t.clone(), d, &faulty, &device()).unwrap();
    let loss = objective.residual_loss(&model, &points).unwrap();
    let value = to_host(loss.loss.clone().inner())[0];
    assert!(value.is_finite() && loss.mean_abs_residual.is_finite());
    assert_eq!(loss.masked_points, expected_masked as u64);
    assert_eq!(loss.target_evaluations, (m - 1) as u64);
    let grads = loss.loss.backward();
    for parameter in [2, 7, 18] {
        let gradient = parameter_gradient(&model, &grads, parameter);
        assert!(gradient.iter().all(|g| g.is_finite()) && gradient.iter().any(|g| *g != 0.0));
    }

    let keep: Vec<usize> = (0..m).filter(|&i| !bad(&x[i * d..(i + 1) * d])).collect();
    let x_ok: Vec<f64> = keep
        .iter()
        .flat_map(|&i| x[i * d..(i + 1) * d].to_vec())
        .collect();
    let t_ok: Vec<f64> = keep.iter().map(|&i| t[i]).collect();
    let (u_ok, g_ok) = target.energies(&x_ok).unwrap();
    let clean = PdePoints::from_host(x_ok, t_ok, u_ok, g_ok, d, &device()).unwrap();
    let clean = objective.residual_loss(&model, &clean).unwrap();
    assert_eq!(clean.masked_points, 0);
    let clean_value = to_host(clean.loss.inner())[0];
    assert!(
        (value - clean_value).abs() < 1e-12 * clean_value.abs(),
        "{value} against {clean_value}"
    );
    assert!((loss.mean_abs_residual - clean.mean_abs_residual).abs() < 1e-12);

    let all_nan = |x: &[f64]| Ok((vec![f64::NAN; x.len() / d], vec![0.0; x.len()]));
    let points = PdePoints::evaluate(x.clone(), t.clone(), d, &all_nan, &device()).unwrap();
    let error = objective
        .residual_loss(&model, &points)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("no usable collocation point"), "{error}");
    let short = |x: &[f64]| Ok((vec![0.0; x.len() / d - 1], vec![0.0; x.len()]));
    assert!(PdePoints::<TestAutodiff>::evaluate(x, t, d, &short, &device()).is_err());
}

/// A fresh model (V = 0, C = 0, linear path) has ε = u − f₀ on trajectories that stay at
/// their base samples; `loss` reports it with one target evaluation per point.
#[test]
fn fresh_model_residual_is_u_minus_f0() {
    let d = 3;
    let config = PdeModelConfig::new(super::flow_config(d, 1.0, false, vec![6]));
    let model: PdeModel<TestAutodiff> = config.init(&device()).unwrap();
    let target = GaussianTarget {
        dim: d,
        mean: 1.0,
        std: 0.5,
        offset: 0.3,
    };
    let objective = PdeObjective {
        batch: 16,
        times: 6,
        ..PdeObjective::new(2.0)
    };
    let points = objective
        .collocation(&model, &|x| target.energies(x), &device())
        .unwrap();
    let x = to_host(points.x.clone());
    let (u, _) = target.energies(&x).unwrap();
    let f0: Vec<f64> = x
        .chunks(d)
        .map(|p| {
            p.iter().map(|v| v * v / 2.0).sum::<f64>() + 1.5 * (2.0 * std::f64::consts::PI).ln()
        })
        .collect();
    let expected = u.iter().zip(&f0).map(|(u, f)| (u - f).abs()).sum::<f64>() / u.len() as f64;
    let loss = objective.residual_loss(&model, &points).unwrap();
    assert!((loss.mean_abs_residual - expected).abs() < 1e-12);
    assert_eq!((loss.target_evaluations, loss.masked_points), (96, 0));
    // The trajectory of a zero field stays put: every time slice repeats the first.
    for k in 1..6 {
        assert_eq!(x[..16 * d], x[k * 16 * d..(k + 1) * 16 * d]);
    }
    let _ = trajectory(&model.flow.valid(), 4, &[0.0, 0.5, 1.0], 2).unwrap();
    let through_loss = objective
        .loss(&model, &|x| target.energies(x), &device())
        .unwrap();
    assert_eq!(through_loss.target_evaluations, 96);
}
