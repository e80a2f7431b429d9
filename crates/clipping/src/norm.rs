//! Global gradient-norm clipping (PyTorch's `clip_grad_norm_`).

use std::fmt;

use gradflow_tensor::Tensor;

use crate::ClipError;

/// The ε in the clipping coefficient c / (‖g‖ + ε), as PyTorch: it keeps the division finite
/// when all gradients are zero.
pub const CLIP_EPS: f32 = 1e-6;

/// Which vector norm measures the gradients.
///
/// `From<f64>` reads PyTorch's `norm_type` argument: `1.0` → [`L1`](NormType::L1), `2.0` →
/// [`L2`](NormType::L2), `f64::INFINITY` → [`Inf`](NormType::Inf), any other p → `P(p)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NormType {
    /// ‖x‖₁ = Σ |xᵢ|.
    L1,
    /// ‖x‖₂ = √(Σ xᵢ²), the usual choice.
    L2,
    /// ‖x‖_p = (Σ |xᵢ|ᵖ)^(1/p) for a finite p > 0.
    P(f64),
    /// ‖x‖_∞ = maxᵢ |xᵢ|.
    Inf,
}

impl From<f64> for NormType {
    fn from(p: f64) -> Self {
        if p == 1.0 {
            NormType::L1
        } else if p == 2.0 {
            NormType::L2
        } else if p == f64::INFINITY {
            NormType::Inf
        } else {
            NormType::P(p)
        }
    }
}

impl fmt::Display for NormType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NormType::L1 => write!(f, "L1"),
            NormType::L2 => write!(f, "L2"),
            NormType::P(p) => write!(f, "L{p}"),
            NormType::Inf => write!(f, "L∞"),
        }
    }
}

impl NormType {
    #[track_caller]
    pub(crate) fn validate(self, op: &str) {
        if let NormType::P(p) = self {
            assert!(
                p > 0.0 && p.is_finite(),
                "{op}: norm_type must be a finite p > 0 or infinity, got {p}"
            );
        }
    }

    /// The p of this norm as PyTorch's `norm_type` (∞ for [`NormType::Inf`]).
    pub fn p(self) -> f64 {
        match self {
            NormType::L1 => 1.0,
            NormType::L2 => 2.0,
            NormType::P(p) => p,
            NormType::Inf => f64::INFINITY,
        }
    }

    /// ‖t‖ through the workspace's one norm, [`Tensor::norm_value`] (accumulated in f64, so
    /// gradients near 10⁻³⁰ keep their size), rounded once to f32. NaN anywhere gives NaN
    /// (also for L∞, as `torch.linalg.vector_norm`); an empty tensor has norm 0.
    pub(crate) fn norm_of(self, t: &Tensor) -> f32 {
        t.norm_value(self.p()) as f32
    }

    /// [`NormType::norm_of`] a slice.
    pub(crate) fn norm(self, x: &[f32]) -> f32 {
        self.norm_of(&Tensor::from_vec(x.to_vec(), &[x.len()]))
    }
}

/// The total norm of all gradients seen as one vector, without changing them:
/// ‖(‖g₁‖, …, ‖gₙ‖)‖, the norm of the per-tensor norms (equal to the norm of the
/// concatenation for every p-norm and for L∞). Parameters without a gradient are skipped;
/// no gradients at all gives 0.
///
/// Each per-tensor norm is accumulated in f64 and rounded to f32, then the norm of those
/// f32 values is taken the same way (PyTorch stacks the f32 per-tensor norms likewise).
///
/// # Panics
/// If `norm_type` is `P(p)` with p ≤ 0 or not finite.
#[track_caller]
pub fn grad_norm(params: &[Tensor], norm_type: impl Into<NormType>) -> f32 {
    let norm_type = norm_type.into();
    norm_type.validate("grad_norm");
    total_norm(params, norm_type)
}

fn total_norm(params: &[Tensor], norm_type: NormType) -> f32 {
    let norms: Vec<f32> = params
        .iter()
        .filter_map(|p| p.grad())
        .map(|g| norm_type.norm_of(&g))
        .collect();
    norm_type.norm(&norms)
}

