//! The deep MLPs of the lab: one architecture, with the cures as switches.
//!
//! `depth` counts linear layers: input → hidden (width), depth − 2 hidden → hidden blocks,
//! hidden → classes. Each hidden block computes a = φ(N(W h + b)) with an optional
//! normalization N, then h′ = a (plain) or h′ = h + α·a (residual, the seed's
//! a_{l+1} = σ(W a_l + b) + a_l with the branch scaled by α = 1/√(blocks): without that scale,
//! a He-initialized branch adds as much variance as the skip carries, so the forward variance
//! doubles at every block and a 20-block net overflows within a step).

use gradflow_activations::{Elu, LeakyRelu, PRelu, Relu, Sigmoid, Tanh};
use gradflow_init::{FanMode, Nonlinearity, kaiming_normal, normal, xavier_normal, zeros};
use gradflow_layers::Linear;
use gradflow_normalization::{BatchNorm1d, GroupNorm};
use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;
use serde::Serialize;

use crate::diagnostics::{LayerTrace, Saturation};

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

    /// How the recorder reads saturation for this activation.
    pub fn saturation(self) -> Saturation {
        match self {
            Activation::Sigmoid => Saturation::Sigmoid,
            Activation::Tanh => Saturation::Tanh,
            _ => Saturation::None,
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

/// How the weights start.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum InitScheme {
    /// N(0, std²) for every layer.
    Normal(f32),
    /// Glorot: N(0, 2/(n_in + n_out)), gain 1 as in Glorot & Bengio (2010).
    Xavier,
    /// He: N(0, gain²/n_in) with the activation's gain (√2 for ReLU).
    He,
    /// He's standard deviation times a factor: > 1 makes every layer amplify the signal.
    HeTimes(f32),
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

struct Block {
    linear: Linear,
    norm: Option<Box<dyn Module>>,
    act: Box<dyn Module>,
}

/// A deep MLP built from an [`MlpSpec`].
pub struct DeepMlp {
    spec: MlpSpec,
    input: Block,
    hidden: Vec<Block>,
    output: Linear,
    branch_scale: f32,
}

fn weight<R: Rng + ?Sized>(spec: &MlpSpec, out: usize, inp: usize, rng: &mut R) -> Tensor {
    let shape = [out, inp];
    match spec.init {
        InitScheme::Normal(std) => normal(&shape, 0.0, std, rng),
        InitScheme::Xavier => xavier_normal(&shape, 1.0, rng),
        InitScheme::He | InitScheme::HeTimes(_) => {
            let (a, nl) = match spec.activation.nonlinearity() {
                Nonlinearity::LeakyRelu(s) => (s.unwrap_or(0.01), Nonlinearity::LeakyRelu(s)),
                other => (0.0, other),
            };
            let w = kaiming_normal(&shape, a, FanMode::FanIn, nl, rng);
            match spec.init {
                InitScheme::HeTimes(k) => w.mul_scalar(k),
                _ => w,
            }
        }
    }
}

fn block<R: Rng + ?Sized>(spec: &MlpSpec, inp: usize, rng: &mut R) -> Block {
    let w = weight(spec, spec.width, inp, rng).requires_grad_();
    let b = zeros(&[spec.width]).requires_grad_();
    Block {
        linear: Linear::from_tensors(w, Some(b)),
        norm: match spec.norm {
            Norm::None => None,
            Norm::Batch => Some(Box::new(BatchNorm1d::new(spec.width))),
            Norm::Group(g) => Some(Box::new(GroupNorm::new(g, spec.width))),
        },
        act: spec.activation.module(),
    }
}

impl Block {
    fn forward(&self, x: &Tensor) -> Tensor {
        let z = self.linear.forward(x);
        let z = match &self.norm {
            Some(n) => n.forward(&z),
            None => z,
        };
        self.act.forward(&z)
    }
}

impl Module for Block {
    fn forward(&self, x: &Tensor) -> Tensor {
        Block::forward(self, x)
    }
    fn visit(&self, s: &mut Scope<'_>) {
        s.module("linear", &self.linear);
        if let Some(n) = &self.norm {
            s.module("norm", n.as_ref());
        }
        s.module("act", self.act.as_ref());
    }
    fn set_training(&mut self, training: bool) {
        if let Some(n) = &mut self.norm {
            n.set_training(training);
        }
        self.act.set_training(training);
    }
}

impl DeepMlp {
    /// Build the network with weights drawn from `rng`.
    ///
    /// # Panics
    /// If `spec.depth < 2` or a size is 0 (the CLI validates these first).
    pub fn new<R: Rng + ?Sized>(spec: MlpSpec, rng: &mut R) -> Self {
        assert!(
            spec.depth >= 2 && spec.width > 0 && spec.input > 0 && spec.classes > 0,
            "DeepMlp: depth must be >= 2 and sizes positive, got {spec:?}"
        );
        let input = block(&spec, spec.input, rng);
        let hidden = (0..spec.depth - 2)
            .map(|_| block(&spec, spec.width, rng))
            .collect();
        let w = weight(&spec, spec.classes, spec.width, rng).requires_grad_();
        let b = zeros(&[spec.classes]).requires_grad_();
        DeepMlp {
            spec,
            input,
            hidden,
            output: Linear::from_tensors(w, Some(b)),
            branch_scale: 1.0 / ((spec.depth - 2).max(1) as f32).sqrt(),
        }
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// Logits plus a trace of every hidden layer (input block first) for the recorder.
    pub fn forward_traced(&self, x: &Tensor) -> (Tensor, Vec<LayerTrace>) {
        let mut traces = Vec::with_capacity(self.hidden.len() + 1);
        let mut h = self.input.forward(x);
        traces.push(LayerTrace {
            activation: h.clone(),
            output: h.clone(),
            weight: self.input.linear.weight().clone(),
        });
        for b in &self.hidden {
            let a = b.forward(&h);
            h = if self.spec.residual {
                h.add(&a.mul_scalar(self.branch_scale))
            } else {
                a.clone()
            };
            traces.push(LayerTrace {
                activation: a,
                output: h.clone(),
                weight: b.linear.weight().clone(),
            });
        }
        (self.output.forward(&h), traces)
    }
}

impl Module for DeepMlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_traced(x).0
    }
    fn visit(&self, s: &mut Scope<'_>) {
        s.module("0", &self.input);
        for (i, b) in self.hidden.iter().enumerate() {
            s.module(&(i + 1).to_string(), b);
        }
        s.module(&(self.hidden.len() + 1).to_string(), &self.output);
    }
    fn set_training(&mut self, training: bool) {
        self.input.set_training(training);
        for b in &mut self.hidden {
            b.set_training(training);
        }
    }
}
