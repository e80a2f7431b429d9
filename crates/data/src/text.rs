//! Text for character-level language models: a corpus read from a UTF-8 file, its character
//! vocabulary, a held-out split, and contiguous batches for truncated backpropagation through
//! time.
//!
//! # The data of a character language model
//! The model reads a text x₁ … x_N one character at a time and predicts the next:
//! p(x_{t+1} | x₁ … x_t). Its loss is the mean negative log-likelihood in nats,
//! ℓ = −(1/N) Σ ln p(x_{t+1} | x_≤t), and the usual unit is **bits per character**,
//! bpc = ℓ / ln 2: a model that knows nothing but the vocabulary size V scores log₂ V, one that
//! knows the character frequencies scores their entropy (about 4.5 bpc for English prose).
//!
//! # Vocabulary
//! [`Vocabulary`] is the sorted set of the distinct characters (Unicode scalar values) of the
//! text; character c gets id = its rank. Sorting makes the ids a pure function of the set, so
//! the vocabulary is saved with a model as the string of its characters
//! ([`Vocabulary::symbols`]) and rebuilt by [`Vocabulary::from_symbols`]. A file that is not
//! valid UTF-8 is read **byte by byte** instead (each byte b becomes the character U+00bb,
//! Latin-1), so any file can be modelled; [`TextCorpus::unit`] says which happened.
//!
//! # Split
//! [`TextCorpus::split`] holds out the *end* of the text for validation (the last
//! ⌈f·N⌉ characters), so that validation text is never seen in training and the split does
//! not depend on a random seed.
//!
//! # Batches (PyTorch's `word_language_model`)
//! Truncated BPTT needs the state at the end of one window to be the state at the start of the
//! next. [`Streams::batchify`] therefore cuts the id sequence of length n into B contiguous
//! streams of ⌊n/B⌋ ids (dropping the n mod B at the end), laid side by side as the columns of
//! a `[⌊n/B⌋, B]` matrix (PyTorch's `data.view(B, −1).t()`). Window i covers rows
//! [i·k, i·k + k′) with k = `seq` and k′ = min(k, rows − 1 − i·k): its inputs are those rows and
//! its targets the rows one further down (PyTorch's `get_batch`). Column b of window i + 1
//! continues column b of window i, so a state carried across windows has read exactly the
//! text before it.

use std::path::{Path, PathBuf};

use crate::DataError;

/// What one id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextUnit {
    /// A Unicode scalar value of valid UTF-8 text.
    Char,
    /// A byte of a file that is not valid UTF-8 (shown as the Latin-1 character of that
    /// value).
    Byte,
}

impl TextUnit {
    /// `char` or `byte`.
    pub fn name(self) -> &'static str {
        match self {
            TextUnit::Char => "char",
            TextUnit::Byte => "byte",
        }
    }

    /// The unit called `name` (see [`TextUnit::name`]).
    pub fn parse(name: &str) -> Option<TextUnit> {
        match name {
            "char" => Some(TextUnit::Char),
            "byte" => Some(TextUnit::Byte),
            _ => None,
        }
    }
}

/// The sorted distinct characters of a text; id i is the i-th smallest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocabulary {
    chars: Vec<char>,
}

impl Vocabulary {
    /// The characters that occur in `text`, sorted.
    ///
    /// ```
    /// use gradflow_data::Vocabulary;
    /// let v = Vocabulary::from_text("hello");
    /// assert_eq!(v.symbols(), "ehlo");
    /// assert_eq!(v.encode("hole"), Some(vec![1, 3, 2, 0]));
    /// assert_eq!(v.decode(&[1, 0, 2, 2, 3]), "hello");
    /// ```
    pub fn from_text(text: &str) -> Self {
        let mut seen = [false; 128];
        let mut other: Vec<char> = Vec::new();
        for c in text.chars() {
            if c.is_ascii() {
                seen[c as usize] = true;
            } else {
                other.push(c);
            }
        }
        other.sort_unstable();
        other.dedup();
        let mut chars: Vec<char> = (0u8..128)
            .filter(|&b| seen[usize::from(b)])
            .map(char::from)
            .collect();
        chars.extend(other);
        Vocabulary { chars }
    }

    /// Rebuild a saved vocabulary from its characters ([`Vocabulary::symbols`]).
    ///
    /// # Errors
    /// [`DataError::Config`] if `symbols` is empty or not strictly increasing (then it was not
    /// written by [`Vocabulary::symbols`]).
    pub fn from_symbols(symbols: &str) -> Result<Self, DataError> {
        let chars: Vec<char> = symbols.chars().collect();
        if chars.is_empty() {
            return Err(DataError::Config("empty vocabulary".into()));
        }
        if let Some(w) = chars.windows(2).find(|w| w[0] >= w[1]) {
            return Err(DataError::Config(format!(
                "vocabulary is not sorted and distinct: {:?} before {:?}",
                w[0], w[1]
            )));
        }
        Ok(Vocabulary { chars })
    }

