//! The ImageNet-style pipeline: `gradflow train-image`, `eval-image` and `predict`.
//!
//! It composes the concept crates the way a PyTorch user expects to find them: a dataset
//! (`gradflow-data`'s ImageFolder, Fashion-MNIST IDX images, or the embedded subset), the
//! torchvision transforms and the seeded parallel loader, a `gradflow-resnet` network (any
//! constructor, the plain twins included, with BatchNorm, GroupNorm or no normalization), an
//! optimizer and schedule from `gradflow-optimizers`, gradient clipping from
//! `gradflow-clipping`, and the run toolkit (run folder, resumable checkpoints, metrics,
//! figures, the divergence stop, the memory check).
//!
//! - [`config`]: flags, recipes, the resolved [`TrainConfig`].
//! - [`data`]: the three sources and the train / eval transforms.
//! - [`model`]: the network with optional dropout before `fc`, and its memory estimate.
//! - [`train`]: the loop, checkpoints and resume.
//! - [`eval`]: top-1 / top-5 / confusion matrix.
//! - [`compare`]: several runs' curves in one figure (the degradation experiment).
//!
//! The default run (`gradflow train-image`, no flags) trains resnet20 on the embedded 14×14
//! Fashion-MNIST subset for 3 epochs: real images, nothing to download, and it visibly
//! learns (validation top-1 from 10 % to about 80 %) in about a minute on 2 cores.

pub mod compare;
pub mod config;
pub mod data;
pub mod eval;
pub mod model;
pub mod train;

use crate::run as runkit;

use std::path::PathBuf;

use clap::Args;
use gradflow_data::{Image, VisionDataset};
use gradflow_tensor::{Module, no_grad};

pub use compare::{CompareArgs, compare_runs};
pub use config::{Recipe, TrainArgs, TrainConfig};
pub use train::{RunOptions, TrainSummary, load_trained, train, train_image};

use crate::run::ReportDir;

