//! # gradflow-init
//!
//! Weight initialization: the choice that decides whether a signal survives depth.
//!
//! With z_l = W_l·a_{l−1} (n inputs per unit), a_l = f(z_l) and zero-mean i.i.d. weights,
//!
//! Var\[z_l\] = n · Var\[W_l\] · E\[f(z_{l−1})²\].
//!
//! Each layer multiplies the second moment by the factor n·Var\[W\]·E\[f(z)²\]/Var\[z\]; over L
//! layers that factor is raised to the L-th power, so anything other than 1 makes the
//! forward signal (and, symmetrically through fan_out, the gradient) explode or vanish
//! exponentially. Setting the factor to 1 gives Var\[W\] = gain²/fan with
//! gain² = Var\[z\]/E\[f(z)²\]:
//!
//! | activation | init | Var\[W\] |
//! |---|---|---|
//! | ReLU | [`kaiming_normal`] / [`kaiming_uniform`] (He) | 2/fan_in |
//! | leaky ReLU (slope a) | He with `a` | 2/((1 + a²)·fan_in) |
//! | tanh, sigmoid, linear | [`xavier_normal`] / [`xavier_uniform`] (Glorot) | gain²·2/(fan_in + fan_out) |
//! | SELU | [`lecun_normal`] | 1/fan_in |
//! | deep linear / RNN recurrences | [`orthogonal()`] | all singular values = gain |
//!
//! Notation: N(μ, σ) always names the **standard deviation** σ, as `rand_distr::Normal`
//! and `torch.nn.init.normal_` do; Glorot's N(0, √(2/(n_in + n_out))) has variance
//! 2/(n_in + n_out).
//!
//! ```
//! use gradflow_init::{kaiming_normal, FanMode, Nonlinearity};
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(42);
//! // A Linear(256 → 128) weight for a ReLU network: std = √(2/256) = 1/√128.
//! let w = kaiming_normal(&[128, 256], 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut rng);
//! let var = w.var(&[0, 1], 1, false).item();
//! assert!((var * 128.0 - 1.0).abs() < 0.05);
//! ```
//!
//! Every function returns a fresh leaf [`gradflow_tensor::Tensor`] that does not require
//! grad; call `requires_grad_()` to make it a parameter. Functions match `torch.nn.init`
//! (gains, fans, bounds, empty tensors as no-ops); see each item for the exceptions.
//!
//! ## Panic policy
//! Invalid shapes (rank < 2 where fans are needed) and invalid distribution parameters
//! (negative std, reversed range, non-finite values) are programmer errors: they panic with
//! a message naming the function and the shape.

mod basic;
mod fan;
mod gain;
mod initializer;
mod kaiming;
mod lecun;
mod orthogonal;
mod pytorch_default;
mod trunc_normal;
mod xavier;

pub use basic::{constant, normal, ones, uniform, zeros};
pub use fan::{FanMode, fan_in_and_fan_out};
pub use gain::{DEFAULT_LEAKY_RELU_SLOPE, Nonlinearity, calculate_gain};
pub use initializer::Initializer;
pub use kaiming::{kaiming_normal, kaiming_uniform};
pub use lecun::lecun_normal;
pub use orthogonal::orthogonal;
pub use pytorch_default::{default_bias, default_weight};
pub use trunc_normal::trunc_normal;
pub use xavier::{xavier_normal, xavier_uniform};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
