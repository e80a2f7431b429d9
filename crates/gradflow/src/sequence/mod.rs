//! `gradflow sequence`: vanishing and exploding gradients in time, measured on recurrent
//! networks from `gradflow-recurrent`.
//!
//! A recurrent network unrolled over T steps is a T-layer network whose layers share one
//! weight matrix. For h_t = tanh(W_ih x_t + W_hh h_{t−1} + b), backpropagation through time
//! (BPTT) carries a loss's gradient from step s to s − 1 through ∂h_s/∂h_{s−1} =
//! diag(1 − h_s²)·W_hh, so a loss at step T reaches step t multiplied by T − t such Jacobians:
//!
//! ‖∂L/∂h_t‖ ≤ (σ_max(W_hh)·max tanh′)^(T−t) ‖∂L/∂h_T‖,
//!
//! which vanishes exponentially when σ_max(W_hh) < 1 and can explode when W_hh's spectral
//! radius exceeds 1 (Bengio et al. 1994; Pascanu et al. 2013). The LSTM's cell path has
//! ∂c_t/∂c_{t−1} = diag(f_t), with no weight matrix and no squashing derivative on it
//! (Hochreiter & Schmidhuber 1997); the GRU's update h′ = (1 − z) ⊙ n + z ⊙ h has diag(z).
//!
//! Three experiments:
//! 1. [`through_time`] — ‖∂L/∂h_t‖ against t at initialization, loss at the last step only.
//! 2. The adding problem ([`adding`], [`train`]) — tanh RNN, LSTM and GRU trained with Adam,
//!    with and without `clip_grad_norm`: who gets below the constant predictor's MSE 1/6?
//! 3. The copy task ([`copy`]) — memorize 10 symbols over a delay T, against the memoryless
//!    baseline 10·ln 8/(T + 20) (not in the default run: it needs thousands of steps).
//! 4. An exploding configuration — a tanh RNN whose W_hh is orthogonal times a gain > 1,
//!    trained with plain SGD, with and without clipping.
//!
//! [`run`] runs the selected experiments and writes the report files into a
//! [`ReportDir`]; the caller commits it.

pub mod adding;
pub mod copy;
pub mod model;
pub mod report;
pub mod through_time;
pub mod train;

use serde::{Deserialize, Serialize};

use crate::run::figures::PlotError;
use crate::run::{ReportDir, ReportDirError};

pub use adding::{AddingBatch, CONSTANT_MSE};
pub use copy::{CopyBatch, CopyRun, CopySetup, copy_baseline};
pub use model::{Arch, SequenceModel, SteppedModel};
pub use report::SequenceReport;
pub use through_time::GradientCurve;
pub use train::{OptimChoice, TrainRun, TrainSetup};

/// The sequence experiments could not run or their report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// An option is out of range; the message names it.
    #[error("{0}")]
    InvalidOption(String),
    /// The optimizer refused its hyperparameters.
    #[error("optimizer: {0}")]
    Optim(#[from] gradflow_optimizers::OptimError),
    /// A file of the report folder.
    #[error(transparent)]
    Dir(#[from] ReportDirError),
    /// A figure.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// One of the experiments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Experiment {
    /// ‖∂L/∂h_t‖ against t.
    Gradients,
    /// The adding problem.
    Adding,
    /// Large recurrent init, SGD, with and without clipping.
    Exploding,
    /// The copy task (memorize 10 symbols over a delay).
    Copy,
}

impl Experiment {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Gradients => "gradients",
            Experiment::Adding => "adding",
            Experiment::Exploding => "exploding",
            Experiment::Copy => "copy",
        }
    }

    /// The experiment called `name`.
    pub fn parse(name: &str) -> Option<Experiment> {
        [
            Experiment::Gradients,
            Experiment::Adding,
            Experiment::Exploding,
            Experiment::Copy,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }
}

/// What to run. The defaults are small enough to finish in well under a minute per experiment
/// on two cores; `docs/recurrent.md` gives the settings of the documented run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SequenceOptions {
    /// Which experiments, in this order.
    pub experiments: Vec<Experiment>,
    /// Sequence length T.
    pub seq_len: usize,
    /// Hidden units H.
    pub hidden: usize,
    /// Sequences per batch (training step, and the gradient measurement).
    pub batch: usize,
    /// Networks of the gradient experiment.
    pub gradient_archs: Vec<Arch>,
    /// Networks of the adding problem.
    pub adding_archs: Vec<Arch>,
    /// Most Adam steps per adding-problem run.
    pub steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Clip value c of the clipped runs (global L2 norm).
    pub clip: f64,
    /// Held-out MSE every this many steps.
    pub eval_every: usize,
    /// Held-out sequences.
    pub eval_batch: usize,
    /// A run stops once its held-out MSE is below this.
    pub target_mse: f64,
    /// W_hh gain of the exploding configuration.
    pub exploding_gain: f64,
    /// SGD learning rate of the exploding configuration.
    pub exploding_lr: f64,
    /// SGD steps of the exploding configuration.
    pub exploding_steps: usize,
    /// Delay T of the copy task.
    pub copy_delay: usize,
    /// Most Adam steps per copy-task run (a run stops once it recalls every held-out symbol).
    pub copy_steps: usize,
    /// Networks of the copy task (each trained with clipping).
    pub copy_archs: Vec<Arch>,
    /// Seed for weights and data.
    pub seed: u64,
}

