//! The `boltzflow` command line: parse the arguments and dispatch to [`boltzflow::commands`].

use boltzflow::commands::{
    analyze, energy, free_energy, info, md, plugin_worker, plugins, sample, sample_exact, train,
};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    Info(info::Args),
    /// Evaluate reduced energies and gradients of a batch of points.
    Energy(energy::Args),
    /// Draw exact samples, for systems whose plugin has an exact sampler.
    SampleExact(sample_exact::Args),
    /// Train a flow; resumes from RUN_DIR's checkpoint if there is one. Ctrl-C saves a checkpoint.
    Train(train::Args),
    /// Run Langevin dynamics with parallel tempering for reference samples (resumable).
    Md(md::Args),
    /// Sample a trained flow and reweight the samples to the system's Boltzmann distribution.
    Sample(sample::Args),
    /// Free-energy differences between thermodynamic states from samples of them
    /// (exponential averaging, BAR, MBAR).
    FreeEnergy(free_energy::Args),
    /// Dihedrals, reweighted histograms with block errors, the (phi, psi) free-energy surface,
    /// basin populations and the Ramachandran KL of a samples file, written into that file;
    /// PNG plots.
    Analyze(analyze::Args),
    /// Serve one plugin for a parent boltzflow that runs it isolated (internal).
    #[command(name = "plugin-worker", hide = true)]
    PluginWorker,
}

/// Exit status 0 on success, 1 on an error, 130 when interrupted (Ctrl-C); errors are one line
/// `error: …` on stderr.
fn main() -> ExitCode {
    let command = Cli::parse().command;
    // Under `mpirun`, only the commands written for several ranks run (and the plugin worker,
    // which a rank starts and which inherits the launcher's environment).
    let parallel = match &command {
        Command::Md(_) | Command::Sample(_) | Command::Train(_) | Command::PluginWorker => Ok(()),
        Command::Plugins => boltzflow::parallel::single_process("plugins"),
        Command::Info(_) => boltzflow::parallel::single_process("info"),
        Command::Energy(_) => boltzflow::parallel::single_process("energy"),
        Command::SampleExact(_) => boltzflow::parallel::single_process("sample-exact"),
        Command::FreeEnergy(_) => boltzflow::parallel::single_process("free-energy"),
        Command::Analyze(_) => boltzflow::parallel::single_process("analyze"),
    };
    // The command runs on a worker of rayon's pool (see `on_pool`).
    let result = parallel.and_then(|()| {
        boltzflow::parallel::on_pool(move || match command {
            Command::Plugins => plugins::run(),
            Command::Info(args) => info::run(args),
            Command::Energy(args) => energy::run(args),
            Command::SampleExact(args) => sample_exact::run(args),
            Command::Train(args) => train::run(args),
            Command::Md(args) => md::run(args),
            Command::Sample(args) => sample::run(args),
            Command::FreeEnergy(args) => free_energy::run(args),
            Command::Analyze(args) => analyze::run(args),
            Command::PluginWorker => plugin_worker::run(),
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
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
