//! The trained network: a gradflow-resnet [`ResNet`] with optional Dropout on its pooled
//! features (the small-data recipe), under torchvision's state-dict names.
//!
//! logits = fc(m ⊙ h / (1 − p)),  h = mean_{H,W}(features(x)),  mᵢ ~ Bernoulli(1 − p).
//!
//! The dropout mask of optimizer step t is drawn from a generator seeded by (seed, t), not
//! from a generator that lives in the module: a run resumed at step t draws the masks the
//! uninterrupted run would have drawn, so resuming stays bit-exact with dropout on.

use std::sync::atomic::{AtomicU64, Ordering};

use gradflow_resnet::{BlockKind, ResNet, ResNetConfig, Stem};
use gradflow_tensor::{Module, Scope, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::ImageError;
use super::config::{TrainConfig, arch_config};

/// A ResNet with dropout before `fc`; see the module docs.
#[derive(Debug)]
pub struct Classifier {
    /// The network.
    pub net: ResNet,
    dropout: f64,
    seed: u64,
    step: AtomicU64,
    training: bool,
}

/// The network a configuration describes, for `classes` outputs.
///
/// # Errors
/// [`ImageError::Usage`] for an unknown architecture; [`ImageError::Model`] for an invalid
/// combination.
pub fn resnet_config(cfg: &TrainConfig, classes: usize) -> Result<ResNetConfig, ImageError> {
    Ok(arch_config(&cfg.arch, classes)?
        .with_norm(cfg.norm.norm())
        .with_in_channels(cfg.channels))
}

impl Classifier {
    /// Builds the network of `cfg` with weights drawn from `cfg.seed`.
    ///
    /// # Errors
    /// As [`resnet_config`].
    pub fn new(cfg: &TrainConfig, classes: usize) -> Result<Classifier, ImageError> {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let net = resnet_config(cfg, classes)?.init(&mut rng)?;
        Ok(Classifier {
            net,
            dropout: cfg.dropout,
            seed: cfg.seed,
            step: AtomicU64::new(0),
            training: true,
        })
    }

    /// Sets the optimizer step whose dropout mask the next training forward draws.
    pub fn set_step(&self, step: u64) {
        self.step.store(step, Ordering::Relaxed);
    }
}

impl Module for Classifier {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.net.forward_features(x);
        let h = if self.training && self.dropout > 0.0 {
            let t = self.step.load(Ordering::Relaxed);
            let mut rng = StdRng::seed_from_u64(
                self.seed ^ 0xd00d_f00d ^ t.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            h.dropout(self.dropout, &mut rng)
        } else {
            h
        };
        self.net.fc.forward(&h)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        self.net.visit(s);
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
        self.net.set_training(training);
    }
}

/// Bytes a training step of `net` at `batch` images of `channels × size × size` is expected
/// to hold: parameters, gradients and two optimizer buffers (4 copies of every weight), plus
/// the activations backward keeps. Each convolution keeps about five tensors of its output's
/// size (its output, the normalized output, the ReLU output, the im2col buffer of the next
/// layer and the gradient flowing back), so a block costs 5·(its outputs) per image. An
/// estimate to refuse runs that cannot fit, not an accounting.
pub fn memory_estimate(net: &ResNetConfig, batch: usize, size: usize) -> f64 {
    let params = net.num_parameters() as f64 * 4.0 * 4.0;
    let mut side = size as f64;
    let stem_c = net.widths.first().copied().unwrap_or(64) as f64;
    if net.stem == Stem::ImageNet {
        side = (side / 2.0).ceil();
    }
    let mut per_image = stem_c * side * side;
    if net.stem == Stem::ImageNet {
        side = (side / 2.0).ceil();
    }
    let e = net.block.expansion() as f64;
    for (i, (&n, &w)) in net.layers.iter().zip(&net.widths).enumerate() {
        if i > 0 {
            side = (side / 2.0).ceil();
        }
        let plane = side * side * w as f64;
        let per_block = match net.block {
            BlockKind::Basic => 2.0 * plane,
            BlockKind::Bottleneck => 2.0 * plane + plane * e,
        };
        per_image += n as f64 * per_block;
    }
    params + 5.0 * 4.0 * per_image * batch as f64
}
