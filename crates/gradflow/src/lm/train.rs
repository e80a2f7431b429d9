//! The training loop of `gradflow train-lm`: truncated BPTT over contiguous streams, clipping,
//! Adam or AdamW, an optional cosine schedule, bits per character on the held-out end of the
//! text every epoch, metrics, curves and resumable checkpoints.
//!
//! # One step
//! Window w of the epoch ([`gradflow_data::Streams::window`]) gives inputs and targets
//! `[k, B]`. The model runs from the carried state (zeros at the start of every epoch), the
//! loss is the mean cross-entropy over the k·B predictions, backpropagation reaches the start
//! of the window only (the carried state is detached), the global gradient norm is clipped to
//! `--clip`, and the optimizer steps; then the scheduler (per step). The dropout masks of
//! global step s come from a generator seeded by (seed, s).
//!
//! # Bits per character
//! Train bpc of an epoch is the mean of its windows' losses weighted by their predictions,
//! divided by ln 2. Validation bpc runs the held-out streams in evaluation mode (no dropout),
//! carrying the state through all of its windows from zeros, and divides the summed
//! cross-entropy by the number of predictions and ln 2.
//!
//! # Resuming
//! A checkpoint is written at the end of every epoch and every `--checkpoint-every` steps. It
//! holds what the next step depends on: model, optimizer (Adam moments and step counts),
//! scheduler, the position (epoch, window), the carried state (as f32 bit patterns), the
//! epoch's running loss sum, the number of metrics rows, and the vocabulary. A resumed run
//! therefore takes bit-for-bit the steps the uninterrupted run would have taken.

use std::f64::consts::LN_2;
use std::time::Instant;

use gradflow_data::{Streams, TextCorpus, Vocabulary};
use gradflow_optimizers::{
    Adam, AdamConfig, AdamW, AdamWConfig, CosineAnnealingLr, LrScheduler, Optimizer,
};
use gradflow_recurrent::StateCarry;
use gradflow_tensor::{Module, Reduction, no_grad};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::LmError;
use super::data::TextSource;
use super::model::{CellChoice, CharLm, CharLmConfig, LmState};
use crate::run::figures::{Body, Figure, LinePanel, Look, Series, YScale, emit};
use crate::run::{DivergenceGuard, MetricsLog, Progress, RunDir, checkpoint, memory};

/// Adam or AdamW (PyTorch's defaults but the learning rate and, for AdamW, the decay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptimizerChoice {
    /// Adam.
    Adam,
    /// AdamW (decoupled weight decay).
    AdamW,
}

impl OptimizerChoice {
    /// `adam` or `adamw`.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerChoice::Adam => "adam",
            OptimizerChoice::AdamW => "adamw",
        }
    }
}

/// The learning-rate schedule, stepped once per optimizer step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// Constant.
    Constant,
    /// Cosine annealing to 0 over the planned steps (η_t = η₀·(1 + cos(πt/T))/2).
    Cosine,
}

impl Schedule {
    /// `constant` or `cosine`.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
        }
    }
}

/// Everything a `train-lm` run is given.
#[derive(Clone, Debug)]
pub struct LmOptions {
    /// The text.
    pub source: TextSource,
    /// The cell.
    pub cell: CellChoice,
    /// Embedding size.
    pub embed: usize,
    /// Hidden units per layer.
    pub hidden: usize,
    /// Recurrent layers.
    pub layers: usize,
    /// Dropout rate.
    pub dropout: f64,
    /// Truncated-BPTT window length.
    pub seq: usize,
    /// Streams per batch.
    pub batch: usize,
    /// Optimizer.
    pub optimizer: OptimizerChoice,
    /// Learning rate.
    pub lr: f64,
    /// AdamW's weight decay.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (None: no clipping).
    pub clip: Option<f64>,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Epochs (passes over the training streams).
    pub epochs: u64,
    /// Stop after this many steps in all (None: after the epochs).
    pub steps: Option<u64>,
    /// Seed for weights and dropout.
    pub seed: u64,
    /// Share of the text held out (from its end).
    pub valid_fraction: f64,
    /// Checkpoint every this many steps (and at every epoch end).
    pub checkpoint_every: u64,
    /// Also evaluate every this many steps (0: only at epoch ends and the last step).
    pub eval_every: u64,
}

