//! Flow architectures by name, as written in run configurations. A [`FlowSpec`] is expanded
//! into an explicit [`FlowConfig`] (masks and all) once, from the run's seed.

use super::{
    Activation, AffineCouplingConfig, BaseConfig, CircularGaussianConfig, ContinuousFlowConfig,
    DiagGaussianConfig, DivergenceMethod, FlowConfig, GatedFieldConfig, GeneralizedGaussianConfig,
    InternalCoordinatesConfig, LayerConfig, LuLinearConfig, Mask, PeriodicShiftConfig, Rk4Config,
    SolverConfig, SplineCouplingConfig, alternating_mask, random_mask,
};
use boltzflow_plugin::Molecule;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A flow architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FlowSpec {
    /// RealNVP: affine couplings with alternating masks, optionally with an invertible linear
    /// (LU) mixing layer after each (FAB's layout), over a diagonal Gaussian base.
    RealNvp {
        /// Number of coupling layers.
        layers: usize,
        /// Hidden widths of each conditioner.
        hidden: Vec<usize>,
        /// Conditioner activation.
        #[serde(default)]
        activation: Activation,
        /// An LU mixing layer after each coupling.
        #[serde(default)]
        lu: bool,
        /// Train the base's mean and scales too.
        #[serde(default)]
        trainable_base: bool,
        /// Standard deviation of the base (match the target's scale).
        #[serde(default = "crate::defaults::real::<1, 1>")]
        base_std: f64,
    },
    /// Neural spline flow: rational-quadratic spline couplings with linear tails and alternating
    /// masks, optionally with an invertible linear (LU) mixing layer after each, over a diagonal
    /// Gaussian base.
    Spline {
        /// Number of coupling layers.
        layers: usize,
        /// Hidden widths of each conditioner.
        hidden: Vec<usize>,
        /// Bins per spline.
        #[serde(default = "crate::defaults::int::<8>")]
        bins: usize,
        /// Splines act on [−tail_bound, tail_bound], identity outside.
        #[serde(default = "crate::defaults::real::<5, 1>")]
        tail_bound: f64,
        /// Conditioner activation.
        #[serde(default)]
        activation: Activation,
        /// Residual connections in the conditioners.
        #[serde(default)]
        residual: bool,
        /// An LU mixing layer after each coupling.
        #[serde(default)]
        lu: bool,
        /// Train the base's mean and scales too.
        #[serde(default)]
        trainable_base: bool,
        /// Standard deviation of the base.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        base_std: f64,
    },
    /// A continuous flow dx/dt = V_t(x) with the published time-gated field (Máté & Fleuret),
    /// trained by the PDE objective (and optionally others).
    Continuous {
        /// Hidden widths of each of the field's MLPs (128×3 published for the double well,
        /// 64×2 for the 2-D mixtures).
        hidden: Vec<usize>,
        /// Number of gated MLPs.
        #[serde(default = "crate::defaults::int::<4>")]
        gates: usize,
        /// The base distribution at t = 0.
        base: ContinuousBase,
        /// The ODE solver (RK4 with 50 steps published).
        #[serde(default = "rk4_50")]
        solver: SolverConfig,
        /// How ∇·V is computed in log q.
        #[serde(default)]
        divergence: DivergenceMethod,
    },
    /// FAB's molecular flow (docs/benchmarks.md §5): rational-quadratic spline couplings on normalised
    /// internal coordinates, with circular splines on the torsions, random masks, a random
    /// periodic shift of the torsions every `shift_every` couplings and residual conditioners,
    /// then the internal → Cartesian layer. The base is uniform on [−π, π) for the torsions
    /// and standard normal for the other coordinates; the flow starts as the identity map.
    Molecular {
        /// Which internal coordinates.
        internal: InternalSpec,
        /// The structure that normalises them (FAB: the minimum-energy structure), a CSV file
        /// `index,x_nm,y_nm,z_nm` relative to the configuration's folder.
        reference: PathBuf,
        /// Number of coupling layers.
        #[serde(default = "crate::defaults::int::<12>")]
        layers: usize,
        /// Hidden widths of each conditioner.
        #[serde(default = "fab_hidden")]
        hidden: Vec<usize>,
        /// Bins per spline.
        #[serde(default = "crate::defaults::int::<8>")]
        bins: usize,
        /// Non-circular coordinates: splines on [−tail_bound, tail_bound], linear outside.
        #[serde(default = "crate::defaults::real::<5, 1>")]
        tail_bound: f64,
        /// A random periodic shift of the torsions after every `shift_every` couplings (0:
        /// none).
        #[serde(default = "crate::defaults::int::<2>")]
        shift_every: usize,
    },
    /// A flow on the torus [−π, π)ᵈ, for systems whose coordinates are all angles (such as a
    /// learned free-energy surface over dihedrals): circular rational-quadratic spline
    /// couplings with alternating masks and residual conditioners, a random periodic shift
    /// every `shift_every` couplings, over the uniform density. The chain ends in a shift, so
    /// the density is evaluated at the wrapped point: it is periodic, as the target is, and MCMC
    /// may move angles past ±π.
    Torus {
        /// Number of coupling layers.
        #[serde(default = "crate::defaults::int::<8>")]
        layers: usize,
        /// Hidden widths of each conditioner.
        #[serde(default = "torus_hidden")]
        hidden: Vec<usize>,
        /// Bins per spline.
        #[serde(default = "crate::defaults::int::<8>")]
        bins: usize,
        /// A random periodic shift after every `shift_every` couplings.
        #[serde(default = "crate::defaults::int::<1>")]
        shift_every: usize,
    },
}

