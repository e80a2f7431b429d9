//! Softmax, log-softmax, losses and dropout.
//!
//! Numerically stable forms: softmax subtracts the row maximum before exponentiating
//! (softmax(x) = softmax(x − max x)), and log-softmax uses log-sum-exp,
//! log pᵢ = xᵢ − m − ln Σⱼ e^(xⱼ − m). Cross-entropy is fused with log-softmax, so its
//! gradient is the well-conditioned p − q instead of a division by a tiny probability.

use rand::{Rng, RngExt};

use crate::Tensor;
use crate::kernels::map::zip_slices;
use crate::layout::shape_panic;

/// How a loss combines its per-sample values (PyTorch's `reduction=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Average over samples (the default).
    #[default]
    Mean,
    /// Sum over samples.
    Sum,
    /// No reduction: one loss per sample.
    None,
}

/// The keyword arguments of [`Tensor::cross_entropy_with`], PyTorch's names and defaults
/// (`weight=None, ignore_index=-100` (here: none), `reduction='mean', label_smoothing=0.0`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrossEntropy {
    /// A weight per class (`weight=`): a sample's loss is scaled by its target's weight.
    pub weight: Option<Vec<f32>>,
    /// Samples with this target count for nothing (`ignore_index=`), e.g. padding.
    pub ignore_index: Option<usize>,
    /// How the per-sample losses combine.
    pub reduction: Reduction,
    /// ε: the target distribution is (1 − ε)·one-hot + ε·uniform.
    pub label_smoothing: f64,
}

/// Row-wise stable softmax (or log-softmax) of `[rows, n]` data.
fn softmax_rows(x: &[f32], n: usize, log: bool) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    if n == 0 {
        return out;
    }
    let row = |src: &[f32], dst: &mut [f32]| {
        let m = src.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let m = if m.is_finite() { m } else { 0.0 };
        let mut s = 0.0f32;
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = crate::math::exp(v - m);
            s += *d;
        }
        if log {
            // (x − m) − ln s keeps the small result exact where x − (m + ln s) would lose it
            // to the rounding of a large m.
            let ls = s.ln();
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = (v - m) - ls;
            }
        } else {
            let inv = 1.0 / s;
            for d in dst.iter_mut() {
                *d *= inv;
            }
        }
    };
    if x.len() >= crate::parallel::PAR_MIN_ELEMS {
        use rayon::prelude::*;
        out.par_chunks_mut(n)
            .zip(x.par_chunks(n))
            .for_each(|(d, s)| row(s, d));
    } else {
        for (d, s) in out.chunks_mut(n).zip(x.chunks(n)) {
            row(s, d);
        }
    }
    out
}

impl Tensor {
    /// Apply a last-dimension kernel along `dim` by moving `dim` last and back (views).
    fn along_last(&self, dim: usize, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
        let last = self.rank() - 1;
        if dim == last {
            f(self)
        } else {
            f(&self.transpose(dim, last)).transpose(dim, last)
        }
    }

    /// softmax(x)ᵢ = e^(xᵢ − m) / Σⱼ e^(xⱼ − m) along `dim` (m = max, for stability).
    /// Backward: ∂L/∂x = y ⊙ (∂L/∂y − Σ(∂L/∂y ⊙ y)).
    #[track_caller]
    pub fn softmax(&self, dim: usize) -> Tensor {
        self.check_dim("softmax", dim);
        self.along_last(dim, |x| {
            let n = *x.shape().last().unwrap_or(&1);
            let y = Tensor::from_vec(x.with_data(|d| softmax_rows(d, n, false)), x.shape());
            y.record("softmax", &[x], true, move |c| {
                let (g, y) = (c.grad_output(), c.output());
                let dot = g.mul(y).sum(&[y.rank() - 1], true);
                vec![Some(g.sub(&dot).mul(y))]
            })
        })
    }

    /// log softmax(x)ᵢ = xᵢ − m − ln Σⱼ e^(xⱼ − m) along `dim` (log-sum-exp form).
    /// Backward: ∂L/∂x = ∂L/∂y − softmax(x) · Σ ∂L/∂y.
    #[track_caller]
    pub fn log_softmax(&self, dim: usize) -> Tensor {
        self.check_dim("log_softmax", dim);
        self.along_last(dim, |x| {
            let n = *x.shape().last().unwrap_or(&1);
            let y = Tensor::from_vec(x.with_data(|d| softmax_rows(d, n, true)), x.shape());
            y.record("log_softmax", &[x], true, move |c| {
                let (g, y) = (c.grad_output(), c.output());
                let total = g.sum(&[y.rank() - 1], true);
                vec![Some(g.sub(&y.exp().mul(&total)))]
            })
        })
    }

