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
    write(
        "t10k-images-idx3-ubyte",
        &encode_idx_u8(&[1, 28, 28], &[0; 28 * 28]),
    );
    write("t10k-labels-idx1-ubyte", &encode_idx_u8(&[1], &[0]));
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
    assert!(
        stdout.contains("embedded Fashion-MNIST"),
        "says which data: {stdout}"
    );
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

// Issue #13: inputs that used to panic, abort or exhaust memory. Each must now be one clear
// error line and exit code 2, before any training starts.

#[test]
fn a_batch_that_cannot_fit_in_memory_is_refused_up_front() {
    // Used to allocate until the kernel killed it at 24 GB.
    let o = gradflow(&[
        "vanishing",
        "--embedded",
        "--batch",
        "100000000",
        "--depth",
        "2",
        "--width",
        "4",
    ]);
    assert_one_line_error(&o, "of memory, but this machine has");
}

#[test]
fn huge_depth_and_width_are_refused_up_front() {
    // Used to abort with "memory allocation of … failed".
    for args in [["--depth", "100000"], ["--width", "1000000"]] {
        let mut a = vec!["vanishing", "--embedded"];
        a.extend(args);
        assert_one_line_error(&gradflow(&a), "reduce --batch, --width, --depth");
    }
    // A step count whose recorder history alone cannot fit used to grow until it did not.
    let o = gradflow(&["vanishing", "--embedded", "--steps", "1000000000000"]);
    assert_one_line_error(&o, "of memory, but this machine has");
}

#[test]
fn a_width_that_8_groups_do_not_divide_picks_valid_groups() {
    // --width 100 used to panic at the GroupNorm rung.
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().join("r");
    let args = [
        "vanishing",
        "--embedded",
        "--depth",
        "4",
        "--width",
        "10",
        "--deep-depth",
        "6",
        "--steps",
        "6",
        "--batch",
        "16",
        "--only",
        "deep-residual-groupnorm",
        "--out",
        dir.to_str().unwrap_or("."),
    ];
    let o = gradflow(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap_or_default();
    assert!(
        report.contains("GroupNorm(5) (8 groups do not divide width 10)"),
        "{report}"
    );
}

#[test]
fn batchnorm_with_batch_one_is_a_clear_error() {
    let o = gradflow(&[
        "vanishing",
        "--embedded",
        "--only",
        "relu-he-batchnorm",
        "--batch",
        "1",
    ]);
    assert_one_line_error(&o, "uses BatchNorm, which needs at least 2 rows");
}

#[test]
fn negative_numbers_are_values_with_a_clear_error() {
    // Used to fail with "unexpected argument '-i' found".
    let o = gradflow(&["vanishing", "--lr", "-inf"]);
    assert_one_line_error(&o, "--lr -inf must be a positive");
    let o = gradflow(&["vanishing", "--depth", "-3"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("invalid value '-3'"), "{err}");
    assert!(!err.contains("unexpected argument"), "{err}");
}

#[test]
fn top_level_flags_run_the_default_job() {
    // `gradflow --steps 5` used to be "unexpected argument"; it now runs `vanishing`.
    let o = gradflow(&["--steps", "0"]);
    assert_one_line_error(&o, "--steps must be at least 1");
}

#[test]
fn an_output_path_that_is_a_file_fails_before_training() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").expect("write");
    let start = std::time::Instant::now();
    let o = gradflow(&[
        "vanishing",
        "--embedded",
        "--out",
        file.to_str().unwrap_or("."),
    ]);
    assert_one_line_error(&o, "exists and is not a folder");
    // The full default ladder takes minutes; failing first means no step was trained. This
    // is a bound on behaviour (no training happened), not a timing test of speed.
    assert!(start.elapsed().as_secs() < 60);
}

#[test]
fn an_output_folder_of_other_files_is_never_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("thesis.tex"), b"mine").expect("write");
    let o = gradflow(&[
        "vanishing",
        "--embedded",
        "--out",
        dir.path().to_str().unwrap_or("."),
    ]);
    assert_one_line_error(&o, "is not a gradflow report");
    assert_eq!(
        std::fs::read(dir.path().join("thesis.tex")).expect("kept"),
        b"mine"
    );
}

#[test]
fn a_rerun_leaves_no_files_of_the_previous_run() {
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().join("r");
    let run = |only: &str| {
        let mut args = SMALL.to_vec();
        args.extend(["--only", only, "--out", dir.to_str().unwrap_or(".")]);
        let o = gradflow(&args);
        assert!(o.status.success(), "stderr: {}", stderr(&o));
    };
    run("sigmoid-small");
    assert!(dir.join("saturation_heatmap.svg").is_file());
    run("relu-he");
    assert!(
        !dir.join("saturation_heatmap.svg").exists(),
        "stale figure survived"
    );
    assert!(dir.join("manifest.json").is_file());
    assert_eq!(
        std::fs::read_dir(out.path()).expect("list").count(),
        1,
        "staging left behind"
    );
}

