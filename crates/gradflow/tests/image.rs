//! The image pipeline end to end on a tiny generated ImageFolder (3 colour classes of 8×8
//! PNGs): resume is bit-exact, a NaN loss stops the run and keeps the last checkpoint, user
//! errors are one line with exit code 2, and eval-image / predict read a trained run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gradflow::image::config::{NormKind, OptimizerKind, ScheduleKind};
use gradflow::image::{ImageError, RunOptions, TrainArgs, TrainConfig, train};
use gradflow::run::checkpoint;

const CLASSES: [(&str, [u8; 3]); 3] = [
    ("a_red", [200, 40, 40]),
    ("b_green", [40, 200, 40]),
    ("c_blue", [40, 40, 200]),
];

/// Writes an 8×8 RGB PNG: the class colour plus a deterministic pattern, so the classes are
/// learnable and no two images are equal.
fn write_png(path: &Path, rgb: [u8; 3], k: usize) {
    let mut data = Vec::with_capacity(8 * 8 * 3);
    for y in 0..8usize {
        for x in 0..8usize {
            for (c, &v) in rgb.iter().enumerate() {
                let wiggle = ((x * 7 + y * 3 + k * 11 + c * 5) % 41) as u8;
                data.push(v.saturating_sub(20).saturating_add(wiggle));
            }
        }
    }
    let file = std::fs::File::create(path).expect("create png");
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 8, 8);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().expect("png header");
    w.write_image_data(&data).expect("png data");
}

/// root/train/<class>/*.png (8 per class) and root/val/<class>/*.png (4 per class).
fn tiny_folder(root: &Path) {
    for (split, n) in [("train", 8), ("val", 4)] {
        for (name, rgb) in CLASSES {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            for k in 0..n {
                write_png(
                    &dir.join(format!("{k}.png")),
                    rgb,
                    k + usize::from(split == "val") * 50,
                );
            }
        }
    }
}

/// resnet20 with BatchNorm and dropout before fc at 8×8, batch 4 (6 steps an epoch), SGD with
/// momentum and weight decay, cosine schedule with a warm-up epoch, clipping, augmentation
/// on: every piece of state a resume must restore is in play.
fn tiny_config(root: &Path, epochs: usize) -> TrainConfig {
    let args = TrainArgs {
        data: Some(root.to_path_buf()),
        arch: Some("resnet20".into()),
        norm: Some(NormKind::Bn),
        dropout: Some(0.25),
        epochs: Some(epochs),
        batch: Some(4),
        optimizer: Some(OptimizerKind::Sgd),
        lr: Some(0.05),
        schedule: Some(ScheduleKind::Cosine),
        warmup: Some(1),
        clip: Some(5.0),
        image_size: Some(8),
        seed: Some(3),
        ..TrainArgs::default()
    };
    TrainConfig::resolve(&args, None).expect("valid config")
}

fn options(out: &Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        resume: false,
        workers: 2,
        verbose: false,
        stop_after_epoch: None,
        nan_at_step: None,
    }
}

/// Every tensor of a model file as raw f32 bits, by name.
fn weights(path: &Path) -> Vec<(String, Vec<u32>)> {
    let mut t: Vec<(String, Vec<u32>)> = gradflow::layers::checkpoint::read_tensors(path)
        .expect("read model")
        .into_iter()
        .map(|(n, t)| (n, t.to_vec().iter().map(|v| v.to_bits()).collect()))
        .collect();
    t.sort();
    t
}

#[test]
fn two_epochs_straight_equal_one_plus_resume_plus_one_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    tiny_folder(&root);
    let cfg = tiny_config(&root, 2);

    let straight = tmp.path().join("straight");
    let a = train(&cfg, &options(&straight)).unwrap();
    assert_eq!((a.epochs, a.steps), (2, 12));

    let split = tmp.path().join("split");
    let first = RunOptions {
        stop_after_epoch: Some(1),
        // A different worker count must not matter either.
        workers: 0,
        ..options(&split)
    };
    let b1 = train(&cfg, &first).unwrap();
    assert_eq!((b1.epochs, b1.steps), (1, 6));
    assert_eq!(
        checkpoint::peek(&split.join("checkpoint.safetensors"))
            .unwrap()
            .epoch,
        1
    );
    let b = train(
        &cfg,
        &RunOptions {
            resume: true,
            ..options(&split)
        },
    )
    .unwrap();
    assert_eq!((b.epochs, b.steps), (2, 12));

    // Bit-identical: every weight and BatchNorm statistic, compared as f32 bit patterns.
    let (wa, wb) = (
        weights(&straight.join("model.safetensors")),
        weights(&split.join("model.safetensors")),
    );
    assert_eq!(wa.len(), wb.len());
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        assert!(va == vb, "{na} differs after resume");
    }
    // The resumed run's logs hold both epochs, the first from the first session.
    let steps = |d: &Path| {
        gradflow::run::MetricsLog::read(&d.join(gradflow::image::train::STEP_LOG))
            .unwrap()
            .to_csv()
    };
    assert_eq!(steps(&split), steps(&straight));
    let m = gradflow::run::MetricsLog::read(&split).unwrap();
    assert_eq!(m.column("epoch").unwrap(), vec![1.0, 2.0]);
    assert_eq!(
        m.column("val_top1").unwrap(),
        gradflow::run::MetricsLog::read(&straight)
            .unwrap()
            .column("val_top1")
            .unwrap()
    );
}

