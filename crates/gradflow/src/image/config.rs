//! What defines a training run: the flags of `gradflow train-image`, the recipes that preset
//! them, and the resolved [`TrainConfig`] a checkpoint carries.
//!
//! Every flag is optional on the command line so that three layers can be told apart: the
//! built-in defaults, a `--recipe` on top of them, and the flags the user typed on top of
//! both. On `--resume` the checkpoint's configuration takes the place of the defaults and the
//! recipe; a typed flag that disagrees with it is an error, so a resumed run is the run that
//! was started.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use gradflow_resnet::{Norm, ResNetConfig};
use serde::{Deserialize, Serialize};

use super::ImageError;

/// Where the images come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataSource {
    /// The 14×14 Fashion-MNIST subset compiled into the binary (6,000 train / 1,500 test).
    Embedded,
    /// Fashion-MNIST IDX files (28×28, 60,000 train / 10,000 test) in this folder.
    FashionMnist(PathBuf),
    /// The ImageNet layout: `train/<class>/<image>` and `val/<class>/<image>` under this root.
    Folder(PathBuf),
}

impl DataSource {
    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            DataSource::Embedded => "embedded Fashion-MNIST 14×14 subset".into(),
            DataSource::FashionMnist(p) => format!("Fashion-MNIST at {}", p.display()),
            DataSource::Folder(p) => format!("ImageFolder {}/{{train,val}}", p.display()),
        }
    }
}

/// The optimizer (`--optimizer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with (heavy-ball) momentum and L2 weight decay, PyTorch's `SGD`.
    Sgd,
    /// Adam with L2 weight decay added to the gradient, PyTorch's `Adam`.
    Adam,
    /// Adam with decoupled weight decay θ ← θ(1 − ηλ), PyTorch's `AdamW`.
    Adamw,
}

/// The learning-rate schedule over the whole run, stepped after every optimizer step
/// (`--schedule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// η_t = η_min + (η − η_min)(1 + cos(πt/T))/2 after the warm-up, η_min = 0.
    Cosine,
    /// η divided by 10 at 50 % and 75 % of the steps (He et al.'s CIFAR schedule).
    Step,
    /// Smith's one-cycle: up to η over 30 % of the steps, then down to η/(25·10⁴) (its own
    /// warm-up; cycles SGD momentum / Adam β₁ between 0.95 and 0.85).
    Onecycle,
}

/// Augmentation of the training images (`--augment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AugmentKind {
    /// Folders: RandomResizedCrop + flip (torchvision's ImageNet recipe). IDX / embedded:
    /// RandomCrop with padding 2 + flip (the CIFAR recipe, scaled to 28×28).
    Standard,
    /// The evaluation transform for training too.
    None,
}

/// Normalization inside the network (`--norm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// BatchNorm (torchvision's).
    Bn,
    /// GroupNorm with 32 groups (fewer for narrow layers): independent of the batch size.
    Gn,
    /// None: the convolutions get a bias.
    None,
}

impl NormKind {
    /// The network's normalization.
    pub fn norm(self) -> Norm {
        match self {
            NormKind::Bn => Norm::Batch,
            NormKind::Gn => Norm::Group,
            NormKind::None => Norm::None,
        }
    }
}

/// A preset of the seed's scenario table (`--recipe`); flags override it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// ReLU + He init + ResNet + Adam: resnet20 (ReLU, Kaiming-normal init, skip
    /// connections, torchvision's BatchNorm) trained with Adam at lr 1e-3, weight decay 0, no
    /// augmentation. The default cure for a CNN: every ingredient keeps ∂L/∂W of the first
    /// layers from vanishing.
    Cnn,
    /// BN + augmentation + Dropout before fc: the cnn recipe plus standard augmentation and
    /// Dropout(p = 0.5) on the pooled features. Small data overfits; augmentation and
    /// dropout are the regularizers, BN keeps the gradients healthy.
    SmallData,
    /// Residual + GroupNorm: resnet110 with GroupNorm and gradient clipping at 1. At 100+
    /// layers the skip connections carry the gradient; GroupNorm does not depend on the
    /// batch statistics, which are noisy at the small batches such depth affords.
    VeryDeep,
}

