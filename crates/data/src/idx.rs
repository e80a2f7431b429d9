//! The IDX file format of MNIST and Fashion-MNIST (plain or gzip-compressed).
//!
//! An IDX file is a 4-byte magic number — two zero bytes, a type code (0x08 = unsigned byte,
//! 0x09 = signed byte, 0x0B = i16, 0x0C = i32, 0x0D = f32, 0x0E = f64) and the number of
//! dimensions — then one big-endian u32 per dimension, then the values in row-major order,
//! big-endian. Image files are `[n, rows, cols]` unsigned bytes, label files `[n]`.
//!
//! # What the reader trusts
//! Nothing in the header. The body size is
//!
//! ```text
//! body = d₀ · d₁ · … · d_{k−1} · width(type)      (checked u64 arithmetic)
//! ```
//!
//! and a header whose product overflows (`[1, 2³¹−1, 2³¹+1]`, or f64 values with dims
//! `[1, 2³¹, 2³⁰]`: 2⁶¹ values of 8 bytes = 2⁶⁴ bytes) is a [`DataError::BadShape`]. For a plain
//! file the announced size is compared with the file's length *before* anything is
//! allocated: fewer bytes is [`DataError::Truncated`], more is [`DataError::TrailingData`].
//! A gzip stream has no trustworthy length, so its body is read in bounded chunks (memory
//! grows only with data that really arrives), exactly as many bytes as announced, and then
//! the rest of the stream is counted (up to [`TRAILING_COUNT_LIMIT`]) to reject trailing data.
//! Gzip is recognised by its magic bytes `1f 8b`, whatever the file is called.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::DataError;

/// How many trailing decompressed bytes are counted before giving up and reporting
/// "at least" that many (1 GiB): a gzip bomb must not keep the reader busy forever.
pub const TRAILING_COUNT_LIMIT: u64 = 1 << 30;

/// Bytes read from a gzip stream per step while filling the announced body (1 MiB).
const CHUNK: usize = 1 << 20;

/// The element type named by the third magic byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdxType {
    /// 0x08: unsigned byte (MNIST pixels and labels).
    U8,
    /// 0x09: signed byte.
    I8,
    /// 0x0B: big-endian i16.
    I16,
    /// 0x0C: big-endian i32.
    I32,
    /// 0x0D: big-endian IEEE f32.
    F32,
    /// 0x0E: big-endian IEEE f64.
    F64,
}

impl IdxType {
    /// The type for a magic-number type code, `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<IdxType> {
        Some(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            _ => return None,
        })
    }

    /// The type code written in the magic number.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }

    /// Bytes per value.
    pub fn width(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }

    /// True for the two floating-point types.
    pub fn is_float(self) -> bool {
        matches!(self, IdxType::F32 | IdxType::F64)
    }
}

/// An array read from an IDX file, values converted to `f32` (exact for the byte and i16
/// types and for f32; i32 above 2²⁴ and f64 round to the nearest f32).
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// The dimensions from the header.
    pub shape: Vec<usize>,
    /// The values in row-major order.
    pub values: Vec<f32>,
}

/// An IDX array with its values kept as the file's big-endian bytes: no widening, so a
/// 47 MB Fashion-MNIST image file stays 47 MB in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxRaw {
    /// The element type from the magic number.
    pub dtype: IdxType,
    /// The dimensions from the header.
    pub shape: Vec<usize>,
    /// Exactly `numel · width` bytes of values, big-endian, row-major.
    pub body: Vec<u8>,
}

impl IdxRaw {
    /// Number of values (the product of the dimensions).
    pub fn numel(&self) -> usize {
        self.body.len() / self.dtype.width()
    }

