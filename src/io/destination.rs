//! Checks on an output path, made before any work starts, and the clean-up of temporary files
//! that a killed process left behind.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The file that marks a training run's folder.
pub const RUN_MANIFEST: &str = "run.ron";

/// Checks that `output` can be written and hurts nothing: its folder exists and is writable,
/// it is not a folder, not one of the command's `inputs`, and not inside a training run's
/// folder (whose files belong to `train`).
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<()> {
    let refuse = |why: String| Err(Error::InvalidArgument(why));
    if output.is_dir() {
        return refuse(format!(
            "the output {} is a folder; give a file name, e.g. {}/out.h5",
            output.display(),
            output.display()
        ));
    }
    let folder = folder_of(output);
    if !folder.is_dir() {
        return refuse(format!(
            "the output's folder {} does not exist; create it first",
            folder.display()
        ));
    }
    let probe = folder.join(format!(".boltzflow-write-test-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => {
            return refuse(format!(
                "cannot write into the output's folder {}: {e}",
                folder.display()
            ));
        }
    }
    let target = absolute(output);
    for input in inputs {
        if same_file(&target, &absolute(input)) {
            return refuse(format!(
                "the output {} is also an input of this command; write to another file",
                output.display()
            ));
        }
    }
    if let Some(run) = target
        .parent()
        .into_iter()
        .flat_map(Path::ancestors)
        .find(|dir| dir.join(RUN_MANIFEST).is_file())
    {
        return refuse(format!(
            "the output {} is inside the training run folder {}, whose files belong to \
             `boltzflow train`; write it elsewhere",
            output.display(),
            run.display()
        ));
    }
    Ok(())
}

/// The folder a file is written into (`.` for a bare name).
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `path` made absolute, through the real path of its folder when that exists (links resolved).
pub fn absolute(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let folder = folder_of(path)
        .canonicalize()
        .unwrap_or_else(|_| std::path::absolute(folder_of(path)).unwrap_or_default());
    match path.file_name() {
        Some(name) => folder.join(name),
        None => folder,
    }
}

/// Whether two absolute paths name one file (the same path, or hard links of one file).
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    false
}

/// Removes the temporary files `.NAME.partial-PID…` beside `path` whose process is gone (a run
/// killed before it could clean up). Files of live processes are left alone.
pub fn remove_stale_temporaries(path: &Path) {
    let (Some(name), Ok(entries)) = (path.file_name(), std::fs::read_dir(folder_of(path))) else {
        return;
    };
    let prefix = format!(".{}.partial-", name.to_string_lossy());
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if pid.parse::<u32>().is_ok_and(|pid| !process_alive(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` is running (on Linux; elsewhere every process counts as running).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_that_would_hurt_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.h5");
        std::fs::write(&input, b"x").unwrap();
        let ok = dir.path().join("out.h5");
        check_output(&ok, &[&input]).unwrap();
        let message = |r: Result<()>| r.unwrap_err().to_string();
        assert!(message(check_output(&input, &[&input])).contains("also an input"));
        assert!(message(check_output(dir.path(), &[])).contains("is a folder"));
        assert!(
            message(check_output(&dir.path().join("no/out.h5"), &[])).contains("does not exist")
        );
        let run = dir.path().join("run");
        std::fs::create_dir_all(run.join("checkpoint")).unwrap();
        std::fs::write(run.join(RUN_MANIFEST), b"").unwrap();
        assert!(
            message(check_output(&run.join("checkpoint/model.h5"), &[])).contains("training run")
        );
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.h5");
        // Process ids above the kernel's maximum (2^22) are never alive.
        let stale = dir.path().join(".out.h5.partial-4194399");
        let live = dir
            .path()
            .join(format!(".out.h5.partial-{}", std::process::id()));
        let other = dir.path().join(".other.h5.partial-4194399");
        for f in [&stale, &live, &other] {
            std::fs::write(f, b"").unwrap();
        }
        remove_stale_temporaries(&out);
        assert!(!stale.exists() && live.exists() && other.exists());
    }
}
