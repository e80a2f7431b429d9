//! The IDX file format of MNIST and Fashion-MNIST (plain or gzip-compressed).
//!
//! An IDX file is a 4-byte magic number — two zero bytes, a type code (0x08 = unsigned byte,
//! 0x09 = signed byte, 0x0B = i16, 0x0C = i32, 0x0D = f32, 0x0E = f64) and the number of
//! dimensions — then one big-endian u32 per dimension, then the values in row-major order,
//! big-endian. Image files are `[n, rows, cols]` unsigned bytes, label files `[n]`.
//! Files ending in `.gz` are decompressed on the fly.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::DataError;

/// An array read from an IDX file, values widened to `f64`-exact `f32`s where they fit.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// The dimensions from the header.
    pub shape: Vec<usize>,
    /// The values in row-major order.
    pub values: Vec<f32>,
}

/// Read the IDX array at `path` (gzip when the name ends in `.gz`).
///
/// # Errors
/// [`DataError::Io`] when the file cannot be opened or read, [`DataError::BadMagic`] for a
/// wrong header, [`DataError::Truncated`] when the file holds fewer values than its header
/// promises (a `.gz` that ends early reads as truncated too).
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        return parse_idx(&gunzip(BufReader::new(file), path)?, path);
    }
    BufReader::new(file).read_to_end(&mut bytes).map_err(io)?;
    parse_idx(&bytes, path)
}

/// Decompress a gzip stream; `path` only names the source in errors.
///
/// # Errors
/// [`DataError::Corrupt`] for a damaged or truncated stream, [`DataError::Io`] otherwise.
pub fn gunzip(reader: impl Read, path: &Path) -> Result<Vec<u8>, DataError> {
    let mut bytes = Vec::new();
    GzDecoder::new(reader)
        .read_to_end(&mut bytes)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidInput => {
                DataError::Corrupt {
                    path: path.to_path_buf(),
                    why: format!("gzip stream is damaged: {source}"),
                }
            }
            _ => DataError::Io {
                path: path.to_path_buf(),
                source,
            },
        })?;
    Ok(bytes)
}

/// Parse IDX bytes; `path` only names the source in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    let path_buf = || PathBuf::from(path);
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::BadMagic {
            path: path_buf(),
            found: bytes.iter().take(4).copied().collect(),
        });
    }
    let (code, ndims) = (bytes[2], bytes[3] as usize);
    let width = match code {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        _ => {
            return Err(DataError::BadMagic {
                path: path_buf(),
                found: bytes[..4].to_vec(),
            });
        }
    };
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path_buf(),
            expected: header,
            found: bytes.len(),
        });
    }
    let shape: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::Corrupt {
            path: path_buf(),
            why: format!("dimensions {shape:?} overflow"),
        })?;
    let expected = header + count * width;
    if bytes.len() < expected {
        return Err(DataError::Truncated {
            path: path_buf(),
            expected,
            found: bytes.len(),
        });
    }
    let body = &bytes[header..expected];
    let values: Vec<f32> = match code {
        0x08 => body.iter().map(|&b| b as f32).collect(),
        0x09 => body.iter().map(|&b| b as i8 as f32).collect(),
        0x0B => body
            .chunks_exact(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]) as f32)
            .collect(),
        0x0C => body
            .chunks_exact(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect(),
        0x0D => body
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => body
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
    };
    Ok(IdxArray { shape, values })
}

/// Encode unsigned bytes as an IDX file (type 0x08); the inverse of [`parse_idx`] for
/// MNIST-style data. Used to write test files.
pub fn encode_idx_u8(shape: &[usize], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, shape.len() as u8];
    for &d in shape {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(values);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let bytes = encode_idx_u8(&[2, 3], &[0, 1, 2, 250, 251, 255]);
        let a = parse_idx(&bytes, Path::new("t")).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.values, vec![0.0, 1.0, 2.0, 250.0, 251.0, 255.0]);
        let cut = parse_idx(&bytes[..bytes.len() - 1], Path::new("t"));
        assert!(matches!(
            cut,
            Err(DataError::Truncated {
                expected: 18,
                found: 17,
                ..
            })
        ));
        let bad = parse_idx(&[1, 2, 3, 4], Path::new("t"));
        assert!(matches!(bad, Err(DataError::BadMagic { .. })));
    }
}
