//! `boltzflow energy`: reduced energies and gradients of a batch of points.

use super::{progress_bar, report_nonfinite};
use crate::config::load_system;
use crate::energy::{BOLTZMANN, System};
use crate::io::{OutputFile, RunInfo, check_output, read_points};
use crate::job::StopFlag;
use crate::{Error, Result};
use std::path::PathBuf;

/// Points per progress-bar step (and Ctrl-C check) in long evaluations.
const PROGRESS_BLOCK: usize = 1 << 16;

/// Evaluate reduced energies and gradients of a batch of points.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The system file (RON).
    #[arg(long)]
    pub system: PathBuf,
    /// HDF5 file with /x [n, dim], or /positions [n, atoms, 3] in nm for molecules.
    #[arg(long)]
    pub input: PathBuf,
    /// HDF5 file to write: /u [n], /grad_u [n, dim]; for molecules also /energy (kJ/mol) and
    /// /forces [n, atoms, 3] (kJ/mol/nm).
    #[arg(long)]
    pub output: PathBuf,
}

/// Evaluates the points of the input and writes u and ∇u (and for molecules E and forces).
pub fn run(args: Args) -> Result<()> {
    let Args {
        system: system_path,
        input,
        output,
    } = args;
    check_output(&output, &[&input, &system_path])?;
    let (file, system) = load_system(&system_path)?;
    let points = read_points(&input)?;
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
    let stop = StopFlag::ctrl_c();
    let mut n_nonfinite = 0;
    for ((x, u), g) in points
        .data
        .chunks(PROGRESS_BLOCK * dim)
        .zip(u.chunks_mut(PROGRESS_BLOCK))
        .zip(grad.chunks_mut(PROGRESS_BLOCK * dim))
    {
        stop.check("the evaluation (nothing was written)")?;
        n_nonfinite += system.evaluate_into(x, u, Some(g))?;
        progress.inc(u.len() as u64);
    }
    progress.finish_and_clear();

    let out = OutputFile::create(&output)?;
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