/// The flags of `gradflow train-image`.
#[derive(Args, Debug, Clone, Default)]
pub struct TrainArgs {
    /// An ImageNet-layout folder: DIR/train/<class>/<image> and DIR/val/<class>/<image>
    /// (.jpg, .jpeg, .png). Images are trained at --image-size (default 224) with
    /// ImageNet's mean/std.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["fashion_mnist", "embedded"])]
    pub data: Option<PathBuf>,
    /// Fashion-MNIST IDX files (scripts/fetch-data.sh installs them in
    /// /usr/share/datasets/fashion-mnist; give another folder as --fashion-mnist DIR).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = gradflow_data::DEBIAN_FASHION_MNIST, conflicts_with = "embedded")]
    pub fashion_mnist: Option<PathBuf>,
    /// The 14×14 Fashion-MNIST subset compiled into the binary (6,000 train / 1,500 test
    /// images): the default, so that the command runs with no download.
    #[arg(long)]
    pub embedded: bool,
    /// Train on the first N training images only (the validation set stays whole).
    #[arg(long, value_name = "N")]
    pub train_subset: Option<usize>,
    /// Image channels for IDX data: 1 (grey) or 3 (grey repeated, as an RGB pipeline).
    /// Folders are always read as RGB.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Any gradflow-resnet constructor: resnet18/34/50/101/152, resnext50_32x4d,
    /// resnext101_32x8d, wide_resnet50_2, wide_resnet101_2, the CIFAR family
    /// resnet20/32/44/56/110 (option-A shortcuts), and the plain twins plain18 … plain152,
    /// plain20 … plain110 (the same layers without skip connections). Default resnet20.
    #[arg(long)]
    pub arch: Option<String>,
    /// Normalization in the network: bn (BatchNorm), gn (GroupNorm), none.
    #[arg(long, value_enum)]
    pub norm: Option<NormKind>,
    /// Dropout probability on the pooled features, before fc (0: none).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Passes over the training set (default: 3 on the embedded set, 15 otherwise).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per optimizer step (default 128; the last partial batch is dropped).
    #[arg(long)]
    pub batch: Option<usize>,
    /// sgd (momentum, L2 weight decay), adam, or adamw (decoupled weight decay).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Peak learning rate (default 0.1 for sgd, 1e-3 for adam/adamw).
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum (default 0.9); ignored by adam/adamw.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay λ (default 5e-4 for sgd, 0 for adam, 1e-2 for adamw).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule, stepped every batch: cosine, step (÷10 at 50 % and 75 %), or
    /// onecycle.
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleKind>,
    /// Epochs of linear warm-up from lr/100 before the cosine or step schedule (default 0).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Clip the global gradient norm ‖g‖₂ to this value (default: no clipping).
    #[arg(long)]
    pub clip: Option<f64>,
    /// Side of the square training image (default: the data's own size, 224 for folders).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Training augmentation: standard (folders: RandomResizedCrop + flip; IDX: RandomCrop
    /// with padding 2 + flip) or none.
    #[arg(long, value_enum)]
    pub augment: Option<AugmentKind>,
    /// Threads decoding and augmenting ahead of training (default 2). Results do not depend
    /// on it.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seed for the weights, the data order and the augmentation (default 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The run folder: checkpoint, metrics.csv/json, curves, model.safetensors
    /// (default runs/image).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint (the flags that define the run
    /// come from the checkpoint; a flag that disagrees with it is an error).
    #[arg(long)]
    pub resume: bool,
    /// A preset from the seed's scenario table; flags override it.
    /// cnn = ReLU + He + ResNet + Adam (resnet20, bn, adam lr 1e-3, no augmentation).
    /// small-data = cnn + BN + augmentation + Dropout(0.5) before fc.
    /// very-deep = residual + GroupNorm (resnet110, gn, clip 1).
    #[arg(long, value_enum, verbatim_doc_comment)]
    pub recipe: Option<Recipe>,
}

/// Everything that defines a run, resolved from defaults, recipe and flags. Stored in every
/// checkpoint and compared on resume; `workers` and `out` are not part of it (they do not
/// change the result).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The images.
    pub data: DataSource,
    /// Use only the first N training images.
    pub train_subset: Option<usize>,
    /// 1 or 3 channels.
    pub channels: usize,
    /// Constructor name.
    pub arch: String,
    /// Normalization.
    pub norm: NormKind,
    /// Dropout before fc.
    pub dropout: f64,
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch: usize,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Schedule.
    pub schedule: ScheduleKind,
    /// Warm-up epochs.
    pub warmup: usize,
    /// Gradient-norm clip.
    pub clip: Option<f64>,
    /// Square image side.
    pub image_size: usize,
    /// Augmentation.
    pub augment: AugmentKind,
    /// Seed.
    pub seed: u64,
    /// The recipe it started from, if any.
    pub recipe: Option<Recipe>,
}

/// The constructor names `--arch` accepts.
pub const ARCHS: [&str; 24] = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "plain18",
    "plain34",
    "plain50",
    "plain101",
    "plain152",
    "plain20",
    "plain32",
    "plain44",
    "plain56",
    "plain110",
];

