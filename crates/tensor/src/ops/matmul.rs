//! Matrix products through the `gemm` crate, on borrowed storage with explicit strides.
//!
//! C = A·B with A of shape `[…, m, k]` and B of shape `[…, k, n]`; leading (batch)
//! dimensions broadcast. Backward: ∂L/∂A = ∂L/∂C · Bᵀ and ∂L/∂B = Aᵀ · ∂L/∂C, where the
//! transposes are stride swaps, so they cost nothing: `gemm` reads any row/column stride.
//!
//! The call into `gemm` lives in the crate's `kernels` module (`gemm_into`). The `gemm` crate
//! picks its kernel at run time (AVX-512 where the CPU has it, else AVX2/FMA), so the binary
//! stays portable. We do not route products through nalgebra:
//! nalgebra 0.35's `gemm` falls back to a loop that writes out of bounds for strided views
//! with a dimension ≤ 5 (dimforge/nalgebra#1616).

use crate::Tensor;
use crate::kernels::gemm::{MatRef, gemm_into, gemm_new};
use crate::layout::{broadcast_shape, contiguous_strides, shape_panic};

/// True for a 2-D view that is the transpose of a contiguous matrix (column-major).
fn is_transposed(t: &Tensor) -> bool {
    let (s, d) = (t.layout().strides(), t.shape());
    d[0] > 1 && d[1] > 1 && s[0] == 1 && s[1] == d[0]
}

