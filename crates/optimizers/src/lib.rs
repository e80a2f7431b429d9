//! # gradflow-optimizers
//!
//! First-order optimizers and learning-rate schedulers with PyTorch's exact semantics.
//!
//! An optimizer turns gradients into parameter updates θ ← θ − η·u(g, state). Plain SGD
//! scales every coordinate by the same η, so a layer whose gradients have *vanished* (1000×
//! smaller than the next) barely moves; momentum averages noisy gradients into a steadier
//! direction, and the adaptive methods (RMSProp, Adam, Adagrad) divide each coordinate by a
//! running estimate of its gradient magnitude, which gives small-gradient layers steps of
//! about η too.
//!
//! | type | rule | PyTorch |
//! |---|---|---|
//! | [`Sgd`] | b ← μb + (1−τ)g; θ ← θ − η(g + μb or b) | `torch.optim.SGD` |
//! | [`EmaMomentum`] | v ← βv + (1−β)g; θ ← θ − ηv | `SGD(lr·(1−β), momentum=β)` |
//! | [`Adam`] | m, v moving averages; θ ← θ − η/(1−β₁ᵗ)·m/(√v/√(1−β₂ᵗ) + ε) | `torch.optim.Adam` |
//! | [`AdamW`] | θ ← θ(1 − ηλ), then Adam | `torch.optim.AdamW` |
//! | [`RmsProp`] | s ← αs + (1−α)g²; θ ← θ − ηg/(√s + ε) | `torch.optim.RMSprop` |
//! | [`Adagrad`] | S ← S + g²; θ ← θ − ηg/(√S + ε) | `torch.optim.Adagrad` |
//!
//! Schedulers ([`LrScheduler`]): [`StepLr`], [`MultiStepLr`], [`ExponentialLr`],
//! [`CosineAnnealingLr`], [`LinearLr`], [`OneCycleLr`], [`SequentialLr`].
//!
//! Every optimizer is one [`Engine`] (parameters, lr, state, save/load, the update loop) over
//! one [`UpdateRule`] (the hyperparameters and the per-element math): `Sgd` is
//! `Engine<SgdConfig>`, `Adam` and `AdamW` are `Engine<AdamConfig>`, and so on.
//!
//! Every optimizer and scheduler saves its state ([`Optimizer::state_dict`],
//! [`LrScheduler::state_dict`]) as serde structs; JSON round trips are bit-exact, so a run
//! resumed from a checkpoint continues exactly as if it had never stopped.
//!
//! ```
//! use gradflow_optimizers::{Adam, AdamConfig, Optimizer};
//! use gradflow_tensor::Tensor;
//! // Minimise (w − 3)².
//! let w = Tensor::from_vec(vec![0.0], &[1]).requires_grad_();
//! let mut opt = Adam::new(&[w.clone()], AdamConfig { lr: 0.1, ..AdamConfig::default() }).unwrap();
//! for _ in 0..200 {
//!     opt.zero_grad();
//!     let d = w.add_scalar(-3.0);
//!     d.mul(&d).sum_all().backward();
//!     opt.step();
//! }
//! assert!((w.item() - 3.0).abs() < 0.05);
//! ```

mod adagrad;
mod adam;
mod adamw;
mod ema_momentum;
mod engine;
mod error;
mod optimizer;
mod rmsprop;
pub mod scheduler;
mod sgd;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig};
pub use adamw::{AdamW, AdamWConfig};
pub use ema_momentum::{EmaMomentum, EmaMomentumConfig};
pub use engine::{Buffers, Engine, Scheduled, UpdateRule};
pub use error::OptimError;
pub use optimizer::{Optimizer, OptimizerState, ParamState};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use scheduler::{
    AnnealStrategy, CosineAnnealingLr, ExponentialLr, LinearLr, LrScheduler, MultiStepLr,
    OneCycleConfig, OneCycleLr, SchedulerState, SequentialLr, StepLr,
};
pub use sgd::{Sgd, SgdConfig};
