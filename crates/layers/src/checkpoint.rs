//! Checkpoints: a module's [`state_dict`](Module::state_dict) as a safetensors file, under
//! PyTorch's dotted names, so weights exchange with PyTorch in both directions.
//!
//! # Format
//! A [safetensors](https://huggingface.co/docs/safetensors) file: an 8-byte little-endian
//! header length, a JSON header mapping each name to `{dtype, shape, data_offsets}`, then the
//! raw little-endian data. We write every tensor as contiguous row-major `F32` (step counters
//! `*.num_batches_tracked` as `I64`, as PyTorch stores them) under its `state_dict` name (`0.weight`, `layer1.0.bn1.running_mean`, …) and add the header metadata
//! `"format": "pt"`, as `safetensors.torch.save_file` does. Files are therefore read by
//! `safetensors.torch.load_file(path)` + `model.load_state_dict(…)` in PyTorch, and files
//! PyTorch wrote with `save_file(model.state_dict(), path)` load here. (The safetensors crate
//! orders the file by dtype then name; only names matter.)
//!
//! # Loading
//! Values are copied into the module's existing tensors ([`Tensor::assign`]), so parameters
//! keep their identity (an optimizer holding them sees the new values). Matching is by name:
//! - **missing**: a module tensor with no entry in the file;
//! - **unexpected**: a file entry with no module tensor;
//! - **wrong shape**: both exist but shapes differ;
//! - **wrong dtype**: both exist but the entry's dtype cannot be read as numbers (e.g. FP8).
//!
//! Entries of other numeric dtypes (F64, F16, BF16, integers, BOOL) are converted to f32 and
//! listed in [`LoadReport::converted`] (and its `Display`), so a rounding never goes unsaid;
//! [`read_entries`] reads a file with its integer entries kept as i64.
//!
//! [`LoadMode::Strict`] fails on any of the four and then assigns **nothing** (the module is
//! unchanged). [`LoadMode::NonStrict`] loads every matching tensor and reports missing and
//! unexpected names in the returned [`LoadReport`]; like PyTorch's `strict=False` it still
//! fails on wrong shapes and wrong dtypes, because a tensor that exists on both sides but
//! cannot be copied is a real mismatch, not an architecture difference.
//!
//! # `num_batches_tracked`
//! PyTorch's BatchNorm stores a step counter `*.num_batches_tracked` as a 0-dim `I64` tensor.
//! It only matters for `momentum=None` (a cumulative average) and never for evaluation, and a
//! module here may not have a slot for it. So, in **both** modes:
//! - an integer-dtype entry whose last name component is `num_batches_tracked` and that has
//!   no slot is skipped (listed in [`LoadReport::skipped`], not as unexpected);
//! - a module slot named `*.num_batches_tracked` that the file lacks is left as it is (also
//!   listed as skipped), as PyTorch ≥ 2 fills the counter in for old checkpoints;
//! - a slot and an entry that both hold one element match whatever their ranks (`[]` vs `[1]`).
//!
//! Tolerating it in strict mode lets a PyTorch BatchNorm checkpoint load strictly into a model
//! without the counter, while every other unexpected entry (a typo, a wrong architecture)
//! still fails.
//!
//! # Writing
//! The file is written to a temporary file in the target's directory and renamed over the
//! target only once complete, so a failure (full disk, a crash) never leaves a truncated
//! checkpoint and never destroys the previous one.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use gradflow_tensor::{Module, Tensor};
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

/// What to do with names present on only one side (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadMode {
    /// Every module tensor must be in the file and every file entry must be used (PyTorch's
    /// `strict=True`, the default there); nothing is assigned on failure.
    Strict,
    /// Load what matches; report missing and unexpected names (PyTorch's `strict=False`).
    NonStrict,
}

/// A name whose shapes differ between module and file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The dotted name.
    pub name: String,
    /// Shape of the module's tensor.
    pub expected: Vec<usize>,
    /// Shape stored in the file.
    pub found: Vec<usize>,
}

/// What a load matched, in module order (file-only names sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Module tensors that received values.
    pub loaded: Vec<String>,
    /// Module tensors with no entry in the file.
    pub missing: Vec<String>,
    /// File entries with no module tensor.
    pub unexpected: Vec<String>,
    /// Names present on both sides with different shapes.
    pub wrong_shape: Vec<ShapeMismatch>,
    /// Names present on both sides whose file dtype cannot be read as f32, with that dtype.
    pub wrong_dtype: Vec<(String, String)>,
    /// Tolerated `num_batches_tracked` entries or slots that were left alone.
    pub skipped: Vec<String>,
    /// Loaded entries whose file dtype was converted to f32 (F64, F16, BF16, integers other
    /// than a step counter), with that dtype: the values may have been rounded.
    pub converted: Vec<(String, String)>,
}

