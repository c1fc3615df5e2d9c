//! Reading point sets from HDF5 files.

use super::h5_error;
use crate::{Error, Result};
use std::path::Path;

/// A batch of points read from a file: `n × dim` values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    /// The values, row-major.
    pub data: Vec<f64>,
    /// Number of points.
    pub n: usize,
    /// Coordinates per point.
    pub dim: usize,
    /// Number of atoms, when read from `/positions` (`n × atoms × 3`, nm).
    pub atoms: Option<usize>,
}

/// Reads points from `/x` or `/samples/x` (`[n, dim]`) or, for molecules, `/positions` or
/// `/samples/positions` (`[n, atoms, 3]`, nm), the first found in that order. Any
/// floating-point or integer type is converted to f64.
pub fn read_points(path: &Path) -> Result<Points> {
    if !path.is_file() {
        return Err(Error::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "input file not found"),
        });
    }
    let file = hdf5::File::open(path).map_err(h5_error(path, "cannot open as HDF5"))?;
    let candidates = [
        ("x", 2),
        ("samples/x", 2),
        ("positions", 3),
        ("samples/positions", 3),
    ];
    let Some((name, expected_ndim)) = candidates
        .into_iter()
        .find(|(name, _)| link_exists(&file, name))
    else {
        return Err(Error::Hdf5 {
            path: path.to_owned(),
            message: "no dataset /x or /samples/x ([n, dim]), nor /positions ([n, atoms, 3]), in the file".to_owned(),
        });
    };
    let dataset = file
        .dataset(name)
        .map_err(h5_error(path, &format!("/{name} is not a dataset")))?;
    let shape = dataset.shape();
    if shape.len() != expected_ndim || (expected_ndim == 3 && shape[2] != 3) {
        let expected = if expected_ndim == 2 {
            "[n, dim]"
        } else {
            "[n, atoms, 3]"
        };
        return Err(Error::Shape {
            what: format!("/{name} in {}", path.display()),
            expected: expected.to_owned(),
            found: format!("{shape:?}"),
        });
    }
    let data: Vec<f64> = dataset
        .read_raw()
        .map_err(h5_error(path, &format!("cannot read /{name} as numbers")))?;
    let n = shape[0];
    let dim = shape[1..].iter().product();
    Ok(Points {
        data,
        n,
        dim,
        atoms: (expected_ndim == 3).then_some(shape[1]),
    })
}

/// Whether the path `a/b` exists, without HDF5 errors for a missing intermediate group.
fn link_exists(file: &hdf5::File, path: &str) -> bool {
    match path.split_once('/') {
        Some((group, rest)) => {
            file.link_exists(group) && file.group(group).is_ok_and(|g| g.link_exists(rest))
        }
        None => file.link_exists(path),
    }
}

/// Reads the dataset `name` of the HDF5 file `path` as f64 values (row-major) with its shape.
pub fn read_array(path: &Path, name: &str) -> Result<(Vec<f64>, Vec<usize>)> {
    let file = hdf5::File::open(path).map_err(h5_error(path, "cannot open as HDF5"))?;
    if !link_exists(&file, name) {
        return Err(Error::Hdf5 {
            path: path.to_owned(),
            message: format!("no dataset /{name} in the file"),
        });
    }
    let dataset = file
        .dataset(name)
        .map_err(h5_error(path, &format!("/{name} is not a dataset")))?;
    let data = dataset
        .read_raw()
        .map_err(h5_error(path, &format!("cannot read /{name} as numbers")))?;
    Ok((data, dataset.shape()))
}

/// Reads the string attribute `name` of the root group of the HDF5 file `path`.
pub fn read_str_attr(path: &Path, name: &str) -> Result<String> {
    let file = hdf5::File::open(path).map_err(h5_error(path, "cannot open as HDF5"))?;
    let value = file
        .attr(name)
        .and_then(|a| a.read_scalar::<hdf5::types::VarLenUnicode>())
        .map_err(h5_error(
            path,
            &format!("cannot read the text attribute {name}"),
        ))?;
    Ok(value.as_str().to_owned())
}
