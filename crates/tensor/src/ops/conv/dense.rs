//! Convolutions on planes with fewer pixels than the kernel has taps: one GEMM per tap over
//! the whole batch, with only the (output, input) pixel pairs that the tap links.
//!
//! Output pixel q of tap t reads input pixel p(q, t), or padding. On a plane of fewer
//! pixels than taps (ResNet-18/34's last stage at 64² images: 3×3 convolutions on 2×2
//! planes, where 5 of the 9 taps read padding for every output), most of the direct path's
//! products multiply padding zeros: 36 per output and input channel for 16 real ones on 2×2.
//! Grouped by tap, the real ones are matrix products over the batch:
//!
//! - forward: Y\[:, q\] += W_t · X\[:, p(q, t)\] for every q that tap t links, i.e. one GEMM
//!   W_t `[O, C]` · X_t `[C, v_t·N]` per tap, X_t the v_t linked input pixels of every sample
//!   side by side (gathered), added into the outputs they belong to;
//! - ∂L/∂x: W_tᵀ `[C, O]` · ∂L/∂Y_t `[O, v_t·N]` (the linked output pixels), added into the
//!   input pixels they belong to;
//! - ∂L/∂W_t = ∂L/∂Y_t · X_tᵀ, a sum over the tap's v_t·N (pixel, sample) pairs.
//!
//! Nine GEMMs of the batch's size instead of a GEMM per few samples over an im2col `col`
//! that is mostly padding (ResNet-18 on 64² images at batch 64: its three 512-channel 3×3s
//! on 2×2 planes took 28 % of the step's convolution time), on operands gathered from
//! copies of the input and ∂L/∂y with the samples innermost (`[C, H·W, N]`), so that each
//! tap's gather is a copy of whole rows. The sums run in another order than the direct
//! path's, so the results agree to rounding. The direct path multiplies
//! padding zeros with every weight (and ∂L/∂W sums ∂L/∂y times padding zeros), so a value
//! that is not finite in the input, the weights or ∂L/∂y sends the call to the direct path,
//! as for Winograd: an ∞ then yields NaN exactly where it does there.

use rayon::prelude::*;

use super::Geometry;
use crate::kernels::gemm::{MatRef, gemm_into};
use crate::kernels::map::all_finite;

/// Whether this convolution runs tap by tap over the batch: one group, fewer input pixels
/// than kernel taps, at least two samples (any stride, padding and dilation: the links are
/// worked out from the definition). Measured per layer, alternated per call with the paths
/// it replaces (Winograd forward and ∂L/∂x, batched ∂L/∂W): ResNet-18's 3×3 512→512 on 2×2
/// at batch 64, forward 6.2 → 3.7 ms, forward + backward 23.1 → 13.6 ms. Widened to planes
/// where at most 3/4 of the direct products are real (4×4 under a 3×3: 69 %) it lost to
/// Winograd: 256 channels on 4×4 at batch 64, forward 4.2 → 6.0 ms.
pub(super) fn applies(g: &Geometry) -> bool {
    g.p.groups == 1 && g.h * g.w < g.kh * g.kw && g.n >= 2 && g.ohw() > 0
}

/// The pixel pairs one tap links: `outputs[ℓ]` reads `inputs[ℓ]`, in order of output pixel.
#[derive(Default)]
struct Links {
    outputs: Vec<usize>,
    inputs: Vec<usize>,
}

/// Per tap t = ki·KW + kj, the pixel pairs it links.
fn links(g: &Geometry) -> Vec<Links> {
    let (s, d, pad) = (g.p.stride, g.p.dilation, g.p.padding);
    let mut out: Vec<Links> = (0..g.kh * g.kw).map(|_| Links::default()).collect();
    for (t, tap) in out.iter_mut().enumerate() {
        let (ki, kj) = (t / g.kw, t % g.kw);
        for i in 0..g.oh {
            for j in 0..g.ow {
                let r = (i * s.0 + ki * d.0).checked_sub(pad.0).filter(|&r| r < g.h);
                let c = (j * s.1 + kj * d.1).checked_sub(pad.1).filter(|&c| c < g.w);
                if let (Some(r), Some(c)) = (r, c) {
                    tap.outputs.push(i * g.ow + j);
                    tap.inputs.push(r * g.w + c);
                }
            }
        }
    }
    out
}

