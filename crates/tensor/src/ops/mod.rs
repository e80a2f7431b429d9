//! The differentiable ops, one family per file. Each op computes its forward result with a
//! kernel (the loops live in the crate's private `kernels` module) and attaches its backward
//! rule right below it with [`Tensor::record`](crate::Tensor::record). Unary math ops sit in
//! [`unary`], each beside its f/f′ pair.

pub mod conv;
pub mod elementwise;
pub mod linear;
pub mod matmul;
pub mod nn;
pub mod pool;
pub mod reduce;
pub mod shape_ops;
pub mod unary;
