//! The copy task (Hochreiter & Schmidhuber 1997, §5.2; the form of Arjovsky, Shah & Bengio
//! 2016, §4.1): memorize 10 symbols, wait T steps, write them back.
//!
//! The alphabet has 10 categories: the data symbols 1 … 8, the blank 0 and the delimiter 9.
//! An input sequence has T + 20 steps:
//!
//! ```text
//! input:  s₁ … s₁₀  0 … 0 (T − 1 blanks)  9  0 … 0 (10 blanks)
//! target: 0 … 0 (T + 10 blanks)                s₁ … s₁₀
//! ```
//!
//! with s_k drawn uniformly from {1, …, 8}. The network reads the one-hot input and predicts
//! one of the 9 output categories (blank or a data symbol) at every step; the loss is the
//! cross-entropy averaged over all T + 20 steps.
//!
//! **The baseline.** A network without memory can still learn *when* to answer (the blanks
//! before the delimiter, then 10 symbols): it outputs the blank with certainty for the first
//! T + 10 steps (loss 0) and the uniform distribution over the 8 symbols for the last 10
//! (loss ln 8 each). Its mean cross-entropy is
//!
//! ```text
//! 10 · ln 8 / (T + 20)        (0.1733 nats at T = 100)
//! ```
//!
//! and only a network that carries the 10 symbols across the T-step delay gets below it:
//! the gradient that teaches it to store s_k must travel back T + 10 steps.

use std::time::Instant;

use gradflow_layers::{Linear, LinearConfig};
use gradflow_optimizers::{Adam, AdamConfig, OptimError, Optimizer};
use gradflow_recurrent::{Gru, Lstm, Nonlinearity, RecurrentConfig, Rnn};
use gradflow_tensor::{Module, Reduction, Tensor, no_grad};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::model::Arch;
use crate::run::{DivergenceGuard, clipped_norm};

/// Symbols to memorize.
pub const COPY_SYMBOLS: usize = 10;
/// Input categories: blank 0, data 1 … 8, delimiter 9.
pub const COPY_INPUTS: usize = 10;
/// Output categories: blank 0, data 1 … 8.
pub const COPY_OUTPUTS: usize = 9;
/// The delimiter's input category.
pub const DELIMITER: usize = 9;

/// The memoryless baseline's mean cross-entropy at delay `t`, 10·ln 8 / (T + 20), in nats.
pub fn copy_baseline(t: usize) -> f64 {
    COPY_SYMBOLS as f64 * 8f64.ln() / (t + 2 * COPY_SYMBOLS) as f64
}

/// One batch of copy sequences, time-major.
#[derive(Clone, Debug)]
pub struct CopyBatch {
    /// The delay T.
    pub delay: usize,
    /// Sequences B.
    pub batch: usize,
    /// Input category of step t, sequence b at `t·B + b` (T + 20 steps).
    pub inputs: Vec<usize>,
    /// Target category, same layout.
    pub targets: Vec<usize>,
}

impl CopyBatch {
    /// Draw `batch` sequences with delay `delay`.
    ///
    /// # Panics
    /// If `delay` is 0 (the delimiter needs a step).
    pub fn sample<R: Rng + ?Sized>(delay: usize, batch: usize, rng: &mut R) -> Self {
        assert!(delay >= 1, "copy task: delay T = 0, need at least 1 step");
        let steps = delay + 2 * COPY_SYMBOLS;
        let mut inputs = vec![0usize; steps * batch];
        let mut targets = vec![0usize; steps * batch];
        for b in 0..batch {
            for k in 0..COPY_SYMBOLS {
                let s = rng.random_range(1..=8usize);
                inputs[k * batch + b] = s;
                targets[(delay + COPY_SYMBOLS + k) * batch + b] = s;
            }
            inputs[(COPY_SYMBOLS + delay - 1) * batch + b] = DELIMITER;
        }
        CopyBatch {
            delay,
            batch,
            inputs,
            targets,
        }
    }

    /// Steps per sequence, T + 20.
    pub fn steps(&self) -> usize {
        self.delay + 2 * COPY_SYMBOLS
    }

    /// The one-hot inputs `[T + 20, B, 10]`.
    pub fn one_hot(&self) -> Tensor {
        let mut x = vec![0.0f32; self.inputs.len() * COPY_INPUTS];
        for (i, &c) in self.inputs.iter().enumerate() {
            x[i * COPY_INPUTS + c] = 1.0;
        }
        Tensor::from_vec(x, &[self.steps(), self.batch, COPY_INPUTS])
    }
}

