//! Reductions over axes: sum, mean, max, min, var; and `sum_to`, the adjoint of broadcasting.

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
fn reduce_block(x: &[f32], outer: usize, r: usize, inner: usize, kind: Kind) -> Vec<f32> {
    let one = |o: usize, dst: &mut [f32]| {
        let base = &x[o * r * inner..(o + 1) * r * inner];
        if inner == 1 {
            dst[0] = if kind == Kind::Sum {
                sum_lanes(base)
            } else {
                base.iter().fold(kind.init(), |a, &v| kind.combine(a, v))
            };
        } else {
            dst.fill(kind.init());
            for row in base.chunks_exact(inner) {
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d = kind.combine(*d, v);
                }
            }
        }
    };
    let mut out = vec![0.0; outer * inner];
    if x.len() >= PAR_MIN_ELEMS && outer >= 2 {
        out.par_chunks_mut(inner)
            .enumerate()
            .for_each(|(o, dst)| one(o, dst));
    } else if inner > 0 {
        for (o, dst) in out.chunks_mut(inner).enumerate() {
            one(o, dst);
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
