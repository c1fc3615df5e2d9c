//! The plugin's configuration: the presets, the explicit form, and their validation into a
//! [`Spec`].

use boltzflow_plugin::{PluginError, parse_config};
use serde::{Deserialize, Serialize};

/// Names of the presets, in the order error messages list them.
pub const PRESETS: [&str; 3] = ["gmm40", "gmm4", "gmm2"];

/// The GMM-40 means (columns `index,x,y`), from FAB (Midgley et al. 2023).
const GMM40_MEANS_CSV: &str = include_str!("../../../data/gmm40_means.csv");

/// The configuration as written (RON). Either `preset` alone, or the explicit fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    preset: Option<String>,
    weights: Option<Vec<f64>>,
    means: Option<Vec<Vec<f64>>>,
    covariances: Option<Vec<Vec<Vec<f64>>>>,
    #[serde(alias = "std")]
    stds: Option<Vec<f64>>,
}

/// The shape of every component: isotropic (one standard deviation each) or a full covariance.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shapes {
    /// Σ_k = σ_k² I.
    Stds(Vec<f64>),
    /// Σ_k given in full (symmetric positive definite, row-major rows).
    Covariances(Vec<Vec<Vec<f64>>>),
}

/// A validated mixture: weights normalised to sum 1, one mean and one shape per component.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Human-readable system name, for the metadata.
    pub system: String,
    /// One line on the mixture, for the metadata.
    pub description: String,
    /// The preset it came from, if any.
    pub preset: Option<&'static str>,
    /// Component weights, positive and summing to 1.
    pub weights: Vec<f64>,
    /// Component means, all of the same dimension.
    pub means: Vec<Vec<f64>>,
    /// Component covariances.
    pub shapes: Shapes,
}

impl Spec {
    /// Reads and validates a configuration text.
    pub fn from_config(text: &str) -> Result<Spec, PluginError> {
        let config: Config = parse_config(text)?;
        match config.preset.as_deref() {
            Some(preset) => {
                reject_explicit_fields(preset, &config)?;
                Spec::preset(preset)
            }
            None => Spec::explicit(config),
        }
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.means[0].len()
    }

    /// Component `k`'s covariance matrix, row-major (`dim × dim`).
    pub fn covariance(&self, k: usize) -> Vec<f64> {
        let dim = self.dim();
        match &self.shapes {
            Shapes::Stds(stds) => {
                let mut cov = vec![0.0; dim * dim];
                for i in 0..dim {
                    cov[i * dim + i] = stds[k] * stds[k];
                }
                cov
            }
            Shapes::Covariances(covs) => covs[k].concat(),
        }
    }

    /// The named preset.
    fn preset(name: &str) -> Result<Spec, PluginError> {
        match name {
            "gmm40" => Ok(gmm40()),
            "gmm4" => Ok(gmm4()),
            "gmm2" => Ok(gmm2()),
            _ => Err(PluginError::new(format!(
                "unknown preset {name:?}: valid presets are {}",
                preset_list()
            ))),
        }
    }

    /// An explicit mixture: `means`, then `covariances` or `stds`, and optional `weights`.
    fn explicit(config: Config) -> Result<Spec, PluginError> {
        let means = config.means.ok_or_else(|| {
            PluginError::new(format!(
                "the configuration gives no mixture: set `preset` to one of {}, or give `means` \
                 with `covariances` or `stds`, for example (means: [[0.0, 0.0]], stds: [1.0])",
                preset_list()
            ))
        })?;
        let dim = check_means(&means)?;
        let n = means.len();
        let weights = normalised_weights(config.weights, n)?;
        let shapes = match (config.covariances, config.stds) {
            (Some(covs), None) => Shapes::Covariances(check_covariances(covs, n, dim)?),
            (None, Some(stds)) => Shapes::Stds(check_stds(stds, n)?),
            (Some(_), Some(_)) => {
                return Err(PluginError::new(
                    "give either `covariances` or `stds`, not both: remove one of them",
                ));
            }
            (None, None) => {
                return Err(PluginError::new(format!(
                    "the component shapes are missing: give `covariances` (one {dim}×{dim} \
                     matrix per component) or `stds` (one isotropic standard deviation per \
                     component)"
                )));
            }
        };
        let kind = match shapes {
            Shapes::Stds(_) => "isotropic",
            Shapes::Covariances(_) => "full-covariance",
        };
        Ok(Spec {
            system: "Gaussian mixture".into(),
            description: format!("{dim}-D mixture of {n} {kind} Gaussian components"),
            preset: None,
            weights,
            means,
            shapes,
        })
    }
}