    /// Value `i` as f64 (exact for every IDX type).
    ///
    /// # Panics
    /// When `i >= self.numel()`.
    pub fn value_f64(&self, i: usize) -> f64 {
        let w = self.dtype.width();
        let b = &self.body[i * w..(i + 1) * w];
        match self.dtype {
            IdxType::U8 => f64::from(b[0]),
            IdxType::I8 => f64::from(b[0] as i8),
            IdxType::I16 => f64::from(i16::from_be_bytes([b[0], b[1]])),
            IdxType::I32 => f64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            IdxType::F32 => f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            IdxType::F64 => f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    /// Value `i` written as in its own type (an f32 label 1e30 reads `1e30`, not its f64
    /// widening), for error messages.
    ///
    /// # Panics
    /// When `i >= self.numel()`.
    pub fn value_string(&self, i: usize) -> String {
        let v = self.value_f64(i);
        match self.dtype {
            IdxType::F32 => format!("{:?}", v as f32),
            _ => format!("{v:?}"),
        }
    }

    /// All values as `f32` (see [`IdxArray`] for the rounding).
    pub fn to_f32(&self) -> Vec<f32> {
        let b = &self.body;
        match self.dtype {
            IdxType::U8 => b.iter().map(|&v| f32::from(v)).collect(),
            IdxType::I8 => b.iter().map(|&v| f32::from(v as i8)).collect(),
            IdxType::I16 => b
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_be_bytes([c[0], c[1]])))
                .collect(),
            IdxType::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            IdxType::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            IdxType::F64 => b
                .chunks_exact(8)
                .map(|c| {
                    f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
        }
    }

    /// Converts into the `f32` form of [`read_idx`].
    pub fn into_array(self) -> IdxArray {
        IdxArray {
            values: self.to_f32(),
            shape: self.shape,
        }
    }
}

/// A parsed header: the type, the dimensions and the body size they imply.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    dtype: IdxType,
    shape: Vec<usize>,
    /// 4 + 4 · ndims.
    header_len: u64,
    /// numel · width, checked.
    body_len: u64,
}

impl Header {
    fn total(&self) -> u64 {
        // Cannot overflow: header_len ≤ 4 + 4·255 and body_len ≤ u64::MAX / 2 (checked below).
        self.header_len + self.body_len
    }
}

/// Reads and validates the magic number and dimensions from `r`.
fn read_header(r: &mut impl Read, path: &Path) -> Result<Header, DataError> {
    let mut magic = [0u8; 4];
    let got = read_up_to(r, &mut magic).map_err(|e| read_error(path, e))?;
    if got < 4 || magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: magic[..got].to_vec(),
        });
    }
    let Some(dtype) = IdxType::from_code(magic[2]) else {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: magic.to_vec(),
        });
    };
    let ndims = usize::from(magic[3]);
    let header_len = 4 + 4 * ndims as u64;
    let mut dims = vec![0u8; 4 * ndims];
    let got = read_up_to(r, &mut dims).map_err(|e| read_error(path, e))?;
    if got < dims.len() {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: header_len,
            found: 4 + got as u64,
        });
    }
    let raw: Vec<u64> = dims
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let width = dtype.width() as u64;
    let bad = |why: String| DataError::BadShape {
        path: path.to_path_buf(),
        shape: raw.clone(),
        width,
        why,
    };
    let numel = raw
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("the number of values overflows 64 bits".into()))?;
    let body_len = numel
        .checked_mul(width)
        .filter(|&b| b <= u64::MAX / 2)
        .ok_or_else(|| bad(format!("{numel} values do not fit in a 64-bit byte count")))?;
    // The body must be addressable in memory: numel and body_len as usize.
    if usize::try_from(body_len).is_err() {
        return Err(bad(format!(
            "{body_len} bytes exceed this machine's address space"
        )));
    }
    let shape = raw
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| bad("a dimension exceeds this machine's address space".into()))?;
    Ok(Header {
        dtype,
        shape,
        header_len,
        body_len,
    })
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Maps a read error: a damaged compressed stream is data corruption, anything else is I/O.
fn read_error(path: &Path, e: io::Error) -> DataError {
    match e.kind() {
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
            DataError::Corrupt {
                path: path.to_path_buf(),
                why: format!("gzip stream is damaged: {e}"),
            }
        }
        _ => DataError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// Reads the body announced by `h` from a stream of unknown length, then rejects trailing
/// bytes. Memory grows in [`CHUNK`]s as data arrives, never ahead of it.
fn read_stream_body(r: &mut impl Read, h: Header, path: &Path) -> Result<IdxRaw, DataError> {
    let mut body = Vec::new();
    let mut remaining = h.body_len;
    while remaining > 0 {
        // `remaining` fits usize (checked in read_header); the chunk bounds the step.
        let step = usize::try_from(remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let start = body.len();
        body.resize(start + step, 0);
        let got = read_up_to(r, &mut body[start..]).map_err(|e| read_error(path, e))?;
        body.truncate(start + got);
        if got < step {
            return Err(DataError::Truncated {
                path: path.to_path_buf(),
                expected: h.total(),
                found: h.header_len + body.len() as u64,
            });
        }
        remaining -= step as u64;
    }
    let mut sink = [0u8; 64 * 1024];
    let mut extra = 0u64;
    while extra < TRAILING_COUNT_LIMIT {
        let got = read_up_to(r, &mut sink).map_err(|e| read_error(path, e))?;
        if got == 0 {
            break;
        }
        extra += got as u64;
    }
    if extra > 0 {
        return Err(DataError::TrailingData {
            path: path.to_path_buf(),
            expected: h.total(),
            found: h.total() + extra,
            at_least: extra >= TRAILING_COUNT_LIMIT,
        });
    }
    Ok(IdxRaw {
        dtype: h.dtype,
        shape: h.shape,
        body,
    })
}

/// True when the bytes start with the gzip magic number `1f 8b`.
fn is_gzip(prefix: &[u8]) -> bool {
    prefix.len() >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b
}

/// Read the IDX file at `path` keeping the raw values (gzip is detected by its magic bytes).
///
/// # Errors
/// [`DataError::Io`] when the file cannot be opened or read, [`DataError::BadMagic`] for a
/// wrong header, [`DataError::BadShape`] for dimensions whose size overflows,
/// [`DataError::Truncated`] / [`DataError::TrailingData`] when the file holds fewer / more
/// bytes than its header announces, [`DataError::Corrupt`] for a damaged gzip stream.
pub fn read_idx_raw(path: &Path) -> Result<IdxRaw, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut reader = BufReader::new(file);
    let prefix = io::BufRead::fill_buf(&mut reader).map_err(io)?;
    if is_gzip(prefix) {
        let mut gz = GzDecoder::new(reader);
        let h = read_header(&mut gz, path)?;
        return read_stream_body(&mut gz, h, path);
    }
    let h = read_header(&mut reader, path)?;
    // The plain file's length is known: compare before allocating anything.
    if file_len < h.total() {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: h.total(),
            found: file_len,
        });
    }
    if file_len > h.total() {
        return Err(DataError::TrailingData {
            path: path.to_path_buf(),
            expected: h.total(),
            found: file_len,
            at_least: false,
        });
    }
    // The file may still change under us; the stream reader re-checks both ends.
    read_stream_body(&mut reader, h, path)
}