    /// The characters in id order, as one string.
    pub fn symbols(&self) -> String {
        self.chars.iter().collect()
    }

    /// Vocabulary size V.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty (only for an empty text).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<u32> {
        self.chars.binary_search(&c).ok().map(|i| i as u32)
    }

    /// The character of `id`, if in range.
    pub fn char(&self, id: u32) -> Option<char> {
        self.chars.get(id as usize).copied()
    }

    /// The ids of `text`, or `None` if a character is not in the vocabulary.
    pub fn encode(&self, text: &str) -> Option<Vec<u32>> {
        text.chars().map(|c| self.id(c)).collect()
    }

    /// The first character of `text` not in the vocabulary, if any.
    pub fn first_unknown(&self, text: &str) -> Option<char> {
        text.chars().find(|&c| self.id(c).is_none())
    }

    /// The text of `ids`; an id out of range decodes to U+FFFD (�).
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&i| self.char(i).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
}

/// A text, as ids of its vocabulary, with the file it came from.
#[derive(Clone, Debug)]
pub struct TextCorpus {
    path: PathBuf,
    vocab: Vocabulary,
    ids: Vec<u32>,
    unit: TextUnit,
}

impl TextCorpus {
    /// Read the file at `path` (UTF-8, or bytes as a fallback; see the module docs).
    ///
    /// # Errors
    /// [`DataError::Missing`] if there is no such file, [`DataError::Io`] if it cannot be
    /// read, [`DataError::Text`] if it is empty; each names the file.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                DataError::Missing {
                    path: path.to_path_buf(),
                    why: "no such text file".into(),
                }
            } else {
                DataError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// A corpus from a file's bytes; `path` names it in errors.
    ///
    /// # Errors
    /// [`DataError::Text`] if `bytes` is empty.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, DataError> {
        if bytes.is_empty() {
            return Err(DataError::Text {
                path: path.to_path_buf(),
                why: "the text file is empty (0 bytes)".into(),
            });
        }
        let (text, unit) = match std::str::from_utf8(bytes) {
            Ok(t) => (std::borrow::Cow::Borrowed(t), TextUnit::Char),
            Err(_) => (
                std::borrow::Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect::<String>()),
                TextUnit::Byte,
            ),
        };
        let vocab = Vocabulary::from_text(&text);
        let ids = text
            .chars()
            .map(|c| vocab.id(c).unwrap_or(0))
            .collect::<Vec<u32>>();
        Ok(TextCorpus {
            path: path.to_path_buf(),
            vocab,
            ids,
            unit,
        })
    }

    /// A corpus from a string already in memory; `name` names it in errors.
    ///
    /// # Errors
    /// [`DataError::Text`] if `text` is empty.
    pub fn from_text(text: &str, name: &Path) -> Result<Self, DataError> {
        Self::from_bytes(text.as_bytes(), name)
    }

    /// The file (or name) it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its vocabulary.
    pub fn vocab(&self) -> &Vocabulary {
        &self.vocab
    }

    /// Characters (or bytes) of the text.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Never true for a corpus that was built (empty texts are refused).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids, in text order.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Characters or bytes.
    pub fn unit(&self) -> TextUnit {
        self.unit
    }

    /// Hold out the last ⌈`valid_fraction`·N⌉ ids for validation and batchify both parts into
    /// `batch` streams, checking that each part can fill what training needs: at least one
    /// full window of `batch` × (`seq` + 1) ids for training and two ids per stream for
    /// validation.
    ///
    /// # Errors
    /// [`DataError::Config`] if `batch` or `seq` is 0 or `valid_fraction ∉ (0, 1)`;
    /// [`DataError::Text`], naming the file and the numbers, if the text is too short.
    pub fn split(
        &self,
        valid_fraction: f64,
        batch: usize,
        seq: usize,
    ) -> Result<TextSplit, DataError> {
        if batch == 0 || seq == 0 {
            return Err(DataError::Config(format!(
                "batch {batch} and seq {seq} must be at least 1"
            )));
        }
        if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
            return Err(DataError::Config(format!(
                "validation fraction {valid_fraction} must lie strictly between 0 and 1"
            )));
        }
        let n = self.ids.len();
        let n_valid = ((n as f64) * valid_fraction).ceil() as usize;
        let n_train = n - n_valid.min(n);
        let need_train = batch.saturating_mul(seq.saturating_add(1));
        let need_valid = batch.saturating_mul(2);
        if n_train < need_train || n_valid < need_valid {
            return Err(DataError::Text {
                path: self.path.clone(),
                why: format!(
                    "text shorter than one batch: {n} {unit}s, split into {n_train} for training and \
                     {n_valid} for validation; one training batch of {batch} streams × {} steps \
                     needs {need_train}, validation needs {need_valid} ({batch} streams × 2); \
                     use a longer text or a smaller --batch / --seq",
                    seq + 1,
                    unit = self.unit.name(),
                ),
            });
        }
        Ok(TextSplit {
            train: Streams::batchify(&self.ids[..n_train], batch),
            valid: Streams::batchify(&self.ids[n_train..], batch),
        })
    }
}

