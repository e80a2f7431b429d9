//! The seed's skip-connection experiment: does the gradient reach the first block?
//!
//! For ResNet-34 against its plain twin and ResNet-152 against Plain-152 (the same
//! architecture with every skip connection removed, He et al. 2016 §4.1), on one batch of
//! 224×224 images, it measures ‖∂L/∂W‖ of every block's parameters at initialization and after
//! a few SGD steps, and the ratio of the first block's norm to the last block's.
//!
//! A residual block computes h_l = relu(h_{l−1} + F(h_{l−1})), so
//! ∂h_l/∂h_{l−1} = diag(relu′)·(I + ∂F/∂h): the identity term carries the backward signal past
//! every block. A plain block has only ∂F/∂h, and the product of L such Jacobians can shrink
//! (or grow) geometrically. Every network is measured twice:
//! - with no normalization at all (the seed's block, Conv → ReLU → Conv → Add → ReLU), which
//!   isolates what the skip connection does;
//! - with torchvision's BatchNorm, which by itself already re-standardizes the signal at
//!   every layer and so changes how the gradient flows.
//!
//! The images are the embedded Fashion-MNIST subset (14×14, standardized) enlarged to 224×224
//! by nearest-neighbour replication and repeated over three channels: real images, at the
//! size the ImageNet networks expect, with nothing to download. The networks are built with
//! torchvision's initialization (`gradflow-resnet`), trained with SGD (momentum 0.9), and
//! their block norms come from [`gradflow_resnet::ResNet::block_grad_norms`].

use std::time::Instant;

use gradflow_optimizers::{Optimizer, Sgd, SgdConfig};
use gradflow_resnet::{Norm, ResNetConfig};
use gradflow_tensor::{Module, Reduction, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::data::Dataset;
use crate::run::figures::{Body, Figure, LinePanel, Look, PlotError, Series, YScale, emit};
use crate::run::{DivergenceGuard, ReportDir, ReportDirError};

/// The report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file of the folder.
    #[error(transparent)]
    Dir(#[from] ReportDirError),
    /// The figure.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// What to measure.
#[derive(Clone, Debug, Serialize)]
pub struct Options {
    /// Images in the batch.
    pub batch: usize,
    /// Image side (224 for the ImageNet networks).
    pub size: usize,
    /// SGD steps between the two measurements.
    pub steps: usize,
    /// SGD learning rate (momentum 0.9).
    pub lr: f64,
    /// Seed for the weights.
    pub seed: u64,
    /// Depths to compare: 18, 34, 50, 101 or 152.
    pub depths: Vec<usize>,
    /// Normalizations to run each pair with.
    pub norms: Vec<NormChoice>,
    /// Start every residual branch at zero (torchvision's `zero_init_residual`: the last BN's
    /// γ, or without normalization the last conv), so each block starts as the identity.
    pub zero_init_residual: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: 2,
            size: 224,
            steps: 3,
            lr: 0.01,
            seed: 0,
            depths: vec![34, 152],
            norms: vec![NormChoice::None, NormChoice::Batch],
            zero_init_residual: false,
        }
    }
}

/// The normalization inside the blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NormChoice {
    /// None: the seed's block.
    None,
    /// torchvision's BatchNorm.
    Batch,
}

impl NormChoice {
    fn norm(self) -> Norm {
        match self {
            NormChoice::None => Norm::None,
            NormChoice::Batch => Norm::Batch,
        }
    }

    /// Its name in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            NormChoice::None => "none",
            NormChoice::Batch => "batchnorm",
        }
    }
}

/// The torchvision configuration of `depth`, with or without skip connections.
///
/// # Errors
/// A message naming the depth when it is not one of torchvision's.
pub fn config(
    depth: usize,
    residual: bool,
    norm: NormChoice,
    classes: usize,
) -> Result<ResNetConfig, String> {
    let c = match depth {
        18 => ResNetConfig::resnet18(classes),
        34 => ResNetConfig::resnet34(classes),
        50 => ResNetConfig::resnet50(classes),
        101 => ResNetConfig::resnet101(classes),
        152 => ResNetConfig::resnet152(classes),
        d => {
            return Err(format!(
                "--depths: {d} is not a torchvision ResNet depth (18, 34, 50, 101, 152)"
            ));
        }
    };
    Ok(c.with_residual(residual).with_norm(norm.norm()))
}