impl Default for LmOptions {
    /// The no-flag run: the embedded text, a 2-layer LSTM of 128 units, about a minute on two
    /// cores.
    fn default() -> Self {
        LmOptions {
            source: TextSource::Embedded,
            cell: CellChoice::Lstm,
            embed: 64,
            hidden: 128,
            layers: 2,
            dropout: 0.0,
            seq: 64,
            batch: 32,
            optimizer: OptimizerChoice::Adam,
            lr: 3e-3,
            weight_decay: 0.01,
            clip: Some(1.0),
            schedule: Schedule::Constant,
            epochs: 8,
            steps: None,
            seed: 0,
            valid_fraction: 0.1,
            checkpoint_every: 200,
            eval_every: 0,
        }
    }
}

impl LmOptions {
    /// Check the ranges.
    ///
    /// # Errors
    /// [`LmError::InvalidOption`] naming the flag.
    pub fn validate(&self) -> Result<(), LmError> {
        let bad = |m: String| Err(LmError::InvalidOption(m));
        for (name, v) in [
            ("--embed", self.embed),
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--seq", self.seq),
            ("--batch", self.batch),
        ] {
            if v == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if self.epochs == 0 || self.steps == Some(0) {
            return bad("--epochs and --steps must be at least 1".into());
        }
        if self.checkpoint_every == 0 {
            return bad("--checkpoint-every must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout {} must lie in [0, 1)", self.dropout));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "--lr {} must be a positive, finite number",
                self.lr
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "--weight-decay {} must be a finite number ≥ 0",
                self.weight_decay
            ));
        }
        if let Some(c) = self.clip
            && !(c.is_finite() && c > 0.0)
        {
            return bad(format!("--clip {c} must be a positive, finite number"));
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 1.0) {
            return bad(format!(
                "--valid-fraction {} must lie strictly between 0 and 1",
                self.valid_fraction
            ));
        }
        Ok(())
    }

    fn model_config(&self, vocab: usize) -> CharLmConfig {
        CharLmConfig {
            vocab,
            embed: self.embed,
            hidden: self.hidden,
            layers: self.layers,
            dropout: self.dropout,
            cell: self.cell,
        }
    }

    /// Bytes a step needs, in f64: per layer and prediction about 16 values of the fused
    /// cell's forward and backward (gate pre-activations, gates, states and their gradients),
    /// the logits, probabilities and their gradient (3·V per prediction), and four copies of
    /// the weights (value, gradient, two Adam moments); plus the text as ids, twice.
    pub fn memory_estimate(&self, vocab: usize, text_len: usize) -> f64 {
        let rows = (self.seq as f64) * (self.batch as f64);
        let h = self.hidden as f64;
        let act = rows * (16.0 * 4.0 * h * self.layers as f64 + 3.0 * vocab as f64);
        let weights = 4.0 * self.model_config(vocab).num_parameters() as f64;
        4.0 * (act + weights) + 8.0 * text_len as f64
    }

    /// The settings that define a run, compared on `--resume` (epochs and steps may grow;
    /// the cosine schedule's length may not).
    fn config_json(&self, corpus: &TextCorpus, planned: u64) -> Value {
        json!({
            "text": self.source.name(),
            "text_len": corpus.len(),
            "text_fnv1a": format!("{:016x}", fnv1a(corpus.ids())),
            "unit": corpus.unit().name(),
            "vocab": corpus.vocab().len(),
            "cell": self.cell.name(),
            "embed": self.embed,
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": self.dropout,
            "seq": self.seq,
            "batch": self.batch,
            "optimizer": self.optimizer.name(),
            "lr": self.lr,
            "weight_decay": if self.optimizer == OptimizerChoice::AdamW { json!(self.weight_decay) } else { Value::Null },
            "clip": self.clip,
            "schedule": self.schedule.name(),
            "schedule_steps": if self.schedule == Schedule::Cosine { json!(planned) } else { Value::Null },
            "seed": self.seed,
            "valid_fraction": self.valid_fraction,
        })
    }
}

