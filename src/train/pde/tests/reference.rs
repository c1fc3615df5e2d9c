//! The residual and the parameter gradient of the loss against an independent reference:
//! `scripts/pde_reference.py` computes both by nested automatic differentiation in JAX (f64),
//! sharing no code and no hand-written derivative with boltzflow, for a trainable Gaussian base,
//! a gated field of 4 swish MLPs (hidden 5, 4), the swish rate C (hidden 4), and the linear or
//! the learned interpolation (NN hidden 3), at 9 points spread over t ∈ [0, 1]. The fixtures in
//! `fixtures/{linear,learned}/` hold the parameters (as a checkpoint's `model.h5`), the points,
//! the residual, the loss and its gradient with respect to every parameter.

use crate::flow::testing::*;
use crate::io::{read_array, read_f64_attr};
use crate::train::Checkpoint;
use crate::train::pde::{Interpolation, PdeModel, PdeModelConfig, PdeObjective, PdePoints};
use std::path::{Path, PathBuf};

/// Agreement asked for, relative to each value's size (plus 1e-3).
const TOLERANCE: f64 = 1e-9;

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/train/pde/tests/fixtures")
        .join(case)
}

fn check(case: &str, interpolation: Interpolation) {
    let dir = fixture(case);
    let reference = dir.join("reference.h5");
    let array = |name: &str| read_array(&reference, name).unwrap().0;
    let d = 2;
    let config = PdeModelConfig {
        flow: super::flow_config(d, 1.0, true, vec![5, 4]),
        interpolation,
        rate_hidden: vec![4],
    };
    let device = device();
    let model: PdeModel<TestAutodiff> = Checkpoint::of_run(&dir)
        .load_model(config.init(&device).unwrap(), &device)
        .unwrap();
    let points = PdePoints::from_host(
        array("x"),
        array("t"),
        array("u"),
        array("grad_u"),
        d,
        &device,
    )
    .unwrap();

    let epsilon = values(model.residual(&points).unwrap().inner());
    let expected = array("epsilon");
    assert_eq!(epsilon.len(), expected.len());
    for (a, b) in epsilon.iter().zip(&expected) {
        assert_close(*a, *b, TOLERANCE, &format!("{case}: residual"));
    }
    assert!(
        expected.iter().all(|e| e.abs() > 0.1),
        "every point contributes"
    );

    let weight = read_f64_attr(&reference, "", "loss_weight")
        .unwrap()
        .unwrap();
    let loss = PdeObjective::new(weight)
        .residual_loss(&model, &points)
        .unwrap()
        .loss;
    let expected_loss = read_f64_attr(&reference, "", "loss").unwrap().unwrap();
    assert_close(
        values(loss.clone().inner())[0],
        expected_loss,
        TOLERANCE,
        "loss",
    );
    let grads = loss.backward();
    let mut compared = 0;
    for p in 0.. {
        let name = format!("gradients/{p}");
        let Ok((expected, _)) = read_array(&reference, &name) else {
            break;
        };
        let gradient = parameter_gradient(&model, &grads, p);
        assert_eq!(gradient.len(), expected.len(), "{case}: parameter {p}");
        for (a, b) in gradient.iter().zip(&expected) {
            assert_close(
                *a,
                *b,
                TOLERANCE,
                &format!("{case}: gradient of parameter {p}"),
            );
        }
        compared += expected.len();
    }
    assert!(compared > 150, "{case}: {compared} gradient entries");
}

#[test]
fn linear_interpolation_matches_the_jax_reference() {
    check("linear", Interpolation::Linear);
}

#[test]
fn learned_interpolation_matches_the_jax_reference() {
    check("learned", Interpolation::Learned { hidden: vec![3] });
}
