//! # gradflow-resnet
//!
//! Residual networks (He et al., *Deep Residual Learning for Image Recognition*, CVPR 2016),
//! exact to torchvision: the same layers, initialization, parameter counts and state-dict
//! names, so that torchvision checkpoints load unchanged.
//!
//! ## Why a skip connection cures vanishing gradients
//! A residual block computes h_l = h_{l−1} + F(h_{l−1}) (before the final ReLU), so
//!
//! ∂h_l/∂h_{l−1} = I + ∂F/∂h,   ∂L/∂h_k = ∂L/∂h_L · ∏_{l=k+1}^{L} (I + ∂F_l/∂h).
//!
//! Expanding the product, one term is ∂L/∂h_L itself: the gradient reaches every block
//! through the identity path whatever the branches do, instead of through a product of L
//! Jacobians that shrinks (or grows) exponentially with L as in a plain network. He et al.
//! also observed the *degradation problem*: a plain 56-layer network has a higher **training**
//! error than a plain 20-layer one, which no overfitting explains; learning F = H − x (a
//! residual, zero for an identity mapping) is easier than learning H from scratch.
//!
//! With **zero-initialized residuals** (Goyal et al. 2017, torchvision's
//! `zero_init_residual`), the last BatchNorm of each branch starts with γ = 0, so F = 0 and
//! every identity-shortcut block starts as the identity: the network behaves as a shallow
//! one at initialization and grows its depth as training moves γ.
//!
//! ## Contents
//! - [`BasicBlock`], [`Bottleneck`] (v1.5, stride on the 3×3, `groups`/`width_per_group`),
//!   [`Block`] — the blocks; [`Shortcut`]: identity, projection ([`Downsample`], option B),
//!   zero-padding ([`PadShortcut`], option A) or none (plain twin).
//! - [`ResNetConfig`]: every hyperparameter, named networks (`resnet18` … `resnet152`,
//!   `resnext50_32x4d`, `wide_resnet50_2`, CIFAR `resnet20` … `resnet110`, plain twins),
//!   [`Norm`] choice (BatchNorm, GroupNorm, none), a shape-only parameter count.
//! - [`ResNet`]: the network, with torchvision's names, and checkpoint loading
//!   ([`ResNet::load_state_dict`]).
//!
//! ```
//! use gradflow_resnet::{Norm, ResNetConfig};
//! use gradflow_tensor::{Module, Reduction, Tensor};
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! // A CIFAR ResNet-20 with GroupNorm, one training step's gradient.
//! let net = ResNetConfig::resnet20(10).with_norm(Norm::Group).init(&mut rng).unwrap();
//! let x = Tensor::randn(&[2, 3, 16, 16], 0.0, 1.0, &mut rng);
//! let loss = net.forward(&x).cross_entropy(&[3, 7], Reduction::Mean, 0.0);
//! loss.backward();
//! assert!(net.parameters().iter().all(|p| p.grad().is_some()));
//! ```
//!
//! References: He, Zhang, Ren, Sun, *Deep Residual Learning for Image Recognition*, CVPR
//! 2016; He et al., *Identity Mappings in Deep Residual Networks*, ECCV 2016; Goyal et al.,
//! *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour*, 2017; torchvision's
//! `models/resnet.py`.

mod basic_block;
mod block;
mod bottleneck;
mod checkpoint;
mod config;
mod error;
mod norm;
mod resnet;
mod shortcut;
mod zoo;

pub use basic_block::BasicBlock;
pub use block::{Block, BlockKind, BlockOptions};
pub use bottleneck::Bottleneck;
pub use config::{ResNetConfig, Stem};
pub use error::ResNetError;
pub use norm::{Norm, NormLayer, group_count};
pub use resnet::ResNet;
pub use shortcut::{Downsample, PadShortcut, Shortcut, ShortcutKind};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