/// One network's measurements.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    /// `resnet152`, `plain34`, …
    pub model: String,
    /// Weight layers (34, 152, …).
    pub depth: usize,
    /// Skip connections on.
    pub residual: bool,
    /// Normalization inside the blocks.
    pub norm: NormChoice,
    /// Block names in forward order (`layer1.0`, …).
    pub blocks: Vec<String>,
    /// ‖∂L/∂W‖ per block at initialization.
    pub init: Vec<f64>,
    /// ‖∂L/∂W‖ per block after the SGD steps (empty when the run diverged first).
    pub trained: Vec<f64>,
    /// Loss at each step (the first at initialization).
    pub losses: Vec<f32>,
    /// Why the run diverged, if it did.
    pub diverged: Option<String>,
    /// Wall time of the measurement.
    pub wall_s: f64,
}

fn ratio(norms: &[f64]) -> f64 {
    match (norms.first(), norms.last()) {
        (Some(f), Some(l)) if *l > 0.0 => f / l,
        _ => f64::NAN,
    }
}

impl Measurement {
    /// First block's ‖∂L/∂W‖ over the last block's, at initialization (≪ 1: the gradient
    /// vanishes on its way to the input; ≫ 1: it explodes).
    pub fn ratio_init(&self) -> f64 {
        ratio(&self.init)
    }

    /// The same after the SGD steps.
    pub fn ratio_trained(&self) -> f64 {
        ratio(&self.trained)
    }
}

/// One batch of `batch` embedded images as `[batch, 3, size, size]` (nearest-neighbour
/// enlargement, the gray channel repeated) and their labels.
///
/// # Panics
/// If `size` is not a multiple of the images' side or the set has fewer than `batch` rows.
pub fn image_batch(data: &Dataset, batch: usize, size: usize) -> (Tensor, Vec<usize>) {
    let side = (data.dim as f64).sqrt() as usize;
    assert!(
        side * side == data.dim && size.is_multiple_of(side) && batch <= data.len(),
        "image_batch: {batch} images of side {side} cannot be enlarged to {size}"
    );
    let k = size / side;
    let mut out = Vec::with_capacity(batch * 3 * size * size);
    for i in 0..batch {
        let img = &data.features[i * data.dim..(i + 1) * data.dim];
        let mut plane = Vec::with_capacity(size * size);
        for r in 0..size {
            for c in 0..size {
                plane.push(img[(r / k) * side + c / k]);
            }
        }
        for _ in 0..3 {
            out.extend_from_slice(&plane);
        }
    }
    (
        Tensor::from_vec(out, &[batch, 3, size, size]),
        data.labels[..batch].to_vec(),
    )
}

