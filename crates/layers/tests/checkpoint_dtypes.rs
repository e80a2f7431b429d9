//! Integer dtypes survive a checkpoint (issue #12 §6), conversions are reported (#13), and
//! checkpoints are written with the one atomic-write helper (mode 0644, issue #12 §2).

use gradflow_layers::checkpoint::{self, Stored, read_entries};
use gradflow_layers::{LoadMode, Module, Scope};
use gradflow_tensor::Tensor;

/// A module with a weight and a BatchNorm-style step counter.
struct Counted {
    weight: Tensor,
    steps: Tensor,
}

impl Module for Counted {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
    fn visit(&self, s: &mut Scope<'_>) {
        s.param("bn.weight", &self.weight);
        s.buffer("bn.num_batches_tracked", &self.steps);
    }
}

fn counted(steps: f32) -> Counted {
    Counted {
        weight: Tensor::from_vec(vec![0.5, -1.0], &[2]),
        steps: Tensor::from_vec(vec![steps], &[]),
    }
}

#[test]
fn step_counters_are_saved_as_i64_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bn.safetensors");
    // 2²⁴ + 1 is the first integer f32 cannot hold; the counter value here is exact in both.
    checkpoint::save(&counted(12345.0), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        st.tensor("bn.num_batches_tracked").unwrap().dtype(),
        safetensors::Dtype::I64
    );
    assert_eq!(
        st.tensor("bn.weight").unwrap().dtype(),
        safetensors::Dtype::F32
    );
    let entries = read_entries(&path).unwrap();
    match &entries[0] {
        (name, Stored::Int { shape, values }) => {
            assert_eq!(name, "bn.num_batches_tracked");
            assert!(shape.is_empty());
            assert_eq!(values, &[12345]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&entries[1], (n, Stored::Float(t)) if n == "bn.weight" && t.to_vec() == [0.5, -1.0])
    );
    // Loading back is exact and is not reported as a conversion.
    let dst = counted(0.0);
    let report = checkpoint::load(&dst, &path, LoadMode::Strict).unwrap();
    assert_eq!(dst.steps.item(), 12345.0);
    assert!(report.converted.is_empty(), "{report:?}");
}

#[test]
fn converted_dtypes_are_reported() {
    use safetensors::Dtype;
    let w: Vec<u8> = [0.1f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let c = 7i64.to_le_bytes().to_vec();
    let views = vec![
        (
            "bn.weight".to_string(),
            safetensors::tensor::TensorView::new(Dtype::F64, vec![2], &w).unwrap(),
        ),
        (
            "bn.num_batches_tracked".to_string(),
            safetensors::tensor::TensorView::new(Dtype::I64, vec![], &c).unwrap(),
        ),
    ];
    let bytes = safetensors::serialize(views, None).unwrap();
    let dst = counted(0.0);
    let report = checkpoint::load_from_bytes(&dst, &bytes, LoadMode::Strict).unwrap();
    assert_eq!(
        report.converted,
        [("bn.weight".to_string(), "F64".to_string())]
    );
    assert!(
        report
            .to_string()
            .contains("converted to f32 bn.weight (F64)"),
        "{report}"
    );
    assert_eq!(dst.steps.item(), 7.0);
}

#[cfg(unix)]
#[test]
fn checkpoints_are_readable_by_others_like_any_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    checkpoint::save(&counted(1.0), &path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn format_errors_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, [8u8, 0, 0, 0, 0, 0, 0, 0, b'{', b'x']).unwrap();
    let err = checkpoint::load(&counted(0.0), &path, LoadMode::Strict).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "checkpoint {}: not a valid safetensors file: ",
            path.display()
        )),
        "{msg}"
    );
    assert!(
        msg.len()
            > format!(
                "checkpoint {}: not a valid safetensors file: ",
                path.display()
            )
            .len()
    );
}
