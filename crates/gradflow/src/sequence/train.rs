//! Training a [`SequenceModel`] on the adding problem, with or without gradient clipping.
//!
//! Each step draws a fresh batch (the same batches, in the same order, for every network of a
//! run: one data seed), computes the MSE of the prediction at the last step, backpropagates
//! through all T steps, optionally rescales the global gradient norm,
//! g ← g · min(1, c/‖g‖) (`clip_grad_norm`, Pascanu et al. 2013), and takes an optimizer step.
//! Every `eval_every` steps the MSE on a fixed held-out batch is recorded; a run stops early
//! once that MSE is below the target (the step is reported), and is stopped as diverged by
//! [`DivergenceGuard`] (non-finite loss or gradient, or a loss that grew).

use std::time::Instant;

use gradflow_optimizers::{Adam, AdamConfig, OptimError, Optimizer, Sgd, SgdConfig};
use gradflow_tensor::{Reduction, no_grad};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::adding::AddingBatch;
use super::model::{Arch, SequenceModel};
use super::through_time::GradientCurve;
use crate::run::{DivergenceGuard, clipped_norm};

/// The optimizer of a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimChoice {
    /// Adam with PyTorch's defaults except the learning rate.
    Adam {
        /// Learning rate.
        lr: f64,
    },
    /// Plain SGD (no momentum): a step is −η·g, so an exploding g throws the weights as far.
    Sgd {
        /// Learning rate.
        lr: f64,
    },
}

/// How one network is trained.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSetup {
    /// Sequence length T.
    pub seq_len: usize,
    /// Hidden units H.
    pub hidden: usize,
    /// Sequences per step.
    pub batch: usize,
    /// The most optimizer steps.
    pub steps: usize,
    /// The optimizer.
    pub optim: OptimChoice,
    /// Clip the global gradient norm to this value (`None`: no clipping).
    pub clip: Option<f64>,
    /// Multiply W_hh by this gain after initialization (1: as initialized).
    pub recurrent_gain: f64,
    /// Held-out MSE every this many steps (and at the end).
    pub eval_every: usize,
    /// Stop once the held-out MSE is below this.
    pub target_mse: f64,
    /// Seed for the weights and the training batches.
    pub seed: u64,
}

/// One training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainRun {
    /// The network.
    pub arch: Arch,
    /// Clip value, if clipped.
    pub clip: Option<f64>,
    /// W_hh gain.
    pub recurrent_gain: f64,
    /// Training MSE of every step taken.
    pub losses: Vec<f32>,
    /// Global gradient norm of every step, before clipping.
    pub grad_norms: Vec<f32>,
    /// (step, held-out MSE), the first at step 0 (initialization).
    pub evals: Vec<(usize, f64)>,
    /// The first evaluated step whose held-out MSE was below the target.
    pub reached_target: Option<usize>,
    /// Why the run was stopped as diverged, if it was.
    pub diverged: Option<String>,
    /// Wall time.
    pub wall_s: f64,
    /// ‖∂L/∂h_t‖ of the trained network (see [`super::through_time`]), when measured.
    pub gradients_after: Option<GradientCurve>,
}

impl TrainRun {
    /// The last held-out MSE (NaN if none).
    pub fn final_mse(&self) -> f64 {
        self.evals.last().map_or(f64::NAN, |e| e.1)
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> usize {
        self.losses.len()
    }

    /// `rnn-tanh`, `lstm+clip`, `rnn-tanh×3`, …
    pub fn label(&self) -> String {
        let gain = if (self.recurrent_gain - 1.0).abs() > 0.0 {
            format!("×{}", self.recurrent_gain)
        } else {
            String::new()
        };
        let clip = if self.clip.is_some() { "+clip" } else { "" };
        format!("{}{gain}{clip}", self.arch.name())
    }
}

fn held_out(model: &SequenceModel, eval: &AddingBatch) -> f64 {
    no_grad(|| {
        f64::from(
            model
                .predict(&eval.inputs())
                .mse_loss(&eval.targets(), Reduction::Mean)
                .item(),
        )
    })
}

/// Train `arch` as `setup` says, evaluating on `eval`; `progress` is called after every step
/// with the step index.
///
/// # Errors
/// The optimizer's error for an invalid learning rate.
pub fn train(
    arch: Arch,
    setup: &TrainSetup,
    eval: &AddingBatch,
    progress: impl FnMut(usize),
) -> Result<TrainRun, OptimError> {
    train_model(arch, setup, eval, progress).map(|(run, _)| run)
}

/// [`train`], also returning the trained network.
///
/// # Errors
/// The optimizer's error for an invalid learning rate.
pub fn train_model(
    arch: Arch,
    setup: &TrainSetup,
    eval: &AddingBatch,
    mut progress: impl FnMut(usize),
) -> Result<(TrainRun, SequenceModel), OptimError> {
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(setup.seed);
    let model = SequenceModel::new(arch, 2, setup.hidden, &mut rng);
    if (setup.recurrent_gain - 1.0).abs() > 0.0 {
        model.scale_recurrent(setup.recurrent_gain);
    }
    let params = model.parameters();
    let mut opt: Box<dyn Optimizer> = match setup.optim {
        OptimChoice::Adam { lr } => Box::new(Adam::new(
            &params,
            AdamConfig {
                lr,
                ..AdamConfig::default()
            },
        )?),
        OptimChoice::Sgd { lr } => Box::new(Sgd::new(
            &params,
            SgdConfig {
                lr,
                ..SgdConfig::default()
            },
        )?),
    };
    let mut data_rng = StdRng::seed_from_u64(setup.seed ^ 0x5eed_da7a);
    let mut run = TrainRun {
        arch,
        clip: setup.clip,
        recurrent_gain: setup.recurrent_gain,
        losses: Vec::with_capacity(setup.steps),
        grad_norms: Vec::with_capacity(setup.steps),
        evals: vec![(0, held_out(&model, eval))],
        reached_target: None,
        diverged: None,
        wall_s: 0.0,
        gradients_after: None,
    };
    let mut guard = DivergenceGuard::new();
    for step in 1..=setup.steps {
        let batch = AddingBatch::sample(setup.seq_len, setup.batch, &mut data_rng);
        let loss = model
            .predict(&batch.inputs())
            .mse_loss(&batch.targets(), Reduction::Mean);
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
            let mse = held_out(&model, eval);
            run.evals.push((step, mse));
            if !mse.is_finite() {
                run.diverged = Some(format!("held-out MSE became {mse} at step {step}"));
                break;
            }
            if mse < setup.target_mse {
                run.reached_target = Some(step);
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
    Ok((run, model))
}