/// Scale all gradients by one coefficient so that their global norm is at most `max_norm`
/// (PyTorch's `torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)`):
///
/// N = ‖(‖g₁‖, …, ‖gₙ‖)‖,  c = max_norm / (N + 10⁻⁶),  gₖ ← gₖ · min(c, 1).
///
/// Returns N, the norm *before* clipping (log it: a spike in N is the first sign of an
/// exploding gradient). Because one coefficient scales every tensor, the update keeps its
/// direction; only its length is capped. When N ≤ max_norm the gradients are left exactly
/// as they were (min(c, 1) = 1 is not even multiplied in).
///
/// A non-finite N behaves as PyTorch with `error_if_nonfinite=False`: N = NaN makes every
/// gradient NaN, N = ∞ makes c = 0. Use [`try_clip_grad_norm`] to get an error instead.
///
/// # Panics
/// If `max_norm` is negative or NaN, or `norm_type` is `P(p)` with p ≤ 0 or not finite.
///
/// ```
/// use gradflow_clipping::clip_grad_norm;
/// use gradflow_tensor::Tensor;
/// let a = Tensor::zeros(&[1]).requires_grad_();
/// let b = Tensor::zeros(&[1]).requires_grad_();
/// a.set_grad(Some(Tensor::from_vec(vec![6.0], &[1])));
/// b.set_grad(Some(Tensor::from_vec(vec![8.0], &[1])));
/// // One coefficient for both: 5 / 10, not 5/6 and 5/8.
/// assert_eq!(clip_grad_norm(&[a.clone(), b.clone()], 5.0, 2.0), 10.0);
/// assert!((a.grad().unwrap().item() - 3.0).abs() < 1e-5);
/// assert!((b.grad().unwrap().item() - 4.0).abs() < 1e-5);
/// ```
#[track_caller]
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64, norm_type: impl Into<NormType>) -> f32 {
    let norm_type = norm_type.into();
    check_args("clip_grad_norm", max_norm, norm_type);
    let total = total_norm(params, norm_type);
    scale_all(params, clip_coef(max_norm, total));
    total
}

/// [`clip_grad_norm`] that refuses a non-finite total norm (PyTorch's
/// `error_if_nonfinite=True`): returns [`ClipError::NonFiniteNorm`] and leaves every gradient
/// unchanged, instead of writing NaN into all of them.
///
/// # Panics
/// As [`clip_grad_norm`].
///
/// ```
/// use gradflow_clipping::{try_clip_grad_norm, ClipError, NormType};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::zeros(&[2]).requires_grad_();
/// w.set_grad(Some(Tensor::from_vec(vec![1.0, f32::NAN], &[2])));
/// let err = try_clip_grad_norm(&[w.clone()], 1.0, NormType::L2).unwrap_err();
/// assert!(matches!(err, ClipError::NonFiniteNorm { .. }));
/// assert_eq!(w.grad().unwrap().to_vec()[0], 1.0); // untouched
/// ```
#[track_caller]
pub fn try_clip_grad_norm(
    params: &[Tensor],
    max_norm: f64,
    norm_type: impl Into<NormType>,
) -> Result<f32, ClipError> {
    let norm_type = norm_type.into();
    check_args("try_clip_grad_norm", max_norm, norm_type);
    let total = total_norm(params, norm_type);
    if !total.is_finite() {
        return Err(ClipError::NonFiniteNorm {
            norm: total,
            norm_type,
        });
    }
    scale_all(params, clip_coef(max_norm, total));
    Ok(total)
}

#[track_caller]
pub(crate) fn check_args(op: &str, max_norm: f64, norm_type: NormType) {
    assert!(
        max_norm >= 0.0,
        "{op}: max_norm must be >= 0, got {max_norm}"
    );
    norm_type.validate(op);
}

/// min(max_norm / (norm + ε), 1), with NaN propagated (as `torch.clamp`, unlike `f32::min`).
/// Computed in f32 like PyTorch's `max_norm / (total_norm + 1e-6)` on an f32 tensor: the
/// f64 hyperparameter is rounded once, here.
pub(crate) fn clip_coef(max_norm: f64, norm: f32) -> f32 {
    let c = max_norm as f32 / (norm + CLIP_EPS);
    if c.is_nan() { c } else { c.min(1.0) }
}

/// gₖ ← c·gₖ for every parameter with a gradient; c = 1 leaves them untouched.
fn scale_all(params: &[Tensor], coef: f32) {
    if coef == 1.0 {
        return;
    }
    for p in params {
        scale_grad(p, coef);
    }
}

