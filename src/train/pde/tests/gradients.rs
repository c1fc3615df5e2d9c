//! Parameter gradients of the residual loss against central differences (f64).

use crate::backend::FlowBackend;
use crate::flow::testing::*;
use crate::train::pde::{Interpolation, PdeModel, PdeModelConfig, PdeObjective, PdePoints};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// Counts the float parameters of a module.
struct Count(usize);

impl<B: FlowBackend> ModuleVisitor<B> for Count {
    fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<B, D>>) {
        self.0 += 1;
    }
}

fn count<B: FlowBackend, M: Module<B>>(module: &M) -> usize {
    let mut c = Count(0);
    module.visit(&mut c);
    c.0
}

/// The loss weight × mean(|ε| + ε²) at fixed points: backprop matches central differences for
/// parameters of the trainable base, the field, the interpolation NN and the rate C, and none
/// of them is negligible.
#[test]
fn residual_loss_gradients_match_central_differences() {
    let d = 2;
    let config = PdeModelConfig {
        flow: super::flow_config(d, 1.3, true, vec![6, 6]),
        interpolation: Interpolation::Learned { hidden: vec![5] },
        rate_hidden: vec![4],
    };
    let model: PdeModel<TestAutodiff> = seeded(config.init(&device()).unwrap(), 0.5, 4);
    // Parameter layout: base (loc, log-scale), 4 MLPs × 6 of the field, NN (4), C (4).
    let (flow, nn) = (
        count(&model.flow),
        count(model.interpolation.as_ref().unwrap()),
    );
    assert_eq!((flow, nn, count(&model.rate)), (26, 4, 4));

    let m = 12;
    let t: Vec<f64> = (0..m).map(|i| (i % 4) as f64 / 3.0).collect();
    let x = points(m, d, 2.0, 31);
    let u = points(m, 1, 3.0, 32);
    let grad_u = points(m, d, 3.0, 33);
    let objective = PdeObjective::new(0.7);
    let loss = |model: &PdeModel<TestAutodiff>| {
        let points = PdePoints::from_host(
            x.clone(),
            t.clone(),
            u.clone(),
            grad_u.clone(),
            d,
            &device(),
        )
        .unwrap();
        objective.residual_loss(model, &points).unwrap().loss
    };
    let picks = [
        (0, 1),             // base loc
        (1, 0),             // base log-scale
        (2, 3),             // field MLP 0, first-layer weight
        (2 + 6 + 3, 4),     // field MLP 1, second hidden bias
        (2 + 18 + 4, 7),    // field MLP 3, output weight
        (flow, 2 * 5 + 3),  // NN first-layer weight, time row
        (flow + 2, 4),      // NN output weight
        (flow + nn, 2),     // C first-layer weight
        (flow + nn + 3, 0), // C output bias
    ];
    let differences = assert_parameter_gradients(&model, loss, &picks, 1e-6);
    assert!(
        differences.iter().all(|g| g.abs() > 1e-4),
        "{differences:?}"
    );
}

/// Computing the residual in chunks changes neither its values nor the parameter gradients.
#[test]
fn chunks_give_the_same_residual_and_gradients() {
    let d = 3;
    let config = PdeModelConfig {
        flow: super::flow_config(d, 0.9, true, vec![5]),
        interpolation: Interpolation::Learned { hidden: vec![4] },
        rate_hidden: vec![3],
    };
    let model: PdeModel<TestAutodiff> = seeded(config.init(&device()).unwrap(), 0.5, 6);
    let m = 23;
    let t: Vec<f64> = (0..m).map(|i| i as f64 / (m - 1) as f64).collect();
    let points = PdePoints::from_host(
        points(m, d, 2.0, 61),
        t,
        points(m, 1, 3.0, 62),
        points(m, d, 3.0, 63),
        d,
        &device(),
    )
    .unwrap();
    let exact = crate::flow::DivergenceMethod::Exact;
    let whole = model
        .residual_in_chunks(&points, &exact, m)
        .unwrap()
        .estimate();
    let chunked = model
        .residual_in_chunks(&points, &exact, 5)
        .unwrap()
        .estimate();
    let gradients = |residual: Tensor<TestAutodiff, 1>| {
        let values = values(residual.clone().inner());
        let grads = residual.powi_scalar(2).sum().backward();
        let gradients: Vec<Vec<f64>> = (0..count(&model))
            .map(|p| parameter_gradient(&model, &grads, p))
            .collect();
        (values, gradients)
    };
    let (whole, chunked) = (gradients(whole), gradients(chunked));
    for (a, b) in whole.0.iter().zip(&chunked.0) {
        assert_close(*a, *b, 1e-13, "residual");
    }
    for (a, b) in whole.1.iter().flatten().zip(chunked.1.iter().flatten()) {
        assert_close(*a, *b, 1e-12, "gradient");
    }
    assert!(whole.1.iter().flatten().filter(|g| **g != 0.0).count() > 100);
}
