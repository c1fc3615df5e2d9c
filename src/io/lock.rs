//! Advisory locks that keep a second writer away from a file or a run folder.

use crate::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// An exclusive lock on a lock file, held until dropped (then the lock file is removed). The
/// operating system releases it if the process dies, so a killed run never leaves a stale lock.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock file `path` (created if needed), or fails at once with `busy` as the
    /// message when another process holds it.
    pub fn acquire(path: &Path, busy: impl FnOnce() -> String) -> Result<Self> {
        let file = File::create(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        match file.try_lock() {
            Ok(()) => Ok(FileLock {
                _file: file,
                path: path.to_owned(),
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::InvalidArgument(busy())),
            Err(std::fs::TryLockError::Error(source)) => Err(Error::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Locks the file `path` against a second writer through `.NAME.lock` beside it.
    pub fn beside(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .map_or("output".into(), |n| n.to_string_lossy());
        let lock = super::folder_of(path).join(format!(".{name}.lock"));
        FileLock::acquire(&lock, || {
            format!(
                "another boltzflow is writing {} now; wait for it to finish",
                path.display()
            )
        })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("samples.h5");
        let first = FileLock::beside(&file).unwrap();
        let message = FileLock::beside(&file).unwrap_err().to_string();
        assert!(
            message.contains("another boltzflow is writing"),
            "{message}"
        );
        drop(first);
        FileLock::beside(&file).unwrap();
    }
}
