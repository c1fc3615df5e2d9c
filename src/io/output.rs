//! Writing self-describing HDF5 outputs atomically.

use super::h5_error;
use crate::config::SystemFile;
use crate::energy::System;
use crate::{Error, Result};
use hdf5::types::VarLenUnicode;
use std::path::{Path, PathBuf};

/// What every output file records about the run that made it (attributes of `/`).
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The command that made the file, for example `"energy"`.
    pub command: String,
    /// The random seed, when the command used one.
    pub seed: Option<u64>,
    /// The system file path and text.
    pub system_file: Option<(PathBuf, String)>,
    /// Plugin name and version.
    pub plugin: (String, String),
    /// The system's metadata, as JSON.
    pub metadata_json: String,
    /// System name.
    pub system: String,
    /// Temperature in kelvin, for physical systems.
    pub temperature_kelvin: Option<f64>,
    /// Coordinates per point.
    pub dim: usize,
}

impl RunInfo {
    /// The run information of `command` on `system`, loaded from `file`.
    pub fn new(command: &str, seed: Option<u64>, file: &SystemFile, system: &System) -> Self {
        let metadata = system.metadata();
        RunInfo {
            command: command.to_owned(),
            seed,
            system_file: Some((file.path.clone(), file.text.clone())),
            plugin: (
                system.library().name().to_owned(),
                system.library().version().to_owned(),
            ),
            metadata_json: serde_json::to_string(metadata).unwrap_or_default(),
            system: metadata.system.clone(),
            temperature_kelvin: metadata.temperature_kelvin,
            dim: system.dim(),
        }
    }
}

/// An HDF5 file being written. It lives under a temporary name until [`OutputFile::commit`]
/// renames it into place; dropped without commit, it is deleted.
pub struct OutputFile {
    file: Option<hdf5::File>,
    temp: PathBuf,
    path: PathBuf,
}

impl OutputFile {
    /// Starts writing `path` (through a temporary file in the same folder).
    pub fn create(path: &Path) -> Result<Self> {
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !folder.is_dir() {
            return Err(Error::Io {
                path: folder.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "output folder does not exist",
                ),
            });
        }
        let name = path.file_name().ok_or_else(|| {
            Error::InvalidArgument(format!("{} is not a file name", path.display()))
        })?;
        let temp = folder.join(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = hdf5::File::create(&temp).map_err(h5_error(&temp, "cannot create"))?;
        Ok(OutputFile {
            file: Some(file),
            temp,
            path: path.to_owned(),
        })
    }

    fn file(&self) -> &hdf5::File {
        self.file.as_ref().expect("the file is open until commit")
    }

    fn error(&self, context: &str) -> impl FnOnce(hdf5::Error) -> Error {
        h5_error(&self.path, context)
    }

    /// The group `name` ("" for the root), created with its parents if needed.
    fn group(&self, name: &str) -> Result<hdf5::Group> {
        let mut group: hdf5::Group = (**self.file()).clone();
        for part in name.split('/').filter(|p| !p.is_empty()) {
            group = if group.link_exists(part) {
                group.group(part)
            } else {
                group.create_group(part)
            }
            .map_err(self.error(&format!("cannot create group {name}")))?;
        }
        Ok(group)
    }

    /// Writes the run's metadata as attributes of `/`.
    pub fn write_run_info(&self, info: &RunInfo) -> Result<()> {
        self.set_str("", "program", "boltzflow")?;
        self.set_str("", "program_version", crate::VERSION)?;
        self.set_str("", "command", &info.command)?;
        if let Some(seed) = info.seed {
            self.set_u64("", "seed", seed)?;
        }
        if let Some((path, text)) = &info.system_file {
            self.set_str("", "system_file", &path.display().to_string())?;
            self.set_str("", "config", text)?;
        }
        self.set_str("", "plugin", &info.plugin.0)?;
        self.set_str("", "plugin_version", &info.plugin.1)?;
        self.set_str("", "system", &info.system)?;
        self.set_str("", "metadata", &info.metadata_json)?;
        self.set_u64("", "dim", info.dim as u64)?;
        self.set_str(
            "",
            "units",
            "reduced energy u = E/(k_B T), dimensionless; positions in nm",
        )?;
        if let Some(t) = info.temperature_kelvin {
            self.set_f64("", "temperature_kelvin", t)?;
        }
        Ok(())
    }