/// Replace `p`'s gradient by c·g (a fresh tensor: the old gradient may share storage with
/// other tensors, so it is never written in place).
pub(crate) fn scale_grad(p: &Tensor, coef: f32) {
    let Some(g) = p.grad() else { return };
    let scaled: Vec<f32> = g.with_data(|d| d.iter().map(|&x| x * coef).collect());
    p.set_grad(Some(Tensor::from_vec(scaled, g.shape())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_with_grad(g: Vec<f32>) -> Tensor {
        let n = g.len();
        let p = Tensor::zeros(&[n]).requires_grad_();
        p.set_grad(Some(Tensor::from_vec(g, &[n])));
        p
    }

    #[test]
    fn norm_types_from_pytorch_numbers() {
        assert_eq!(NormType::from(1.0), NormType::L1);
        assert_eq!(NormType::from(2.0), NormType::L2);
        assert_eq!(NormType::from(f64::INFINITY), NormType::Inf);
        assert_eq!(NormType::from(3.0), NormType::P(3.0));
    }

    #[test]
    fn norms_of_a_small_vector() {
        let x = [3.0, -4.0];
        assert_eq!(NormType::L1.norm(&x), 7.0);
        assert_eq!(NormType::L2.norm(&x), 5.0);
        assert_eq!(NormType::Inf.norm(&x), 4.0);
        assert!((NormType::P(3.0).norm(&x) - 91f32.powf(1.0 / 3.0)).abs() < 1e-5);
        assert!(NormType::Inf.norm(&[1.0, f32::NAN, 2.0]).is_nan());
        assert_eq!(NormType::L2.norm(&[]), 0.0);
    }

    #[test]
    fn no_gradients_gives_zero_and_changes_nothing() {
        let p = Tensor::zeros(&[2]).requires_grad_();
        assert_eq!(clip_grad_norm(std::slice::from_ref(&p), 1.0, 2.0), 0.0);
        assert!(p.grad().is_none());
    }

    #[test]
    fn nan_gradient_poisons_everything_like_pytorch() {
        let a = leaf_with_grad(vec![1.0, f32::NAN]);
        let b = leaf_with_grad(vec![2.0]);
        let total = clip_grad_norm(&[a.clone(), b.clone()], 1.0, NormType::L2);
        assert!(total.is_nan());
        assert!(b.grad().unwrap().to_vec()[0].is_nan());
    }

    #[test]
    fn try_variant_leaves_grads_on_infinity() {
        let a = leaf_with_grad(vec![f32::INFINITY, 1.0]);
        let b = leaf_with_grad(vec![2.0]);
        let err = try_clip_grad_norm(&[a.clone(), b.clone()], 1.0, NormType::Inf).unwrap_err();
        assert_eq!(
            err,
            ClipError::NonFiniteNorm {
                norm: f32::INFINITY,
                norm_type: NormType::Inf
            }
        );
        assert_eq!(b.grad().unwrap().to_vec(), vec![2.0]);
        // The finite case returns the same as the plain function.
        let c = leaf_with_grad(vec![3.0, 4.0]);
        assert_eq!(
            try_clip_grad_norm(std::slice::from_ref(&c), 1.0, 2.0),
            Ok(5.0)
        );
    }

    #[test]
    fn grad_that_shares_storage_is_not_written_through() {
        // Two leaves holding the *same* gradient tensor (as autograd hands out for `a + b`).
        let g = Tensor::from_vec(vec![3.0, 4.0], &[2]);
        let a = Tensor::zeros(&[2]).requires_grad_();
        a.set_grad(Some(g.clone()));
        clip_grad_norm(std::slice::from_ref(&a), 1.0, 2.0);
        assert_eq!(g.to_vec(), vec![3.0, 4.0]);
    }

    #[test]
    #[should_panic(expected = "clip_grad_norm: norm_type must be a finite p > 0")]
    fn zero_p_panics() {
        clip_grad_norm(&[], 1.0, NormType::P(0.0));
    }

    #[test]
    #[should_panic(expected = "clip_grad_norm: max_norm must be >= 0")]
    fn nan_max_norm_panics() {
        clip_grad_norm(&[], f64::NAN, 2.0);
    }
}
