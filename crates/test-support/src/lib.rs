//! Dev-only helpers shared by gradflow's test suites.
//!
//! The PyTorch reference files under each crate's `tests/fixtures/` (copies of
//! `shared/fixtures`, see its README) are read by one [`Fixture`] type, and compared by one
//! [`assert_close`], so that a fix to either reaches every crate. Test code may panic: every
//! panic names the file and the key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gradflow_tensor::Tensor;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

/// Opens `tests/fixtures/NAME.safetensors` of the crate whose test calls it.
///
/// `fixture!("bn2d")` is `Fixture::open(<CARGO_MANIFEST_DIR>/tests/fixtures/bn2d.safetensors)`.
#[macro_export]
macro_rules! fixture {
    ($name:expr) => {
        $crate::Fixture::open(
            ::std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(format!("{}.safetensors", $name)),
        )
    };
}

/// One reference file: its floating-point tensors (F32, or F64 narrowed to f32), its integer
/// tensors (I64, kept as i64), and its `config` metadata (JSON, `Null` when absent).
pub struct Fixture {
    path: PathBuf,
    floats: HashMap<String, (Vec<usize>, Vec<f32>)>,
    ints: HashMap<String, (Vec<usize>, Vec<i64>)>,
    /// The `config` metadata: every hyperparameter and shape of the case.
    pub config: Value,
}

impl Fixture {
    /// Reads a safetensors fixture file. Panics naming the file when it is missing or corrupt.
    pub fn open(path: impl AsRef<Path>) -> Fixture {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .unwrap_or_else(|e| panic!("{}: header: {e}", path.display()));
        let config = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("config"))
            .map(|c| {
                serde_json::from_str(c)
                    .unwrap_or_else(|e| panic!("{}: config is not JSON: {e}", path.display()))
            })
            .unwrap_or(Value::Null);
        let st = SafeTensors::deserialize(&bytes)
            .unwrap_or_else(|e| panic!("{}: body: {e}", path.display()));
        let (mut floats, mut ints) = (HashMap::new(), HashMap::new());
        for (key, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let data = view.data();
            match view.dtype() {
                Dtype::F32 => {
                    let v = data
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    floats.insert(key, (shape, v));
                }
                Dtype::F64 => {
                    let v = data
                        .chunks_exact(8)
                        .map(|b| {
                            let a: [u8; 8] = b.try_into().expect("chunks_exact(8)");
                            f64::from_le_bytes(a) as f32
                        })
                        .collect();
                    floats.insert(key, (shape, v));
                }
                Dtype::I64 => {
                    let v = data
                        .chunks_exact(8)
                        .map(|b| i64::from_le_bytes(b.try_into().expect("chunks_exact(8)")))
                        .collect();
                    ints.insert(key, (shape, v));
                }
                other => panic!("{}: {key} has unsupported dtype {other:?}", path.display()),
            }
        }
        Fixture {
            path,
            floats,
            ints,
            config,
        }
    }

    /// The file this fixture came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn float(&self, key: &str) -> &(Vec<usize>, Vec<f32>) {
        self.floats
            .get(key)
            .unwrap_or_else(|| panic!("{}: no floating-point tensor {key}", self.path.display()))
    }

    /// A floating-point tensor as a new (leaf, no-grad) [`Tensor`].
    pub fn tensor(&self, key: &str) -> Tensor {
        let (shape, v) = self.float(key);
        Tensor::from_vec(v.clone(), shape)
    }

    /// A floating-point tensor's values, row-major.
    pub fn values(&self, key: &str) -> &[f32] {
        &self.float(key).1
    }

    /// A tensor's shape (floating-point or integer).
    pub fn shape(&self, key: &str) -> &[usize] {
        match self.ints.get(key) {
            Some((s, _)) => s,
            None => &self.float(key).0,
        }
    }

    /// An I64 tensor's values (class indices, argmax, counters), row-major.
    pub fn ints(&self, key: &str) -> &[i64] {
        &self
            .ints
            .get(key)
            .unwrap_or_else(|| panic!("{}: no I64 tensor {key}", self.path.display()))
            .1
    }

    /// Whether the file holds a tensor of that name (of any dtype).
    pub fn contains(&self, key: &str) -> bool {
        self.floats.contains_key(key) || self.ints.contains_key(key)
    }

    /// Every tensor name that starts with `prefix`, sorted.
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .floats
            .keys()
            .chain(self.ints.keys())
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn cfg(&self, key: &str) -> &Value {
        self.config.get(key).unwrap_or_else(|| {
            panic!(
                "{}: config has no {key}: {}",
                self.path.display(),
                self.config
            )
        })
    }

    /// A number from `config` (the strings `"inf"`, `"-inf"` read as infinities).
    pub fn cfg_f64(&self, key: &str) -> f64 {
        let v = self.cfg(key);
        match v {
            Value::String(s) if s == "inf" => f64::INFINITY,
            Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
            _ => v.as_f64().unwrap_or_else(|| {
                panic!(
                    "{}: config.{key} = {v} is not a number",
                    self.path.display()
                )
            }),
        }
    }

    /// [`Self::cfg_f64`] narrowed to f32.
    pub fn cfg_f32(&self, key: &str) -> f32 {
        self.cfg_f64(key) as f32
    }

    /// A non-negative integer from `config`.
    pub fn cfg_usize(&self, key: &str) -> usize {
        let v = self.cfg(key);
        v.as_u64()
            .unwrap_or_else(|| panic!("{}: config.{key} = {v} is not a count", self.path.display()))
            as usize
    }

    /// A boolean from `config`.
    pub fn cfg_bool(&self, key: &str) -> bool {
        let v = self.cfg(key);
        v.as_bool().unwrap_or_else(|| {
            panic!(
                "{}: config.{key} = {v} is not a boolean",
                self.path.display()
            )
        })
    }
}