/// FNV-1a over the ids' little-endian bytes: a fingerprint of the text for `--resume`.
fn fnv1a(ids: &[u32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ids.iter().flat_map(|i| i.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The generator of step `step`'s dropout masks: a pure function of (seed, step).
fn step_rng(seed: u64, step: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xd809_0a7e)
}

/// What a finished run reports.
#[derive(Clone, Debug, Serialize)]
pub struct LmRun {
    /// Optimizer steps taken in all (a resumed run counts the steps before it).
    pub steps: u64,
    /// Completed epochs.
    pub epochs: u64,
    /// Train bpc of the last evaluated epoch.
    pub train_bpc: f64,
    /// Held-out bpc at the end.
    pub valid_bpc: f64,
    /// Wall time of the whole run, earlier sessions included.
    pub wall_s: f64,
    /// Vocabulary size.
    pub vocab: usize,
    /// Trainable values.
    pub parameters: usize,
}

/// Mean cross-entropy in nats per prediction of `streams`, in evaluation mode, the state
/// carried through its windows from zeros.
pub fn evaluate(model: &mut CharLm, streams: &Streams, seq: usize) -> f64 {
    model.set_training(false);
    let mut rng = StdRng::seed_from_u64(0);
    let (mut sum, mut n) = (0.0f64, 0usize);
    no_grad(|| {
        let mut state: Option<LmState> = None;
        for w in 0..streams.windows(seq) {
            let win = streams.window(w, seq);
            let (logits, last) =
                model.forward_window(&win.inputs, win.steps, win.batch, state.as_ref(), &mut rng);
            let tgt: Vec<usize> = win.targets.iter().map(|&t| t as usize).collect();
            sum += f64::from(logits.cross_entropy(&tgt, Reduction::Sum, 0.0).item());
            n += tgt.len();
            state = Some(last);
        }
    });
    model.set_training(true);
    sum / n.max(1) as f64
}

/// The columns of `metrics.csv`, one row per evaluation (every epoch end, every
/// `--eval-every` steps, and the last step when `--steps` stops mid-epoch). `train_bpc` is the
/// mean over the epoch's windows so far.
pub const METRICS_COLUMNS: [&str; 8] = [
    "epoch",
    "step",
    "train_bpc",
    "valid_bpc",
    "lr",
    "elapsed_s",
    "chars_per_s",
    "grad_norm",
];

/// Where a run stands between steps (what the checkpoint's `extra` holds).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Position {
    /// Next window of the current epoch.
    window: u64,
    /// Sum over the epoch's windows of loss × predictions, as f64 bits.
    loss_sum_bits: u64,
    /// Predictions in that sum.
    loss_count: u64,
    /// Carried state, each tensor's f32 bit patterns (empty at an epoch start).
    state: Vec<Vec<u32>>,
    /// Metrics rows written.
    metric_rows: usize,
    /// Wall time before this session.
    elapsed_s: f64,
    /// The vocabulary's characters.
    vocab: String,
    /// `char` or `byte`.
    unit: String,
}

fn mismatch(saved: &Value, now: &Value) -> Option<String> {
    let (Value::Object(a), Value::Object(b)) = (saved, now) else {
        return Some("the checkpoint's config is not an object".into());
    };
    let mut diffs = Vec::new();
    for (k, v) in b {
        let old = a.get(k).unwrap_or(&Value::Null);
        if old != v {
            diffs.push(format!("{k} was {old}, now {v}"));
        }
    }
    (!diffs.is_empty()).then(|| {
        format!(
            "the checkpoint belongs to another run ({}); resume with the same flags",
            diffs.join("; ")
        )
    })
}

/// Train as `opts` says in the run folder `dir` (resuming when it says so); `log` receives
/// a line per epoch.
///
/// # Errors
/// Any [`LmError`]: bad options, the text, the memory check, the run folder, the checkpoint,
/// a mismatch on resume, or a non-finite loss (naming the step).
pub fn train(opts: &LmOptions, dir: &RunDir, mut log: impl FnMut(&str)) -> Result<LmRun, LmError> {
    opts.validate()?;
    let corpus = opts.source.load()?;
    let split = corpus.split(opts.valid_fraction, opts.batch, opts.seq)?;
    let vocab = corpus.vocab().clone();
    memory::check(
        &format!(
            "train-lm --hidden {} --layers {} --batch {} --seq {}",
            opts.hidden, opts.layers, opts.batch, opts.seq
        ),
        opts.memory_estimate(vocab.len(), corpus.len()),
        memory::available(),
        "--batch, --seq, --hidden or --layers",
    )?;
    let per_epoch = split.train.windows(opts.seq) as u64;
    let planned = opts.steps.unwrap_or(u64::MAX).min(per_epoch * opts.epochs);
    let config = opts.config_json(&corpus, planned);

    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut model = CharLm::new(opts.model_config(vocab.len()), &mut rng);
    let params = model.parameters();
    let mut opt: Box<dyn Optimizer> = match opts.optimizer {
        OptimizerChoice::Adam => Box::new(Adam::new(
            &params,
            AdamConfig {
                lr: opts.lr,
                ..AdamConfig::default()
            },
        )?),
        OptimizerChoice::AdamW => Box::new(AdamW::new(
            &params,
            AdamWConfig {
                lr: opts.lr,
                weight_decay: opts.weight_decay,
                ..AdamWConfig::default()
            },
        )?),
    };
    let mut sched: Option<Box<dyn LrScheduler>> = match opts.schedule {
        Schedule::Constant => None,
        Schedule::Cosine => Some(Box::new(CosineAnnealingLr::new(
            opt.as_mut(),
            planned.max(1) as usize,
            0.0,
        )?)),
    };

    let (mut epoch, mut step, mut pos, mut metrics) = if dir.resuming() {
        let path = dir.checkpoint_path();
        let saved = checkpoint::peek(&path)?;
        if let Some(m) = mismatch(&saved.config, &config) {
            return Err(LmError::Mismatch(m));
        }
        let p = checkpoint::load(
            &path,
            &model,
            opt.as_mut(),
            sched.as_deref_mut().map(|s| s as &mut dyn LrScheduler),
        )?;
        let pos: Position = serde_json::from_value(p.extra.clone()).map_err(|e| {
            LmError::Mismatch(format!("{}: unreadable position: {e}", path.display()))
        })?;
        if Vocabulary::from_symbols(&pos.vocab).ok().as_ref() != Some(&vocab) {
            return Err(LmError::Mismatch(format!(
                "{}: the saved vocabulary differs from the text's",
                path.display()
            )));
        }
        let mut m = MetricsLog::read(dir.path())?;
        m.truncate(pos.metric_rows);
        (p.epoch, p.step, pos, m)
    } else {
        let pos = Position {
            vocab: vocab.symbols(),
            unit: corpus.unit().name().into(),
            ..Position::default()
        };
        (0, 0, pos, MetricsLog::new(&METRICS_COLUMNS))
    };
    if !dir.resuming() {
        let mut cfg = config.clone();
        cfg["parameters"] = json!(model.num_parameters());
        cfg["train_chars"] = json!(split.train.rows() * opts.batch);
        cfg["valid_chars"] = json!(split.valid.rows() * opts.batch);
        dir.write(
            "config.json",
            (serde_json::to_string_pretty(&cfg).unwrap_or_default() + "\n").as_bytes(),
        )?;
    }
    let mut carry: StateCarry<LmState> = StateCarry::new();
    if !pos.state.is_empty() {
        let values: Vec<Vec<f32>> = pos
            .state
            .iter()
            .map(|v| v.iter().map(|&b| f32::from_bits(b)).collect())
            .collect();
        let s = LmState::from_values(opts.cell, opts.layers, opts.batch, opts.hidden, &values)
            .ok_or_else(|| {
                LmError::Mismatch("the saved recurrent state has the wrong shape".into())
            })?;
        carry.store(s);
    }

    let session = Instant::now();
    let total = planned;
    let bar = crate::run::progress::bar(total);
    bar.set_position(step.min(total));
    let mut guard = DivergenceGuard::new();
    let mut last_norm: f64;
    let (mut window_chars, mut window_start) = (0u64, Instant::now());
    let mut last_train_bpc = f64::NAN;
    let mut last_valid_bpc = f64::NAN;
    let save = |epoch: u64,
                step: u64,
                pos: &Position,
                model: &CharLm,
                opt: &dyn Optimizer,
                sched: Option<&dyn LrScheduler>|
     -> Result<(), LmError> {
        let progress = Progress {
            epoch,
            step,
            config: config.clone(),
            extra: serde_json::to_value(pos).unwrap_or(Value::Null),
        };
        checkpoint::save(&dir.checkpoint_path(), model, opt, sched, &progress)?;
        Ok(())
    };

    'epochs: while epoch < opts.epochs && step < total {
        let windows = split.train.windows(opts.seq) as u64;
        while pos.window < windows {
            if step >= total {
                break 'epochs;
            }
            let win = split.train.window(pos.window as usize, opts.seq);
            step += 1;
            let mut drop_rng = step_rng(opts.seed, step);
            let state = carry.take();
            let (logits, last) = model.forward_window(
                &win.inputs,
                win.steps,
                win.batch,
                state.as_ref(),
                &mut drop_rng,
            );
            let tgt: Vec<usize> = win.targets.iter().map(|&t| t as usize).collect();
            let loss = logits.cross_entropy(&tgt, Reduction::Mean, 0.0);
            let value = loss.item();
            guard
                .loss(step as usize, value)
                .map_err(|d| LmError::Diverged(d.to_string()))?;
            loss.backward();
            let norm = guard
                .clip_and_check(step as usize, &params, opts.clip)
                .map_err(|d| LmError::Diverged(d.to_string()))?;
            last_norm = f64::from(norm);
            opt.step();
            opt.zero_grad();
            if let Some(s) = sched.as_deref_mut() {
                s.step(opt.as_mut());
            }
            carry.store(last);
            let sum = f64::from_bits(pos.loss_sum_bits) + f64::from(value) * tgt.len() as f64;
            pos.loss_sum_bits = sum.to_bits();
            pos.loss_count += tgt.len() as u64;
            pos.window += 1;
            window_chars += tgt.len() as u64;
            let rate = window_chars as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
            bar.set_position(step);
            bar.set_message(format!(
                "epoch {}: loss {value:.3} ({:.2} bpc), {rate:.0} chars/s",
                epoch + 1,
                f64::from(value) / LN_2
            ));
            if window_start.elapsed().as_secs_f64() > 5.0 {
                (window_chars, window_start) = (0, Instant::now());
            }
            let epoch_done = pos.window == windows;
            let run_done = step >= total;
            let eval_due = opts.eval_every > 0 && step % opts.eval_every == 0;
            if epoch_done || run_done || eval_due {
                let train_bpc = sum / pos.loss_count.max(1) as f64 / LN_2;
                let valid_bpc = evaluate(&mut model, &split.valid, opts.seq) / LN_2;
                let elapsed = pos.elapsed_s + session.elapsed().as_secs_f64();
                let frac = if epoch_done {
                    (epoch + 1) as f64
                } else {
                    epoch as f64 + pos.window as f64 / windows as f64
                };
                metrics.push(&[
                    frac,
                    step as f64,
                    train_bpc,
                    valid_bpc,
                    opt.lr(),
                    elapsed,
                    (step * (opts.seq * opts.batch) as u64) as f64 / elapsed.max(1e-9),
                    last_norm,
                ]);
                metrics.write(dir)?;
                pos.metric_rows = metrics.rows().len();
                bar.suspend(|| {
                    log(&format!(
                        "epoch {frac:.2} (step {step}): train {train_bpc:.3} bpc, validation {valid_bpc:.3} bpc, {elapsed:.0} s"
                    ))
                });
                (last_train_bpc, last_valid_bpc) = (train_bpc, valid_bpc);
            }
            if epoch_done {
                epoch += 1;
                pos.window = 0;
                pos.loss_sum_bits = 0f64.to_bits();
                pos.loss_count = 0;
                carry.reset();
            }
            if epoch_done || run_done || step % opts.checkpoint_every == 0 {
                pos.state = carry
                    .take()
                    .map(|s| {
                        s.tensors()
                            .iter()
                            .map(|t| t.to_vec().iter().map(|v| v.to_bits()).collect())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut p = pos.clone();
                p.elapsed_s = pos.elapsed_s + session.elapsed().as_secs_f64();
                save(epoch, step, &p, &model, opt.as_ref(), sched.as_deref())?;
            }
        }
    }
    bar.finish_and_clear();
    let wall_s = pos.elapsed_s + session.elapsed().as_secs_f64();
    gradflow_layers::checkpoint::save(&model, dir.path().join("model.safetensors"))?;
    emit(&curves(&metrics), dir.path(), "curves")?;
    if last_valid_bpc.is_nan() {
        // A resumed run that had nothing left to do: report the last row.
        if let Some(r) = metrics.rows().last() {
            (last_train_bpc, last_valid_bpc) = (r[2], r[3]);
        }
    }
    Ok(LmRun {
        steps: step,
        epochs: epoch,
        train_bpc: last_train_bpc,
        valid_bpc: last_valid_bpc,
        wall_s,
        vocab: vocab.len(),
        parameters: model.num_parameters(),
    })
}

/// Train and validation bpc against the step.
pub fn curves(metrics: &MetricsLog) -> Figure {
    let col = |n: &str| metrics.column(n).unwrap_or_default();
    let steps = col("step");
    let series = |name: &str, i: usize| Series {
        look: Look::nth(i),
        points: steps.iter().copied().zip(col(name)).collect(),
    };
    Figure {
        title: "Character language model: bits per character".into(),
        size: (1000, 520),
        body: Body::Lines {
            panels: vec![LinePanel {
                title: "bits per character".into(),
                x_desc: "optimizer step".into(),
                y_desc: "bpc".into(),
                y_scale: YScale::Linear,
                series: vec![series("train_bpc", 0), series("valid_bpc", 1)],
            }],
            legend: vec![
                ("train".into(), Look::nth(0)),
                ("validation (held-out end)".into(), Look::nth(1)),
            ],
        },
    }
}
