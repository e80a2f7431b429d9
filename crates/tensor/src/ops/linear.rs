//! The affine map of a fully connected layer, fused: y = x·Wᵀ + b.
//!
//! One GEMM whose destination starts as the broadcast bias (PyTorch's `addmm`), instead of a
//! product followed by a separate broadcasting add. Backward, with g = ∂L/∂y:
//! ∂L/∂x = g·W, ∂L/∂W = gᵀ·x (computed directly in W's `[out, in]` layout, so no transpose
//! copy), ∂L/∂b = Σ_rows g.

use crate::Tensor;
use crate::kernels::gemm::{MatRef, gemm_into, gemm_new};
use crate::layout::shape_panic;

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
        let y = {
            let (gx, gw) = (x2.read_storage(), w.read_storage());
            let (lx, lw) = (x2.layout(), w.layout());
            let x_ref = MatRef {
                data: &gx,
                offset: lx.offset(),
                rs: inp,
                cs: 1,
            };
            // Wᵀ as a strided view: element (k, j) of Wᵀ is W[j, k].
            let wt_ref = MatRef {
                data: &gw,
                offset: lw.offset(),
                rs: lw.strides()[1],
                cs: lw.strides()[0],
            };
            let threads = rayon::current_num_threads();
            match bias {
                Some(b) => {
                    // The destination starts as the bias rows (written once, no zero fill).
                    let mut y = Vec::with_capacity(rows * out);
                    b.with_data(|bd| {
                        for _ in 0..rows {
                            y.extend_from_slice(bd);
                        }
                    });
                    gemm_into(&mut y, rows, out, inp, x_ref, wt_ref, true, threads);
                    y
                }
                None => gemm_new(rows, out, inp, x_ref, wt_ref, threads),
            }
        };
        let mut out_shape = xs.clone();
        *out_shape.last_mut().unwrap_or(&mut 0) = out;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        let has_bias = bias.is_some();
        Tensor::from_vec(y, &out_shape).record("linear", &inputs, false, move |c| {
            let g = c.grad_output().contiguous().reshape(&[rows, out]);
            let (dx, dw) = backward_products(
                &g,
                &w,
                &x2,
                rows,
                inp,
                out,
                c.needs_grad(0),
                c.needs_grad(1),
            );
            let mut grads = vec![
                dx.map(|d| Tensor::from_vec(d, &xs)),
                dw.map(|d| Tensor::from_vec(d, &[out, inp])),
            ];
            if has_bias {
                grads.push(c.needs_grad(2).then(|| g.sum(&[0], false)));
            }
            grads
        })
    }
}

/// ∂L/∂x = g·W (`[rows, in]`) and ∂L/∂W = gᵀ·x (`[out, in]`), each only when wanted.
///
/// The two products are independent, so when both are needed they run side by side, one
/// single-threaded GEMM per core (`rayon::join`): at MLP sizes (e.g. 128×256×256) that uses
/// two cores far better than splitting each product over both in turn.
fn backward_products(
    g: &Tensor,
    w: &Tensor,
    x: &Tensor,
    rows: usize,
    inp: usize,
    out: usize,
    want_dx: bool,
    want_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (gg, gw, gx) = (g.read_storage(), w.read_storage(), x.read_storage());
    let (lg, lw, lx) = (g.layout(), w.layout(), x.layout());
    let g_ref = MatRef {
        data: &gg,
        offset: lg.offset(),
        rs: out,
        cs: 1,
    };
    let g_t = MatRef {
        data: &gg,
        offset: lg.offset(),
        rs: 1,
        cs: out,
    };
    let w_ref = MatRef {
        data: &gw,
        offset: lw.offset(),
        rs: lw.strides()[0],
        cs: lw.strides()[1],
    };
    let x_ref = MatRef {
        data: &gx,
        offset: lx.offset(),
        rs: inp,
        cs: 1,
    };
    let dx = |threads: usize| gemm_new(rows, inp, out, g_ref, w_ref, threads);
    let dw = |threads: usize| gemm_new(out, inp, rows, g_t, x_ref, threads);
    let threads = rayon::current_num_threads();
    match (want_dx, want_dw) {
        (true, true) if threads > 1 => {
            let (a, b) = rayon::join(|| dx(1), || dw(1));
            (Some(a), Some(b))
        }
        (a, b) => (a.then(|| dx(threads)), b.then(|| dw(threads))),
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
