//! The one error type of the crate: everything a user's files or settings can get wrong.
//!
//! Every variant that comes from a file names it, so that a message such as
//! `train-labels-idx1-ubyte: label 1e30 at index 7 is not a class index` can be acted on
//! without a debugger. Programmer errors (a batch size of zero passed in code, a crop of size
//! zero) are reported here too, as [`DataError::Config`], because the CLI forwards user flags
//! straight into these types.

use std::path::PathBuf;

/// What can go wrong reading or preparing data; every file-related variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The data folder does not exist or lacks a file.
    #[error("{path}: not found ({why})")]
    Missing {
        /// The folder or file.
        path: PathBuf,
        /// What was looked for.
        why: String,
    },
    /// The first bytes are not an IDX magic number.
    #[error("{path}: not an IDX file (magic bytes {found:02x?})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The bytes found where the magic number belongs.
        found: Vec<u8>,
    },
    /// The file ends before the data its header announces.
    #[error("{path}: truncated IDX file: header announces {expected} bytes, file has {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file holds more bytes than its header announces (for example a valid header
    /// followed by gigabytes of zeros). Only the announced bytes were read.
    #[error(
        "{path}: IDX header announces {expected} bytes, file has {}{found} \
         (trailing data after the announced values)",
        if *.at_least { "at least " } else { "" }
    )]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes present (decompressed bytes for `.gz`).
        found: u64,
        /// True when counting stopped early (a huge compressed tail): `found` is a lower bound.
        at_least: bool,
    },
    /// The header's dimensions do not describe an array that can exist: their product or the
    /// byte count overflows, or it exceeds the configured limit.
    #[error("{path}: IDX header dimensions {shape:?} of {width}-byte values are impossible: {why}")]
    BadShape {
        /// The file.
        path: PathBuf,
        /// The dimensions as written in the header.
        shape: Vec<u64>,
        /// Bytes per value of the header's type code.
        width: u64,
        /// What is wrong with them.
        why: String,
    },
    /// The contents are inconsistent (damaged gzip, mismatched counts, bad labels, non-finite
    /// pixels).
    #[error("{path}: corrupt data: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// An image file could not be decoded.
    #[error("{path}: cannot decode image: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A text file cannot serve as a corpus (empty, or shorter than one batch); the message
    /// gives the numbers.
    #[error("{path}: {why}")]
    Text {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A setting is invalid (batch size 0, a crop of size 0, an empty scale range, ...).
    #[error("invalid setting: {0}")]
    Config(String),
    /// A transform cannot be applied to this sample (for example a fixed crop larger than the
    /// padded image).
    #[error("{what}: {why}")]
    Transform {
        /// The sample (file name, or `IDX image #i`).
        what: String,
        /// What went wrong.
        why: String,
    },
    /// More than the allowed fraction of the samples could not be read; the loader stops.
    #[error(
        "{bad} of {total} samples are unreadable (more than {limit_percent}% allowed); \
         first: {first}"
    )]
    TooManyUnreadable {
        /// Unreadable samples seen so far.
        bad: usize,
        /// Samples in the dataset.
        total: usize,
        /// The allowed percentage.
        limit_percent: f64,
        /// The first unreadable sample and its error.
        first: String,
    },
}