/// `src` `[N, ch, hw]` as `[ch, hw, N]`: the samples of each pixel side by side.
fn pixels_major(src: &[f32], ch: usize, hw: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; ch * hw * n];
    out.par_chunks_mut(hw * n)
        .enumerate()
        .for_each(|(c, plane)| {
            for (p, row) in plane.chunks_exact_mut(n).enumerate() {
                for (s, v) in row.iter_mut().enumerate() {
                    *v = src[(s * ch + c) * hw + p];
                }
            }
        });
    out
}

/// `src` `[ch, hw, N]` ([`pixels_major`]) at the given pixels, into `out` as
/// `[ch, pixels.len()·N]` (every element overwritten): column ℓ·N + s holds sample s at
/// pixel `pixels[ℓ]`. `out` is reused from tap to tap.
fn gather(src: &[f32], ch: usize, hw: usize, n: usize, pixels: &[usize], out: &mut Vec<f32>) {
    let cols = pixels.len() * n;
    out.resize(ch * cols, 0.0);
    out.par_chunks_mut(cols).enumerate().for_each(|(c, row)| {
        for (l, &p) in pixels.iter().enumerate() {
            row[l * n..(l + 1) * n].copy_from_slice(&src[(c * hw + p) * n..][..n]);
        }
    });
}

/// `acc` `[ch, hw, N]` += `part` `[ch, pixels.len()·N]` (columns as [`gather`] lays them
/// out), pixel block ℓ into pixel `pixels[ℓ]`.
fn scatter_add(acc: &mut [f32], part: &[f32], hw: usize, n: usize, pixels: &[usize]) {
    let cols = pixels.len() * n;
    acc.par_chunks_mut(hw * n)
        .zip(part.par_chunks(cols))
        .for_each(|(a, row)| {
            for (l, &p) in pixels.iter().enumerate() {
                for (d, &v) in a[p * n..(p + 1) * n]
                    .iter_mut()
                    .zip(&row[l * n..(l + 1) * n])
                {
                    *d += v;
                }
            }
        });
}

/// `[ch, hw, N]` back to `[N, ch, hw]`, plus `bias[c]` on channel c when given.
fn to_nchw(acc: &[f32], ch: usize, hw: usize, n: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0.0f32; n * ch * hw];
    out.par_chunks_mut(ch * hw)
        .enumerate()
        .for_each(|(s, sample)| {
            for (c, plane) in sample.chunks_exact_mut(hw).enumerate() {
                for (p, v) in plane.iter_mut().enumerate() {
                    let a = acc[(c * hw + p) * n + s];
                    *v = bias.map_or(a, |b| a + b[c]);
                }
            }
        });
    out
}

/// W_t `[O, C]` as a view of W `[O, C, KH, KW]`.
fn tap_weights<'a>(w: &'a [f32], g: &Geometry, t: usize) -> MatRef<'a> {
    let kk = g.kh * g.kw;
    MatRef {
        data: w,
        offset: t,
        rs: g.c * kk,
        cs: kk,
    }
}

