//! Composed reference implementations built only from tensor ops (mean, var, sub, div, sqrt),
//! used to cross-check the fused kernels. Fixtures and tolerant comparison come from
//! `gradflow-test-support`.
#![allow(dead_code)]

use gradflow_tensor::Tensor;

fn affine_shape(rank: usize, c: usize) -> Vec<usize> {
    let mut s = vec![1; rank];
    s[1] = c;
    s
}

/// x̂ = (x − mean)/√(var + ε) over `dims`, composed from tensor ops (differentiable through
/// the generic autograd, no fused kernel).
pub fn standardize_ref(x: &Tensor, dims: &[usize], eps: f32) -> Tensor {
    let mean = x.mean(dims, true);
    let var = x.var(dims, 0, true);
    x.sub(&mean).div(&var.add_scalar(eps).sqrt())
}

/// Composed BatchNorm in training mode (batch statistics), per-channel γ, β.
pub fn batch_norm_ref(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Tensor {
    let dims: Vec<usize> = (0..x.rank()).filter(|&d| d != 1).collect();
    let s = affine_shape(x.rank(), x.dim(1));
    standardize_ref(x, &dims, eps)
        .mul(&w.reshape(&s))
        .add(&b.reshape(&s))
}

/// Composed LayerNorm over the last `k` dims, γ, β of shape `x.shape()[rank-k..]`.
pub fn layer_norm_ref(x: &Tensor, k: usize, w: &Tensor, b: &Tensor, eps: f32) -> Tensor {
    let dims: Vec<usize> = (x.rank() - k..x.rank()).collect();
    standardize_ref(x, &dims, eps).mul(w).add(b)
}

/// Composed GroupNorm: reshape to [N, G, rest], standardize over the last axis, reshape back.
pub fn group_norm_ref(x: &Tensor, groups: usize, w: &Tensor, b: &Tensor, eps: f32) -> Tensor {
    let n = x.dim(0);
    let grouped = x.reshape(&[n, groups, x.numel() / (n * groups).max(1)]);
    let s = affine_shape(x.rank(), x.dim(1));
    standardize_ref(&grouped, &[2], eps)
        .reshape(x.shape())
        .mul(&w.reshape(&s))
        .add(&b.reshape(&s))
}
