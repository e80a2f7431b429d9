//! Compare analytic gradients with central finite differences.
//!
//! For a function f of tensors and a fixed random upstream gradient g, the scalar
//! L(x) = Σⱼ f(x)ⱼ·gⱼ has ∂L/∂xᵢ = (gᵀ ∂f/∂x)ᵢ, which backward computes. The numeric estimate
//! is n = (L(x + h eᵢ) − L(x − h eᵢ)) / (2h), with L accumulated in f64.
//!
//! The engine computes in f32 (machine epsilon ε = 2⁻²³ ≈ 1.2·10⁻⁷), which bounds what a
//! finite difference can resolve, so the step and the tolerance follow from ε:
//! - step: h = ∛ε · max(1, |xᵢ|) ≈ 4.9·10⁻³·max(1, |xᵢ|), which balances the truncation
//!   error (h²·|f‴|/6) against the rounding error (≈ ε·S/h);
//! - tolerance: |a − n| ≤ `rounding_ulps`·ε·Sᵢ/h + `atol` + `rtol`·|n|, where
//!   Sᵢ = Σⱼ |f(x ± h eᵢ)ⱼ·gⱼ| over the outputs that moved, i.e. the size of what was
//!   subtracted. Outputs that do not depend on xᵢ come out bit-identical and add nothing.
//!   When no output moved at all, the difference only says that every change was below one
//!   rounding step (|Δyⱼ| < ulp(yⱼ) ≤ ε·|yⱼ|): a true gradient below ≈ ε·|y|/h (e.g. a tiny
//!   softmax probability through a mean loss of size 1) is invisible, so Sᵢ falls back to
//!   maxⱼ |f(x)ⱼ·gⱼ|, the size of the largest output that could have hidden a change.
//!
//! Points where f has a kink (ReLU at 0, |x| at 0, max at ties) have no derivative to check;
//! test inputs must stay at least h away from them.

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::{Tensor, no_grad};

/// Settings for [`gradcheck`]; the defaults are derived from f32 precision (see module docs).
#[derive(Clone, Copy, Debug)]
pub struct GradCheck {
    /// Relative step: h = `step`·max(1, |x|).
    pub step: f64,
    /// Rounding allowance in units of ε·Sᵢ/h (a few ulps per op in a chain).
    pub rounding_ulps: f64,
    /// Absolute floor.
    pub atol: f64,
    /// Relative allowance for truncation error.
    pub rtol: f64,
    /// Seed of the random upstream gradient.
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck {
            step: (f32::EPSILON as f64).cbrt(),
            rounding_ulps: 32.0,
            atol: 1e-5,
            rtol: 2e-3,
            seed: 0x5eed,
        }
    }
}

/// The element where analytic and numeric gradients disagree most, relative to its tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Which input tensor.
    pub input: usize,
    /// Row-major element index within it.
    pub index: usize,
    /// Gradient from backward.
    pub analytic: f64,
    /// Central-difference estimate.
    pub numeric: f64,
    /// The tolerance that applied there.
    pub tolerance: f64,
}

/// Outcome of [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradCheckReport {
    /// The worst element (largest error / tolerance), if any element was checked.
    pub worst: Option<Mismatch>,
    /// Largest |analytic − numeric| over all elements.
    pub max_abs_err: f64,
    /// True when every element was within its tolerance.
    pub passed: bool,
}

impl std::fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.worst {
            None => write!(f, "gradcheck: nothing to check"),
            Some(m) => write!(
                f,
                "gradcheck {}: worst at input {} element {}: analytic {:.6e}, numeric {:.6e}, \
                 |diff| {:.3e} vs tolerance {:.3e}",
                if self.passed { "passed" } else { "FAILED" },
                m.input,
                m.index,
                m.analytic,
                m.numeric,
                (m.analytic - m.numeric).abs(),
                m.tolerance
            ),
        }
    }
}

