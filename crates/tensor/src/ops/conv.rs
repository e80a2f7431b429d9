//! 2-D convolution by im2col + GEMM or an implicit GEMM (PyTorch's `F.conv2d`:
//! cross-correlation).
//!
//! y\[n, o, i, j\] = b\[o\] + Σ_{c, p, q} w\[o, c, p, q\] · x\[n, g·C/G + c, i·s + p·d − pad, j·s + q·d − pad\]
//!
//! For each sample and group, im2col lays the receptive fields out as the columns of a matrix
//! `col` of shape `[C/G·KH·KW, OH·OW]`, so the convolution is one matrix product
//! `W_g · col`. Backward reuses the same pieces: ∂L/∂W_g = Σₙ ∂L/∂Y · colᵀ and
//! ∂L/∂x = col2im(W_gᵀ · ∂L/∂Y).
//!
//! Four paths (docs/benchmarks.md):
//! - planes with fewer pixels than the kernel has taps ([`dense`]; ResNet-18/34's 2×2 stage
//!   at 64² images): one GEMM per tap over the whole batch, only the pixel pairs that the
//!   tap links (no padding products), forward and both gradients.
//! - Winograd F(2×2, 3×3) ([`winograd`]) for 3×3 convolutions at stride 1 with 64 or more
//!   input and output channels (every 3×3 stage of ResNet-18/34): 2.25× fewer multiplications,
//!   forward and ∂L/∂x (the transposed convolution is again a 3×3 at stride 1); ∂L/∂W and
//!   inputs that are not finite go through the paths below.
//! - per task: runs of consecutive samples in parallel, each GEMM on one thread. A 1×1
//!   convolution with stride 1 and no padding skips im2col (`col` is the input itself); a
//!   "same" convolution at stride 1 ([`Geometry::is_shift`]) with 16 or more output channels
//!   per group never builds `col`: its forward is an implicit GEMM whose panels are filled
//!   straight from the input ([`ShiftPanels`], `kernels::panel`), and so is its ∂L/∂x, as
//!   the forward of the transposed convolution ([`Geometry::transposed`]); with 16 or more
//!   input channels per group it fills no panels at all, the micro-kernel reading each tap
//!   in place from zero-padded copies of the planes ([`PaddedPlanes`]). A strided
//!   convolution with 2 to 49 taps (a ResNet's 7×7 stem and stride-2 3×3s) runs the same
//!   implicit forward over its phase planes ([`ShiftPanels::strided`]), where every tap is a
//!   shift again; its ∂L/∂x still goes through `col` and col2im. Other "same" convolutions
//!   build `col` with one shifted block copy per channel and tap. ∂L/∂W is
//!   accumulated transposed, (∂L/∂W_g)ᵀ = col · ∂L/∂Yᵀ, the orientation in which the GEMM
//!   kernel reads `col` in place instead of packing a copy; samples with small outputs share
//!   one `col` and one GEMM ([`samples_per_gemm`]).
//! - batched, when a task's samples would have too few output pixels for a GEMM (the deep
//!   stages of a ResNet, or any small plane at batch 1; [`Geometry::batched`]): about a
//!   thousand columns of samples side by side in one `col`, one GEMM per batch of samples
//!   split over the threads ([`conv_forward_batched`]); im2col and col2im go through a table
//!   of where each tap reads ([`TapTable`]), and ∂L/∂W is one sum over the batch, in its own
//!   layout, where the per-task path would keep a partial sum of all of ∂L/∂W per task.

mod dense;
mod winograd;

use rayon::prelude::*;
use std::mem::MaybeUninit;

use crate::Tensor;
use crate::kernels::copy;
use crate::kernels::gemm::{MatRef, gemm_into};
use crate::kernels::map::{Writer, write_new};
use crate::kernels::panel::{PackedWeights, panel_rows};
use crate::kernels::simd::{Vectorized, simd_dispatch};
use crate::layout::shape_panic;

/// Hyperparameters of a 2-D convolution, as the arguments of PyTorch's `F.conv2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step between receptive fields, (vertical, horizontal).
    pub stride: (usize, usize),
    /// Implicit zeros added on each side, (vertical, horizontal).
    pub padding: (usize, usize),
    /// Spacing between kernel taps, (vertical, horizontal).
    pub dilation: (usize, usize),
    /// Channel groups: input and output channels split into `groups` independent convolutions.
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

impl Conv2dParams {
    /// Same stride, padding and dilation in both directions, one group.
    pub fn new(stride: usize, padding: usize, dilation: usize) -> Self {
        Conv2dParams {
            stride: (stride, stride),
            padding: (padding, padding),
            dilation: (dilation, dilation),
            groups: 1,
        }
    }

    /// The same parameters with `groups` channel groups.
    pub fn with_groups(self, groups: usize) -> Self {
        Conv2dParams { groups, ..self }
    }
}

/// Everything the kernels need to know about one convolution's geometry.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    p: Conv2dParams,
}

impl Geometry {
    fn cg(&self) -> usize {
        self.c / self.p.groups
    }
    fn og(&self) -> usize {
        self.o / self.p.groups
    }
    /// Rows of `col`: C/G · KH · KW.
    fn ckk(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    fn ohw(&self) -> usize {
        self.oh * self.ow
    }
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.p.stride == (1, 1) && self.p.padding == (0, 0)
    }

    /// Group `gi`'s weights `W_g` `[O/G, C/G·KH·KW]`, a view of the weight buffer.
    fn weight<'a>(&self, w: &'a [f32], gi: usize) -> MatRef<'a> {
        MatRef {
            data: w,
            offset: gi * self.og() * self.ckk(),
            rs: self.ckk(),
            cs: 1,
        }
    }

    /// `W_gᵀ` `[C/G·KH·KW, O/G]`: the same view with the strides swapped.
    fn weight_t<'a>(&self, w: &'a [f32], gi: usize) -> MatRef<'a> {
        MatRef {
            rs: 1,
            cs: self.ckk(),
            ..self.weight(w, gi)
        }
    }

    /// Whether this convolution takes the batched path ([`conv_forward_batched`]): when a
    /// parallel task's samples together have fewer than [`GEMM_MIN_COLS`] output pixels, so
    /// that the per-task GEMMs would be too narrow (on two threads, ResNet-18's 2×2 stage at
    /// batch 64 on 64² images and its 7×7 stage at batch 16 on 224²; any plane under 16×16
    /// at batch 1), and planes and taps indexable by a [`TapTable`]'s u32 entries.
    fn batched(&self) -> bool {
        let fits_u32 = |v: usize| v < u32::MAX as usize;
        samples_per_task(self.n) * self.ohw() < GEMM_MIN_COLS
            && fits_u32(self.h * self.w)
            && fits_u32(self.kh * self.kw * self.ohw())
    }

    /// Whether every row of `col` is the input plane shifted by a constant: stride 1 and as
    /// many output as input columns (a "same" convolution such as 3×3 with padding 1, every
    /// 3×3 of a ResNet's stages but the first of a downsampling block). Output pixel
    /// (i, j) of tap (ki, kj) then reads input pixel (i + ki·dh − ph, j + kj·dw − pw), i.e.
    /// flat index i·W + j plus one shift, so im2col and col2im move whole blocks of rows at
    /// once instead of one image row at a time.
    fn is_shift(&self) -> bool {
        self.p.stride == (1, 1) && self.ow == self.w
    }

    /// Whether the per-sample forward runs the implicit GEMM ([`ShiftPanels`]; where
    /// [`panel_rows`] finds a micro-kernel): a "same" convolution with 2 to
    /// [`MAX_PANEL_TAPS`] taps (1×1 needs no im2col to begin with), each sample on one
    /// thread (`threads` per GEMM), at least [`IMPLICIT_MIN_ROWS`] output channels per group.
    fn implicit(&self, threads: usize) -> bool {
        let taps = self.kh * self.kw;
        self.is_shift()
            && (2..=MAX_PANEL_TAPS).contains(&taps)
            && threads == 1
            && self.og() >= IMPLICIT_MIN_ROWS
    }

    /// Whether an [`Geometry::implicit`] convolution runs over padded planes
    /// ([`PaddedPlanes`]) instead of filled panels: with at least [`PADDED_MIN_CHANNELS`]
    /// input channels per group, each micro-kernel call's depth (one tap's channels), and,
    /// for the transposed convolution of ∂L/∂x (`for_dx`), at most one extra column in 16.
    /// Measured per layer, alternated per call (min of 8–10), against filled panels: CIFAR
    /// resnet20's 16-channel 3×3 on 32² at batch 128, forward 4.23–4.36 → 3.92–3.95 ms,
    /// ∂L/∂x + ∂L/∂W 9.4–9.7 → 9.4 ms; its 32-channel one on 16², forward 3.69–3.88 →
    /// 3.59–3.73 ms, but ∂L/∂x + ∂L/∂W 6.9–7.1 → 7.5–7.6 ms with 2 extra columns in 16.
    fn padded(&self, for_dx: bool) -> bool {
        let extra = 2 * self.p.padding.1;
        self.cg() >= PADDED_MIN_CHANNELS && (!for_dx || 16 * extra <= self.ow)
    }

    /// Whether the per-sample forward of a strided convolution runs the implicit GEMM over
    /// its phase planes ([`ShiftPanels::strided`]): stride above 1 in some direction, 2 to
    /// [`MAX_PANEL_TAPS`] taps, one thread per sample, at least [`IMPLICIT_MIN_ROWS`] output
    /// channels per group: the 7×7 stride-2 stem of a ResNet and its stride-2 3×3s. (A 1×1
    /// reads one phase of the SH·SW split: its strided im2col measured faster.)
    fn implicit_strided(&self, threads: usize) -> bool {
        self.p.stride != (1, 1)
            && (2..=MAX_PANEL_TAPS).contains(&(self.kh * self.kw))
            && threads == 1
            && self.og() >= IMPLICIT_MIN_ROWS
    }

    /// ∂L/∂x as a convolution of ∂L/∂y, for stride 1: the kernel flipped in both axes with
    /// input and output channels swapped, padding d·(k − 1) − p, so that output pixel i of
    /// the transposed convolution gathers every (o, tap) that read input pixel i. `None`
    /// for other strides or a padding wider than the kernel's reach.
    fn transposed(&self) -> Option<Geometry> {
        if self.p.stride != (1, 1) {
            return None;
        }
        let (dh, dw) = self.p.dilation;
        Some(Geometry {
            n: self.n,
            c: self.o,
            h: self.oh,
            w: self.ow,
            o: self.c,
            kh: self.kh,
            kw: self.kw,
            oh: self.h,
            ow: self.w,
            p: Conv2dParams {
                padding: (
                    (dh * (self.kh - 1)).checked_sub(self.p.padding.0)?,
                    (dw * (self.kw - 1)).checked_sub(self.p.padding.1)?,
                ),
                ..self.p
            },
        })
    }

    /// Under [`Geometry::is_shift`], the output rows `i0..i1` and columns `j0..j1` of tap
    /// (ki, kj) that read the input (the others read padding), and the flat shift.
    fn tap(&self, ki: usize, kj: usize) -> Tap {
        let oy = (ki * self.p.dilation.0) as isize - self.p.padding.0 as isize;
        let ox = (kj * self.p.dilation.1) as isize - self.p.padding.1 as isize;
        let (i0, i1) = valid_cols(oy, 1, self.h, self.oh);
        let (j0, j1) = valid_cols(ox, 1, self.w, self.ow);
        Tap {
            i0,
            i1,
            j0,
            j1,
            shift: oy * self.w as isize + ox,
        }
    }
}

/// One tap's valid window and shift (see [`Geometry::tap`]).
struct Tap {
    i0: usize,
    i1: usize,
    j0: usize,
    j1: usize,
    shift: isize,
}

impl Tap {
    /// The contiguous span of flat output indices from the first to the last valid pixel;
    /// `None` when the tap reads only padding.
    fn span(&self, ow: usize) -> Option<std::ops::Range<usize>> {
        (self.i0 < self.i1 && self.j0 < self.j1)
            .then(|| self.i0 * ow + self.j0..(self.i1 - 1) * ow + self.j1)
    }

    /// Zeroes, in a tap's row `buf` (`[OH·OW]`), every element inside the span that reads
    /// padding: the columns left of `j0` on the rows after the first valid one, and right of
    /// `j1` on the rows before the last. The block move of the span wraps these around from
    /// the neighbouring row. One strided pass per such column (one or two columns for the
    /// usual padding of 1): a per-row loop cost more than the block copy itself (im2col was
    /// 17 % of the resnet20 step, most of it here).
    fn zero_wrapped(&self, ow: usize, buf: &mut [f32]) {
        if self.i0 + 1 >= self.i1 {
            // At most one valid row: the span holds no wrapped element.
            return;
        }
        for j in 0..self.j0 {
            let (first, last) = ((self.i0 + 1) * ow + j, (self.i1 - 1) * ow + j);
            buf[first..=last]
                .iter_mut()
                .step_by(ow)
                .for_each(|v| *v = 0.0);
        }
        for j in self.j1..ow {
            let (first, last) = (self.i0 * ow + j, (self.i1 - 2) * ow + j);
            buf[first..=last]
                .iter_mut()
                .step_by(ow)
                .for_each(|v| *v = 0.0);
        }
    }
}

