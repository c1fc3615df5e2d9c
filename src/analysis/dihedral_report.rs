//! The dihedral report of `boltzflow analyze`: dihedral angles, importance-reweighted histograms with block errors,
//! the (φ, ψ) free-energy surface, basin populations and FAB's Ramachandran KL divergence of a
//! samples file (of `boltzflow sample` or `boltzflow md`), written into that file.
//!
//! Positions come from `/samples/positions` `[n, atoms, 3]` (nm) or else `/samples/x`
//! `[n, 3·atoms]` with the atom count of the molecule in the file's `metadata` attribute.
//! Samples of angles themselves (a model trained on dihedrals, whose metadata names its
//! coordinates as angles) are read from `/samples/x` `[n, angles]`, wrapped into [−π, π];
//! a reference of positions then gives the dihedrals of those names. Weights come from
//! `/samples/log_w` (uniform when absent). A sample whose log weight or one of whose angles is
//! not finite is dropped from the histograms and populations, and counted. Errors are batch
//! means over contiguous blocks ([`crate::analysis::blocking`]).

use crate::analysis::blocking::{Blocked, blocked};
use crate::analysis::geometry::dihedral_of;
use crate::analysis::histogram::{Binning, density, free_energy, ramachandran_kl};
use crate::analysis::plots::{self, Series};
use crate::analysis::ramachandran::Basin;
use crate::analysis::{ImportanceSummary, normalised_weights};
use crate::io::{
    FileLock, OutputFile, check_output, dataset_exists, folder_of, read_array, read_f64_attr,
    read_str_attr,
};
use crate::{Error, Result};
use boltzflow_plugin::{Metadata, Molecule};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Names of the two backbone dihedrals of the Ramachandran analyses.
const PHI_PSI: [&str; 2] = ["phi", "psi"];

/// The `/estimates` attributes that only some analyses write; a new analysis removes the old ones.
const OPTIONAL_ESTIMATES: [&str; 2] = ["ramachandran_kl", "ramachandran_kl_unweighted"];

/// A named dihedral angle over four atoms (indices from 0), as given on the command line:
/// `NAME=a,b,c,d`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedDihedral {
    /// The name, used for `/dihedrals/<name>` and `/histograms/<name>`.
    pub name: String,
    /// The four atom indices.
    pub atoms: [usize; 4],
}

impl FromStr for NamedDihedral {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!("'{s}' is not a dihedral: write NAME=a,b,c,d with four atom indices (from 0)")
        };
        let (name, atoms) = s.split_once('=').ok_or_else(bad)?;
        let atoms: Vec<usize> = atoms
            .split(',')
            .map(|a| a.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad())?;
        let atoms: [usize; 4] = atoms.try_into().map_err(|_| bad())?;
        let name = name.trim();
        for (i, a) in atoms.iter().enumerate() {
            if atoms[..i].contains(a) {
                return Err(format!(
                    "'{s}': atom {a} appears twice; a dihedral needs four different atoms"
                ));
            }
        }
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(format!(
                "'{name}' cannot name a dihedral: use a non-empty name without '/'"
            ));
        }
        Ok(NamedDihedral {
            name: name.to_owned(),
            atoms,
        })
    }
}

/// One angle of an analysis: its name and, for a dihedral of atom positions, its four atoms.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Angle {
    name: String,
    atoms: Option<[usize; 4]>,
}

/// What `boltzflow analyze` does.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// Dihedrals besides the named ones of the file's molecule (one of the same name replaces
    /// it); for samples of angles, dihedrals of the reference's positions.
    pub dihedrals: Vec<NamedDihedral>,
    /// A reference samples file (for example MD) for the Ramachandran KL and the plots.
    pub reference: Option<PathBuf>,
    /// Bins per angle over [−π, π].
    pub bins: usize,
    /// Blocks of the batch-means errors.
    pub blocks: usize,
    /// Write a copy of the samples file with the analysis here instead of into the samples file.
    pub output: Option<PathBuf>,
    /// Folder of the PNG plots; by default the samples file's.
    pub plots: Option<PathBuf>,
}