/// The worst error [`assert_close`] saw: max |a − e| and max |a − e| / (atol + rtol·|e|), the
/// share of the tolerance used (≤ 1 when the assertion passed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Worst {
    /// Largest absolute difference.
    pub abs: f64,
    /// Largest difference as a fraction of its tolerance.
    pub of_tolerance: f64,
}

/// Asserts |a − e| ≤ atol + rtol·|e| for every element and returns the worst error.
///
/// Panics on different shapes, and on the first failing element, printing its index and both
/// values. A NaN on either side fails unless both are NaN.
#[track_caller]
pub fn assert_close(what: &str, actual: &Tensor, expected: &Tensor, rtol: f64, atol: f64) -> Worst {
    assert_eq!(actual.shape(), expected.shape(), "{what}: shapes differ");
    assert_slice_close(what, &actual.to_vec(), &expected.to_vec(), rtol, atol)
}

/// [`assert_close`] on plain slices.
#[track_caller]
pub fn assert_slice_close(
    what: &str,
    actual: &[f32],
    expected: &[f32],
    rtol: f64,
    atol: f64,
) -> Worst {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    let mut worst = Worst::default();
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        if a.is_nan() && e.is_nan() {
            continue;
        }
        let (a, e) = (f64::from(a), f64::from(e));
        let d = (a - e).abs();
        let tol = atol + rtol * e.abs();
        assert!(
            d <= tol,
            "{what}: element {i}: got {a}, expected {e} (|diff| {d:e} > tolerance {tol:e})"
        );
        worst.abs = worst.abs.max(d);
        if tol > 0.0 {
            worst.of_tolerance = worst.of_tolerance.max(d / tol);
        }
    }
    worst
}

/// Replay every input a fuzzer kept for `target` (`fuzz/corpus/<target>/` at the workspace
/// root, committed) through `run`, the entry point the fuzz target calls, so that CI catches a
/// regression on them without a fuzzer. Returns how many inputs were replayed.
///
/// # Panics
/// When the corpus is missing or empty, or an input makes `run` panic (naming the file).
pub fn replay_fuzz_corpus(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let r = std::panic::catch_unwind(|| run(&bytes));
        assert!(r.is_ok(), "{target}: {} panics", f.display());
    }
    files.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "element 1")]
    fn assert_close_names_the_failing_element() {
        assert_slice_close("t", &[1.0, 2.0], &[1.0, 2.1], 1e-5, 1e-6);
    }

    #[test]
    fn assert_close_reports_the_share_of_tolerance() {
        let w = assert_slice_close("t", &[1.0, 2.0], &[1.0, 2.0 + 5e-7], 0.0, 1e-6);
        assert!(w.of_tolerance > 0.4 && w.of_tolerance < 0.6, "{w:?}");
    }

    #[test]
    #[should_panic(expected = "no-such-file")]
    fn missing_file_is_named() {
        Fixture::open("no-such-file.safetensors");
    }
}
