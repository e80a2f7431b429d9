//! `gradflow train-image`: the training loop with an eval pass, metrics, curves and a
//! resumable checkpoint every epoch.
//!
//! # One step
//! x, y ← the next batch of the seeded loader; z = f(x); L = CE(z, y); g = ∂L/∂θ;
//! optionally g ← g·min(1, c/‖g‖₂); θ ← optimizer(θ, g, η_t); η_{t+1} ← schedule.
//! A non-finite L or ‖g‖ stops the run at once, naming the step; the checkpoint of the last
//! completed epoch is left as it was.
//!
//! # Why a resumed run is bit-identical
//! Everything a step depends on is either in the checkpoint or a pure function of what is:
//! the weights and BatchNorm statistics, the optimizer's buffers and step counts, the
//! scheduler's position are saved; the data order of epoch e and the augmentation of sample i
//! are drawn from (seed, e) and (seed, e, i) by the loader; the dropout mask of step t from
//! (seed, t). Checkpoints are taken at epoch boundaries, so "epoch = completed epochs" is the
//! whole data position.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gradflow_data::{DataLoader, LoaderConfig, VisionDataset};
use gradflow_optimizers::{
    Adam, AdamConfig, AdamWConfig, CosineAnnealingLr, LinearLr, LrScheduler, MultiStepLr,
    OneCycleConfig, OneCycleLr, Optimizer, SequentialLr, Sgd, SgdConfig,
};
use gradflow_tensor::{Module, Reduction, on_pool};
use serde::{Deserialize, Serialize};

use super::ImageError;
use super::config::{OptimizerKind, ScheduleKind, TrainArgs, TrainConfig};
use super::data::{self, Preprocess, RunData};
use super::eval::EvalResult;
use super::model::{Classifier, memory_estimate, resnet_config};
use crate::run::checkpoint::{self, Progress};
use crate::run::figures::{Body, Figure, LinePanel, Look, Series, YScale, emit};
use crate::run::{DivergenceGuard, memory, progress};
use crate::run::{MetricsLog, RunDir};

/// The metrics columns, one row per epoch.
pub const COLUMNS: [&str; 12] = [
    "epoch",
    "step",
    "train_loss",
    "train_top1",
    "val_loss",
    "val_top1",
    "val_top5",
    "lr",
    "step_images_per_s",
    "loader_images_per_s",
    "epoch_images_per_s",
    "wall_s",
];

/// The columns of the finer training log `train-steps/metrics.{csv,json}`: one row about every
/// tenth of an epoch, averaged over the steps since the previous row (epoch = step / steps
/// per epoch, fractional).
pub const STEP_COLUMNS: [&str; 5] = ["step", "epoch", "train_loss", "train_top1", "lr"];

/// The sub-folder of a run holding the finer training log.
pub const STEP_LOG: &str = "train-steps";

/// How a run is carried out, beyond what defines it.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The run folder.
    pub out: PathBuf,
    /// Continue the run in `out`.
    pub resume: bool,
    /// Loader threads.
    pub workers: usize,
    /// Print progress and the summary.
    pub verbose: bool,
    /// End this session after this many completed epochs (in total), as if the process were
    /// stopped right after that epoch's checkpoint; `--resume` continues it.
    pub stop_after_epoch: Option<u64>,
    /// Replace the loss of this optimizer step (1-based) by NaN: a fault injected to exercise
    /// the divergence stop (tests); `None` in every real run.
    pub nan_at_step: Option<u64>,
}

/// What a run reports at its end.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSummary {
    /// The run folder.
    pub out: PathBuf,
    /// Epochs completed (in total, across resumes).
    pub epochs: usize,
    /// Optimizer steps taken (in total).
    pub steps: u64,
    /// Validation top-1 after the last epoch.
    pub val_top1: f64,
    /// Validation top-5 after the last epoch.
    pub val_top5: f64,
    /// Validation loss after the last epoch.
    pub val_loss: f64,
    /// Training images per second of the step alone (forward, backward, update), this session.
    pub step_images_per_s: f64,
    /// Images per second the loader delivers alone (decode + augment, no training).
    pub loader_images_per_s: f64,
    /// Wall time of this session's epochs, seconds.
    pub wall_s: f64,
}