/// The most bins per angle: the (φ, ψ) histograms hold bins² values per block.
pub const MAX_BINS: usize = 1024;

impl AnalyzeOptions {
    /// Checks the numbers.
    pub fn validate(&self) -> Result<()> {
        if !(2..=MAX_BINS).contains(&self.bins) {
            return Err(Error::InvalidArgument(format!(
                "--bins {} is out of range: give 2 to {MAX_BINS} bins per angle",
                self.bins
            )));
        }
        if self.blocks < 2 {
            return Err(Error::InvalidArgument(format!(
                "--blocks {}: the batch-means errors need at least 2 blocks",
                self.blocks
            )));
        }
        Ok(())
    }
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            dihedrals: Vec::new(),
            reference: None,
            bins: 64,
            blocks: 20,
            output: None,
            plots: None,
        }
    }
}

/// What an analysis found, for the command line's report.
#[derive(Clone, Debug)]
pub struct AnalysisReport {
    /// The HDF5 file written.
    pub written: PathBuf,
    /// The PNG files written.
    pub plots: Vec<PathBuf>,
    /// Samples in the file.
    pub n_samples: usize,
    /// Samples dropped for a non-finite log weight or dihedral.
    pub n_nonfinite: usize,
    /// Whether the samples carry non-uniform importance weights.
    pub weighted: bool,
    /// Populations of the basins in the order of [`Basin::ALL`], with block errors.
    pub populations: Option<Blocked>,
    /// KL(reference ‖ samples) of the (φ, ψ) histograms: reweighted, and unweighted.
    pub ramachandran_kl: Option<(f64, f64)>,
}

/// Analyses the samples file `samples` (see the module documentation) and writes the results
/// into it (or into a copy, `options.output`) atomically, and the plots.
///
/// Everything is checked before the work: the options, the output (not the reference, in a
/// folder that exists), the plots' folder. An in-place analysis holds a lock, so a second one
/// on the same file is refused rather than raced. The plots are drawn after the HDF5 file is
/// committed.
pub fn analyze(samples: &Path, options: &AnalyzeOptions) -> Result<AnalysisReport> {
    options.validate()?;
    let output = options.output.as_deref().unwrap_or(samples);
    if !samples.is_file() {
        return Err(Error::Io {
            path: samples.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "samples file not found"),
        });
    }
    let mut inputs: Vec<&Path> = options.reference.as_deref().into_iter().collect();
    if options.output.is_some() {
        inputs.push(samples);
    }
    check_output(output, &inputs)?;
    let plot_dir = options
        .plots
        .clone()
        .unwrap_or_else(|| folder_of(samples).to_owned());
    if !plot_dir.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "the plots' folder {} does not exist; create it or choose another with --plots",
            plot_dir.display()
        )));
    }
    let _lock = FileLock::beside(output)?;
    let results = Results::compute(samples, options)?;
    let out = OutputFile::update(samples, output)?;
    results.write(&out)?;
    let written = out.commit()?;
    let stem = samples
        .file_stem()
        .map_or("samples".into(), |s| s.to_string_lossy());
    let plots = results.plot(&plot_dir, &stem)?;
    Ok(AnalysisReport {
        written,
        plots,
        n_samples: results.n,
        n_nonfinite: results.n_nonfinite,
        weighted: results.weighted,
        populations: results.samples.populations,
        ramachandran_kl: results.kl,
    })
}

/// Everything an analysis computes.
struct Results {
    binning: Binning,
    blocks: usize,
    dihedrals: Vec<Angle>,
    /// Each angle of every sample (NaN where the positions are not finite).
    angles: Vec<Vec<f64>>,
    n: usize,
    n_nonfinite: usize,
    weighted: bool,
    /// The samples, reweighted when they have weights.
    samples: SetAnalysis,
    /// The samples as drawn, when they have weights.
    unweighted: Option<SetAnalysis>,
    reference: Option<SetAnalysis>,
    /// Ramachandran KL of the reference to the samples: reweighted, unweighted.
    kl: Option<(f64, f64)>,
    /// The importance summary of the log weights, when there are any.
    importance: Option<ImportanceSummary>,
    temperature: Option<f64>,
}

