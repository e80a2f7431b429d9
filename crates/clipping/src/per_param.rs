//! Per-parameter norm clipping (what Burn calls norm clipping).

use gradflow_tensor::Tensor;

use crate::NormType;
use crate::norm::{check_args, clip_coef, scale_grad};

/// Clip each parameter's gradient by *its own* norm: gₖ ← gₖ · min(1, c / (‖gₖ‖ + 10⁻⁶)).
///
/// This is what Burn's `GradientClipping::Norm` does, and it is **not** PyTorch's
/// `clip_grad_norm_`: there is one coefficient per tensor instead of one for the model, so
///
/// - the overall update can still have norm up to c·√n for n tensors (it is not bounded by
///   c), and
/// - the relative sizes of the tensors' updates change (a layer with a huge gradient is cut
///   down to c while a small one is kept), so the update no longer points along −∇L.
///
/// Use it when layers have very different gradient scales and you want to cap each one
/// separately; use [`clip_grad_norm`](crate::clip_grad_norm) to cap the step as a whole.
///
/// Returns the norm of each gradient before clipping, aligned with `params` (`None` for a
/// parameter without a gradient).
///
/// # Panics
/// If `max_norm` is negative or NaN, or `norm_type` is `P(p)` with p ≤ 0 or not finite.
///
/// ```
/// use gradflow_clipping::clip_grad_norm_per_param;
/// use gradflow_tensor::Tensor;
/// let a = Tensor::zeros(&[1]).requires_grad_();
/// let b = Tensor::zeros(&[1]).requires_grad_();
/// a.set_grad(Some(Tensor::from_vec(vec![6.0], &[1])));
/// b.set_grad(Some(Tensor::from_vec(vec![0.5], &[1])));
/// let norms = clip_grad_norm_per_param(&[a.clone(), b.clone()], 1.0, 2.0);
/// assert_eq!(norms, vec![Some(6.0), Some(0.5)]);
/// assert!((a.grad().unwrap().item() - 1.0).abs() < 1e-6); // cut to 1
/// assert_eq!(b.grad().unwrap().item(), 0.5);               // below 1: untouched
/// ```
#[track_caller]
pub fn clip_grad_norm_per_param(
    params: &[Tensor],
    max_norm: f64,
    norm_type: impl Into<NormType>,
) -> Vec<Option<f32>> {
    let norm_type = norm_type.into();
    check_args("clip_grad_norm_per_param", max_norm, norm_type);
    params
        .iter()
        .map(|p| {
            let g = p.grad()?;
            let norm = norm_type.norm_of(&g);
            let coef = clip_coef(max_norm, norm);
            if coef != 1.0 {
                scale_grad(p, coef);
            }
            Some(norm)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_norm_can_exceed_max_norm_unlike_global_clipping() {
        let ps: Vec<Tensor> = (0..4)
            .map(|_| {
                let p = Tensor::zeros(&[1]).requires_grad_();
                p.set_grad(Some(Tensor::from_vec(vec![10.0], &[1])));
                p
            })
            .collect();
        clip_grad_norm_per_param(&ps, 1.0, NormType::L2);
        let total = crate::grad_norm(&ps, NormType::L2);
        assert!((total - 2.0).abs() < 1e-5, "√4 · 1 = 2, got {total}");
    }

    #[test]
    fn params_without_grad_give_none() {
        let p = Tensor::zeros(&[1]).requires_grad_();
        assert_eq!(clip_grad_norm_per_param(&[p], 1.0, 2.0), vec![None]);
    }
}
