//! The input projection gx = x·W_ihᵀ + b_ih of all T·B rows at once.
//!
//! For ordinary input widths this is one GEMM (`Tensor::linear`). For very narrow inputs
//! (the adding problem has I = 2) a GEMM with inner dimension I does almost no arithmetic per
//! output element and its blocking costs more than the products, so rows are computed
//! directly as I axpy updates of the bias, gx_r = b + Σ_k x_{r,k}·W_{:,k}, with the
//! matching backward, written out:
//!
//! ∂L/∂x_{r,k} = ⟨g_r, W_{:,k}⟩, ∂L/∂W_{:,k} = Σ_r x_{r,k}·g_r, ∂L/∂b = Σ_r g_r.

use gradflow_tensor::Tensor;
use gradflow_tensor::math::axpy;

/// Widest input that takes the direct path.
const NARROW_INPUT: usize = 16;

/// x `[…, I]` → `[…, G·H]`.
#[track_caller]
pub(crate) fn project_inputs(x: &Tensor, w_ih: &Tensor, b_ih: Option<&Tensor>) -> Tensor {
    let i = x.shape().last().copied().unwrap_or(0);
    let narrow = i <= NARROW_INPUT
        && w_ih.rank() == 2
        && w_ih.shape()[1] == i
        && b_ih.is_none_or(|b| b.shape() == [w_ih.shape()[0]]);
    if !narrow {
        // Also the path for shape errors: `linear` panics naming the shapes.
        return x.linear(w_ih, b_ih);
    }
    let gw = w_ih.shape()[0];
    let rows = x.numel().checked_div(i).unwrap_or(0);
    let xv = x.to_vec();
    // Wᵀ `[I, G·H]`: column k of W as a contiguous row.
    let wt = w_ih.t().to_vec();
    let mut y = vec![0.0f32; rows * gw];
    let bias = b_ih.map(Tensor::to_vec);
    for (r, yr) in y.chunks_exact_mut(gw.max(1)).enumerate().take(rows) {
        if let Some(b) = &bias {
            yr.copy_from_slice(b);
        }
        for k in 0..i {
            axpy(yr, xv[r * i + k], &wt[k * gw..(k + 1) * gw]);
        }
    }
    let mut shape = x.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = gw;
    }
    let x_shape = x.shape().to_vec();
    let mut inputs = vec![x, w_ih];
    inputs.extend(b_ih);
    let has_bias = b_ih.is_some();
    Tensor::from_vec(y, &shape).record("input_projection", &inputs, false, move |ctx| {
        let (dx, dw, db) = ctx.grad_output().with_data(|g| {
            let dx = ctx.needs_grad(0).then(|| {
                let mut dx = vec![0.0f32; rows * i];
                for r in 0..rows {
                    let gr = &g[r * gw..(r + 1) * gw];
                    for k in 0..i {
                        dx[r * i + k] = dot(gr, &wt[k * gw..(k + 1) * gw]);
                    }
                }
                dx
            });
            let dw = ctx.needs_grad(1).then(|| {
                let mut dwt = vec![0.0f32; i * gw];
                for r in 0..rows {
                    let gr = &g[r * gw..(r + 1) * gw];
                    for k in 0..i {
                        axpy(&mut dwt[k * gw..(k + 1) * gw], xv[r * i + k], gr);
                    }
                }
                // Back from [I, G·H] to W's [G·H, I].
                let mut dw = vec![0.0f32; gw * i];
                for k in 0..i {
                    for j in 0..gw {
                        dw[j * i + k] = dwt[k * gw + j];
                    }
                }
                dw
            });
            let db = (has_bias && ctx.needs_grad(2)).then(|| {
                let mut db = vec![0.0f32; gw];
                for gr in g.chunks_exact(gw.max(1)).take(rows) {
                    for (d, &v) in db.iter_mut().zip(gr) {
                        *d += v;
                    }
                }
                db
            });
            (dx, dw, db)
        });
        let mut grads = vec![
            dx.map(|d| Tensor::from_vec(d, &x_shape)),
            dw.map(|d| Tensor::from_vec(d, &[gw, i])),
        ];
        if has_bias {
            grads.push(db.map(|d| Tensor::from_vec(d, &[gw])));
        }
        grads
    })
}

/// ⟨a, b⟩ with eight partial sums, so that the loop vectorizes.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use gradflow_tensor::{GradCheck, gradcheck};
    use rand::SeedableRng;

    /// The direct path agrees with the GEMM (to f32 rounding of 3-term sums, ≪ 1e-5) and its
    /// hand-written backward passes the gradient check.
    #[test]
    fn narrow_path_matches_linear_and_gradcheck() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let x = Tensor::randn(&[4, 2, 3], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[20, 3], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[20], 0.0, 1.0, &mut rng);
        let direct = project_inputs(&x, &w, Some(&b)).to_vec();
        let gemm = x.linear(&w, Some(&b)).to_vec();
        for (a, c) in direct.iter().zip(&gemm) {
            assert!((a - c).abs() < 1e-5, "{a} vs {c}");
        }
        let r = gradcheck(
            |t| project_inputs(&t[0], &t[1], Some(&t[2])),
            &[x, w, b],
            GradCheck::default(),
        );
        assert!(r.passed, "{r}");
    }
}
