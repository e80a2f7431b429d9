//! The vanishing-gradient lab: a ladder of deep-MLP configurations, from the problem
//! (sigmoid with small random weights) through each standard cure, every one trained with a
//! small learning-rate sweep and measured with the [`diagnostics`](crate::diagnostics)
//! recorder.

pub mod figures;
pub mod model;
pub mod report;

use std::time::Instant;

use gradflow_clipping::{NormType, clip_grad_norm};
use gradflow_optimizers::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use gradflow_tensor::{Module, Reduction, Tensor, no_grad};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::data::Dataset;
use crate::diagnostics::{LayerStats, layer_stats};
use crate::run::{Divergence, DivergenceGuard};
use model::{Activation, InitScheme, LadderNet, MlpSpec, Norm};

/// Which optimizer trains a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum OptimizerKind {
    /// Plain SGD.
    Sgd,
    /// SGD with PyTorch-style momentum 0.9.
    Momentum,
    /// Adam with default betas.
    Adam,
}

impl OptimizerKind {
    /// The default learning-rate sweep for this optimizer.
    pub fn default_lrs(self) -> Vec<f64> {
        match self {
            OptimizerKind::Sgd => vec![0.1, 0.03, 0.01],
            OptimizerKind::Momentum => vec![0.03, 0.01, 0.003],
            OptimizerKind::Adam => vec![3e-3, 1e-3, 3e-4],
        }
    }

    fn build(self, params: &[Tensor], lr: f64) -> Box<dyn Optimizer> {
        let built: Result<Box<dyn Optimizer>, _> = match self {
            OptimizerKind::Sgd => Sgd::new(
                params,
                SgdConfig {
                    lr,
                    ..SgdConfig::default()
                },
            )
            .map(|o| Box::new(o) as Box<dyn Optimizer>),
            OptimizerKind::Momentum => Sgd::new(
                params,
                SgdConfig {
                    lr,
                    momentum: 0.9,
                    ..SgdConfig::default()
                },
            )
            .map(|o| Box::new(o) as Box<dyn Optimizer>),
            OptimizerKind::Adam => Adam::new(
                params,
                AdamConfig {
                    lr,
                    ..AdamConfig::default()
                },
            )
            .map(|o| Box::new(o) as Box<dyn Optimizer>),
        };
        // The lab validates learning rates before it gets here; the defaults are valid.
        built.unwrap_or_else(|e| panic!("lab: optimizer rejected its settings: {e}"))
    }
}

/// One rung of the ladder.
#[derive(Clone, Debug, Serialize)]
pub struct LabConfig {
    /// Short name, used on the command line and in file names.
    pub name: String,
    /// What this rung shows.
    pub about: String,
    /// The network, with depth/width filled in from the run options.
    pub spec: MlpSpec,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Global-norm clipping threshold, if any.
    pub clip: Option<f64>,
}

impl LabConfig {
    /// Bytes one training step of this configuration needs, estimated in f64 (no overflow
    /// for any flag value): parameters, their gradients and the optimizer's state (momentum:
    /// one buffer, Adam: two), plus the activations a step keeps for backward — about six
    /// `[batch, width]` tensors per block (linear output, norm output, activation, residual
    /// sum, and their gradients) — and the input batch; plus what the run keeps: the
    /// recorder's numbers of every logged step (seven values per block, in a `LayerStats` of
    /// about 48 bytes) for each learning rate of the sweep.
    pub fn memory_estimate(&self, opts: &LabOptions) -> f64 {
        let s = &self.spec;
        let (w, blocks, b) = (
            s.width as f64,
            (s.depth as f64 - 1.0).max(1.0),
            opts.batch as f64,
        );
        let logged = opts.steps as f64 / opts.log_every.max(1) as f64 + 2.0;
        let curves = 3.0 * logged * (48.0 * blocks + 64.0);
        let params =
            s.input as f64 * w + (blocks - 1.0) * w * w + w * s.classes as f64 + 3.0 * w * blocks;
        let state = match self.optimizer {
            OptimizerKind::Sgd => 0.0,
            OptimizerKind::Momentum => 1.0,
            OptimizerKind::Adam => 2.0,
        };
        let activations = 6.0 * b * w * blocks + b * (s.input + s.classes) as f64;
        4.0 * (params * (2.0 + state) + activations) + curves
    }

