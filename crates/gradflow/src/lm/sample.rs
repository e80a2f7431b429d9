//! `gradflow sample`: continue a prompt with a trained model.
//!
//! The prompt is read through the model (its final state and last logits z), then each new
//! character is drawn from
//!
//! ```text
//! p_c ∝ exp(z_c / T)   for the k largest z_c,   0 for the others,
//! ```
//!
//! fed back, and so on. T < 1 sharpens the distribution toward the arg-max (T → 0 is greedy
//! decoding), T > 1 flattens it; top-k (k = 0: all) removes the unlikely tail. The draws come
//! from a generator seeded by `--seed`, and the model runs in evaluation mode (no dropout), so
//! a seed always gives the same text.

use std::path::{Path, PathBuf};

use gradflow_data::Vocabulary;
use gradflow_layers::LoadMode;
use gradflow_layers::checkpoint as weights;
use gradflow_tensor::{Module, no_grad};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use super::LmError;
use super::model::{CellChoice, CharLm, CharLmConfig, LmState};
use crate::run::checkpoint;

/// What `sample` is asked for.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    /// A run folder or its `checkpoint.safetensors`.
    pub checkpoint: PathBuf,
    /// The text to continue (at least one character, all in the vocabulary).
    pub prompt: String,
    /// Temperature T > 0.
    pub temperature: f64,
    /// Keep the k most likely characters (0: all).
    pub top_k: usize,
    /// Characters to generate.
    pub length: usize,
    /// Seed of the draws.
    pub seed: u64,
}

fn field<'a>(cfg: &'a Value, key: &str, path: &Path) -> Result<&'a Value, LmError> {
    cfg.get(key).ok_or_else(|| {
        LmError::InvalidOption(format!(
            "--checkpoint {}: the run's config has no {key:?}",
            path.display()
        ))
    })
}

fn usize_of(cfg: &Value, key: &str, path: &Path) -> Result<usize, LmError> {
    field(cfg, key, path)?
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| {
            LmError::InvalidOption(format!(
                "--checkpoint {}: {key} is not a count",
                path.display()
            ))
        })
}

/// Load the model and vocabulary of a `train-lm` checkpoint, in evaluation mode.
///
/// # Errors
/// The file cannot be read, or is not a `train-lm` checkpoint.
pub fn load_model(path: &Path) -> Result<(CharLm, Vocabulary), LmError> {
    let file = if path.is_dir() {
        path.join(crate::run::run_dir::CHECKPOINT)
    } else {
        path.to_path_buf()
    };
    let progress = checkpoint::peek(&file)?;
    let cfg = &progress.config;
    let cell = field(cfg, "cell", &file)?
        .as_str()
        .and_then(CellChoice::parse)
        .ok_or_else(|| {
            LmError::InvalidOption(format!(
                "--checkpoint {}: not a train-lm checkpoint (no cell)",
                file.display()
            ))
        })?;
    let symbols = progress
        .extra
        .get("vocab")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let vocab = Vocabulary::from_symbols(symbols)?;
    let mcfg = CharLmConfig {
        vocab: vocab.len(),
        embed: usize_of(cfg, "embed", &file)?,
        hidden: usize_of(cfg, "hidden", &file)?,
        layers: usize_of(cfg, "layers", &file)?,
        dropout: 0.0,
        cell,
    };
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = CharLm::new(mcfg, &mut rng);
    let bytes = std::fs::read(&file).map_err(|source| {
        LmError::Model(weights::CheckpointError::Io {
            path: file.clone(),
            op: "read",
            source,
        })
    })?;
    weights::load_prefixed_from_bytes(&model, &bytes, "model.", LoadMode::Strict)?;
    model.set_training(false);
    Ok((model, vocab))
}

