//! The character language model (`gradflow train-lm`, `gradflow sample`) on tiny texts:
//! bit-exact resumption, deterministic sampling, and the text errors the CLI reports in one
//! line with exit code 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gradflow::lm::{LmOptions, SampleOptions, TextSource, sample, train};
use gradflow::run::{MetricsLog, RunDir};

/// A deterministic text of `n` characters with some structure to learn (words from a small
/// list, picked by a linear congruential generator).
fn tiny_text(n: usize) -> String {
    let words = [
        "the ", "whale ", "sea ", "ship ", "and ", "a ", "white ", "call me ",
    ];
    let mut s = String::new();
    let mut x: u64 = 7;
    while s.len() < n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s.push_str(words[(x >> 60) as usize % words.len()]);
    }
    s.truncate(n);
    s
}

fn write_text(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("tiny.txt");
    std::fs::write(&path, tiny_text(n)).unwrap();
    path
}

fn tiny_options(text: &Path) -> LmOptions {
    LmOptions {
        source: TextSource::File(text.to_path_buf()),
        embed: 8,
        hidden: 16,
        layers: 2,
        dropout: 0.1,
        seq: 8,
        batch: 4,
        epochs: 2,
        checkpoint_every: 5,
        ..LmOptions::default()
    }
}

fn gradflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradflow"))
        .args(args)
        .output()
        .expect("run gradflow")
}

/// Every column but the wall-clock ones.
fn deterministic_rows(dir: &Path) -> Vec<Vec<u64>> {
    let m = MetricsLog::read(dir).unwrap();
    let keep: Vec<usize> = m
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| !matches!(c.as_str(), "elapsed_s" | "chars_per_s"))
        .map(|(i, _)| i)
        .collect();
    m.rows()
        .iter()
        .map(|r| keep.iter().map(|&i| r[i].to_bits()).collect())
        .collect()
}

#[test]
fn a_run_stopped_mid_epoch_and_resumed_ends_bit_for_bit_where_the_whole_run_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let text = write_text(tmp.path(), 1500);
    let opts = tiny_options(&text);
    // 1500 chars, 10 % held out: 1350 → 4 streams of 337 → ⌈336/8⌉ = 42 windows per epoch.
    let whole = tmp.path().join("whole");
    let a = train(
        &opts,
        &RunDir::open(&whole, "train-lm", false).unwrap(),
        |_| {},
    )
    .unwrap();
    assert_eq!((a.steps, a.epochs), (84, 2));
    // Stop at step 23 (the last checkpoint is that stop, mid-epoch, with a carried state and
    // dropout drawn from (seed, step)), then resume with the original plan.
    let parts = tmp.path().join("parts");
    let first = LmOptions {
        steps: Some(23),
        ..opts.clone()
    };
    train(
        &first,
        &RunDir::open(&parts, "train-lm", false).unwrap(),
        |_| {},
    )
    .unwrap();
    let b = train(
        &opts,
        &RunDir::open(&parts, "train-lm", true).unwrap(),
        |_| {},
    )
    .unwrap();
    assert_eq!(b.steps, 84);
    let (wa, wb) = (
        std::fs::read(whole.join("model.safetensors")).unwrap(),
        std::fs::read(parts.join("model.safetensors")).unwrap(),
    );
    assert!(wa == wb, "final weights differ after resuming");
    assert_eq!(a.valid_bpc.to_bits(), b.valid_bpc.to_bits());
    // The interrupted run logged its own evaluation at step 23; the epoch rows are identical.
    let (ra, rb) = (deterministic_rows(&whole), deterministic_rows(&parts));
    assert_eq!(rb.len(), ra.len() + 1);
    assert_eq!(ra, rb[1..].to_vec());
    // The run learnt: uniform guessing over the 12 characters is log₂ 12 = 3.58 bpc; the
    // words alone carry far less, and two short epochs get well below uniform.
    assert!(a.valid_bpc < 3.3, "validation bpc {}", a.valid_bpc);
    assert!(whole.join("curves.svg").is_file() && whole.join("metrics.json").is_file());

    // Resuming with another architecture is refused, naming the setting.
    let other = LmOptions {
        hidden: 12,
        ..opts.clone()
    };
    let e = train(
        &other,
        &RunDir::open(&parts, "train-lm", true).unwrap(),
        |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("hidden was 16, now 12"), "{e}");

    // Sampling: the same seed gives the same text, another seed another text.
    let s = |seed: u64| {
        sample(&SampleOptions {
            checkpoint: whole.clone(),
            prompt: "the ".into(),
            temperature: 1.0,
            top_k: 5,
            length: 120,
            seed,
        })
        .unwrap()
    };
    let (s1, s2, s3) = (s(4), s(4), s(5));
    assert_eq!(s1, s2);
    assert_ne!(s1, s3);
    assert!(
        s1.starts_with("the ") && s1.chars().count() == 124,
        "{s1:?}"
    );
    let out = gradflow(&[
        "sample",
        "--checkpoint",
        whole.to_str().unwrap(),
        "--prompt",
        "the ",
        "--temperature",
        "1.0",
        "--top-k",
        "5",
        "--length",
        "120",
        "--seed",
        "4",
    ]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{s1}\n"));
    let out = gradflow(&[
        "sample",
        "--checkpoint",
        whole.to_str().unwrap(),
        "--prompt",
        "Q",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'Q' is not in the model's vocabulary"));
}

/// Runs `train-lm` on `text` and expects exit code 2, one line on stderr containing every
/// `part`, and no run folder.
fn refused(text: &Path, extra: &[&str], parts: &[&str]) {
    let out_dir = text.with_extension("run");
    let mut args = vec!["train-lm", "--text", text.to_str().unwrap(), "--out"];
    args.push(out_dir.to_str().unwrap());
    args.extend_from_slice(extra);
    let out = gradflow(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for p in parts {
        assert!(err.contains(p), "{p:?} missing in {err}");
    }
    assert!(
        !out_dir.exists(),
        "a refused run left {}",
        out_dir.display()
    );
}

#[test]
fn text_errors_are_one_line_naming_the_file_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    refused(
        &tmp.path().join("absent.txt"),
        &[],
        &["absent.txt", "no such text file"],
    );
    let empty = tmp.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    refused(&empty, &[], &["empty.txt", "empty"]);
    let short = tmp.path().join("short.txt");
    std::fs::write(&short, tiny_text(500)).unwrap();
    // 500 chars: 50 held out, 450 for training; 32 streams × 65 steps need 2080.
    refused(
        &short,
        &[],
        &["short.txt", "500 chars", "450 for training", "needs 2080"],
    );
    refused(&short, &["--cell", "rnn"], &["--cell rnn"]);
}