/// How a [`FlowSpec::Molecular`] defines its internal coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum InternalSpec {
    /// FAB's Z-matrix of alanine dipeptide, with its 12 circular torsions.
    AlanineDipeptide,
    /// A Z-matrix built from the system's bond graph (its metadata's bonds and masses), with
    /// the proper torsions circular.
    BondGraph,
}

/// What a [`FlowSpec`] is expanded against.
#[derive(Clone, Copy, Debug)]
pub struct BuildContext<'a> {
    /// Coordinates per point of the target.
    pub dim: usize,
    /// The run's seed, for the random choices (masks, mixing, shifts).
    pub seed: u64,
    /// The configuration's folder, for the files a spec names.
    pub base_dir: &'a Path,
    /// The system's molecule, for molecular flows.
    pub molecule: Option<&'a Molecule>,
}

/// The base of a continuous flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ContinuousBase {
    /// N(0, std² I), fixed.
    Gaussian {
        /// Standard deviation.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        std: f64,
    },
    /// exp(−Σ|xᵢ/σ|ᵖ)/Z (p = 4, σ = 1 published for the double well).
    GeneralizedGaussian {
        /// The power p.
        power: f64,
        /// The scale σ.
        #[serde(default = "crate::defaults::real::<1, 1>")]
        scale: f64,
    },
}

/// A flow's explicit configuration: a chain of layers or a continuous flow.
#[derive(Clone, Debug, PartialEq)]
pub enum BuiltFlow {
    /// A base and a chain of layers.
    Coupling(FlowConfig),
    /// A continuous flow.
    Continuous(ContinuousFlowConfig),
}

fn fab_hidden() -> Vec<usize> {
    vec![256, 256]
}

fn torus_hidden() -> Vec<usize> {
    vec![64, 64]
}

fn rk4_50() -> SolverConfig {
    SolverConfig::Rk4(Rk4Config { steps: 50 })
}

