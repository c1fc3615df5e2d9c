//! HDF5 input and output.
//!
//! Outputs are written to a temporary file beside the destination and renamed into place only
//! when complete ([`OutputFile::commit`]), so an interrupted or failed run never leaves a
//! half-written file, and never damages an older file of the same name.

mod destination;
mod input;
mod lock;
mod output;
mod samples;
mod structure;

pub use destination::{RUN_MANIFEST, absolute, check_output, folder_of, remove_stale_temporaries};
pub use input::{
    InputFile, Points, dataset_exists, read_array, read_f64_attr, read_points, read_str_attr,
    read_u64_attr,
};
pub use lock::FileLock;
pub use output::{OutputFile, RunInfo};
pub(crate) use output::{temp_path, write_atomically};
pub use samples::{ExtraEstimates, WeightedSamples, Weights, write_samples};
pub use structure::{parse_structure_csv, read_structure_csv};

use crate::Error;
use std::path::Path;

/// Wraps an HDF5 error with the file it concerns.
fn h5_error(path: &Path, context: &str) -> impl FnOnce(hdf5::Error) -> Error {
    let path = path.to_owned();
    let context = context.to_owned();
    move |e| Error::Hdf5 {
        path,
        message: format!("{context}: {e}"),
    }
}

/// Whether the path `a/b/...` exists below `group`, without HDF5 errors for a missing
/// intermediate group.
fn link_exists(group: &hdf5::Group, path: &str) -> bool {
    match path.split_once('/') {
        Some((first, rest)) => {
            group.link_exists(first) && group.group(first).is_ok_and(|g| link_exists(&g, rest))
        }
        None => group.link_exists(path),
    }
}