/// The training and validation streams of a corpus.
#[derive(Clone, Debug)]
pub struct TextSplit {
    /// Training ids, batchified.
    pub train: Streams,
    /// Held-out ids (the end of the text), batchified.
    pub valid: Streams,
}

/// B contiguous streams of a text, side by side: row r, column b holds id `b·rows + r` of the
/// batchified part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Streams {
    rows: usize,
    batch: usize,
    data: Vec<u32>,
}

/// One window of truncated BPTT: `steps` rows of the streams and the rows one further down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Rows in the window, k′ ≤ seq.
    pub steps: usize,
    /// Streams B.
    pub batch: usize,
    /// Input ids `[steps, B]`, row-major (time-major).
    pub inputs: Vec<u32>,
    /// Target ids `[steps, B]`: each input's next id in its stream.
    pub targets: Vec<u32>,
}

impl Streams {
    /// Cut `ids` into `batch` contiguous streams of ⌊n/B⌋ ids, dropping the n mod B at the
    /// end (PyTorch's `batchify`).
    ///
    /// ```
    /// use gradflow_data::Streams;
    /// // "abcdefghij" as 0..10 in 3 streams: abc | def | ghi, j dropped.
    /// let s = Streams::batchify(&(0..10).collect::<Vec<u32>>(), 3);
    /// assert_eq!((s.rows(), s.batch()), (3, 3));
    /// let w = s.window(0, 2);
    /// assert_eq!(w.inputs, vec![0, 3, 6, 1, 4, 7]);
    /// assert_eq!(w.targets, vec![1, 4, 7, 2, 5, 8]);
    /// assert_eq!(s.windows(2), 1);
    /// ```
    ///
    /// # Panics
    /// If `batch` is 0.
    pub fn batchify(ids: &[u32], batch: usize) -> Self {
        assert!(batch > 0, "Streams::batchify: batch must be at least 1");
        let rows = ids.len() / batch;
        let mut data = vec![0u32; rows * batch];
        for b in 0..batch {
            for r in 0..rows {
                data[r * batch + b] = ids[b * rows + r];
            }
        }
        Streams { rows, batch, data }
    }

    /// Ids per stream.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Streams B.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Ids that serve as targets: B·(rows − 1), each predicted once per pass.
    pub fn targets(&self) -> usize {
        self.batch * self.rows.saturating_sub(1)
    }

    /// Windows of `seq` rows per pass, ⌈(rows − 1)/seq⌉ (the last may be shorter).
    ///
    /// # Panics
    /// If `seq` is 0.
    pub fn windows(&self, seq: usize) -> usize {
        assert!(seq > 0, "Streams::windows: seq must be at least 1");
        self.rows.saturating_sub(1).div_ceil(seq)
    }

    /// Window `i` of `seq` rows (see the module docs).
    ///
    /// # Panics
    /// If `seq` is 0 or `i ≥ windows(seq)`.
    pub fn window(&self, i: usize, seq: usize) -> Window {
        let n = self.windows(seq);
        assert!(i < n, "Streams::window: window {i} of {n}");
        let start = i * seq;
        let steps = seq.min(self.rows - 1 - start);
        let b = self.batch;
        Window {
            steps,
            batch: b,
            inputs: self.data[start * b..(start + steps) * b].to_vec(),
            targets: self.data[(start + 1) * b..(start + 1 + steps) * b].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_characters_sort_after_ascii_by_code_point() {
        let v = Vocabulary::from_text("été, naïve Ω");
        assert_eq!(v.symbols(), " ,aentvéïΩ");
        let ids = v.encode("naïve").unwrap();
        assert_eq!(v.decode(&ids), "naïve");
        assert_eq!(v.first_unknown("naïf"), Some('f'));
        assert_eq!(v.decode(&[99]), "\u{FFFD}");
    }

    #[test]
    fn invalid_utf8_falls_back_to_bytes() {
        let c = TextCorpus::from_bytes(&[0x61, 0xff, 0x61, 0xc3], Path::new("x.bin")).unwrap();
        assert_eq!(c.unit(), TextUnit::Byte);
        assert_eq!(c.vocab().len(), 3);
        assert_eq!(c.vocab().decode(c.ids()), "a\u{ff}a\u{c3}");
    }

    #[test]
    fn the_validation_part_is_the_end_of_the_text() {
        let text: String = (0..100)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let c = TextCorpus::from_text(&text, Path::new("t")).unwrap();
        let s = c.split(0.1, 2, 4).unwrap();
        // 10 held out → 5 per stream, 90 train → 45 per stream.
        assert_eq!((s.train.rows(), s.valid.rows()), (45, 5));
        assert_eq!(s.valid.window(0, 10).inputs[0], c.ids()[90]);
        assert_eq!(s.valid.window(0, 10).inputs[1], c.ids()[95]);
    }
}