/// The implicit GEMM under [`Geometry::is_shift`] (the forward, and the input gradient as the
/// forward of [`Geometry::transposed`]) and, over phase planes, for strided convolutions
/// ([`ShiftPanels::strided`]): fills the micro-kernel's
/// panels (`mr` output pixels by a block of taps, [`PackedWeights::product`]) straight from
/// the input, with no `col` in between. Tap t of output pixel p reads input pixel
/// p + shift_t when the pixel is valid for the tap, padding (zero) otherwise; a panel row is
/// then one block copy of the plane and one AND with the tap's validity mask over the
/// panel's pixels (a select, not a multiply: 0 · ∞ would be NaN).
struct ShiftPanels {
    mr: usize,
    /// Pixels of each source plane.
    hw: usize,
    kk: usize,
    /// Source planes per input channel: 1, or a strided convolution's phases SH·SW
    /// ([`ShiftPanels::strided`]).
    planes: usize,
    /// The plane (of its channel's `planes`) that each tap reads.
    phase: Vec<usize>,
    /// Flat shift of each tap, t = ki·KW + kj.
    shifts: Vec<isize>,
    /// For panel i, tap t, pixel q at (i·KK + t)·mr + q: all ones where pixel i·mr + q exists
    /// and tap t reads the input there, else 0.
    masks: Vec<u32>,
}

impl ShiftPanels {
    fn new(g: &Geometry, mr: usize) -> Self {
        let taps: Vec<Tap> = (0..g.kh)
            .flat_map(|ki| (0..g.kw).map(move |kj| (ki, kj)))
            .map(|(ki, kj)| g.tap(ki, kj))
            .collect();
        let kk = taps.len();
        Self::from_taps(g, mr, taps, vec![0; kk], 1, g.h * g.w)
    }

    /// The panels of a strided convolution, from its phase planes ([`phase_split`]).
    ///
    /// With stride s, tap k reads input row s·i + k·d − p for output row i. Writing
    /// k·d − p = s·q + r (0 ≤ r < s), that is row i + q of phase plane r, the input's rows
    /// r, s + r, 2s + r, …: a shift by q of a plane as large as the output, in both
    /// directions. Every tap is then a "same" shift of one of the SH·SW phase planes, as in
    /// [`ShiftPanels::new`], and the strided convolution runs the same implicit GEMM with
    /// no `col` (the planes are one pass over the input). Valid where 0 ≤ i + q < OH; the
    /// phase planes hold zeros where they run past the input.
    fn strided(g: &Geometry, mr: usize) -> Self {
        let (sh, sw) = g.p.stride;
        let split = |k: usize, d: usize, p: usize, s: usize| {
            let a = (k * d) as isize - p as isize;
            (a.div_euclid(s as isize), a.rem_euclid(s as isize) as usize)
        };
        let (mut taps, mut phase) = (vec![], vec![]);
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let (qi, ri) = split(ki, g.p.dilation.0, g.p.padding.0, sh);
                let (qj, rj) = split(kj, g.p.dilation.1, g.p.padding.1, sw);
                let (i0, i1) = valid_cols(qi, 1, g.oh, g.oh);
                let (j0, j1) = valid_cols(qj, 1, g.ow, g.ow);
                taps.push(Tap {
                    i0,
                    i1,
                    j0,
                    j1,
                    shift: qi * g.ow as isize + qj,
                });
                phase.push(ri * sw + rj);
            }
        }
        Self::from_taps(g, mr, taps, phase, sh * sw, g.ohw())
    }

    fn from_taps(
        g: &Geometry,
        mr: usize,
        taps: Vec<Tap>,
        phase: Vec<usize>,
        planes: usize,
        hw: usize,
    ) -> Self {
        let (ohw, ow, kk) = (g.ohw(), g.ow, taps.len());
        let panels = ohw.div_ceil(mr);
        let mut masks = vec![0u32; panels * kk * mr];
        for (pi, per_panel) in masks.chunks_exact_mut(kk * mr).enumerate() {
            for (tap, mask) in taps.iter().zip(per_panel.chunks_exact_mut(mr)) {
                for (q, m) in mask.iter_mut().enumerate() {
                    let p = pi * mr + q;
                    let (i, j) = (p / ow, p % ow);
                    let valid =
                        p < ohw && (tap.i0..tap.i1).contains(&i) && (tap.j0..tap.j1).contains(&j);
                    *m = if valid { u32::MAX } else { 0 };
                }
            }
        }
        ShiftPanels {
            mr,
            hw,
            kk,
            planes,
            phase,
            shifts: taps.iter().map(|t| t.shift).collect(),
            masks,
        }
    }

    /// Rows `k0..k0 + kc` of `col` (k = c·KK + t), pixels `p0..p0 + mr`, of one sample's
    /// group `x` (`[C/G, H, W]`, or its phase planes `[C/G, SH·SW, OH, OW]` for
    /// [`ShiftPanels::strided`]), into `panel` (`[kc][mr]`).
    fn fill(&self, x: &[f32], k0: usize, kc: usize, p0: usize, panel: &mut [f32]) {
        simd_dispatch(FillPanel {
            sp: self,
            x,
            k0,
            p0,
            panel: &mut panel[..kc * self.mr],
        });
    }
}

/// A "same" stride-1 convolution ([`Geometry::implicit`]) over zero-padded planes, with no
/// panels: in a plane padded to (H + 2·ph) × (W + 2·pw), output pixel (i, j) of tap
/// (ki, kj) reads padded pixel (i + ki·dh, j + kj·dw), i.e. flat index i·Wp + j plus the
/// tap's offset ki·dh·Wp + kj·dw. Over an output grid of OH rows of Wp pixels (the last
/// 2·pw of each row are not outputs and are dropped afterwards) every tap is then a plain
/// view of the padded planes, rows `Wp·Hp` apart, which the micro-kernel reads in place
/// ([`PackedWeights::product_shifted`]): no panel is filled, at the cost of computing
/// 2·pw / W more columns (6 % on 32², 12.5 % on 16²). Where [`ShiftPanels`] copied
/// KH·KW values per input value into panels (a third of CIFAR's 16-channel forward), this
/// copies each value once, into its padded plane.
struct PaddedPlanes {
    /// Channels (rows of each tap's view), and the source plane.
    c: usize,
    h: usize,
    w: usize,
    ph: usize,
    pw: usize,
    /// Padded plane, and output rows.
    hp: usize,
    wp: usize,
    oh: usize,
    ow: usize,
    /// Per tap t = ki·KW + kj, its offset ki·dh·Wp + kj·dw.
    offsets: Vec<usize>,
    /// Floats after the last plane: the micro-kernel reads the last tile in whole vectors.
    slack: usize,
}

impl PaddedPlanes {
    fn new(g: &Geometry, mr: usize) -> Self {
        let (ph, pw) = g.p.padding;
        let (dh, dw) = g.p.dilation;
        let (hp, wp) = (g.h + 2 * ph, g.w + 2 * pw);
        let offsets = (0..g.kh)
            .flat_map(|ki| (0..g.kw).map(move |kj| ki * dh * wp + kj * dw))
            .collect();
        PaddedPlanes {
            c: g.cg(),
            h: g.h,
            w: g.w,
            ph,
            pw,
            hp,
            wp,
            oh: g.oh,
            ow: g.ow,
            offsets,
            slack: mr,
        }
    }

    /// Pixels of the output grid: OH rows of Wp.
    fn n(&self) -> usize {
        self.oh * self.wp
    }

    /// Rows of W `[m, c·KK]` (k = ci·KK + t, the layout of a conv weight) reordered for
    /// [`PackedWeights::product_shifted`] (k = t·c + ci) and packed; `row(r, buf)` writes
    /// row r in the conv layout.
    fn pack(&self, m: usize, row: impl Fn(usize, &mut [f32])) -> PackedWeights {
        let (c, kk) = (self.c, self.offsets.len());
        let mut conv_row = vec![0.0f32; c * kk];
        PackedWeights::from_rows(m, c * kk, |r, buf| {
            row(r, &mut conv_row);
            for ci in 0..c {
                for t in 0..kk {
                    buf[t * c + ci] = conv_row[ci * kk + t];
                }
            }
        })
    }

    /// The padded planes of `x` (`[c, H, W]`) into `out` (`[c, Hp, Wp]` and the slack, zero
    /// outside the input).
    fn pad(&self, x: &[f32], out: &mut Vec<f32>) {
        out.resize(self.c * self.hp * self.wp + self.slack, 0.0);
        simd_dispatch(Pad { pp: self, x, out });
    }

    /// The outputs of `grid` (`[m, OH·Wp]`, from [`PackedWeights::product_shifted`]) into
    /// `out` (`[m, OH, OW]`), plus `bias[i]` on row i when given.
    fn compact(&self, grid: &[f32], bias: Option<&[f32]>, out: &mut [MaybeUninit<f32>]) {
        simd_dispatch(Compact {
            pp: self,
            grid,
            bias,
            out,
            f: MaybeUninit::new,
        });
    }

    /// [`PaddedPlanes::compact`] into initialized memory, without a bias.
    fn compact_into(&self, grid: &[f32], out: &mut [f32]) {
        simd_dispatch(Compact {
            pp: self,
            grid,
            bias: None,
            out,
            f: |v| v,
        });
    }
}

/// [`PaddedPlanes::pad`]'s loop (rows of a few dozen floats: copied in blocks of 8 rather
/// than through a `memcpy` call each), compiled for AVX2 where the CPU has it.
struct Pad<'a> {
    pp: &'a PaddedPlanes,
    x: &'a [f32],
    out: &'a mut [f32],
}

impl Vectorized for Pad<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Pad { pp, x, out } = self;
        let (h, w, wp, plane) = (pp.h, pp.w, pp.wp, pp.hp * pp.wp);
        let (planes, slack) = out.split_at_mut(pp.c * plane);
        slack.fill(0.0);
        for (xc, pc) in x.chunks_exact(h * w).zip(planes.chunks_exact_mut(plane)) {
            let (top, rest) = pc.split_at_mut(pp.ph * wp);
            let (mid, bottom) = rest.split_at_mut(h * wp);
            top.fill(0.0);
            bottom.fill(0.0);
            for (src, dst) in xc.chunks_exact(w).zip(mid.chunks_exact_mut(wp)) {
                let (left, rest) = dst.split_at_mut(pp.pw);
                let (row, right) = rest.split_at_mut(w);
                left.fill(0.0);
                right.fill(0.0);
                copy_short(row, src, |v| v);
            }
        }
    }
}

/// [`PaddedPlanes::compact`]'s loop, compiled for AVX2 where the CPU has it; `f` makes an
/// output element of a value.
struct Compact<'a, T, F> {
    pp: &'a PaddedPlanes,
    grid: &'a [f32],
    bias: Option<&'a [f32]>,
    out: &'a mut [T],
    f: F,
}

impl<T, F: Fn(f32) -> T> Vectorized for Compact<'_, T, F> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Compact {
            pp,
            grid,
            bias,
            out,
            f,
        } = self;
        let (n, ohw) = (pp.n(), pp.oh * pp.ow);
        for (i, (g, o)) in grid
            .chunks_exact(n)
            .zip(out.chunks_exact_mut(ohw))
            .enumerate()
        {
            let rows = g.chunks_exact(pp.wp).zip(o.chunks_exact_mut(pp.ow));
            match bias {
                Some(bias) => rows.for_each(|(gr, or)| copy_short(or, gr, |v| f(v + bias[i]))),
                None => rows.for_each(|(gr, or)| copy_short(or, gr, &f)),
            }
        }
    }
}

/// `dst[i] = f(src[i])` for a short row (`src` at least as long), in blocks of 8
/// (vectorizes where inlined into a [`Vectorized`] loop).
#[inline(always)]
fn copy_short<T>(dst: &mut [T], src: &[f32], f: impl Fn(f32) -> T) {
    let src = &src[..dst.len()];
    let (db, dt) = dst.as_chunks_mut::<8>();
    let (sb, st) = src.as_chunks::<8>();
    for (d, s) in db.iter_mut().zip(sb) {
        *d = s.map(&f);
    }
    for (d, &s) in dt.iter_mut().zip(st) {
        *d = f(s);
    }
}

