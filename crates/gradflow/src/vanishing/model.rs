//! The deep MLPs of the ladder, built from the library's own layers.
//!
//! `depth` counts linear layers: input → hidden (width), depth − 2 hidden → hidden blocks,
//! hidden → classes. Block l computes a_l = φ(N(W_l h_{l−1} + b_l)) with an optional
//! normalization N, then h_l = a_l (plain) or h_l = h_{l−1} + α·a_l (residual, the seed's
//! a_{l+1} = σ(W a_l + b) + a_l with the branch scaled by α = 1/√(blocks): without that scale,
//! a He-initialized branch adds as much variance as the skip carries, so the forward variance
//! doubles at every block and a 20-block net overflows within a step).
//!
//! Everything is a `gradflow-layers` part, exactly as a user would write it: a [`Sequential`]
//! of blocks, each a `Sequential` of [`Linear`](gradflow_layers::Linear) (its init chosen
//! through [`LinearConfig::with_init`]), a norm layer and an activation module, wrapped in
//! [`Residual`] for skip connections. The recorder's view comes from a forward [`Tap`]: block
//! l's output is traced as `"{l}"` and its activation as `"{l}.act"`.

use gradflow_activations::{
    Elu, LeakyRelu, PRelu, Relu, Sigmoid, Tanh, sigmoid_prime_from_output, tanh_prime_from_output,
};
use gradflow_init::{FanMode, Initializer, Nonlinearity};
use gradflow_layers::{LinearConfig, Residual, Sequential, Tap};
use gradflow_normalization::{BatchNorm1d, GroupNorm};
use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;
use serde::Serialize;

use crate::diagnostics::LayerTrace;

/// The nonlinearity φ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Activation {
    /// σ(z) = 1/(1 + e^(−z)), σ′ ≤ 1/4.
    Sigmoid,
    /// tanh, tanh′ ≤ 1.
    Tanh,
    /// max(0, z).
    Relu,
    /// max(0.01 z, z).
    LeakyRelu,
    /// Leaky ReLU with a learned slope (init 0.25).
    Prelu,
    /// ELU with α = 1.
    Elu,
}

impl Activation {
    fn module(self) -> Box<dyn Module> {
        match self {
            Activation::Sigmoid => Box::new(Sigmoid),
            Activation::Tanh => Box::new(Tanh),
            Activation::Relu => Box::new(Relu),
            Activation::LeakyRelu => Box::new(LeakyRelu::new(0.01)),
            Activation::Prelu => Box::new(PRelu::new(1, 0.25)),
            Activation::Elu => Box::new(Elu::new(1.0)),
        }
    }

    /// φ′ read off the activation's output y, for the activations that saturate on both
    /// sides (σ′ = y(1 − y), tanh′ = 1 − y², from `gradflow-activations`); `None` for the
    /// others, whose saturation the recorder reports as 0.
    pub fn derivative_from_output(self) -> Option<fn(f32) -> f32> {
        match self {
            Activation::Sigmoid => Some(sigmoid_prime_from_output),
            Activation::Tanh => Some(tanh_prime_from_output),
            _ => None,
        }
    }

    fn nonlinearity(self) -> Nonlinearity {
        match self {
            Activation::Sigmoid => Nonlinearity::Sigmoid,
            Activation::Tanh => Nonlinearity::Tanh,
            Activation::LeakyRelu => Nonlinearity::LeakyRelu(Some(0.01)),
            Activation::Prelu => Nonlinearity::LeakyRelu(Some(0.25)),
            Activation::Relu | Activation::Elu => Nonlinearity::Relu,
        }
    }
}

/// How the weights start (a name for the report; [`InitScheme::initializer`] is the
/// `gradflow-init` scheme the layers are built with).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum InitScheme {
    /// N(0, std²) for every layer.
    Normal(f64),
    /// Glorot: N(0, 2/(n_in + n_out)), gain 1 as in Glorot & Bengio (2010).
    Xavier,
    /// He: N(0, gain²/n_in) with the activation's gain (√2 for ReLU).
    He,
    /// He's standard deviation times a factor: > 1 makes every layer amplify the signal.
    HeTimes(f64),
}