    /// Cross-entropy of logits `[N, C]` against class indices, fused with log-softmax
    /// (PyTorch's `F.cross_entropy(logits, target, reduction=…, label_smoothing=ε)`): the
    /// common case of [`cross_entropy_with`](Tensor::cross_entropy_with), no class weights
    /// and no ignored index.
    ///
    /// # Panics
    /// As [`cross_entropy_with`](Tensor::cross_entropy_with).
    ///
    /// ```
    /// use gradflow_tensor::{Reduction, Tensor};
    /// // Uniform logits over 4 classes: loss = ln 4.
    /// let loss = Tensor::zeros(&[2, 4]).cross_entropy(&[0, 3], Reduction::Mean, 0.0);
    /// assert!((loss.item() - 4f32.ln()).abs() < 1e-6);
    /// ```
    #[track_caller]
    pub fn cross_entropy(
        &self,
        targets: &[usize],
        reduction: Reduction,
        label_smoothing: f64,
    ) -> Tensor {
        self.cross_entropy_with(
            targets,
            &CrossEntropy {
                reduction,
                label_smoothing,
                ..CrossEntropy::default()
            },
        )
    }

    /// Cross-entropy with PyTorch's full signature: `F.cross_entropy(logits, target,
    /// weight=w, ignore_index=k, reduction=…, label_smoothing=ε)`.
    ///
    /// With class weights w (all 1 without them) and the smoothed target
    /// q_c = (1 − ε)·w_t·[c = t] + ε·w_c / C, sample i's loss is
    ///
    /// ℓ_i = −Σ_c q_c log p_c,  ∂ℓ_i/∂z_j = p_j·Σ_c q_c − q_j,
    ///
    /// and a sample whose target is `ignore_index` has ℓ_i = 0 and no gradient. `Mean`
    /// divides by the weight of the samples that count, Σ_{i not ignored} w_{t_i}, as
    /// PyTorch does, so a weighted mean is a weighted average (and NaN when every sample
    /// is ignored, 0/0, as in PyTorch). The LM pipelines use `ignore_index` for padding.
    ///
    /// # Panics
    /// If `self` is not 2-D, `targets.len() != N`, a class index that is not ignored is
    /// `>= C`, the weights are not C finite values, or ε ∉ [0, 1].
    ///
    /// ```
    /// use gradflow_tensor::{CrossEntropy, Reduction, Tensor};
    /// // Class 0 is padding: only the second sample counts, and its loss is ln 4.
    /// let ce = CrossEntropy { ignore_index: Some(0), ..CrossEntropy::default() };
    /// let loss = Tensor::zeros(&[2, 4]).cross_entropy_with(&[0, 3], &ce);
    /// assert!((loss.item() - 4f32.ln()).abs() < 1e-6);
    /// ```
    #[track_caller]
    pub fn cross_entropy_with(&self, targets: &[usize], opts: &CrossEntropy) -> Tensor {
        if self.rank() != 2 || targets.len() != self.shape()[0] {
            shape_panic(
                "cross_entropy",
                self.shape(),
                &[targets.len()],
                "logits must be [N, C] with one target per row",
            );
        }
        let ls = opts.label_smoothing;
        assert!(
            (0.0..=1.0).contains(&ls),
            "cross_entropy: label_smoothing {ls} must lie in [0, 1]"
        );
        let (n, classes) = (self.shape()[0], self.shape()[1]);
        let counts = |i: usize| opts.ignore_index != Some(targets[i]);
        if let Some(&bad) = (0..n)
            .filter(|&i| counts(i))
            .map(|i| &targets[i])
            .find(|&&t| t >= classes)
        {
            panic!("cross_entropy: target class {bad} out of range for {classes} classes");
        }
        let weight: Vec<f32> = match &opts.weight {
            Some(w) => {
                assert!(
                    w.len() == classes && w.iter().all(|v| v.is_finite()),
                    "cross_entropy: weight must hold {classes} finite values (one per class), got {}",
                    w.len()
                );
                w.clone()
            }
            None => vec![1.0; classes],
        };
        let eps = ls as f32;
        let smooth_base = eps / classes as f32;
        let logp = self.with_data(|d| softmax_rows(d, classes, true));
        // Per sample: the loss, and Σ_c q_c (the gradient's p-coefficient).
        let mut per_sample = vec![0.0f32; n];
        let mut q_total = vec![0.0f32; n];
        let mut denominator = 0.0f32;
        for (i, row) in logp.chunks(classes.max(1)).enumerate() {
            if !counts(i) {
                continue;
            }
            let t = targets[i];
            let mut loss = -(1.0 - eps) * weight[t] * row[t];
            let mut total = (1.0 - eps) * weight[t];
            if eps > 0.0 {
                let weighted: f32 = row.iter().zip(&weight).map(|(l, w)| w * l).sum();
                loss -= smooth_base * weighted;
                total += smooth_base * weight.iter().sum::<f32>();
            }
            per_sample[i] = loss;
            q_total[i] = total;
            denominator += weight[t];
        }
        let out = match opts.reduction {
            Reduction::None => Tensor::from_vec(per_sample, &[n]),
            Reduction::Sum => Tensor::scalar(per_sample.iter().sum()),
            // Nothing counted: 0/0 = NaN, as PyTorch.
            Reduction::Mean => Tensor::scalar(per_sample.iter().sum::<f32>() / denominator),
        };
        let (t, reduction) = (targets.to_vec(), opts.reduction);
        let ignore = opts.ignore_index;
        out.record("cross_entropy", &[self], false, move |c| {
            let g = c.grad_output().to_vec();
            let mut dx: Vec<f32> = logp.iter().map(|&v| crate::math::exp(v)).collect();
            for (r, row) in dx.chunks_mut(classes.max(1)).enumerate() {
                if ignore == Some(t[r]) {
                    row.fill(0.0);
                    continue;
                }
                let scale = match reduction {
                    Reduction::None => g[r],
                    Reduction::Sum => g[0],
                    Reduction::Mean => g[0] / denominator,
                };
                for (v, w) in row.iter_mut().zip(&weight) {
                    *v = (*v * q_total[r] - smooth_base * w) * scale;
                }
                row[t[r]] -= (1.0 - eps) * weight[t[r]] * scale;
            }
            vec![Some(Tensor::from_vec(dx, &[n, classes]))]
        })
    }

