//! Spatial pooling over `[N, C, H, W]`: max, average and adaptive average (PyTorch semantics,
//! `ceil_mode = false`).
//!
//! - max: y = max over the window; padding counts as −∞; the gradient goes to the (first)
//!   arg-max of each window, remembered from the forward pass.
//! - avg: y = (1/(k_h·k_w)) Σ window, zero padding counted in the divisor
//!   (`count_include_pad = true`, PyTorch's default).
//! - adaptive avg: window i spans ⌊i·H/OH⌋ .. ⌈(i+1)·H/OH⌉, so any output size works;
//!   (1, 1) is global average pooling.

use std::ops::Range;

use rayon::prelude::*;

use crate::Tensor;
use crate::kernels::simd::{Vectorized, simd_dispatch};
use crate::layout::shape_panic;
use crate::ops::conv::conv_out_len;

/// Run `f(plane_in, plane_out)` for every (n, c) plane, in parallel when large.
fn per_plane(
    x: &[f32],
    in_plane: usize,
    out: &mut [f32],
    out_plane: usize,
    f: impl Fn(&[f32], &mut [f32]) + Sync + Send,
) {
    if out_plane == 0 || in_plane == 0 {
        return;
    }
    if x.len() >= crate::parallel::PAR_MIN_ELEMS {
        out.par_chunks_mut(out_plane)
            .zip(x.par_chunks(in_plane))
            .for_each(|(o, i)| f(i, o));
    } else {
        for (o, i) in out.chunks_mut(out_plane).zip(x.chunks(in_plane)) {
            f(i, o);
        }
    }
}

/// The geometry of one max pooling, and its per-plane kernel.
#[derive(Clone, Copy)]
struct MaxPool {
    h: usize,
    w: usize,
    ow: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
}

impl MaxPool {
    /// Pool one `[H, W]` plane into `o` (`[OH, OW]`) and its arg-max positions `a`.
    ///
    /// The output columns whose windows lie wholly inside the plane's width go in blocks of
    /// 8 ([`MaxBlock`]): the block's 8 running maxima stay in registers over all the taps and
    /// are stored once, a branch-free, vectorized pass. The few columns at the edges take the
    /// per-window loop ([`MaxPool::window`]). Both visit a window's taps in row-major order,
    /// so they pick the same element. The per-window loop alone, with a bounds check at every
    /// tap, was 12.8 % of a ResNet-18 evaluation step (its 3×3, stride-2 pool over 112²
    /// planes).
    fn plane(&self, plane: &[f32], o: &mut [f32], a: &mut [u32]) {
        let ((kh, kw), (sh, sw), (ph, pw)) = (self.kernel, self.stride, self.padding);
        // Output columns jlo..jhi read no padding at any tap.
        let (jlo, _) = crate::ops::conv::valid_cols(-(pw as isize), sw, self.w, self.ow);
        let (_, jhi) =
            crate::ops::conv::valid_cols(kw as isize - 1 - pw as isize, sw, self.w, self.ow);
        // Strides 1 and 2 (every pool of the ResNets) have the vectorized path, for 8
        // columns or more.
        let fast = if sw <= 2 && jhi >= jlo + 8 {
            jlo..jhi
        } else {
            0..0
        };
        for (i, (orow, arow)) in o
            .chunks_exact_mut(self.ow)
            .zip(a.chunks_exact_mut(self.ow))
            .enumerate()
        {
            // The window's input rows that are not padding.
            let top = (i * sh) as isize - ph as isize;
            let rows =
                top.max(0) as usize..((top + kh as isize).min(self.h as isize)).max(0) as usize;
            if !fast.is_empty() {
                simd_dispatch(MaxBlock {
                    plane,
                    w: self.w,
                    rows: rows.clone(),
                    kw,
                    pw,
                    stride: sw,
                    cols: fast.clone(),
                    best: orow,
                    at: arow,
                });
            }
            for j in (0..fast.start).chain(fast.end..self.ow) {
                (orow[j], arow[j]) = self.window(plane, rows.clone(), j);
            }
        }
    }

