//! The `boltzflow` command line: parse arguments, call the library, report.

use boltzflow::analysis::ramachandran::Basin;
use boltzflow::analyze::{AnalyzeOptions, NamedDihedral, analyze};
use boltzflow::backend::{Cpu, DeviceKind, check_cuda};
use boltzflow::config::load_system;
use boltzflow::energy::{BOLTZMANN, System, discover_plugins, search_dirs};
use boltzflow::io::{OutputFile, RunInfo, read_points};
use boltzflow::md::MdRun;
use boltzflow::reweighting::{
    ExtraEstimates, SampleOptions, WeightedSamples, Weights, sample_run, write_samples,
};
use boltzflow::train::Trainer;
use boltzflow::{Error, Result};
use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use clap::{Parser, Subcommand};
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Unbiased Boltzmann sampling with energy plugins.
#[derive(Parser)]
#[command(name = "boltzflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the plugins found on the search path, with their versions.
    Plugins,
    /// Print a system's metadata (and its exact log Z when the plugin knows it).
    Info {
        /// The system file (RON).
        #[arg(long)]
        system: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate reduced energies and gradients of a batch of points.
    Energy {
        /// The system file (RON).
        #[arg(long)]
        system: PathBuf,
        /// HDF5 file with /x [n, dim], or /positions [n, atoms, 3] in nm for molecules.
        #[arg(long)]
        input: PathBuf,
        /// HDF5 file to write: /u [n], /grad_u [n, dim]; for molecules also /energy (kJ/mol) and
        /// /forces [n, atoms, 3] (kJ/mol/nm).
        #[arg(long)]
        output: PathBuf,
    },
    /// Draw exact samples, for systems whose plugin has an exact sampler.
    SampleExact {
        /// The system file (RON).
        #[arg(long)]
        system: PathBuf,
        /// Number of samples.
        #[arg(short = 'n', long)]
        n: usize,
        /// HDF5 file to write (/samples/x, /samples/u, /samples/log_q, /samples/log_w, /estimates).
        #[arg(long)]
        output: PathBuf,
        /// Random seed; the same seed gives the same samples on any number of threads.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Train a flow; resumes from RUN_DIR's checkpoint if there is one. Ctrl-C saves a checkpoint.
    Train {
        /// The training configuration (RON).
        config: PathBuf,
        /// The run folder: checkpoints and run.h5 (training curves).
        #[arg(long)]
        out: PathBuf,
        /// A system file to use instead of the configuration's.
        #[arg(long)]
        system: Option<PathBuf>,
        /// Where the flow runs.
        #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
        device: DeviceKind,
    },
    /// Run Langevin dynamics with parallel tempering for reference samples. Rerunning the same
    /// command resumes from the checkpoint OUTPUT.checkpoint.h5 (written every
    /// `checkpoint_every` steps and on Ctrl-C); it is deleted when the output is written.
    Md {
        /// The MD configuration (RON).
        config: PathBuf,
        /// HDF5 file to write: /samples (lowest temperature of every walker, walker-major),
        /// /trajectory (walker, time_ps, step) and /md (settings, ns/day, exchange acceptance).
        #[arg(long)]
        output: PathBuf,
    },
    /// Sample a trained flow and reweight the samples to the system's Boltzmann distribution.
    Sample {
        /// The run folder of `boltzflow train`.
        #[arg(long)]
        run: PathBuf,
        /// Number of samples.
        #[arg(short = 'n', long)]
        n: usize,
        /// HDF5 file to write (/samples/x, /samples/log_q, /samples/u, /samples/log_w, /estimates).
        #[arg(long)]
        output: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Carry the flow samples toward the target by annealed importance sampling (the run's
        /// FAB settings and adapted step sizes; the defaults otherwise).
        #[arg(long)]
        ais: bool,
        /// With --ais: warm-up rounds of 256 chains that adapt the AIS step sizes to the path
        /// toward the target before the final run (whose step sizes stay fixed).
        #[arg(long, default_value_t = 10)]
        ais_warmup: usize,
        /// Exact target samples for the forward ESS and KL, when the system has a sampler.
        #[arg(long, default_value_t = 100_000)]
        forward_samples: usize,
        /// Where the flow runs.
        #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
        device: DeviceKind,
    },
    /// Dihedrals, reweighted histograms with block errors, the (phi, psi) free-energy surface,
    /// basin populations and the Ramachandran KL of a samples file, written into that file;
    /// PNG plots.
    Analyze {
        /// The samples file (of `boltzflow sample` or `boltzflow md`); the analysis is written
        /// into it (atomically) unless --output is given.
        samples: PathBuf,
        /// A reference samples file (for example MD) for the Ramachandran KL and the plots.
        #[arg(long)]
        reference: Option<PathBuf>,
        /// A dihedral besides the molecule's named ones, NAME=a,b,c,d (atom indices from 0);
        /// repeatable.
        #[arg(long = "dihedral", value_name = "NAME=a,b,c,d")]
        dihedrals: Vec<NamedDihedral>,
        /// Bins per angle over [-pi, pi].
        #[arg(long, default_value_t = 64)]
        bins: usize,
        /// Contiguous blocks of the batch-means standard errors.
        #[arg(long, default_value_t = 20)]
        blocks: usize,
        /// Write a copy of the samples file with the analysis here, leaving the samples file as
        /// it is.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Folder of the PNG plots (default: the samples file's folder).
        #[arg(long)]
        plots: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plugins => list_plugins(),
        Command::Info { system, json } => info(&system, json),
        Command::Energy {
            system,
            input,
            output,
        } => energy(&system, &input, &output),
        Command::SampleExact {
            system,
            n,
            output,
            seed,
        } => sample_exact(&system, n, &output, seed),
        Command::Train {
            config,
            out,
            system,
            device,
        } => train(&config, &out, system.as_deref(), device),
        Command::Md { config, output } => md(&config, &output),
        Command::Sample {
            run,
            n,
            output,
            seed,
            ais,
            ais_warmup,
            forward_samples,
            device,
        } => sample(
            &run,
            &SampleOptions {
                n,
                ais,
                ais_warmup,
                seed,
                forward_samples,
            },
            &output,
            device,
        ),
        Command::Analyze {
            samples,
            reference,
            dihedrals,
            bins,
            blocks,
            output,
            plots,
        } => analyze_samples(
            &samples,
            &AnalyzeOptions {
                dihedrals,
                reference,
                bins,
                blocks,
                output,
                plots,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list_plugins() -> Result<()> {
    let (plugins, failures) = discover_plugins();
    if plugins.is_empty() {
        println!("no plugins found; searched:");
        for dir in search_dirs() {
            println!("  {}", dir.display());
        }
    }
    for plugin in &plugins {
        println!(
            "{:<20} {:<10} {}",
            plugin.name(),
            plugin.version(),
            plugin.path().display()
        );
    }
    for failure in failures {
        eprintln!("warning: {failure}");
    }
    Ok(())
}

fn info(path: &Path, json: bool) -> Result<()> {
    let (file, system) = load_system(path)?;
    let metadata = system.metadata();
    let library = system.library();
    if json {
        let mut value = serde_json::json!({
            "system_file": file.path,
            "plugin": { "name": library.name(), "version": library.version(), "path": library.path() },
            "dim": system.dim(),
            "thread_safe": system.is_thread_safe(),
            "exact_sampler": system.has_exact_sampler(),
            "metadata": metadata,
        });
        if let Some(log_z) = system.log_z() {
            value["log_z"] = log_z.into();
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?
        );
        return Ok(());
    }
    println!("system:        {}", metadata.system);
    if !metadata.description.is_empty() {
        println!("description:   {}", metadata.description);
    }
    println!(
        "plugin:        {} {} ({})",
        library.name(),
        library.version(),
        library.path().display()
    );
    println!("dimension:     {}", system.dim());
    if let Some(t) = metadata.temperature_kelvin {
        println!("temperature:   {t} K");
    }
    if let Some(molecule) = &metadata.molecule {
        println!("atoms:         {}", molecule.atoms.len());
        for d in &molecule.dihedrals {
            println!("dihedral:      {} = {:?}", d.name, d.atoms);
        }
    }
    match system.log_z() {
        Some(log_z) => println!("exact log Z:   {log_z:.12}"),
        None => println!("exact log Z:   unknown"),
    }
    println!(
        "exact sampler: {}",
        if system.has_exact_sampler() {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "thread-safe:   {}",
        if system.is_thread_safe() { "yes" } else { "no" }
    );
    if !metadata.parameters.is_null() {
        println!("parameters:    {}", metadata.parameters);
    }
    Ok(())
}

/// Points per progress-bar step in long evaluations.
const PROGRESS_BLOCK: usize = 1 << 16;

fn energy(system_path: &Path, input: &Path, output: &Path) -> Result<()> {
    let (file, system) = load_system(system_path)?;
    let points = read_points(input)?;
    if points.dim != system.dim() {
        let layout = match points.atoms {
            Some(atoms) => format!("/positions with {atoms} atoms ({} coordinates)", points.dim),
            None => format!("/x with {} coordinates per point", points.dim),
        };
        return Err(Error::Shape {
            what: format!("input {}", input.display()),
            expected: format!(
                "{} coordinates per point for {}",
                system.dim(),
                system.metadata().system
            ),
            found: layout,
        });
    }
    let (n, dim) = (points.n, points.dim);
    let mut u = vec![0.0; n];
    let mut grad = vec![0.0; n * dim];
    let progress = progress_bar(n as u64, "evaluating");
    let mut n_nonfinite = 0;
    for ((x, u), g) in points
        .data
        .chunks(PROGRESS_BLOCK * dim)
        .zip(u.chunks_mut(PROGRESS_BLOCK))
        .zip(grad.chunks_mut(PROGRESS_BLOCK * dim))
    {
        n_nonfinite += system.evaluate_into(x, u, Some(g))?;
        progress.inc(u.len() as u64);
    }
    progress.finish_and_clear();

    let out = OutputFile::create(output)?;
    out.write_run_info(&RunInfo::new("energy", None, &file, &system))?;
    out.write_array("u", &u, &[n])?;
    out.write_array("grad_u", &grad, &[n, dim])?;
    out.set_u64("", "n_nonfinite", n_nonfinite as u64)?;
    if let Some((atoms, kbt)) = molecular_units(&system) {
        let energy: Vec<f64> = u.iter().map(|u| u * kbt).collect();
        let forces: Vec<f64> = grad.iter().map(|g| -g * kbt).collect();
        out.write_array("energy", &energy, &[n])?;
        out.write_array("forces", &forces, &[n, atoms, 3])?;
    }
    let written = out.commit()?;
    report_nonfinite(n_nonfinite, n);
    eprintln!("wrote {} energies to {}", n, written.display());
    Ok(())
}

/// Atom count and k_B T in the plugin's energy unit, for a molecular system at a temperature.
fn molecular_units(system: &System) -> Option<(usize, f64)> {
    let atoms = system.n_atoms()?;
    let t = system.metadata().temperature_kelvin?;
    Some((atoms, BOLTZMANN * t))
}

fn sample_exact(system_path: &Path, n: usize, output: &Path, seed: u64) -> Result<()> {
    let (file, system) = load_system(system_path)?;
    if !system.has_exact_sampler() {
        return Err(Error::Unsupported {
            plugin: system.library().name().to_owned(),
            system: system.metadata().system.clone(),
            capability: "exact sampler",
        });
    }
    let dim = system.dim();
    let x = system.sample_exact(n, seed)?;
    let eval = system.evaluate(&x, false)?;
    // Exact samples: q = p = exp(−u − log Z), known when log Z is.
    let weights = system.log_z().map(|log_z| {
        let log_q: Vec<f64> = eval.u.iter().map(|u| -u - log_z).collect();
        let log_w = vec![log_z; n];
        Weights {
            log_q,
            log_w,
            n_dropped: 0,
        }
    });
    let info = RunInfo::new("sample-exact", Some(seed), &file, &system);
    let samples = WeightedSamples {
        x,
        dim,
        u: eval.u,
        weights,
    };
    let written = write_samples(output, &info, &samples, &ExtraEstimates::default())?;
    report_nonfinite(eval.n_nonfinite, n);
    eprintln!(
        "wrote {n} exact samples of {} to {}",
        system.metadata().system,
        written.display()
    );
    Ok(())
}

fn train(config: &Path, out: &Path, system: Option<&Path>, device: DeviceKind) -> Result<()> {
    match device {
        DeviceKind::Cpu => train_on::<Autodiff<Cpu>>(config, out, system, Default::default()),
        DeviceKind::Cuda => {
            check_cuda()?;
            #[cfg(feature = "cuda")]
            return train_on::<Autodiff<boltzflow::backend::Cuda>>(
                config,
                out,
                system,
                Default::default(),
            );
            #[cfg(not(feature = "cuda"))]
            unreachable!("check_cuda refuses builds without CUDA")
        }
    }
}

fn train_on<B: AutodiffBackend>(
    config: &Path,
    out: &Path,
    system: Option<&Path>,
    device: B::Device,
) -> Result<()> {
    let mut trainer = Trainer::<B>::new(config, system, out, device)?;
    if trainer.step() > 0 {
        eprintln!(
            "resuming {} at step {} of {}",
            out.display(),
            trainer.step(),
            trainer.total_steps()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Ctrl-C asks the loop to stop after the current step and save a checkpoint.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let finished = trainer.run(&stop, true)?;
    let state = trainer.state();
    if finished {
        eprintln!(
            "trained {} steps ({} skipped as non-finite); checkpoint and run.h5 in {}",
            state.step,
            state.skipped_steps,
            out.display()
        );
    } else {
        eprintln!(
            "interrupted at step {}; run the same command again to resume",
            state.step
        );
    }
    Ok(())
}

fn md(config: &Path, output: &Path) -> Result<()> {
    let mut run = MdRun::new(config, output)?;
    if run.resumed() {
        eprintln!(
            "resuming from {} at step {} of {}",
            run.checkpoint_path().display(),
            run.step(),
            run.total_steps()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Ctrl-C asks the loop to stop after the current step and save a checkpoint.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    match run.run(&stop, true)? {
        Some(written) => {
            let acceptance = run.state().acceptance();
            eprintln!(
                "wrote {} to {}; exchange acceptance per pair: {}",
                run.summary(),
                written.display(),
                acceptance
                    .iter()
                    .map(|a| format!("{a:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        None => eprintln!(
            "interrupted at step {}; checkpoint {}; run the same command again to resume",
            run.step(),
            run.checkpoint_path().display()
        ),
    }
    Ok(())
}

fn sample(run: &Path, options: &SampleOptions, output: &Path, device: DeviceKind) -> Result<()> {
    let written = match device {
        DeviceKind::Cpu => sample_run::<Autodiff<Cpu>>(run, options, output, &Default::default())?,
        DeviceKind::Cuda => {
            check_cuda()?;
            #[cfg(feature = "cuda")]
            {
                sample_run::<Autodiff<boltzflow::backend::Cuda>>(
                    run,
                    options,
                    output,
                    &Default::default(),
                )?
            }
            #[cfg(not(feature = "cuda"))]
            unreachable!("check_cuda refuses builds without CUDA")
        }
    };
    let how = if options.ais { "flow + AIS" } else { "flow" };
    eprintln!("wrote {} {how} samples to {}", options.n, written.display());
    Ok(())
}

fn analyze_samples(samples: &Path, options: &AnalyzeOptions) -> Result<()> {
    let report = analyze(samples, options)?;
    if report.n_nonfinite > 0 {
        eprintln!(
            "warning: {} of {} samples have a non-finite log weight or dihedral (left out)",
            report.n_nonfinite, report.n_samples
        );
    }
    if let Some(pops) = &report.populations {
        let how = if report.weighted {
            "reweighted"
        } else {
            "unweighted"
        };
        let text: Vec<String> = Basin::ALL
            .iter()
            .map(|b| {
                let k = b.index();
                format!(
                    "{} {:.4} ± {:.4}",
                    b.attribute(),
                    pops.value[k],
                    pops.stderr[k]
                )
            })
            .collect();
        eprintln!("populations ({how}): {}", text.join(", "));
    }
    if let Some((weighted, unweighted)) = report.ramachandran_kl {
        eprintln!(
            "Ramachandran KL(reference ‖ samples): {weighted:.4} (unweighted {unweighted:.4})"
        );
    }
    for plot in &report.plots {
        eprintln!("plot: {}", plot.display());
    }
    eprintln!(
        "wrote the analysis of {} samples to {}",
        report.n_samples,
        report.written.display()
    );
    Ok(())
}

fn report_nonfinite(n_nonfinite: usize, n: usize) {
    if n_nonfinite > 0 {
        eprintln!(
            "warning: {n_nonfinite} of {n} points have a NaN or infinite energy or gradient \
             (written as they are; analyses give them zero weight)"
        );
    }
}

fn progress_bar(len: u64, message: &'static str) -> ProgressBar {
    boltzflow::progress::bar(
        true,
        len,
        "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
    )
    .with_message(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