impl Results {
    fn compute(samples: &Path, options: &AnalyzeOptions) -> Result<Self> {
        if options.bins == 0 {
            return Err(Error::InvalidArgument(
                "the number of bins must be at least 1".to_owned(),
            ));
        }
        let set = SampleSet::read(samples)?;
        let reference = options
            .reference
            .as_deref()
            .map(|path| SampleSet::read(path).map(|set| (path, set)))
            .transpose()?;
        let positions_somewhere =
            set.atoms().is_some() || reference.as_ref().is_some_and(|(_, r)| r.atoms().is_some());
        if !options.dihedrals.is_empty() && !positions_somewhere {
            return Err(Error::InvalidArgument(format!(
                "--dihedral names atoms, but {} holds angles, not positions (its angles are \
                 analysed as they are); give a reference of positions for its dihedrals",
                samples.display()
            )));
        }
        let dihedrals = set.angle_list(&options.dihedrals)?;
        if dihedrals.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{} names no dihedrals in its metadata; give some with --dihedral NAME=a,b,c,d",
                samples.display()
            )));
        }
        let phi_psi = match PHI_PSI.map(|name| dihedrals.iter().position(|d| d.name == name)) {
            [Some(phi), Some(psi)] => Some((phi, psi)),
            _ => None,
        };
        let binning = Binning::angles(options.bins);
        let analyse = |kept: &Kept| analyse(kept, phi_psi, binning, options.blocks);
        let angles = set.angles(&dihedrals, &options.dihedrals, samples)?;
        let weighted = set.has_weights();
        let kept = Kept::new(&angles, set.log_w.as_deref());
        let result = analyse(&kept)?;
        let unweighted = if weighted {
            Some(analyse(&Kept::new(&angles, None))?)
        } else {
            None
        };
        let reference = match &reference {
            Some((path, reference)) => {
                // Dihedrals of the samples' atoms need a reference of as many atoms.
                if let (Some(atoms), Some(found)) = (set.atoms(), reference.atoms())
                    && atoms != found
                {
                    return Err(Error::Shape {
                        what: format!("reference {}", path.display()),
                        expected: format!("{atoms} atoms, as in {}", samples.display()),
                        found: format!("{found} atoms"),
                    });
                }
                let angles = reference.angles(&dihedrals, &options.dihedrals, path)?;
                Some(analyse(&Kept::new(&angles, reference.log_w.as_deref()))?)
            }
            None => None,
        };
        let cell_area = binning.width().powi(2);
        let kl = |model: &SetAnalysis| {
            let r = reference.as_ref()?.ramachandran.as_ref()?;
            Some(ramachandran_kl(
                &r.value,
                &model.ramachandran.as_ref()?.value,
                cell_area,
            ))
        };
        let kl = kl(&result).zip(kl(unweighted.as_ref().unwrap_or(&result)));
        let importance = set.log_w.as_ref().map(|log_w| {
            let mut all = log_w.clone();
            all.extend(std::iter::repeat_n(f64::NEG_INFINITY, set.n_dropped_ais));
            ImportanceSummary::from_log_weights(&all)
        });
        Ok(Results {
            binning,
            blocks: options.blocks,
            dihedrals,
            angles,
            n: set.n,
            n_nonfinite: kept.n_dropped,
            weighted,
            samples: result,
            unweighted,
            reference,
            kl,
            importance,
            temperature: set.temperature,
        })
    }

    /// k_BT and the unit of the free energies: kJ/mol at the file's temperature, else k_BT.
    fn energy_unit(&self) -> (f64, &'static str) {
        match self.temperature {
            Some(t) => (crate::energy::BOLTZMANN * t, "kJ/mol"),
            None => (1.0, "k_BT"),
        }
    }

    /// Writes `<stem>_ramachandran.png` (with φ and ψ) and `<stem>_marginals.png` into `dir`.
    fn plot(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
        let (kbt, unit) = self.energy_unit();
        let samples_label = if self.weighted {
            "reweighted"
        } else {
            "samples"
        };
        let analyses: Vec<(&str, &SetAnalysis)> = [
            self.unweighted.as_ref().map(|u| ("samples, unweighted", u)),
            Some((samples_label, &self.samples)),
            self.reference.as_ref().map(|r| ("reference", r)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut written = Vec::new();
        if self.samples.ramachandran.is_some() {
            let surfaces: Vec<(&str, Vec<f64>)> = analyses
                .iter()
                .filter_map(|(label, a)| {
                    let r = a.ramachandran.as_ref()?;
                    Some((*label, free_energy(&r.value, &r.stderr, kbt).0))
                })
                .collect();
            let path = dir.join(format!("{stem}_ramachandran.png"));
            plots::ramachandran(&path, self.binning, &surfaces, unit)?;
            written.push(path);
        }
        let panels: Vec<(&str, Vec<Series>)> = self
            .dihedrals
            .iter()
            .enumerate()
            .map(|(k, d)| {
                let series = analyses
                    .iter()
                    .map(|(label, a)| Series {
                        label,
                        density: &a.marginals[k].value,
                        stderr: &a.marginals[k].stderr,
                    })
                    .collect();
                (d.name.as_str(), series)
            })
            .collect();
        let path = dir.join(format!("{stem}_marginals.png"));
        plots::marginals(&path, self.binning, &panels)?;
        written.push(path);
        Ok(written)
    }

    /// Replaces `/dihedrals`, `/histograms` and the analysis attributes of `/estimates`.
    fn write(&self, out: &OutputFile) -> Result<()> {
        out.remove("dihedrals")?;
        out.remove("histograms")?;
        for name in OPTIONAL_ESTIMATES {
            out.remove_attr("estimates", name)?;
        }
        for (d, values) in self.dihedrals.iter().zip(&self.angles) {
            let name = format!("dihedrals/{}", d.name);
            out.write_array(&name, values, &[self.n])?;
            if let Some(atoms) = d.atoms {
                out.set_u64s(&name, "atoms", &atoms.map(|a| a as u64))?;
            }
            out.set_str(&name, "units", "rad")?;
        }
        let bins = [self.binning.bins];
        for (k, d) in self.dihedrals.iter().enumerate() {
            let group = format!("histograms/{}", d.name);
            self.write_histogram(out, &group, "density", &self.samples.marginals[k], &bins)?;
            out.set_str(&group, "units", "1/rad")?;
            if let Some(u) = &self.unweighted {
                let m = &u.marginals[k];
                out.write_array(&format!("{group}/density_unweighted"), &m.value, &bins)?;
                out.write_array(&format!("{group}/stderr_unweighted"), &m.stderr, &bins)?;
            }
        }
        let grid = [self.binning.bins, self.binning.bins];
        if let Some(r) = &self.samples.ramachandran {
            let group = "histograms/phi_psi";
            self.write_histogram(out, group, "density", r, &grid)?;
            out.set_str(group, "units", "1/rad^2; [i, j] is phi bin i, psi bin j")?;
            let (kbt, unit) = self.energy_unit();
            let (f, f_err) = free_energy(&r.value, &r.stderr, kbt);
            let fes = Blocked {
                value: f,
                stderr: f_err,
            };
            let group = "histograms/fes_phi_psi";
            self.write_histogram(out, group, "free_energy", &fes, &grid)?;
            out.set_str(
                group,
                "units",
                &format!(
                    "{unit}; F = -k_B T ln p shifted to min 0; [i, j] is phi bin i, psi bin j; \
                     empty bins are +inf with a NaN stderr"
                ),
            )?;
            if let Some(t) = self.temperature {
                out.set_f64(group, "temperature_kelvin", t)?;
            }
        }
        out.set_u64("estimates", "n_samples", self.n as u64)?;
        out.set_u64("estimates", "n_nonfinite", self.n_nonfinite as u64)?;
        if let Some(summary) = &self.importance {
            out.set_f64("estimates", "ess", summary.ess)?;
            out.set_f64("estimates", "log_z", summary.log_z)?;
            out.set_f64("estimates", "log_z_stderr", summary.log_z_stderr)?;
        }
        if let Some(pops) = &self.samples.populations {
            for basin in Basin::ALL {
                let name = basin.attribute();
                out.set_f64("estimates", name, pops.value[basin.index()])?;
                let stderr = pops.stderr[basin.index()];
                out.set_f64("estimates", &format!("{name}_stderr"), stderr)?;
            }
            out.set_u64("estimates", "blocks", self.blocks as u64)?;
        }
        if let Some((weighted, unweighted)) = self.kl {
            out.set_f64("estimates", OPTIONAL_ESTIMATES[0], weighted)?;
            out.set_f64("estimates", OPTIONAL_ESTIMATES[1], unweighted)?;
        }
        Ok(())
    }

    /// Writes `<group>/<name>` and `<group>/stderr` of `shape`, `<group>/edges` and the
    /// group's description attributes.
    fn write_histogram(
        &self,
        out: &OutputFile,
        group: &str,
        name: &str,
        histogram: &Blocked,
        shape: &[usize],
    ) -> Result<()> {
        let edges = self.binning.edges();
        out.write_array(&format!("{group}/{name}"), &histogram.value, shape)?;
        out.write_array(&format!("{group}/stderr"), &histogram.stderr, shape)?;
        out.write_array(&format!("{group}/edges"), &edges, &[edges.len()])?;
        out.set_str(
            group,
            "binning",
            &format!(
                "{} uniform bins per angle over [-pi, pi] rad (numpy.histogram conventions: the \
                 last bin includes pi); densities integrate to 1",
                self.binning.bins
            ),
        )?;
        let weighting = if self.weighted {
            "importance-reweighted"
        } else {
            "unweighted"
        };
        out.set_str(group, "weighting", weighting)?;
        out.set_str(
            group,
            "error_method",
            &format!(
                "batch means: sd of the estimates of {} contiguous blocks / sqrt({})",
                self.blocks, self.blocks
            ),
        )?;
        out.set_u64(group, "blocks", self.blocks as u64)
    }
}

/// What the points of a samples file are.
enum Coordinates {
    /// Atom positions, row-major `n × atoms × 3`, nm: the angles are dihedrals of them.
    Positions { atoms: usize, positions: Vec<f64> },
    /// The named angles themselves, row-major `n × names.len()`, rad.
    Angles {
        names: Vec<String>,
        values: Vec<f64>,
    },
}

/// The points and weights of a samples file.
struct SampleSet {
    n: usize,
    coordinates: Coordinates,
    log_w: Option<Vec<f64>>,
    /// AIS chains dropped by `boltzflow sample` (zero weights not in the file).
    n_dropped_ais: usize,
    molecule: Option<Molecule>,
    temperature: Option<f64>,
}

impl SampleSet {
    fn read(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Io {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "samples file not found"),
            });
        }
        let metadata: Option<Metadata> = read_str_attr(path, "", "metadata")?
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| Error::Hdf5 {
                path: path.to_owned(),
                message: format!("the `metadata` attribute is not boltzflow metadata JSON: {e}"),
            })?;
        let molecule = metadata.as_ref().and_then(|m| m.molecule.clone());
        let angle_names = metadata.as_ref().and_then(|m| m.angles.clone());
        let temperature = read_f64_attr(path, "", "temperature_kelvin")?
            .or(metadata.as_ref().and_then(|m| m.temperature_kelvin));
        let shape_error = |name: &str, expected: String, shape: &[usize]| Error::Shape {
            what: format!("/{name} in {}", path.display()),
            expected,
            found: format!("{shape:?}"),
        };
        let (coordinates, n) = if dataset_exists(path, "samples/positions")? {
            let (positions, shape) = read_array(path, "samples/positions")?;
            if shape.len() != 3 || shape[2] != 3 {
                return Err(shape_error(
                    "samples/positions",
                    "[n, atoms, 3]".to_owned(),
                    &shape,
                ));
            }
            let atoms = shape[1];
            (Coordinates::Positions { atoms, positions }, shape[0])
        } else if dataset_exists(path, "samples/x")? {
            let (data, shape) = read_array(path, "samples/x")?;
            let (expected, columns) = match (&molecule, &angle_names) {
                (Some(molecule), _) => {
                    let atoms = molecule.atoms.len();
                    let expected = format!(
                        "[n, {}] (3 coordinates of each of the molecule's {atoms} atoms)",
                        3 * atoms
                    );
                    (expected, 3 * atoms)
                }
                (None, Some(names)) => {
                    let expected =
                        format!("[n, {}] (the angles {})", names.len(), names.join(", "));
                    (expected, names.len())
                }
                (None, None) => {
                    return Err(Error::Hdf5 {
                        path: path.to_owned(),
                        message: "there is no /samples/positions [n, atoms, 3], and the \
                                  metadata names neither a molecule whose atom count would make \
                                  positions of /samples/x nor its coordinates as angles"
                            .to_owned(),
                    });
                }
            };
            if shape.len() != 2 || shape[1] != columns {
                return Err(shape_error("samples/x", expected, &shape));
            }
            let coordinates = match (&molecule, angle_names) {
                (Some(molecule), _) => Coordinates::Positions {
                    atoms: molecule.atoms.len(),
                    positions: data,
                },
                (None, names) => Coordinates::Angles {
                    names: names.unwrap_or_default(),
                    values: data.iter().map(|&a| wrap_angle(a)).collect(),
                },
            };
            (coordinates, shape[0])
        } else {
            return Err(Error::Hdf5 {
                path: path.to_owned(),
                message: "no /samples/positions nor /samples/x: not a samples file of \
                          `boltzflow sample` or `boltzflow md`"
                    .to_owned(),
            });
        };
        if let (Some(molecule), Coordinates::Positions { atoms, .. }) = (&molecule, &coordinates)
            && molecule.atoms.len() != *atoms
        {
            return Err(shape_error(
                "samples/positions",
                format!(
                    "[n, {}, 3] for the metadata's molecule",
                    molecule.atoms.len()
                ),
                &[n, *atoms, 3],
            ));
        }
        let log_w = if dataset_exists(path, "samples/log_w")? {
            let (log_w, shape) = read_array(path, "samples/log_w")?;
            if shape != [n] {
                return Err(shape_error("samples/log_w", format!("[{n}]"), &shape));
            }
            Some(log_w)
        } else {
            None
        };
        let n_dropped_ais = read_f64_attr(path, "estimates", "n_dropped")?.unwrap_or(0.0) as usize;
        Ok(SampleSet {
            n,
            coordinates,
            log_w,
            n_dropped_ais,
            molecule,
            temperature,
        })
    }

    /// Whether the finite log weights are not all equal (MD files carry zeros: unweighted).
    fn has_weights(&self) -> bool {
        let mut finite = self.log_w.iter().flatten().filter(|v| v.is_finite());
        finite
            .next()
            .is_some_and(|first| finite.any(|v| v != first))
    }

    /// The atom count, for positions.
    fn atoms(&self) -> Option<usize> {
        match self.coordinates {
            Coordinates::Positions { atoms, .. } => Some(atoms),
            Coordinates::Angles { .. } => None,
        }
    }

    /// The angles this set defines: the named dihedrals of its molecule with the extra ones,
    /// for positions; its coordinates, for angles.
    fn angle_list(&self, extra: &[NamedDihedral]) -> Result<Vec<Angle>> {
        match &self.coordinates {
            Coordinates::Positions { atoms, .. } => {
                Ok(dihedral_list(self.molecule.as_ref(), extra, *atoms)?
                    .into_iter()
                    .map(|d| Angle {
                        name: d.name,
                        atoms: Some(d.atoms),
                    })
                    .collect())
            }
            Coordinates::Angles { names, .. } => Ok(names
                .iter()
                .map(|name| Angle {
                    name: name.clone(),
                    atoms: None,
                })
                .collect()),
        }
    }

    /// Each of `angles` of every sample, in radians: a dihedral by its atoms (or, with none,
    /// by its name among this set's own dihedrals, `extra` included), an angle coordinate by
    /// its name. `path` names the file in errors.
    fn angles(
        &self,
        angles: &[Angle],
        extra: &[NamedDihedral],
        path: &Path,
    ) -> Result<Vec<Vec<f64>>> {
        let own = self.angle_list(extra)?;
        let missing = |name: &str| {
            let have: Vec<&str> = own.iter().map(|a| a.name.as_str()).collect();
            Error::InvalidArgument(format!(
                "{} has no angle named '{name}' (it has: {}); name its dihedral with \
                 --dihedral {name}=a,b,c,d",
                path.display(),
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            ))
        };
        angles
            .iter()
            .map(|angle| match &self.coordinates {
                Coordinates::Positions { atoms, positions } => {
                    let dihedral = match angle.atoms {
                        Some(dihedral) => dihedral,
                        None => own
                            .iter()
                            .find(|a| a.name == angle.name)
                            .and_then(|a| a.atoms)
                            .ok_or_else(|| missing(&angle.name))?,
                    };
                    Ok(positions
                        .chunks_exact(3 * atoms)
                        .map(|frame| dihedral_of(frame, dihedral))
                        .collect())
                }
                Coordinates::Angles { names, values } => {
                    let column = names
                        .iter()
                        .position(|n| *n == angle.name)
                        .ok_or_else(|| missing(&angle.name))?;
                    Ok(values
                        .iter()
                        .skip(column)
                        .step_by(names.len())
                        .copied()
                        .collect())
                }
            })
            .collect()
    }
}