impl LoadReport {
    /// Whether module and file matched exactly (apart from tolerated skips).
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.wrong_shape.is_empty()
            && self.wrong_dtype.is_empty()
    }

    fn fails(&self, mode: LoadMode) -> bool {
        !self.wrong_shape.is_empty()
            || !self.wrong_dtype.is_empty()
            || (mode == LoadMode::Strict
                && (!self.missing.is_empty() || !self.unexpected.is_empty()))
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("missing {}", self.missing.join(", ")));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("unexpected {}", self.unexpected.join(", ")));
        }
        let named = |what: &str, items: Vec<String>| {
            (!items.is_empty()).then(|| format!("{what} {}", items.join(", ")))
        };
        let with_dtype =
            |v: &[(String, String)]| v.iter().map(|(n, d)| format!("{n} ({d})")).collect();
        let shapes = self
            .wrong_shape
            .iter()
            .map(|m| format!("{} (module {:?}, file {:?})", m.name, m.expected, m.found))
            .collect();
        parts.extend(named("wrong shape", shapes));
        parts.extend(named("unreadable dtype", with_dtype(&self.wrong_dtype)));
        if parts.is_empty() {
            parts.push(format!("{} tensors loaded", self.loaded.len()));
        }
        parts.extend(named("converted to f32", with_dtype(&self.converted)));
        write!(f, "{}", parts.join("; "))
    }
}