/// [`ShiftPanels::fill`]'s loop, compiled for AVX2 where the CPU has it.
struct FillPanel<'a> {
    sp: &'a ShiftPanels,
    x: &'a [f32],
    k0: usize,
    p0: usize,
    panel: &'a mut [f32],
}

impl Vectorized for FillPanel<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let FillPanel {
            sp,
            x,
            k0,
            p0,
            panel,
        } = self;
        let (mr, hw, kk, planes) = (sp.mr, sp.hw, sp.kk, sp.planes);
        let masks = &sp.masks[(p0 / mr) * kk * mr..][..kk * mr];
        // Per tap, for this panel: the pixels q in qa..qb whose source index p0 + q + shift
        // lies in the plane (the others are zero, and so is their mask), and the offset of
        // the first one's source in the plane. Computed once per panel, not per row.
        let mut taps = [(0usize, 0usize, 0usize); MAX_PANEL_TAPS];
        for (t, tap) in taps.iter_mut().enumerate().take(kk) {
            let s = p0 as isize + sp.shifts[t];
            let qa = (-s).clamp(0, mr as isize) as usize;
            let qb = (hw as isize - s).clamp(qa as isize, mr as isize) as usize;
            *tap = (
                qa,
                qb,
                if qa < qb {
                    (s + qa as isize) as usize
                } else {
                    0
                },
            );
        }
        let (mut c, mut t) = (k0 / kk, k0 % kk);
        for row in panel.chunks_exact_mut(mr) {
            let (qa, qb, from) = taps[t];
            let mask = &masks[t * mr..][..mr];
            let plane = (c * planes + sp.phase[t]) * hw;
            if qa == 0 && qb == mr {
                // Whole blocks of 8: vectorizes (see `Vectorized`).
                let src = &x[plane + from..][..mr];
                let (rb, _) = row.as_chunks_mut::<8>();
                let (sb, _) = src.as_chunks::<8>();
                let (mb, _) = mask.as_chunks::<8>();
                for ((d, v), m) in rb.iter_mut().zip(sb).zip(mb) {
                    *d = std::array::from_fn(|l| f32::from_bits(v[l].to_bits() & m[l]));
                }
            } else {
                row[..qa].fill(0.0);
                row[qb..].fill(0.0);
                let src = &x[plane + from..][..qb - qa];
                for ((d, &v), &m) in row[qa..qb].iter_mut().zip(src).zip(&mask[qa..qb]) {
                    *d = f32::from_bits(v.to_bits() & m);
                }
            }
            t += 1;
            if t == kk {
                (c, t) = (c + 1, 0);
            }
        }
    }
}

/// The fewest input channels per group for [`PaddedPlanes`]: each micro-kernel call sums
/// over one tap's channels and then reloads and stores its output tile, so with the 3
/// channels of an RGB input (CIFAR ResNets' first layer, forward 0.83 → 1.19 ms at batch
/// 128) the calls cost more than the panels they save.
const PADDED_MIN_CHANNELS: usize = 16;

/// Most taps [`ShiftPanels`] takes (KH·KW): a 7×7 kernel.
const MAX_PANEL_TAPS: usize = 49;

/// The phase planes of one sample's group `x` (`[C/G, H, W]`) for a strided convolution
/// ([`ShiftPanels::strided`]), into `out` (`[C/G, SH·SW, OH, OW]`): plane (r, t) of channel
/// c holds x\[c\]\[SH·a + r\]\[SW·b + t\] at (a, b), and zero where that runs past the input.
fn phase_split(x: &[f32], g: &Geometry, out: &mut Vec<f32>) {
    let (sh, sw) = g.p.stride;
    let (hw, ohw, ow) = (g.h * g.w, g.ohw(), g.ow);
    out.resize(g.cg() * sh * sw * ohw, 0.0);
    for (c, planes) in out.chunks_exact_mut(sh * sw * ohw).enumerate() {
        let xc = &x[c * hw..(c + 1) * hw];
        for (ph, plane) in planes.chunks_exact_mut(ohw).enumerate() {
            let (r, t) = (ph / sw, ph % sw);
            // Columns b with SW·b + t < W.
            let cols = g.w.saturating_sub(t).div_ceil(sw).min(ow);
            for (a, row) in plane.chunks_exact_mut(ow).enumerate() {
                let i = sh * a + r;
                if i >= g.h || cols == 0 {
                    row.fill(0.0);
                    continue;
                }
                copy::gather_strided(&mut row[..cols], &xc[i * g.w + t..(i + 1) * g.w], sw);
                row[cols..].fill(0.0);
            }
        }
    }
}

/// Output length of one spatial dimension, or `None` when the kernel does not fit or the
/// kernel size, stride or dilation is 0.
pub(crate) fn conv_out_len(
    len: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<usize> {
    if kernel == 0 || dilation == 0 {
        // kernel − 1 would underflow, and dilation 0 would stack every tap on one pixel.
        return None;
    }
    let span = dilation * (kernel - 1) + 1;
    (len + 2 * pad >= span && stride > 0).then(|| (len + 2 * pad - span) / stride + 1)
}

/// The output columns j in `j0..j1` whose input column j·sw + off lies inside `0..w`
/// (the others read padding); `ow` output columns in all.
pub(crate) fn valid_cols(off: isize, sw: usize, w: usize, ow: usize) -> (usize, usize) {
    let j0 = if off < 0 {
        ((-off) as usize).div_ceil(sw)
    } else {
        0
    }
    .min(ow);
    let j1 = if (w as isize) > off {
        ((w as isize - off) as usize).div_ceil(sw).min(ow)
    } else {
        0
    }
    .max(j0);
    (j0, j1)
}

/// Fill `col` (`[C/G·KH·KW, OH·OW]`, rows `ld` apart) from one sample's group `x`
/// (`[C/G, H, W]`). `ld` > OH·OW places the sample's columns inside a wider matrix that holds
/// several samples side by side (see [`samples_per_gemm`]).
fn im2col(x: &[f32], g: &Geometry, col: &mut [f32], ld: usize) {
    if g.is_shift() {
        im2col_shift(x, g, col, ld);
        return;
    }
    let (sh, sw) = g.p.stride;
    let (ph, pw) = g.p.padding;
    let (dh, dw) = g.p.dilation;
    let ohw = g.ohw();
    for c in 0..g.cg() {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let dst = &mut col[row * ld..row * ld + ohw];
                // The columns that read the plane, the same in every output row.
                let off = (kj * dw) as isize - pw as isize;
                let (j0, j1) = valid_cols(off, sw, g.w, g.ow);
                let s0 = (j0 as isize * sw as isize + off).max(0) as usize;
                for (i, out_row) in dst.chunks_exact_mut(g.ow).enumerate() {
                    let ih = (i * sh + ki * dh) as isize - ph as isize;
                    if ih < 0 || ih >= g.h as isize || j1 == j0 {
                        out_row.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih as usize * g.w..(ih as usize + 1) * g.w];
                    out_row[..j0].fill(0.0);
                    out_row[j1..].fill(0.0);
                    copy::gather_strided(&mut out_row[j0..j1], &src[s0..], sw);
                }
            }
        }
    }
}

/// im2col under [`Geometry::is_shift`]: per channel and tap, one block copy of the input
/// shifted, zeros for the padded rows, and a zero over each element the copy wrapped around.
fn im2col_shift(x: &[f32], g: &Geometry, col: &mut [f32], ld: usize) {
    let (hw, ohw, ow) = (g.h * g.w, g.ohw(), g.ow);
    for c in 0..g.cg() {
        let plane = &x[c * hw..(c + 1) * hw];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let dst = &mut col[row * ld..row * ld + ohw];
                let tap = g.tap(ki, kj);
                let Some(span) = tap.span(ow) else {
                    copy::fill(dst, 0.0);
                    continue;
                };
                dst[..span.start].fill(0.0);
                dst[span.end..].fill(0.0);
                // In bounds: the span's first element reads input pixel (i0 + oy, j0 + ox)
                // and its last (i1 − 1 + oy, j1 − 1 + ox), both inside the plane. In pieces:
                // see `kernels::copy` (the plain call was 18 % of a resnet20 evaluation on
                // an AMD core).
                let s0 = (span.start as isize + tap.shift) as usize;
                copy::copy(&mut dst[span.clone()], &plane[s0..s0 + span.len()]);
                tap.zero_wrapped(ow, dst);
            }
        }
    }
}

/// col2im under [`Geometry::is_shift`]: the wrapped elements of each tap's span are zeroed
/// in `col` (they read padding, so carry no gradient), then the span is added to the input
/// gradient in one contiguous, vectorized pass.
fn col2im_shift(col: &mut [f32], g: &Geometry, dx: &mut [f32], ld: usize) {
    let (hw, ohw, ow) = (g.h * g.w, g.ohw(), g.ow);
    for c in 0..g.cg() {
        let plane = &mut dx[c * hw..(c + 1) * hw];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src = &mut col[row * ld..row * ld + ohw];
                let tap = g.tap(ki, kj);
                let Some(span) = tap.span(ow) else {
                    continue;
                };
                tap.zero_wrapped(ow, src);
                let s0 = (span.start as isize + tap.shift) as usize;
                for (d, &v) in plane[s0..s0 + span.len()].iter_mut().zip(&src[span]) {
                    *d += v;
                }
            }
        }
    }
}

/// Add `col` (`[C/G·KH·KW, OH·OW]`, rows `ld` apart) back into one sample's group gradient
/// `dx` (`[C/G, H, W]`). `col` is scratch: the shifted path zeroes its padding entries.
fn col2im(col: &mut [f32], g: &Geometry, dx: &mut [f32], ld: usize) {
    if g.is_shift() {
        col2im_shift(col, g, dx, ld);
        return;
    }
    let (sh, sw) = g.p.stride;
    let (ph, pw) = g.p.padding;
    let (dh, dw) = g.p.dilation;
    let ohw = g.ohw();
    for c in 0..g.cg() {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src = &col[row * ld..row * ld + ohw];
                // Only the columns that did not read padding flow back (same ranges as
                // im2col).
                let off = (kj * dw) as isize - pw as isize;
                let (j0, j1) = valid_cols(off, sw, g.w, g.ow);
                if j1 == j0 {
                    continue;
                }
                let s0 = (j0 as isize * sw as isize + off) as usize;
                for (i, src_row) in src.chunks_exact(g.ow).enumerate() {
                    let ih = (i * sh + ki * dh) as isize - ph as isize;
                    if ih < 0 || ih >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[ih as usize * g.w..(ih as usize + 1) * g.w];
                    copy::scatter_add_strided(&mut dst[s0..], &src_row[j0..j1], sw);
                }
            }
        }
    }
}