/// An angle in radians wrapped into [−π, π] (non-finite values stay as they are).
fn wrap_angle(a: f64) -> f64 {
    use std::f64::consts::TAU;
    a - TAU * (a / TAU).round()
}

/// The molecule's named dihedrals with the extra ones (an extra of the same name replaces a
/// named one), all checked against the atom count.
fn dihedral_list(
    molecule: Option<&Molecule>,
    extra: &[NamedDihedral],
    atoms: usize,
) -> Result<Vec<NamedDihedral>> {
    let mut list: Vec<NamedDihedral> = molecule
        .map(|m| {
            m.dihedrals
                .iter()
                .map(|d| NamedDihedral {
                    name: d.name.clone(),
                    atoms: d.atoms,
                })
                .collect()
        })
        .unwrap_or_default();
    for d in extra {
        match list.iter_mut().find(|e| e.name == d.name) {
            Some(existing) => *existing = d.clone(),
            None => list.push(d.clone()),
        }
    }
    for d in &list {
        if let Some(bad) = d.atoms.iter().find(|&&a| a >= atoms) {
            return Err(Error::InvalidArgument(format!(
                "dihedral {} = {:?}: atom index {bad} is out of range for {atoms} atoms \
                 (indices count from 0)",
                d.name, d.atoms
            )));
        }
        if (1..4).any(|i| d.atoms[..i].contains(&d.atoms[i])) {
            return Err(Error::InvalidArgument(format!(
                "dihedral {} = {:?} repeats an atom; a dihedral needs four different atoms",
                d.name, d.atoms
            )));
        }
        if ["phi_psi", "fes_phi_psi"].contains(&d.name.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "'{}' is reserved for the (phi, psi) histograms; choose another dihedral name",
                d.name
            )));
        }
    }
    Ok(list)
}