/// Draw from softmax(z/T) restricted to the top k, with `u ~ U[0, 1)` from `rng`.
fn draw(z: &[f32], temperature: f64, top_k: usize, rng: &mut StdRng) -> u32 {
    let mut order: Vec<usize> = (0..z.len()).collect();
    order.sort_by(|&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
    let k = if top_k == 0 {
        z.len()
    } else {
        top_k.min(z.len())
    };
    let kept = &order[..k];
    let zmax = f64::from(z[kept[0]]);
    let w: Vec<f64> = kept
        .iter()
        .map(|&c| ((f64::from(z[c]) - zmax) / temperature).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, &wi) in w.iter().enumerate() {
        if u < wi {
            return kept[i] as u32;
        }
        u -= wi;
    }
    kept[k - 1] as u32
}

/// The longest continuation `sample` writes: a million characters (about a Moby-Dick), so a
/// mistyped `--length` cannot grow the output without bound.
pub const MAX_SAMPLE_LENGTH: usize = 1_000_000;

/// The prompt followed by `length` generated characters.
///
/// # Errors
/// A bad option, a prompt character outside the vocabulary, or the checkpoint's error.
pub fn sample(opts: &SampleOptions) -> Result<String, LmError> {
    if !(opts.temperature.is_finite() && opts.temperature > 0.0) {
        return Err(LmError::InvalidOption(format!(
            "--temperature {} must be a positive, finite number",
            opts.temperature
        )));
    }
    if opts.prompt.is_empty() {
        return Err(LmError::InvalidOption(
            "--prompt must have at least one character".into(),
        ));
    }
    if opts.length > MAX_SAMPLE_LENGTH {
        return Err(LmError::InvalidOption(format!(
            "--length {} exceeds the limit of {MAX_SAMPLE_LENGTH} characters",
            opts.length
        )));
    }
    let (model, vocab) = load_model(&opts.checkpoint)?;
    let prompt = vocab.encode(&opts.prompt).ok_or_else(|| {
        LmError::InvalidOption(format!(
            "--prompt: {:?} is not in the model's vocabulary of {} characters",
            vocab.first_unknown(&opts.prompt).unwrap_or(' '),
            vocab.len()
        ))
    })?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut dropout_rng = StdRng::seed_from_u64(0);
    let v = vocab.len();
    let mut out = prompt.clone();
    no_grad(|| {
        let (mut logits, mut state): (Vec<f32>, LmState) = {
            let (z, s) = model.forward_window(&prompt, prompt.len(), 1, None, &mut dropout_rng);
            let z = z.to_vec();
            (z[(prompt.len() - 1) * v..].to_vec(), s)
        };
        for _ in 0..opts.length {
            let c = draw(&logits, opts.temperature, opts.top_k, &mut rng);
            out.push(c);
            let (z, s) = model.forward_window(&[c], 1, 1, Some(&state), &mut dropout_rng);
            logits = z.to_vec();
            state = s;
        }
    });
    Ok(vocab.decode(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbounded_length_is_refused_before_any_work() {
        let opts = SampleOptions {
            checkpoint: "no-such-run".into(),
            prompt: "a".into(),
            temperature: 1.0,
            top_k: 0,
            length: usize::MAX,
            seed: 0,
        };
        let err = sample(&opts).unwrap_err().to_string();
        assert!(err.contains("--length") && err.contains("limit"), "{err}");
    }

    #[test]
    fn top_one_is_the_arg_max_and_low_temperature_is_greedy() {
        let mut rng = StdRng::seed_from_u64(1);
        let z = [0.1f32, 2.0, -1.0, 1.9];
        for _ in 0..20 {
            assert_eq!(draw(&z, 1.0, 1, &mut rng), 1);
            // T = 0.01: p(3)/p(1) = e^(−0.1/0.01) = e^−10 ≈ 4.5e-5 per draw.
            assert_eq!(draw(&z, 0.01, 0, &mut rng), 1);
        }
        // Top-2 never draws the two smallest.
        for _ in 0..200 {
            let c = draw(&z, 5.0, 2, &mut rng);
            assert!(c == 1 || c == 3, "{c}");
        }
    }
}
