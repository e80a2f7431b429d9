//! A report folder that readers see whole: one run's files, never a mix of two runs.
//!
//! [`ReportDir::prepare`] runs *before* training, so a bad `--out` (a file, an unwritable
//! place, a folder of someone's own files) is reported at once rather than after an hour of
//! work. Files are written into a fresh staging folder beside the target; [`ReportDir::commit`]
//! writes `manifest.json` (the list of files) last and renames the staging folder into place,
//! moving the previous report aside first and deleting it afterwards. A run killed at any
//! moment leaves the previous report as it was (plus, at worst, a hidden `.NAME.partial-PID`
//! folder), and files of an earlier run never survive beside a newer one.
//!
//! An existing target is replaced only when it is empty or is a gradflow report (it holds
//! `manifest.json`, or `results.json` from before manifests existed): `--out .` or `--out ~`
//! must never delete a user's files.

use std::path::{Path, PathBuf};

/// The file that marks a folder as a complete gradflow report, written last.
pub const MANIFEST: &str = "manifest.json";

/// The report folder cannot be prepared or committed; each variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum ReportDirError {
    /// The target exists and is not a folder.
    #[error("--out {}: exists and is not a folder", path.display())]
    NotAFolder {
        /// The target.
        path: PathBuf,
    },
    /// The target is a folder with other content; replacing it would delete those files.
    #[error(
        "--out {}: the folder exists and is not a gradflow report (no {MANIFEST}); choose a new or empty folder",
        path.display()
    )]
    NotAReport {
        /// The target.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error("--out {}: cannot {op}: {source}", path.display())]
    Io {
        /// The path operated on.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// A staging folder that becomes the report folder on [`ReportDir::commit`]; dropped without
/// a commit, it is removed.
#[derive(Debug)]
pub struct ReportDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

fn io(path: &Path, op: &'static str) -> impl FnOnce(std::io::Error) -> ReportDirError {
    let path = path.to_path_buf();
    move |source| ReportDirError::Io { path, op, source }
}

impl ReportDir {
    /// Check that `target` can become the report folder and create the staging folder beside
    /// it (which proves the place is writable).
    ///
    /// # Errors
    /// See [`ReportDirError`].
    pub fn prepare(target: &Path) -> Result<ReportDir, ReportDirError> {
        if target.exists() {
            if !target.is_dir() {
                return Err(ReportDirError::NotAFolder {
                    path: target.to_path_buf(),
                });
            }
            let mut entries = std::fs::read_dir(target).map_err(io(target, "read the folder"))?;
            let is_report =
                target.join(MANIFEST).is_file() || target.join("results.json").is_file();
            if entries.next().is_some() && !is_report {
                return Err(ReportDirError::NotAReport {
                    path: target.to_path_buf(),
                });
            }
        }
        let name = target
            .file_name()
            .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(io(&parent, "create the parent folder"))?;
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .map_err(io(&staging, "clear a stale staging folder"))?;
        }
        std::fs::create_dir(&staging).map_err(io(&staging, "create a folder in"))?;
        Ok(ReportDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// The folder to write into until [`ReportDir::commit`].
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The folder the report will have after the commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Write one file of the report (into the staging folder; files written there by other
    /// means, such as figures, are listed in the manifest too).
    ///
    /// # Errors
    /// The I/O error, naming the file.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ReportDirError> {
        let path = self.staging.join(name);
        std::fs::write(&path, bytes).map_err(io(&path, "write"))
    }

    /// Write the manifest and move the staging folder into place; returns the final path.
    ///
    /// # Errors
    /// The I/O error of the step that failed; the previous report stays where it was.
    pub fn commit(mut self, about: &str) -> Result<PathBuf, ReportDirError> {
        let mut files: Vec<String> = std::fs::read_dir(&self.staging)
            .map_err(io(&self.staging, "list"))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        files.sort();
        let manifest = serde_json::json!({
            "generator": concat!("gradflow ", env!("CARGO_PKG_VERSION")),
            "about": about,
            "files": files,
        });
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        let path = self.staging.join(MANIFEST);
        std::fs::write(&path, text).map_err(io(&path, "write"))?;
        let old = self.staging.with_file_name(format!(
            ".{}.old-{}",
            self.target
                .file_name()
                .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned()),
            std::process::id()
        ));
        let had_old = self.target.exists();
        if had_old {
            std::fs::rename(&self.target, &old)
                .map_err(io(&self.target, "move the old report aside"))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(io(&self.target, "move the new report into place")(e));
        }
        self.committed = true;
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(self.target.clone())
    }
}

impl Drop for ReportDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_an_old_report_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("report");
        let first = ReportDir::prepare(&out).unwrap();
        first.write("a.txt", b"1").unwrap();
        first.write("only-in-first.txt", b"x").unwrap();
        first.commit("first").unwrap();
        let second = ReportDir::prepare(&out).unwrap();
        second.write("a.txt", b"2").unwrap();
        // Until the commit, readers still see the first run.
        assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"1");
        second.commit("second").unwrap();
        assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"2");
        assert!(
            !out.join("only-in-first.txt").exists(),
            "stale file survived"
        );
        assert!(out.join(MANIFEST).is_file());
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "staging or old folders left behind");
    }

    #[test]
    fn an_abandoned_run_leaves_the_old_report_and_no_staging() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        let d = ReportDir::prepare(&out).unwrap();
        d.write("a.txt", b"1").unwrap();
        d.commit("first").unwrap();
        let d = ReportDir::prepare(&out).unwrap();
        d.write("a.txt", b"half").unwrap();
        drop(d);
        assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"1");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_a_file_and_a_folder_of_other_files() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert!(matches!(
            ReportDir::prepare(&file),
            Err(ReportDirError::NotAFolder { .. })
        ));
        let mine = tmp.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("thesis.tex"), b"").unwrap();
        assert!(matches!(
            ReportDir::prepare(&mine),
            Err(ReportDirError::NotAReport { .. })
        ));
        assert!(mine.join("thesis.tex").exists());
    }
}
