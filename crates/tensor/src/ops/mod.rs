//! The differentiable ops, one family per file. Each op computes its forward result with a
//! kernel and attaches its backward rule right below it with [`Tensor::record`](crate::Tensor::record).

pub mod conv;
pub mod elementwise;
pub mod linear;
pub mod matmul;
pub mod nn;
pub mod pool;
pub mod reduce;
pub mod shape_ops;
pub mod unary;