/// What a checkpoint's `extra` holds beside the config.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunExtra {
    /// Class names in label order.
    pub classes: Vec<String>,
    /// The evaluation preprocessing.
    pub preprocess: Preprocess,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
    /// The data position: the next epoch to run (its order and augmentation derive from the
    /// seed and this number).
    pub next_epoch: u64,
}

/// The optimizer of `cfg` over `params`.
///
/// # Errors
/// [`ImageError::Optim`] for a rejected hyperparameter.
pub fn build_optimizer(
    cfg: &TrainConfig,
    params: &[gradflow_tensor::Tensor],
) -> Result<Box<dyn Optimizer>, ImageError> {
    Ok(match cfg.optimizer {
        OptimizerKind::Sgd => Box::new(Sgd::new(
            params,
            SgdConfig {
                lr: cfg.lr,
                momentum: cfg.momentum,
                weight_decay: cfg.weight_decay,
                ..SgdConfig::default()
            },
        )?),
        OptimizerKind::Adam => Box::new(Adam::new(
            params,
            AdamConfig {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..AdamConfig::default()
            },
        )?),
        OptimizerKind::Adamw => Box::new(Adam::new(
            params,
            AdamWConfig {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..AdamWConfig::default()
            },
        )?),
    })
}

/// The schedule of `cfg` over `steps_per_epoch · epochs` steps, built on `opt` (which then
/// holds lr₀).
///
/// # Errors
/// [`ImageError::Optim`] for a rejected setting.
pub fn build_scheduler(
    cfg: &TrainConfig,
    opt: &mut dyn Optimizer,
    steps_per_epoch: usize,
) -> Result<Box<dyn LrScheduler>, ImageError> {
    let total = (steps_per_epoch * cfg.epochs).max(1);
    let warm = (steps_per_epoch * cfg.warmup).min(total.saturating_sub(1));
    let main = total - warm;
    let body: Box<dyn LrScheduler> = match cfg.schedule {
        ScheduleKind::Cosine => Box::new(CosineAnnealingLr::new(opt, main.max(1), 0.0)?),
        ScheduleKind::Step => {
            let (a, b) = ((main / 2).max(1), (main * 3 / 4).max(2));
            Box::new(MultiStepLr::new(opt, &[a, b.max(a + 1)], 0.1)?)
        }
        ScheduleKind::Onecycle => {
            let mut c = OneCycleConfig::new(cfg.lr, total);
            c.cycle_momentum = opt.momentum().is_some_and(|m| m > 0.0);
            return Ok(Box::new(OneCycleLr::new(opt, c)?));
        }
    };
    if warm == 0 {
        return Ok(body);
    }
    let ramp: Box<dyn LrScheduler> = Box::new(LinearLr::new(opt, 0.01, 1.0, warm)?);
    Ok(Box::new(SequentialLr::new(opt, vec![ramp, body], &[warm])?))
}

/// `gradflow train-image`: resolves the flags, trains, and prints a summary.
///
/// # Errors
/// An [`ImageError`] whose message is one line naming the flag, file or step.
pub fn train_image(args: &TrainArgs) -> Result<TrainSummary, ImageError> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/image"));
    let opts = RunOptions {
        out,
        resume: args.resume,
        workers: args.workers.unwrap_or(2),
        verbose: true,
        stop_after_epoch: None,
        nan_at_step: None,
    };
    let stored = if opts.resume {
        let p = checkpoint::peek(&opts.out.join(crate::run::run_dir::CHECKPOINT)).map_err(|e| {
            ImageError::Usage(format!(
                "--resume: no checkpoint to resume in {}: {e}",
                opts.out.display()
            ))
        })?;
        Some(stored_config(&p)?)
    } else {
        None
    };
    let cfg = TrainConfig::resolve(args, stored.as_ref())?;
    if let Some(s) = &stored {
        let diff = s.differences(&cfg);
        if !diff.is_empty() {
            return Err(ImageError::Usage(format!(
                "--resume: these flags disagree with the run in {} ({}); drop them to continue it",
                opts.out.display(),
                diff.join("; ")
            )));
        }
    }
    train(&cfg, &opts)
}

fn stored_config(p: &Progress) -> Result<TrainConfig, ImageError> {
    serde_json::from_value(p.config.clone())
        .map_err(|e| ImageError::Checkpoint(format!("the checkpoint's config is unreadable: {e}")))
}

