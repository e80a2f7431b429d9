//! A training run's folder (`--out runs/NAME`): unlike a [`ReportDir`](super::ReportDir),
//! which appears whole at the end, a run folder fills up while the run goes, because its
//! checkpoint must survive the run being killed. Every file in it is replaced atomically
//! ([`RunDir::write`]), so each one is always either the previous version or the new one.
//!
//! [`RunDir::open`] runs before the first step and decides what the folder may be:
//!
//! | folder | without `--resume` | with `--resume` |
//! |---|---|---|
//! | missing or empty | a new run | error: nothing to resume |
//! | a run with a checkpoint | error: it would be overwritten; pass `--resume` or another folder | resumed |
//! | a run that died before its first checkpoint | started again | error: nothing to resume |
//! | anything else (a file, a folder of other files) | error | error |
//!
//! A run folder is marked by [`MARKER`], written when the run starts.

use std::path::{Path, PathBuf};

use gradflow_layers::checkpoint::write_atomic;

use super::FileError;

/// The file that marks a folder as a gradflow training run.
pub const MARKER: &str = "run.json";
/// The checkpoint's file name inside the run folder.
pub const CHECKPOINT: &str = "checkpoint.safetensors";

/// The run folder cannot be used; each variant names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The path exists and is not a folder.
    #[error("--out {}: exists and is not a folder", path.display())]
    NotAFolder {
        /// The path.
        path: PathBuf,
    },
    /// The folder holds other files; using it could mix them with the run's.
    #[error(
        "--out {}: the folder exists and is not a gradflow run (no {MARKER}); choose a new or empty folder",
        path.display()
    )]
    NotARun {
        /// The path.
        path: PathBuf,
    },
    /// The folder holds a run with a checkpoint, and `--resume` was not given.
    #[error(
        "--out {}: holds a run with a checkpoint; add --resume to continue it, or choose another folder",
        path.display()
    )]
    WouldOverwrite {
        /// The path.
        path: PathBuf,
    },
    /// `--resume` was given and there is no checkpoint.
    #[error("--resume: {} has no checkpoint to resume from", path.display())]
    NothingToResume {
        /// The checkpoint path looked for.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error(transparent)]
    Io(#[from] FileError),
}

/// An open run folder (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
    resuming: bool,
}

fn io(path: &Path, op: &'static str) -> impl FnOnce(std::io::Error) -> RunDirError {
    let at = FileError::at(path, op);
    move |e| RunDirError::Io(at(e))
}

impl RunDir {
    /// Open `path` for a new run, or for resuming one (`resume`), as the table in the
    /// [module docs](self) says; a new run writes [`MARKER`] with `command` in it.
    ///
    /// # Errors
    /// See [`RunDirError`]: every refusal names the folder and the way out.
    pub fn open(path: &Path, command: &str, resume: bool) -> Result<RunDir, RunDirError> {
        let checkpoint = path.join(CHECKPOINT);
        let exists = path.exists();
        if exists && !path.is_dir() {
            return Err(RunDirError::NotAFolder {
                path: path.to_path_buf(),
            });
        }
        let empty = !exists
            || std::fs::read_dir(path)
                .map_err(io(path, "read the folder"))?
                .next()
                .is_none();
        let is_run = exists && path.join(MARKER).is_file();
        if !empty && !is_run {
            return Err(RunDirError::NotARun {
                path: path.to_path_buf(),
            });
        }
        let has_checkpoint = checkpoint.is_file();
        match (resume, has_checkpoint) {
            (true, false) => return Err(RunDirError::NothingToResume { path: checkpoint }),
            (false, true) => {
                return Err(RunDirError::WouldOverwrite {
                    path: path.to_path_buf(),
                });
            }
            _ => {}
        }
        if !resume {
            if is_run {
                // A run that died before its first checkpoint: nothing in it is worth
                // keeping, and its files must not mix with the new run's.
                std::fs::remove_dir_all(path).map_err(io(path, "clear the unfinished run"))?;
            }
            std::fs::create_dir_all(path).map_err(io(path, "create the folder"))?;
            let marker = serde_json::json!({
                "format": "gradflow-run",
                "command": command,
                "version": env!("CARGO_PKG_VERSION"),
            });
            let text = serde_json::to_string_pretty(&marker).unwrap_or_default() + "\n";
            write_atomic(&path.join(MARKER), text.as_bytes())
                .map_err(io(&path.join(MARKER), "write"))?;
        }
        Ok(RunDir {
            path: path.to_path_buf(),
            resuming: resume,
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the checkpoint lives (`DIR/checkpoint.safetensors`).
    pub fn checkpoint_path(&self) -> PathBuf {
        self.path.join(CHECKPOINT)
    }

    /// Whether this run continues from the folder's checkpoint.
    pub fn resuming(&self) -> bool {
        self.resuming
    }

    /// Replace `DIR/name` with `bytes` atomically.
    ///
    /// # Errors
    /// [`RunDirError::Io`] naming the file.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), RunDirError> {
        let path = self.path.join(name);
        write_atomic(&path, bytes).map_err(io(&path, "write"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_the_module_docs_holds() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        // Missing: new run; --resume refused.
        assert!(matches!(
            RunDir::open(&dir, "t", true),
            Err(RunDirError::NothingToResume { .. })
        ));
        let run = RunDir::open(&dir, "t", false).unwrap();
        assert!(dir.join(MARKER).is_file() && !run.resuming());
        // Died before the first checkpoint: started again, its files gone.
        run.write("metrics.csv", b"epoch\n").unwrap();
        RunDir::open(&dir, "t", false).unwrap();
        assert!(!dir.join("metrics.csv").exists());
        // With a checkpoint: refused without --resume, resumed with it.
        run.write(CHECKPOINT, b"x").unwrap();
        let err = RunDir::open(&dir, "t", false).unwrap_err();
        assert!(err.to_string().contains("--resume"), "{err}");
        assert!(RunDir::open(&dir, "t", true).unwrap().resuming());
        assert_eq!(std::fs::read(dir.join(CHECKPOINT)).unwrap(), b"x");
        // A folder of someone's files, and a file: refused, untouched.
        let theirs = root.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::write(theirs.join("thesis.tex"), b"keep").unwrap();
        for resume in [false, true] {
            assert!(matches!(
                RunDir::open(&theirs, "t", resume),
                Err(RunDirError::NotARun { .. })
            ));
        }
        assert_eq!(std::fs::read(theirs.join("thesis.tex")).unwrap(), b"keep");
        assert!(matches!(
            RunDir::open(&theirs.join("thesis.tex"), "t", false),
            Err(RunDirError::NotAFolder { .. })
        ));
    }
}