/// A one-layer recurrent network with a Linear(H → 9) readout at every step.
pub struct CopyModel {
    layer: Box<dyn Module>,
    readout: Linear,
}

impl std::fmt::Debug for CopyModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyModel")
            .field("parameters", &self.parameters().len())
            .finish()
    }
}

impl CopyModel {
    /// Build `arch` with `hidden` units.
    pub fn new<R: Rng + ?Sized>(arch: Arch, hidden: usize, rng: &mut R) -> Self {
        let cfg = RecurrentConfig::new(COPY_INPUTS, hidden).with_init(arch.init());
        let layer: Box<dyn Module> = match arch {
            Arch::RnnTanh | Arch::RnnTanhOrthogonal => {
                Box::new(Rnn::new(&cfg, Nonlinearity::Tanh, rng))
            }
            Arch::Lstm | Arch::LstmForgetBias => Box::new(Lstm::new(&cfg, rng)),
            Arch::Gru => Box::new(Gru::new(&cfg, rng)),
        };
        CopyModel {
            layer,
            readout: LinearConfig::new(hidden, COPY_OUTPUTS).init(rng),
        }
    }

    /// Logits `[(T + 20)·B, 9]`, step-major.
    pub fn logits(&self, batch: &CopyBatch) -> Tensor {
        let y = self.layer.forward(&batch.one_hot());
        let (t, b, h) = (y.shape()[0], y.shape()[1], y.shape()[2]);
        self.readout.forward(&y.reshape(&[t * b, h]))
    }

    /// Every trainable tensor.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut p = self.layer.parameters();
        p.extend(self.readout.parameters());
        p
    }
}

/// Held-out cross-entropy (nats per step) and the fraction of the 10 recalled symbols that
/// the arg-max gets right.
pub fn evaluate(model: &CopyModel, eval: &CopyBatch) -> (f64, f64) {
    no_grad(|| {
        let logits = model.logits(eval);
        let ce = f64::from(
            logits
                .cross_entropy(&eval.targets, Reduction::Mean, 0.0)
                .item(),
        );
        let z = logits.to_vec();
        let first = (eval.delay + COPY_SYMBOLS) * eval.batch;
        let mut right = 0usize;
        for i in first..eval.targets.len() {
            let row = &z[i * COPY_OUTPUTS..(i + 1) * COPY_OUTPUTS];
            let best = (0..COPY_OUTPUTS)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0);
            right += usize::from(best == eval.targets[i]);
        }
        let n = (eval.targets.len() - first).max(1);
        (ce, right as f64 / n as f64)
    })
}

/// How the copy task is trained.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CopySetup {
    /// The delay T.
    pub delay: usize,
    /// Hidden units H.
    pub hidden: usize,
    /// Sequences per step.
    pub batch: usize,
    /// The most Adam steps.
    pub steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Clip the global gradient norm to this value (`None`: no clipping).
    pub clip: Option<f64>,
    /// Held-out evaluation every this many steps (and at the end).
    pub eval_every: usize,
    /// Seed for the weights and the training batches.
    pub seed: u64,
}

/// One copy-task run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CopyRun {
    /// The network.
    pub arch: Arch,
    /// Clip value, if clipped.
    pub clip: Option<f64>,
    /// Training cross-entropy of every step.
    pub losses: Vec<f32>,
    /// Global gradient norm of every step, before clipping.
    pub grad_norms: Vec<f32>,
    /// (step, held-out cross-entropy, recall accuracy), the first at step 0.
    pub evals: Vec<(usize, f64, f64)>,
    /// The first evaluated step at which every recalled symbol of the held-out batch was right.
    pub solved_at: Option<usize>,
    /// Why the run was stopped as diverged, if it was.
    pub diverged: Option<String>,
    /// Wall time.
    pub wall_s: f64,
}

impl CopyRun {
    /// `lstm+clip`, `rnn-tanh`, …
    pub fn label(&self) -> String {
        format!(
            "{}{}",
            self.arch.name(),
            if self.clip.is_some() { "+clip" } else { "" }
        )
    }

    /// The last held-out cross-entropy and recall accuracy (NaN if none).
    pub fn last(&self) -> (f64, f64) {
        self.evals
            .last()
            .map_or((f64::NAN, f64::NAN), |e| (e.1, e.2))
    }
}