impl FlowSpec {
    /// The explicit configuration for the target of `context`; random choices come from its
    /// seed.
    pub fn build(&self, context: &BuildContext) -> crate::Result<BuiltFlow> {
        let BuildContext { dim, seed, .. } = *context;
        let coupling_dim = || {
            if dim < 2 {
                return Err(crate::Error::InvalidArgument(format!(
                    "coupling flows need dim ≥ 2, the system has {dim}"
                )));
            }
            Ok(())
        };
        match self {
            FlowSpec::RealNvp {
                layers,
                hidden,
                activation,
                lu,
                trainable_base,
                base_std,
            } => {
                coupling_dim()?;
                let couplings = (0..*layers).map(|i| {
                    LayerConfig::Affine(AffineCouplingConfig {
                        mask: alternating_mask(dim, i % 2 == 0),
                        hidden: hidden.clone(),
                        activation: *activation,
                    })
                });
                Ok(BuiltFlow::Coupling(FlowConfig {
                    base: diagonal_base(dim, *trainable_base, *base_std),
                    layers: with_mixing(couplings, dim, *lu, seed),
                }))
            }
            FlowSpec::Spline {
                layers,
                hidden,
                bins,
                tail_bound,
                activation,
                residual,
                lu,
                trainable_base,
                base_std,
            } => {
                coupling_dim()?;
                let couplings = (0..*layers).map(|i| {
                    LayerConfig::Spline(SplineCouplingConfig {
                        bins: *bins,
                        tail_bound: *tail_bound,
                        activation: *activation,
                        residual: *residual,
                        ..SplineCouplingConfig::new(
                            alternating_mask(dim, i % 2 == 0),
                            hidden.clone(),
                        )
                    })
                });
                Ok(BuiltFlow::Coupling(FlowConfig {
                    base: diagonal_base(dim, *trainable_base, *base_std),
                    layers: with_mixing(couplings, dim, *lu, seed),
                }))
            }
            FlowSpec::Continuous {
                hidden,
                gates,
                base,
                solver,
                divergence,
            } => {
                let base = match *base {
                    ContinuousBase::Gaussian { std } => diagonal_base(dim, false, std),
                    ContinuousBase::GeneralizedGaussian { power, scale } => {
                        BaseConfig::GeneralizedGaussian(GeneralizedGaussianConfig {
                            dim,
                            power,
                            scale,
                        })
                    }
                };
                Ok(BuiltFlow::Continuous(ContinuousFlowConfig {
                    base,
                    field: GatedFieldConfig {
                        gates: *gates,
                        ..GatedFieldConfig::new(dim, hidden.clone())
                    },
                    solver: solver.clone(),
                    divergence: *divergence,
                }))
            }
            FlowSpec::Molecular {
                internal,
                reference,
                layers,
                hidden,
                bins,
                tail_bound,
                shift_every,
            } => {
                let internal = internal.build(context, reference)?;
                if internal.cartesian_dim() != dim {
                    return Err(crate::Error::InvalidArgument(format!(
                        "the molecular flow has {} atoms, the system {dim} coordinates",
                        internal.cartesian_dim() / 3
                    )));
                }
                let circular = internal.circular_outputs();
                let splines = CircularSplines {
                    circular: &circular,
                    hidden,
                    bins: *bins,
                    tail_bound: *tail_bound,
                    shift_every: *shift_every,
                };
                let mut chain =
                    splines.chain(*layers, seed, |_, rng| random_mask(circular.len(), rng));
                chain.push(LayerConfig::Internal(internal));
                Ok(BuiltFlow::Coupling(FlowConfig {
                    base: circular_base(circular),
                    layers: chain,
                }))
            }
            FlowSpec::Torus {
                layers,
                hidden,
                bins,
                shift_every,
            } => {
                coupling_dim()?;
                let circular = vec![true; dim];
                let splines = CircularSplines {
                    circular: &circular,
                    hidden,
                    bins: *bins,
                    tail_bound: std::f64::consts::PI,
                    shift_every: *shift_every,
                };
                let mut chain =
                    splines.chain(*layers, seed, |i, _| alternating_mask(dim, i % 2 == 0));
                if !matches!(chain.last(), Some(LayerConfig::PeriodicShift(_))) {
                    // The wrap that makes the density periodic.
                    chain.push(LayerConfig::PeriodicShift(PeriodicShiftConfig {
                        offsets: vec![Some(0.0); dim],
                    }));
                }
                Ok(BuiltFlow::Coupling(FlowConfig {
                    base: circular_base(circular),
                    layers: chain,
                }))
            }
        }
    }
}

/// Circular spline couplings (residual conditioners, as in FAB's molecular flow), each
/// `shift_every`-th followed by a random periodic shift of the angles.
struct CircularSplines<'a> {
    circular: &'a [bool],
    hidden: &'a [usize],
    bins: usize,
    tail_bound: f64,
    shift_every: usize,
}

