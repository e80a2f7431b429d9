//! Low-level loops, separated from the math: the elementwise map/zip kernels, the
//! broadcasting binary loop, block copies and fills in pieces, the GEMM calls into the `gemm`
//! crate, the FMA `axpy`, the runtime SIMD dispatch, and the counting allocator.
//!
//! **This is the one module of the workspace allowed to use `unsafe`.** The workspace lints
//! deny `unsafe_code`; `lib.rs` lifts that for `mod kernels` alone. Every `unsafe` block here
//! carries a `// SAFETY:` comment that says why its contract holds. The ops in [`crate::ops`]
//! call these kernels and stay safe code: they own the math (forward and backward rules),
//! these files own the loops.
//!
//! Kinds of `unsafe` here, and only these:
//! - calling a `#[target_feature(enable = "avx2,fma")]` function after checking the CPU at
//!   run time ([`simd`]), so the binary stays portable to any x86-64;
//! - the raw-pointer `gemm::gemm` call, behind bounds assertions ([`gemm`]), and the
//!   `gemm-f32` micro-kernel calls of the implicit GEMM, on blocks its loops keep in bounds
//!   ([`panel`]);
//! - the `GlobalAlloc` impl of [`alloc::CountingAlloc`], which forwards to `System`.

pub mod alloc;
pub(crate) mod axpy;
pub(crate) mod broadcast;
pub(crate) mod copy;
pub(crate) mod gemm;
pub(crate) mod map;
pub(crate) mod panel;
pub(crate) mod simd;
