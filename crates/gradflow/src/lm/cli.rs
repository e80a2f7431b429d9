//! The flags of `gradflow train-lm` and `gradflow sample` (parsed by the binary's clap
//! parser) and the two commands.

use std::path::PathBuf;

use clap::Args;

use super::LmError;
use super::data::TextSource;
use super::model::CellChoice;
use super::sample::{SampleOptions, sample};
use super::train::{LmOptions, OptimizerChoice, Schedule, train};
use crate::run::RunDir;

/// Flags of `gradflow train-lm`.
#[derive(Args, Debug)]
pub struct TrainLmArgs {
    /// Train on this UTF-8 text file (bytes if it is not UTF-8).
    #[arg(long, conflicts_with_all = ["moby_dick", "embedded"])]
    pub text: Option<PathBuf>,
    /// Train on Moby-Dick (1.2 MB; install it with scripts/fetch-data.sh).
    #[arg(long, conflicts_with = "embedded")]
    pub moby_dick: bool,
    /// Train on the excerpt in the binary (chapters 1-9 of Moby-Dick, 100 KB): the default.
    #[arg(long)]
    pub embedded: bool,
    /// Recurrent cell: lstm or gru.
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Embedding size.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    pub embed: usize,
    /// Hidden units per layer.
    #[arg(long, default_value_t = 128, allow_negative_numbers = true)]
    pub hidden: usize,
    /// Recurrent layers.
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub layers: usize,
    /// Dropout rate (embeddings, between layers, before the decoder).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub dropout: f64,
    /// Truncated-BPTT window: steps per batch.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    pub seq: usize,
    /// Streams per batch.
    #[arg(long, default_value_t = 32, allow_negative_numbers = true)]
    pub batch: usize,
    /// Optimizer: adam or adamw.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate.
    #[arg(long, default_value_t = 3e-3, allow_negative_numbers = true)]
    pub lr: f64,
    /// AdamW's weight decay.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value (0: no clipping).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub clip: f64,
    /// Learning-rate schedule: constant or cosine (to 0 over the planned steps).
    #[arg(long, default_value = "constant")]
    pub schedule: String,
    /// Passes over the training text.
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub epochs: u64,
    /// Stop after this many optimizer steps in all.
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<u64>,
    /// Share of the text held out for validation (from its end).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub valid_fraction: f64,
    /// Write a checkpoint every this many steps (and at every epoch end).
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub checkpoint_every: u64,
    /// Also evaluate the held-out text every this many steps (0: at epoch ends only).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub eval_every: u64,
    /// Seed for the weights and the dropout masks.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// The run folder (metrics, curves, checkpoint, final model).
    #[arg(long, default_value = "runs/lm")]
    pub out: PathBuf,
    /// Continue the run in --out from its checkpoint (same flags; --epochs/--steps may grow).
    #[arg(long)]
    pub resume: bool,
}

/// Flags of `gradflow sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A train-lm run folder, or its checkpoint.safetensors.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The text to continue.
    #[arg(long, default_value = "The ")]
    pub prompt: String,
    /// Softmax temperature (< 1: more conservative, > 1: more varied).
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub temperature: f64,
    /// Draw from the k most likely characters only (0: all).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub top_k: usize,
    /// Characters to generate.
    #[arg(long, default_value_t = 400, allow_negative_numbers = true)]
    pub length: usize,
    /// Seed of the draws.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
}

impl TrainLmArgs {
    /// The options these flags describe.
    ///
    /// # Errors
    /// [`LmError::InvalidOption`] for an unknown cell, optimizer or schedule, or a bad range.
    pub fn options(&self) -> Result<LmOptions, LmError> {
        let bad = |m: String| LmError::InvalidOption(m);
        let source = match (&self.text, self.moby_dick) {
            (Some(p), _) => TextSource::File(p.clone()),
            (None, true) => TextSource::MobyDick,
            (None, false) => TextSource::Embedded,
        };
        let cell = CellChoice::parse(&self.cell)
            .ok_or_else(|| bad(format!("--cell {}: expected lstm or gru", self.cell)))?;
        let optimizer = match self.optimizer.as_str() {
            "adam" => OptimizerChoice::Adam,
            "adamw" => OptimizerChoice::AdamW,
            o => return Err(bad(format!("--optimizer {o}: expected adam or adamw"))),
        };
        let schedule = match self.schedule.as_str() {
            "constant" => Schedule::Constant,
            "cosine" => Schedule::Cosine,
            s => return Err(bad(format!("--schedule {s}: expected constant or cosine"))),
        };
        if !(self.clip.is_finite() && self.clip >= 0.0) {
            return Err(bad(format!(
                "--clip {} must be a finite number ≥ 0 (0: no clipping)",
                self.clip
            )));
        }
        let opts = LmOptions {
            source,
            cell,
            embed: self.embed,
            hidden: self.hidden,
            layers: self.layers,
            dropout: self.dropout,
            seq: self.seq,
            batch: self.batch,
            optimizer,
            lr: self.lr,
            weight_decay: self.weight_decay,
            clip: (self.clip > 0.0).then_some(self.clip),
            schedule,
            epochs: self.epochs,
            steps: self.steps,
            seed: self.seed,
            valid_fraction: self.valid_fraction,
            checkpoint_every: self.checkpoint_every,
            eval_every: self.eval_every,
        };
        opts.validate()?;
        Ok(opts)
    }
}

/// `gradflow train-lm`: train, print the summary, name the run folder.
///
/// # Errors
/// Any [`LmError`], as one line.
pub fn train_lm(a: &TrainLmArgs) -> Result<(), LmError> {
    let opts = a.options()?;
    // Read the text before touching --out, so that a bad --text leaves no folder behind.
    opts.source
        .load()?
        .split(opts.valid_fraction, opts.batch, opts.seq)?;
    let dir = RunDir::open(&a.out, "train-lm", a.resume)?;
    let run = train(&opts, &dir, |line| eprintln!("{line}"))?;
    println!(
        "{} steps, {} epochs, {} parameters, vocabulary {}: train {:.3} bpc, validation {:.3} bpc, {:.1} s",
        run.steps, run.epochs, run.parameters, run.vocab, run.train_bpc, run.valid_bpc, run.wall_s
    );
    println!("run: {}", dir.path().display());
    Ok(())
}

/// `gradflow sample`: print the prompt and its continuation.
///
/// # Errors
/// Any [`LmError`], as one line.
pub fn sample_cli(a: &SampleArgs) -> Result<(), LmError> {
    let text = sample(&SampleOptions {
        checkpoint: a.checkpoint.clone(),
        prompt: a.prompt.clone(),
        temperature: a.temperature,
        top_k: a.top_k,
        length: a.length,
        seed: a.seed,
    })?;
    println!("{text}");
    Ok(())
}
