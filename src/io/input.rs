//! Reading point sets from HDF5 files.

use super::{h5_error, link_exists};
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

/// Whether the HDF5 file `path` has a link `name` (for example `"samples/log_w"`).
pub fn dataset_exists(path: &Path, name: &str) -> Result<bool> {
    let file = hdf5::File::open(path).map_err(h5_error(path, "cannot open as HDF5"))?;
    Ok(link_exists(&file, name))
}

/// The scalar attribute `name` of the group `group` ("" for the root), if both exist.
fn read_attr<T: hdf5::H5Type>(path: &Path, group: &str, name: &str) -> Result<Option<T>> {
    let file = hdf5::File::open(path).map_err(h5_error(path, "cannot open as HDF5"))?;
    let location: hdf5::Group = if group.is_empty() {
        (*file).clone()
    } else if link_exists(&file, group) {
        file.group(group)
            .map_err(h5_error(path, &format!("/{group} is not a group")))?
    } else {
        return Ok(None);
    };
    if !location
        .attr_names()
        .is_ok_and(|names| names.iter().any(|n| n == name))
    {
        return Ok(None);
    }
    location
        .attr(name)
        .and_then(|a| a.read_scalar::<T>())
        .map(Some)
        .map_err(h5_error(
            path,
            &format!("cannot read attribute {name} of /{group}"),
        ))
}

/// The integer attribute `name` of the group `group` ("" for the root), if it exists.
pub fn read_u64_attr(path: &Path, group: &str, name: &str) -> Result<Option<u64>> {
    read_attr::<u64>(path, group, name)
}

/// The string attribute `name` of the group `group` ("" for the root), if it exists.
pub fn read_str_attr(path: &Path, group: &str, name: &str) -> Result<Option<String>> {
    Ok(read_attr::<hdf5::types::VarLenUnicode>(path, group, name)?.map(|s| s.as_str().to_owned()))
}

/// The numeric attribute `name` of the group `group` ("" for the root) as f64, if it exists.
pub fn read_f64_attr(path: &Path, group: &str, name: &str) -> Result<Option<f64>> {
    read_attr::<f64>(path, group, name)
}

/// An HDF5 file open for reading many datasets and attributes, addressed by paths such as
/// `"state/3/moment_1"`; every error names the file and the object.
pub struct InputFile {
    file: hdf5::File,
    path: std::path::PathBuf,
}

impl InputFile {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = hdf5::File::open(path).map_err(h5_error(path, "cannot open as HDF5"))?;
        Ok(InputFile {
            file,
            path: path.to_owned(),
        })
    }

    /// Whether the link `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        link_exists(&self.file, name)
    }

    /// The dataset `name` as f64 values (row-major) with its shape.
    pub fn array(&self, name: &str) -> Result<(Vec<f64>, Vec<usize>)> {
        let dataset = self
            .file
            .dataset(name)
            .map_err(h5_error(&self.path, &format!("no dataset /{name}")))?;
        let data = dataset.read_raw().map_err(h5_error(
            &self.path,
            &format!("cannot read /{name} as numbers"),
        ))?;
        Ok((data, dataset.shape()))
    }

    /// The u64 attribute `name` of the group `group`.
    pub fn u64_attr(&self, group: &str, name: &str) -> Result<u64> {
        self.file
            .group(group)
            .and_then(|g| g.attr(name))
            .and_then(|a| a.read_scalar::<u64>())
            .map_err(h5_error(
                &self.path,
                &format!("cannot read attribute {name} of /{group}"),
            ))
    }
}