/// `"gmm40", "gmm4", "gmm2"`.
fn preset_list() -> String {
    PRESETS.map(|p| format!("{p:?}")).join(", ")
}

/// A preset fixes every parameter, so explicit fields next to it are a mistake.
fn reject_explicit_fields(preset: &str, config: &Config) -> Result<(), PluginError> {
    let given: Vec<&str> = [
        ("weights", config.weights.is_some()),
        ("means", config.means.is_some()),
        ("covariances", config.covariances.is_some()),
        ("stds", config.stds.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(PluginError::new(format!(
        "`preset: {preset:?}` fixes the whole mixture and cannot be combined with `{}`: remove \
         the preset to give an explicit mixture, or remove those fields",
        given.join("`, `")
    )))
}

/// Checks that there is at least one mean, all finite and of one positive dimension, which it
/// returns.
fn check_means(means: &[Vec<f64>]) -> Result<usize, PluginError> {
    let first = means
        .first()
        .ok_or_else(|| PluginError::new("`means` is empty: give at least one component mean"))?;
    let dim = first.len();
    if dim == 0 {
        return Err(PluginError::new(
            "the mean of component 0 has no coordinates: give means of dimension 1 or more",
        ));
    }
    for (k, mean) in means.iter().enumerate() {
        if mean.len() != dim {
            return Err(PluginError::new(format!(
                "the mean of component {k} has {} coordinates but that of component 0 has {dim}: \
                 all means need the same dimension",
                mean.len()
            )));
        }
        if let Some(v) = mean.iter().find(|v| !v.is_finite()) {
            return Err(PluginError::new(format!(
                "the mean of component {k} has a non-finite coordinate ({v}): use finite numbers"
            )));
        }
    }
    Ok(dim)
}

/// Checks the weights (one per component, positive and finite; equal when not given) and
/// normalises them to sum 1.
fn normalised_weights(weights: Option<Vec<f64>>, n: usize) -> Result<Vec<f64>, PluginError> {
    let weights = weights.unwrap_or_else(|| vec![1.0; n]);
    if weights.len() != n {
        return Err(PluginError::new(format!(
            "`weights` has {} entries but `means` has {n} components: give one weight per \
             component, or leave `weights` out for equal weights",
            weights.len()
        )));
    }
    if let Some((k, w)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !(w.is_finite() && **w > 0.0))
    {
        return Err(PluginError::new(format!(
            "the weight of component {k} is {w}: weights must be positive and finite (they are \
             normalised to sum 1)"
        )));
    }
    let total: f64 = weights.iter().sum();
    if !total.is_finite() {
        return Err(PluginError::new(
            "the weights sum to infinity: scale them down (they are normalised to sum 1)",
        ));
    }
    Ok(weights.iter().map(|w| w / total).collect())
}

/// Checks the isotropic standard deviations: one per component, positive and finite.
fn check_stds(stds: Vec<f64>, n: usize) -> Result<Vec<f64>, PluginError> {
    if stds.len() != n {
        return Err(PluginError::new(format!(
            "`stds` has {} entries but `means` has {n} components: give one standard deviation \
             per component",
            stds.len()
        )));
    }
    if let Some((k, s)) = stds
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        return Err(PluginError::new(format!(
            "the standard deviation of component {k} is {s}: it must be positive and finite"
        )));
    }
    Ok(stds)
}

/// Checks the covariances' count, shape, finiteness and symmetry, and symmetrises away rounding.
/// Positive definiteness is checked where they are factorised.
fn check_covariances(
    covs: Vec<Vec<Vec<f64>>>,
    n: usize,
    dim: usize,
) -> Result<Vec<Vec<Vec<f64>>>, PluginError> {
    if covs.len() != n {
        return Err(PluginError::new(format!(
            "`covariances` has {} matrices but `means` has {n} components: give one {dim}×{dim} \
             matrix per component",
            covs.len()
        )));
    }
    covs.into_iter()
        .enumerate()
        .map(|(k, cov)| check_covariance(k, cov, dim))
        .collect()
}

/// Checks one covariance matrix (component `k`) and returns it exactly symmetric.
fn check_covariance(
    k: usize,
    mut cov: Vec<Vec<f64>>,
    dim: usize,
) -> Result<Vec<Vec<f64>>, PluginError> {
    if cov.len() != dim || cov.iter().any(|row| row.len() != dim) {
        return Err(PluginError::new(format!(
            "the covariance of component {k} is not a {dim}×{dim} matrix: give {dim} rows of \
             {dim} numbers, matching the dimension of the means"
        )));
    }
    if cov.iter().flatten().any(|v| !v.is_finite()) {
        return Err(PluginError::new(format!(
            "the covariance of component {k} has a non-finite entry: use finite numbers"
        )));
    }
    let scale = cov.iter().flatten().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (i, j) in (0..dim).flat_map(|i| (0..i).map(move |j| (i, j))) {
        let (a, b) = (cov[i][j], cov[j][i]);
        if (a - b).abs() > 1e-10 * scale {
            return Err(PluginError::new(format!(
                "the covariance of component {k} is not symmetric: entry [{i}][{j}] is {a} but \
                 [{j}][{i}] is {b}; give a symmetric positive definite matrix"
            )));
        }
        let mid = 0.5 * (a + b);
        cov[i][j] = mid;
        cov[j][i] = mid;
    }
    Ok(cov)
}

/// FAB's GMM-40: 40 equally weighted isotropic components with σ = softplus(1).
fn gmm40() -> Spec {
    let means = gmm40_means();
    let std = 1.0_f64.exp().ln_1p();
    let n = means.len();
    Spec {
        system: "GMM-40".into(),
        description: format!(
            "2-D mixture of {n} equally weighted isotropic Gaussians with σ = softplus(1) ≈ \
             {std:.4} and means in [−40, 40]² (FAB, Midgley et al. 2023)"
        ),
        preset: Some("gmm40"),
        weights: vec![1.0 / n as f64; n],
        means,
        shapes: Shapes::Stds(vec![std; n]),
    }
}

/// The GMM-40 means, parsed from the embedded CSV. The file is part of the build, so a parse
/// failure is a bug of the build, checked by the tests.
fn gmm40_means() -> Vec<Vec<f64>> {
    GMM40_MEANS_CSV
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split(',')
                .skip(1)
                .map(|v| {
                    v.trim()
                        .parse()
                        .expect("data/gmm40_means.csv holds numbers")
                })
                .collect()
        })
        .collect()
}

/// Máté & Fleuret's four equally weighted unit Gaussians at (±8, ±8).
fn gmm4() -> Spec {
    Spec {
        system: "GMM-4 (Máté & Fleuret)".into(),
        description: "2-D mixture of four equally weighted unit Gaussians at (±8, ±8)".into(),
        preset: Some("gmm4"),
        weights: vec![0.25; 4],
        means: vec![
            vec![8.0, 8.0],
            vec![8.0, -8.0],
            vec![-8.0, 8.0],
            vec![-8.0, -8.0],
        ],
        shapes: Shapes::Stds(vec![1.0; 4]),
    }
}

/// Two unit Gaussians at (4, 4) and (−8, −8), weighted 1 : 2.
fn gmm2() -> Spec {
    Spec {
        system: "GMM-2".into(),
        description: "2-D mixture of two unit Gaussians at (4, 4) and (−8, −8) with weights \
                      1/3 and 2/3"
            .into(),
        preset: Some("gmm2"),
        weights: vec![1.0 / 3.0, 2.0 / 3.0],
        means: vec![vec![4.0, 4.0], vec![-8.0, -8.0]],
        shapes: Shapes::Stds(vec![1.0; 2]),
    }
}
