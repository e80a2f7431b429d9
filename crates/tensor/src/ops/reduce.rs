//! Reductions over axes: sum, mean, max, min, var; `sum_to`, the adjoint of broadcasting; and
//! the p-norm of all elements ([`Tensor::norm`]), accumulated in f64.

use rayon::prelude::*;

use crate::Tensor;
use crate::layout::shape_panic;
use crate::parallel::PAR_MIN_ELEMS;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Sum,
    Max,
    Min,
}

impl Kind {
    fn init(self) -> f32 {
        match self {
            Kind::Sum => 0.0,
            Kind::Max => f32::NEG_INFINITY,
            Kind::Min => f32::INFINITY,
        }
    }

    #[inline(always)]
    fn combine(self, acc: f32, v: f32) -> f32 {
        match self {
            Kind::Sum => acc + v,
            // NaN propagates, as in PyTorch.
            Kind::Max => {
                if v > acc || v.is_nan() {
                    v
                } else {
                    acc
                }
            }
            Kind::Min => {
                if v < acc || v.is_nan() {
                    v
                } else {
                    acc
                }
            }
        }
    }
}

/// Reduce `x` (row-major, viewed as `[outer, r, inner]`) over its middle axis.
///
/// Parallel above [`PAR_MIN_ELEMS`] over the outer index. A single outer block (a column sum
/// such as a bias gradient over `[T·B, G·H]` rows) runs on one thread, whole rows in memory
/// order: splitting it into parallel runs of columns, each core reading a part of every row,
/// measured 5× slower on an AMD EPYC host (the bias-gradient sums were 2.9 % of the char-LM
/// step and 5 % of the adding-problem step, against 0.6 % and 0.9 % on one thread). Every
/// output is the sequential combination over r.
fn reduce_block(x: &[f32], outer: usize, r: usize, inner: usize, kind: Kind) -> Vec<f32> {
    // Outer block `o` reduced over its r rows into `dst` (`inner` long).
    let columns = |o: usize, dst: &mut [f32]| {
        let base = &x[o * r * inner..(o + 1) * r * inner];
        if inner == 1 {
            dst[0] = if kind == Kind::Sum {
                sum_lanes(base)
            } else {
                base.iter().fold(kind.init(), |a, &v| kind.combine(a, v))
            };
            return;
        }
        dst.fill(kind.init());
        // The match outside the loop: a sum's row loop then vectorizes.
        match kind {
            Kind::Sum => {
                for row in base.chunks_exact(inner) {
                    for (d, &v) in dst.iter_mut().zip(row) {
                        *d += v;
                    }
                }
            }
            _ => {
                for row in base.chunks_exact(inner) {
                    for (d, &v) in dst.iter_mut().zip(row) {
                        *d = kind.combine(*d, v);
                    }
                }
            }
        }
    };
    let mut out = vec![0.0; outer * inner];
    if inner == 0 {
        return out;
    }
    if x.len() >= PAR_MIN_ELEMS && outer >= 2 {
        out.par_chunks_mut(inner)
            .enumerate()
            .for_each(|(o, dst)| columns(o, dst));
    } else {
        for (o, dst) in out.chunks_mut(inner).enumerate() {
            columns(o, dst);
        }
    }
    out
}