/// Forward: y = W ⊛ x (+ b) for every sample, parallel over runs of samples; within a run,
/// samples with small outputs share one GEMM ([`samples_per_gemm`]).
fn conv_forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    if g.o == 0 {
        // No output channels: nothing to compute (and no chunk of 0 floats to split).
        return Vec::new();
    }
    // Planes with fewer pixels than the kernel has taps as one dense product
    // ([`dense::applies`]); 3×3 at stride 1 by Winograd where it pays
    // ([`winograd::applies`]). An input or weight that is not finite falls through to the
    // direct paths.
    if dense::applies(g)
        && let Some(y) = dense::forward(x, w, bias, g)
    {
        return y;
    }
    if winograd::applies(g)
        && let Some(y) = winograd::forward(x, w, bias, g)
    {
        return y;
    }
    if g.batched() {
        return conv_forward_batched(x, w, bias, g);
    }
    let (ckk, ohw, og, cg) = (g.ckk(), g.ohw(), g.og(), g.cg());
    let (chw, ghw) = (g.c * g.h * g.w, cg * g.h * g.w);
    let ylen = g.o * ohw;
    let threads = if g.n >= 2 {
        1
    } else {
        rayon::current_num_threads()
    };
    // The implicit GEMM (no `col`) where [`Geometry::implicit`] or
    // [`Geometry::implicit_strided`] allows it, each sample on its own: its panels hold any
    // number of pixels, so samples never share.
    let strided = g.implicit_strided(threads);
    // Stride 1: over padded planes, no panels.
    let padded = panel_rows(ohw)
        .filter(|_| g.implicit(threads) && g.padded(false))
        .map(|mr| {
            let planes = PaddedPlanes::new(g, mr);
            let packed: Vec<PackedWeights> = (0..g.p.groups)
                .map(|gi| {
                    planes.pack(og, |r, buf| {
                        buf.copy_from_slice(&w[(gi * og + r) * ckk..][..ckk])
                    })
                })
                .collect();
            (planes, packed)
        });
    let implicit = panel_rows(ohw)
        .filter(|_| (g.implicit(threads) && padded.is_none()) || strided)
        .map(|mr| {
            let packed: Vec<PackedWeights> = (0..g.p.groups)
                .map(|gi| PackedWeights::new(&w[gi * og * ckk..], og, ckk))
                .collect();
            let panels = if strided {
                ShiftPanels::strided(g, mr)
            } else {
                ShiftPanels::new(g, mr)
            };
            (panels, packed)
        });
    let together = if implicit.is_some() || padded.is_some() {
        1
    } else {
        samples_per_gemm(ohw)
    };
    // The `s_n` samples from `first` on, whose outputs (`[s_n, O, OH·OW]`) `out` writes next,
    // in one GEMM per group.
    let per_run = |first: usize, s_n: usize, out: &mut Writer<'_>, scratch: &mut Scratch| {
        let ld = s_n * ohw;
        for gi in 0..g.p.groups {
            let xg = |s: usize| {
                let o = (first + s) * chw + gi * ghw;
                &x[o..o + ghw]
            };
            let b = bias.map(|b| &b[gi * og..(gi + 1) * og]);
            if let Some((planes, packed)) = &padded {
                planes.pad(xg(0), &mut scratch.col);
                scratch.dcol.resize(og * planes.n(), 0.0);
                packed[gi].product_shifted(
                    &mut scratch.dcol,
                    planes.n(),
                    &scratch.col,
                    planes.hp * planes.wp,
                    &planes.offsets,
                );
                planes.compact(&scratch.dcol, b, out.next_part(og * ohw));
                continue;
            }
            if let Some((panels, packed)) = &implicit {
                let xs = if strided {
                    phase_split(xg(0), g, &mut scratch.dcol);
                    &scratch.dcol
                } else {
                    xg(0)
                };
                out.product(
                    &packed[gi],
                    ohw,
                    b,
                    &mut scratch.col,
                    |k0, kc, p0, panel| panels.fill(xs, k0, kc, p0, panel),
                );
                continue;
            }
            let cref = if s_n == 1 && g.is_pointwise() {
                MatRef::row_major(xg(0), ohw)
            } else {
                scratch.col.resize(ckk * ld, 0.0);
                for s in 0..s_n {
                    im2col(xg(s), g, &mut scratch.col[s * ohw..], ld);
                }
                MatRef::row_major(&scratch.col, ld)
            };
            let wref = g.weight(w, gi);
            if s_n == 1 {
                // Y_g `[og, OH·OW]`: the sample's output block of this group, written in
                // place (the groups' blocks follow each other).
                out.gemm(og, ohw, ckk, wref, cref, b, threads);
                continue;
            }
            // Y_g `[og, S·OH·OW]` of every group in scratch, scattered below.
            scratch.dcol.resize(g.o * ld, 0.0);
            let yb = &mut scratch.dcol[gi * og * ld..(gi + 1) * og * ld];
            product_with_bias(yb, og, ld, ckk, wref, cref, b, threads);
        }
        if s_n > 1 {
            // Sample by sample, channel by channel: the order of the output.
            for s in 0..s_n {
                for row in scratch.dcol.chunks_exact(ld) {
                    out.map(&row[s * ohw..(s + 1) * ohw], |v| v);
                }
            }
        }
    };
    // One run of consecutive samples per task (the last may be shorter), each with one
    // scratch: rayon's `for_each_init` would build (and zero-fill) a fresh one for every
    // split piece. The output is written without a zero fill first (`write_new`).
    let per = samples_per_task(g.n);
    write_new(g.n * ylen, per * ylen, |range, out| {
        let mut scratch = Scratch::default();
        let (mut first, last) = (range.start / ylen, range.end / ylen);
        while first < last {
            let s_n = together.min(last - first);
            per_run(first, s_n, out, &mut scratch);
            first += s_n;
        }
    })
}

/// dst\[m×n\] = bias\[i\] on row i (0 without a bias) + A\[m×k\] · B\[k×n\]: a group's output
/// block in scratch, as [`Writer::gemm`] writes it into a new buffer.
#[allow(clippy::too_many_arguments)] // gemm_into's arguments and the bias
fn product_with_bias(
    dst: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    bias: Option<&[f32]>,
    threads: usize,
) {
    if let Some(bias) = bias {
        for (row, &v) in dst.chunks_mut(n.max(1)).zip(bias) {
            row.fill(v);
        }
    }
    gemm_into(dst, m, n, k, a, b, bias.is_some(), threads);
}

/// The implicit GEMM's fewest output channels per group (rows of the product). Filling a
/// panel costs about a third of a cycle per element, the micro-kernel then spends O/16 cycles
/// per element on it (AVX-512), so with fewer than two strips of 6 rows the fill would
/// dominate. Measured per layer (min of 5, `x` and `dy` fixed): CIFAR resnet20's 16-channel
/// 3×3 on 32² at batch 128, forward 4.6 → 4.0 ms and forward + backward 14.6–16.5 →
/// 13.3–13.8 ms, its 32-channel one on 16² 10.8–11.5 → 10.2–10.7 ms.
const IMPLICIT_MIN_ROWS: usize = 16;

/// Below this many output pixels per sample (OH·OW), samples share a GEMM.
///
/// A convolution's GEMM is `[O/G, C/G·KH·KW] · [C/G·KH·KW, OH·OW]` per sample: at the deep,
/// small layers (ResNet-18 on 64² images: 4×4 and 2×2 outputs at 256 and 512 channels) its
/// n is 16 or 4, and the micro-kernel, whose register tile is 16 × 6 or larger, runs mostly
/// empty. Side by side in one `col` of S·OH·OW columns, S samples make one product with
/// n ≥ 256 (the output is then scattered back to NCHW, O/G·OH·OW floats a sample). Every
/// output element is still the same dot product over C/G·KH·KW.
const GEMM_MIN_COLS: usize = 256;

/// Samples per GEMM for outputs of `ohw` pixels: enough to reach [`GEMM_MIN_COLS`] columns.
fn samples_per_gemm(ohw: usize) -> usize {
    GEMM_MIN_COLS.div_ceil(ohw.max(1))
}

/// Backward: (∂L/∂x, ∂L/∂W) from ∂L/∂y; each only when asked for. Runs of samples in
/// parallel, samples with small outputs sharing one GEMM, as in the forward.
fn conv_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: &Geometry,
    want_dx: bool,
    want_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    if g.o == 0 || g.c * g.h * g.w == 0 {
        // No outputs, or no input elements: every gradient is a sum of no terms.
        return (
            want_dx.then(|| vec![0.0; g.n * g.c * g.h * g.w]),
            want_dw.then(|| vec![0.0; g.o * g.ckk()]),
        );
    }
    if dense::applies(g)
        && let Some(grads) = dense::backward(x, w, dy, g, want_dx, want_dw)
    {
        return grads;
    }
    // ∂L/∂x by Winograd where the transposed convolution (3×3, stride 1) allows it; ∂L/∂W
    // then as below.
    if want_dx
        && let Some(gt) = g.transposed().filter(winograd::applies)
        && let Some(dx) = winograd::forward(dy, &winograd::flipped(w, g), None, &gt)
    {
        let (_, dw) = conv_backward(x, w, dy, g, false, want_dw);
        return (Some(dx), dw);
    }
    if g.batched() {
        return conv_backward_batched(x, w, dy, g, want_dx, want_dw);
    }
    let (ckk, ohw, og, cg) = (g.ckk(), g.ohw(), g.og(), g.cg());
    let (chw, ghw) = (g.c * g.h * g.w, cg * g.h * g.w);
    let ylen = g.o * ohw;
    let wlen = g.o * ckk;
    let mut dx = if want_dx {
        vec![0.0f32; g.n * chw]
    } else {
        Vec::new()
    };
    let threads = if g.n >= 2 {
        1
    } else {
        rayon::current_num_threads()
    };
    let together = samples_per_gemm(ohw);
    // ∂L/∂x by the implicit GEMM of the transposed convolution (its own "same" geometry,
    // [`Geometry::transposed`]): no dcol and no col2im, each sample on its own.
    let implicit_dx = panel_rows(g.h * g.w)
        .zip(g.transposed())
        .filter(|(_, gt)| want_dx && gt.implicit(threads))
        .map(|(mr, gt)| {
            if gt.padded(true) {
                let planes = PaddedPlanes::new(&gt, mr);
                let packed = (0..g.p.groups)
                    .map(|gi| planes.pack(cg, |c, row| flipped_row(w, g, gi, c, row)))
                    .collect();
                (ImplicitDx::Padded(planes), packed, og * ohw)
            } else {
                let panels = ShiftPanels::new(&gt, mr);
                (ImplicitDx::Panels(panels), flipped_weights(w, g), og * ohw)
            }
        });
    // Samples `first..first + s_n`: writes their dx (`dxs`, when asked for) and adds their
    // dW into `acc.dw`.
    let per_run = |first: usize, s_n: usize, mut dxs: Option<&mut [f32]>, acc: &mut Scratch| {
        let ld = s_n * ohw;
        for gi in 0..g.p.groups {
            let xg = |s: usize| {
                let o = (first + s) * chw + gi * ghw;
                &x[o..o + ghw]
            };
            // dY_g `[og, S·OH·OW]`: ∂L/∂y itself for one sample, else gathered.
            let dyb: &[f32] = if s_n == 1 {
                &dy[first * ylen + gi * og * ohw..][..og * ohw]
            } else {
                acc.dyb.resize(og * ld, 0.0);
                for s in 0..s_n {
                    let src = &dy[(first + s) * ylen + gi * og * ohw..][..og * ohw];
                    for (oc, row) in src.chunks_exact(ohw).enumerate() {
                        acc.dyb[oc * ld + s * ohw..][..ohw].copy_from_slice(row);
                    }
                }
                &acc.dyb
            };
            if want_dw {
                // dW_gᵀ [ckk, og] += col [ckk, S·ohw] · dY_gᵀ [S·ohw, og], accumulated
                // transposed: in this orientation the GEMM kernel streams `col` (the large
                // operand) as it is, where dW_g = dY_g · colᵀ made it copy (pack) all of
                // `col` first (15 % of the CIFAR resnet20 step). Transposed back at the end.
                let col = if s_n == 1 && g.is_pointwise() {
                    MatRef::row_major(xg(0), ohw)
                } else {
                    acc.col.resize(ckk * ld, 0.0);
                    for s in 0..s_n {
                        im2col(xg(s), g, &mut acc.col[s * ohw..], ld);
                    }
                    MatRef::row_major(&acc.col, ld)
                };
                let dy_t = MatRef::row_major_t(dyb, ld);
                let dwt = &mut acc.dw[gi * og * ckk..(gi + 1) * og * ckk];
                gemm_into(dwt, ckk, og, ld, col, dy_t, true, threads);
            }
            if let (Some(dxs), Some((panels, packed, glen))) = (dxs.as_deref_mut(), &implicit_dx) {
                for (s, dxn) in dxs.chunks_exact_mut(chw).enumerate() {
                    let dyg = &dy[(first + s) * ylen + gi * glen..][..*glen];
                    let dxg = &mut dxn[gi * ghw..(gi + 1) * ghw];
                    match panels {
                        ImplicitDx::Panels(panels) => packed[gi].product_into(
                            dxg,
                            g.h * g.w,
                            &mut acc.dcol,
                            |k0, kc, p0, panel| panels.fill(dyg, k0, kc, p0, panel),
                        ),
                        ImplicitDx::Padded(planes) => {
                            // `dyb` is free here (dW has used it, if at all); `col`
                            // is not taken, so that it keeps its size for dW's next
                            // im2col instead of being zero-filled up to it again.
                            planes.pad(dyg, &mut acc.dyb);
                            acc.dcol.resize(cg * planes.n(), 0.0);
                            packed[gi].product_shifted(
                                &mut acc.dcol,
                                planes.n(),
                                &acc.dyb,
                                planes.hp * planes.wp,
                                &planes.offsets,
                            );
                            planes.compact_into(&acc.dcol, dxg);
                        }
                    }
                }
            } else if let Some(dxs) = dxs.as_deref_mut() {
                // dcol = W_gᵀ [ckk, og] · dY_g [og, S·ohw]; then col2im per sample.
                let w_t = g.weight_t(w, gi);
                let dyref = MatRef::row_major(dyb, ld);
                if s_n == 1 && g.is_pointwise() {
                    let dxg = &mut dxs[gi * ghw..(gi + 1) * ghw];
                    gemm_into(dxg, ckk, ohw, og, w_t, dyref, false, threads);
                } else {
                    acc.dcol.resize(ckk * ld, 0.0);
                    gemm_into(&mut acc.dcol, ckk, ld, og, w_t, dyref, false, threads);
                    for (s, dxn) in dxs.chunks_exact_mut(chw).enumerate() {
                        let dxg = &mut dxn[gi * ghw..(gi + 1) * ghw];
                        col2im(&mut acc.dcol[s * ohw..], g, dxg, ld);
                    }
                }
            }
        }
    };
    let new_scratch = || Scratch {
        dw: if want_dw { vec![0.0; wlen] } else { Vec::new() },
        ..Scratch::default()
    };
    // The runs of one task: samples `lo..hi`, `together` at a time.
    let run_task = |lo: usize, hi: usize, mut dxs: Option<&mut [f32]>, acc: &mut Scratch| {
        let mut first = lo;
        while first < hi {
            let s_n = together.min(hi - first);
            let part = dxs
                .as_deref_mut()
                .map(|d| &mut d[(first - lo) * chw..(first - lo + s_n) * chw]);
            per_run(first, s_n, part, acc);
            first += s_n;
        }
    };
    let dw = if g.n >= 2 {
        // dW = Σ_n dW_n summed in a fixed order: one run of consecutive samples per task,
        // each summed in sample order, then the runs in run order. (rayon's fold/reduce
        // combines where work stealing happens to split, so the float sum, and with it
        // training, differed in the last bits from one run to the next; a resumed run could
        // not reproduce an uninterrupted one.) Deterministic for a given thread count.
        // One scratch (dW partial sum, col, dcol) per task, not per rayon split piece: each
        // fresh scratch is ~2 · C·KH·KW · OH·OW floats zero-filled and page-faulted in (for
        // the bench's 64→64 3×3 conv, 14 MB).
        let per = samples_per_task(g.n);
        let partial: Vec<Vec<f32>> = if want_dx {
            dx.par_chunks_mut(per * chw)
                .enumerate()
                .map(|(ti, dxs)| {
                    let mut acc = new_scratch();
                    let lo = ti * per;
                    run_task(lo, lo + dxs.len() / chw, Some(dxs), &mut acc);
                    acc.dw
                })
                .collect()
        } else {
            (0..g.n.div_ceil(per))
                .into_par_iter()
                .map(|ti| {
                    let mut acc = new_scratch();
                    run_task(ti * per, ((ti + 1) * per).min(g.n), None, &mut acc);
                    acc.dw
                })
                .collect()
        };
        partial.into_iter().fold(Vec::new(), add_vecs)
    } else {
        let mut acc = new_scratch();
        let dxs = want_dx.then_some(&mut dx[..]);
        run_task(0, g.n, dxs, &mut acc);
        acc.dw
    };
    (
        want_dx.then_some(dx),
        want_dw.then(|| {
            if dw.is_empty() {
                vec![0.0; wlen]
            } else {
                untranspose_groups(&dw, g)
            }
        }),
    )
}

