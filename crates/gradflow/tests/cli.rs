//! The `gradflow` binary as a user meets it: bad flags and bad data give one clear error line
//! and a non-zero exit; a small run writes the report; a run that goes NaN is a result.

use std::path::Path;
use std::process::{Command, Output};

use gradflow::data::encode_idx_u8;

fn gradflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradflow"))
        .args(args)
        .output()
        .expect("the gradflow binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Tiny, fast lab settings.
const SMALL: &[&str] = &[
    "vanishing",
    "--embedded",
    "--depth",
    "4",
    "--width",
    "16",
    "--deep-depth",
    "6",
    "--steps",
    "6",
    "--batch",
    "16",
];

fn assert_one_line_error(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn depth_zero_is_a_clear_error() {
    assert_one_line_error(
        &gradflow(&["vanishing", "--depth", "0"]),
        "--depth 0 is too small",
    );
}

#[test]
fn negative_learning_rate_is_a_clear_error() {
    assert_one_line_error(
        &gradflow(&["vanishing", "--lr", "-0.1"]),
        "--lr -0.1 must be a positive",
    );
}

#[test]
fn unknown_configuration_lists_the_known_ones() {
    let o = gradflow(&["vanishing", "--embedded", "--only", "sigmoid-tiny"]);
    assert_one_line_error(&o, "unknown configuration `sigmoid-tiny`");
    assert!(stderr(&o).contains("relu-he"));
}

#[test]
fn missing_data_folder_names_the_folder() {
    let o = gradflow(&["vanishing", "--data", "/definitely/not/here"]);
    assert_one_line_error(&o, "/definitely/not/here: not found");
}

#[test]
fn corrupt_idx_file_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write =
        |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).expect("write");
    // Images announce 2×28×28 bytes but hold 10: truncated.
    let mut images = encode_idx_u8(&[2, 28, 28], &[0; 2 * 28 * 28]);
    images.truncate(16 + 10);
    write("train-images-idx3-ubyte", &images);
    write("train-labels-idx1-ubyte", &encode_idx_u8(&[2], &[0, 1]));
    let o = gradflow(&["vanishing", "--data", dir.path().to_str().unwrap_or(".")]);
    assert_one_line_error(&o, "train-images-idx3-ubyte: truncated IDX file");
}

#[test]
fn small_run_writes_the_report() {
    let out = tempfile::tempdir().expect("temp dir");
    let report_dir = out.path().join("report");
    let mut args = SMALL.to_vec();
    args.extend([
        "--only",
        "sigmoid-small,relu-he",
        "--out",
        report_dir.to_str().unwrap_or("."),
    ]);
    let o = gradflow(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("teacher task"), "says which data: {stdout}");
    assert!(
        stdout.contains("sigmoid-small") && stdout.contains("relu-he"),
        "{stdout}"
    );
    for f in [
        "results.json",
        "layers.csv",
        "curves.csv",
        "report.md",
        "grad_flow_init.svg",
        "grad_flow_init.png",
    ] {
        let p = report_dir.join(f);
        assert!(
            p.is_file() && std::fs::metadata(&p).map_or(0, |m| m.len()) > 0,
            "{f}"
        );
    }
    // Depth 4 has 3 traced hidden layers; every logged step lists each once per run.
    let csv = std::fs::read_to_string(report_dir.join("layers.csv")).unwrap_or_default();
    assert!(
        csv.lines()
            .any(|l| l.starts_with("relu-he,") && l.split(',').nth(3) == Some("3"))
    );
}

#[test]
fn divergence_is_reported_not_a_crash() {
    let out = tempfile::tempdir().expect("temp dir");
    let mut args = SMALL.to_vec();
    let out_arg = out.path().join("r");
    args.extend([
        "--only",
        "exploding",
        "--lr",
        "1000",
        "--out",
        out_arg.to_str().unwrap_or("."),
    ]);
    let o = gradflow(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("every learning rate diverged"), "{stdout}");
}

#[test]
fn reads_gzip_idx_folders() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let gz = |name: &str, bytes: Vec<u8>| {
        let f = std::fs::File::create(dir.path().join(name)).expect("create");
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(&bytes).expect("gzip");
        e.finish().expect("finish");
    };
    let pixels: Vec<u8> = (0..3 * 4).map(|i| (i * 20) as u8).collect();
    for split in ["train", "t10k"] {
        gz(
            &format!("{split}-images-idx3-ubyte.gz"),
            encode_idx_u8(&[3, 2, 2], &pixels),
        );
        gz(
            &format!("{split}-labels-idx1-ubyte.gz"),
            encode_idx_u8(&[3], &[1, 0, 9]),
        );
    }
    let (train, test) = gradflow::data::load_idx_folder(dir.path()).expect("loads");
    assert_eq!((train.len(), train.dim, test.len()), (3, 4, 3));
    assert_eq!(train.labels, vec![1, 0, 9]);
    assert_eq!(train.features[1], 20.0 / 255.0);
    // A gzip stream cut in half is reported as damaged, naming the file.
    let p = dir.path().join("t10k-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&p).expect("read");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).expect("write");
    let err = gradflow::data::load_idx_folder(dir.path()).expect_err("damaged");
    let msg = err.to_string();
    assert!(msg.contains("t10k-images-idx3-ubyte.gz"), "{msg}");
    assert!(Path::new(&p).is_file());
}
