//! The text corpus: loading errors that name the file and the numbers, the vocabulary round
//! trip, and the truncated-BPTT windows' promise that column b of the windows, read in order,
//! is stream b of the text.

use std::path::Path;

use gradflow_data::{DataError, Streams, TextCorpus, TextUnit, Vocabulary};
use proptest::prelude::*;

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.txt");
    let e = TextCorpus::read(&path).unwrap_err();
    assert!(matches!(e, DataError::Missing { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("nowhere.txt") && msg.contains("no such text file"),
        "{msg}"
    );
}

#[test]
fn an_empty_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.txt");
    std::fs::write(&path, b"").unwrap();
    let msg = TextCorpus::read(&path).unwrap_err().to_string();
    assert!(msg.contains("empty.txt") && msg.contains("empty"), "{msg}");
}

#[test]
fn a_text_shorter_than_one_batch_names_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.txt");
    std::fs::write(&path, "to be or not to be").unwrap(); // 18 characters
    let c = TextCorpus::read(&path).unwrap();
    assert_eq!((c.len(), c.unit()), (18, TextUnit::Char));
    // 10 % held out: ⌈1.8⌉ = 2 for validation, 16 for training; 4 streams × 9 steps need 36.
    let msg = c.split(0.1, 4, 8).unwrap_err().to_string();
    for part in ["short.txt", "18 chars", "16 for training", "needs 36"] {
        assert!(msg.contains(part), "{part:?} missing in {msg}");
    }
    assert!(c.split(0.5, 2, 3).is_ok());
}

#[test]
fn bad_settings_are_refused() {
    let c = TextCorpus::from_text("abcdefghijklmnop", Path::new("t")).unwrap();
    for (f, b, s) in [
        (0.0, 2, 2),
        (1.0, 2, 2),
        (f64::NAN, 2, 2),
        (0.1, 0, 2),
        (0.1, 2, 0),
    ] {
        assert!(
            matches!(c.split(f, b, s), Err(DataError::Config(_))),
            "{f} {b} {s}"
        );
    }
    assert!(Vocabulary::from_symbols("ba").is_err());
    assert!(Vocabulary::from_symbols("aa").is_err());
    assert!(Vocabulary::from_symbols("").is_err());
}

proptest! {
    #[test]
    fn encode_decode_and_save_round_trip(text in "\\PC{1,200}") {
        let v = Vocabulary::from_text(&text);
        let ids = v.encode(&text).unwrap();
        prop_assert_eq!(v.decode(&ids), text.clone());
        prop_assert!(ids.iter().all(|&i| (i as usize) < v.len()));
        prop_assert_eq!(Vocabulary::from_symbols(&v.symbols()).unwrap(), v);
    }

    #[test]
    fn windows_read_each_stream_in_order(n in 2usize..300, batch in 1usize..8, seq in 1usize..20) {
        prop_assume!(n / batch >= 2);
        let ids: Vec<u32> = (0..n as u32).collect();
        let s = Streams::batchify(&ids, batch);
        let rows = n / batch;
        prop_assert_eq!(s.rows(), rows);
        let mut seen_in: Vec<Vec<u32>> = vec![Vec::new(); batch];
        let mut seen_tgt: Vec<Vec<u32>> = vec![Vec::new(); batch];
        for i in 0..s.windows(seq) {
            let w = s.window(i, seq);
            for r in 0..w.steps {
                for b in 0..batch {
                    seen_in[b].push(w.inputs[r * batch + b]);
                    seen_tgt[b].push(w.targets[r * batch + b]);
                }
            }
        }
        for b in 0..batch {
            // Stream b is ids [b·rows, (b+1)·rows); inputs are all but its last id, targets
            // all but its first.
            let start = (b * rows) as u32;
            let want_in: Vec<u32> = (start..start + rows as u32 - 1).collect();
            let want_tgt: Vec<u32> = (start + 1..start + rows as u32).collect();
            prop_assert_eq!(&seen_in[b], &want_in);
            prop_assert_eq!(&seen_tgt[b], &want_tgt);
        }
        prop_assert_eq!(s.targets(), batch * (rows - 1));
    }
}