    /// Why this configuration cannot train at `batch`, if it cannot (BatchNorm needs two rows
    /// to estimate a variance, as PyTorch's `BatchNorm1d` raises "Expected more than 1 value
    /// per channel when training").
    pub fn batch_problem(&self, batch: usize) -> Option<String> {
        (self.spec.norm == Norm::Batch && batch < 2).then(|| {
            format!(
                "--batch {batch}: `{}` uses BatchNorm, which needs at least 2 rows per batch to \
                 estimate a variance; use --batch 2 or more, or leave it out with --only",
                self.name
            )
        })
    }
}

/// The largest group count ≤ `wanted` that divides `channels` (GroupNorm needs equal groups).
pub fn group_count(wanted: usize, channels: usize) -> usize {
    (1..=wanted.min(channels).max(1))
        .rev()
        .find(|&g| channels.is_multiple_of(g))
        .unwrap_or(1)
}

/// Sizes and schedule shared by every configuration of a run.
#[derive(Clone, Debug, Serialize)]
pub struct LabOptions {
    /// Linear layers per network.
    pub depth: usize,
    /// Depth of the very deep residual + GroupNorm rung.
    pub deep_depth: usize,
    /// Hidden width.
    pub width: usize,
    /// Training steps per run.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// Fixed learning rate instead of each optimizer's sweep.
    pub lr: Option<f64>,
    /// Seed for weights and batch order.
    pub seed: u64,
    /// Steps between recorder samples.
    pub log_every: usize,
    /// Held-out rows used for accuracy.
    pub eval_rows: usize,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            depth: 20,
            deep_depth: 100,
            width: 256,
            steps: 120,
            batch: 64,
            lr: None,
            seed: 0,
            log_every: 10,
            eval_rows: 2048,
        }
    }
}

