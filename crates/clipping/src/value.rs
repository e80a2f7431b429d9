//! Elementwise value clipping.

use gradflow_tensor::Tensor;

/// Clamp every gradient element into [−c, c]: gᵢ ← min(max(gᵢ, −c), c)
/// (PyTorch's `torch.nn.utils.clip_grad_value_`).
///
/// Unlike norm clipping this changes the gradient's *direction* (large components are cut,
/// small ones kept), so it is a blunt tool; prefer [`clip_grad_norm`](crate::clip_grad_norm)
/// unless single outlier elements are the problem. NaN elements stay NaN (as `torch.clamp`).
/// Parameters without a gradient are skipped.
///
/// # Panics
/// If `clip_value` is negative or NaN.
///
/// ```
/// use gradflow_clipping::clip_grad_value;
/// use gradflow_tensor::Tensor;
/// let w = Tensor::zeros(&[3]).requires_grad_();
/// w.set_grad(Some(Tensor::from_vec(vec![-2.0, 0.05, 7.0], &[3])));
/// clip_grad_value(&[w.clone()], 0.1);
/// assert_eq!(w.grad().unwrap().to_vec(), vec![-0.1, 0.05, 0.1]);
/// ```
#[track_caller]
pub fn clip_grad_value(params: &[Tensor], clip_value: f64) {
    assert!(
        clip_value >= 0.0,
        "clip_grad_value: clip_value must be >= 0, got {clip_value}"
    );
    // The f64 hyperparameter is rounded once to the gradients' f32.
    let clip_value = clip_value as f32;
    for p in params {
        let Some(g) = p.grad() else { continue };
        let clipped: Vec<f32> = g.with_data(|d| {
            d.iter()
                .map(|&x| {
                    if x.is_nan() {
                        x
                    } else {
                        x.clamp(-clip_value, clip_value)
                    }
                })
                .collect()
        });
        p.set_grad(Some(Tensor::from_vec(clipped, g.shape())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_stays_nan_and_inf_is_bounded() {
        let w = Tensor::zeros(&[3]).requires_grad_();
        w.set_grad(Some(Tensor::from_vec(
            vec![f32::NAN, f32::INFINITY, -f32::INFINITY],
            &[3],
        )));
        clip_grad_value(std::slice::from_ref(&w), 1.5);
        let g = w.grad().unwrap().to_vec();
        assert!(g[0].is_nan());
        assert_eq!(&g[1..], &[1.5, -1.5]);
    }

    #[test]
    fn params_without_grad_are_skipped() {
        let w = Tensor::zeros(&[2]).requires_grad_();
        clip_grad_value(std::slice::from_ref(&w), 1.0);
        assert!(w.grad().is_none());
    }

    #[test]
    #[should_panic(expected = "clip_grad_value: clip_value must be >= 0")]
    fn negative_clip_panics() {
        clip_grad_value(&[], -1.0);
    }
}