impl CircularSplines<'_> {
    /// `layers` couplings, the i-th with the mask `mask(i, rng)`; the random choices come
    /// from the run's seed.
    fn chain(
        &self,
        layers: usize,
        seed: u64,
        mut mask: impl FnMut(usize, &mut rand_pcg::Pcg64) -> Mask,
    ) -> Vec<LayerConfig> {
        let mut rng =
            rand_pcg::Pcg64::seed_from_u64(crate::seed::Stream::FlowConstruction.seed(seed));
        let mut chain = Vec::new();
        for i in 0..layers {
            chain.push(LayerConfig::Spline(SplineCouplingConfig {
                circular: self.circular.to_vec(),
                residual: true,
                bins: self.bins,
                tail_bound: self.tail_bound,
                ..SplineCouplingConfig::new(mask(i, &mut rng), self.hidden.to_vec())
            }));
            if self.shift_every > 0 && (i + 1) % self.shift_every == 0 {
                chain.push(LayerConfig::PeriodicShift(PeriodicShiftConfig::random(
                    self.circular,
                    &mut rng,
                )));
            }
        }
        chain
    }
}

/// Uniform on [−π, π) for the angles, a fixed standard normal for the other coordinates.
fn circular_base(circular: Vec<bool>) -> BaseConfig {
    BaseConfig::CircularGaussian(CircularGaussianConfig {
        circular,
        trainable: false,
    })
}

/// The most layers a flow may have.
const MAX_LAYERS: usize = 1000;
/// The widest hidden layer allowed.
const MAX_WIDTH: usize = 1 << 16;
/// The most spline bins allowed.
const MAX_BINS: usize = 1024;

impl FlowSpec {
    /// Checks the numbers that serde cannot: counts within sensible limits, scales finite and
    /// positive. An absurd number is a clear error before any tensor is built.
    pub fn validate(&self) -> crate::Result<()> {
        let fail = |m: String| Err(crate::Error::InvalidArgument(format!("flow: {m}")));
        let positive = |name: &str, v: f64| -> crate::Result<()> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                fail(format!(
                    "`{name}` must be a positive finite number, not {v}"
                ))
            }
        };
        let count = |name: &str, v: usize, max: usize| -> crate::Result<()> {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                fail(format!("`{name}` must be 1 to {max}, not {v}"))
            }
        };
        let widths = |hidden: &[usize]| -> crate::Result<()> {
            if hidden.is_empty() || hidden.len() > MAX_LAYERS {
                return fail(format!(
                    "`hidden` needs 1 to {MAX_LAYERS} widths, e.g. [128, 128]"
                ));
            }
            hidden
                .iter()
                .try_for_each(|&w| count("hidden", w, MAX_WIDTH))
        };
        let splines = |layers: usize, hidden: &[usize], bins: usize, tail_bound: f64| {
            count("layers", layers, MAX_LAYERS)?;
            widths(hidden)?;
            count("bins", bins, MAX_BINS)?;
            positive("tail_bound", tail_bound)
        };
        match self {
            FlowSpec::RealNvp {
                layers,
                hidden,
                base_std,
                ..
            } => {
                count("layers", *layers, MAX_LAYERS)?;
                widths(hidden)?;
                positive("base_std", *base_std)
            }
            FlowSpec::Spline {
                layers,
                hidden,
                bins,
                tail_bound,
                base_std,
                ..
            } => {
                splines(*layers, hidden, *bins, *tail_bound)?;
                positive("base_std", *base_std)
            }
            FlowSpec::Continuous {
                hidden,
                gates,
                base,
                solver,
                divergence,
            } => {
                widths(hidden)?;
                count("gates", *gates, MAX_LAYERS)?;
                match base {
                    ContinuousBase::Gaussian { std } => positive("std", *std)?,
                    ContinuousBase::GeneralizedGaussian { power, scale } => {
                        positive("power", *power)?;
                        positive("scale", *scale)?;
                    }
                }
                solver.validate()?;
                divergence.validate()
            }
            FlowSpec::Molecular {
                layers,
                hidden,
                bins,
                tail_bound,
                shift_every,
                ..
            } => {
                splines(*layers, hidden, *bins, *tail_bound)?;
                count("shift_every", *shift_every, MAX_LAYERS)
            }
            FlowSpec::Torus {
                layers,
                hidden,
                bins,
                shift_every,
            } => {
                splines(*layers, hidden, *bins, std::f64::consts::PI)?;
                count("shift_every", *shift_every, MAX_LAYERS)
            }
        }
    }

    /// The dimension of the space in which MCMC on this flow's density runs, for a system with
    /// `dim` coordinates: the internal coordinates (3n − 6) for a molecular flow, as FAB does,
    /// else `dim`.
    pub fn mcmc_dim(&self, dim: usize) -> usize {
        match self {
            FlowSpec::Molecular { .. } => dim.saturating_sub(6),
            _ => dim,
        }
    }
}

