//! Tests of the Gaussian mixture plugin against independent computations.

use crate::GaussianMixture;
use crate::config::{PRESETS, Shapes};
use boltzflow_plugin::{Context, Energy};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// A 3-D mixture with correlated full covariances and unequal weights.
const EXPLICIT_3D: &str = "(
    weights: [1.0, 2.0, 3.0],
    means: [[0.0, 0.0, 0.0], [3.0, -1.0, 2.0], [-2.0, 2.0, -1.0]],
    covariances: [
        [[1.0, 0.3, 0.0], [0.3, 2.0, 0.4], [0.0, 0.4, 0.5]],
        [[0.8, -0.5, 0.2], [-0.5, 1.2, 0.0], [0.2, 0.0, 0.6]],
        [[1.5, 0.0, 0.7], [0.0, 0.7, -0.2], [0.7, -0.2, 1.0]],
    ],
)";

fn build(config: &str) -> GaussianMixture {
    GaussianMixture::from_config(config, &Context::default())
        .unwrap_or_else(|e| panic!("{config}: {e}"))
}

fn preset(name: &str) -> GaussianMixture {
    build(&format!("(preset: {name:?})"))
}

/// The three presets and the explicit 3-D mixture.
fn all_mixtures() -> Vec<(String, GaussianMixture)> {
    let mut all: Vec<_> = PRESETS.iter().map(|p| (p.to_string(), preset(p))).collect();
    all.push(("explicit 3-D".into(), build(EXPLICIT_3D)));
    all.push(("70 components".into(), build(&many_components(70))));
    all
}

/// `n` components along a line with varied weights and stds: more than one chunk of the
/// streaming log-sum-exp, with the largest terms in later chunks for points near the far end.
fn many_components(n: usize) -> String {
    let means: Vec<String> = (0..n).map(|k| format!("[{}.0, {}.5]", k, k % 3)).collect();
    let stds: Vec<String> = (0..n)
        .map(|k| format!("{}", 0.6 + 0.1 * (k % 5) as f64))
        .collect();
    let weights: Vec<String> = (0..n).map(|k| format!("{}.0", 1 + k % 4)).collect();
    format!(
        "(weights: [{}], means: [{}], stds: [{}])",
        weights.join(", "),
        means.join(", "),
        stds.join(", ")
    )
}

fn error_of(config: &str) -> String {
    match GaussianMixture::from_config(config, &Context::default()) {
        Ok(_) => panic!("{config} was accepted"),
        Err(e) => e.message().to_owned(),
    }
}

fn energy_and_gradient(gm: &GaussianMixture, x: &[f64]) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; gm.dim()];
    let u = gm.energy(x, Some(&mut grad));
    (u, grad)
}

/// Component k's covariance as a matrix.
fn covariance(gm: &GaussianMixture, k: usize) -> DMatrix<f64> {
    let dim = gm.dim();
    DMatrix::from_row_slice(dim, dim, &gm.spec.covariance(k))
}

/// The smallest box holding every mean with a margin of 10 of the largest per-axis std.
fn bounding_box(gm: &GaussianMixture) -> Vec<(f64, f64)> {
    let spec = &gm.spec;
    let margin = 10.0
        * (0..spec.means.len())
            .flat_map(|k| {
                covariance(gm, k)
                    .diagonal()
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
            })
            .fold(0.0_f64, f64::max)
            .sqrt();
    (0..gm.dim())
        .map(|i| {
            let coords = spec.means.iter().map(|m| m[i]);
            let lo = coords.clone().fold(f64::INFINITY, f64::min);
            let hi = coords.fold(f64::NEG_INFINITY, f64::max);
            (lo - margin, hi + margin)
        })
        .collect()
}

/// Points to test at: exact samples (near the modes) and uniform points over the bounding box.
fn test_points(gm: &GaussianMixture, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let dim = gm.dim();
    let mut samples = vec![0.0; n * dim];
    gm.sample(seed, &mut samples).unwrap();
    let mut rng = Pcg64::seed_from_u64(seed);
    let uniform = (0..n).map(|_| {
        bounding_box(gm)
            .iter()
            .map(|&(lo, hi)| lo + (hi - lo) * rng.random::<f64>())
            .collect()
    });
    samples
        .chunks_exact(dim)
        .map(<[f64]>::to_vec)
        .chain(uniform)
        .collect()
}

