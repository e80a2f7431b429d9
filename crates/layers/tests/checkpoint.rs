//! Checkpoint round trips, strict/non-strict matching, corrupt files and atomic writes.

use std::collections::HashMap;

use gradflow_layers::checkpoint::{
    self, load, load_from_bytes, read_metadata, read_tensors, save, to_bytes,
};
use gradflow_layers::{
    CheckpointError, Conv2dConfig, EmbeddingConfig, Flatten, LinearConfig, LoadMode, Module,
    Residual, Scope, Sequential, ShapeMismatch,
};
use gradflow_tensor::Tensor;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn model(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .with(Conv2dConfig::new(2, 3, 3).with_padding(1).init(&mut rng))
        .with(Flatten::new())
        .with(Residual::new(LinearConfig::new(12, 12).init(&mut rng)).with_learned_scale(0.5))
        .with(LinearConfig::new(12, 4).with_bias(false).init(&mut rng))
}

fn bits(m: &dyn Module) -> Vec<(String, Vec<u32>)> {
    m.state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.to_vec().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

#[test]
fn names_follow_pytorch() {
    let names: Vec<String> = model(0).state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "2.alpha",
            "2.inner.weight",
            "2.inner.bias",
            "3.weight"
        ]
    );
}

#[test]
fn file_round_trip_is_bit_exact_and_keeps_tensor_identity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let a = model(1);
    save(&a, &path).unwrap();
    let b = model(2);
    let before = b.parameters();
    assert_ne!(bits(&a), bits(&b));
    let report = load(&b, &path, LoadMode::Strict).unwrap();
    assert!(report.is_exact(), "{report:?}");
    assert_eq!(report.loaded.len(), 6);
    assert_eq!(bits(&a), bits(&b));
    // Values were assigned into the existing tensors.
    for (old, new) in before.iter().zip(b.parameters()) {
        assert!(old.shares_storage(&new));
    }
    // Only the checkpoint is left in the directory (the temp file was renamed).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn metadata_and_dtypes_are_what_pytorch_expects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let meta = HashMap::from([("config".to_string(), "{\"depth\": 4}".to_string())]);
    checkpoint::save_with_metadata(&model(3), &path, &meta).unwrap();
    let read = read_metadata(&path).unwrap();
    assert_eq!(read.get("format").map(String::as_str), Some("pt"));
    assert_eq!(read.get("config"), meta.get("config"));
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, view) in st.iter() {
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    }
    let tensors = read_tensors(&path).unwrap();
    assert_eq!(tensors.len(), 6);
    assert_eq!(tensors[0].0, "0.bias"); // sorted by name
}

/// A module reporting arbitrary names and shapes, for mismatch tests.
struct Slots(Vec<(String, Tensor)>);
impl Module for Slots {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
    fn visit(&self, s: &mut Scope<'_>) {
        for (n, t) in &self.0 {
            s.param(n, t);
        }
    }
}

fn slots(spec: &[(&str, &[usize])]) -> Slots {
    Slots(
        spec.iter()
            .map(|(n, s)| (n.to_string(), Tensor::full(s, 7.0)))
            .collect(),
    )
}

#[test]
fn strict_load_lists_missing_unexpected_and_wrong_shape_and_changes_nothing() {
    let src = slots(&[("a", &[2]), ("b", &[3]), ("c", &[2, 2]), ("extra.x", &[1])]);
    let bytes = to_bytes(&src, &HashMap::new()).unwrap();
    let dst = slots(&[("a", &[2]), ("c", &[4]), ("d", &[1])]);
    for (_, t) in &dst.0 {
        t.update_data(|d| d.fill(-1.0));
    }
    let err = load_from_bytes(&dst, &bytes, LoadMode::Strict).unwrap_err();
    let CheckpointError::Mismatch { report, path } = &err else {
        panic!("expected Mismatch, got {err:?}");
    };
    assert_eq!(path.to_str(), Some("<memory>"));
    assert_eq!(report.missing, ["d"]);
    assert_eq!(report.unexpected, ["b", "extra.x"]);
    assert_eq!(
        report.wrong_shape,
        [ShapeMismatch {
            name: "c".into(),
            expected: vec![4],
            found: vec![2, 2]
        }]
    );
    let msg = err.to_string();
    for name in [
        "missing d",
        "unexpected b, extra.x",
        "c (module [4], file [2, 2])",
    ] {
        assert!(msg.contains(name), "{msg}");
    }
    // Strict failure assigns nothing, not even the matching `a`.
    assert!(
        dst.0
            .iter()
            .all(|(_, t)| t.to_vec().iter().all(|&v| v == -1.0))
    );
}

