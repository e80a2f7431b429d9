//! Spatial pooling over `[N, C, H, W]`: max, average and adaptive average (PyTorch semantics,
//! `ceil_mode = false`).
//!
//! - max: y = max over the window; padding counts as −∞; the gradient goes to the (first)
//!   arg-max of each window, remembered from the forward pass.
//! - avg: y = (1/(k_h·k_w)) Σ window, zero padding counted in the divisor
//!   (`count_include_pad = true`, PyTorch's default).
//! - adaptive avg: window i spans ⌊i·H/OH⌋ .. ⌈(i+1)·H/OH⌉, so any output size works;
//!   (1, 1) is global average pooling.

use rayon::prelude::*;

use crate::Tensor;
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
        let mut out = vec![0.0f32; xs[0] * xs[1] * oh * ow];
        // Arg-max positions within each plane, as f32-free u32 indices.
        let mut arg = vec![0u32; out.len()];
        let window = |plane: &[f32], o: &mut [f32], a: &mut [u32]| {
            for i in 0..oh {
                for j in 0..ow {
                    let (mut best, mut at) = (f32::NEG_INFINITY, u32::MAX);
                    for di in 0..kernel.0 {
                        let ih = (i * stride.0 + di) as isize - padding.0 as isize;
                        if ih < 0 || ih >= h as isize {
                            continue;
                        }
                        for dj in 0..kernel.1 {
                            let iw = (j * stride.1 + dj) as isize - padding.1 as isize;
                            if iw < 0 || iw >= w as isize {
                                continue;
                            }
                            let pos = ih as usize * w + iw as usize;
                            let v = plane[pos];
                            if v > best || v.is_nan() || at == u32::MAX {
                                best = v;
                                at = pos as u32;
                                if v.is_nan() {
                                    break;
                                }
                            }
                        }
                    }
                    o[i * ow + j] = best;
                    a[i * ow + j] = at;
                }
            }
        };
        let (ip, op) = (h * w, oh * ow);
        x.with_data(|xd| {
            if xd.len() >= crate::parallel::PAR_MIN_ELEMS && op > 0 {
                out.par_chunks_mut(op)
                    .zip(arg.par_chunks_mut(op))
                    .zip(xd.par_chunks(ip))
                    .for_each(|((o, a), p)| window(p, o, a));
            } else if op > 0 {
                for ((o, a), p) in out
                    .chunks_mut(op)
                    .zip(arg.chunks_mut(op))
                    .zip(xd.chunks(ip))
                {
                    window(p, o, a);
                }
            }
        });
        let y = Tensor::from_vec(out, &[xs[0], xs[1], oh, ow]);
        y.record("max_pool2d", &[self], false, move |c| {
            let mut dx = vec![0.0f32; xs.iter().product()];
            c.grad_output().with_data(|dy| {
                for ((dxp, dyp), ap) in dx.chunks_mut(ip).zip(dy.chunks(op)).zip(arg.chunks(op)) {
                    for (&g, &a) in dyp.iter().zip(ap) {
                        dxp[a as usize] += g;
                    }
                }
            });
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
