//! [`ResNet`]: stem, stages of residual blocks, global average pool, `fc`.

use gradflow_activations::relu;
use gradflow_init::default_weight;
use gradflow_layers::{Conv2d, Linear, LinearConfig, MaxPool2d};
use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

use crate::block::Block;
use crate::config::{ResNetConfig, Stem};
use crate::norm::NormLayer;
use crate::shortcut::kaiming_conv;

/// A residual network (torchvision's `ResNet`):
///
/// h₀ = pool(relu(BN(W₀ ⋆ x))),   h_l = relu(F_l(h_{l−1}) + S_l(h_{l−1})),
/// logits = fc(mean_{H,W}(h_L)).
///
/// Built by [`ResNetConfig::init`]; the named networks are [`ResNetConfig::resnet18`] …
/// [`ResNetConfig::resnet152`], [`ResNetConfig::resnext50_32x4d`],
/// [`ResNetConfig::wide_resnet50_2`], the CIFAR family [`ResNetConfig::resnet20`] …
/// [`ResNetConfig::resnet110`] and the plain twins `plain*`.
///
/// # Names
/// Exactly torchvision's state dict: `conv1.weight`, `bn1.*`, `layer{i}.{j}.conv1.weight`,
/// `layer{i}.{j}.bn1.running_mean`, `layer{i}.{j}.downsample.0.weight`, …, `fc.weight`,
/// `fc.bias` (stages numbered from 1, blocks from 0). A torchvision checkpoint therefore
/// loads with [`ResNet::load_state_dict`].
///
/// # Modes
/// A new network is in training mode; [`Module::eval`] and [`Module::train`] reach every
/// normalization layer.
///
/// # Shapes
/// `[N, in_channels, H, W] → [N, num_classes]` for any H, W ≥ 1: the ImageNet stem maps H to
/// ⌊(⌊(H − 1)/2⌋ + 1 − 1)/2⌋ + 1 (7×7/2 conv, 3×3/2 pool), each later stage to ⌈H/2⌉, and the
/// global average pool removes what is left.
///
/// # Panics
/// In `forward`, if the input is not 4-D with `in_channels` channels, or if a BatchNorm in
/// training mode sees a single value per channel (batch 1 with a 1×1 map, as in PyTorch).
///
/// ```
/// use gradflow_resnet::ResNetConfig;
/// use gradflow_tensor::{Module, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut net = ResNetConfig::resnet20(10).init(&mut rng).unwrap();
/// assert_eq!(net.num_parameters(), 269_722);
/// net.eval();
/// let logits = net.forward(&Tensor::zeros(&[2, 3, 32, 32]));
/// assert_eq!(logits.shape(), &[2, 10]);
/// ```
#[derive(Debug)]
pub struct ResNet {
    /// The stem convolution (`conv1`).
    pub conv1: Conv2d,
    /// The stem normalization (`bn1`).
    pub bn1: NormLayer,
    /// The ImageNet stem's 3×3/2 max-pool (`None` for the CIFAR stem).
    pub maxpool: Option<MaxPool2d>,
    /// The stages, `layers[i]` holding `layer{i+1}.0`, `layer{i+1}.1`, ….
    pub layers: Vec<Vec<Block>>,
    /// The classifier (`fc`).
    pub fc: Linear,
    config: ResNetConfig,
}

impl ResNet {
    /// Build from a validated configuration (see [`ResNetConfig::init`]).
    pub(crate) fn build<R: Rng + ?Sized>(config: ResNetConfig, rng: &mut R) -> ResNet {
        let o = config.options;
        let stem_width = config.widths[0];
        let (k, stride, pad) = match config.stem {
            Stem::ImageNet => (7, 2, 3),
            Stem::Cifar => (3, 1, 1),
        };
        let conv1 = kaiming_conv(
            config.in_channels,
            stem_width,
            k,
            stride,
            pad,
            1,
            o.norm.conv_bias(),
            rng,
        );
        let bn1 = o.norm.layer(stem_width);
        let maxpool = (config.stem == Stem::ImageNet)
            .then(|| MaxPool2d::new(3).with_stride(2).with_padding(1));
        let e = config.block.expansion();
        let mut inplanes = stem_width;
        let mut layers = Vec::with_capacity(config.layers.len());
        for (i, (&n, &planes)) in config.layers.iter().zip(&config.widths).enumerate() {
            let mut stage = Vec::with_capacity(n);
            for j in 0..n {
                let s = if j == 0 {
                    ResNetConfig::stage_stride(i)
                } else {
                    1
                };
                stage.push(Block::new(config.block, inplanes, planes, s, &o, rng));
                inplanes = planes * e;
            }
            layers.push(stage);
        }
        // PyTorch's default Linear init: W, b ~ U(±1/√fan_in) (torchvision leaves fc alone).
        let fc = LinearConfig::new(inplanes, config.num_classes).init(rng);
        let net = ResNet {
            conv1,
            bn1,
            maxpool,
            layers,
            fc,
            config,
        };
        if net.config.zero_init_residual {
            for (_, b) in net.blocks() {
                b.zero_init_residual();
            }
        }
        net
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }

    /// Every block with its torchvision prefix (`layer1.0`, `layer1.1`, …, `layer4.2`), in
    /// forward order. The lead's gradient experiments group parameters by these prefixes.
    pub fn blocks(&self) -> Vec<(String, &Block)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, stage)| {
                stage
                    .iter()
                    .enumerate()
                    .map(move |(j, b)| (format!("layer{}.{j}", i + 1), b))
            })
            .collect()
    }

    /// ‖∂L/∂θ_b‖₂ for each block b (all of the block's parameters together, projection
    /// included), in forward order, from the gradients the last `backward` left: the
    /// quantity of the "does the gradient reach layer 1?" experiment. A block whose
    /// parameters have no gradient yet reports 0.
    ///
    /// ```
    /// use gradflow_resnet::ResNetConfig;
    /// use gradflow_tensor::{Module, Reduction, Tensor};
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let net = ResNetConfig::resnet20(10).init(&mut rng).unwrap();
    /// let x = Tensor::randn(&[2, 3, 8, 8], 0.0, 1.0, &mut rng);
    /// net.forward(&x).cross_entropy(&[0, 1], Reduction::Mean, 0.0).backward();
    /// let norms = net.block_grad_norms();
    /// assert_eq!(norms.len(), 9);
    /// assert_eq!(norms[0].0, "layer1.0");
    /// assert!(norms.iter().all(|(_, g)| g.is_finite() && *g > 0.0));
    /// ```
    pub fn block_grad_norms(&self) -> Vec<(String, f64)> {
        self.blocks()
            .into_iter()
            .map(|(name, b)| {
                let grads: Vec<Tensor> = b.parameters().iter().filter_map(|p| p.grad()).collect();
                let refs: Vec<&Tensor> = grads.iter().collect();
                // The workspace's one norm: f64 accumulation, so a vanished 1e-30 stays 1e-30.
                (name, Tensor::global_norm_value(&refs, 2.0))
            })
            .collect()
    }

    /// The stem: pool(relu(bn1(conv1(x)))).
    pub fn stem(&self, x: &Tensor) -> Tensor {
        let h = relu(&self.bn1.after_conv(&self.conv1, x));
        match &self.maxpool {
            Some(p) => p.forward(&h),
            None => h,
        }
    }

    /// Features before the classifier: the global average of the last stage, `[N, C_out]`.
    pub fn forward_features(&self, x: &Tensor) -> Tensor {
        let mut h = self.stem(x);
        for b in self.layers.iter().flatten() {
            h = b.forward(&h);
        }
        h.mean(&[2, 3], false)
    }

    /// Re-draw `fc` for `num_classes` outputs with PyTorch's default initialization (fine-tuning
    /// a pretrained network on a new label set).
    pub fn replace_fc<R: Rng + ?Sized>(&mut self, num_classes: usize, rng: &mut R) {
        let fan_in = self.config.out_channels();
        let w = default_weight(&[num_classes, fan_in], rng).requires_grad_();
        let b = gradflow_init::default_bias(num_classes, fan_in, rng).requires_grad_();
        self.fc = Linear::from_tensors(w, Some(b));
        self.config.num_classes = num_classes;
    }
}

impl Module for ResNet {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.fc.forward(&self.forward_features(x))
    }

    fn visit(&self, s: &mut Scope<'_>) {
        s.module("conv1", &self.conv1);
        s.module("bn1", &self.bn1);
        for (name, b) in self.blocks() {
            s.module(&name, b);
        }
        s.module("fc", &self.fc);
    }

    fn set_training(&mut self, training: bool) {
        self.bn1.set_training(training);
        for b in self.layers.iter_mut().flatten() {
            b.set_training(training);
        }
    }
}