    /// Mean squared error, mean((x − target)²) (or summed / per element).
    ///
    /// # Panics
    /// If the shapes differ: unlike a silent broadcast, this is almost always a bug.
    #[track_caller]
    pub fn mse_loss(&self, target: &Tensor, reduction: Reduction) -> Tensor {
        if self.shape() != target.shape() {
            shape_panic(
                "mse_loss",
                self.shape(),
                target.shape(),
                "prediction and target must have the same shape",
            );
        }
        let d = self.sub(target);
        let sq = d.mul(&d);
        match reduction {
            Reduction::Mean => sq.mean_all(),
            Reduction::Sum => sq.sum_all(),
            Reduction::None => sq,
        }
    }

    /// Inverted dropout: each element is zeroed with probability `p` and the survivors are
    /// scaled by 1/(1 − p), so the expectation is unchanged and evaluation needs no rescaling.
    /// The mask comes from `rng`, so a seeded generator gives a reproducible mask.
    ///
    /// # Panics
    /// If `p ∉ [0, 1]`.
    #[track_caller]
    pub fn dropout<R: Rng + ?Sized>(&self, p: f64, rng: &mut R) -> Tensor {
        assert!(
            (0.0..=1.0).contains(&p),
            "dropout: probability {p} must lie in [0, 1]"
        );
        if p == 0.0 {
            return self.clone();
        }
        // The f64 hyperparameter is rounded once to the data's f32.
        let p = p as f32;
        let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
        let mask: Vec<f32> = (0..self.numel())
            .map(|_| if rng.random::<f32>() >= p { scale } else { 0.0 })
            .collect();
        let y = self.with_data(|x| zip_slices(x, &mask, |a, m| a * m));
        let mask = Tensor::from_vec(mask, self.shape());
        Tensor::from_vec(y, self.shape()).record("dropout", &[self], false, move |c| {
            vec![Some(c.grad_output().mul(&mask))]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_for_huge_logits() {
        let x = Tensor::from_vec(vec![1000.0, 1000.0, -1000.0], &[1, 3]);
        let y = x.softmax(1).to_vec();
        assert_eq!(y, vec![0.5, 0.5, 0.0]);
        let l = x.log_softmax(1).to_vec();
        assert!((l[0] + 2f32.ln()).abs() < 1e-6 && l[2].is_finite());
    }

    #[test]
    fn cross_entropy_gradient_is_p_minus_q() {
        let x = Tensor::zeros(&[1, 2]).requires_grad_();
        x.cross_entropy(&[1], Reduction::Sum, 0.0).backward();
        assert_eq!(x.grad().unwrap().to_vec(), vec![0.5, -0.5]);
    }

    #[test]
    fn dropout_keeps_expectation() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let y = Tensor::ones(&[100_000]).dropout(0.3, &mut rng);
        // Mean of n i.i.d. values with mean 1 and variance p/(1−p) ≈ 0.43: its standard
        // deviation is sqrt(0.43 / 1e5) ≈ 0.0021, so 0.01 is almost 5 sigma.
        assert!((y.mean_all().item() - 1.0).abs() < 0.01);
    }
}