/// Train `arch` on the copy task, evaluating on `eval`; `progress` is called after every step.
///
/// # Errors
/// The optimizer's error for an invalid learning rate.
pub fn train(
    arch: Arch,
    setup: &CopySetup,
    eval: &CopyBatch,
    mut progress: impl FnMut(usize),
) -> Result<CopyRun, OptimError> {
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(setup.seed);
    let model = CopyModel::new(arch, setup.hidden, &mut rng);
    let params = model.parameters();
    let mut opt = Adam::new(
        &params,
        AdamConfig {
            lr: setup.lr,
            ..AdamConfig::default()
        },
    )?;
    let mut data_rng = StdRng::seed_from_u64(setup.seed ^ 0xc0b1_da7a);
    let (ce0, acc0) = evaluate(&model, eval);
    let mut run = CopyRun {
        arch,
        clip: setup.clip,
        losses: Vec::with_capacity(setup.steps),
        grad_norms: Vec::with_capacity(setup.steps),
        evals: vec![(0, ce0, acc0)],
        solved_at: None,
        diverged: None,
        wall_s: 0.0,
    };
    let mut guard = DivergenceGuard::new();
    for step in 1..=setup.steps {
        let batch = CopyBatch::sample(setup.delay, setup.batch, &mut data_rng);
        let loss = model
            .logits(&batch)
            .cross_entropy(&batch.targets, Reduction::Mean, 0.0);
        let value = loss.item();
        run.losses.push(value);
        if let Err(d) = guard.loss(step, value) {
            run.diverged = Some(d.to_string());
            break;
        }
        loss.backward();
        let norm = clipped_norm(&params, setup.clip);
        run.grad_norms.push(norm);
        if let Err(d) = guard.gradient_norm(step, f64::from(norm)) {
            run.diverged = Some(d.to_string());
            break;
        }
        opt.step();
        opt.zero_grad();
        progress(step);
        if step % setup.eval_every.max(1) == 0 || step == setup.steps {
            let (ce, acc) = evaluate(&model, eval);
            run.evals.push((step, ce, acc));
            if !ce.is_finite() {
                run.diverged = Some(format!("held-out cross-entropy became {ce} at step {step}"));
                break;
            }
            if acc >= 1.0 {
                run.solved_at = Some(step);
                break;
            }
        }
    }
    if run.diverged.is_none()
        && let Err(d) = guard.finish()
    {
        run.diverged = Some(d.to_string());
    }
    run.wall_s = start.elapsed().as_secs_f64();
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_targets_repeat_the_symbols_after_the_delimiter() {
        let mut rng = StdRng::seed_from_u64(1);
        let (t, b) = (5, 3);
        let d = CopyBatch::sample(t, b, &mut rng);
        assert_eq!(d.steps(), 25);
        for s in 0..b {
            let col = |v: &[usize]| (0..d.steps()).map(|k| v[k * b + s]).collect::<Vec<_>>();
            let (x, y) = (col(&d.inputs), col(&d.targets));
            assert!(x[..10].iter().all(|&c| (1..=8).contains(&c)));
            assert!(x[10..14].iter().all(|&c| c == 0), "{x:?}");
            assert_eq!(x[14], DELIMITER);
            assert!(x[15..].iter().all(|&c| c == 0));
            assert!(y[..15].iter().all(|&c| c == 0));
            assert_eq!(y[15..], x[..10]);
        }
    }

    #[test]
    fn the_memoryless_baseline_is_ten_ln_eight_over_t_plus_twenty() {
        // Logits that put all mass on the blank for T + 10 steps (a margin of 40 makes its
        // loss e^−40·8 ≈ 0 in f32) and are uniform over the 8 symbols (blank at −40) for the
        // last 10: the loss is 10·ln 8/(T + 20) up to f32 rounding of the log-softmax
        // (≈ 1e-6 relative).
        let mut rng = StdRng::seed_from_u64(2);
        let d = CopyBatch::sample(100, 4, &mut rng);
        let n = d.targets.len();
        let answer = (d.delay + COPY_SYMBOLS) * d.batch;
        let mut z = vec![0.0f32; n * COPY_OUTPUTS];
        for i in 0..n {
            if i < answer {
                z[i * COPY_OUTPUTS] = 40.0;
            } else {
                z[i * COPY_OUTPUTS] = -40.0;
            }
        }
        let ce = Tensor::from_vec(z, &[n, COPY_OUTPUTS])
            .cross_entropy(&d.targets, Reduction::Mean, 0.0)
            .item();
        let want = copy_baseline(100);
        assert!((f64::from(ce) - want).abs() < 1e-5, "{ce} vs {want}");
        assert!((want - 0.1733).abs() < 1e-4);
    }
}