/// A folder of MNIST-layout IDX files from raw bytes.
fn idx_folder(
    train_img: &[u8],
    train_lbl: &[u8],
    test_img: &[u8],
    test_lbl: &[u8],
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in [
        ("train-images-idx3-ubyte", train_img),
        ("train-labels-idx1-ubyte", train_lbl),
        ("t10k-images-idx3-ubyte", test_img),
        ("t10k-labels-idx1-ubyte", test_lbl),
    ] {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    dir
}

fn run_on(dir: &tempfile::TempDir) -> Output {
    let out = dir.path().join("out");
    let mut args = SMALL.to_vec();
    args.retain(|a| *a != "--embedded");
    args.extend([
        "--data",
        dir.path().to_str().unwrap_or("."),
        "--out",
        out.to_str().unwrap_or("."),
    ]);
    gradflow(&args)
}

#[test]
fn damaged_data_files_are_named_by_the_binary() {
    let img = |n: usize, side: usize| encode_idx_u8(&[n, side, side], &vec![7; n * side * side]);
    let lbl = |v: &[u8]| encode_idx_u8(&[v.len()], v);
    // An empty training set used to panic with "cannot sample empty range".
    let d = idx_folder(&img(0, 2), &lbl(&[]), &img(1, 2), &lbl(&[0]));
    assert_one_line_error(&run_on(&d), "train-images-idx3-ubyte");
    // Images of size 0 × 0 used to panic.
    let d = idx_folder(&img(2, 0), &lbl(&[0, 1]), &img(1, 2), &lbl(&[0]));
    assert_one_line_error(&run_on(&d), "train-images-idx3-ubyte");
    // Test images of another size used to panic in Linear.
    let d = idx_folder(&img(2, 2), &lbl(&[0, 1]), &img(1, 3), &lbl(&[0]));
    assert_one_line_error(&run_on(&d), "t10k-images-idx3-ubyte");
    // A test label outside the training classes used to give 0 % accuracy silently.
    let d = idx_folder(&img(2, 2), &lbl(&[0, 1]), &img(1, 2), &lbl(&[200]));
    assert_one_line_error(&run_on(&d), "t10k-labels-idx1-ubyte");
    // A header announcing more than the file holds wrapped 32-bit sizes and panicked.
    let mut huge = vec![0, 0, 8, 3];
    for d in [1u32, (1 << 31) - 1, (1 << 31) + 1] {
        huge.extend_from_slice(&d.to_be_bytes());
    }
    let d = idx_folder(&huge, &lbl(&[0]), &img(1, 2), &lbl(&[0]));
    assert_one_line_error(&run_on(&d), "train-images-idx3-ubyte");
    // Trailing data after what the header announces is refused, not read.
    let mut long = img(2, 2);
    long.extend_from_slice(&[0; 1000]);
    let d = idx_folder(&long, &lbl(&[0, 1]), &img(1, 2), &lbl(&[0]));
    assert_one_line_error(&run_on(&d), "train-images-idx3-ubyte");
}

#[test]
fn nan_and_negative_float_labels_are_named_by_the_binary() {
    // A float label file (IDX type 0x0D) with NaN, then −1: used to become class 0 silently.
    for bad in [f32::NAN, -1.0, 1e30] {
        let mut labels = vec![0, 0, 0x0D, 1, 0, 0, 0, 2];
        for v in [0.0f32, bad] {
            labels.extend_from_slice(&v.to_be_bytes());
        }
        let img = encode_idx_u8(&[2, 2, 2], &[1; 8]);
        let d = idx_folder(
            &img,
            &labels,
            &encode_idx_u8(&[1, 2, 2], &[1; 4]),
            &encode_idx_u8(&[1], &[0]),
        );
        assert_one_line_error(&run_on(&d), "train-labels-idx1-ubyte");
    }
}

#[test]
fn sequence_and_resnet_gradients_run_small_and_refuse_bad_flags() {
    let out = tempfile::tempdir().expect("temp dir");
    let seq = out.path().join("seq");
    let o = gradflow(&[
        "sequence",
        "--seq-len",
        "12",
        "--hidden",
        "8",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--out",
        seq.to_str().unwrap_or("."),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(seq.join("report.md").is_file() && seq.join("manifest.json").is_file());
    assert_one_line_error(&gradflow(&["sequence", "--only", "lm"]), "--only lm");
    let rg = out.path().join("rg");
    let o = gradflow(&[
        "resnet-gradients",
        "--depths",
        "18",
        "--size",
        "28",
        "--steps",
        "1",
        "--out",
        rg.to_str().unwrap_or("."),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(rg.join("block_grad_norms.svg").is_file() && rg.join("blocks.csv").is_file());
    assert_one_line_error(
        &gradflow(&["resnet-gradients", "--size", "30"]),
        "multiple of 14",
    );
    assert_one_line_error(
        &gradflow(&["resnet-gradients", "--depths", "20"]),
        "not a torchvision ResNet depth",
    );
    assert_one_line_error(
        &gradflow(&["resnet-gradients", "--batch", "5000", "--depths", "152"]),
        "of memory, but this machine has",
    );
}