/// Everything that can go wrong reading or writing a checkpoint; each variant names the file
/// (`<memory>` for the byte-buffer functions).
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read, created, written or renamed.
    #[error("checkpoint {}: cannot {op}: {source}", path.display())]
    Io {
        /// The checkpoint path.
        path: PathBuf,
        /// What was being done (`read`, `create a temporary file next to`, …).
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The bytes are not a valid safetensors file (truncated, corrupt header, bad offsets).
    #[error("checkpoint {}: not a valid safetensors file: {source}", path.display())]
    Format {
        /// The checkpoint path.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: SafeTensorError,
    },
    /// Module and file do not match (see the report for every name).
    #[error("checkpoint {}: does not match the module: {report}", path.display())]
    Mismatch {
        /// The checkpoint path.
        path: PathBuf,
        /// Every missing, unexpected, wrong-shape and wrong-dtype name.
        report: Box<LoadReport>,
    },
    /// An entry's dtype cannot be read as f32 ([`read_tensors`]).
    #[error("checkpoint {}: tensor `{name}` has dtype {dtype}, which cannot be read as f32", path.display())]
    UnsupportedDtype {
        /// The checkpoint path.
        path: PathBuf,
        /// The entry.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// The module reports the same name twice, so it has no well-defined state_dict.
    #[error("checkpoint {}: the module reports the name `{name}` twice", path.display())]
    DuplicateName {
        /// The checkpoint path.
        path: PathBuf,
        /// The repeated name.
        name: String,
    },
}

/// Path used in errors from the in-memory functions.
const MEMORY: &str = "<memory>";

/// One tensor's little-endian bytes (F32, or I64 for step counters), as the safetensors
/// serializer wants them.
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Entry {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The module's [`state_dict`](Module::state_dict) as named entries ready to write: every
/// tensor as [`Stored::Float`], step counters (`*.num_batches_tracked`) as [`Stored::Int`]
/// (PyTorch stores them as a 0-dim I64; f32 holds integers exactly only up to 2²⁴).
///
/// # Errors
/// [`CheckpointError::DuplicateName`] if the module reports a name twice (it then has no
/// well-defined state_dict); the path in the error is `<memory>`.
pub fn state_entries(module: &dyn Module) -> Result<Vec<(String, Stored)>, CheckpointError> {
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for (name, t) in module.state_dict() {
        if !seen.insert(name.clone()) {
            return Err(CheckpointError::DuplicateName {
                path: PathBuf::from(MEMORY),
                name,
            });
        }
        let stored = if is_counter(&name) {
            Stored::Int {
                shape: t.shape().to_vec(),
                values: t.to_vec().iter().map(|&x| x.round() as i64).collect(),
            }
        } else {
            Stored::Float(t)
        };
        entries.push((name, stored));
    }
    Ok(entries)
}

/// Named entries as safetensors bytes: [`Stored::Float`] as contiguous row-major F32,
/// [`Stored::Int`] as I64, with `metadata` in the header. The inverse of [`read_entries`]
/// (for f32 and i64 data); [`to_bytes`] is this on [`state_entries`] plus `format = pt`.
///
/// # Errors
/// [`CheckpointError::DuplicateName`] for a repeated name, [`CheckpointError::Format`] if the
/// serializer refuses the entries (e.g. an integer entry whose value count does not match its
/// shape).
pub fn entries_to_bytes(
    entries: &[(String, Stored)],
    metadata: &HashMap<String, String>,
) -> Result<Vec<u8>, CheckpointError> {
    encode_entries(entries, metadata.clone(), Path::new(MEMORY))
}

fn encode_entries(
    entries: &[(String, Stored)],
    metadata: HashMap<String, String>,
    path: &Path,
) -> Result<Vec<u8>, CheckpointError> {
    let mut seen = HashSet::new();
    let mut raw = Vec::with_capacity(entries.len());
    for (name, stored) in entries {
        if !seen.insert(name.as_str()) {
            return Err(CheckpointError::DuplicateName {
                path: path.to_path_buf(),
                name: name.clone(),
            });
        }
        let entry = match stored {
            Stored::Float(t) => Entry {
                dtype: Dtype::F32,
                shape: t.shape().to_vec(),
                bytes: t.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect(),
            },
            Stored::Int { shape, values } => Entry {
                dtype: Dtype::I64,
                shape: shape.clone(),
                bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            },
        };
        raw.push((name.as_str(), entry));
    }
    safetensors::serialize(raw.iter().map(|(n, e)| (*n, e)), Some(metadata)).map_err(|source| {
        CheckpointError::Format {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn encode(
    module: &dyn Module,
    metadata: &HashMap<String, String>,
    path: &Path,
) -> Result<Vec<u8>, CheckpointError> {
    let entries = state_entries(module).map_err(|e| match e {
        CheckpointError::DuplicateName { name, .. } => CheckpointError::DuplicateName {
            path: path.to_path_buf(),
            name,
        },
        other => other,
    })?;
    let mut meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    meta.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    encode_entries(&entries, meta, path)
}

/// The module's state_dict as safetensors bytes (see [`save`]).
pub fn to_bytes(
    module: &dyn Module,
    metadata: &HashMap<String, String>,
) -> Result<Vec<u8>, CheckpointError> {
    encode(module, metadata, Path::new(MEMORY))
}

/// Save the module's [`state_dict`](Module::state_dict) to `path` as safetensors (F32,
/// PyTorch names, metadata `format = pt`), atomically: temp file in the same directory, then
/// rename.
///
/// ```
/// use gradflow_layers::{checkpoint, LinearConfig, LoadMode};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let a = LinearConfig::new(3, 2).init(&mut rng);
/// let b = LinearConfig::new(3, 2).init(&mut rng);
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("fc.safetensors");
/// checkpoint::save(&a, &path).unwrap();
/// checkpoint::load(&b, &path, LoadMode::Strict).unwrap();
/// assert_eq!(a.weight().to_vec(), b.weight().to_vec());
/// ```
pub fn save(module: &dyn Module, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
    save_with_metadata(module, path, &HashMap::new())
}

/// [`save`] with extra string metadata in the header (`__metadata__`), e.g. a config.
pub fn save_with_metadata(
    module: &dyn Module,
    path: impl AsRef<Path>,
    metadata: &HashMap<String, String>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = encode(module, metadata, path)?;
    write_atomically(path, &bytes)
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, flushed to disk
/// (fsync), given mode 0644 on Unix (readable by others, as a file created normally would be;
/// a temporary file starts private), then renamed over `path`, and the folder synced.
///
/// A reader sees the old file or the new one whole, never a mix, even if the process is
/// killed mid-write; on any error the temporary file is removed and `path` is untouched. This
/// is the one atomic-write helper of gradflow: checkpoints and the pipelines' reports use it.
///
/// # Errors
/// The I/O error of the step that failed, with that step named in its message.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let step =
        |op: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{op}: {e}"));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(step("create a temporary file"))?;
    tmp.write_all(bytes).map_err(step("write"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(step("set permissions"))?;
    }
    tmp.as_file().sync_all().map_err(step("flush"))?;
    tmp.persist(path)
        .map_err(|e| step("rename the temporary file into place")(e.error))?;
    // Make the rename itself durable (best effort: not every platform can sync a directory,
    // and the file is complete and in place either way).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_atomic(path, bytes).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        op: "write",
        source,
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        op: "read",
        source,
    })
}

fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>, CheckpointError> {
    SafeTensors::deserialize(bytes).map_err(|source| CheckpointError::Format {
        path: path.to_path_buf(),
        source,
    })
}

/// IEEE half → f32 (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if man == 0 => sign,
        0 => {
            // Subnormal: value = man · 2⁻²⁴.
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        0x1f => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// The entry's values as f32, or `None` for dtypes that are not plain numbers.
/// Each little-endian `N`-byte element of `d` mapped through `f` (the entry readers' one loop).
fn le_chunks<const N: usize, T, C: FromIterator<T>>(d: &[u8], f: impl Fn([u8; N]) -> T) -> C {
    d.chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect()
}

fn decode(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => le_chunks::<4, _, _>(data, f32::from_le_bytes),
        Dtype::F64 => le_chunks::<8, _, _>(data, |b| f64::from_le_bytes(b) as f32),
        Dtype::F16 => le_chunks::<2, _, _>(data, |b| f16_to_f32(u16::from_le_bytes(b))),
        Dtype::BF16 => le_chunks::<2, _, _>(data, |b| {
            f32::from_bits((u16::from_le_bytes(b) as u32) << 16)
        }),
        Dtype::I64 => le_chunks::<8, _, _>(data, |b| i64::from_le_bytes(b) as f32),
        Dtype::I32 => le_chunks::<4, _, _>(data, |b| i32::from_le_bytes(b) as f32),
        Dtype::I16 => le_chunks::<2, _, _>(data, |b| i16::from_le_bytes(b) as f32),
        Dtype::I8 => le_chunks::<1, _, _>(data, |b| i8::from_le_bytes(b) as f32),
        Dtype::U64 => le_chunks::<8, _, _>(data, |b| u64::from_le_bytes(b) as f32),
        Dtype::U32 => le_chunks::<4, _, _>(data, |b| u32::from_le_bytes(b) as f32),
        Dtype::U16 => le_chunks::<2, _, _>(data, |b| u16::from_le_bytes(b) as f32),
        Dtype::U8 => le_chunks::<1, _, _>(data, |b| b[0] as f32),
        Dtype::BOOL => le_chunks::<1, _, _>(data, |b| if b[0] != 0 { 1.0 } else { 0.0 }),
        _ => return None,
    })
}

fn is_integer(dtype: Dtype) -> bool {
    matches!(
        dtype,
        Dtype::I64
            | Dtype::I32
            | Dtype::I16
            | Dtype::I8
            | Dtype::U64
            | Dtype::U32
            | Dtype::U16
            | Dtype::U8
    )
}

fn is_counter(name: &str) -> bool {
    name.rsplit('.').next() == Some("num_batches_tracked")
}

/// Match `file` against `module`, then assign if the match passes `mode`.
fn load_parsed(
    module: &dyn Module,
    file: &SafeTensors<'_>,
    prefix: &str,
    mode: LoadMode,
    path: &Path,
) -> Result<LoadReport, CheckpointError> {
    let mut report = LoadReport::default();
    let mut plan: Vec<(Tensor, Vec<f32>)> = Vec::new();
    let mut used = HashSet::new();
    for (name, slot) in module.state_dict() {
        let Ok(entry) = file.tensor(&format!("{prefix}{name}")) else {
            if is_counter(&name) {
                report.skipped.push(name);
            } else {
                report.missing.push(name);
            }
            continue;
        };
        used.insert(name.clone());
        let same_shape = entry.shape() == slot.shape()
            || (is_counter(&name)
                && slot.numel() == 1
                && entry.shape().iter().product::<usize>() == 1);
        if !same_shape {
            report.wrong_shape.push(ShapeMismatch {
                name,
                expected: slot.shape().to_vec(),
                found: entry.shape().to_vec(),
            });
            continue;
        }
        match decode(entry.dtype(), entry.data()) {
            Some(values) => {
                let exact =
                    entry.dtype() == Dtype::F32 || (is_counter(&name) && is_integer(entry.dtype()));
                if !exact {
                    report
                        .converted
                        .push((name.clone(), format!("{:?}", entry.dtype())));
                }
                plan.push((slot, values));
                report.loaded.push(name);
            }
            None => report
                .wrong_dtype
                .push((name, format!("{:?}", entry.dtype()))),
        }
    }
    let mut extra: Vec<(String, Dtype)> = file
        .iter()
        .filter_map(|(n, v)| Some((n.strip_prefix(prefix)?, v)))
        .filter(|(n, _)| !used.contains(*n))
        .map(|(n, v)| (n.to_string(), v.dtype()))
        .collect();
    extra.sort();
    for (name, dtype) in extra {
        if is_counter(&name) && is_integer(dtype) {
            report.skipped.push(name);
        } else {
            report.unexpected.push(name);
        }
    }
    if report.fails(mode) {
        return Err(CheckpointError::Mismatch {
            path: path.to_path_buf(),
            report: Box::new(report),
        });
    }
    for (slot, values) in plan {
        let shape = slot.shape().to_vec();
        slot.assign(&Tensor::from_vec(values, &shape));
    }
    Ok(report)
}

/// Load a checkpoint from `path` into `module`'s existing tensors (see the
/// [module docs](self) for the matching rules and `num_batches_tracked`).
///
/// # Errors
/// [`CheckpointError::Io`] if the file cannot be read, [`CheckpointError::Format`] if it is
/// not valid safetensors, [`CheckpointError::Mismatch`] (with every offending name) if it
/// does not fit the module under `mode`; in all these cases the module is unchanged.
///
/// # Panics
/// If a module tensor is a non-contiguous view (a module bug: parameters are contiguous).
pub fn load(
    module: &dyn Module,
    path: impl AsRef<Path>,
    mode: LoadMode,
) -> Result<LoadReport, CheckpointError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let file = parse(&bytes, path)?;
    load_parsed(module, &file, "", mode, path)
}

/// [`load`] from safetensors bytes in memory.
pub fn load_from_bytes(
    module: &dyn Module,
    bytes: &[u8],
    mode: LoadMode,
) -> Result<LoadReport, CheckpointError> {
    let path = Path::new(MEMORY);
    let file = parse(bytes, path)?;
    load_parsed(module, &file, "", mode, path)
}

/// [`load_from_bytes`] for a module stored under a name prefix among other entries (a
/// training checkpoint keeps the model as `model.<name>` beside the optimizer's buffers).
/// Only entries whose name starts with `prefix` take part in the match: the others are
/// neither loaded nor reported as unexpected. Names in the report are without the prefix.
///
/// ```
/// use std::collections::HashMap;
/// use gradflow_layers::{checkpoint, checkpoint::Stored, LinearConfig, LoadMode};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let (a, b) = (LinearConfig::new(3, 2).init(&mut rng), LinearConfig::new(3, 2).init(&mut rng));
/// let mut entries: Vec<(String, Stored)> = checkpoint::state_entries(&a).unwrap()
///     .into_iter().map(|(n, s)| (format!("model.{n}"), s)).collect();
/// entries.push(("step".into(), Stored::Int { shape: vec![], values: vec![7] }));
/// let bytes = checkpoint::entries_to_bytes(&entries, &HashMap::new()).unwrap();
/// checkpoint::load_prefixed_from_bytes(&b, &bytes, "model.", LoadMode::Strict).unwrap();
/// assert_eq!(a.weight().to_vec(), b.weight().to_vec());
/// ```
///
/// # Errors
/// As [`load`]; on error the module is unchanged.
pub fn load_prefixed_from_bytes(
    module: &dyn Module,
    bytes: &[u8],
    prefix: &str,
    mode: LoadMode,
) -> Result<LoadReport, CheckpointError> {
    let path = Path::new(MEMORY);
    let file = parse(bytes, path)?;
    load_parsed(module, &file, prefix, mode, path)
}

/// Every entry of a safetensors file as a new f32 [`Tensor`], sorted by name (numeric dtypes
/// converted; see the module docs). Useful for reference data and for inspecting checkpoints.
///
/// # Errors
/// I/O, format, or [`CheckpointError::UnsupportedDtype`] for an entry that is not numeric.
pub fn read_tensors(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>, CheckpointError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let file = parse(&bytes, path)?;
    let mut out = Vec::new();
    for (name, view) in file.iter() {
        let values =
            decode(view.dtype(), view.data()).ok_or_else(|| CheckpointError::UnsupportedDtype {
                path: path.to_path_buf(),
                name: name.to_string(),
                dtype: format!("{:?}", view.dtype()),
            })?;
        out.push((name.to_string(), Tensor::from_vec(values, view.shape())));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// One entry of a safetensors file with its integer-ness kept ([`read_entries`]).
#[derive(Clone, Debug)]
pub enum Stored {
    /// A floating-point entry (F32, or F64/F16/BF16 converted to f32).
    Float(Tensor),
    /// An integer or boolean entry (class indices, counters), values widened to i64 exactly.
    Int {
        /// The shape.
        shape: Vec<usize>,
        /// The values, row-major.
        values: Vec<i64>,
    },
}

/// Every entry of a safetensors file, sorted by name, with integer dtypes kept as integers
/// (PyTorch saves class indices and `num_batches_tracked` as I64; they round-trip here
/// exactly, where [`read_tensors`] would turn them into f32).
///
/// # Errors
/// I/O, format, or [`CheckpointError::UnsupportedDtype`] for an entry that is not numeric
/// (or an unsigned 64-bit value above i64::MAX).
pub fn read_entries(path: impl AsRef<Path>) -> Result<Vec<(String, Stored)>, CheckpointError> {
    let path = path.as_ref();
    entries_of(&read_file(path)?, path)
}

/// [`read_entries`] from safetensors bytes in memory.
///
/// # Errors
/// Format, or [`CheckpointError::UnsupportedDtype`] (named `<memory>`).
pub fn read_entries_from_bytes(bytes: &[u8]) -> Result<Vec<(String, Stored)>, CheckpointError> {
    entries_of(bytes, Path::new(MEMORY))
}

fn entries_of(bytes: &[u8], path: &Path) -> Result<Vec<(String, Stored)>, CheckpointError> {
    let file = parse(bytes, path)?;
    let mut out = Vec::new();
    for (name, view) in file.iter() {
        let unsupported = || CheckpointError::UnsupportedDtype {
            path: path.to_path_buf(),
            name: name.to_string(),
            dtype: format!("{:?}", view.dtype()),
        };
        let stored = match view.dtype() {
            d if is_integer(d) || d == Dtype::BOOL => Stored::Int {
                shape: view.shape().to_vec(),
                values: decode_int(d, view.data()).ok_or_else(unsupported)?,
            },
            d => Stored::Float(Tensor::from_vec(
                decode(d, view.data()).ok_or_else(unsupported)?,
                view.shape(),
            )),
        };
        out.push((name.to_string(), stored));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Integer (or boolean) entry values widened to i64 exactly; `None` for other dtypes and
/// for a U64 value that does not fit.
fn decode_int(dtype: Dtype, d: &[u8]) -> Option<Vec<i64>> {
    match dtype {
        Dtype::I64 => le_chunks::<8, _, _>(d, |b| Some(i64::from_le_bytes(b))),
        Dtype::I32 => le_chunks::<4, _, _>(d, |b| Some(i32::from_le_bytes(b).into())),
        Dtype::I16 => le_chunks::<2, _, _>(d, |b| Some(i16::from_le_bytes(b).into())),
        Dtype::I8 => le_chunks::<1, _, _>(d, |b| Some(i8::from_le_bytes(b).into())),
        Dtype::U64 => le_chunks::<8, _, _>(d, |b| i64::try_from(u64::from_le_bytes(b)).ok()),
        Dtype::U32 => le_chunks::<4, _, _>(d, |b| Some(u32::from_le_bytes(b).into())),
        Dtype::U16 => le_chunks::<2, _, _>(d, |b| Some(u16::from_le_bytes(b).into())),
        Dtype::U8 | Dtype::BOOL => le_chunks::<1, _, _>(d, |b| Some(b[0].into())),
        _ => None,
    }
}

/// The header's `__metadata__` string map of a safetensors file (empty if it has none).
pub fn read_metadata(path: impl AsRef<Path>) -> Result<HashMap<String, String>, CheckpointError> {
    let path = path.as_ref();
    metadata_of(&read_file(path)?, path)
}

/// [`read_metadata`] from safetensors bytes in memory.
///
/// # Errors
/// Format (named `<memory>`).
pub fn read_metadata_from_bytes(bytes: &[u8]) -> Result<HashMap<String, String>, CheckpointError> {
    metadata_of(bytes, Path::new(MEMORY))
}

fn metadata_of(bytes: &[u8], path: &Path) -> Result<HashMap<String, String>, CheckpointError> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|source| CheckpointError::Format {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_decodes_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn counters_are_recognised_by_last_component() {
        assert!(is_counter("1.num_batches_tracked"));
        assert!(is_counter("num_batches_tracked"));
        assert!(!is_counter("1.num_batches_tracked_x"));
    }
}