/// How the per-sample backward computes ∂L/∂x as the forward of the transposed convolution:
/// over padded planes where [`Geometry::padded`] allows, else through filled panels.
enum ImplicitDx {
    Panels(ShiftPanels),
    Padded(PaddedPlanes),
}

/// The weights of [`Geometry::transposed`], packed per group: W'\[c\]\[o·KK + t'\] =
/// W\[o\]\[c\]\[KK − 1 − t'\] (rows C/G, taps flipped in both axes).
fn flipped_weights(w: &[f32], g: &Geometry) -> Vec<PackedWeights> {
    let (cg, og, kk) = (g.cg(), g.og(), g.kh * g.kw);
    (0..g.p.groups)
        .map(|gi| PackedWeights::from_rows(cg, og * kk, |c, row| flipped_row(w, g, gi, c, row)))
        .collect()
}

/// Row c of group `gi`'s flipped weights ([`flipped_weights`]) into `row` (O/G·KH·KW).
fn flipped_row(w: &[f32], g: &Geometry, gi: usize, c: usize, row: &mut [f32]) {
    let (cg, og, kk) = (g.cg(), g.og(), g.kh * g.kw);
    let wg = &w[gi * og * cg * kk..][..og * cg * kk];
    for (o, out) in row.chunks_exact_mut(kk).enumerate() {
        let taps = &wg[(o * cg + c) * kk..][..kk];
        for (d, &v) in out.iter_mut().zip(taps.iter().rev()) {
            *d = v;
        }
    }
}

/// dW `[O, C/G·KH·KW]` from its per-group transposes `[G][C/G·KH·KW, O/G]`.
fn untranspose_groups(dwt: &[f32], g: &Geometry) -> Vec<f32> {
    let (ckk, og) = (g.ckk(), g.og());
    let mut dw = vec![0.0f32; dwt.len()];
    for (src, dst) in dwt
        .chunks_exact(ckk * og)
        .zip(dw.chunks_exact_mut(og * ckk))
    {
        for (r, row) in src.chunks_exact(og).enumerate() {
            for (oc, &v) in row.iter().enumerate() {
                dst[oc * ckk + r] = v;
            }
        }
    }
    dw
}

/// Samples per parallel task: two tasks per thread, so that a core that finishes early (or
/// was lent to another process) can take over a neighbour's second half.
fn samples_per_task(n: usize) -> usize {
    n.div_ceil(2 * rayon::current_num_threads().max(1)).max(1)
}

/// A task's buffers, reused across its samples: the dW partial sum (backward), `col`, and
/// `dcol` (backward; the forward keeps the product of several samples there), and dY
/// gathered for several samples (backward).
#[derive(Default)]
struct Scratch {
    dw: Vec<f32>,
    col: Vec<f32>,
    dcol: Vec<f32>,
    dyb: Vec<f32>,
}

fn add_vecs(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    if a.is_empty() {
        return b;
    }
    for (x, y) in a.iter_mut().zip(&b) {
        *x += y;
    }
    a
}

/// The batched path's GEMMs have about this many columns (samples side by side in `col`).
/// ∂L/∂W is one sum over all of them: the more, the fewer passes over ∂L/∂W.
const BATCH_COLS: usize = 1024;

/// Where each tap of one plane reads, for im2col and col2im on small planes as one gather per
/// channel, with no per-tap or per-row arithmetic (the block copies of [`im2col_shift`]
/// would move 4 or 16 floats a call there).
struct TapTable {
    /// For tap t = ki·KW + kj and output pixel p, at t·OH·OW + p: the flat index of the input
    /// pixel read, or H·W where the tap reads the zero padding (one zero past the plane).
    src: Vec<u32>,
    /// For input pixel q, `src`'s positions that read it, in tap order:
    /// `readers[starts[q]..starts[q + 1]]`. col2im sums them per pixel in registers, where a
    /// scatter-add per tap would chain loads and stores through the same few pixels.
    starts: Vec<u32>,
    readers: Vec<u32>,
}

impl TapTable {
    fn new(g: &Geometry) -> Self {
        let (sh, sw) = g.p.stride;
        let (ph, pw) = g.p.padding;
        let (dh, dw) = g.p.dilation;
        let hw = g.h * g.w;
        let mut src = Vec::with_capacity(g.kh * g.kw * g.ohw());
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                for i in 0..g.oh {
                    let ih = (i * sh + ki * dh).checked_sub(ph).filter(|&v| v < g.h);
                    for j in 0..g.ow {
                        let iw = (j * sw + kj * dw).checked_sub(pw).filter(|&v| v < g.w);
                        src.push(match (ih, iw) {
                            (Some(a), Some(b)) => (a * g.w + b) as u32,
                            _ => hw as u32,
                        });
                    }
                }
            }
        }
        // Counting sort of `src`'s positions by the pixel they read (padding dropped).
        let mut starts = vec![0u32; hw + 2];
        for &q in &src {
            starts[q as usize + 1] += 1;
        }
        for q in 0..=hw {
            starts[q + 1] += starts[q];
        }
        starts.truncate(hw + 1);
        let mut next = starts.clone();
        let mut readers = vec![0u32; starts[hw] as usize];
        for (pos, &q) in src.iter().enumerate() {
            if (q as usize) < hw {
                readers[next[q as usize] as usize] = pos as u32;
                next[q as usize] += 1;
            }
        }
        TapTable {
            src,
            starts,
            readers,
        }
    }
}

/// im2col for the samples `run` of group `gi` side by side: `col` is
/// `[C/G·KH·KW, run.len()·OH·OW]`, sample `run.start + s` in the columns from s·OH·OW on.
/// Parallel over channels (each owns KH·KW whole rows of `col`).
fn im2col_batch(
    x: &[f32],
    g: &Geometry,
    gi: usize,
    run: std::ops::Range<usize>,
    table: &TapTable,
    col: &mut [f32],
) {
    let (hw, ohw, kk) = (g.h * g.w, g.ohw(), g.kh * g.kw);
    let (chw, ghw) = (g.c * hw, g.cg() * hw);
    let ld = run.len() * ohw;
    col.par_chunks_mut(kk * ld).enumerate().for_each_init(
        // The plane with one zero after it, which the padding entries read.
        || vec![0.0f32; hw + 1],
        |padded, (c, rows)| {
            for (s, n) in run.clone().enumerate() {
                padded[..hw].copy_from_slice(&x[n * chw + gi * ghw + c * hw..][..hw]);
                for (t, idx) in table.src.chunks_exact(ohw).enumerate() {
                    let dst = &mut rows[t * ld + s * ohw..][..ohw];
                    for (d, &i) in dst.iter_mut().zip(idx) {
                        *d = padded[i as usize];
                    }
                }
            }
        },
    );
}

/// col2im for a run of samples of group `gi`: adds `dcol` (`[C/G·KH·KW, ld]`, sample s in
/// the columns from s·OH·OW on) into their input gradients `dxs` (`[samples, C, H, W]`),
/// parallel over samples.
fn col2im_batch(
    dcol: &[f32],
    g: &Geometry,
    gi: usize,
    ld: usize,
    table: &TapTable,
    dxs: &mut [f32],
) {
    let (hw, ohw, kk) = (g.h * g.w, g.ohw(), g.kh * g.kw);
    let (chw, ghw) = (g.c * hw, g.cg() * hw);
    // `readers` as offsets into one channel's rows of `dcol`: tap t, pixel p at t·ld + p.
    let offsets: Vec<usize> = table
        .readers
        .iter()
        .map(|&pos| (pos as usize / ohw) * ld + pos as usize % ohw)
        .collect();
    dxs.par_chunks_mut(chw).enumerate().for_each(|(s, dxn)| {
        for c in 0..g.cg() {
            let plane = &mut dxn[gi * ghw + c * hw..][..hw];
            let rows = &dcol[c * kk * ld + s * ohw..];
            for (q, d) in plane.iter_mut().enumerate() {
                let range = table.starts[q] as usize..table.starts[q + 1] as usize;
                *d += offsets[range].iter().map(|&o| rows[o]).sum::<f32>();
            }
        }
    });
}

/// Batched forward for small planes: samples side by side in one `col` of about
/// [`BATCH_COLS`] columns, one GEMM per run and group split over the threads (im2col
/// parallel over channels, the scatter to `[N, O, OH, OW]` over samples). Every output
/// element is the same dot product over C/G·KH·KW as in the per-sample path.
fn conv_forward_batched(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let (ckk, ohw, og) = (g.ckk(), g.ohw(), g.og());
    let ylen = g.o * ohw;
    let mut out = vec![0.0f32; g.n * ylen];
    let table = TapTable::new(g);
    let threads = rayon::current_num_threads();
    let (mut col, mut yb) = (Vec::new(), Vec::new());
    for run in batch_runs(g) {
        let ld = run.len() * ohw;
        for gi in 0..g.p.groups {
            col.resize(ckk * ld, 0.0);
            im2col_batch(x, g, gi, run.clone(), &table, &mut col);
            let wref = g.weight(w, gi);
            yb.resize(og * ld, 0.0);
            let b = bias.map(|b| &b[gi * og..(gi + 1) * og]);
            let cref = MatRef::row_major(&col, ld);
            product_with_bias(&mut yb, og, ld, ckk, wref, cref, b, threads);
            out[run.start * ylen..run.end * ylen]
                .par_chunks_mut(ylen)
                .enumerate()
                .for_each(|(s, y)| {
                    let yg = &mut y[gi * og * ohw..(gi + 1) * og * ohw];
                    for (oc, dst) in yg.chunks_exact_mut(ohw).enumerate() {
                        dst.copy_from_slice(&yb[oc * ld + s * ohw..][..ohw]);
                    }
                });
        }
    }
    out
}