/// Everything the image pipeline can report to a user; each message is one line naming the
/// flag, file or step.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A flag value is invalid or contradicts another.
    #[error("{0}")]
    Usage(String),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] gradflow_data::DataError),
    /// The network could not be built.
    #[error(transparent)]
    Model(#[from] gradflow_resnet::ResNetError),
    /// The optimizer or schedule rejected a setting.
    #[error(transparent)]
    Optim(#[from] gradflow_optimizers::OptimError),
    /// The run would not fit in memory.
    #[error(transparent)]
    Memory(#[from] crate::run::memory::MemoryError),
    /// The run folder cannot be used.
    #[error(transparent)]
    RunDir(#[from] runkit::RunDirError),
    /// The run checkpoint cannot be written or read.
    #[error(transparent)]
    RunCheckpoint(#[from] runkit::RunCheckpointError),
    /// The metrics cannot be written.
    #[error(transparent)]
    Metrics(#[from] runkit::MetricsError),
    /// A model file cannot be written or read.
    #[error(transparent)]
    ModelFile(#[from] gradflow_layers::checkpoint::CheckpointError),
    /// A checkpoint is not what `eval-image` / `predict` need.
    #[error("{0}")]
    Checkpoint(String),
    /// A figure could not be drawn.
    #[error(transparent)]
    Plot(#[from] crate::run::figures::PlotError),
    /// A report folder cannot be used.
    #[error(transparent)]
    Report(#[from] crate::run::ReportDirError),
    /// A file operation failed.
    #[error("{0}")]
    Io(String),
    /// The loss or a gradient became NaN/Inf; names the step and the checkpoint kept.
    #[error("{0}")]
    Diverged(String),
}

/// The flags of `gradflow eval-image`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// A run folder, its model.safetensors, or its checkpoint.safetensors.
    #[arg(long, value_name = "C")]
    pub checkpoint: PathBuf,
    /// Images to evaluate: DIR/val/<class>/<image> if DIR/val exists, else DIR/<class>/<image>.
    /// Default: the validation split of the data the model was trained on.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Loader threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Folder for confusion.svg/png and eval.json.
    #[arg(long, default_value = "eval-report")]
    pub out: PathBuf,
}

/// The flags of `gradflow predict`.
#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    /// A run folder, its model.safetensors, or its checkpoint.safetensors.
    #[arg(long, value_name = "C")]
    pub checkpoint: PathBuf,
    /// Image files (.png, .jpg).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}

/// `gradflow eval-image`: top-1, top-5 and a confusion-matrix figure.
///
/// # Errors
/// An [`ImageError`] naming the checkpoint or data folder.
pub fn eval_image(a: &EvalArgs) -> Result<eval::EvalResult, ImageError> {
    if a.batch == 0 {
        return Err(ImageError::Usage(
            "--batch 0: a batch needs at least 1 image".into(),
        ));
    }
    let (model, cfg, extra) = load_trained(&a.checkpoint)?;
    let (images, native) = match &a.data {
        Some(dir) => (
            data::eval_folder(dir, &extra.classes, extra.preprocess.channels)?,
            None,
        ),
        None => {
            let d = data::open(&cfg)?;
            (d.val, d.native)
        }
    };
    let out = ReportDir::prepare(&a.out)?;
    let what = format!("{} images", images.len());
    let tf = extra.preprocess.eval_transform(native)?;
    let loader = eval::eval_loader(images, tf, a.batch, a.workers)?;
    let r = eval::evaluate_loader(&model, &loader)?;
    eval::confusion_figure(
        &r,
        &extra.classes,
        &format!("{} ({what})", cfg.arch),
        out.path(),
        "confusion",
    )?;
    let json = serde_json::json!({
        "checkpoint": a.checkpoint,
        "images": r.images,
        "loss": r.loss,
        "top1": r.top1,
        "top5": r.top5,
        "classes": extra.classes,
        "confusion": r.confusion,
    });
    out.write("eval.json", json.to_string().as_bytes())?;
    let legend = eval::class_legend(&extra.classes);
    out.write(
        "eval.md",
        format!(
            "# eval-image {}\n\n{what}: loss {:.4}, top-1 {:.2} %, top-5 {:.2} %\n\n\
             ![confusion matrix](confusion.svg)\n\nClasses: {legend}.\n",
            a.checkpoint.display(),
            r.loss,
            100.0 * r.top1,
            100.0 * r.top5
        )
        .as_bytes(),
    )?;
    let dir = out.commit("gradflow eval-image")?;
    println!(
        "{what}: loss {:.4}, top-1 {:.2} %, top-5 {:.2} %; confusion matrix in {} (classes: {legend})",
        r.loss,
        100.0 * r.top1,
        100.0 * r.top5,
        dir.join("confusion.svg").display()
    );
    Ok(r)
}

/// One image's prediction: the top-5 classes with their softmax probabilities.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The image file.
    pub path: PathBuf,
    /// (class name, probability), most probable first.
    pub top: Vec<(String, f64)>,
}

/// `gradflow predict`: the top-5 class names with probabilities for each image.
///
/// # Errors
/// An [`ImageError`] naming the checkpoint or the image that cannot be read.
pub fn predict(a: &PredictArgs) -> Result<Vec<Prediction>, ImageError> {
    let (model, _cfg, extra) = load_trained(&a.checkpoint)?;
    let tf = extra.preprocess.eval_transform(None)?;
    let mut out = Vec::new();
    for path in &a.images {
        let img = Image::open(path, extra.preprocess.channels)?;
        let t = tf.apply(img, &mut gradflow_data::SampleRng::new(0))?;
        let x = t.to_tensor();
        let shape = x.shape().to_vec();
        let x = x.reshape(&[1, shape[0], shape[1], shape[2]]);
        let p = no_grad(|| model.forward(&x).softmax(1).to_vec());
        let top = eval::top_k(&p, 5.min(p.len()))
            .into_iter()
            .map(|c| (extra.classes[c].clone(), f64::from(p[c])))
            .collect();
        out.push(Prediction {
            path: path.clone(),
            top,
        });
    }
    for p in &out {
        println!("{}", p.path.display());
        for (c, prob) in &p.top {
            println!("  {:>6.2} %  {c}", 100.0 * prob);
        }
    }
    Ok(out)
}