    /// The maximum of output column `j`'s window over the valid input `rows`, and where it is:
    /// PyTorch's `val > maxval || isnan(val)`, starting from −∞ at the window's first valid
    /// element (so a window of −∞ alone still names an element of its own).
    fn window(&self, plane: &[f32], rows: Range<usize>, j: usize) -> (f32, u32) {
        let (kw, sw, pw) = (self.kernel.1, self.stride.1, self.padding.1);
        let left = (j * sw) as isize - pw as isize;
        let (mut best, mut at) = (f32::NEG_INFINITY, u32::MAX);
        for ih in rows {
            for iw in (left.max(0)..(left + kw as isize).min(self.w as isize)).map(|c| c as usize) {
                let pos = ih * self.w + iw;
                let v = plane[pos];
                if at == u32::MAX || v > best || v.is_nan() {
                    (best, at) = (v, pos as u32);
                }
            }
        }
        (best, at)
    }
}

/// The output columns `cols` (at least 8) of one output row whose windows lie inside the
/// plane's width, in blocks of 8; the last block ends at `cols.end` and may overlap the one
/// before (recomputing an output writes the same value and position). Output j reads input
/// columns j·S − pw + dj, dj < `kw`, on each of the valid `rows`. A block's 8 running maxima
/// and positions stay in local arrays over all the taps and are stored once; the choice is
/// applied as a lane mask with and/or, so the pass has no branch and no masked store
/// (written as `if`, the compiler emitted a masked store per tap, which is slow on AMD
/// cores, and a branch per index lane). The stride, 1 or 2, is a constant in each compiled
/// pass ([`MaxBlock::pass`]).
struct MaxBlock<'a> {
    plane: &'a [f32],
    w: usize,
    rows: Range<usize>,
    kw: usize,
    pw: usize,
    stride: usize,
    cols: Range<usize>,
    best: &'a mut [f32],
    at: &'a mut [u32],
}

impl Vectorized for MaxBlock<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        if self.stride == 1 {
            self.pass::<1>();
        } else {
            self.pass::<2>();
        }
    }
}

impl MaxBlock<'_> {
    /// The pass with stride `S`.
    #[inline(always)]
    fn pass<const S: usize>(self) {
        let MaxBlock {
            plane,
            w,
            rows,
            kw,
            pw,
            cols,
            best,
            at,
            ..
        } = self;
        if rows.is_empty() || cols.len() < 8 {
            return;
        }
        let full = (cols.len() / 8) * 8;
        let last = (full < cols.len()).then_some(cols.end - 8);
        for j0 in (cols.start..cols.start + full).step_by(8).chain(last) {
            let c0 = j0 * S - pw;
            let mut b = [f32::NEG_INFINITY; 8];
            // The window's first valid element, PyTorch's initial index.
            let mut a: [u32; 8] = std::array::from_fn(|l| (rows.start * w + c0 + l * S) as u32);
            for ih in rows.clone() {
                let row = &plane[ih * w..(ih + 1) * w];
                for dj in 0..kw {
                    let c = c0 + dj;
                    // One bounds check per tap: the block reads row[c ..= c + 7·S].
                    let s = &row[c..=c + 7 * S];
                    let v: [f32; 8] = std::array::from_fn(|l| s[l * S]);
                    let m: [u32; 8] = std::array::from_fn(|l| {
                        0u32.wrapping_sub(u32::from(v[l] > b[l] || v[l].is_nan()))
                    });
                    b = std::array::from_fn(|l| {
                        f32::from_bits((v[l].to_bits() & m[l]) | (b[l].to_bits() & !m[l]))
                    });
                    let p = (ih * w + c) as u32;
                    a = std::array::from_fn(|l| ((p + (l * S) as u32) & m[l]) | (a[l] & !m[l]));
                }
            }
            best[j0..j0 + 8].copy_from_slice(&b);
            at[j0..j0 + 8].copy_from_slice(&a);
        }
    }
}