/// Check `f`'s backward against central differences at `inputs` (every input is checked).
///
/// `f` must be deterministic (re-seed any randomness inside it).
///
/// ```
/// use gradflow_tensor::{gradcheck, GradCheck, Tensor};
/// let x = Tensor::from_vec(vec![0.5, -1.5, 2.0], &[3]);
/// let report = gradcheck(|t| t[0].exp().mul(&t[0]), &[x], GradCheck::default());
/// assert!(report.passed, "{report}");
/// ```
pub fn gradcheck(
    f: impl Fn(&[Tensor]) -> Tensor,
    inputs: &[Tensor],
    cfg: GradCheck,
) -> GradCheckReport {
    let leaves: Vec<Tensor> = inputs
        .iter()
        .map(|t| Tensor::from_vec(t.to_vec(), t.shape()).requires_grad_())
        .collect();
    let y = f(&leaves);
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let g = Tensor::randn(y.shape(), 0.0, 1.0, &mut rng);
    let gv: Vec<f64> = g.to_vec().iter().map(|&v| v as f64).collect();
    // Largest |f(x)ⱼ·gⱼ|: the rounding scale when no output moves (see the module docs).
    let hidden_scale = y
        .to_vec()
        .iter()
        .zip(&gv)
        .map(|(&v, &gj)| (v as f64 * gj).abs())
        .fold(0.0f64, f64::max);
    if y.requires_grad() {
        y.backward_with(&g);
    }
    let eps = f32::EPSILON as f64;
    let mut report = GradCheckReport {
        worst: None,
        max_abs_err: 0.0,
        passed: true,
    };
    let mut worst_ratio = -1.0;
    for (ti, leaf) in leaves.iter().enumerate() {
        let analytic = leaf
            .grad()
            .map(|t| t.to_vec())
            .unwrap_or_else(|| vec![0.0; leaf.numel()]);
        let base = leaf.to_vec();
        for i in 0..base.len() {
            let x = base[i] as f64;
            let h = cfg.step * x.abs().max(1.0);
            let (xp, xm) = ((x + h) as f32, (x - h) as f32);
            let eval = |v: f32| -> Vec<f32> {
                let mut vals = base.clone();
                vals[i] = v;
                let args: Vec<Tensor> = leaves
                    .iter()
                    .enumerate()
                    .map(|(k, t)| {
                        if k == ti {
                            Tensor::from_vec(vals.clone(), t.shape())
                        } else {
                            t.detach()
                        }
                    })
                    .collect();
                no_grad(|| f(&args)).to_vec()
            };
            let (yp, ym) = (eval(xp), eval(xm));
            let mut diff = 0.0f64;
            let mut scale = 0.0f64;
            for j in 0..yp.len() {
                if yp[j] != ym[j] {
                    diff += (yp[j] as f64 - ym[j] as f64) * gv[j];
                    scale += (yp[j].abs() as f64 + ym[j].abs() as f64) * 0.5 * gv[j].abs();
                }
            }
            if scale == 0.0 {
                scale = hidden_scale;
            }
            let dh = xp as f64 - xm as f64;
            let numeric = diff / dh;
            let a = analytic[i] as f64;
            let tolerance =
                cfg.rounding_ulps * eps * scale / dh + cfg.atol + cfg.rtol * numeric.abs();
            let err = (a - numeric).abs();
            report.max_abs_err = report.max_abs_err.max(err);
            let ratio = if err.is_nan() {
                f64::INFINITY
            } else {
                err / tolerance
            };
            if ratio > 1.0 {
                report.passed = false;
            }
            if ratio > worst_ratio {
                worst_ratio = ratio;
                report.worst = Some(Mismatch {
                    input: ti,
                    index: i,
                    analytic: a,
                    numeric,
                    tolerance,
                });
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_a_wrong_backward() {
        // y = x², but the backward claims 3x: gradcheck must fail and name the element.
        let wrong =
            |t: &[Tensor]| {
                let x = t[0].detach();
                Tensor::from_vec(t[0].to_vec().iter().map(|v| v * v).collect(), t[0].shape())
                    .record("wrong_square", &[&t[0]], false, move |c| {
                        vec![Some(c.grad_output().mul(&x.mul_scalar(3.0)))]
                    })
            };
        let r = gradcheck(
            wrong,
            &[Tensor::from_vec(vec![1.0, 2.0], &[2])],
            GradCheck::default(),
        );
        assert!(!r.passed);
        let m = r.worst.unwrap();
        assert!((m.analytic / m.numeric - 1.5).abs() < 1e-2, "{m:?}");
    }
}