/// Batched backward for small planes (see [`conv_forward_batched`]): per run and group, dY
/// gathered to `[O/G, s_n·OH·OW]`; (∂L/∂W_g)ᵀ += col · dYᵀ as one GEMM over the run's samples
/// (no per-task partial sums); dcol = W_gᵀ · dY and col2im parallel over samples.
/// ∂L/∂W sums the runs in order and each GEMM's split never cuts the sum over samples, so
/// both gradients are the same whatever the thread count.
fn conv_backward_batched(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: &Geometry,
    want_dx: bool,
    want_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (ckk, ohw, og) = (g.ckk(), g.ohw(), g.og());
    let chw = g.c * g.h * g.w;
    let ylen = g.o * ohw;
    let mut dx = if want_dx {
        vec![0.0f32; g.n * chw]
    } else {
        Vec::new()
    };
    let mut dw = if want_dw {
        vec![0.0f32; g.o * ckk]
    } else {
        Vec::new()
    };
    let table = TapTable::new(g);
    let threads = rayon::current_num_threads();
    let (mut col, mut dyb) = (Vec::new(), Vec::new());
    for run in batch_runs(g) {
        let ld = run.len() * ohw;
        for gi in 0..g.p.groups {
            dyb.resize(og * ld, 0.0);
            dyb.par_chunks_mut(ld).enumerate().for_each(|(oc, row)| {
                for (s, dst) in row.chunks_exact_mut(ohw).enumerate() {
                    dst.copy_from_slice(
                        &dy[(run.start + s) * ylen + (gi * og + oc) * ohw..][..ohw],
                    );
                }
            });
            col.resize(ckk * ld, 0.0);
            if want_dw {
                // dW_g [og, ckk] += dY_g [og, ld] · colᵀ [ld, ckk], in dW's own layout.
                im2col_batch(x, g, gi, run.clone(), &table, &mut col);
                let dw_g = &mut dw[gi * og * ckk..(gi + 1) * og * ckk];
                let (dyref, col_t) = (MatRef::row_major(&dyb, ld), MatRef::row_major_t(&col, ld));
                gemm_into(dw_g, og, ckk, ld, dyref, col_t, true, threads);
            }
            if want_dx {
                // dcol (in `col`'s buffer) = W_gᵀ [ckk, og] · dY_g [og, s_n·ohw].
                let w_t = g.weight_t(w, gi);
                let dyref = MatRef::row_major(&dyb, ld);
                gemm_into(&mut col, ckk, ld, og, w_t, dyref, false, threads);
                let dxs = &mut dx[run.start * chw..run.end * chw];
                col2im_batch(&col, g, gi, ld, &table, dxs);
            }
        }
    }
    (want_dx.then_some(dx), want_dw.then_some(dw))
}

/// The batched path's runs of samples: about [`BATCH_COLS`] columns each, of equal sizes
/// (16 samples of 14×14 make 4 runs of 4, not 5 + 5 + 5 + 1).
fn batch_runs(g: &Geometry) -> impl Iterator<Item = std::ops::Range<usize>> {
    let n = g.n;
    let runs = n.div_ceil((BATCH_COLS / g.ohw()).max(1)).max(1);
    let per = n.div_ceil(runs);
    (0..n).step_by(per.max(1)).map(move |s| s..(s + per).min(n))
}

