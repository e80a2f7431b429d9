//! # gradflow-tensor
//!
//! n-dimensional `f32` tensors with reverse-mode automatic differentiation: the ground the
//! other gradflow crates stand on.
//!
//! Training a network means computing ∂L/∂θ for every parameter θ. Reverse mode does it in
//! one backward sweep: each op knows its vector–Jacobian product, ∂L/∂x = (∂y/∂x)ᵀ·∂L/∂y, and
//! the chain rule visits the recorded ops from the loss back to the parameters. The product
//! of local Jacobians along that path is also where vanishing gradients come from: when each
//! factor has norm below 1 (sigmoid′ ≤ 1/4), the product shrinks exponentially with depth.
//!
//! ```
//! use gradflow_tensor::Tensor;
//! // L = Σ (W·x)², so ∂L/∂W = 2 (W·x) xᵀ.
//! let w = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).requires_grad_();
//! let x = Tensor::from_vec(vec![1.0, 1.0], &[2, 1]);
//! let y = w.matmul(&x);               // [[3], [7]]
//! y.mul(&y).sum_all().backward();
//! assert_eq!(w.grad().unwrap().to_vec(), vec![6.0, 6.0, 14.0, 14.0]);
//! ```
//!
//! ## Design
//! - [`Tensor`]: shared storage + [`Layout`] (shape, strides, offset). Views never copy;
//!   every kernel has a contiguous fast path before the strided one.
//! - [`autograd`]: define-by-run graph, PyTorch semantics (gradients accumulate into leaves
//!   until [`Tensor::zero_grad`]; [`no_grad`]; [`Tensor::detach`]; [`Tensor::retain_grad`]).
//! - Custom ops: [`Tensor::record`] attaches any backward rule; [`Elementwise`] turns a
//!   function and its derivative into one fused op that keeps for backward only what
//!   [`Saved`] names (input, output or nothing).
//! - [`Module`]: the layer trait (forward, train/eval mode, parameters and buffers with
//!   PyTorch's dotted names) that every concept crate implements.
//! - [`gradcheck`](mod@gradcheck): finite-difference verification with f32-derived step and tolerance.
//! - Matrix products and convolutions run through the `gemm` crate with runtime CPU dispatch;
//!   large elementwise ops, im2col and conv batches use rayon. The loops (map/zip,
//!   broadcasting, the GEMM call, FMA `axpy`, SIMD dispatch) live in the private `kernels`
//!   module, the only place in the workspace's libraries where `unsafe` is allowed (the
//!   `gradflow` binary's allocator setup holds the one other block).
//! - Graphs are freed iteratively: depth is bounded by memory, not by the stack.
//!
//! ## Panic policy
//! Shape and rank errors in tensor math are programmer errors: they panic with a message
//! that names the op and both shapes (`add: incompatible shapes [2, 3] and [2]: …`).
//! Anything a user's data can cause is a `Result` in the crates that read data.

pub mod autograd;
pub mod gradcheck;
// The one library module of the workspace allowed to use `unsafe`: the workspace lints deny
// `unsafe_code` everywhere else (the binary's allocator setup aside). See its module docs for
// the three kinds of `unsafe` it holds.
#[allow(unsafe_code)]
mod kernels;
pub mod layout;
pub mod math;
pub mod module;
pub mod ops;
mod parallel;
mod tensor;

pub use autograd::{BackwardCtx, NoGradGuard, is_grad_enabled, no_grad};
pub use gradcheck::{GradCheck, GradCheckReport, Mismatch, gradcheck};
pub use kernels::alloc::CountingAlloc;
pub use kernels::gemm::{MatRef, gemm_into};
pub use kernels::map::{Writer, write_new};
pub use kernels::simd::{Vectorized, has_avx2_fma, simd_dispatch};
pub use layout::Layout;
pub use module::{Module, Scope, TensorKind};
pub use ops::conv::Conv2dParams;
pub use ops::elementwise::{Elementwise, Saved};
pub use ops::nn::{CrossEntropy, Reduction};
pub use parallel::{PAR_MIN_ELEMS, on_pool};
pub use tensor::Tensor;

/// The README's example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