impl Tensor {
    /// Matrix product with batch broadcasting (`torch.matmul` for rank ≥ 2).
    ///
    /// # Shapes
    /// `[…, m, k] · […, k, n] → […, m, n]`; the `…` parts broadcast.
    ///
    /// # Panics
    /// If either operand has rank < 2, the inner dimensions differ, or the batch dimensions
    /// do not broadcast; the message names `matmul` and both shapes.
    ///
    /// ```
    /// use gradflow_tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// let b = Tensor::eye(2).mul_scalar(2.0);
    /// assert_eq!(a.matmul(&b).to_vec(), vec![2.0, 4.0, 6.0, 8.0]);
    /// ```
    #[track_caller]
    pub fn matmul(&self, rhs: &Tensor) -> Tensor {
        let (sa, sb) = (self.shape(), rhs.shape());
        if sa.len() < 2 || sb.len() < 2 {
            shape_panic("matmul", sa, sb, "both operands need rank >= 2");
        }
        let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if k != k2 {
            shape_panic(
                "matmul",
                sa,
                sb,
                &format!("inner dimensions differ ({k} vs {k2})"),
            );
        }
        let (ba, bb) = (&sa[..sa.len() - 2], &sb[..sb.len() - 2]);
        // Checked here so that the message names the full operand shapes, not the batch parts.
        if !ba
            .iter()
            .rev()
            .zip(bb.iter().rev())
            .all(|(&x, &y)| x == y || x == 1 || y == 1)
        {
            shape_panic("matmul", sa, sb, "batch dimensions do not broadcast");
        }
        let batch = broadcast_shape("matmul", ba, bb);
        let mut out_shape = batch.clone();
        out_shape.extend_from_slice(&[m, n]);

        let (la, lb) = (self.layout(), rhs.layout());
        let mut full_a = batch.clone();
        full_a.extend_from_slice(&[m, k]);
        let mut full_b = batch.clone();
        full_b.extend_from_slice(&[k, n]);
        let stra = la.broadcast_strides("matmul", &full_a);
        let strb = lb.broadcast_strides("matmul", &full_b);
        let nb = batch.len();
        let n_batches: usize = batch.iter().product();
        let single = n_batches == 1;
        let mut out = if single {
            Vec::new()
        } else {
            vec![0.0f32; n_batches * m * n]
        };
        {
            let (ga, gb) = (self.read_storage(), rhs.read_storage());
            let bstrides = contiguous_strides(&batch);
            let threads = rayon::current_num_threads();
            for bi in 0..n_batches {
                let (mut oa, mut ob) = (la.offset(), lb.offset());
                for d in 0..nb {
                    let idx = (bi / bstrides[d]) % batch[d];
                    oa += idx * stra[d];
                    ob += idx * strb[d];
                }
                let a = MatRef {
                    data: &ga,
                    offset: oa,
                    rs: stra[nb],
                    cs: stra[nb + 1],
                };
                let b = MatRef {
                    data: &gb,
                    offset: ob,
                    rs: strb[nb],
                    cs: strb[nb + 1],
                };
                if single {
                    // One product: written straight into fresh memory, no zero fill.
                    out = gemm_new(m, n, k, a, b, threads);
                    continue;
                }
                gemm_into(
                    &mut out[bi * m * n..(bi + 1) * m * n],
                    m,
                    n,
                    k,
                    a,
                    b,
                    false,
                    threads,
                );
            }
        }
        let (a, b) = (self.detach(), rhs.detach());
        Tensor::from_vec(out, &out_shape).record("matmul", &[self, rhs], false, move |c| {
            let g = c.grad_output();
            // A 2-D operand stored transposed (a weight used as `w.t()`) gets its gradient
            // computed in its own memory order, (Bᵀ)ᵀ = (gᵀ·A)ᵀ, so that the transpose's
            // backward yields a contiguous gradient and no copy is made (PyTorch's
            // mm_mat2_backward does the same).
            let plain = a.rank() == 2 && b.rank() == 2;
            vec![
                c.needs_grad(0).then(|| {
                    if plain && is_transposed(&a) {
                        b.matmul(&g.t()).t()
                    } else {
                        g.matmul(&b.transpose(b.rank() - 2, b.rank() - 1))
                            .sum_to(a.shape())
                    }
                }),
                c.needs_grad(1).then(|| {
                    if plain && is_transposed(&b) {
                        g.t().matmul(&a).t()
                    } else {
                        a.transpose(a.rank() - 2, a.rank() - 1)
                            .matmul(g)
                            .sum_to(b.shape())
                    }
                }),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_operands_match_contiguous() {
        let a = Tensor::arange(0.0, 12.0, 1.0).reshape(&[3, 4]);
        let b = Tensor::arange(0.0, 20.0, 1.0).reshape(&[5, 4]);
        let via_view = a.matmul(&b.t());
        let via_copy = a.matmul(&b.t().contiguous());
        assert_eq!(via_view.to_vec(), via_copy.to_vec());
        assert_eq!(
            via_view.get(&[1, 2]),
            (0..4).map(|j| ((4 + j) * (8 + j)) as f32).sum()
        );
    }

    /// Products large enough to be bisected over threads (≥ 128³ multiply–adds): split along
    /// m (m ≥ n) and along n, with strided (transposed) operands, in a 3-thread pool so that
    /// the split recurses unevenly. Checked against an f64 reference within the dot-product
    /// error bound |ŷ − y| ≤ k·u·Σ|aᵢ·bᵢ| (u = 2⁻²⁴, Higham's γ_k to first order, k ≤ 300), and
    /// bit for bit against the same product on one thread: k is never split, so every element
    /// is the same dot product.
    #[test]
    fn bisected_products_match_reference_and_one_thread() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for (m, k, n, transposed) in [
            (200, 150, 130, false),
            (40, 300, 200, true),
            (64, 256, 512, false),
        ] {
            let a = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
            let b = if transposed {
                Tensor::randn(&[n, k], 0.0, 1.0, &mut rng).t()
            } else {
                Tensor::randn(&[k, n], 0.0, 1.0, &mut rng)
            };
            let pool = |t| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap()
            };
            let split = pool(3).install(|| a.matmul(&b)).to_vec();
            let single = pool(1).install(|| a.matmul(&b)).to_vec();
            assert_eq!(split.len(), m * n);
            for i in 0..m {
                for j in 0..n {
                    let (mut exact, mut mag) = (0.0f64, 0.0f64);
                    for p in 0..k {
                        let t = a.get(&[i, p]) as f64 * b.get(&[p, j]) as f64;
                        exact += t;
                        mag += t.abs();
                    }
                    let got = split[i * n + j];
                    let bound = k as f64 * 2f64.powi(-24) * mag;
                    assert!(
                        (got as f64 - exact).abs() <= bound,
                        "({m}×{k}·{k}×{n}) [{i}, {j}]: {got} vs {exact} (bound {bound})"
                    );
                    assert_eq!(got.to_bits(), single[i * n + j].to_bits(), "[{i}, {j}]");
                }
            }
        }
    }

    #[test]
    fn batch_dims_broadcast() {
        let a = Tensor::ones(&[2, 1, 3, 4]);
        let b = Tensor::ones(&[5, 4, 2]);
        let c = a.matmul(&b);
        assert_eq!(c.shape(), &[2, 5, 3, 2]);
        assert!(c.to_vec().iter().all(|&v| v == 4.0));
    }

    #[test]
    #[should_panic(
        expected = "matmul: incompatible shapes [2, 3] and [4, 5]: inner dimensions differ"
    )]
    fn inner_mismatch_names_shapes() {
        Tensor::zeros(&[2, 3]).matmul(&Tensor::zeros(&[4, 5]));
    }
}