impl Default for SequenceOptions {
    fn default() -> Self {
        SequenceOptions {
            experiments: vec![
                Experiment::Gradients,
                Experiment::Adding,
                Experiment::Exploding,
            ],
            seq_len: 200,
            hidden: 64,
            batch: 32,
            gradient_archs: Arch::ALL.to_vec(),
            adding_archs: vec![Arch::RnnTanh, Arch::LstmForgetBias, Arch::Gru],
            steps: 100,
            lr: 3e-3,
            clip: 1.0,
            eval_every: 25,
            eval_batch: 500,
            target_mse: 0.01,
            exploding_gain: 3.0,
            exploding_lr: 0.2,
            exploding_steps: 300,
            copy_delay: 100,
            copy_steps: 300,
            copy_archs: vec![Arch::RnnTanh, Arch::LstmForgetBias, Arch::Gru],
            seed: 0,
        }
    }
}

impl SequenceOptions {
    /// Check the ranges.
    ///
    /// # Errors
    /// [`SequenceError::InvalidOption`] naming the option.
    pub fn validate(&self) -> Result<(), SequenceError> {
        let bad = |m: String| Err(SequenceError::InvalidOption(m));
        if self.seq_len < 2 {
            return bad(format!(
                "--seq-len {}: the adding problem needs at least 2 steps",
                self.seq_len
            ));
        }
        for (name, v) in [
            ("--hidden", self.hidden),
            ("--batch", self.batch),
            ("--eval-every", self.eval_every),
            ("--eval-batch", self.eval_batch),
            ("--copy-delay", self.copy_delay),
        ] {
            if v == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        for (name, v) in [("--lr", self.lr), ("--exploding-lr", self.exploding_lr)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} {v} must be a positive, finite number"));
            }
        }
        for (name, v) in [
            ("--clip", self.clip),
            ("--exploding-gain", self.exploding_gain),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} {v} must be a positive, finite number"));
            }
        }
        if !(self.target_mse.is_finite() && self.target_mse >= 0.0) {
            return bad(format!(
                "--target-mse {} must be a finite number ≥ 0",
                self.target_mse
            ));
        }
        Ok(())
    }

    /// Bytes the largest step needs, in f64 (no overflow): the activations BPTT keeps, about
    /// 8 values per gate unit per step and sequence (gate pre-activations, gates, states and
    /// their gradients), for a 4-gate LSTM, the held-out batch included; plus the weights;
    /// plus the curves every run keeps (a loss and gradient norm per step, a held-out MSE per
    /// evaluation, about 64 bytes a step for each of the six adding-problem runs).
    pub fn memory_estimate(&self) -> f64 {
        let rows = (self.batch.max(self.eval_batch)) as f64 * self.seq_len as f64;
        let h = self.hidden as f64;
        let copy_rows = if self.experiments.contains(&Experiment::Copy) {
            (self.batch.max(self.eval_batch) * (self.copy_delay + 20)) as f64
        } else {
            0.0
        };
        let curves = 6.0 * 64.0 * (self.steps.max(self.copy_steps) as f64 + 1.0);
        4.0 * (8.0 * 4.0 * h * rows.max(copy_rows) + 3.0 * 4.0 * h * (h + 12.0)) + curves
    }

    fn setup(&self, clip: Option<f64>) -> TrainSetup {
        TrainSetup {
            seq_len: self.seq_len,
            hidden: self.hidden,
            batch: self.batch,
            steps: self.steps,
            optim: OptimChoice::Adam { lr: self.lr },
            clip,
            recurrent_gain: 1.0,
            eval_every: self.eval_every,
            target_mse: self.target_mse,
            seed: self.seed,
        }
    }

    fn exploding_setup(&self, clip: Option<f64>) -> TrainSetup {
        TrainSetup {
            steps: self.exploding_steps,
            optim: OptimChoice::Sgd {
                lr: self.exploding_lr,
            },
            recurrent_gain: self.exploding_gain,
            target_mse: 0.0,
            ..self.setup(clip)
        }
    }
}

