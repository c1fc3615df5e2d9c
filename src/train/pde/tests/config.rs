//! Reading the configurations from RON, and refusing bad ones.

use crate::flow::testing::*;
use crate::flow::{BaseConfig, CircularGaussianConfig, DivergenceMethod, Probe};
use crate::train::pde::{Interpolation, PdeModelConfig, PdeObjective};

#[test]
fn configurations_read_from_ron_with_defaults() {
    let text = "(flow: (base: GeneralizedGaussian((dim: 16, power: 4.0)), \
                field: (dim: 16, hidden: [128, 128, 128]), solver: Rk4((steps: 50))), \
                interpolation: Learned(hidden: [64, 64]))";
    let config: PdeModelConfig = ron::from_str(text).unwrap();
    assert_eq!(
        config.interpolation,
        Interpolation::Learned {
            hidden: vec![64, 64]
        }
    );
    assert_eq!(config.rate_hidden, vec![32, 32]);
    let again: PdeModelConfig = ron::from_str(&ron::to_string(&config).unwrap()).unwrap();
    assert_eq!(again, config);
    let model = config.init::<TestBackend>(&device()).unwrap();
    assert!(model.interpolation.is_some());

    let linear: PdeModelConfig = ron::from_str(
        "(flow: (base: DiagGaussian((dim: 2)), field: (dim: 2, hidden: [8]), \
         solver: Rk4((steps: 5))))",
    )
    .unwrap();
    assert_eq!(linear.interpolation, Interpolation::Linear);
    assert!(
        linear
            .init::<TestBackend>(&device())
            .unwrap()
            .interpolation
            .is_none()
    );
    assert!(
        ron::from_str::<PdeModelConfig>(&text.replace("interpolation", "interpolate")).is_err()
    );

    let config: crate::train::ObjectiveConfig =
        ron::from_str("Pde(weight: 2.0, times: 11)").unwrap();
    let objective = config.pde().unwrap();
    assert_eq!(
        objective,
        PdeObjective {
            weight: 2.0,
            times: 11,
            ..PdeObjective::new(2.0)
        }
    );
    assert_eq!(objective.grid()[..3], [0.0, 0.1, 0.2]);
    let hutchinson: crate::train::ObjectiveConfig =
        ron::from_str("Pde(divergence: Hutchinson(probes: 2))").unwrap();
    assert_eq!(
        hutchinson.pde().unwrap().divergence,
        DivergenceMethod::Hutchinson {
            probes: 2,
            probe: Probe::Rademacher
        }
    );
    assert!(
        ron::from_str::<crate::train::ObjectiveConfig>("Pde(weight: 1.0, batches: 3)").is_err()
    );
}

#[test]
fn bad_configurations_are_refused() {
    let mut circular = PdeModelConfig::new(super::flow_config(2, 1.0, false, vec![4]));
    circular.flow.base = BaseConfig::CircularGaussian(CircularGaussianConfig {
        circular: vec![true, false],
        trainable: false,
    });
    let mut zero_rate = PdeModelConfig::new(super::flow_config(2, 1.0, false, vec![4]));
    zero_rate.rate_hidden = vec![4, 0];
    let mut zero_nn = PdeModelConfig::new(super::flow_config(2, 1.0, false, vec![4]));
    zero_nn.interpolation = Interpolation::Learned { hidden: vec![0] };
    for (config, message) in [
        (circular, "circular"),
        (zero_rate, "rate_hidden"),
        (zero_nn, "positive sizes"),
    ] {
        let error = config
            .init::<TestBackend>(&device())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains(message), "{error}");
    }
    for bad in [
        PdeObjective {
            times: 1,
            ..PdeObjective::new(1.0)
        },
        PdeObjective {
            batch: 0,
            ..PdeObjective::new(1.0)
        },
        PdeObjective {
            substeps: 0,
            ..PdeObjective::new(1.0)
        },
        PdeObjective::new(f64::NAN),
        PdeObjective {
            divergence: DivergenceMethod::Hutchinson {
                probes: 0,
                probe: Probe::Gaussian,
            },
            ..PdeObjective::new(1.0)
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    assert!(PdeObjective::new(1.0).validate().is_ok());
}