/// The angles of the samples that count (finite log weight and finite angles), with their
/// self-normalised weights.
struct Kept {
    angles: Vec<Vec<f64>>,
    weights: Vec<f64>,
    n_dropped: usize,
}

impl Kept {
    fn new(angles: &[Vec<f64>], log_w: Option<&[f64]>) -> Self {
        let n = angles.first().map_or(0, Vec::len);
        let log_w_of = |i: usize| log_w.map_or(0.0, |l| l[i]);
        let keep: Vec<usize> = (0..n)
            .filter(|&i| log_w_of(i).is_finite() && angles.iter().all(|a| a[i].is_finite()))
            .collect();
        let log_w: Vec<f64> = keep.iter().map(|&i| log_w_of(i)).collect();
        Kept {
            angles: angles
                .iter()
                .map(|a| keep.iter().map(|&i| a[i]).collect())
                .collect(),
            weights: normalised_weights(&log_w),
            n_dropped: n - keep.len(),
        }
    }
}

/// Histograms and populations of one weighted sample set, with block errors.
struct SetAnalysis {
    /// One density per dihedral.
    marginals: Vec<Blocked>,
    /// The (φ, ψ) density, row-major [φ bin][ψ bin].
    ramachandran: Option<Blocked>,
    /// Basin populations in the order of [`Basin::ALL`].
    populations: Option<Blocked>,
}