#[test]
fn gradient_matches_central_differences() {
    let h = 1e-5;
    for (name, gm) in all_mixtures() {
        for x in test_points(&gm, 200, 11) {
            let (_, grad) = energy_and_gradient(&gm, &x);
            for i in 0..gm.dim() {
                let (mut plus, mut minus) = (x.clone(), x.clone());
                plus[i] += h;
                minus[i] -= h;
                let fd = (gm.energy(&plus, None) - gm.energy(&minus, None)) / (2.0 * h);
                let err = (grad[i] - fd).abs() / grad[i].abs().max(1.0);
                assert!(
                    err < 1e-6,
                    "{name} at {x:?}, coordinate {i}: {} vs {fd}",
                    grad[i]
                );
            }
        }
    }
}

/// −log Σ_k w_k N(x; μ_k, Σ_k), computed directly with a general matrix inverse and determinant.
fn reference_energy(gm: &GaussianMixture, x: &[f64]) -> f64 {
    let spec = &gm.spec;
    let log_2pi = (2.0 * std::f64::consts::PI).ln();
    let terms: Vec<f64> = (0..spec.means.len())
        .map(|k| {
            let cov = covariance(gm, k);
            let d = DVector::from_column_slice(x) - DVector::from_column_slice(&spec.means[k]);
            let quad = (d.transpose() * cov.clone().try_inverse().unwrap() * &d)[0];
            let log_norm = gm.dim() as f64 * log_2pi + cov.determinant().ln();
            spec.weights[k].ln() - 0.5 * (log_norm + quad)
        })
        .collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    -(max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln())
}

#[test]
fn energy_matches_direct_computation() {
    for (name, gm) in all_mixtures() {
        for x in test_points(&gm, 100, 3) {
            let (u, expected) = (gm.energy(&x, None), reference_energy(&gm, &x));
            assert!(
                (u - expected).abs() < 1e-10 * expected.abs().max(1.0),
                "{name} at {x:?}"
            );
        }
    }
}

/// log ∫ exp(−u) over the bounding box, by the trapezoid rule (the integrand vanishes at the
/// edges, so it is a plain sum) with spacing `h`.
fn log_integral(gm: &GaussianMixture, h: f64) -> f64 {
    let axes: Vec<Vec<f64>> = bounding_box(gm)
        .iter()
        .map(|&(lo, hi)| {
            (0..=((hi - lo) / h).ceil() as usize)
                .map(|i| lo + i as f64 * h)
                .collect()
        })
        .collect();
    let mut total = 0.0;
    let mut index = vec![0; axes.len()];
    let mut x = vec![0.0; axes.len()];
    loop {
        for (i, axis) in axes.iter().enumerate() {
            x[i] = axis[index[i]];
        }
        total += (-gm.energy(&x, None)).exp();
        // Next grid point, the first axis fastest.
        let Some(i) = (0..axes.len()).find(|&i| index[i] + 1 < axes[i].len()) else {
            break;
        };
        index[..i].fill(0);
        index[i] += 1;
    }
    (total * h.powi(axes.len() as i32)).ln()
}

#[test]
fn log_z_is_zero_by_quadrature() {
    for name in PRESETS {
        let gm = preset(name);
        assert_eq!(gm.log_z(), Some(0.0));
        let log_z = log_integral(&gm, 0.2);
        assert!(log_z.abs() < 1e-6, "{name}: log ∫ exp(−u) = {log_z}");
    }
    let gm = build(EXPLICIT_3D);
    let log_z = log_integral(&gm, 0.3);
    assert!(log_z.abs() < 1e-6, "explicit 3-D: log ∫ exp(−u) = {log_z}");
}

#[test]
fn sampler_is_reproducible() {
    let gm = build(EXPLICIT_3D);
    let draw = |seed, n: usize| {
        let mut out = vec![0.0; n * 3];
        gm.sample(seed, &mut out).unwrap();
        out
    };
    assert!(gm.has_exact_sampler());
    assert_eq!(draw(7, 1000), draw(7, 1000));
    assert_ne!(draw(7, 1000), draw(8, 1000));
    assert_eq!(draw(7, 500), draw(7, 1000)[..1500]);
    assert!(
        gm.sample(7, &mut [0.0; 4]).is_err(),
        "4 numbers are not whole 3-D points"
    );
}