impl InternalSpec {
    /// The internal-coordinate layer, normalised against the structure in `reference`.
    fn build(
        self,
        context: &BuildContext,
        reference: &Path,
    ) -> crate::Result<InternalCoordinatesConfig> {
        let reference = crate::io::read_structure_csv(&context.base_dir.join(reference))?;
        match self {
            InternalSpec::AlanineDipeptide => {
                InternalCoordinatesConfig::alanine_dipeptide(reference)
            }
            InternalSpec::BondGraph => {
                let Some(molecule) = context.molecule else {
                    return Err(crate::Error::InvalidArgument(
                        "internal: BondGraph needs a molecular system (its plugin reports no \
                         molecule)"
                            .into(),
                    ));
                };
                let masses: Vec<f64> = molecule.atoms.iter().map(|a| a.mass).collect();
                let bonds: Vec<(usize, usize)> =
                    molecule.bonds.iter().map(|&[a, b]| (a, b)).collect();
                InternalCoordinatesConfig::from_bond_graph(&masses, &bonds, reference)
            }
        }
    }
}

fn diagonal_base(dim: usize, trainable: bool, std: f64) -> BaseConfig {
    BaseConfig::DiagGaussian(DiagGaussianConfig {
        dim,
        trainable,
        std,
    })
}