/// Run the selected experiments, write their files into `out` (not committed: the caller
/// commits) and return the results. `progress` receives one line per finished measurement or
/// run; a progress bar ([`crate::run::progress::bar`]) counts the steps meanwhile.
///
/// # Errors
/// An invalid option, the optimizer's refusal, or a write error naming the file.
pub fn run(
    opts: &SequenceOptions,
    out: &ReportDir,
    mut progress: impl FnMut(&str),
) -> Result<SequenceReport, SequenceError> {
    opts.validate()?;
    let mut report = SequenceReport {
        options: opts.clone(),
        gradients: Vec::new(),
        adding: Vec::new(),
        exploding: Vec::new(),
        copy: Vec::new(),
    };
    let total = opts
        .experiments
        .iter()
        .map(|e| match e {
            Experiment::Gradients => opts.gradient_archs.len(),
            Experiment::Adding => 2 * opts.adding_archs.len() * opts.steps,
            Experiment::Exploding => 2 * opts.exploding_steps,
            Experiment::Copy => opts.copy_archs.len() * opts.copy_steps,
        })
        .sum::<usize>();
    let bar = crate::run::progress::bar(total as u64);
    let mut eval_rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(opts.seed ^ 0xe7a1);
    let eval = AddingBatch::sample(opts.seq_len, opts.eval_batch, &mut eval_rng);
    let mut probe_rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(opts.seed ^ 0x9ad);
    // One batch on which every gradient-through-time curve is measured, at initialization
    // and after training.
    let probe = AddingBatch::sample(opts.seq_len, opts.batch, &mut probe_rng);
    for &e in &opts.experiments {
        match e {
            Experiment::Gradients => {
                for &arch in &opts.gradient_archs {
                    bar.set_message(format!("gradients: {}", arch.name()));
                    let c = through_time::measure(arch, opts.hidden, &probe, opts.seed);
                    progress(&format!(
                        "gradients {}: ‖∂L/∂h_1‖/‖∂L/∂h_T‖ = {:.2e}",
                        arch.name(),
                        c.ratio()
                    ));
                    report.gradients.push(c);
                    bar.inc(1);
                }
            }
            Experiment::Adding => {
                for clip in [None, Some(opts.clip)] {
                    for &arch in &opts.adding_archs {
                        let setup = opts.setup(clip);
                        let name = format!(
                            "adding: {}{}",
                            arch.name(),
                            if clip.is_some() { "+clip" } else { "" }
                        );
                        bar.set_message(name.clone());
                        let before = bar.position();
                        let (mut r, model) =
                            train::train_model(arch, &setup, &eval, |_| bar.inc(1))?;
                        if r.diverged.is_none() {
                            let stepped = SteppedModel::from_sequence_model(&model);
                            r.gradients_after =
                                Some(through_time::measure_model(arch, &stepped, &probe));
                        }
                        bar.set_position(before + opts.steps as u64);
                        progress(&format!(
                            "{name}: held-out MSE {:.4} after {} steps ({:.1}s){}",
                            r.final_mse(),
                            r.steps(),
                            r.wall_s,
                            r.diverged
                                .as_ref()
                                .map_or(String::new(), |d| format!(", diverged: {d}"))
                        ));
                        report.adding.push(r);
                    }
                }
            }
            Experiment::Exploding => {
                for clip in [None, Some(opts.clip)] {
                    let setup = opts.exploding_setup(clip);
                    bar.set_message(format!(
                        "exploding: rnn-tanh ×{}{}",
                        opts.exploding_gain,
                        if clip.is_some() { "+clip" } else { "" }
                    ));
                    let before = bar.position();
                    let r = train::train(Arch::RnnTanhOrthogonal, &setup, &eval, |_| bar.inc(1))?;
                    bar.set_position(before + opts.exploding_steps as u64);
                    progress(&format!(
                        "exploding {}: loss {:.4} → {:.4}, max ‖g‖ {:.2e}{}",
                        r.label(),
                        r.losses.first().copied().unwrap_or(f32::NAN),
                        r.losses.last().copied().unwrap_or(f32::NAN),
                        r.grad_norms.iter().copied().fold(0.0f32, f32::max),
                        r.diverged
                            .as_ref()
                            .map_or(String::new(), |d| format!(", diverged: {d}"))
                    ));
                    report.exploding.push(r);
                }
            }
            Experiment::Copy => {
                let setup = CopySetup {
                    delay: opts.copy_delay,
                    hidden: opts.hidden,
                    batch: opts.batch,
                    steps: opts.copy_steps,
                    lr: opts.lr,
                    clip: Some(opts.clip),
                    eval_every: opts.eval_every,
                    seed: opts.seed,
                };
                let mut copy_rng =
                    <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(opts.seed ^ 0xc09e);
                let held = CopyBatch::sample(opts.copy_delay, opts.eval_batch, &mut copy_rng);
                for &arch in &opts.copy_archs {
                    bar.set_message(format!("copy: {}+clip", arch.name()));
                    let before = bar.position();
                    let r = copy::train(arch, &setup, &held, |_| bar.inc(1))?;
                    bar.set_position(before + opts.copy_steps as u64);
                    let (ce, acc) = r.last();
                    progress(&format!(
                        "copy {}: held-out CE {ce:.4} (baseline {:.4}), recall {:.1}% after {} steps ({:.1}s){}",
                        r.label(),
                        copy_baseline(opts.copy_delay),
                        100.0 * acc,
                        r.losses.len(),
                        r.wall_s,
                        r.diverged
                            .as_ref()
                            .map_or(String::new(), |d| format!(", diverged: {d}"))
                    ));
                    report.copy.push(r);
                }
            }
        }
    }
    bar.finish_and_clear();
    report.write(out)?;
    Ok(report)
}