impl Tensor {
    #[track_caller]
    fn pool_geometry(
        &self,
        op: &str,
        k: (usize, usize),
        s: (usize, usize),
        p: (usize, usize),
    ) -> (usize, usize) {
        let xs = self.shape();
        if xs.len() != 4 {
            shape_panic(op, xs, &[k.0, k.1], "input must be [N, C, H, W]");
        }
        if p.0 * 2 > k.0 || p.1 * 2 > k.1 {
            shape_panic(
                op,
                xs,
                &[k.0, k.1],
                "padding must be at most half the kernel size",
            );
        }
        match (
            conv_out_len(xs[2], k.0, s.0, p.0, 1),
            conv_out_len(xs[3], k.1, s.1, p.1, 1),
        ) {
            (Some(oh), Some(ow)) if k.0 > 0 && k.1 > 0 => (oh, ow),
            _ => shape_panic(
                op,
                xs,
                &[k.0, k.1],
                "kernel larger than the padded input (or a zero kernel size or stride)",
            ),
        }
    }

    /// Max pooling with a `kernel` window moved by `stride`, `padding` counted as −∞.
    ///
    /// Each output is the first maximum of its window in row-major order, or the window's
    /// last NaN when it holds one, and the gradient goes to that element: PyTorch's rule
    /// (`val > maxval || isnan(val)`, `aten/src/ATen/native/cpu/MaxPoolKernel.cpp`). A window
    /// of −∞ alone picks its first valid element.
    ///
    /// # Shapes
    /// `[N, C, H, W] → [N, C, OH, OW]`, OH = ⌊(H + 2·pad − k) / stride⌋ + 1.
    #[track_caller]
    pub fn max_pool2d(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Tensor {
        let (oh, ow) = self.pool_geometry("max_pool2d", kernel, stride, padding);
        let xs = self.shape().to_vec();
        let (h, w) = (xs[2], xs[3]);
        let x = self.contiguous();
        let pool = MaxPool {
            h,
            w,
            ow,
            kernel,
            stride,
            padding,
        };
        let mut out = vec![0.0f32; xs[0] * xs[1] * oh * ow];
        // Arg-max positions within each plane (flat ih·W + iw), as PyTorch's `indices`.
        let mut arg = vec![0u32; out.len()];
        let (ip, op) = (h * w, oh * ow);
        x.with_data(|xd| {
            if op == 0 {
                return;
            }
            if xd.len() >= crate::parallel::PAR_MIN_ELEMS {
                out.par_chunks_mut(op)
                    .zip(arg.par_chunks_mut(op))
                    .zip(xd.par_chunks(ip))
                    .for_each(|((o, a), p)| pool.plane(p, o, a));
            } else {
                for ((o, a), p) in out
                    .chunks_mut(op)
                    .zip(arg.chunks_mut(op))
                    .zip(xd.chunks(ip))
                {
                    pool.plane(p, o, a);
                }
            }
        });
        let y = Tensor::from_vec(out, &[xs[0], xs[1], oh, ow]);
        y.record("max_pool2d", &[self], false, move |c| {
            let mut dx = vec![0.0f32; xs.iter().product()];
            // Every plane scatters into its own slice of dx: planes run in parallel.
            let scatter = |dxp: &mut [f32], dyp: &[f32], ap: &[u32]| {
                for (&g, &a) in dyp.iter().zip(ap) {
                    dxp[a as usize] += g;
                }
            };
            if op > 0 {
                c.grad_output().with_data(|dy| {
                    if dx.len() >= crate::parallel::PAR_MIN_ELEMS {
                        dx.par_chunks_mut(ip)
                            .zip(dy.par_chunks(op))
                            .zip(arg.par_chunks(op))
                            .for_each(|((dxp, dyp), ap)| scatter(dxp, dyp, ap));
                    } else {
                        for ((dxp, dyp), ap) in
                            dx.chunks_mut(ip).zip(dy.chunks(op)).zip(arg.chunks(op))
                        {
                            scatter(dxp, dyp, ap);
                        }
                    }
                });
            }
            vec![Some(Tensor::from_vec(dx, &xs))]
        })
    }

    /// Average pooling; zero padding is counted in the divisor (PyTorch's default
    /// `count_include_pad = true`).
    #[track_caller]
    pub fn avg_pool2d(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Tensor {
        let (oh, ow) = self.pool_geometry("avg_pool2d", kernel, stride, padding);
        let xs = self.shape().to_vec();
        let (h, w) = (xs[2], xs[3]);
        let scale = 1.0 / (kernel.0 * kernel.1) as f32;
        // Visit every (output, input) pair of one plane.
        let visit = move |mut f: Box<dyn FnMut(usize, usize) + '_>| {
            for i in 0..oh {
                for di in 0..kernel.0 {
                    let ih = (i * stride.0 + di) as isize - padding.0 as isize;
                    if ih < 0 || ih >= h as isize {
                        continue;
                    }
                    for j in 0..ow {
                        for dj in 0..kernel.1 {
                            let iw = (j * stride.1 + dj) as isize - padding.1 as isize;
                            if iw >= 0 && iw < w as isize {
                                f(i * ow + j, ih as usize * w + iw as usize);
                            }
                        }
                    }
                }
            }
        };
        let mut out = vec![0.0f32; xs[0] * xs[1] * oh * ow];
        self.contiguous().with_data(|xd| {
            per_plane(xd, h * w, &mut out, oh * ow, |p, o| {
                visit(Box::new(|oi, ii| o[oi] += p[ii] * scale));
            })
        });
        let y = Tensor::from_vec(out, &[xs[0], xs[1], oh, ow]);
        y.record("avg_pool2d", &[self], false, move |c| {
            let mut dx = vec![0.0f32; xs.iter().product()];
            c.grad_output().with_data(|dy| {
                for (dxp, dyp) in dx.chunks_mut(h * w).zip(dy.chunks(oh * ow)) {
                    visit(Box::new(|oi, ii| dxp[ii] += dyp[oi] * scale));
                }
            });
            vec![Some(Tensor::from_vec(dx, &xs))]
        })
    }

    /// Adaptive average pooling to `(OH, OW)`: output cell (i, j) averages rows
    /// ⌊i·H/OH⌋..⌈(i+1)·H/OH⌉ and the matching columns (PyTorch's window rule).
    #[track_caller]
    pub fn adaptive_avg_pool2d(&self, out_size: (usize, usize)) -> Tensor {
        let xs = self.shape().to_vec();
        if xs.len() != 4 || out_size.0 == 0 || out_size.1 == 0 {
            shape_panic(
                "adaptive_avg_pool2d",
                &xs,
                &[out_size.0, out_size.1],
                "input must be [N, C, H, W] and the output size positive",
            );
        }
        let (h, w) = (xs[2], xs[3]);
        let (oh, ow) = out_size;
        let bounds = |i: usize, o: usize, n: usize| (i * n / o, ((i + 1) * n).div_ceil(o));
        let visit = move |mut f: Box<dyn FnMut(usize, usize, f32) + '_>| {
            for i in 0..oh {
                let (h0, h1) = bounds(i, oh, h);
                for j in 0..ow {
                    let (w0, w1) = bounds(j, ow, w);
                    let scale = 1.0 / ((h1 - h0) * (w1 - w0)).max(1) as f32;
                    for ih in h0..h1 {
                        for iw in w0..w1 {
                            f(i * ow + j, ih * w + iw, scale);
                        }
                    }
                }
            }
        };
        let mut out = vec![0.0f32; xs[0] * xs[1] * oh * ow];
        self.contiguous().with_data(|xd| {
            per_plane(xd, h * w, &mut out, oh * ow, |p, o| {
                visit(Box::new(|oi, ii, s| o[oi] += p[ii] * s));
            })
        });
        let y = Tensor::from_vec(out, &[xs[0], xs[1], oh, ow]);
        y.record("adaptive_avg_pool2d", &[self], false, move |c| {
            let mut dx = vec![0.0f32; xs.iter().product()];
            c.grad_output().with_data(|dy| {
                for (dxp, dyp) in dx.chunks_mut(h * w).zip(dy.chunks(oh * ow)) {
                    visit(Box::new(|oi, ii, s| dxp[ii] += dyp[oi] * s));
                }
            });
            vec![Some(Tensor::from_vec(dx, &xs))]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_pool_picks_window_maxima_and_routes_gradient() {
        let x = Tensor::arange(0.0, 16.0, 1.0)
            .reshape(&[1, 1, 4, 4])
            .requires_grad_();
        let y = x.max_pool2d((2, 2), (2, 2), (0, 0));
        assert_eq!(y.to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
        y.sum_all().backward();
        let g = x.grad().unwrap().to_vec();
        assert_eq!(g.iter().sum::<f32>(), 4.0);
        assert_eq!(g[5], 1.0);
    }

    /// The per-window loop with PyTorch's rule: (max, arg-max) of one output.
    fn reference_window(plane: &[f32], p: &MaxPool, i: usize, j: usize) -> (f32, u32) {
        let (mut best, mut at) = (f32::NEG_INFINITY, u32::MAX);
        for di in 0..p.kernel.0 {
            for dj in 0..p.kernel.1 {
                let ih = (i * p.stride.0 + di) as isize - p.padding.0 as isize;
                let iw = (j * p.stride.1 + dj) as isize - p.padding.1 as isize;
                if ih < 0 || iw < 0 || ih >= p.h as isize || iw >= p.w as isize {
                    continue;
                }
                let pos = ih as usize * p.w + iw as usize;
                let v = plane[pos];
                if at == u32::MAX || v > best || v.is_nan() {
                    (best, at) = (v, pos as u32);
                }
            }
        }
        (best, at)
    }

    #[test]
    fn tap_passes_match_the_window_loop() {
        // Values from a small set, so that ties are common, with NaNs and −∞ mixed in: the
        // tap-by-tap kernel must pick the same element as the per-window loop in every case
        // (the first maximum, the last NaN, the first element of a window of −∞).
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for case in 0..400 {
            let (kh, kw) = (rng.random_range(1..4usize), rng.random_range(1..4usize));
            let (sh, sw) = (rng.random_range(1..4usize), rng.random_range(1..4usize));
            let (ph, pw) = (rng.random_range(0..=kh / 2), rng.random_range(0..=kw / 2));
            let (h, w) = (rng.random_range(kh..40usize), rng.random_range(kw..70usize));
            let (oh, ow) = ((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1);
            let plane: Vec<f32> = (0..h * w)
                .map(|_| match rng.random_range(0..20u32) {
                    0 => f32::NAN,
                    1..=3 => f32::NEG_INFINITY,
                    v => (v % 5) as f32,
                })
                .collect();
            let p = MaxPool {
                h,
                w,
                ow,
                kernel: (kh, kw),
                stride: (sh, sw),
                padding: (ph, pw),
            };
            let (mut o, mut a) = (vec![0.0f32; oh * ow], vec![0u32; oh * ow]);
            p.plane(&plane, &mut o, &mut a);
            for i in 0..oh {
                for j in 0..ow {
                    let (v, at) = reference_window(&plane, &p, i, j);
                    let (got_v, got_at) = (o[i * ow + j], a[i * ow + j]);
                    assert!(
                        got_at == at && (got_v == v || (got_v.is_nan() && v.is_nan())),
                        "case {case}: k ({kh}, {kw}) s ({sh}, {sw}) p ({ph}, {pw}) plane \
                         {h}×{w}, output ({i}, {j}): got {got_v} at {got_at}, want {v} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn adaptive_pool_to_one_is_global_mean() {
        let x = Tensor::arange(0.0, 18.0, 1.0).reshape(&[1, 2, 3, 3]);
        let y = x.adaptive_avg_pool2d((1, 1)).to_vec();
        assert!(
            (y[0] - 4.0).abs() < 1e-6 && (y[1] - 13.0).abs() < 1e-5,
            "{y:?}"
        );
    }
}