impl Tensor {
    /// 2-D convolution (cross-correlation, like `torch.nn.functional.conv2d`).
    ///
    /// # Shapes
    /// input `[N, C, H, W]`, weight `[O, C/groups, KH, KW]`, bias `[O]` →
    /// `[N, O, OH, OW]` with OH = ⌊(H + 2·pad − dil·(KH − 1) − 1) / stride⌋ + 1 (same for W).
    ///
    /// # Panics
    /// On wrong ranks, channel counts that do not match or do not divide by `groups`, or a
    /// kernel larger than the padded input, or a zero kernel size, stride or dilation; the
    /// message names `conv2d` and the shapes.
    ///
    /// ```
    /// use gradflow_tensor::{Conv2dParams, Tensor};
    /// // A 3×3 box filter over a 4×4 ramp with padding 1.
    /// let x = Tensor::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]);
    /// let w = Tensor::ones(&[1, 1, 3, 3]);
    /// let y = x.conv2d(&w, None, Conv2dParams::new(1, 1, 1));
    /// assert_eq!(y.shape(), &[1, 1, 4, 4]);
    /// assert_eq!(y.get(&[0, 0, 1, 1]), 45.0); // 0+1+2+4+5+6+8+9+10
    /// ```
    #[track_caller]
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, params: Conv2dParams) -> Tensor {
        let (xs, ws) = (self.shape(), weight.shape());
        if xs.len() != 4 || ws.len() != 4 {
            shape_panic(
                "conv2d",
                xs,
                ws,
                "input must be [N, C, H, W] and weight [O, C/groups, KH, KW]",
            );
        }
        let groups = params.groups;
        if groups == 0 || xs[1] % groups != 0 || ws[0] % groups != 0 {
            shape_panic(
                "conv2d",
                xs,
                ws,
                &format!("channels must divide by groups = {groups}"),
            );
        }
        if ws[1] * groups != xs[1] {
            shape_panic(
                "conv2d",
                xs,
                ws,
                &format!(
                    "input has {} channels but the weight expects {} × {groups} groups",
                    xs[1], ws[1]
                ),
            );
        }
        if let Some(b) = bias
            && b.shape() != [ws[0]]
        {
            shape_panic(
                "conv2d",
                b.shape(),
                &[ws[0]],
                "bias must have one value per output channel",
            );
        }
        let oh = conv_out_len(
            xs[2],
            ws[2],
            params.stride.0,
            params.padding.0,
            params.dilation.0,
        );
        let ow = conv_out_len(
            xs[3],
            ws[3],
            params.stride.1,
            params.padding.1,
            params.dilation.1,
        );
        let (Some(oh), Some(ow)) = (oh, ow) else {
            shape_panic(
                "conv2d",
                xs,
                ws,
                "kernel larger than the padded input (or a zero kernel size, stride or dilation)",
            );
        };
        let g = Geometry {
            n: xs[0],
            c: xs[1],
            h: xs[2],
            w: xs[3],
            o: ws[0],
            kh: ws[2],
            kw: ws[3],
            oh,
            ow,
            p: params,
        };
        let (x, w) = (self.contiguous().detach(), weight.contiguous().detach());
        let out = x.with_data(|xd| {
            w.with_data(|wd| match bias {
                Some(b) => b.with_data(|bd| conv_forward(xd, wd, Some(bd), &g)),
                None => conv_forward(xd, wd, None, &g),
            })
        });
        let y = Tensor::from_vec(out, &[g.n, g.o, oh, ow]);
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        let has_bias = bias.is_some();
        y.record("conv2d", &inputs, false, move |c| {
            let dy = c.grad_output().contiguous();
            let (dx, dw) = x.with_data(|xd| {
                w.with_data(|wd| {
                    dy.with_data(|dyd| {
                        conv_backward(xd, wd, dyd, &g, c.needs_grad(0), c.needs_grad(1))
                    })
                })
            });
            let mut grads = vec![
                dx.map(|d| Tensor::from_vec(d, x.shape())),
                dw.map(|d| Tensor::from_vec(d, w.shape())),
            ];
            if has_bias {
                grads.push(c.needs_grad(2).then(|| dy.sum(&[0, 2, 3], false)));
            }
            grads
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 7-loop convolution, the definition written out.
    fn naive(x: &Tensor, w: &Tensor, p: Conv2dParams) -> Vec<f32> {
        let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
        let oh = conv_out_len(xs[2], ws[2], p.stride.0, p.padding.0, p.dilation.0).unwrap();
        let ow = conv_out_len(xs[3], ws[3], p.stride.1, p.padding.1, p.dilation.1).unwrap();
        let (cg, og) = (xs[1] / p.groups, ws[0] / p.groups);
        let mut out = vec![];
        for n in 0..xs[0] {
            for o in 0..ws[0] {
                let gi = o / og;
                for i in 0..oh {
                    for j in 0..ow {
                        let mut acc = 0.0;
                        for c in 0..cg {
                            for a in 0..ws[2] {
                                for b in 0..ws[3] {
                                    let ih = (i * p.stride.0 + a * p.dilation.0) as isize
                                        - p.padding.0 as isize;
                                    let iw = (j * p.stride.1 + b * p.dilation.1) as isize
                                        - p.padding.1 as isize;
                                    if ih >= 0
                                        && iw >= 0
                                        && (ih as usize) < xs[2]
                                        && (iw as usize) < xs[3]
                                    {
                                        acc += w.get(&[o, c, a, b])
                                            * x.get(&[n, gi * cg + c, ih as usize, iw as usize]);
                                    }
                                }
                            }
                        }
                        out.push(acc);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_definition_for_strides_padding_dilation_groups() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for p in [
            Conv2dParams::new(1, 0, 1),
            Conv2dParams::new(2, 1, 1),
            Conv2dParams::new(1, 2, 2),
            Conv2dParams {
                stride: (2, 1),
                padding: (0, 1),
                dilation: (1, 2),
                groups: 2,
            },
        ] {
            // 7×6 planes take the batched path, 34×33 the per-sample one (over 256 output
            // pixels for every parameter set here).
            for hw in [(7, 6), (34, 33)] {
                let x = Tensor::randn(&[2, 4, hw.0, hw.1], 0.0, 1.0, &mut rng);
                let w = Tensor::randn(&[6, 4 / p.groups, 3, 2], 0.0, 1.0, &mut rng);
                let y = x.conv2d(&w, None, p);
                let g = geometry([2, 4, hw.0, hw.1], [6, 4 / p.groups, 3, 2], p);
                assert_eq!(g.batched(), hw.0 == 7, "{p:?} {hw:?}");
                let want = naive(&x, &w, p);
                for (a, b) in y.to_vec().iter().zip(&want) {
                    assert!((a - b).abs() < 1e-4, "{p:?} {hw:?}: {a} vs {b}");
                }
            }
        }
    }

    /// "Same" convolutions (stride 1, output as wide as the input: the shifted im2col/col2im
    /// of the per-sample path, and the batched path), forward against the definition and
    /// backward against central differences ([`gradcheck`]), including taps that read only
    /// padding (width 1) and dilation.
    #[test]
    fn shifted_path_matches_definition() {
        use crate::{GradCheck, gradcheck};
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        // The first case has 16×16 = 256 output pixels: the per-sample path, where `col` is
        // built by block copies; the others take the batched path's tap table.
        let cases = [
            ([1, 1, 16, 16], [2, 1, 3, 3], Conv2dParams::new(1, 1, 1)),
            ([2, 3, 6, 5], [4, 3, 3, 3], Conv2dParams::new(1, 1, 1)),
            ([1, 2, 7, 6], [3, 2, 3, 3], Conv2dParams::new(1, 2, 2)),
            ([2, 2, 4, 1], [2, 2, 3, 3], Conv2dParams::new(1, 1, 1)),
            (
                [1, 4, 5, 6],
                [2, 2, 3, 2],
                Conv2dParams {
                    stride: (1, 1),
                    padding: (0, 1),
                    dilation: (1, 2),
                    groups: 2,
                },
            ),
        ];
        for (xs, ws, p) in cases {
            let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
            let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
            let y = x.conv2d(&w, None, p);
            // The shifted path's condition: stride 1 and an output as wide as the input.
            assert!(p.stride == (1, 1) && y.shape()[3] == xs[3], "{p:?}");
            let want = naive(&x, &w, p);
            for (a, b) in y.to_vec().iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{p:?}: {a} vs {b}");
            }
            let report = gradcheck(
                |t| t[0].conv2d(&t[1], None, p),
                &[x, w],
                GradCheck::default(),
            );
            assert!(report.passed, "{p:?}: {report}");
        }
    }

    /// The implicit GEMM's panels against the definition, at 49–53 output channels per
    /// group (partial strips of 6): planes whose last panel starts near the end (a tap's
    /// source then lies past the plane), odd sizes, dilation,
    /// 5×5 taps over 12 channels per group (300 rows of `col`), 1×3 taps, a 4×4 plane
    /// (panels as narrow as its 16 pixels), a bias. An ∞ in the input where the shifted copy wraps around (row 2, column 0, read
    /// by the padding of row 1's last pixel) must stay out of the outputs that do not see
    /// it: the panel masks select, they do not multiply. Tolerance: sums of ≤ 300 products
    /// of N(0, 1) values, summed in another order than the definition's.
    #[test]
    fn implicit_gemm_matches_definition() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let wide = Conv2dParams {
            stride: (1, 1),
            padding: (0, 1),
            dilation: (1, 1),
            groups: 1,
        };
        let cases = [
            (
                [3, 2, 28, 28],
                [50, 2, 3, 3],
                Conv2dParams::new(1, 1, 1),
                false,
            ),
            (
                [2, 3, 17, 19],
                [53, 3, 3, 3],
                Conv2dParams::new(1, 1, 1),
                true,
            ),
            (
                [2, 2, 20, 18],
                [49, 2, 3, 3],
                Conv2dParams::new(1, 2, 2),
                false,
            ),
            (
                [2, 24, 16, 16],
                [98, 12, 5, 5],
                Conv2dParams::new(1, 2, 1).with_groups(2),
                true,
            ),
            ([4, 3, 9, 40], [50, 3, 1, 3], wide, false),
            // 16 pixels: panels 16 wide (not batched on one thread: 16 samples per task).
            (
                [32, 2, 4, 4],
                [20, 2, 3, 3],
                Conv2dParams::new(1, 1, 1),
                true,
            ),
        ];
        // One thread, so that which path a case takes does not depend on the machine.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (xs, ws, p, with_bias) in cases {
            let g = geometry(xs, ws, p);
            let batched = pool.install(|| g.batched());
            assert!(!batched && g.implicit(1), "{xs:?} {p:?}");
            let infinite =
                pool.install(|| check_forward(xs, ws, p, with_bias, 2 * xs[3], &mut rng));
            assert!(infinite > 0, "{xs:?}: the ∞ reached no output");
        }
    }

    /// Winograd F(2×2, 3×3) against the definition: padding 1, 0 and 2, sizes odd in either
    /// direction (tiles cut by the output's edge), bias, wide planes (transforms row by row)
    /// and narrow ones down to one tile (through the tile table), 64 to 80 channels (enough
    /// for `winograd::applies`). Tolerance: sums of 9·C ≤ 630 products of
    /// N(0, 1) values, each output formed from 16·C transformed terms whose sizes are at most
    /// 9/4 times the direct ones, rounded in another order: 1e-3 relative as the other
    /// paths' tests. With an ∞ in the input the forward falls back to the direct path: the ∞
    /// reaches exactly the outputs that read it.
    #[test]
    fn winograd_matches_definition() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(29);
        let cases = [
            (
                [2, 64, 6, 31],
                [64, 64, 3, 3],
                Conv2dParams::new(1, 1, 1),
                false,
            ),
            (
                [2, 64, 7, 18],
                [80, 64, 3, 3],
                Conv2dParams::new(1, 0, 1),
                true,
            ),
            (
                [2, 64, 5, 31],
                [65, 64, 3, 3],
                Conv2dParams::new(1, 2, 1),
                false,
            ),
            (
                [3, 64, 5, 7],
                [64, 64, 3, 3],
                Conv2dParams::new(1, 1, 1),
                true,
            ),
            (
                [4, 70, 2, 2],
                [64, 70, 3, 3],
                Conv2dParams::new(1, 1, 1),
                false,
            ),
        ];
        for (xs, ws, p, with_bias) in cases {
            assert!(winograd::applies(&geometry(xs, ws, p)), "{xs:?} {ws:?}");
            // Finite input through Winograd; an ∞ falls back to the direct path.
            assert_eq!(check_forward(xs, ws, p, with_bias, usize::MAX, &mut rng), 0);
            assert!(check_forward(xs, ws, p, with_bias, xs[3] + 1, &mut rng) > 0);
        }
    }

    /// The strided forward through phase planes ([`ShiftPanels::strided`]) against the
    /// definition: the 7×7 stride-2 stem on odd sizes (phase planes running past the input),
    /// 3×3 stride 2, unequal strides with dilation, groups, a stride wider than the
    /// kernel (taps in only some phases, rows no tap reads), and an ∞ in the input that must
    /// reach exactly the outputs that read it: where a shifted copy wraps or reads a plane's
    /// zero edge, the mask keeps 0·∞ = NaN out. Tolerance: sums of ≤ 147 products of N(0, 1)
    /// values in another order, as in `implicit_gemm_matches_definition`.
    #[test]
    fn strided_implicit_gemm_matches_definition() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        let odd = Conv2dParams {
            stride: (2, 3),
            padding: (1, 2),
            dilation: (2, 1),
            groups: 1,
        };
        let cases = [
            (
                [4, 3, 23, 21],
                [20, 3, 7, 7],
                Conv2dParams::new(2, 3, 1),
                true,
            ),
            (
                [8, 4, 16, 15],
                [16, 4, 3, 3],
                Conv2dParams::new(2, 1, 1),
                false,
            ),
            ([8, 3, 19, 22], [17, 3, 3, 4], odd, false),
            (
                [4, 6, 24, 25],
                [32, 3, 3, 3],
                Conv2dParams::new(2, 1, 1).with_groups(2),
                true,
            ),
            (
                [6, 2, 31, 34],
                [16, 2, 2, 2],
                Conv2dParams::new(3, 0, 1),
                false,
            ),
        ];
        // One thread (at least 256 output pixels per task: not batched).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (xs, ws, p, with_bias) in cases {
            let g = geometry(xs, ws, p);
            let batched = pool.install(|| g.batched());
            assert!(!batched && g.implicit_strided(1), "{xs:?} {p:?}");
            pool.install(|| check_forward(xs, ws, p, with_bias, xs[3] + 2, &mut rng));
        }
    }

    /// ∂L/∂x through the transposed convolution's implicit GEMM against the definition
    /// (every (o, tap) that read an input pixel sends its weight times ∂L/∂y back), at 49–50
    /// input channels per group: padding 1, dilation 2, two groups, a 3×1 kernel without
    /// padding (output rows fewer than input rows: the transposed convolution pads by 2).
    /// ∂L/∂W still goes through `col`: checked against the definition too. Tolerance: sums
    /// of ≤ 54 products of N(0, 1) values (∂L/∂W: of 512), in another order.
    #[test]
    fn implicit_input_gradient_matches_definition() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(19);
        let no_pad = Conv2dParams {
            padding: (0, 0),
            ..Conv2dParams::default()
        };
        let cases = [
            ([2, 50, 16, 17], [4, 50, 3, 3], Conv2dParams::new(1, 1, 1)),
            ([2, 49, 17, 16], [3, 49, 3, 3], Conv2dParams::new(1, 2, 2)),
            (
                [2, 100, 16, 16],
                [6, 50, 3, 3],
                Conv2dParams::new(1, 1, 1).with_groups(2),
            ),
            ([2, 49, 18, 16], [5, 49, 3, 1], no_pad),
        ];
        for (xs, ws, p) in cases {
            let g = geometry(xs, ws, p);
            let gt = g.transposed().expect("stride 1");
            assert!(!g.batched() && gt.implicit(1), "{xs:?} {p:?}");
            check_gradients(xs, ws, p, &mut rng);
        }
    }

    /// The stride-1 paths over padded planes ([`PaddedPlanes`]) against the definition:
    /// forward with 16 or more input channels per group (bias, odd sizes cut the last tile,
    /// groups, dilation 2, a 5×5 kernel, a 1×3 kernel padded in one direction only), and
    /// ∂L/∂x (and ∂L/∂W beside it) with 16 or more channels per group on planes at least
    /// 16 times as wide as their padding. Tolerance: 1e-3 relative, as for the other paths (sums of at most
    /// 25·16 products of N(0, 1) values, rounded tap by tap).
    #[test]
    fn padded_planes_match_definition() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(31);
        let wide = Conv2dParams {
            padding: (0, 1),
            ..Conv2dParams::default()
        };
        let forward = [
            (
                [2, 16, 9, 33],
                [20, 16, 3, 3],
                Conv2dParams::new(1, 1, 1),
                true,
            ),
            (
                [2, 32, 12, 13],
                [34, 16, 3, 3],
                Conv2dParams::new(1, 2, 2).with_groups(2),
                false,
            ),
            (
                [3, 16, 10, 11],
                [16, 16, 5, 5],
                Conv2dParams::new(1, 2, 1),
                true,
            ),
            ([2, 17, 9, 40], [18, 17, 1, 3], wide, false),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (xs, ws, p, with_bias) in forward {
            let g = geometry(xs, ws, p);
            assert!(g.implicit(1) && g.padded(false), "{xs:?} {p:?}");
            let infinite =
                pool.install(|| check_forward(xs, ws, p, with_bias, 3 * xs[3] + 5, &mut rng));
            assert!(infinite > 0, "{xs:?}: the ∞ reached no output");
        }
        let backward = [
            ([2, 16, 6, 33], [16, 16, 3, 3], Conv2dParams::new(1, 1, 1)),
            (
                [2, 32, 5, 40],
                [32, 16, 3, 3],
                Conv2dParams::new(1, 1, 1).with_groups(2),
            ),
            ([2, 16, 7, 64], [17, 16, 3, 3], Conv2dParams::new(1, 2, 2)),
        ];
        for (xs, ws, p) in backward {
            let g = geometry(xs, ws, p);
            let gt = g.transposed().expect("stride 1");
            assert!(gt.implicit(1) && gt.padded(true), "{xs:?} {p:?}");
            pool.install(|| check_gradients(xs, ws, p, &mut rng));
        }
    }

    /// Planes with fewer pixels than taps, tap by tap over the batch ([`dense`]), against
    /// the definition: 2×2 and 1×1 planes under a 3×3 kernel, stride 2, dilation 2, a 5×5
    /// kernel on 3×3, with and without bias; forward, ∂L/∂x and ∂L/∂W. With an ∞ in the
    /// input the forward falls back to the direct path (the ∞ reaches exactly the outputs
    /// that read it). Tolerance: 1e-3 relative, as for the other paths (sums of at most
    /// 25·6 products of N(0, 1) values).
    #[test]
    fn small_planes_match_definition() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(37);
        let cases = [
            ([3, 5, 2, 2], [7, 5, 3, 3], Conv2dParams::new(1, 1, 1), true),
            (
                [2, 4, 1, 1],
                [6, 4, 3, 3],
                Conv2dParams::new(1, 1, 1),
                false,
            ),
            ([2, 3, 2, 3], [5, 3, 3, 3], Conv2dParams::new(2, 1, 1), true),
            (
                [2, 3, 2, 2],
                [4, 3, 3, 3],
                Conv2dParams::new(1, 2, 2),
                false,
            ),
            ([2, 6, 3, 3], [5, 6, 5, 5], Conv2dParams::new(1, 2, 1), true),
        ];
        for (xs, ws, p, with_bias) in cases {
            let g = geometry(xs, ws, p);
            assert!(dense::applies(&g), "{xs:?} {p:?}");
            let infinite = check_forward(xs, ws, p, with_bias, xs[3] + 1, &mut rng);
            assert!(infinite > 0, "{xs:?}: the ∞ reached no output");
            check_forward(xs, ws, p, with_bias, usize::MAX, &mut rng);
            check_gradients(xs, ws, p, &mut rng);
        }
    }

    /// `conv2d` of random N(0, 1) input and weights (and bias) against [`naive`], within
    /// 1e-3 relative (each test states why that bounds its path's rounding); an ∞ at input
    /// index `inf_at` (none when out of range) must reach exactly the outputs whose
    /// definition is not finite, NaN where it is NaN. Returns how many those are.
    fn check_forward(
        xs: [usize; 4],
        ws: [usize; 4],
        p: Conv2dParams,
        with_bias: bool,
        inf_at: usize,
        rng: &mut rand::rngs::StdRng,
    ) -> usize {
        let mut xv = Tensor::randn(&xs, 0.0, 1.0, rng).to_vec();
        if let Some(v) = xv.get_mut(inf_at) {
            *v = f32::INFINITY;
        }
        let x = Tensor::from_vec(xv, &xs);
        let w = Tensor::randn(&ws, 0.0, 1.0, rng);
        let b = Tensor::randn(&[ws[0]], 0.0, 1.0, rng);
        let y = x.conv2d(&w, with_bias.then_some(&b), p).to_vec();
        let ohw = y.len() / (xs[0] * ws[0]);
        let mut want = naive(&x, &w, p);
        if with_bias {
            for (i, v) in want.iter_mut().enumerate() {
                *v += b.to_vec()[(i / ohw) % ws[0]];
            }
        }
        assert_eq!(y.len(), want.len());
        let mut infinite = 0;
        for (i, (a, e)) in y.iter().zip(&want).enumerate() {
            if e.is_finite() {
                assert!(
                    (a - e).abs() < 1e-3 * (1.0 + e.abs()),
                    "{xs:?} {p:?} [{i}]: {a} vs {e}"
                );
            } else {
                infinite += 1;
                assert!(!a.is_finite(), "{xs:?} {p:?} [{i}]: {a} vs {e}");
                assert_eq!(a.is_nan(), e.is_nan(), "{xs:?} {p:?} [{i}]: {a} vs {e}");
            }
        }
        infinite
    }

    /// ∂L/∂x and ∂L/∂W of L = Σ y·dy by the definition, in f64: every (o, tap) that read
    /// an input pixel sends its weight times ∂L/∂y back.
    fn gradients_by_definition(
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
        p: Conv2dParams,
    ) -> (Vec<f64>, Vec<f64>) {
        let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
        let g = geometry(
            [xs[0], xs[1], xs[2], xs[3]],
            [ws[0], ws[1], ws[2], ws[3]],
            p,
        );
        let (xv, wv, dyv) = (x.to_vec(), w.to_vec(), dy.to_vec());
        let (mut dx, mut dw) = (vec![0.0f64; xv.len()], vec![0.0f64; wv.len()]);
        let (cg, og) = (xs[1] / p.groups, ws[0] / p.groups);
        for n in 0..xs[0] {
            for o in 0..ws[0] {
                let gi = o / og;
                for i in 0..g.oh {
                    for j in 0..g.ow {
                        let d = f64::from(dyv[((n * ws[0] + o) * g.oh + i) * g.ow + j]);
                        for c in 0..cg {
                            for a in 0..ws[2] {
                                for b in 0..ws[3] {
                                    let ih = (i * p.stride.0 + a * p.dilation.0)
                                        .checked_sub(p.padding.0);
                                    let iw = (j * p.stride.1 + b * p.dilation.1)
                                        .checked_sub(p.padding.1);
                                    let (Some(ih), Some(iw)) = (ih, iw) else {
                                        continue;
                                    };
                                    if ih >= xs[2] || iw >= xs[3] {
                                        continue;
                                    }
                                    let xi = ((n * xs[1] + gi * cg + c) * xs[2] + ih) * xs[3] + iw;
                                    let wi = ((o * cg + c) * ws[2] + a) * ws[3] + b;
                                    dx[xi] += f64::from(wv[wi]) * d;
                                    dw[wi] += f64::from(xv[xi]) * d;
                                }
                            }
                        }
                    }
                }
            }
        }
        (dx, dw)
    }

    /// ∂L/∂x through Winograd (the transposed convolution's forward: padding 1, 2 and 0 for
    /// the forward's 1, 0 and 2, odd sizes, a narrow plane) and ∂L/∂W (still through `col`)
    /// against the definition. Tolerance as in `winograd_matches_definition`.
    #[test]
    fn winograd_input_gradient_matches_definition() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(31);
        let cases = [
            ([2, 64, 6, 31], [64, 64, 3, 3], Conv2dParams::new(1, 1, 1)),
            ([2, 64, 7, 16], [80, 64, 3, 3], Conv2dParams::new(1, 0, 1)),
            ([2, 64, 5, 31], [65, 64, 3, 3], Conv2dParams::new(1, 2, 1)),
            ([3, 64, 5, 7], [64, 64, 3, 3], Conv2dParams::new(1, 1, 1)),
        ];
        for (xs, ws, p) in cases {
            let gt = geometry(xs, ws, p).transposed().expect("stride 1");
            assert!(winograd::applies(&gt), "{xs:?} {ws:?}");
            check_gradients(xs, ws, p, &mut rng);
        }
    }

    /// ∂L/∂x and ∂L/∂W of `conv2d` (no bias) for random N(0, 1) input, weights and ∂L/∂y
    /// against [`gradients_by_definition`], within 1e-3 relative (each caller states why
    /// that bounds its path's rounding).
    fn check_gradients(
        xs: [usize; 4],
        ws: [usize; 4],
        p: Conv2dParams,
        rng: &mut rand::rngs::StdRng,
    ) {
        let x = Tensor::randn(&xs, 0.0, 1.0, rng).requires_grad_();
        let w = Tensor::randn(&ws, 0.0, 1.0, rng).requires_grad_();
        let y = x.conv2d(&w, None, p);
        let dy = Tensor::randn(y.shape(), 0.0, 1.0, rng);
        y.mul(&dy).sum_all().backward();
        let (dx, dw) = gradients_by_definition(&x, &w, &dy, p);
        for (what, got, want) in [
            ("dx", x.grad().expect("dx").to_vec(), dx),
            ("dw", w.grad().expect("dw").to_vec(), dw),
        ] {
            assert_eq!(got.len(), want.len());
            for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                let a = f64::from(*a);
                assert!(
                    (a - e).abs() < 1e-3 * (1.0 + e.abs()),
                    "{xs:?} {p:?} {what}[{i}]: {a} vs {e}"
                );
            }
        }
    }

    /// The geometry `conv2d` builds for these shapes.
    fn geometry(xs: [usize; 4], ws: [usize; 4], p: Conv2dParams) -> Geometry {
        let len = |i: usize, k: usize, s, pad, d| conv_out_len(i, k, s, pad, d).unwrap();
        Geometry {
            n: xs[0],
            c: xs[1],
            h: xs[2],
            w: xs[3],
            o: ws[0],
            kh: ws[2],
            kw: ws[3],
            oh: len(xs[2], ws[2], p.stride.0, p.padding.0, p.dilation.0),
            ow: len(xs[3], ws[3], p.stride.1, p.padding.1, p.dilation.1),
            p,
        }
    }

    /// Samples with small outputs share GEMMs: per parallel task, `samples_per_gemm` of them
    /// side by side, or, when a task's samples are too few for that, all of them in runs of
    /// about `BATCH_COLS` columns (`conv_forward_batched`). Either way a batch gives the same
    /// outputs, input gradients and summed weight gradient as its samples run one at a time,
    /// for a 3×3 "same" conv, a strided one, a grouped dilated one and a 1×1. Which path a
    /// shape takes depends on the thread count, so every case runs on 1 and on 4 threads:
    /// 71 samples of 4×4 take the per-task path on 1 thread and, on 4, the batched path in
    /// two runs of unequal length (36 + 35). Tolerance: a few f32 ulps of sums of ≤ 72
    /// products of N(0, 1) values (dW: of 71 such sums), whose grouping differs.
    #[test]
    fn samples_sharing_a_gemm_match_samples_alone() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let cases = [
            ([71, 2, 4, 4], [3, 2, 3, 3], Conv2dParams::new(1, 1, 1)),
            (
                [40, 4, 6, 5],
                [6, 2, 3, 2],
                Conv2dParams::new(1, 2, 2).with_groups(2),
            ),
            ([8, 3, 4, 4], [5, 3, 3, 3], Conv2dParams::new(1, 1, 1)),
            ([8, 2, 5, 5], [3, 2, 3, 3], Conv2dParams::new(2, 1, 1)),
            (
                [8, 4, 6, 5],
                [6, 2, 3, 2],
                Conv2dParams::new(1, 2, 2).with_groups(2),
            ),
            ([8, 4, 3, 3], [6, 4, 1, 1], Conv2dParams::default()),
        ];
        let close = |a: &[f32], b: &[f32], what: &str| {
            assert_eq!(a.len(), b.len(), "{what}");
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                    "{what}: {x} vs {y}"
                );
            }
        };
        let mut batched = Vec::new();
        for threads in [1, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                for (xs, ws, p) in cases {
                    batched.push(geometry(xs, ws, p).batched());
                    let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng).requires_grad_();
                    let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng).requires_grad_();
                    let y = x.conv2d(&w, None, p);
                    let m = Tensor::randn(y.shape(), 0.0, 1.0, &mut rng);
                    y.mul(&m).sum_all().backward();
                    let (yv, mv) = (y.to_vec(), m.to_vec());
                    let (gx, gw) = (
                        x.grad().expect("x grad").to_vec(),
                        w.grad().expect("w grad").to_vec(),
                    );
                    let (xv, wv) = (x.to_vec(), w.to_vec());
                    let n = xs[0];
                    let (chw, ylen) = (xv.len() / n, yv.len() / n);
                    let mut gw_sum = vec![0.0f32; gw.len()];
                    for i in 0..n {
                        let xi = Tensor::from_vec(
                            xv[i * chw..(i + 1) * chw].to_vec(),
                            &[1, xs[1], xs[2], xs[3]],
                        )
                        .requires_grad_();
                        let wi = Tensor::from_vec(wv.clone(), &ws).requires_grad_();
                        let yi = xi.conv2d(&wi, None, p);
                        let mi =
                            Tensor::from_vec(mv[i * ylen..(i + 1) * ylen].to_vec(), yi.shape());
                        yi.mul(&mi).sum_all().backward();
                        let what = format!("{p:?} on {threads} threads");
                        close(
                            &yv[i * ylen..(i + 1) * ylen],
                            &yi.to_vec(),
                            &format!("{what} y[{i}]"),
                        );
                        close(
                            &gx[i * chw..(i + 1) * chw],
                            &xi.grad().expect("grad").to_vec(),
                            &format!("{what} dx[{i}]"),
                        );
                        for (a, b) in gw_sum.iter_mut().zip(wi.grad().expect("grad").to_vec()) {
                            *a += b;
                        }
                    }
                    close(&gw, &gw_sum, &format!("{p:?} on {threads} threads: dW"));
                }
            });
        }
        // The 71-sample case on 1 thread shares per task; on 4 it runs batched.
        assert_eq!((batched[0], batched[cases.len()]), (false, true));
    }

    /// A bias adds its value to every pixel of its output channel, on every path: per sample
    /// (34×33 planes), samples sharing a GEMM per task and the batched path (6×5 planes, 40
    /// and 2 samples on one thread), with two groups. Tolerance: the biased GEMM starts from
    /// the bias instead of adding it last, one rounding of a sum of 18 N(0, 1) products apart.
    #[test]
    fn bias_adds_per_output_channel_on_every_path() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let p = Conv2dParams::new(1, 1, 1).with_groups(2);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut paths = Vec::new();
        for xs in [[2, 4, 34, 33], [40, 4, 6, 5], [2, 4, 6, 5]] {
            let ws = [6, 2, 3, 3];
            let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
            let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
            let b = Tensor::randn(&[6], 0.0, 1.0, &mut rng);
            let (with, without) = pool.install(|| {
                let g = geometry(xs, ws, p);
                paths.push((g.batched(), samples_per_gemm(g.ohw()) > 1));
                (x.conv2d(&w, Some(&b), p), x.conv2d(&w, None, p))
            });
            let (bv, ohw) = (b.to_vec(), with.shape()[2] * with.shape()[3]);
            for (i, (&y, &y0)) in with.to_vec().iter().zip(&without.to_vec()).enumerate() {
                let want = y0 + bv[i / ohw % 6];
                assert!(
                    (y - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{xs:?} [{i}]: {y} vs {want}"
                );
            }
        }
        assert_eq!(paths, [(false, false), (false, true), (true, true)]);
    }

    /// The tap table's inverse lists every position that reads a pixel exactly once, in
    /// position (tap) order, and no position that reads padding.
    #[test]
    fn tap_table_inverse_lists_each_reader_once() {
        for (h, w, k, p) in [
            (4, 4, 3, Conv2dParams::new(1, 1, 1)),
            (5, 3, 3, Conv2dParams::new(2, 1, 1)),
            (2, 2, 3, Conv2dParams::new(1, 2, 2)),
            (4, 4, 1, Conv2dParams::new(2, 0, 1)),
        ] {
            let g = geometry([1, 1, h, w], [1, 1, k, k], p);
            let (oh, ow) = (g.oh, g.ow);
            let t = TapTable::new(&g);
            assert_eq!(t.src.len(), k * k * oh * ow);
            let mut seen = vec![0; t.src.len()];
            for q in 0..h * w {
                let readers = &t.readers[t.starts[q] as usize..t.starts[q + 1] as usize];
                assert!(readers.is_sorted(), "{p:?} pixel {q}: {readers:?}");
                for &pos in readers {
                    assert_eq!(t.src[pos as usize] as usize, q, "{p:?}");
                    seen[pos as usize] += 1;
                }
            }
            for (pos, &q) in t.src.iter().enumerate() {
                let want = usize::from((q as usize) < h * w);
                assert_eq!(seen[pos], want, "{p:?} position {pos} reads {q}");
            }
        }
    }

    /// The batched path's gradients do not depend on the thread count: each GEMM's split
    /// never cuts a sum, the runs add into ∂L/∂W in order, col2im adds taps in tap order.
    /// Bit for bit, one thread against three (100 samples of 2×2 outputs: batched on both).
    #[test]
    fn batched_gradients_match_on_one_and_three_threads() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let p = Conv2dParams::new(2, 1, 1);
        let x = Tensor::randn(&[100, 8, 4, 4], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[12, 8, 3, 3], 0.0, 1.0, &mut rng);
        let m = Tensor::randn(&[100, 12, 2, 2], 0.0, 1.0, &mut rng);
        let grads = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                assert!(geometry([100, 8, 4, 4], [12, 8, 3, 3], p).batched());
                let (x, w) = (x.detach().requires_grad_(), w.detach().requires_grad_());
                let y = x.conv2d(&w, None, p);
                y.mul(&m).sum_all().backward();
                (
                    y.to_vec(),
                    x.grad().unwrap().to_vec(),
                    w.grad().unwrap().to_vec(),
                )
            })
        };
        assert_eq!(grads(1), grads(3));
    }

    #[test]
    #[should_panic(expected = "conv2d: incompatible shapes [1, 3, 5, 5] and [4, 2, 3, 3]")]
    fn channel_mismatch_names_shapes() {
        Tensor::zeros(&[1, 3, 5, 5]).conv2d(
            &Tensor::zeros(&[4, 2, 3, 3]),
            None,
            Conv2dParams::default(),
        );
    }
}
