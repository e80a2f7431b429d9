//! # gradflow-activations
//!
//! Activation functions as fused autograd ops, each written next to its derivative, with the
//! numerically stable form and the subgradient at kinks stated (and matched to PyTorch).
//!
//! Every activation f comes three ways:
//! - a tensor function, one fused op (one pass forward, one pass backward, saving only what
//!   the derivative reads): [`sigmoid()`], [`tanh()`], [`relu()`], [`leaky_relu()`],
//!   [`prelu()`], [`elu()`], [`selu()`], [`gelu()`], [`silu()`], [`softplus()`], [`mish()`];
//! - a layer implementing [`gradflow_tensor::Module`]: [`Sigmoid`], [`Tanh`], [`Relu`],
//!   [`LeakyRelu`], [`PRelu`] (learnable `weight`), [`Elu`], [`Selu`], [`Gelu`], [`Silu`],
//!   [`Softplus`], [`Mish`];
//! - the scalar math, public so that it can be read and tested on its own: `<name>_scalar(z)`
//!   for f(z) and `<name>_prime(z)` for f′(z) (plus [`sigmoid_prime_from_output`] and
//!   [`tanh_prime_from_output`], the forms the backward uses).
//!
//! Scalar math runs in `f64` and rounds once to `f32`, so nothing overflows at |z| = 1000 and
//! no derivative is ever NaN for a finite input. NaN inputs give NaN outputs.
//!
//! ```
//! use gradflow_activations::{gelu, sigmoid, GeluApprox, Relu};
//! use gradflow_tensor::{Module, Tensor};
//!
//! let x = Tensor::from_vec(vec![-1000.0, 0.0, 1000.0], &[3]).requires_grad_();
//! let y = sigmoid(&x);
//! assert_eq!(y.to_vec(), vec![0.0, 0.5, 1.0]);
//! y.sum_all().backward();
//! assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.25, 0.0]); // no NaN at the extremes
//!
//! assert_eq!(Relu.forward(&x).to_vec(), vec![0.0, 0.0, 1000.0]);
//! assert_eq!(gelu(&x, GeluApprox::Tanh).to_vec()[2], 1000.0);
//! ```
//!
//! ## Derivatives and gradient flow
//!
//! The backward pass through L layers multiplies the upstream gradient by L activation
//! derivatives (and L weight matrices). The range of f′ therefore bounds how the signal can
//! shrink with depth, before the weights are taken into account:
//!
//! | activation | f′(z) | range of f′ | through L layers |
//! |---|---|---|---|
//! | sigmoid | σ(z)(1 − σ(z)) | (0, 1/4], max at 0 | ≤ 4^(−L): vanishes even in the best case |
//! | tanh | 1 − tanh²(z) | (0, 1], = 1 only at 0 | ≤ 1, < 1 as soon as units leave 0; saturated units (|z| > 3: < 0.01) cut it |
//! | ReLU | 1 if z > 0, else 0 | {0, 1} (0 at z = 0) | exactly 1 along active paths; 0 through dead units |
//! | Leaky ReLU (a = 0.01) | 1 or a | {a, 1} (a at z = 0) | ≥ a^L, never exactly 0 |
//! | PReLU (learned a, init 0.25) | 1 or a_c | {a_c, 1} | ≥ min(a)^L for a ∈ [0, 1]; the leak is learned |
//! | ELU (α = 1) | 1 or α·e^z | (0, max(1, α)] (α at z = 0) | ≤ 1 for α ≤ 1; smooth decay for z < 0, no dead units |
//! | SELU | λ or λα·e^z | (0, λα ≈ 1.7581], λ ≈ 1.0507 for z > 0 | factors above 1 are allowed: self-normalization keeps unit variance, so the product neither vanishes nor explodes in expectation |
//! | GELU | Φ(z) + z·φ(z) | ≈ [−0.1290, 1.1289], extrema at ±√2 | ≈ 1 on the active side; small and sign-changing for z < 0 |
//! | SiLU | σ(z)(1 + z(1 − σ(z))) | ≈ [−0.0998, 1.0998], extrema at ±2.3994 | like GELU |
//! | Mish | tanh(s) + z·σ(z)·sech²(s) | ≈ [−0.1125, 1.0885] | like GELU |
//! | Softplus (β = 1) | σ(βz) | (0, 1) (1 above the threshold) | → 1 on the active side, > 0 everywhere |
//!
//! ## Conventions matched to PyTorch
//! - Subgradients at z = 0: relu′(0) = 0; leaky_relu′(0) = prelu′(0) = slope;
//!   elu′(0) = α; selu′(0) = λα.
//! - sigmoid and tanh compute the backward from the saved output (dy·y(1 − y), dy·(1 − y²)),
//!   so the derivative is exactly 0 once y rounds to ±1 (x = 20 for example).
//! - softplus returns x when β·x > threshold (strictly).
//! - Defaults: Leaky ReLU slope 0.01, ELU α = 1, Softplus β = 1 and threshold 20, PReLU
//!   init 0.25 with the parameter named `weight` (per-channel slopes along dim 1), SELU's
//!   α = 1.6732632423543772848170429916717 and λ = 1.0507009873554804934193349852946,
//!   GELU exact by default.
//!
//! Every function is checked against PyTorch fixtures (`tests/fixtures/act_*.safetensors`,
//! rtol 1e-5, atol 1e-6), by gradient checks, and by property tests of the ranges above.

pub mod elu;
pub mod erf;
pub mod gelu;
pub mod leaky_relu;
pub mod mish;
pub mod prelu;
pub mod relu;
pub mod selu;
pub mod sigmoid;
pub mod silu;
pub mod softplus;
pub mod tanh;

pub use elu::{ELU_DEFAULT_ALPHA, Elu, elu, elu_prime, elu_scalar};
pub use erf::{erf, erfc};
pub use gelu::{Gelu, GeluApprox, gelu, gelu_prime, gelu_scalar};
pub use leaky_relu::{
    LEAKY_RELU_DEFAULT_SLOPE, LeakyRelu, leaky_relu, leaky_relu_prime, leaky_relu_scalar,
};
pub use mish::{Mish, mish, mish_prime, mish_scalar};
pub use prelu::{
    PRELU_DEFAULT_INIT, PRelu, PReluConfig, prelu, prelu_prime, prelu_scalar, prelu_slope_prime,
};
pub use relu::{Relu, add_relu, relu, relu_prime, relu_scalar};
pub use selu::{SELU_ALPHA, SELU_SCALE, Selu, selu, selu_prime, selu_scalar};
pub use sigmoid::{Sigmoid, sigmoid, sigmoid_prime, sigmoid_prime_from_output, sigmoid_scalar};
pub use silu::{Silu, silu, silu_prime, silu_scalar};
pub use softplus::{
    SOFTPLUS_DEFAULT_BETA, SOFTPLUS_DEFAULT_THRESHOLD, Softplus, softplus, softplus_prime,
    softplus_scalar,
};
pub use tanh::{Tanh, tanh, tanh_prime, tanh_prime_from_output, tanh_scalar};

/// Compiles and runs the code blocks of the crate README as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