/// The ladder of cures, in the order the report tells the story.
pub fn ladder(opts: &LabOptions, input: usize, classes: usize) -> Vec<LabConfig> {
    let spec = |activation, init, norm, residual| MlpSpec {
        depth: opts.depth,
        width: opts.width,
        input,
        classes,
        activation,
        init,
        norm,
        residual,
    };
    let cfg = |name: &str, about: &str, spec: MlpSpec, optimizer, clip| LabConfig {
        name: name.into(),
        about: about.into(),
        spec,
        optimizer,
        clip,
    };
    use Activation::*;
    use InitScheme::*;
    use OptimizerKind::*;
    let groups = group_count(8, opts.width);
    let mut deep = spec(Relu, He, Norm::Group(groups), true);
    deep.depth = opts.deep_depth;
    let deep_about = if groups == 8 {
        "very deep: residual + GroupNorm(8)".to_string()
    } else {
        format!(
            "very deep: residual + GroupNorm({groups}) (8 groups do not divide width {})",
            opts.width
        )
    };
    vec![
        cfg(
            "sigmoid-small",
            "the problem: sigmoid, N(0, 0.01²) weights",
            spec(Sigmoid, Normal(0.01), Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "sigmoid-xavier",
            "Glorot init keeps the forward variance, σ′ ≤ 1/4 still shrinks the backward signal",
            spec(Sigmoid, Xavier, Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "tanh-xavier",
            "tanh′(0) = 1: zero-centred, no 1/4 factor",
            spec(Tanh, Xavier, Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "relu-xavier",
            "ReLU with Glorot init: each layer halves the variance",
            spec(Relu, Xavier, Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "relu-he",
            "ReLU with He init: variance kept through depth",
            spec(Relu, He, Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "leaky-he",
            "Leaky ReLU (0.01): no dead units",
            spec(LeakyRelu, He, Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "prelu-he",
            "PReLU: the negative slope is learned",
            spec(Prelu, He, Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "elu-he",
            "ELU: smooth, negative outputs push the mean toward 0",
            spec(Elu, He, Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "relu-he-batchnorm",
            "BatchNorm before ReLU: pre-activations re-standardized",
            spec(Relu, He, Norm::Batch, false),
            Sgd,
            None,
        ),
        cfg(
            "relu-he-residual",
            "skip connections, branch scaled by 1/√blocks",
            spec(Relu, He, Norm::None, true),
            Sgd,
            None,
        ),
        cfg("deep-residual-groupnorm", &deep_about, deep, Sgd, None),
        cfg(
            "sigmoid-xavier-adam",
            "Adam rescales each weight's step: partly hides vanishing",
            spec(Sigmoid, Xavier, Norm::None, false),
            Adam,
            None,
        ),
        cfg(
            "relu-he-momentum",
            "optimizer axis: SGD with momentum 0.9",
            spec(Relu, He, Norm::None, false),
            Momentum,
            None,
        ),
        cfg(
            "relu-he-adam",
            "optimizer axis: Adam",
            spec(Relu, He, Norm::None, false),
            Adam,
            None,
        ),
        cfg(
            "exploding",
            "the opposite problem: ReLU, 1.5 × He weights (variance × 2.25 per layer)",
            spec(Relu, HeTimes(1.5), Norm::None, false),
            Sgd,
            None,
        ),
        cfg(
            "exploding-clipped",
            "the same with clip_grad_norm(1.0)",
            spec(Relu, HeTimes(1.5), Norm::None, false),
            Sgd,
            Some(1.0),
        ),
    ]
}

/// Loss and accuracy at one logged step.
#[derive(Clone, Debug, Serialize)]
pub struct CurvePoint {
    /// Step index (0 = before training).
    pub step: usize,
    /// Training loss on that step's batch.
    pub loss: f32,
    /// Training accuracy on that step's batch.
    pub accuracy: f32,
    /// Global gradient norm before any clipping.
    pub grad_norm: f32,
    /// The recorder's per-layer numbers at that step.
    pub layers: Vec<LayerStats>,
}

/// The outcome of training one configuration at one learning rate.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// Configuration name.
    pub config: String,
    /// Learning rate.
    pub lr: f64,
    /// True when the run diverged: a NaN/∞ loss or gradient, or a loss that grew (reported,
    /// not a crash; see [`crate::run::divergence`]).
    pub diverged: bool,
    /// Step at which it diverged.
    pub diverged_at: Option<usize>,
    /// Why it diverged, in words.
    pub divergence: Option<String>,
    /// Recorder samples, the first at step 0 (initialization).
    pub curve: Vec<CurvePoint>,
    /// Accuracy on held-out rows after training.
    pub heldout_accuracy: f32,
    /// Wall time of training.
    pub wall_s: f64,
    /// Training steps per second.
    pub steps_per_s: f64,
}

impl RunResult {
    /// Loss at the last logged step.
    pub fn final_loss(&self) -> f32 {
        self.curve.last().map_or(f32::NAN, |p| p.loss)
    }

    /// ‖∂L/∂h‖ of the first hidden layer over that of the last, at initialization: ≪ 1 means
    /// the backward signal vanishes on its way down, ≫ 1 that it explodes.
    pub fn first_last_ratio(&self) -> f32 {
        self.curve.first().map_or(f32::NAN, |p| {
            let (first, last) = (p.layers.first(), p.layers.last());
            match (first, last) {
                (Some(f), Some(l)) if l.grad_h_norm > 0.0 => f.grad_h_norm / l.grad_h_norm,
                _ => f32::NAN,
            }
        })
    }
}

/// Accuracy of `logits` against `labels`.
pub fn accuracy(logits: &Tensor, labels: &[usize]) -> f32 {
    let pred = logits.argmax(1);
    let hits = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
    hits as f32 / labels.len().max(1) as f32
}

/// Train `config` at learning rate `lr`, calling `tick` after every step.
pub fn run(
    config: &LabConfig,
    lr: f64,
    opts: &LabOptions,
    train: &Dataset,
    test: &Dataset,
    mut tick: impl FnMut(),
) -> RunResult {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut net = LadderNet::new(config.spec, &mut rng);
    let params = net.parameters();
    let mut optimizer = config.optimizer.build(&params, lr);
    let mut curve = Vec::new();
    let (mut guard, mut divergence, start) = (DivergenceGuard::new(), None, Instant::now());
    let mut batch_rng = StdRng::seed_from_u64(opts.seed ^ 0x9e37_79b9);
    let derivative = config.spec.activation.derivative_from_output();
    for step in 0..=opts.steps {
        let idx: Vec<usize> = (0..opts.batch)
            .map(|_| batch_rng.random_range(0..train.len()))
            .collect();
        let (x, y) = train.batch(&idx);
        let logging = step % opts.log_every == 0 || step == opts.steps;
        let (logits, traces) = if logging {
            net.forward_traced(&x)
        } else {
            (net.forward(&x), Vec::new())
        };
        let loss = logits.cross_entropy(&y, Reduction::Mean, 0.0);
        let loss_value = loss.item();
        if let Err(d) = guard.loss(step, loss_value) {
            divergence = Some(d);
            break;
        }
        loss.backward();
        // Every step: a NaN gradient with a finite loss must never reach the weights.
        let grad_norm = match config.clip {
            Some(max) => clip_grad_norm(&params, max, NormType::L2),
            None => gradflow_clipping::grad_norm(&params, NormType::L2),
        };
        if logging {
            curve.push(CurvePoint {
                step,
                loss: loss_value,
                accuracy: accuracy(&logits, &y),
                grad_norm,
                layers: layer_stats(&traces, derivative),
            });
        }
        drop((logits, traces, loss));
        if let Err(d) = guard.gradient_norm(step, f64::from(grad_norm)) {
            divergence = Some(d);
            break;
        }
        if step < opts.steps {
            optimizer.step();
        }
        optimizer.zero_grad();
        tick();
    }
    if divergence.is_none() {
        divergence = guard.finish().err();
    }
    let wall_s = start.elapsed().as_secs_f64();
    let diverged_at = divergence.as_ref().map(Divergence::step);
    let steps_done = diverged_at.unwrap_or(opts.steps).max(1);
    net.eval();
    let heldout_accuracy = if divergence.is_some() {
        f32::NAN
    } else {
        evaluate(&net, test, opts.eval_rows)
    };
    RunResult {
        config: config.name.clone(),
        lr,
        diverged: divergence.is_some(),
        diverged_at,
        divergence: divergence.map(|d| d.to_string()),
        curve,
        heldout_accuracy,
        wall_s,
        steps_per_s: steps_done as f64 / wall_s.max(1e-9),
    }
}

/// Held-out accuracy over the first `rows` rows of `test`, in evaluation mode.
pub fn evaluate(net: &LadderNet, test: &Dataset, rows: usize) -> f32 {
    let n = rows.min(test.len());
    let mut hits = 0.0;
    for start in (0..n).step_by(512) {
        let idx: Vec<usize> = (start..(start + 512).min(n)).collect();
        let (x, y) = test.batch(&idx);
        let logits = no_grad(|| net.forward(&x));
        hits += accuracy(&logits, &y) * y.len() as f32;
    }
    hits / n.max(1) as f32
}

/// The best stable run of a sweep: highest held-out accuracy among those that did not
/// diverge.
pub fn best(runs: &[RunResult]) -> Option<&RunResult> {
    runs.iter()
        .filter(|r| !r.diverged && r.heldout_accuracy.is_finite())
        .max_by(|a, b| a.heldout_accuracy.total_cmp(&b.heldout_accuracy))
}
