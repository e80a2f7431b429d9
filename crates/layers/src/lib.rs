//! # gradflow-layers
//!
//! The layers a network is built from, as [`Module`]s, and checkpoints that exchange with
//! PyTorch.
//!
//! A module is a function y = f(x; θ) together with the tensors θ it owns: trainable
//! *parameters* (weights, biases) and *buffers* (saved state that is not trained, such as
//! BatchNorm's running mean). [`Module::visit`] reports them under PyTorch's dotted names,
//! so `Sequential(Conv2d, …, Linear)` has `0.weight`, `0.bias`, …, `5.weight` exactly like
//! the PyTorch model's `state_dict()`, and [`checkpoint`] can save and load them as
//! safetensors files that PyTorch reads and writes.
//!
//! | layer | math | PyTorch |
//! |---|---|---|
//! | [`Linear`] | y = x·Wᵀ + b | `nn.Linear` |
//! | [`Conv2d`] | y = W ⋆ x + b (cross-correlation) | `nn.Conv2d` |
//! | [`MaxPool2d`], [`AvgPool2d`], [`AdaptiveAvgPool2d`] | window max / mean | `nn.MaxPool2d`, … |
//! | [`Flatten`] | `[N, C, H, W] → [N, C·H·W]` | `nn.Flatten` |
//! | [`Dropout`] | y = m ⊙ x / (1 − p) in training, x in eval | `nn.Dropout` |
//! | [`Embedding`] | y = E\[ids\] | `nn.Embedding` |
//! | [`Sequential`] | fₙ ∘ … ∘ f₀ | `nn.Sequential` |
//! | [`Residual`] | y = x + α·f(x) | (a skip connection) |
//!
//! ## Construction
//! Layers that need randomness (parameters to initialize, a dropout mask stream) are built
//! Burn style from a config and an rng, with PyTorch's default initialization:
//! `LinearConfig::new(784, 128).with_bias(true).init(&mut rng)`. Layers that own nothing
//! random are built with `new` and `with_*` (`MaxPool2d::new(2).with_stride(2)`,
//! `Flatten::new()`). Every layer with tensors also has `from_tensors` for weights you
//! already have.
//!
//! ## Modes
//! Modules start in training mode, as in PyTorch; [`Module::eval`] / [`Module::train`] switch
//! explicitly and [`Sequential`] and [`Residual`] pass the mode on to their children.
//!
//! ```
//! use gradflow_layers::{checkpoint, DropoutConfig, Flatten, LinearConfig, LoadMode, Module, Sequential};
//! use gradflow_tensor::Tensor;
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut model = Sequential::new()
//!     .with(Flatten::new())
//!     .with(LinearConfig::new(4, 8).init(&mut rng))
//!     .with(DropoutConfig::new(0.2).init(&mut rng))
//!     .with(LinearConfig::new(8, 3).init(&mut rng));
//! model.eval();
//! let y = model.forward(&Tensor::ones(&[5, 2, 2]));
//! assert_eq!(y.shape(), &[5, 3]);
//!
//! let bytes = checkpoint::to_bytes(&model, &Default::default()).unwrap();
//! let report = checkpoint::load_from_bytes(&model, &bytes, LoadMode::Strict).unwrap();
//! assert_eq!(report.loaded, ["1.weight", "1.bias", "3.weight", "3.bias"]);
//! ```

pub mod checkpoint;
mod conv;
mod dropout;
mod embedding;
mod flatten;
pub mod fuzzing;
mod linear;
mod pair;
mod pool;
mod residual;
mod sequential;
mod traced;

pub use checkpoint::{CheckpointError, LoadMode, LoadReport, ShapeMismatch};
pub use conv::{Conv2d, Conv2dConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use embedding::{Embedding, EmbeddingConfig};
pub use flatten::Flatten;
pub use gradflow_tensor::{Module, Scope, TensorKind};
pub use linear::{Linear, LinearConfig};
pub use pair::IntoPair;
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, Window};
pub use residual::Residual;
pub use sequential::Sequential;
pub use traced::{Tap, Tapped, Traced};