/// Read the IDX array at `path` (plain or gzip) with values converted to `f32`.
///
/// # Errors
/// As [`read_idx_raw`].
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    read_idx_raw(path).map(IdxRaw::into_array)
}

/// Parse IDX bytes (plain, or gzip when they start with `1f 8b`) keeping the raw values;
/// `path` only names the source in errors.
///
/// # Errors
/// As [`read_idx_raw`], except for [`DataError::Io`].
pub fn parse_idx_raw(bytes: &[u8], path: &Path) -> Result<IdxRaw, DataError> {
    if is_gzip(bytes) {
        let mut gz = GzDecoder::new(bytes);
        let h = read_header(&mut gz, path)?;
        return read_stream_body(&mut gz, h, path);
    }
    let mut r = bytes;
    let h = read_header(&mut r, path)?;
    let len = bytes.len() as u64;
    if len < h.total() {
        return Err(DataError::Truncated {
            path: PathBuf::from(path),
            expected: h.total(),
            found: len,
        });
    }
    if len > h.total() {
        return Err(DataError::TrailingData {
            path: PathBuf::from(path),
            expected: h.total(),
            found: len,
            at_least: false,
        });
    }
    Ok(IdxRaw {
        dtype: h.dtype,
        shape: h.shape,
        body: r.to_vec(),
    })
}

/// Parse IDX bytes (plain or gzip) with values converted to `f32`; `path` only names the
/// source in errors.
///
/// # Errors
/// As [`parse_idx_raw`].
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    parse_idx_raw(bytes, path).map(IdxRaw::into_array)
}

/// Encode an IDX file of any type from its big-endian `body`; the inverse of
/// [`parse_idx_raw`]. Used to write test files (including damaged ones: nothing is checked,
/// and dimensions are truncated to u32 as the format stores them).
pub fn encode_idx(dtype: IdxType, shape: &[usize], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * shape.len() + body.len());
    out.extend_from_slice(&[0, 0, dtype.code(), shape.len() as u8]);
    for &d in shape {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Encode unsigned bytes as an IDX file (type 0x08); the inverse of [`parse_idx`] for
/// MNIST-style data. Used to write test files.
pub fn encode_idx_u8(shape: &[usize], values: &[u8]) -> Vec<u8> {
    encode_idx(IdxType::U8, shape, values)
}

/// Encode f32 values as an IDX file (type 0x0D), big-endian. Used to write test files.
pub fn encode_idx_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let body: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    encode_idx(IdxType::F32, shape, &body)
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

    #[test]
    fn every_type_round_trips_through_f64() {
        let cases: [(IdxType, Vec<u8>, f64); 6] = [
            (IdxType::U8, vec![200], 200.0),
            (IdxType::I8, vec![0xff], -1.0),
            (IdxType::I16, (-300i16).to_be_bytes().to_vec(), -300.0),
            (IdxType::I32, 70_000i32.to_be_bytes().to_vec(), 70_000.0),
            (IdxType::F32, 1.5f32.to_be_bytes().to_vec(), 1.5),
            (IdxType::F64, (-2.25f64).to_be_bytes().to_vec(), -2.25),
        ];
        for (t, body, want) in cases {
            let raw = parse_idx_raw(&encode_idx(t, &[1], &body), Path::new("t")).unwrap();
            assert_eq!(raw.dtype, t);
            assert_eq!(raw.value_f64(0), want, "{t:?}");
            assert_eq!(f64::from(raw.to_f32()[0]), want, "{t:?}");
        }
    }
}
