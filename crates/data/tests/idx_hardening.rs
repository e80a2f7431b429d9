//! The IDX reader on damaged headers and files (issue #13, items 4 and 6): every case is a
//! typed error naming the file, never a panic, an abort or a huge allocation.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use gradflow_data::{
    DataError, IdxType, encode_idx, encode_idx_u8, parse_idx, read_idx, read_idx_raw,
};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A header with raw u32 dimensions (no body).
fn header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

fn assert_names(e: &DataError, path: &Path) {
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name {}: {msg}",
        path.display()
    );
}

#[test]
fn dims_whose_byte_count_wraps_32_bits_are_truncated_not_a_panic() {
    // [1, 2³¹−1, 2³¹+1] u8: 2⁶² − 1 values. The old reader wrapped header + count·width.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = header(0x08, &[1, (1 << 31) - 1, (1 << 31) + 1]);
    bytes.extend_from_slice(&[7; 64]);
    for (name, content) in [
        ("wrap-idx3-ubyte", bytes.clone()),
        ("wrap-idx3-ubyte.gz", gzip(&bytes)),
    ] {
        let p = write(dir.path(), name, &content);
        let e = read_idx(&p).unwrap_err();
        match &e {
            DataError::Truncated { expected, .. } => {
                assert_eq!(*expected, 16 + ((1u64 << 31) - 1) * ((1u64 << 31) + 1))
            }
            other => panic!("{name}: expected Truncated, got {other:?}"),
        }
        assert_names(&e, &p);
    }
    assert!(matches!(
        parse_idx(&bytes, Path::new("m")),
        Err(DataError::Truncated { .. })
    ));
}

#[test]
fn f64_dims_whose_byte_count_overflows_64_bits_are_a_shape_error() {
    // [1, 2³¹, 2³⁰] f64: 2⁶¹ values × 8 bytes = 2⁶⁴ bytes, which overflows u64.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = header(0x0E, &[1, 1 << 31, 1 << 30]);
    bytes.extend_from_slice(&[0; 64]);
    let p = write(dir.path(), "huge-f64-idx3", &bytes);
    let e = read_idx_raw(&p).unwrap_err();
    assert!(
        matches!(&e, DataError::BadShape { width: 8, shape, .. } if shape == &[1, 1 << 31, 1 << 30]),
        "{e:?}"
    );
    assert_names(&e, &p);
    // A product that overflows before the width does, too.
    let bytes = header(0x08, &[u32::MAX, u32::MAX, u32::MAX]);
    assert!(matches!(
        parse_idx(&bytes, Path::new("m")),
        Err(DataError::BadShape { .. })
    ));
}

#[test]
fn a_huge_announced_size_is_compared_with_the_file_before_allocating() {
    // 2⁴⁰ bytes announced (1 TiB) in a 20-byte file: refused from the length alone.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = header(0x08, &[1 << 20, 1 << 20]);
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    let p = write(dir.path(), "tib", &bytes);
    match read_idx(&p).unwrap_err() {
        DataError::Truncated {
            expected, found, ..
        } => {
            assert_eq!((expected, found), (12 + (1 << 40), 16));
        }
        other => panic!("{other:?}"),
    }
    // The gzip path cannot know the length up front; it reads in bounded chunks and stops
    // where the data does.
    let p = write(dir.path(), "tib.gz", &gzip(&bytes));
    assert!(matches!(
        read_idx(&p),
        Err(DataError::Truncated { found: 16, .. })
    ));
}

#[test]
fn trailing_data_is_rejected_with_both_byte_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = encode_idx_u8(&[2, 2], &[1, 2, 3, 4]);
    bytes.extend_from_slice(&vec![0; 1000]);
    for (name, content) in [("trail", bytes.clone()), ("trail.gz", gzip(&bytes))] {
        let p = write(dir.path(), name, &content);
        let e = read_idx(&p).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::TrailingData {
                    expected: 16,
                    found: 1016,
                    at_least: false,
                    ..
                }
            ),
            "{name}: {e:?}"
        );
        let msg = e.to_string();
        assert_names(&e, &p);
        assert!(msg.contains("16") && msg.contains("1016"), "{msg}");
    }
}

#[test]
fn truncation_bad_magic_and_damaged_gzip_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = encode_idx_u8(&[3, 2], &[1, 2, 3, 4, 5, 6]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short-magic", vec![0, 0]),
        ("bad-type", vec![0, 0, 0x42, 1, 0, 0, 0, 1, 9]),
        ("not-idx", b"PK\x03\x04zip".to_vec()),
        ("cut-header", good[..6].to_vec()),
        ("cut-body", good[..good.len() - 2].to_vec()),
        ("cut.gz", gzip(&good)[..20].to_vec()),
        ("garbage.gz", {
            let mut g = gzip(&good);
            let n = g.len();
            g[12..n - 8].iter_mut().for_each(|b| *b ^= 0x5A);
            g
        }),
    ];
    for (name, content) in cases {
        let p = write(dir.path(), name, &content);
        let e = read_idx(&p).expect_err(name);
        assert!(
            matches!(
                e,
                DataError::BadMagic { .. }
                    | DataError::Truncated { .. }
                    | DataError::Corrupt { .. }
            ),
            "{name}: {e:?}"
        );
        assert_names(&e, &p);
    }
    let missing = dir.path().join("absent");
    let e = read_idx(&missing).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }));
    assert_names(&e, &missing);
}

#[test]
fn plain_and_gzip_files_read_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = [-1.5f32, 0.0, 3.25]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let bytes = encode_idx(IdxType::F32, &[3], &body);
    let a = read_idx(&write(dir.path(), "f", &bytes)).unwrap();
    // Gzip is recognised by its magic bytes, whatever the name.
    let b = read_idx(&write(dir.path(), "f-no-extension", &gzip(&bytes))).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.values, vec![-1.5, 0.0, 3.25]);
}