fn analyse(
    kept: &Kept,
    phi_psi: Option<(usize, usize)>,
    binning: Binning,
    blocks: usize,
) -> Result<SetAnalysis> {
    let (a, w) = (&kept.angles, &kept.weights);
    let n = w.len();
    let marginals = a
        .iter()
        .map(|x| blocked(n, blocks, |r| density(&[&x[r.clone()]], &w[r], &[binning])))
        .collect::<Result<_>>()?;
    let Some((phi, psi)) = phi_psi.map(|(i, j)| (&a[i], &a[j])) else {
        return Ok(SetAnalysis {
            marginals,
            ramachandran: None,
            populations: None,
        });
    };
    let ramachandran = blocked(n, blocks, |r| {
        density(
            &[&phi[r.clone()], &psi[r.clone()]],
            &w[r],
            &[binning, binning],
        )
    })?;
    let populations = blocked(n, blocks, |r| {
        let mut mass = [0.0; 3];
        for i in r.clone() {
            if let Some(basin) = Basin::of(phi[i], psi[i]) {
                mass[basin.index()] += w[i];
            }
        }
        let total: f64 = w[r].iter().sum();
        mass.map(|m| m / total).to_vec()
    })?;
    Ok(SetAnalysis {
        marginals,
        ramachandran: Some(ramachandran),
        populations: Some(populations),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dihedral_arguments() {
        let d: NamedDihedral = "chi=1, 2,3,4".parse().unwrap();
        assert_eq!(d.atoms, [1, 2, 3, 4]);
        assert_eq!(d.name, "chi");
        for bad in [
            "chi",
            "chi=1,2,3",
            "chi=1,2,3,x",
            "=1,2,3,4",
            "a/b=1,2,3,4",
            "chi=1,2,3,4,5",
        ] {
            assert!(bad.parse::<NamedDihedral>().is_err(), "{bad}");
        }
        let list = dihedral_list(None, std::slice::from_ref(&d), 5).unwrap();
        assert_eq!(list, vec![d.clone()]);
        let err = dihedral_list(None, &[d], 4).unwrap_err().to_string();
        assert!(
            err.contains("atom index 4 is out of range for 4 atoms"),
            "{err}"
        );
    }

    #[test]
    fn angles_wrap_into_one_period() {
        use std::f64::consts::PI;
        for (a, wrapped) in [
            (0.5, 0.5),
            (2.0 * PI + 0.5, 0.5),
            (-3.0 * PI + 0.1, -PI + 0.1),
        ] {
            assert!((wrap_angle(a) - wrapped).abs() < 1e-12, "{a}");
        }
        assert!(wrap_angle(f64::NAN).is_nan());
    }

    #[test]
    fn kept_samples_drop_nonfinite_weights_and_angles() {
        let angles = vec![vec![0.1, 0.2, f64::NAN, 0.4], vec![1.0, 2.0, 3.0, 4.0]];
        let log_w = [0.0, f64::NEG_INFINITY, 1.0, -1.0];
        let kept = Kept::new(&angles, Some(&log_w));
        assert_eq!(kept.n_dropped, 2);
        assert_eq!(kept.angles, vec![vec![0.1, 0.4], vec![1.0, 4.0]]);
        assert_eq!(kept.weights, normalised_weights(&[0.0, -1.0]));
    }
}
