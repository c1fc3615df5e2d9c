//! Persistent particles of the objectives that learn energies, saved beside a checkpoint.

use crate::io::{OutputFile, read_array};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The file of objective `index`'s particles in a checkpoint folder.
fn particles_file(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("particles_{index}.h5"))
}

/// Writes `n × dim` particle positions `x` (dataset `x`) and, if given, their log-weights
/// (`log_w`) as objective `index`'s particles in `dir`. Nothing is written before the first
/// step has made them (empty `x`).
pub fn save_particles(
    dir: &Path,
    index: usize,
    x: &[f64],
    dim: usize,
    log_w: Option<&[f64]>,
) -> Result<()> {
    if x.is_empty() {
        return Ok(());
    }
    let n = x.len() / dim;
    let out = OutputFile::create(&particles_file(dir, index))?;
    out.write_array("x", x, &[n, dim])?;
    if let Some(log_w) = log_w {
        out.write_array("log_w", log_w, &[n])?;
    }
    out.commit()?;
    Ok(())
}

/// Objective `index`'s particles saved in `dir` by [`save_particles`], checked to be `n × dim`;
/// `None` when the checkpoint has none (it was written before the first step).
pub fn load_particles(
    dir: &Path,
    index: usize,
    n: usize,
    dim: usize,
    with_weights: bool,
) -> Result<Option<(Vec<f64>, Vec<f64>)>> {
    let path = particles_file(dir, index);
    if !path.is_file() {
        return Ok(None);
    }
    let (x, shape) = read_array(&path, "x")?;
    let log_w = if with_weights {
        read_array(&path, "log_w")?.0
    } else {
        Vec::new()
    };
    if shape != [n, dim] || (with_weights && log_w.len() != n) {
        return Err(Error::Shape {
            what: format!("the particles in {}", path.display()),
            expected: format!(
                "[{n}, {dim}] positions{}",
                if with_weights { " and weights" } else { "" }
            ),
            found: format!("{shape:?}"),
        });
    }
    Ok(Some((x, log_w)))
}