impl InitScheme {
    /// The weight initializer for layers followed by `activation`.
    pub fn initializer(self, activation: Activation) -> Initializer {
        let he = Initializer::KaimingNormal {
            mode: FanMode::FanIn,
            nonlinearity: activation.nonlinearity(),
        };
        match self {
            InitScheme::Normal(std) => Initializer::Normal { mean: 0.0, std },
            InitScheme::Xavier => Initializer::XavierNormal { gain: 1.0 },
            InitScheme::He => he,
            InitScheme::HeTimes(k) => he.scaled(k),
        }
    }
}

/// Normalization inserted before the activation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Norm {
    /// None.
    None,
    /// BatchNorm1d over the batch.
    Batch,
    /// GroupNorm with this many groups (independent of the batch).
    Group(usize),
}

/// Everything that defines one deep MLP.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MlpSpec {
    /// Linear layers in total (≥ 2).
    pub depth: usize,
    /// Hidden units per layer.
    pub width: usize,
    /// Input features.
    pub input: usize,
    /// Output classes.
    pub classes: usize,
    /// φ.
    pub activation: Activation,
    /// Weight initialization.
    pub init: InitScheme,
    /// Normalization before φ.
    pub norm: Norm,
    /// Residual connections around the hidden blocks.
    pub residual: bool,
}

impl MlpSpec {
    /// Hidden blocks (layers the recorder traces): every linear layer but the output one.
    pub fn blocks(&self) -> usize {
        self.depth - 1
    }

    /// Trainable scalars: weights and biases of every linear layer, plus the norm layers'
    /// γ, β and PReLU's slope.
    pub fn parameters(&self) -> usize {
        let (w, blocks) = (self.width, self.blocks());
        let linear =
            self.input * w + w + (blocks - 1) * (w * w + w) + w * self.classes + self.classes;
        let norm = match self.norm {
            Norm::None => 0,
            Norm::Batch | Norm::Group(_) => 2 * w * blocks,
        };
        let prelu = usize::from(self.activation == Activation::Prelu) * blocks;
        linear + norm + prelu
    }
}

/// A deep MLP built from an [`MlpSpec`] out of `gradflow-layers` parts, with a forward tap on
/// every hidden block.
pub struct LadderNet {
    spec: MlpSpec,
    net: Sequential,
    tap: Tap,
    /// W_l of every hidden block, input side first (handles to the layers' own tensors).
    weights: Vec<Tensor>,
}

