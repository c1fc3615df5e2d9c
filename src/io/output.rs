//! Writing self-describing HDF5 outputs atomically.

use super::{h5_error, link_exists};
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
    /// Atoms, for molecular systems (points are then `atoms × 3` positions in nm).
    pub atoms: Option<usize>,
}

impl RunInfo {
    /// The run information of `command` on `system`, loaded from `file`.
    pub fn new(command: &str, seed: Option<u64>, file: &SystemFile, system: &System) -> Self {
        let metadata = system.metadata();
        RunInfo {
            command: command.to_owned(),
            seed,
            system_file: Some((file.path.clone(), file.text.clone())),
            plugin: system.provenance(),
            metadata_json: serde_json::to_string(metadata).unwrap_or_default(),
            system: metadata.system.clone(),
            temperature_kelvin: metadata.temperature_kelvin,
            dim: system.dim(),
            atoms: system.n_atoms(),
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
        let temp = temp_path(path, "")?;
        let file = hdf5::File::create(&temp).map_err(h5_error(&temp, "cannot create"))?;
        Ok(OutputFile {
            file: Some(file),
            temp,
            path: path.to_owned(),
        })
    }

    /// Starts rewriting the existing file `source` as `path` (which may be `source` itself):
    /// a copy of `source` under a temporary name beside `path` is changed, and
    /// [`OutputFile::commit`] renames it over `path`. `source` is never opened for writing, so
    /// it is intact whatever happens before the commit.
    pub fn update(source: &Path, path: &Path) -> Result<Self> {
        let temp = temp_path(path, "")?;
        let copied = std::fs::copy(source, &temp)
            .map_err(|e| Error::Io {
                path: source.to_owned(),
                source: e,
            })
            .and_then(|_| {
                hdf5::File::open_rw(&temp).map_err(h5_error(source, "cannot open as HDF5"))
            });
        match copied {
            Ok(file) => Ok(OutputFile {
                file: Some(file),
                temp,
                path: path.to_owned(),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
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

    /// Writes which program and command made the file as attributes of `/` (`program`,
    /// `program_version`, `command`).
    pub fn write_program(&self, command: &str) -> Result<()> {
        self.set_str("", "program", "boltzflow")?;
        self.set_str("", "program_version", crate::VERSION)?;
        self.set_str("", "command", command)
    }

    /// Writes the run's metadata as attributes of `/`.
    pub fn write_run_info(&self, info: &RunInfo) -> Result<()> {
        self.write_program(&info.command)?;
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

    /// Removes the group or dataset `name` (with everything below it) if it exists. The space
    /// it took in the file is not reclaimed (`h5repack` does that).
    pub fn remove(&self, name: &str) -> Result<()> {
        if link_exists(self.file(), name) {
            self.file()
                .unlink(name)
                .map_err(self.error(&format!("cannot remove {name}")))?;
        }
        Ok(())
    }

    /// Removes the attribute `name` of the group or dataset `object` if it has one.
    pub fn remove_attr(&self, object: &str, name: &str) -> Result<()> {
        if !object.is_empty() && !link_exists(self.file(), object) {
            return Ok(());
        }
        let location = self.object(object)?;
        if location
            .attr_names()
            .is_ok_and(|names| names.iter().any(|n| n == name))
        {
            location
                .delete_attr(name)
                .map_err(self.error(&format!("cannot remove attribute {name}")))?;
        }
        Ok(())
    }

    /// The object `name` ("" for the root): the dataset of that name if there is one, else the
    /// group, created with its parents if needed.
    fn object(&self, name: &str) -> Result<hdf5::Location> {
        if !name.is_empty()
            && link_exists(self.file(), name)
            && self.file().loc_type_by_name(name).ok() == Some(hdf5::LocationType::Dataset)
        {
            return self
                .file()
                .dataset(name)
                .map(|d| (**d).clone())
                .map_err(self.error(&format!("cannot open dataset {name}")));
        }
        Ok((*self.group(name)?).clone())
    }

    /// Creates the attribute `name` of `shape` on the object `object`, replacing an older one.
    fn new_attr<T: hdf5::H5Type>(
        &self,
        object: &str,
        name: &str,
        shape: &[usize],
    ) -> Result<hdf5::Attribute> {
        self.remove_attr(object, name)?;
        self.object(object)?
            .new_attr::<T>()
            .shape(shape)
            .create(name)
            .map_err(self.error(&format!("cannot write attribute {name}")))
    }

    /// Sets a string attribute on the group or dataset `object` ("" for the root), replacing
    /// an older value.
    pub fn set_str(&self, object: &str, name: &str, value: &str) -> Result<()> {
        let value: VarLenUnicode = value
            .replace('\0', " ")
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("attribute {name} is not valid text")))?;
        self.new_attr::<VarLenUnicode>(object, name, &[])?
            .write_scalar(&value)
            .map_err(self.error(&format!("cannot write attribute {name}")))
    }

    /// Sets an f64 attribute (see [`OutputFile::set_str`]).
    pub fn set_f64(&self, object: &str, name: &str, value: f64) -> Result<()> {
        self.new_attr::<f64>(object, name, &[])?
            .write_scalar(&value)
            .map_err(self.error(&format!("cannot write attribute {name}")))
    }

    /// Sets an unsigned integer attribute (see [`OutputFile::set_str`]).
    pub fn set_u64(&self, object: &str, name: &str, value: u64) -> Result<()> {
        self.new_attr::<u64>(object, name, &[])?
            .write_scalar(&value)
            .map_err(self.error(&format!("cannot write attribute {name}")))
    }

    /// Sets a one-dimensional unsigned integer attribute (see [`OutputFile::set_str`]).
    pub fn set_u64s(&self, object: &str, name: &str, values: &[u64]) -> Result<()> {
        self.new_attr::<u64>(object, name, &[values.len()])?
            .write_raw(values)
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
        std::fs::rename(&self.temp, &self.path).map_err(|source| {
            let _ = std::fs::remove_file(&self.temp);
            Error::Io {
                path: self.path.clone(),
                source,
            }
        })?;
        Ok(self.path.clone())
    }
}

/// The temporary name beside `path` under which it is written (ending in `suffix`), after
/// checking that its folder exists.
pub(crate) fn temp_path(path: &Path, suffix: &str) -> Result<PathBuf> {
    let folder = super::folder_of(path);
    if !folder.is_dir() {
        return Err(Error::Io {
            path: folder.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "output folder does not exist",
            ),
        });
    }
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{} is not a file name", path.display())))?;
    super::remove_stale_temporaries(path);
    Ok(folder.join(format!(
        ".{}.partial-{}{suffix}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so that `path`
/// holds either its old content or the new one, never a part.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_path(path, "")?;
    std::fs::write(&temp, bytes)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&temp);
            Error::Io {
                path: path.to_owned(),
                source,
            }
        })
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
    fn update_replaces_groups_and_attributes_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.h5");
        let out = OutputFile::create(&path).unwrap();
        out.write_array("samples/x", &[1.0, 2.0], &[2]).unwrap();
        out.write_array("old/y", &[3.0], &[1]).unwrap();
        out.set_f64("estimates", "ess", 0.5).unwrap();
        out.set_f64("estimates", "stale", 1.0).unwrap();
        out.commit().unwrap();
        let before = std::fs::read(&path).unwrap();

        let update = || {
            let update = OutputFile::update(&path, &path).unwrap();
            update.remove("old").unwrap();
            update.remove("never_there").unwrap();
            update.set_f64("estimates", "ess", 0.25).unwrap();
            update.remove_attr("estimates", "stale").unwrap();
            update
                .set_u64s("samples/x", "atoms", &[4, 6, 8, 14])
                .unwrap();
            update
        };
        drop(update());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "dropped: nothing changes"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        update().commit().unwrap();
        let file = hdf5::File::open(&path).unwrap();
        assert!(!file.link_exists("old"));
        let estimates = file.group("estimates").unwrap();
        assert_eq!(estimates.attr_names().unwrap(), vec!["ess".to_owned()]);
        assert_eq!(
            estimates.attr("ess").unwrap().read_scalar::<f64>().unwrap(),
            0.25
        );
        let x = file.dataset("samples/x").unwrap();
        assert_eq!(x.read_raw::<f64>().unwrap(), vec![1.0, 2.0]);
        assert_eq!(
            x.attr("atoms").unwrap().read_raw::<u64>().unwrap(),
            vec![4, 6, 8, 14]
        );

        let missing = dir.path().join("missing.h5");
        assert!(matches!(
            OutputFile::update(&missing, &missing),
            Err(Error::Io { .. })
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
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