/// The couplings, each followed by a random LU mixing layer when `lu`.
fn with_mixing(
    couplings: impl Iterator<Item = LayerConfig>,
    dim: usize,
    lu: bool,
    seed: u64,
) -> Vec<LayerConfig> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(crate::seed::Stream::FlowConstruction.seed(seed));
    let mut layers = Vec::new();
    for coupling in couplings {
        layers.push(coupling);
        if lu {
            layers.push(LayerConfig::LuLinear(LuLinearConfig::random(dim, &mut rng)));
        }
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn molecular(internal: InternalSpec, layers: usize, shift_every: usize) -> FlowSpec {
        FlowSpec::Molecular {
            internal,
            reference: "aldp_min_energy.csv".into(),
            layers,
            hidden: vec![8],
            bins: 4,
            tail_bound: 5.0,
            shift_every,
        }
    }

    fn context(dim: usize) -> BuildContext<'static> {
        BuildContext {
            dim,
            seed: 3,
            base_dir: Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/data/alanine_dipeptide"
            )),
            molecule: None,
        }
    }

    #[test]
    fn fab_alanine_flow_layout() {
        let BuiltFlow::Coupling(flow) = molecular(InternalSpec::AlanineDipeptide, 6, 2)
            .build(&context(66))
            .unwrap()
        else {
            panic!("a molecular flow is a coupling flow");
        };
        let kinds: Vec<&str> = flow
            .layers
            .iter()
            .map(|layer| match layer {
                LayerConfig::Spline(_) => "spline",
                LayerConfig::PeriodicShift(_) => "shift",
                LayerConfig::Internal(_) => "internal",
                _ => "other",
            })
            .collect();
        let expected = [
            "spline", "spline", "shift", "spline", "spline", "shift", "spline", "spline", "shift",
            "internal",
        ];
        assert_eq!(kinds, expected);
        let LayerConfig::Spline(spline) = &flow.layers[0] else {
            unreachable!()
        };
        assert_eq!(spline.circular.iter().filter(|&&c| c).count(), 12);
        assert_eq!(spline.mask.0.iter().filter(|&&m| m).count(), 30);
        assert!(spline.residual);
    }

    #[test]
    fn molecular_flows_refuse_a_wrong_system() {
        let wrong_dim = molecular(InternalSpec::AlanineDipeptide, 2, 2)
            .build(&context(60))
            .unwrap_err()
            .to_string();
        assert!(wrong_dim.contains("22 atoms"), "{wrong_dim}");
        let no_molecule = molecular(InternalSpec::BondGraph, 2, 2)
            .build(&context(66))
            .unwrap_err()
            .to_string();
        assert!(
            no_molecule.contains("needs a molecular system"),
            "{no_molecule}"
        );
        let missing = FlowSpec::Molecular {
            internal: InternalSpec::AlanineDipeptide,
            reference: "no_such_file.csv".into(),
            layers: 2,
            hidden: vec![8],
            bins: 4,
            tail_bound: 5.0,
            shift_every: 2,
        }
        .build(&context(66))
        .unwrap_err()
        .to_string();
        assert!(missing.contains("no_such_file.csv"), "{missing}");
    }

    /// A torus flow with random weights is a density on the torus: periodic in every angle
    /// (it is evaluated at the wrapped point), normalised over [−π, π)² (midpoint rule; the
    /// splines' density has kinks at the knots, so the rule is of second order and the weights
    /// are kept small enough that the map stays smooth on the grid), with its samples in [−π, π)
    /// and their log q equal to the log q of the same points.
    #[test]
    fn torus_flows_are_periodic_normalised_densities() {
        use crate::flow::Density;
        use crate::flow::testing::{TestBackend, device, seeded, tensor, values};
        use std::f64::consts::PI;
        let spec = FlowSpec::Torus {
            layers: 3,
            hidden: vec![16],
            bins: 6,
            shift_every: 2,
        };
        spec.validate().unwrap();
        let BuiltFlow::Coupling(config) = spec.build(&context(2)).unwrap() else {
            panic!("a torus flow is a coupling flow");
        };
        assert!(matches!(
            config.layers.last(),
            Some(LayerConfig::PeriodicShift(_))
        ));
        let flow = seeded(config.init::<TestBackend>(&device()).unwrap(), 0.2, 7);
        let m = 128;
        let h = 2.0 * PI / m as f64;
        let grid: Vec<f64> = (0..m * m)
            .flat_map(|k| {
                let (i, j) = (k / m, k % m);
                [-PI + (i as f64 + 0.5) * h, -PI + (j as f64 + 0.5) * h]
            })
            .collect();
        let log_q = values(flow.log_prob(tensor(&grid, m * m, 2)));
        let mass: f64 = log_q.iter().map(|l| l.exp() * h * h).sum();
        assert!((mass - 1.0).abs() < 1e-5, "mass {mass}");
        let spread = log_q
            .iter()
            .fold(0.0f64, |a, l| a.max((l - log_q[0]).abs()));
        assert!(
            spread > 0.1,
            "the random flow is not uniform: spread {spread}"
        );
        let shifted: Vec<f64> = grid
            .chunks(2)
            .flat_map(|p| [p[0] + 2.0 * PI, p[1] - 4.0 * PI])
            .collect();
        let log_q_shifted = values(flow.log_prob(tensor(&shifted, m * m, 2)));
        for (a, b) in log_q.iter().zip(&log_q_shifted) {
            assert!((a - b).abs() < 1e-9, "not periodic: {a} against {b}");
        }
        let (x, log_q_x) = flow.sample(500);
        let x = values(x);
        assert!(x.iter().all(|a| (-PI..PI).contains(a)));
        let again = values(flow.log_prob(tensor(&x, 500, 2)));
        for (a, b) in values(log_q_x).iter().zip(&again) {
            assert!((a - b).abs() < 1e-9, "sample log q {a}, log q {b}");
        }
    }
}