/// Trains `cfg` as `opts` says; see the module docs.
///
/// # Errors
/// An [`ImageError`]: bad data, a run folder that cannot be used, a memory estimate that does
/// not fit, a non-finite loss or gradient (naming the step).
pub fn train(cfg: &TrainConfig, opts: &RunOptions) -> Result<TrainSummary, ImageError> {
    cfg.validate()?;
    let say = |s: String| {
        if opts.verbose {
            eprintln!("{s}");
        }
    };
    let RunData {
        train,
        val,
        classes,
        native,
        preprocess,
    } = data::open(cfg)?;
    if cfg.batch > train.len() {
        return Err(ImageError::Usage(format!(
            "--batch {} exceeds the {} training images (the last partial batch is dropped, so \
             an epoch would be empty)",
            cfg.batch,
            train.len()
        )));
    }
    let net_cfg = resnet_config(cfg, classes.len())?;
    memory::check(
        &format!(
            "{} at --batch {} --image-size {}",
            cfg.arch, cfg.batch, cfg.image_size
        ),
        memory_estimate(&net_cfg, cfg.batch, cfg.image_size),
        memory::available(),
        "--batch, --image-size or --arch",
    )?;
    let dir = RunDir::open(&opts.out, "gradflow train-image", opts.resume)?;
    let mut model = Classifier::new(cfg, classes.len())?;
    let params = model.parameters();
    let mut opt = build_optimizer(cfg, &params)?;
    let steps_per_epoch = train.len() / cfg.batch;
    let mut sched = build_scheduler(cfg, opt.as_mut(), steps_per_epoch)?;
    let mut log = MetricsLog::new(&COLUMNS);
    let mut step_log = MetricsLog::new(&STEP_COLUMNS);
    let step_dir = dir.path().join(STEP_LOG);
    std::fs::create_dir_all(&step_dir)
        .map_err(|e| ImageError::Io(format!("{}: {e}", step_dir.display())))?;
    let (mut epoch, mut step) = (0u64, 0u64);
    if opts.resume {
        let p = checkpoint::load(
            &dir.checkpoint_path(),
            &model,
            opt.as_mut(),
            Some(sched.as_mut()),
        )?;
        let stored = stored_config(&p)?;
        if stored != *cfg {
            return Err(ImageError::Usage(format!(
                "--resume: the checkpoint's run differs: {}",
                stored.differences(cfg).join("; ")
            )));
        }
        (epoch, step) = (p.epoch, p.step);
        // The metrics may be one epoch ahead of the checkpoint if a run was killed between
        // the two writes; the checkpoint is the truth.
        if let Ok(mut old) = MetricsLog::read(dir.path()) {
            old.truncate(epoch as usize);
            log = old;
        }
        if let Ok(mut old) = MetricsLog::read(&step_dir) {
            let keep = old
                .column("step")
                .unwrap_or_default()
                .iter()
                .take_while(|&&s| s <= step as f64)
                .count();
            old.truncate(keep);
            step_log = old;
        }
        say(format!(
            "resuming {} at epoch {epoch}/{} (step {step})",
            dir.path().display(),
            cfg.epochs
        ));
    }
    let train_tf = preprocess.train_transform(cfg.augment, native)?;
    let eval_tf = preprocess.eval_transform(native)?;
    let n_train = train.len();
    let n_val = val.len();
    let loader = DataLoader::new(
        train,
        train_tf,
        LoaderConfig {
            batch_size: cfg.batch,
            shuffle: true,
            drop_last: true,
            seed: cfg.seed,
            workers: opts.workers,
            prefetch: 2,
            ..LoaderConfig::default()
        },
    )?;
    let val_loader = super::eval::eval_loader(val, eval_tf, cfg.batch, opts.workers)?;
    say(format!(
        "data: {} ({n_train} train / {n_val} val images, {} classes, {}×{}×{}); {} ({} parameters); {} epochs of {steps_per_epoch} steps",
        cfg.data.describe(),
        classes.len(),
        cfg.channels,
        cfg.image_size,
        cfg.image_size,
        cfg.arch,
        model.num_parameters(),
        cfg.epochs
    ));
    // The loader alone, before training: the rate it can feed at.
    let probe = loader.measure_throughput(epoch, steps_per_epoch.clamp(1, 8))?;
    let loader_rate = probe.images_per_second();
    let extra = |next: u64| RunExtra {
        classes: classes.clone(),
        preprocess: preprocess.clone(),
        steps_per_epoch,
        next_epoch: next,
    };
    let mut guard = DivergenceGuard::new();
    let session = Instant::now();
    let (mut step_time, mut step_images) = (Duration::ZERO, 0usize);
    let mut last_eval: Option<EvalResult> = None;
    let total_epochs = cfg.epochs as u64;
    while epoch < total_epochs {
        model.train();
        let bar = progress::bar(steps_per_epoch as u64);
        if !opts.verbose {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let epoch_start = Instant::now();
        let (mut loss_sum, mut hits, mut seen) = (0.0f64, 0usize, 0usize);
        // The window of the finer log: (loss · images, hits, images).
        let every = (steps_per_epoch / 10).max(1);
        let mut window = (0.0f64, 0usize, 0usize);
        let mut in_epoch = 0usize;
        let (mut e_time, mut e_images) = (Duration::ZERO, 0usize);
        let mut batches = loader.epoch(epoch);
        for b in batches.by_ref() {
            let b = b?;
            step += 1;
            let t0 = Instant::now();
            model.set_step(step);
            opt.zero_grad();
            // Forward and backward run on a rayon worker (`on_pool`), so their
            // parallel splits are hot joins; the wait for the next batch stays on this thread.
            let (logits, loss) = on_pool(|| {
                let logits = model.forward(&b.to_tensor());
                let loss = logits.cross_entropy(&b.labels, Reduction::Mean, 0.0);
                (logits, loss)
            });
            let mut value = loss.item();
            if opts.nan_at_step == Some(step) {
                value = f32::NAN;
            }
            let stopped = |what: String| diverged(what, epoch, &dir);
            guard
                .loss(step as usize, value)
                .map_err(|d| stopped(d.to_string()))?;
            on_pool(|| loss.backward());
            guard
                .clip_and_check(step as usize, &params, cfg.clip)
                .map_err(|d| stopped(d.to_string()))?;
            let lr = opt.lr();
            opt.step();
            sched.step(opt.as_mut());
            let dt = t0.elapsed();
            e_time += dt;
            e_images += b.len();
            let z = logits.to_vec();
            let k = classes.len();
            let batch_hits = b
                .labels
                .iter()
                .enumerate()
                .filter(|&(i, &y)| super::eval::top_k(&z[i * k..(i + 1) * k], 1)[0] == y)
                .count();
            hits += batch_hits;
            loss_sum += f64::from(value) * b.len() as f64;
            seen += b.len();
            window.0 += f64::from(value) * b.len() as f64;
            window.1 += batch_hits;
            window.2 += b.len();
            in_epoch += 1;
            if in_epoch.is_multiple_of(every) || in_epoch == steps_per_epoch {
                let n = window.2.max(1) as f64;
                step_log.push(&[
                    step as f64,
                    step as f64 / steps_per_epoch.max(1) as f64,
                    window.0 / n,
                    window.1 as f64 / n,
                    lr,
                ]);
                window = (0.0, 0, 0);
            }
            bar.inc(1);
            bar.set_message(format!(
                "epoch {}/{} loss {:.3} lr {:.2e} {:.0} img/s",
                epoch + 1,
                cfg.epochs,
                value,
                lr,
                e_images as f64 / e_time.as_secs_f64().max(1e-9)
            ));
        }
        let delivered = batches.stats();
        bar.finish_and_clear();
        step_time += e_time;
        step_images += e_images;
        model.eval();
        let ev = super::eval::evaluate_loader(&model, &val_loader)?;
        let wall = epoch_start.elapsed().as_secs_f64();
        epoch += 1;
        let seen_f = seen.max(1) as f64;
        log.push(&[
            epoch as f64,
            step as f64,
            loss_sum / seen_f,
            hits as f64 / seen_f,
            ev.loss,
            ev.top1,
            ev.top5,
            opt.lr(),
            e_images as f64 / e_time.as_secs_f64().max(1e-9),
            loader_rate,
            delivered.images_per_second(),
            wall,
        ]);
        say(format!(
            "epoch {epoch}/{}: train loss {:.4} top-1 {:.2} % | val loss {:.4} top-1 {:.2} % top-5 {:.2} % | {:.0} s, step {:.0} img/s",
            cfg.epochs,
            loss_sum / seen_f,
            100.0 * hits as f64 / seen_f,
            ev.loss,
            100.0 * ev.top1,
            100.0 * ev.top5,
            wall,
            e_images as f64 / e_time.as_secs_f64().max(1e-9),
        ));
        step_log.write_to(&step_dir)?;
        log.write(&dir)?;
        write_curves(&log, &step_log, cfg, &dir)?;
        let progress = Progress {
            epoch,
            step,
            config: serde_json::to_value(cfg).map_err(json_err)?,
            extra: serde_json::to_value(extra(epoch)).map_err(json_err)?,
        };
        checkpoint::save(
            &dir.checkpoint_path(),
            &model,
            opt.as_ref(),
            Some(sched.as_ref()),
            &progress,
        )?;
        save_model(
            &model,
            cfg,
            &extra(epoch),
            &dir.path().join("model.safetensors"),
        )?;
        last_eval = Some(ev);
        if opts.stop_after_epoch == Some(epoch) {
            break;
        }
    }
    let wall_s = session.elapsed().as_secs_f64();
    let ev = match last_eval {
        Some(ev) => ev,
        None => {
            model.eval();
            super::eval::evaluate_loader(&model, &val_loader)?
        }
    };
    let summary = TrainSummary {
        out: dir.path().to_path_buf(),
        epochs: epoch as usize,
        steps: step,
        val_top1: ev.top1,
        val_top5: ev.top5,
        val_loss: ev.loss,
        step_images_per_s: step_images as f64 / step_time.as_secs_f64().max(1e-9),
        loader_images_per_s: loader_rate,
        wall_s,
    };
    let json = serde_json::to_string_pretty(&summary).map_err(json_err)?;
    dir.write("summary.json", json.as_bytes())?;
    say(format!(
        "done: val top-1 {:.2} %, top-5 {:.2} % after {} epochs; wall {:.0} s; training step {:.0} img/s, loader alone {:.0} img/s ({}); run in {}",
        100.0 * summary.val_top1,
        100.0 * summary.val_top5,
        summary.epochs,
        wall_s,
        summary.step_images_per_s,
        loader_rate,
        if loader_rate < summary.step_images_per_s {
            "the loader bounds the run: add --workers"
        } else {
            "the step bounds the run"
        },
        dir.path().display()
    ));
    Ok(summary)
}

fn json_err(e: serde_json::Error) -> ImageError {
    ImageError::Checkpoint(format!("cannot encode the run state: {e}"))
}

fn diverged(what: String, completed: u64, dir: &RunDir) -> ImageError {
    let kept = if completed == 0 {
        "no checkpoint had been written yet".to_string()
    } else {
        format!(
            "the last good checkpoint (epoch {completed}) is kept in {}",
            dir.checkpoint_path().display()
        )
    };
    ImageError::Diverged(format!("training stopped: {what}; {kept}"))
}

/// Metadata keys of `model.safetensors`.
pub const META_CONFIG: &str = "gradflow.image.config";
/// The class names and preprocessing (a [`RunExtra`] as JSON).
pub const META_EXTRA: &str = "gradflow.image.extra";

fn save_model(
    model: &Classifier,
    cfg: &TrainConfig,
    extra: &RunExtra,
    path: &Path,
) -> Result<(), ImageError> {
    let mut meta = std::collections::HashMap::new();
    meta.insert(
        META_CONFIG.to_string(),
        serde_json::to_string(cfg).map_err(json_err)?,
    );
    meta.insert(
        META_EXTRA.to_string(),
        serde_json::to_string(extra).map_err(json_err)?,
    );
    gradflow_layers::checkpoint::save_with_metadata(model, path, &meta)?;
    Ok(())
}

/// Draws the run's curves into the run folder as `curves.svg` and `curves.png`: training
/// loss and top-1 from the finer log, validation loss, top-1 and top-5 per epoch, and the
/// learning rate.
fn write_curves(
    log: &MetricsLog,
    steps: &MetricsLog,
    cfg: &TrainConfig,
    dir: &RunDir,
) -> Result<(), ImageError> {
    let series = |i: usize, log: &MetricsLog, x: &str, y: &str, scale: f64| Series {
        look: Look::nth(i),
        points: log
            .column(x)
            .unwrap_or_default()
            .into_iter()
            .zip(log.column(y).unwrap_or_default())
            .map(|(x, y)| (x, scale * y))
            .collect(),
    };
    let name = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let fig = Figure {
        title: format!(
            "{} ({}) on {}: {} lr {}, {} schedule, batch {}",
            cfg.arch,
            name(serde_json::to_value(cfg.norm).unwrap_or_default()),
            cfg.data.describe(),
            name(serde_json::to_value(cfg.optimizer).unwrap_or_default()),
            cfg.lr,
            name(serde_json::to_value(cfg.schedule).unwrap_or_default()),
            cfg.batch,
        ),
        size: (1500, 480),
        body: Body::Lines {
            panels: vec![
                LinePanel {
                    title: "loss".into(),
                    x_desc: "epoch".into(),
                    y_desc: "cross-entropy (log scale)".into(),
                    y_scale: YScale::Log,
                    series: vec![
                        series(0, steps, "epoch", "train_loss", 1.0),
                        series(1, log, "epoch", "val_loss", 1.0),
                    ],
                },
                LinePanel {
                    title: "accuracy".into(),
                    x_desc: "epoch".into(),
                    y_desc: "%".into(),
                    y_scale: YScale::Linear,
                    series: vec![
                        series(0, steps, "epoch", "train_top1", 100.0),
                        series(1, log, "epoch", "val_top1", 100.0),
                        series(2, log, "epoch", "val_top5", 100.0),
                    ],
                },
                LinePanel {
                    title: "learning rate".into(),
                    x_desc: "epoch".into(),
                    y_desc: "lr".into(),
                    y_scale: YScale::Linear,
                    series: vec![series(3, steps, "epoch", "lr", 1.0)],
                },
            ],
            legend: vec![
                ("train (augmented batches)".into(), Look::nth(0)),
                ("val (loss, top-1)".into(), Look::nth(1)),
                ("val top-5".into(), Look::nth(2)),
                ("learning rate".into(), Look::nth(3)),
            ],
        },
    };
    let tmp =
        tempfile::tempdir().map_err(|e| ImageError::Io(format!("a temporary folder: {e}")))?;
    emit(&fig, tmp.path(), "curves")?;
    for name in ["curves.svg", "curves.png"] {
        let bytes = std::fs::read(tmp.path().join(name))
            .map_err(|e| ImageError::Io(format!("{name}: {e}")))?;
        dir.write(name, &bytes)?;
    }
    Ok(())
}

/// Rebuilds the trained network from a run folder, its `model.safetensors`, or its
/// `checkpoint.safetensors`, with the configuration and class names stored there.
///
/// # Errors
/// [`ImageError::Checkpoint`] when the file is missing, damaged, or not from `train-image`.
pub fn load_trained(path: &Path) -> Result<(Classifier, TrainConfig, RunExtra), ImageError> {
    let path = if path.is_dir() {
        path.join("model.safetensors")
    } else {
        path.to_path_buf()
    };
    if !path.is_file() {
        return Err(ImageError::Checkpoint(format!(
            "{}: no such checkpoint (give a run folder, its model.safetensors or its checkpoint.safetensors)",
            path.display()
        )));
    }
    let meta = gradflow_layers::checkpoint::read_metadata(&path)?;
    if let (Some(c), Some(x)) = (meta.get(META_CONFIG), meta.get(META_EXTRA)) {
        let bad = |e: serde_json::Error| {
            ImageError::Checkpoint(format!("{}: unreadable run metadata: {e}", path.display()))
        };
        let cfg: TrainConfig = serde_json::from_str(c).map_err(bad)?;
        let extra: RunExtra = serde_json::from_str(x).map_err(bad)?;
        let mut model = Classifier::new(&cfg, extra.classes.len())?;
        gradflow_layers::checkpoint::load(
            &model,
            &path,
            gradflow_layers::checkpoint::LoadMode::Strict,
        )?;
        model.eval();
        return Ok((model, cfg, extra));
    }
    let p = checkpoint::peek(&path)?;
    let cfg = stored_config(&p)?;
    let extra: RunExtra = serde_json::from_value(p.extra.clone()).map_err(|e| {
        ImageError::Checkpoint(format!(
            "{}: not a train-image checkpoint ({e})",
            path.display()
        ))
    })?;
    let mut model = Classifier::new(&cfg, extra.classes.len())?;
    let mut opt = build_optimizer(&cfg, &model.parameters())?;
    let mut sched = build_scheduler(&cfg, opt.as_mut(), extra.steps_per_epoch)?;
    checkpoint::load(&path, &model, opt.as_mut(), Some(sched.as_mut()))?;
    model.eval();
    Ok((model, cfg, extra))
}