/// Sum with 8 independent accumulators: vectorizes, and keeps the rounding error of long
/// sums about 8 times smaller than one running sum.
fn sum_lanes(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Panics unless `p` is a valid norm order (p > 0, ∞ allowed).
#[track_caller]
fn check_norm_order(op: &str, p: f64) {
    assert!(
        p > 0.0,
        "{op}: the order p = {p} must be > 0 (use f64::INFINITY for the max norm)"
    );
}

/// max |xᵢ| (0 for an empty slice); NaN when any element is NaN.
fn max_abs(x: &[f32]) -> f32 {
    let (mut m, mut nan) = (0.0f32, false);
    for &v in x {
        let a = v.abs();
        nan |= a.is_nan();
        m = if a > m { a } else { m };
    }
    if nan { f32::NAN } else { m }
}

/// Σ g(xᵢ) in f64 with 4 independent accumulators (vectorizes; smaller rounding error than
/// one running sum).
#[inline(always)]
fn sum_f64(x: &[f32], g: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = x.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().map(|&v| g(f64::from(v))).sum();
    for c in chunks {
        for i in 0..4 {
            acc[i] += g(f64::from(c[i]));
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// ‖x‖_p of the values, in f64 (see [`Tensor::norm`] for why no size is lost).
fn norm_of_values(x: &[f32], p: f64) -> f64 {
    if p == 1.0 {
        // NaN and ∞ propagate through the sum by themselves.
        return sum_f64(x, f64::abs);
    }
    if p == 2.0 {
        // Every f32 square lies in [2⁻²⁹⁸, 2²⁵⁶], well inside f64's normal range.
        return sum_f64(x, |v| v * v).sqrt();
    }
    let amax = max_abs(x);
    // NaN in, NaN out; an infinite element makes the norm infinite; all zeros give 0.
    if p == f64::INFINITY || !amax.is_finite() || amax == 0.0 {
        return f64::from(amax);
    }
    // Scale first: (|xᵢ|/m)ᵖ ∈ [0, 1], so no power over- or underflows for any p; then
    // ‖x‖_p = m·(Σ (|xᵢ|/m)ᵖ)^(1/p).
    let m = f64::from(amax);
    let inv = 1.0 / m;
    m * sum_f64(x, |v| (v.abs() * inv).powf(p)).powf(1.0 / p)
}

/// ∂‖x‖_p/∂xᵢ for every element, scaled by the upstream gradient `g` (in f64).
///
/// - p = 1: sign(xᵢ), 0 at xᵢ = 0;
/// - p = ∞: sign(xᵢ)/k on the k elements with |xᵢ| = ‖x‖_∞, else 0 (ties share evenly);
/// - otherwise sign(xᵢ)·(|xᵢ|/‖x‖)ᵖ⁻¹ (p = 2: xᵢ/‖x‖), written as a ratio so that nothing
///   over- or underflows; 0 at xᵢ = 0 (the subgradient PyTorch uses, also for p < 1 where
///   the derivative is unbounded there).
///
/// A zero norm gives a zero gradient (PyTorch's subgradient at the origin).
fn norm_grad(x: &[f32], p: f64, norm: f64, g: f64) -> Vec<f32> {
    if norm == 0.0 || norm.is_nan() {
        let fill = if norm.is_nan() { f32::NAN } else { 0.0 };
        return vec![fill; x.len()];
    }
    let sign = |v: f32| -> f64 {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    if p == f64::INFINITY {
        let top = norm as f32;
        let k = x.iter().filter(|v| v.abs() == top).count().max(1) as f64;
        return x
            .iter()
            .map(|&v| {
                if v.abs() == top {
                    (g * sign(v) / k) as f32
                } else {
                    0.0
                }
            })
            .collect();
    }
    if p == 1.0 {
        return x.iter().map(|&v| (g * sign(v)) as f32).collect();
    }
    let inv = 1.0 / norm;
    if p == 2.0 {
        return x.iter().map(|&v| (g * f64::from(v) * inv) as f32).collect();
    }
    x.iter()
        .map(|&v| {
            if v == 0.0 {
                0.0
            } else {
                (g * sign(v) * (f64::from(v).abs() * inv).powf(p - 1.0)) as f32
            }
        })
        .collect()
}

impl Tensor {
    /// Validate, sort and deduplicate reduction axes.
    #[track_caller]
    fn reduction_axes(&self, op: &str, dims: &[usize]) -> Vec<usize> {
        let mut axes = dims.to_vec();
        axes.sort_unstable();
        axes.dedup();
        if let Some(&d) = axes.last()
            && d >= self.rank()
        {
            shape_panic(op, self.shape(), dims, "reduction axis out of range");
        }
        axes
    }

    /// Raw reduction without autograd; keepdim shape.
    fn reduce_raw(&self, axes: &[usize], kind: Kind) -> Tensor {
        let mut x = self.contiguous();
        let mut shape = self.shape().to_vec();
        // Group consecutive axes into blocks; reduce from the last block to the first.
        let mut blocks: Vec<(usize, usize)> = vec![];
        for &a in axes {
            match blocks.last_mut() {
                Some((_, end)) if *end == a => *end = a + 1,
                _ => blocks.push((a, a + 1)),
            }
        }
        for &(start, end) in blocks.iter().rev() {
            let outer: usize = shape[..start].iter().product();
            let r: usize = shape[start..end].iter().product();
            let inner: usize = shape[end..].iter().product();
            if r == 0 && kind != Kind::Sum {
                shape_panic(
                    if kind == Kind::Max { "max" } else { "min" },
                    self.shape(),
                    axes,
                    "cannot take the extremum over an empty dimension",
                );
            }
            let out = x.with_data(|d| reduce_block(d, outer, r, inner, kind));
            for s in &mut shape[start..end] {
                *s = 1;
            }
            x = Tensor::from_vec(out, &shape);
        }
        x
    }

    fn drop_axes(shape: &[usize], axes: &[usize]) -> Vec<usize> {
        shape
            .iter()
            .enumerate()
            .filter(|(k, _)| !axes.contains(k))
            .map(|(_, &d)| d)
            .collect()
    }

    /// Sum over `dims`; with `keepdim` the reduced dims stay as size 1.
    ///
    /// ```
    /// use gradflow_tensor::Tensor;
    /// let x = Tensor::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
    /// assert_eq!(x.sum(&[0], false).to_vec(), vec![3.0, 5.0, 7.0]);
    /// assert_eq!(x.sum(&[1], true).shape(), &[2, 1]);
    /// ```
    ///
    /// # Panics
    /// If an axis is out of range.
    #[track_caller]
    pub fn sum(&self, dims: &[usize], keepdim: bool) -> Tensor {
        let axes = self.reduction_axes("sum", dims);
        let kept = self.reduce_raw(&axes, Kind::Sum);
        let out = if keepdim {
            kept
        } else {
            kept.detach().reshape(&Self::drop_axes(self.shape(), &axes))
        };
        let (in_shape, kept_shape) = (self.shape().to_vec(), {
            let mut s = self.shape().to_vec();
            for &a in &axes {
                s[a] = 1;
            }
            s
        });
        out.record("sum", &[self], false, move |c| {
            vec![Some(
                c.grad_output()
                    .reshape(&kept_shape)
                    .broadcast_to(&in_shape)
                    .contiguous(),
            )]
        })
    }

    /// Sum of all elements, as a 0-dimensional tensor.
    pub fn sum_all(&self) -> Tensor {
        let axes: Vec<usize> = (0..self.rank()).collect();
        self.sum(&axes, false)
    }

    /// Mean over `dims` (sum divided by the number of reduced elements).
    #[track_caller]
    pub fn mean(&self, dims: &[usize], keepdim: bool) -> Tensor {
        let axes = self.reduction_axes("mean", dims);
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        self.sum(&axes, keepdim).mul_scalar(1.0 / n as f32)
    }

    /// Mean of all elements, as a 0-dimensional tensor.
    pub fn mean_all(&self) -> Tensor {
        self.sum_all().mul_scalar(1.0 / self.numel() as f32)
    }

    /// Variance over `dims`: Σ(x − x̄)² / (n − correction). `correction = 1` is the unbiased
    /// (Bessel) estimate and PyTorch's default; `correction = 0` the biased one used by
    /// BatchNorm's normalization.
    #[track_caller]
    pub fn var(&self, dims: &[usize], correction: usize, keepdim: bool) -> Tensor {
        let axes = self.reduction_axes("var", dims);
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        let centered = self.sub(&self.mean(&axes, true));
        let denom = n.saturating_sub(correction).max(1) as f32;
        centered
            .mul(&centered)
            .sum(&axes, keepdim)
            .mul_scalar(1.0 / denom)
    }

    /// Maximum over `dims` (PyTorch's `amax`). The gradient is shared evenly by the elements
    /// equal to the maximum. NaN propagates.
    #[track_caller]
    pub fn max(&self, dims: &[usize], keepdim: bool) -> Tensor {
        self.extreme(dims, keepdim, Kind::Max)
    }

    /// Minimum over `dims` (PyTorch's `amin`); gradient as in [`Tensor::max`].
    #[track_caller]
    pub fn min(&self, dims: &[usize], keepdim: bool) -> Tensor {
        self.extreme(dims, keepdim, Kind::Min)
    }

    #[track_caller]
    fn extreme(&self, dims: &[usize], keepdim: bool, kind: Kind) -> Tensor {
        let name = if kind == Kind::Max { "max" } else { "min" };
        let axes = self.reduction_axes(name, dims);
        let kept = self.reduce_raw(&axes, kind);
        let out = if keepdim {
            kept.clone()
        } else {
            kept.reshape(&Self::drop_axes(self.shape(), &axes))
        };
        let x = self.detach();
        out.record(name, &[self], false, move |c| {
            let hit = x.eq(&kept);
            let count = hit.sum(&axes, true);
            let g = c.grad_output().reshape(kept.shape());
            vec![Some(hit.mul(&g.div(&count)))]
        })
    }

    /// Index of the largest element along `dim` for every other position, in row-major
    /// order (first index wins ties; not differentiable). Useful for accuracy.
    #[track_caller]
    pub fn argmax(&self, dim: usize) -> Vec<usize> {
        self.check_dim("argmax", dim);
        let moved = self.transpose(dim, self.rank() - 1).contiguous();
        let n = self.shape()[dim];
        moved.with_data(|d| {
            d.chunks(n.max(1))
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                            if v > bv { (i, v) } else { (bi, bv) }
                        })
                        .0
                })
                .collect()
        })
    }

    /// The p-norm of all elements, ‖x‖_p = (Σᵢ |xᵢ|ᵖ)^(1/p), as a differentiable
    /// 0-dimensional tensor (PyTorch's `torch.linalg.vector_norm(x, ord=p)`).
    ///
    /// `p` may be any real > 0; `p = 1` is Σ|xᵢ|, `p = 2` the Euclidean norm, and
    /// `p = f64::INFINITY` the max norm maxᵢ |xᵢ|.
    ///
    /// **Tiny values keep their size.** Squaring in f32 underflows below |x| ≈ 1.1·10⁻¹⁹
    /// (x² < 1.2·10⁻³⁸, the smallest normal f32) and rounds to 0 below ≈ 2.6·10⁻²³ (x² under
    /// 2⁻¹⁵⁰, half the smallest subnormal), so the gradient norm of a vanishing layer
    /// (≈ 10⁻²⁷) would read exactly 0. Here the sum is
    /// accumulated in f64, whose range holds the square of every f32 (p = 1, 2), and for any
    /// other p every term is scaled first by m = maxᵢ |xᵢ|: ‖x‖_p = m·(Σ (|xᵢ|/m)ᵖ)^(1/p), so
    /// no power over- or underflows. Only the final result is rounded to f32 (relative
    /// error ≤ 2⁻²⁴ while it is a normal f32; a norm below 1.2·10⁻³⁸ becomes subnormal).
    /// Use [`Tensor::norm_value`] to keep the f64 value.
    ///
    /// Backward (in f64, as a ratio that cannot overflow): ∂‖x‖_p/∂xᵢ = sign(xᵢ)·(|xᵢ|/‖x‖_p)ᵖ⁻¹,
    /// i.e. xᵢ/‖x‖₂ for p = 2 and sign(xᵢ) for p = 1; for p = ∞ the elements with
    /// |xᵢ| = ‖x‖_∞ share sign(xᵢ) evenly. Subgradients follow PyTorch: 0 where xᵢ = 0 and
    /// everywhere when ‖x‖ = 0. NaN propagates; an infinite element gives +∞.
    ///
    /// ```
    /// use gradflow_tensor::Tensor;
    /// let x = Tensor::from_vec(vec![3.0e-30, -4.0e-30], &[2]).requires_grad_();
    /// let n = x.norm(2.0);
    /// assert!((n.item() / 5.0e-30 - 1.0).abs() < 1e-6); // f32 squares would give 0
    /// n.backward();
    /// let g = x.grad().unwrap().to_vec(); // x / ‖x‖ = (0.6, −0.8)
    /// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] + 0.8).abs() < 1e-6);
    /// assert_eq!(Tensor::from_vec(vec![1.0, -7.0, 2.0], &[3]).norm(f64::INFINITY).item(), 7.0);
    /// ```
    ///
    /// # Panics
    /// If `p` is not > 0 (NaN included).
    #[track_caller]
    pub fn norm(&self, p: f64) -> Tensor {
        check_norm_order("norm", p);
        let value = self.with_data(|x| norm_of_values(x, p));
        let x = self.detach();
        Tensor::scalar(value as f32).record("norm", &[self], false, move |c| {
            let g = f64::from(c.grad_output().item());
            let dx = x.with_data(|xv| norm_grad(xv, p, value, g));
            vec![Some(Tensor::from_vec(dx, x.shape()))]
        })
    }

    /// ‖x‖_p of all elements as an f64, without recording anything: the fast path for
    /// recorders, metrics and gradient clipping. Same accumulation as [`Tensor::norm`] (f64,
    /// scaled for p ∉ {1, 2, ∞}), so a tensor of values near 10⁻³⁰ gives a norm near 10⁻³⁰.
    /// One pass over the data for p ∈ {1, 2, ∞} (two otherwise: the maximum, then the
    /// scaled sum); no allocation when the tensor is contiguous.
    ///
    /// ```
    /// use gradflow_tensor::Tensor;
    /// let g = Tensor::full(&[4], 1.0e-30);
    /// assert!((g.norm_value(2.0) - 2.0e-30).abs() < 1e-36);
    /// assert!((g.norm_value(1.0) - 4.0e-30).abs() < 1e-36);
    /// ```
    ///
    /// # Panics
    /// If `p` is not > 0 (NaN included).
    #[track_caller]
    pub fn norm_value(&self, p: f64) -> f64 {
        check_norm_order("norm_value", p);
        self.with_data(|x| norm_of_values(x, p))
    }

    /// The p-norm of all elements of several tensors taken together, as if they were
    /// concatenated: (Σₜ ‖xₜ‖_pᵖ)^(1/p), and maxₜ ‖xₜ‖_∞ for p = ∞. This is the global
    /// gradient norm of gradient clipping (`clip_grad_norm_`) and of training reports. The
    /// per-tensor norms are combined scaled by their maximum, in f64, so tiny and huge
    /// norms keep their size. 0 for an empty list.
    ///
    /// ```
    /// use gradflow_tensor::Tensor;
    /// let a = Tensor::from_vec(vec![3.0e-30], &[1]);
    /// let b = Tensor::from_vec(vec![4.0e-30], &[1]);
    /// assert!((Tensor::global_norm_value(&[&a, &b], 2.0) / 5.0e-30 - 1.0).abs() < 1e-6);
    /// ```
    ///
    /// # Panics
    /// If `p` is not > 0 (NaN included).
    #[track_caller]
    pub fn global_norm_value(tensors: &[&Tensor], p: f64) -> f64 {
        check_norm_order("global_norm_value", p);
        let norms: Vec<f64> = tensors.iter().map(|t| t.norm_value(p)).collect();
        let m = norms
            .iter()
            .fold(0.0f64, |a, &b| if b > a || b.is_nan() { b } else { a });
        if p == f64::INFINITY || !m.is_finite() || m == 0.0 {
            return m;
        }
        let inv = 1.0 / m;
        m * norms
            .iter()
            .map(|&n| (n * inv).powf(p))
            .sum::<f64>()
            .powf(1.0 / p)
    }

    /// Sum over the dimensions that broadcasting stretched, so the result has `shape`:
    /// the backward of every broadcasting op.
    ///
    /// # Panics
    /// If `shape` does not broadcast to `self`'s shape.
    #[track_caller]
    pub fn sum_to(&self, shape: &[usize]) -> Tensor {
        if self.shape() == shape {
            return self.clone();
        }
        let rank = self.rank();
        if shape.len() > rank {
            shape_panic("sum_to", self.shape(), shape, "target has a higher rank");
        }
        let lead = rank - shape.len();
        let mut axes: Vec<usize> = (0..lead).collect();
        for (k, &d) in shape.iter().enumerate() {
            let s = self.shape()[lead + k];
            if d == 1 && s != 1 {
                axes.push(lead + k);
            } else if d != s {
                shape_panic("sum_to", self.shape(), shape, "target does not broadcast");
            }
        }
        self.sum(&axes, true).reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column reduction above PAR_MIN_ELEMS with one outer block (the row loop vectorized
    /// across columns) is the sequential combination over the rows, so it equals the plain
    /// loop bit for bit (sum, max and min; 301 columns, not a multiple of the vector width).
    #[test]
    fn column_reduction_matches_the_sequential_loop() {
        let (rows, cols) = (500, 301);
        let v: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1009) as f32 - 504.0) * 0.013)
            .collect();
        let x = Tensor::from_vec(v.clone(), &[rows, cols]);
        assert!(rows * cols >= PAR_MIN_ELEMS);
        let vr = &v;
        let col = |j: usize| (0..rows).map(move |i| vr[i * cols + j]);
        let sums: Vec<u32> = (0..cols)
            .map(|j| col(j).fold(0.0f32, |a, b| a + b).to_bits())
            .collect();
        let maxs: Vec<f32> = (0..cols)
            .map(|j| col(j).fold(f32::NEG_INFINITY, f32::max))
            .collect();
        let mins: Vec<f32> = (0..cols)
            .map(|j| col(j).fold(f32::INFINITY, f32::min))
            .collect();
        let bits = |t: Tensor| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(x.sum(&[0], false)), sums);
        assert_eq!(x.max(&[0], false).to_vec(), maxs);
        assert_eq!(x.min(&[0], false).to_vec(), mins);
    }

    #[test]
    fn non_adjacent_axes_reduce_correctly() {
        let x = Tensor::arange(0.0, 24.0, 1.0).reshape(&[2, 3, 4]);
        let s = x.sum(&[0, 2], false);
        // For j: Σ_{i,k} (12 i + 4 j + k) = 2·(4·4j + 6) + 4·12 = 32 j + 60
        assert_eq!(s.to_vec(), vec![60.0, 92.0, 124.0]);
        assert_eq!(x.max(&[1], false).to_vec()[..4], [8.0, 9.0, 10.0, 11.0]);
    }

    #[test]
    fn var_matches_definition() {
        let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]);
        assert!((x.var(&[0], 1, false).item() - 5.0 / 3.0).abs() < 1e-6);
        assert!((x.var(&[0], 0, false).item() - 1.25).abs() < 1e-6);
    }

    #[test]
    fn sum_to_undoes_broadcast() {
        let g = Tensor::ones(&[4, 2, 3]);
        assert_eq!(g.sum_to(&[2, 1]).to_vec(), vec![12.0, 12.0]);
    }
}