/// Build one network, measure its block norms at initialization, train `opts.steps` SGD steps
/// and measure again.
///
/// # Errors
/// The configuration's error (a bad depth).
pub fn measure(
    depth: usize,
    residual: bool,
    norm: NormChoice,
    classes: usize,
    x: &Tensor,
    y: &[usize],
    opts: &Options,
) -> Result<Measurement, String> {
    let start = Instant::now();
    let cfg = config(depth, residual, norm, classes)?
        .with_zero_init_residual(opts.zero_init_residual && residual);
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let net = cfg.init(&mut rng).map_err(|e| e.to_string())?;
    let params = net.parameters();
    let mut sgd = Sgd::new(
        &params,
        SgdConfig {
            lr: opts.lr,
            momentum: 0.9,
            ..SgdConfig::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let names: Vec<String> = net.blocks().into_iter().map(|(n, _)| n).collect();
    let (mut init, mut trained, mut losses, mut guard) =
        (Vec::new(), Vec::new(), Vec::new(), DivergenceGuard::new());
    let mut diverged = None;
    for step in 0..=opts.steps {
        let loss = net.forward(x).cross_entropy(y, Reduction::Mean, 0.0);
        let value = loss.item();
        losses.push(value);
        if let Err(d) = guard.loss(step, value) {
            diverged = Some(d.to_string());
            break;
        }
        loss.backward();
        let norms: Vec<f64> = net.block_grad_norms().into_iter().map(|(_, g)| g).collect();
        if let Err(d) = guard.gradient_norm(step, norms.iter().map(|g| g * g).sum::<f64>().sqrt()) {
            diverged = Some(d.to_string());
            break;
        }
        if step == 0 {
            init = norms;
        } else if step == opts.steps {
            trained = norms;
        }
        if step < opts.steps {
            sgd.step();
        }
        sgd.zero_grad();
    }
    Ok(Measurement {
        model: format!("{}{depth}", if residual { "resnet" } else { "plain" }),
        depth,
        residual,
        norm,
        blocks: names,
        init,
        trained,
        losses,
        diverged,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

fn sci(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1e}")
    } else {
        "—".into()
    }
}

/// The summary table: one row per network.
pub fn table(ms: &[Measurement]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:<9} {:>7} {:>11} {:>11} {:>11} {:>11} {:>15} {:>7}",
        "model",
        "norm",
        "blocks",
        "first@init",
        "last@init",
        "first/last",
        "after steps",
        "loss",
        "time"
    );
    for m in ms {
        let loss = match (m.losses.first(), m.losses.last()) {
            (Some(a), Some(b)) => format!("{a:.2} → {b:.2}"),
            _ => "—".into(),
        };
        let _ = writeln!(
            s,
            "{:<10} {:<9} {:>7} {:>11} {:>11} {:>11} {:>11} {:>15} {:>6.1}s{}",
            m.model,
            m.norm.name(),
            m.blocks.len(),
            sci(m.init.first().copied().unwrap_or(f64::NAN)),
            sci(m.init.last().copied().unwrap_or(f64::NAN)),
            sci(m.ratio_init()),
            sci(m.ratio_trained()),
            loss,
            m.wall_s,
            m.diverged
                .as_ref()
                .map_or(String::new(), |d| format!("  diverged: {d}"))
        );
    }
    s
}

/// Bytes one training step of ResNet-`depth` needs at `batch` images of side `size`, in f64
/// (no overflow for any flag value): parameters, gradients and momentum, plus the activations
/// kept for backward. The activation term is PyTorch's measured training footprint per 224²
/// image (about 40, 60, 160, 230 and 320 MB for depths 18 to 152) times 3 for the im2col
/// buffers and saved inputs of this engine, scaled by the pixel count.
pub fn memory_estimate(depth: usize, batch: usize, size: usize) -> f64 {
    let params =
        config(depth, true, NormChoice::Batch, 10).map_or(6.0e7, |c| c.num_parameters() as f64);
    let per_image_224 = match depth {
        18 => 40e6,
        34 => 60e6,
        50 => 160e6,
        101 => 230e6,
        _ => 320e6,
    };
    let pixels = (size as f64 / 224.0).powi(2);
    3.0 * 4.0 * params + 3.0 * per_image_224 * pixels * batch as f64
}

/// The figure: ‖∂L/∂W‖ per block (log scale, block 1 next to the input), one panel per
/// normalization, a solid line per residual net and a dashed one per plain twin, at
/// initialization (left) and after the SGD steps (right).
pub fn figure(ms: &[Measurement]) -> Figure {
    let mut legend = Vec::new();
    let mut panels = Vec::new();
    let models: Vec<(usize, bool)> = {
        let mut v: Vec<(usize, bool)> = ms.iter().map(|m| (m.depth, m.residual)).collect();
        v.sort_by_key(|&(d, r)| (d, !r));
        v.dedup();
        v
    };
    let look = |depth: usize, residual: bool| {
        let i = models.iter().position(|&(d, _)| d == depth).unwrap_or(0);
        Look {
            dashed: !residual,
            ..Look::nth(i)
        }
    };
    for &(d, r) in &models {
        let name = format!("{}{d}", if r { "resnet" } else { "plain" });
        legend.push((name, look(d, r)));
    }
    let mut norms: Vec<NormChoice> = ms.iter().map(|m| m.norm).collect();
    norms.dedup();
    for norm in norms {
        for (when, pick) in [
            (
                "at initialization",
                (|m: &Measurement| m.init.clone()) as fn(&Measurement) -> Vec<f64>,
            ),
            ("after the SGD steps", |m: &Measurement| m.trained.clone()),
        ] {
            let series = ms
                .iter()
                .filter(|m| m.norm == norm)
                .map(|m| Series {
                    look: look(m.depth, m.residual),
                    points: pick(m)
                        .iter()
                        .enumerate()
                        .map(|(i, &g)| ((i + 1) as f64, g))
                        .collect(),
                })
                .collect();
            panels.push(LinePanel {
                title: format!("norm: {}, {when}", norm.name()),
                x_desc: "block (1 = next to the input)".into(),
                y_desc: "‖∂L/∂W_block‖ (log scale)".into(),
                y_scale: YScale::Log,
                series,
            });
        }
    }
    let width = 290 + 420 * panels.len().max(1) as u32;
    Figure {
        title: "Gradient norm per residual block: skip connections vs plain twins".into(),
        size: (width, 520),
        body: Body::Lines { panels, legend },
    }
}

/// Write results.json, blocks.csv, the figure and report.md into the report folder.
///
/// # Errors
/// The folder's or the figure's write error, naming the file.
pub fn write_report(
    out: &ReportDir,
    opts: &Options,
    ms: &[Measurement],
) -> Result<(), ReportError> {
    let json = serde_json::json!({ "options": opts, "measurements": ms });
    out.write(
        "results.json",
        serde_json::to_string_pretty(&json)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    out.write("blocks.csv", blocks_csv(ms).as_bytes())?;
    let fig = figure(ms);
    let svg = emit(&fig, out.path(), "block_grad_norms")?;
    let md = format!(
        "# gradflow resnet-gradients report\n\n\
         {} embedded Fashion-MNIST images enlarged to {}×{} (3 channels), {} SGD steps at lr {} \
         (momentum 0.9), seed {}{}.\n\n```text\n{}```\n\n\
         `first@init` and `last@init` are ‖∂L/∂W‖ of the first and last residual block's \
         parameters at initialization; `first/last` their ratio (≪ 1: the gradient vanishes on \
         its way to the input, ≫ 1: it explodes); `after steps` the same ratio after training. \
         `blocks.csv` has every block; `results.json` everything.\n\n![{}]({})\n",
        opts.batch,
        opts.size,
        opts.size,
        opts.steps,
        opts.lr,
        opts.seed,
        if opts.zero_init_residual {
            ", residual branches zero-initialized"
        } else {
            ""
        },
        table(ms),
        fig.title,
        svg
    );
    out.write("report.md", md.as_bytes())?;
    Ok(())
}

/// One CSV row per (network, block): the block's ‖∂L/∂W‖ at initialization and after training.
pub fn blocks_csv(ms: &[Measurement]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("model,norm,block_index,block,grad_norm_init,grad_norm_trained\n");
    for m in ms {
        for (i, b) in m.blocks.iter().enumerate() {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{}",
                m.model,
                m.norm.name(),
                i + 1,
                b,
                m.init.get(i).copied().unwrap_or(f64::NAN),
                m.trained.get(i).copied().unwrap_or(f64::NAN)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enlarged_batch_replicates_pixels_over_channels() {
        let data = Dataset {
            name: "t".into(),
            features: vec![1.0, 2.0, 3.0, 4.0],
            labels: vec![7],
            dim: 4,
            classes: 10,
        };
        let (x, y) = image_batch(&data, 1, 4);
        assert_eq!(x.shape(), &[1, 3, 4, 4]);
        assert_eq!(y, vec![7]);
        let v = x.to_vec();
        assert_eq!(&v[..8], &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
        assert_eq!(v[..16], v[32..48], "every channel is the same plane");
    }

    #[test]
    fn skip_connections_carry_the_gradient_that_a_plain_net_loses() {
        // A small version of the experiment (ResNet-18 layout, 32×32 images, no norm): the
        // first/last ratio of the residual net must exceed the plain twin's. The skip adds an
        // identity to every block Jacobian, so its ratio cannot collapse the way a product of
        // plain block Jacobians does.
        let data = Dataset {
            name: "t".into(),
            features: (0..4 * 16)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
                .collect(),
            labels: vec![0, 1, 2, 3],
            dim: 16,
            classes: 10,
        };
        let (x, y) = image_batch(&data, 4, 32);
        let opts = Options {
            steps: 1,
            ..Options::default()
        };
        let res = measure(18, true, NormChoice::None, 10, &x, &y, &opts).unwrap();
        let plain = measure(18, false, NormChoice::None, 10, &x, &y, &opts).unwrap();
        assert_eq!(res.blocks.len(), 8);
        assert!(
            res.init.iter().all(|g| g.is_finite() && *g > 0.0),
            "{res:?}"
        );
        assert!(
            res.ratio_init() > plain.ratio_init(),
            "resnet {} vs plain {}",
            res.ratio_init(),
            plain.ratio_init()
        );
    }
}