/// The network `name` (one of [`ARCHS`]) for `classes` outputs.
///
/// # Errors
/// [`ImageError::Usage`] naming the known architectures.
pub fn arch_config(name: &str, classes: usize) -> Result<ResNetConfig, ImageError> {
    let c = classes;
    Ok(match name {
        "resnet18" => ResNetConfig::resnet18(c),
        "resnet34" => ResNetConfig::resnet34(c),
        "resnet50" => ResNetConfig::resnet50(c),
        "resnet101" => ResNetConfig::resnet101(c),
        "resnet152" => ResNetConfig::resnet152(c),
        "resnext50_32x4d" => ResNetConfig::resnext50_32x4d(c),
        "resnext101_32x8d" => ResNetConfig::resnext101_32x8d(c),
        "wide_resnet50_2" => ResNetConfig::wide_resnet50_2(c),
        "wide_resnet101_2" => ResNetConfig::wide_resnet101_2(c),
        "resnet20" => ResNetConfig::resnet20(c),
        "resnet32" => ResNetConfig::resnet32(c),
        "resnet44" => ResNetConfig::resnet44(c),
        "resnet56" => ResNetConfig::resnet56(c),
        "resnet110" => ResNetConfig::resnet110(c),
        "plain18" => ResNetConfig::plain18(c),
        "plain34" => ResNetConfig::plain34(c),
        "plain50" => ResNetConfig::plain50(c),
        "plain101" => ResNetConfig::plain101(c),
        "plain152" => ResNetConfig::plain152(c),
        "plain20" => ResNetConfig::plain20(c),
        "plain32" => ResNetConfig::plain32(c),
        "plain44" => ResNetConfig::plain44(c),
        "plain56" => ResNetConfig::plain56(c),
        "plain110" => ResNetConfig::plain110(c),
        _ => {
            return Err(ImageError::Usage(format!(
                "--arch {name}: unknown architecture; known: {}",
                ARCHS.join(", ")
            )));
        }
    })
}

impl TrainConfig {
    /// The configuration `args` describe: defaults, then the recipe, then the typed flags;
    /// or, on resume, `stored` (the checkpoint's) with the typed flags on top.
    ///
    /// # Errors
    /// [`ImageError::Usage`] for a value out of range.
    pub fn resolve(
        args: &TrainArgs,
        stored: Option<&TrainConfig>,
    ) -> Result<TrainConfig, ImageError> {
        let mut c = match stored {
            Some(s) => s.clone(),
            None => TrainConfig::defaults(args),
        };
        let data = match (&args.data, &args.fashion_mnist) {
            (Some(d), _) => Some(DataSource::Folder(d.clone())),
            (None, Some(f)) => Some(DataSource::FashionMnist(f.clone())),
            _ if args.embedded => Some(DataSource::Embedded),
            _ => None,
        };
        if let Some(d) = data {
            c.data = d;
        }
        if args.train_subset.is_some() {
            c.train_subset = args.train_subset;
        }
        macro_rules! over {
            ($($f:ident),*) => { $(if let Some(v) = args.$f.clone() { c.$f = v; })* };
        }
        over!(
            channels,
            arch,
            norm,
            dropout,
            epochs,
            batch,
            optimizer,
            lr,
            momentum,
            weight_decay,
            schedule,
            warmup,
            image_size,
            augment,
            seed
        );
        if args.clip.is_some() {
            c.clip = args.clip;
        }
        if args.recipe.is_some() {
            c.recipe = args.recipe;
        }
        c.validate()?;
        Ok(c)
    }

    /// The defaults under the recipe of `args` (the data, optimizer and architecture the
    /// user typed decide the data- and optimizer-dependent defaults).
    fn defaults(args: &TrainArgs) -> TrainConfig {
        let data = match (&args.data, &args.fashion_mnist) {
            (Some(d), _) => DataSource::Folder(d.clone()),
            (None, Some(f)) => DataSource::FashionMnist(f.clone()),
            _ => DataSource::Embedded,
        };
        let recipe = args.recipe;
        let (arch, norm, dropout, clip, rec_opt, augment) = match recipe {
            None => (
                "resnet20",
                NormKind::Bn,
                0.0,
                None,
                OptimizerKind::Sgd,
                AugmentKind::Standard,
            ),
            Some(Recipe::Cnn) => (
                "resnet20",
                NormKind::Bn,
                0.0,
                None,
                OptimizerKind::Adam,
                AugmentKind::None,
            ),
            Some(Recipe::SmallData) => (
                "resnet20",
                NormKind::Bn,
                0.5,
                None,
                OptimizerKind::Adam,
                AugmentKind::Standard,
            ),
            Some(Recipe::VeryDeep) => (
                "resnet110",
                NormKind::Gn,
                0.0,
                Some(1.0),
                OptimizerKind::Sgd,
                AugmentKind::Standard,
            ),
        };
        let optimizer = args.optimizer.unwrap_or(rec_opt);
        let (lr, wd) = match optimizer {
            OptimizerKind::Sgd => (0.1, 5e-4),
            OptimizerKind::Adam => (1e-3, 0.0),
            OptimizerKind::Adamw => (1e-3, 1e-2),
        };
        let (epochs, image_size) = match &data {
            DataSource::Embedded => (3, 14),
            DataSource::FashionMnist(_) => (15, 28),
            DataSource::Folder(_) => (15, 224),
        };
        let channels = match &data {
            DataSource::Folder(_) => 3,
            _ => 1,
        };
        TrainConfig {
            data,
            train_subset: None,
            channels,
            arch: arch.into(),
            norm,
            dropout,
            epochs,
            batch: 128,
            optimizer,
            lr,
            momentum: 0.9,
            weight_decay: wd,
            schedule: ScheduleKind::Cosine,
            warmup: 0,
            clip,
            image_size,
            augment,
            seed: 0,
            recipe,
        }
    }

