//! The affine map of a fully connected layer, fused: y = x·Wᵀ + b.
//!
//! One GEMM whose destination starts as the broadcast bias (PyTorch's `addmm`), instead of a
//! product followed by a separate broadcasting add. Backward, with g = ∂L/∂y:
//! ∂L/∂x = g·W, ∂L/∂W = gᵀ·x (computed directly in W's `[out, in]` layout, so no transpose
//! copy), ∂L/∂b = Σ_rows g.

use crate::Tensor;
use crate::layout::shape_panic;
use crate::ops::matmul::{MatRef, gemm_into};

impl Tensor {
    /// y = x·Wᵀ + b, PyTorch's `F.linear(x, weight, bias)`.
    ///
    /// # Shapes
    /// x `[…, in]`, weight `[out, in]`, bias `[out]` → `[…, out]`.
    ///
    /// # Panics
    /// If the feature sizes disagree; the message names `linear` and the shapes.
    ///
    /// ```
    /// use gradflow_tensor::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]);
    /// let w = Tensor::from_vec(vec![1.0, 1.0, 0.0, 2.0], &[2, 2]);
    /// let b = Tensor::from_vec(vec![0.5, -1.0], &[2]);
    /// assert_eq!(x.linear(&w, Some(&b)).to_vec(), vec![3.5, 3.0]);
    /// ```
    #[track_caller]
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        let (xs, ws) = (self.shape().to_vec(), weight.shape());
        if xs.is_empty() || ws.len() != 2 || xs[xs.len() - 1] != ws[1] {
            shape_panic(
                "linear",
                &xs,
                ws,
                "input must be [..., in] and weight [out, in]",
            );
        }
        let (inp, out) = (ws[1], ws[0]);
        if let Some(b) = bias
            && b.shape() != [out]
        {
            shape_panic("linear", b.shape(), ws, "bias must be [out]");
        }
        let rows: usize = xs[..xs.len() - 1].iter().product();
        let x2 = self.contiguous().detach();
        let w = weight.detach();
        let mut y = vec![0.0f32; rows * out];
        if let Some(b) = bias {
            b.with_data(|bd| {
                for row in y.chunks_mut(out.max(1)) {
                    row.copy_from_slice(bd);
                }
            });
        }
        {
            let (gx, gw) = (x2.read_storage(), w.read_storage());
            let (lx, lw) = (x2.layout(), w.layout());
            gemm_into(
                &mut y,
                rows,
                out,
                inp,
                MatRef {
                    data: &gx,
                    offset: lx.offset(),
                    rs: inp,
                    cs: 1,
                },
                // Wᵀ as a strided view: element (k, j) of Wᵀ is W[j, k].
                MatRef {
                    data: &gw,
                    offset: lw.offset(),
                    rs: lw.strides()[1],
                    cs: lw.strides()[0],
                },
                bias.is_some(),
                rayon::current_num_threads(),
            );
        }
        let mut out_shape = xs.clone();
        *out_shape.last_mut().unwrap_or(&mut 0) = out;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        let has_bias = bias.is_some();
        Tensor::from_vec(y, &out_shape).record("linear", &inputs, false, move |c| {
            let g = c.grad_output().reshape(&[rows, out]);
            let mut grads = vec![
                c.needs_grad(0).then(|| g.matmul(&w).reshape(&xs)),
                c.needs_grad(1).then(|| {
                    let x = x2.reshape(&[rows, inp]);
                    g.t().matmul(&x)
                }),
            ];
            if has_bias {
                grads.push(c.needs_grad(2).then(|| g.sum(&[0], false)));
            }
            grads
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_matmul_plus_bias_and_gradients() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let x = Tensor::randn(&[2, 3, 5], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[4, 5], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[4], 0.0, 1.0, &mut rng);
        let fused = x.linear(&w, Some(&b)).to_vec();
        let composed = x.matmul(&w.t()).add(&b).to_vec();
        for (a, c) in fused.iter().zip(&composed) {
            assert!((a - c).abs() < 1e-5);
        }
        let r = crate::gradcheck(
            |t| t[0].linear(&t[1], Some(&t[2])),
            &[x, w, b],
            crate::GradCheck::default(),
        );
        assert!(r.passed, "{r}");
    }
}