#[test]
fn gmm2_sampler_puts_a_third_near_the_light_mode() {
    let n = 200_000;
    let mut out = vec![0.0; 2 * n];
    preset("gmm2").sample(5, &mut out).unwrap();
    let dist2 = |p: &[f64], c: f64| (p[0] - c).powi(2) + (p[1] - c).powi(2);
    let near = out
        .chunks_exact(2)
        .filter(|p| dist2(p, 4.0) < dist2(p, -8.0))
        .count();
    let fraction = near as f64 / n as f64;
    let se = (1.0 / 3.0 * 2.0 / 3.0 / n as f64).sqrt();
    assert!(
        (fraction - 1.0 / 3.0).abs() < 4.0 * se,
        "fraction {fraction}, standard error {se}"
    );
}

#[test]
fn sampler_matches_mixture_mean_and_covariance() {
    let gm = build(EXPLICIT_3D);
    let spec = &gm.spec;
    let (n, dim) = (200_000, 3);
    // Analytic: m = Σ w_k μ_k, C = Σ w_k (Σ_k + μ_k μ_kᵀ) − m mᵀ.
    let mut mean = DVector::zeros(dim);
    let mut cov = DMatrix::zeros(dim, dim);
    for (k, w) in spec.weights.iter().enumerate() {
        let mu = DVector::from_column_slice(&spec.means[k]);
        mean += *w * &mu;
        cov += *w * (covariance(&gm, k) + &mu * mu.transpose());
    }
    cov -= &mean * mean.transpose();

    let mut out = vec![0.0; n * dim];
    gm.sample(21, &mut out).unwrap();
    let points: Vec<&[f64]> = out.chunks_exact(dim).collect();
    let sample_mean: Vec<f64> = (0..dim)
        .map(|i| points.iter().map(|p| p[i]).sum::<f64>() / n as f64)
        .collect();
    for i in 0..dim {
        let se = (cov[(i, i)] / n as f64).sqrt();
        assert!(
            (sample_mean[i] - mean[i]).abs() < 4.0 * se,
            "mean {i}: {}",
            sample_mean[i]
        );
        for j in 0..=i {
            let products: Vec<f64> = points
                .iter()
                .map(|p| (p[i] - sample_mean[i]) * (p[j] - sample_mean[j]))
                .collect();
            let c = products.iter().sum::<f64>() / n as f64;
            let var = products.iter().map(|v| (v - c).powi(2)).sum::<f64>() / n as f64;
            let se = (var / n as f64).sqrt();
            assert!(
                (c - cov[(i, j)]).abs() < 4.0 * se,
                "cov {i}{j}: {c} vs {}",
                cov[(i, j)]
            );
        }
    }
}

#[test]
fn unknown_field_is_named() {
    let message = error_of("(preset: \"gmm4\", sigma: 2.0)");
    assert!(message.contains("sigma"), "{message}");
}

#[test]
fn bad_covariance_names_its_component() {
    let indefinite = error_of(
        "(means: [[0.0, 0.0], [1.0, 1.0]], covariances: [[[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], \
         [2.0, 1.0]]])",
    );
    assert!(indefinite.contains("component 1"), "{indefinite}");
    assert!(indefinite.contains("positive definite"), "{indefinite}");
    let asymmetric = error_of("(means: [[0.0, 0.0]], covariances: [[[1.0, 0.5], [0.4, 1.0]]])");
    assert!(
        asymmetric.contains("component 0") && asymmetric.contains("symmetric"),
        "{asymmetric}"
    );
    let wrong_shape = error_of("(means: [[0.0, 0.0]], covariances: [[[1.0, 0.0, 0.0]]])");
    assert!(
        wrong_shape.contains("component 0") && wrong_shape.contains("2×2"),
        "{wrong_shape}"
    );
}

#[test]
fn preset_typo_lists_the_presets() {
    let message = error_of("(preset: \"gmm41\")");
    assert!(message.contains("gmm41"), "{message}");
    for name in PRESETS {
        assert!(message.contains(&format!("{name:?}")), "{message}");
    }
}

#[test]
fn other_config_errors_say_what_is_wrong() {
    let cases = [
        ("", "preset"),
        ("(preset: \"gmm4\", means: [[0.0, 0.0]])", "means"),
        ("(means: [], stds: [])", "empty"),
        (
            "(means: [[0.0, 0.0], [1.0]], stds: [1.0, 1.0])",
            "component 1",
        ),
        (
            "(means: [[0.0, 0.0]], stds: [1.0], weights: [1.0, 2.0])",
            "one weight per component",
        ),
        (
            "(means: [[0.0], [1.0]], stds: [1.0, 1.0], weights: [1.0, -2.0])",
            "component 1",
        ),
        ("(means: [[0.0], [1.0]], stds: [1.0, 0.0])", "component 1"),
        (
            "(means: [[0.0]], stds: [1.0], covariances: [[[1.0]]])",
            "not both",
        ),
        ("(means: [[0.0]])", "covariances"),
        ("(means: [[0.0, inf]], stds: [1.0])", "non-finite"),
    ];
    for (config, expected) in cases {
        let message = error_of(config);
        assert!(message.contains(expected), "{config}: {message}");
    }
}