#[test]
fn non_strict_load_fills_what_matches_and_reports_the_rest() {
    let src = slots(&[("a", &[2]), ("b", &[3])]);
    let bytes = to_bytes(&src, &HashMap::new()).unwrap();
    let dst = slots(&[("a", &[2]), ("d", &[1])]);
    dst.0[0].1.update_data(|d| d.fill(0.0));
    let report = load_from_bytes(&dst, &bytes, LoadMode::NonStrict).unwrap();
    assert_eq!(report.loaded, ["a"]);
    assert_eq!(report.missing, ["d"]);
    assert_eq!(report.unexpected, ["b"]);
    assert_eq!(dst.0[0].1.to_vec(), vec![7.0, 7.0]);
    // Wrong shapes still fail, as in PyTorch's strict=False.
    let wrong = slots(&[("a", &[3])]);
    assert!(matches!(
        load_from_bytes(&wrong, &bytes, LoadMode::NonStrict),
        Err(CheckpointError::Mismatch { .. })
    ));
}

/// Serialize raw entries (any dtype) as PyTorch would.
fn raw_file(entries: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = entries
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.to_string(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn integer_num_batches_tracked_is_tolerated_other_extras_are_not() {
    use safetensors::Dtype;
    let w: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let file = raw_file(&[
        ("bn.weight", Dtype::F32, vec![2], w.clone()),
        (
            "bn.num_batches_tracked",
            Dtype::I64,
            vec![],
            2i64.to_le_bytes().to_vec(),
        ),
    ]);
    let dst = slots(&[("bn.weight", &[2])]);
    let report = load_from_bytes(&dst, &file, LoadMode::Strict).unwrap();
    assert_eq!(report.skipped, ["bn.num_batches_tracked"]);
    assert!(report.unexpected.is_empty());
    assert_eq!(dst.0[0].1.to_vec(), vec![1.5, -2.0]);

    // A module that does have the counter receives it (converted), even as shape [1].
    let with_counter = slots(&[("bn.weight", &[2]), ("bn.num_batches_tracked", &[1])]);
    load_from_bytes(&with_counter, &file, LoadMode::Strict).unwrap();
    assert_eq!(with_counter.0[1].1.to_vec(), vec![2.0]);
    // …and as a 0-dim f32 buffer (how gradflow-normalization's BatchNorm keeps it).
    let zero_dim = slots(&[("bn.weight", &[2]), ("bn.num_batches_tracked", &[])]);
    let report = load_from_bytes(&zero_dim, &file, LoadMode::Strict).unwrap();
    assert_eq!(report.loaded, ["bn.weight", "bn.num_batches_tracked"]);
    assert_eq!(zero_dim.0[1].1.item(), 2.0);

    // A file without the counter still loads strictly into a module that has one.
    let no_counter = raw_file(&[("bn.weight", Dtype::F32, vec![2], w.clone())]);
    let report = load_from_bytes(&with_counter, &no_counter, LoadMode::Strict).unwrap();
    assert_eq!(report.skipped, ["bn.num_batches_tracked"]);

    // Any other I64 extra is unexpected in strict mode and skipped in non-strict mode.
    let other = raw_file(&[
        ("bn.weight", Dtype::F32, vec![2], w),
        ("bn.steps", Dtype::I64, vec![], 2i64.to_le_bytes().to_vec()),
    ]);
    let err = load_from_bytes(&dst, &other, LoadMode::Strict).unwrap_err();
    assert!(err.to_string().contains("unexpected bn.steps"), "{err}");
    let report = load_from_bytes(&dst, &other, LoadMode::NonStrict).unwrap();
    assert_eq!(report.unexpected, ["bn.steps"]);
}

#[test]
fn half_and_double_precision_entries_convert() {
    use safetensors::Dtype;
    let f16: Vec<u8> = [0x3c00u16, 0xc000]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect(); // 1, -2
    let bf16: Vec<u8> = [0x3fc0u16, 0x4040]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect(); // 1.5, 3
    let f64s: Vec<u8> = [0.25f64, -8.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let file = raw_file(&[
        ("h", Dtype::F16, vec![2], f16),
        ("b", Dtype::BF16, vec![2], bf16),
        ("d", Dtype::F64, vec![2], f64s),
    ]);
    let dst = slots(&[("h", &[2]), ("b", &[2]), ("d", &[2])]);
    load_from_bytes(&dst, &file, LoadMode::Strict).unwrap();
    assert_eq!(dst.0[0].1.to_vec(), vec![1.0, -2.0]);
    assert_eq!(dst.0[1].1.to_vec(), vec![1.5, 3.0]);
    assert_eq!(dst.0[2].1.to_vec(), vec![0.25, -8.0]);
}

#[test]
fn unreadable_dtype_is_reported_by_name() {
    let file = raw_file(&[("q", safetensors::Dtype::F8_E4M3, vec![2], vec![0, 0])]);
    let dst = slots(&[("q", &[2])]);
    let err = load_from_bytes(&dst, &file, LoadMode::NonStrict).unwrap_err();
    assert!(
        err.to_string().contains("unreadable dtype q (F8_E4M3)"),
        "{err}"
    );
}

#[test]
fn missing_file_is_an_io_error_naming_the_file() {
    let err = load(
        &model(0),
        "/nonexistent/dir/x.safetensors",
        LoadMode::Strict,
    )
    .unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(
        err.to_string().contains("/nonexistent/dir/x.safetensors"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn corrupt_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = to_bytes(&model(4), &HashMap::new()).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short", vec![1, 2, 3]),
        ("truncated data", good[..good.len() - 5].to_vec()),
        ("huge header length", {
            let mut b = good.clone();
            b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
            b
        }),
        ("garbage header", {
            let mut b = good.clone();
            b[8..16].copy_from_slice(b"}}}}{{{{");
            b
        }),
    ];
    for (what, bytes) in cases {
        let path = dir.path().join(format!("{what}.safetensors"));
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&model(0), &path, LoadMode::Strict).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Format { .. }),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().contains(what),
            "{what}: message should name the file: {err}"
        );
    }
}

/// Two names for one tensor: no well-defined state_dict.
struct Duplicate(Tensor);
impl Module for Duplicate {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
    fn visit(&self, s: &mut Scope<'_>) {
        s.param("w", &self.0);
        s.param("w", &self.0);
    }
}

#[test]
fn failed_save_keeps_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let a = model(5);
    save(&a, &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = save(&Duplicate(Tensor::zeros(&[2])), &path).unwrap_err();
    assert!(matches!(err, CheckpointError::DuplicateName { ref name, .. } if name == "w"));
    // Saving into a directory that does not exist fails with an I/O error, too.
    let err = save(&a, dir.path().join("no/such/dir/m.safetensors")).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left behind"
    );
    // Overwriting works and replaces the content.
    save(&model(6), &path).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), before);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any f32 bit pattern (NaN payloads, infinities, −0.0, subnormals) survives save + load.
    #[test]
    fn round_trip_is_bit_exact_for_any_bits(
        raw in proptest::collection::vec(any::<u32>(), 1..40),
        vocab in 1usize..5,
    ) {
        let mut rng = StdRng::seed_from_u64(9);
        let dim = raw.len();
        let src = EmbeddingConfig::new(vocab, dim).init(&mut rng);
        let vals: Vec<f32> = (0..vocab * dim).map(|i| f32::from_bits(raw[i % dim].rotate_left(i as u32))).collect();
        src.weight().update_data(|d| d.copy_from_slice(&vals));
        let bytes = to_bytes(&src, &HashMap::new()).unwrap();
        let dst = EmbeddingConfig::new(vocab, dim).init(&mut rng);
        load_from_bytes(&dst, &bytes, LoadMode::Strict).unwrap();
        let a: Vec<u32> = src.weight().to_vec().iter().map(|v| v.to_bits()).collect();
        let b: Vec<u32> = dst.weight().to_vec().iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(a, b);
    }

    /// Corrupting any byte never panics: the result is an error or a (possibly different)
    /// successful load.
    #[test]
    fn corrupted_bytes_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let good = to_bytes(&model(7), &HashMap::new()).unwrap();
        let i = pos.index(good.len());
        let bad = if cut { good[..i].to_vec() } else {
            let mut b = good.clone();
            b[i] = byte;
            b
        };
        let _ = load_from_bytes(&model(8), &bad, LoadMode::NonStrict);
    }
}
