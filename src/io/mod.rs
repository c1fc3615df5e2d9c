//! HDF5 input and output.
//!
//! Outputs are written to a temporary file beside the destination and renamed into place only
//! when complete ([`OutputFile::commit`]), so an interrupted or failed run never leaves a
//! half-written file, and never damages an older file of the same name.

mod input;
mod output;

pub use input::{Points, read_array, read_points, read_str_attr};
pub use output::{OutputFile, RunInfo};

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