#[test]
fn std_is_an_alias_of_stds() {
    let a = build("(means: [[0.0], [2.0]], std: [1.0, 0.5])");
    let b = build("(means: [[0.0], [2.0]], stds: [1.0, 0.5])");
    assert_eq!(a.spec, b.spec);
    assert_eq!(a.spec.shapes, Shapes::Stds(vec![1.0, 0.5]));
}

#[test]
fn gmm40_has_the_fab_parameters() {
    let gm = preset("gmm40");
    assert_eq!(gm.spec.means.len(), 40);
    assert_eq!(gm.spec.means[0], [-0.299473, 21.457745]);
    assert_eq!(gm.spec.means[39], [3.6797, -25.024214]);
    let Shapes::Stds(stds) = &gm.spec.shapes else {
        panic!("GMM-40 is isotropic")
    };
    assert!(stds.iter().all(|s| (s - 1.3132616875182228).abs() < 1e-15));
    assert!(gm.spec.weights.iter().all(|w| *w == 1.0 / 40.0));
}

#[test]
fn metadata_names_the_system_and_records_the_parameters() {
    let metadata = preset("gmm4").metadata();
    assert_eq!(metadata.system, "GMM-4 (Máté & Fleuret)");
    assert!(!metadata.description.is_empty());
    let p = &metadata.parameters;
    assert_eq!(p["preset"], "gmm4");
    assert_eq!(p["dim"], 2);
    assert_eq!(p["weights"][3], 0.25);
    assert_eq!(p["means"][1][1], -8.0);
    assert_eq!(p["stds"][0], 1.0);
    let explicit = build(EXPLICIT_3D).metadata().parameters;
    assert_eq!(explicit["weights"][0], 1.0 / 6.0);
    assert_eq!(explicit["covariances"][2][0][2], 0.7);
    assert!(explicit.get("preset").is_none());
}

#[test]
fn energy_is_finite_far_from_the_modes() {
    for name in PRESETS {
        let gm = preset(name);
        let spec = &gm.spec;
        let Shapes::Stds(stds) = &spec.shapes else {
            panic!("presets are isotropic")
        };
        let x = [1e3, 1e3];
        let (u, grad) = energy_and_gradient(&gm, &x);
        // Far away the nearest component dominates completely.
        let terms = (0..spec.means.len()).map(|k| {
            let var = stds[k] * stds[k];
            let d2 = (x[0] - spec.means[k][0]).powi(2) + (x[1] - spec.means[k][1]).powi(2);
            let log_term =
                spec.weights[k].ln() - (2.0 * std::f64::consts::PI * var).ln() - d2 / (2.0 * var);
            (log_term, k)
        });
        let (max, k) = terms.fold((f64::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a });
        assert!(u.is_finite() && u > 1e5, "{name}: u = {u}");
        assert!(
            (u + max).abs() < 1e-12 * u,
            "{name}: u = {u}, nearest component gives {}",
            -max
        );
        for i in 0..2 {
            let expected = (x[i] - spec.means[k][i]) / (stds[k] * stds[k]);
            assert!(
                (grad[i] - expected).abs() < 1e-9 * expected.abs(),
                "{name}: {grad:?}"
            );
        }
    }
    let (u, grad) = energy_and_gradient(&build(EXPLICIT_3D), &[1e3, -1e3, 1e3]);
    assert!(
        u.is_finite() && u > 1e5 && grad.iter().all(|g| g.is_finite()),
        "{u} {grad:?}"
    );
}

#[test]
fn non_finite_and_overflowing_points() {
    let gm = preset("gmm4");
    for x in [[f64::NAN, 0.0], [0.0, f64::INFINITY]] {
        let (u, grad) = energy_and_gradient(&gm, &x);
        assert!(
            u.is_nan() && grad.iter().all(|g| g.is_nan()),
            "{x:?}: {u} {grad:?}"
        );
    }
    let (u, grad) = energy_and_gradient(&gm, &[1e200, 0.0]);
    assert!(
        u == f64::INFINITY && grad.iter().all(|g| g.is_nan()),
        "{u} {grad:?}"
    );
}
