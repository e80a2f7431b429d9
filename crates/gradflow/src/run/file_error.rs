//! The one I/O error of the run toolkit's files: what was done, to which path, and why.

use std::path::{Path, PathBuf};

/// A file-system operation failed; the message names the path and the operation.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {op}: {source}", path.display())]
pub struct FileError {
    /// The path operated on.
    pub path: PathBuf,
    /// What was being done (`write`, `read`, `create the folder`…).
    pub op: &'static str,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    /// A `map_err` adapter: `fs::read(p).map_err(FileError::at(p, "read"))`.
    pub fn at(path: &Path, op: &'static str) -> impl FnOnce(std::io::Error) -> FileError {
        let path = path.to_path_buf();
        move |source| FileError { path, op, source }
    }
}