    /// Writes an f64 dataset `name` (for example `"samples/x"`) of the given shape, compressed.
    pub fn write_array(&self, name: &str, data: &[f64], shape: &[usize]) -> Result<()> {
        let (group, leaf) = name.rsplit_once('/').unwrap_or(("", name));
        let view = ndarray::ArrayViewD::from_shape(ndarray::IxDyn(shape), data).map_err(|e| {
            Error::Shape {
                what: format!("dataset {name}"),
                expected: format!("{shape:?}"),
                found: e.to_string(),
            }
        })?;
        let group = self.group(group)?;
        let mut builder = group.new_dataset_builder();
        if !data.is_empty() {
            builder = builder.shuffle().deflate(4);
        }
        builder
            .with_data(&view)
            .create(leaf)
            .map_err(self.error(&format!("cannot write dataset {name}")))?;
        Ok(())
    }

    /// Sets a string attribute on the group `group` ("" for the root).
    pub fn set_str(&self, group: &str, name: &str, value: &str) -> Result<()> {
        let value: VarLenUnicode = value
            .replace('\0', " ")
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("attribute {name} is not valid text")))?;
        self.group(group)?
            .new_attr::<VarLenUnicode>()
            .shape(())
            .create(name)
            .and_then(|a| a.write_scalar(&value))
            .map_err(self.error(&format!("cannot write attribute {name}")))
    }

    /// Sets an f64 attribute.
    pub fn set_f64(&self, group: &str, name: &str, value: f64) -> Result<()> {
        self.group(group)?
            .new_attr::<f64>()
            .shape(())
            .create(name)
            .and_then(|a| a.write_scalar(&value))
            .map_err(self.error(&format!("cannot write attribute {name}")))
    }

    /// Sets an unsigned integer attribute.
    pub fn set_u64(&self, group: &str, name: &str, value: u64) -> Result<()> {
        self.group(group)?
            .new_attr::<u64>()
            .shape(())
            .create(name)
            .and_then(|a| a.write_scalar(&value))
            .map_err(self.error(&format!("cannot write attribute {name}")))
    }

    /// Sets a one-dimensional f64 array attribute.
    pub fn set_f64s(&self, group: &str, name: &str, values: &[f64]) -> Result<()> {
        self.group(group)?
            .new_attr::<f64>()
            .shape(values.len())
            .create(name)
            .and_then(|a| a.write_raw(values))
            .map_err(self.error(&format!("cannot write attribute {name}")))
    }

    /// Closes the file and moves it to its final name, replacing any older file there.
    pub fn commit(mut self) -> Result<PathBuf> {
        if let Some(file) = self.file.take() {
            file.close().map_err(self.error("cannot close"))?;
        }
        std::fs::rename(&self.temp, &self.path).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.path.clone())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = file.close();
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_renames_and_drop_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.h5");
        let out = OutputFile::create(&path).unwrap();
        out.write_array("a/b/x", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])
            .unwrap();
        out.set_f64("a", "ess", 0.5).unwrap();
        out.set_str("", "note", "hello").unwrap();
        out.set_f64s("a", "pair", &[0.25, 0.5]).unwrap();
        out.commit().unwrap();
        let file = hdf5::File::open(&path).unwrap();
        let x = file.dataset("a/b/x").unwrap();
        assert_eq!(x.shape(), vec![3, 2]);
        assert_eq!(
            x.read_raw::<f64>().unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        assert_eq!(
            file.group("a")
                .unwrap()
                .attr("ess")
                .unwrap()
                .read_scalar::<f64>()
                .unwrap(),
            0.5
        );

        let pair = file.group("a").unwrap().attr("pair").unwrap();
        assert_eq!(pair.read_raw::<f64>().unwrap(), vec![0.25, 0.5]);

        let other = dir.path().join("abandoned.h5");
        drop(OutputFile::create(&other).unwrap());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the temporary file was removed"
        );
    }

    #[test]
    fn wrong_shape_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputFile::create(&dir.path().join("out.h5")).unwrap();
        assert!(matches!(
            out.write_array("x", &[1.0, 2.0, 3.0], &[2, 2]),
            Err(Error::Shape { .. })
        ));
    }
}