    /// Checks every value a user can type.
    ///
    /// # Errors
    /// [`ImageError::Usage`] naming the flag.
    pub fn validate(&self) -> Result<(), ImageError> {
        let bad = |m: String| Err(ImageError::Usage(m));
        arch_config(&self.arch, 2)?;
        if self.batch == 0 {
            return bad("--batch 0: a batch needs at least 1 image".into());
        }
        if self.batch < 2 && self.norm == NormKind::Bn {
            return bad(format!(
                "--batch {}: BatchNorm needs at least 2 images per batch; use --batch 2 or --norm gn",
                self.batch
            ));
        }
        if self.epochs == 0 {
            return bad("--epochs 0: train for at least 1 epoch".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "--lr {} must be a positive, finite number",
                self.lr
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("--momentum {} must be in [0, 1)", self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("--weight-decay {} must be ≥ 0", self.weight_decay));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("--dropout {} must be in [0, 1)", self.dropout));
        }
        if let Some(c) = self.clip
            && !(c.is_finite() && c > 0.0)
        {
            return bad(format!("--clip {c} must be a positive, finite number"));
        }
        if self.image_size == 0 {
            return bad("--image-size 0: an image needs at least 1 pixel".into());
        }
        if self.channels != 1 && self.channels != 3 {
            return bad(format!("--channels {}: use 1 or 3", self.channels));
        }
        if matches!(self.data, DataSource::Folder(_)) && self.channels != 3 {
            return bad("--channels: folders are read as RGB (3 channels)".into());
        }
        if self.train_subset == Some(0) {
            return bad("--train-subset 0: keep at least 1 image".into());
        }
        if self.schedule == ScheduleKind::Onecycle && self.warmup > 0 {
            return bad("--warmup with --schedule onecycle: one-cycle warms up by itself".into());
        }
        if self.warmup > 0 && self.warmup >= self.epochs {
            return bad(format!(
                "--warmup {} must be shorter than --epochs {}",
                self.warmup, self.epochs
            ));
        }
        Ok(())
    }

    /// The differences between two configurations as `field: a → b`, for the resume check.
    pub fn differences(&self, other: &TrainConfig) -> Vec<String> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return vec![];
        };
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: {v} → {}", b.get(k).cloned().unwrap_or_default()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_recipe_and_resume_keeps_the_stored_run() {
        let args = TrainArgs {
            recipe: Some(Recipe::VeryDeep),
            clip: Some(5.0),
            ..TrainArgs::default()
        };
        let c = TrainConfig::resolve(&args, None).unwrap();
        assert_eq!(
            (c.arch.as_str(), c.norm, c.clip),
            ("resnet110", NormKind::Gn, Some(5.0))
        );
        let cnn = TrainConfig::resolve(
            &TrainArgs {
                recipe: Some(Recipe::Cnn),
                ..TrainArgs::default()
            },
            None,
        )
        .unwrap();
        assert_eq!((cnn.optimizer, cnn.lr), (OptimizerKind::Adam, 1e-3));
        // Resuming with no flags gives back the stored run; a typed flag shows as a change.
        let again = TrainConfig::resolve(&TrainArgs::default(), Some(&c)).unwrap();
        assert_eq!(again, c);
        let changed = TrainConfig::resolve(
            &TrainArgs {
                lr: Some(0.5),
                ..TrainArgs::default()
            },
            Some(&c),
        )
        .unwrap();
        assert_eq!(c.differences(&changed), vec!["lr: 0.1 → 0.5".to_string()]);
    }

    #[test]
    fn every_listed_arch_builds_a_config() {
        for a in ARCHS {
            assert!(arch_config(a, 10).is_ok(), "{a}");
        }
        assert!(arch_config("resnet21", 10).is_err());
    }
}