#[test]
fn a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    tiny_folder(&root);
    let cfg = tiny_config(&root, 2);
    let out = tmp.path().join("run");
    // Step 8 is the second step of epoch 2 (6 steps an epoch).
    let err = train(
        &cfg,
        &RunOptions {
            nan_at_step: Some(8),
            ..options(&out)
        },
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::Diverged(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("step 8") && msg.contains("epoch 1"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    let p = checkpoint::peek(&out.join("checkpoint.safetensors")).unwrap();
    assert_eq!((p.epoch, p.step), (1, 6));
    // The kept checkpoint resumes and finishes the run.
    let done = train(
        &cfg,
        &RunOptions {
            resume: true,
            ..options(&out)
        },
    )
    .unwrap();
    assert_eq!(done.epochs, 2);
}

fn gradflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradflow"))
        .args(args)
        .output()
        .expect("the gradflow binary runs")
}

fn assert_one_line_error(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn user_errors_are_one_line_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let missing = tmp.path().join("no-such-folder");
    assert_one_line_error(
        &gradflow(&["train-image", "--data", s(&missing), "--out", s(&out)]),
        "no-such-folder",
    );
    // An empty class folder.
    let root = tmp.path().join("data");
    tiny_folder(&root);
    std::fs::create_dir_all(root.join("train/d_empty")).unwrap();
    assert_one_line_error(
        &gradflow(&["train-image", "--data", s(&root), "--out", s(&out)]),
        "d_empty",
    );
    assert_one_line_error(
        &gradflow(&["train-image", "--batch", "0", "--out", s(&out)]),
        "--batch 0",
    );
    assert_one_line_error(
        &gradflow(&["train-image", "--arch", "resnet21", "--out", s(&out)]),
        "--arch resnet21: unknown architecture",
    );
    // None of them created the run folder.
    assert!(!out.exists());
}

#[test]
fn eval_image_and_predict_read_a_trained_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    tiny_folder(&root);
    let run = tmp.path().join("run");
    let o = gradflow(&[
        "train-image",
        "--data",
        s(&root),
        "--image-size",
        "8",
        "--epochs",
        "1",
        "--batch",
        "4",
        "--workers",
        "1",
        "--out",
        s(&run),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "checkpoint.safetensors",
        "model.safetensors",
        "metrics.csv",
        "metrics.json",
        "curves.svg",
        "curves.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // A second start without --resume must not overwrite the checkpoint.
    let again = gradflow(&[
        "train-image",
        "--data",
        s(&root),
        "--image-size",
        "8",
        "--batch",
        "4",
        "--out",
        s(&run),
    ]);
    assert_one_line_error(&again, "--resume");

    let report = tmp.path().join("eval");
    let o = gradflow(&[
        "eval-image",
        "--checkpoint",
        s(&run),
        "--data",
        s(&root),
        "--out",
        s(&report),
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("12 images") && text.contains("top-1") && text.contains("top-5"),
        "{text}"
    );
    assert!(report.join("confusion.svg").is_file() && report.join("confusion.png").is_file());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("eval.json")).unwrap()).unwrap();
    let confusion = json["confusion"].as_array().unwrap();
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(total, 12);

    // predict from the run checkpoint file (not model.safetensors): class names and
    // probabilities that sum to at most 1 over the 3 classes.
    let img: PathBuf = root.join("val/b_green/0.png");
    let o = gradflow(&[
        "predict",
        "--checkpoint",
        s(&run.join("checkpoint.safetensors")),
        s(&img),
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let probs: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(probs.len(), 3, "{text}");
    // Printed with 2 decimals in percent: the sum is 100 within 3 × 0.005.
    assert!(
        (probs.iter().sum::<f64>() - 100.0).abs() <= 0.015 + 1e-9,
        "{text}"
    );
    for (name, _) in CLASSES {
        assert!(text.contains(name), "{text}");
    }
}