impl LadderNet {
    /// Build the network with weights drawn from `rng` (biases start at 0).
    ///
    /// # Panics
    /// If `spec.depth < 2`, a size is 0, or the group count does not divide the width (the
    /// CLI validates these first).
    pub fn new<R: Rng + ?Sized>(spec: MlpSpec, rng: &mut R) -> Self {
        assert!(
            spec.depth >= 2 && spec.width > 0 && spec.input > 0 && spec.classes > 0,
            "LadderNet: depth must be >= 2 and sizes positive, got {spec:?}"
        );
        let init = spec.init.initializer(spec.activation);
        let linear = |inp: usize, out: usize, rng: &mut R| {
            LinearConfig::new(inp, out)
                .with_init(init.clone())
                .with_bias_init(Initializer::Constant(0.0))
                .init(rng)
        };
        let alpha = 1.0 / ((spec.depth - 2).max(1) as f64).sqrt();
        let (tap, mut net, mut weights) = (Tap::new(), Sequential::new(), Vec::new());
        for l in 1..=spec.blocks() {
            let fc = linear(
                if l == 1 { spec.input } else { spec.width },
                spec.width,
                rng,
            );
            weights.push(fc.weight().clone());
            let mut branch = Sequential::new().with(fc);
            match spec.norm {
                Norm::None => {}
                Norm::Batch => branch.push(BatchNorm1d::new(spec.width)),
                Norm::Group(g) => branch.push(GroupNorm::new(g, spec.width)),
            }
            branch.push(tap.wrap(format!("{l}.act"), spec.activation.module()));
            if spec.residual && l > 1 {
                net.push(tap.wrap(l.to_string(), Residual::new(branch).with_scale(alpha)));
            } else {
                net.push(tap.wrap(l.to_string(), branch));
            }
        }
        net.push(linear(spec.width, spec.classes, rng));
        LadderNet {
            spec,
            net,
            tap,
            weights,
        }
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// Logits plus a trace of every hidden block (input side first) for the recorder. The
    /// block outputs retain their gradients, so after `backward` the recorder reads ∂L/∂h_l.
    pub fn forward_traced(&self, x: &Tensor) -> (Tensor, Vec<LayerTrace>) {
        self.tap.arm();
        let logits = self.net.forward(x);
        let mut records = self.tap.take().into_iter();
        let mut traces = Vec::with_capacity(self.weights.len());
        // Forward order is "1.act", "1", "2.act", "2", …: each block's activation is recorded
        // inside the block, before the block's own output.
        while let (Some(act), Some(out)) = (records.next(), records.next()) {
            debug_assert_eq!(act.name, format!("{}.act", out.name));
            traces.push(LayerTrace {
                activation: act.output,
                output: out.output,
                weight: self.weights[traces.len()].clone(),
            });
        }
        (logits, traces)
    }
}

impl Module for LadderNet {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.net.forward(x)
    }
    fn visit(&self, s: &mut Scope<'_>) {
        self.net.visit(s);
    }
    fn set_training(&mut self, training: bool) {
        self.net.set_training(training);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn spec(norm: Norm, residual: bool, activation: Activation) -> MlpSpec {
        MlpSpec {
            depth: 5,
            width: 8,
            input: 6,
            classes: 3,
            activation,
            init: InitScheme::He,
            norm,
            residual,
        }
    }

    #[test]
    fn parameter_count_matches_the_built_layers() {
        for s in [
            spec(Norm::None, false, Activation::Relu),
            spec(Norm::Batch, true, Activation::Prelu),
            spec(Norm::Group(4), true, Activation::Tanh),
        ] {
            let net = LadderNet::new(s, &mut rand::rngs::StdRng::seed_from_u64(0));
            assert_eq!(net.num_parameters(), s.parameters(), "{s:?}");
        }
    }

    #[test]
    fn traces_one_entry_per_hidden_block_with_its_weight() {
        let net = LadderNet::new(
            spec(Norm::None, true, Activation::Relu),
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        let x = Tensor::ones(&[2, 6]);
        let (logits, traces) = net.forward_traced(&x);
        assert_eq!(logits.shape(), &[2, 3]);
        assert_eq!(traces.len(), 4);
        assert_eq!(traces[0].weight.shape(), &[8, 6]);
        assert_eq!(traces[3].weight.shape(), &[8, 8]);
        logits.sum_all().backward();
        for t in &traces {
            assert!(t.output.grad().is_some());
            assert!(t.weight.grad().is_some());
        }
        // The traced forward and the plain one agree.
        assert_eq!(net.forward(&x).to_vec(), logits.to_vec());
    }

    #[test]
    fn residual_block_adds_the_scaled_branch() {
        // h_2 = h_1 + α·a_2 with α = 1/√(depth − 2).
        let net = LadderNet::new(
            spec(Norm::None, true, Activation::Relu),
            &mut rand::rngs::StdRng::seed_from_u64(2),
        );
        let (_, t) = net.forward_traced(&Tensor::ones(&[1, 6]));
        let alpha = 1.0 / 3f32.sqrt();
        let want = t[0].output.add(&t[1].activation.mul_scalar(alpha));
        for (a, b) in t[1].output.to_vec().iter().zip(want.to_vec()) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}