/// The forward, or `None` where `x` or `w` holds a value that is not finite.
pub(super) fn forward(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
) -> Option<Vec<f32>> {
    if !all_finite(x) || !all_finite(w) {
        return None;
    }
    let (hw, ohw, n) = (g.h * g.w, g.ohw(), g.n);
    let threads = rayon::current_num_threads();
    let mut acc = vec![0.0f32; g.o * ohw * n];
    let x = pixels_major(x, g.c, hw, n);
    let (mut xt, mut part) = (Vec::new(), Vec::new());
    for (t, tap) in links(g).iter().enumerate() {
        if tap.inputs.is_empty() {
            continue;
        }
        gather(&x, g.c, hw, n, &tap.inputs, &mut xt);
        let cols = tap.inputs.len() * n;
        part.resize(g.o * cols, 0.0);
        let xref = MatRef::row_major(&xt, cols);
        gemm_into(
            &mut part,
            g.o,
            cols,
            g.c,
            tap_weights(w, g, t),
            xref,
            false,
            threads,
        );
        scatter_add(&mut acc, &part, ohw, n, &tap.outputs);
    }
    Some(to_nchw(&acc, g.o, ohw, n, bias))
}

/// (∂L/∂x when `want_dx`, ∂L/∂W when `want_dw`), or `None` where `x`, `w` or `dy` holds a
/// value that is not finite.
#[allow(clippy::type_complexity)]
pub(super) fn backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: &Geometry,
    want_dx: bool,
    want_dw: bool,
) -> Option<(Option<Vec<f32>>, Option<Vec<f32>>)> {
    if !all_finite(dy) || (want_dx && !all_finite(w)) || (want_dw && !all_finite(x)) {
        return None;
    }
    let (hw, ohw, n, kk) = (g.h * g.w, g.ohw(), g.n, g.kh * g.kw);
    let threads = rayon::current_num_threads();
    let mut dx_acc = if want_dx {
        vec![0.0f32; g.c * hw * n]
    } else {
        Vec::new()
    };
    // ∂L/∂W tap-major, `[KK, O, C]`: each tap's product written in place, the layout
    // turned once at the end (a strided write per tap took 9 % of the layer's backward).
    let oc = g.o * g.c;
    let mut dw_taps = vec![0.0f32; if want_dw { kk * oc } else { 0 }];
    let dy = pixels_major(dy, g.o, ohw, n);
    let x = if want_dw {
        pixels_major(x, g.c, hw, n)
    } else {
        Vec::new()
    };
    let (mut dyt, mut xt, mut part) = (Vec::new(), Vec::new(), Vec::new());
    for (t, tap) in links(g).iter().enumerate() {
        if tap.inputs.is_empty() {
            continue;
        }
        let cols = tap.inputs.len() * n;
        gather(&dy, g.o, ohw, n, &tap.outputs, &mut dyt);
        if want_dx {
            part.resize(g.c * cols, 0.0);
            let wt = tap_weights(w, g, t);
            let wt_t = MatRef {
                rs: wt.cs,
                cs: wt.rs,
                ..wt
            };
            let dyref = MatRef::row_major(&dyt, cols);
            gemm_into(&mut part, g.c, cols, g.o, wt_t, dyref, false, threads);
            scatter_add(&mut dx_acc, &part, hw, n, &tap.inputs);
        }
        if want_dw {
            gather(&x, g.c, hw, n, &tap.inputs, &mut xt);
            let (a, b) = (
                MatRef::row_major(&dyt, cols),
                MatRef::row_major_t(&xt, cols),
            );
            let dst = &mut dw_taps[t * oc..(t + 1) * oc];
            gemm_into(dst, g.o, g.c, cols, a, b, false, threads);
        }
    }
    let dx = want_dx.then(|| to_nchw(&dx_acc, g.c, hw, n, None));
    let dw = want_dw.then(|| {
        let mut dw = vec![0.0f32; oc * kk];
        dw.par_chunks_mut(g.c * kk).enumerate().for_each(|(o, wo)| {
            for (c, taps) in wo.chunks_exact_mut(kk).enumerate() {
                for (t, v) in taps.iter_mut().enumerate() {
                    *v = dw_taps[t * oc + o * g.c + c];
                }
            }
        });
        dw
    });
    Some((dx, dw))
}
