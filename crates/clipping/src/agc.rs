//! Adaptive gradient clipping (AGC), unit-wise, from NFNets.

use gradflow_tensor::Tensor;

/// NFNets' default λ for batch sizes up to ~4096 (Brock et al. 2021 use 0.01–0.16; smaller
/// for larger batches).
pub const AGC_DEFAULT_CLIP_FACTOR: f64 = 0.01;
/// NFNets' ε: the floor on ‖Wᵢ‖ so that zero-initialised units can still move.
pub const AGC_DEFAULT_EPS: f64 = 1e-3;

/// The floor on ‖Gᵢ‖ in the rescaling coefficient (as the reference implementations).
const GRAD_NORM_FLOOR: f32 = 1e-6;

/// Frobenius norms of the *units* of a tensor: one per slice along dim 0 (an output row of a
/// `[out, in]` weight, an output channel of a `[out, in, kh, kw]` kernel) for rank ≥ 2, and a
/// single norm of the whole tensor for rank ≤ 1 (biases, gains, scalars). Accumulated in f64.
///
/// ```
/// use gradflow_clipping::unitwise_norms;
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![3.0, 4.0, 0.0, 1.0], &[2, 2]);
/// assert_eq!(unitwise_norms(&w), vec![5.0, 1.0]);
/// ```
pub fn unitwise_norms(t: &Tensor) -> Vec<f32> {
    let units = unit_count(t);
    t.with_data(|d| unit_norms(d, units))
}

fn unit_count(t: &Tensor) -> usize {
    if t.rank() >= 2 { t.dim(0) } else { 1 }
}

fn unit_norms(d: &[f32], units: usize) -> Vec<f32> {
    if units == 0 {
        return Vec::new();
    }
    let len = d.len() / units;
    (0..units)
        .map(|i| {
            d[i * len..(i + 1) * len]
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt() as f32
        })
        .collect()
}

/// Adaptive gradient clipping (Brock, De, Smith, Simonyan 2021, "High-Performance
/// Large-Scale Image Recognition Without Normalization"), unit-wise:
///
/// for every unit i of every parameter W with gradient G (see [`unitwise_norms`]),
///
/// Gᵢ ← Gᵢ                                    if ‖Gᵢ‖ < λ·max(‖Wᵢ‖, ε),
/// Gᵢ ← λ·max(‖Wᵢ‖, ε) / max(‖Gᵢ‖, 10⁻⁶) · Gᵢ   otherwise,
///
/// so that afterwards ‖Gᵢ‖ / max(‖Wᵢ‖, ε) ≤ λ. The bound is *relative*: a step may change a
/// unit's weights by at most a fraction λ·lr of their size, whatever the gradient's scale.
/// This is what let NFNets train without batch normalization at large batch sizes. The
/// paper does not clip the final classifier layer: pass only the other parameters.
///
/// Matches timm's `adaptive_clip_grad(parameters, clip_factor, eps, norm_type=2)` for
/// PyTorch-layout weights (`[out, in, …]`). Returns the number of units that were clipped.
/// Parameters without a gradient are skipped.
///
/// # Panics
/// If `clip_factor` or `eps` is negative or NaN.
///
/// ```
/// use gradflow_clipping::clip_grad_agc;
/// use gradflow_tensor::Tensor;
/// // Two output units: row 0 has ‖W₀‖ = 5, row 1 has ‖W₁‖ = 1.
/// let w = Tensor::from_vec(vec![3.0, 4.0, 0.0, 1.0], &[2, 2]).requires_grad_();
/// w.set_grad(Some(Tensor::from_vec(vec![0.0, 0.1, 0.0, 10.0], &[2, 2])));
/// let clipped = clip_grad_agc(&[w.clone()], 0.1, 1e-3);
/// assert_eq!(clipped, 1); // only row 1: 10 > 0.1·1
/// let g = w.grad().unwrap().to_vec();
/// assert_eq!(g[1], 0.1); // row 0: 0.1 < 0.1·5, kept
/// assert!((g[3] - 0.1).abs() < 1e-6); // row 1 scaled to 0.1·‖W₁‖
/// ```
#[track_caller]
pub fn clip_grad_agc(params: &[Tensor], clip_factor: f64, eps: f64) -> usize {
    // Hyperparameters are f64 (as PyTorch's Python floats); the kernel runs in f32.
    let (clip_factor, eps) = (clip_factor as f32, eps as f32);
    assert!(
        clip_factor >= 0.0,
        "clip_grad_agc: clip_factor must be >= 0, got {clip_factor}"
    );
    assert!(eps >= 0.0, "clip_grad_agc: eps must be >= 0, got {eps}");
    let mut clipped_units = 0;
    for p in params {
        let Some(g) = p.grad() else { continue };
        let units = unit_count(p);
        let w_norms = unitwise_norms(p);
        let mut gd = g.to_vec();
        let g_norms = unit_norms(&gd, units);
        let len = gd.len().checked_div(units).unwrap_or(0);
        let mut changed = false;
        for i in 0..units {
            let max_norm = w_norms[i].max(eps) * clip_factor;
            if g_norms[i] < max_norm {
                continue;
            }
            let coef = max_norm / g_norms[i].max(GRAD_NORM_FLOOR);
            for x in &mut gd[i * len..(i + 1) * len] {
                *x *= coef;
            }
            clipped_units += 1;
            changed = true;
        }
        if changed {
            p.set_grad(Some(Tensor::from_vec(gd, g.shape())));
        }
    }
    clipped_units
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_one_tensor_is_one_unit() {
        let b = Tensor::from_vec(vec![3.0, 4.0], &[2]);
        assert_eq!(unitwise_norms(&b), vec![5.0]);
    }

    #[test]
    fn zero_weights_use_eps_floor() {
        let w = Tensor::zeros(&[1, 2]).requires_grad_();
        w.set_grad(Some(Tensor::from_vec(vec![3.0, 4.0], &[1, 2])));
        assert_eq!(clip_grad_agc(std::slice::from_ref(&w), 0.5, 1e-3), 1);
        let g = unitwise_norms(&w.grad().unwrap());
        assert!((g[0] - 0.5e-3).abs() < 1e-9, "λ·ε = 5e-4, got {}", g[0]);
    }

    #[test]
    fn conv_kernel_units_are_output_channels() {
        // [2 out, 1 in, 1, 2]: channel 0 is big, channel 1 small.
        let w = Tensor::from_vec(vec![1.0, 0.0, 1.0, 0.0], &[2, 1, 1, 2]).requires_grad_();
        w.set_grad(Some(Tensor::from_vec(
            vec![5.0, 0.0, 0.01, 0.0],
            &[2, 1, 1, 2],
        )));
        assert_eq!(clip_grad_agc(std::slice::from_ref(&w), 0.1, 1e-3), 1);
        let g = w.grad().unwrap().to_vec();
        assert!((g[0] - 0.1).abs() < 1e-6);
        assert_eq!(g[2], 0.01);
    }
}
