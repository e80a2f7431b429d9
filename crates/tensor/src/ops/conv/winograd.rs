//! Winograd's minimal filtering F(2×2, 3×3) for 3×3 convolutions at stride 1 (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", CVPR 2016; NNPACK and oneDNN's
//! `wino` kernels implement the same family).
//!
//! Each 2×2 block of outputs (a *tile*) is computed from the 4×4 block of input around it:
//!
//! Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A,
//!
//! Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]],
//! G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]],
//! Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]],
//!
//! with g_c the 3×3 kernel of input channel c and d_c the tile's 4×4 input. The elementwise
//! products summed over c are 16 matrix products, one per position ξ of the 4×4 transformed
//! tile: M_ξ `[O, tiles]` = U_ξ `[O, C]` · V_ξ `[C, tiles]`. That is 16 multiplications per
//! output tile and input channel where the direct convolution takes 36: 2.25× fewer, for
//! transforms that cost additions only, linear in C·tiles (input), O·tiles (output) and O·C
//! (weights, once per call), not in O·C·tiles.
//!
//! The transforms' entries are 0, ±1 and ±½ (exact in binary), so the result differs from
//! the direct sum only by rounding in another order: each output is a sum of 16·C terms
//! whose magnitudes are at most 9/4 times those of the direct sum's (the entries of G and A
//! summed), bounded in the tests by the same kind of tolerance as the implicit GEMM's.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::Geometry;
use crate::kernels::copy;
use crate::kernels::gemm::{MatRef, gemm_into};
use crate::kernels::map::all_finite;
use crate::kernels::simd::{Vectorized, simd_dispatch};

/// Tiles per block of the product: V holds 16·C·TB floats, M 16·O·TB. About 1 MiB of V for 64
/// channels, less for more (see [`block_tiles`]).
const BLOCK_FLOATS: usize = 1 << 18;

/// Whether [`forward`] computes this convolution: 3×3, stride 1, no dilation, one group, at
/// least two samples (the samples are the parallel tasks), and at least [`MIN_CHANNELS`]
/// input and output channels: the transforms cost additions per input channel and tile
/// (and per output channel and tile), the products C multiply-adds per output channel and
/// tile, so with few channels the transforms eat the 2.25× saving. Measured per layer (one
/// process, alternated with the direct path): every 3×3 stage of ResNet-18 at 224² and at
/// 64² gains; the CIFAR ResNets' 16- and 32-channel stages lose, their 64-channel stage ties.
pub(super) fn applies(g: &Geometry) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.p.stride == (1, 1)
        && g.p.dilation == (1, 1)
        && g.p.groups == 1
        && g.n >= 2
        && g.c.min(g.o) >= MIN_CHANNELS
}

/// Input and output channels below which [`applies`] leaves a convolution to the direct path.
const MIN_CHANNELS: usize = 64;

/// The weights of the transposed convolution of `g` (3×3, one group): W'\[c, o, i, j\] =
/// W\[o, c, 2 − i, 2 − j\], so that ∂L/∂x is the forward of ∂L/∂y with W' at padding 2 − pad
/// ([`Geometry::transposed`]).
pub(super) fn flipped(w: &[f32], g: &Geometry) -> Vec<f32> {
    let (o, c) = (g.o, g.c);
    let mut wt = vec![0.0f32; c * o * 9];
    for (ci, rows) in wt.chunks_exact_mut(o * 9).enumerate() {
        for (oi, k) in rows.chunks_exact_mut(9).enumerate() {
            let src = &w[(oi * c + ci) * 9..][..9];
            for (t, v) in k.iter_mut().enumerate() {
                *v = src[8 - t];
            }
        }
    }
    wt
}

/// U = G g Gᵀ for every (o, c), laid out `[O][16][C]` (U_ξ is then the view of rows 16·C
/// apart starting at ξ·C).
fn transform_weights(w: &[f32], o: usize, c: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; o * 16 * c];
    u.par_chunks_mut(16 * c).enumerate().for_each(|(oi, uo)| {
        for ci in 0..c {
            let g = &w[(oi * c + ci) * 9..][..9];
            // G g: 4 rows of 3.
            let mut gg = [[0.0f32; 3]; 4];
            for k in 0..3 {
                let (a, b, d) = (g[k], g[3 + k], g[6 + k]);
                gg[0][k] = a;
                gg[1][k] = 0.5 * (a + b + d);
                gg[2][k] = 0.5 * (a - b + d);
                gg[3][k] = d;
            }
            // (G g) Gᵀ: each row [a, b, d] → [a, ½(a + b + d), ½(a − b + d), d].
            for (r, row) in gg.iter().enumerate() {
                let [a, b, d] = *row;
                let t = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
                for (k, v) in t.into_iter().enumerate() {
                    uo[(r * 4 + k) * c + ci] = v;
                }
            }
        }
    });
    u
}

/// Tiles per block: whole rows of tiles (`tw` tiles each), about [`BLOCK_FLOATS`] / (16·C)
/// of them, at least one row.
fn block_tiles(c: usize, tw: usize) -> usize {
    let want = (BLOCK_FLOATS / (16 * c)).clamp(32, 512);
    want.div_ceil(tw).max(1) * tw
}

/// Scratch of one task, reused across its blocks.
#[derive(Default)]
struct Scratch {
    /// V `[16][C][tiles]`.
    v: Vec<f32>,
    /// M `[16][O][tiles]`.
    m: Vec<f32>,
    /// One tile row's input: 4 rows, each as even and odd columns, `[4][2][tw + 1]`.
    rows: Vec<f32>,
    /// The rows transformed horizontally (`[4][4][tw]`), or with the tile table the gathered
    /// inputs and their horizontal transform (`[2][16][tiles]`); then the 4 outputs of each
    /// tile (`[4][tw]`, or `[4][tiles]` with the table).
    t: Vec<f32>,
}

/// The forward of a convolution that [`applies`]: y `[N, O, OH, OW]` from x `[N, C, H, W]`,
/// w `[O, C, 3, 3]` and an optional bias `[O]`. Samples are split into one run per task
/// (as the other paths do), each run in blocks of whole tile rows.
///
/// `None` when x or w holds a NaN or ±∞ (the caller then takes the direct path): the
/// transforms subtract inputs from each other, so an ∞ would turn into NaN and reach the
/// other three outputs of its tile, where the direct sum keeps IEEE semantics per output.
pub(super) fn forward(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
) -> Option<Vec<f32>> {
    if !all_finite(w) {
        return None;
    }
    let (c, o) = (g.c, g.o);
    let (oh, ow) = (g.oh, g.ow);
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let u = transform_weights(w, o, c);
    let rows_per_block = block_tiles(c, tw) / tw;
    // Narrow planes gather each tile's 16 inputs through a table (row by row, a tile row of
    // a few tiles would cost more in loop overhead than in arithmetic).
    let table = (tw < TABLE_BELOW_TILES).then(|| tile_table(g));
    let ylen = o * oh * ow;
    let mut y = vec![0.0f32; g.n * ylen];
    let per = super::samples_per_task(g.n);
    let finite = AtomicBool::new(true);
    y.par_chunks_mut(per * ylen)
        .enumerate()
        .for_each(|(task, ys)| {
            let first = task * per;
            let mut s = Scratch::default();
            // Tile rows (sample, ti) of this task, in blocks.
            let total = ys.len() / ylen * th;
            let mut r0 = 0;
            while r0 < total && finite.load(Ordering::Relaxed) {
                let r1 = (r0 + rows_per_block).min(total);
                let tiles = (r1 - r0) * tw;
                s.v.resize(16 * c * tiles, 0.0);
                s.m.resize(16 * o * tiles, 0.0);
                s.rows.resize(8 * (tw + 1), 0.0);
                // Large enough for either variant's input and output scratch.
                s.t.resize(if table.is_some() { 32 * tiles } else { 16 * tw }, 0.0);
                let finite_input = match &table {
                    Some(tab) => simd_dispatch(InputTable {
                        x,
                        g,
                        first,
                        rows: r0..r1,
                        tab,
                        v: &mut s.v,
                        d: &mut s.t,
                    }),
                    None => simd_dispatch(InputBlock {
                        x,
                        g,
                        first,
                        rows: r0..r1,
                        v: &mut s.v,
                        buf: &mut s.rows,
                        hz: &mut s.t,
                    }),
                };
                if !finite_input {
                    finite.store(false, Ordering::Relaxed);
                    return;
                }
                for xi in 0..16 {
                    let a = MatRef {
                        data: &u,
                        offset: xi * c,
                        rs: 16 * c,
                        cs: 1,
                    };
                    let b = MatRef::row_major(&s.v[xi * c * tiles..(xi + 1) * c * tiles], tiles);
                    let dst = &mut s.m[xi * o * tiles..(xi + 1) * o * tiles];
                    gemm_into(dst, o, tiles, c, a, b, false, 1);
                }
                simd_dispatch(OutputBlock {
                    m: &s.m,
                    g,
                    rows: r0..r1,
                    bias,
                    y: ys,
                    buf: &mut s.t,
                    table: table.is_some(),
                });
                r0 = r1;
            }
        });
    finite.into_inner().then_some(y)
}

/// Rows of fewer tiles than this take the table-driven transforms ([`InputTable`]): at 8 tiles
/// (a 16² plane) the table measured 5.3 ms against the rows' 7.8–11 ms for ResNet-18's
/// 64-channel stage at b64 on 64², while at 28 tiles (56²) the rows were faster (15.0 against
/// 16.1 ms at b16 on 224²).
const TABLE_BELOW_TILES: usize = 9;

/// For each tile (ti, tj) of a plane and position (a, b) of its 4×4 input, at
/// `(ti·TW + tj)·16 + a·4 + b`: the input's flat index in the plane, or H·W where the position
/// is padding.
fn tile_table(g: &Geometry) -> Vec<u32> {
    let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
    let (ph, pw) = g.p.padding;
    let mut tab = Vec::with_capacity(th * tw * 16);
    for ti in 0..th {
        for tj in 0..tw {
            for a in 0..4 {
                for b in 0..4 {
                    let i = (2 * ti + a).checked_sub(ph).filter(|&i| i < g.h);
                    let j = (2 * tj + b).checked_sub(pw).filter(|&j| j < g.w);
                    let at = i.zip(j).map_or(g.h * g.w, |(i, j)| i * g.w + j);
                    tab.push(at as u32);
                }
            }
        }
    }
    tab
}

/// [`InputBlock`] through [`tile_table`]: per input channel, the 16 inputs of every tile of
/// the block gathered into `d` (`[16][tiles]`, then as much again of scratch), then Bᵀ d B
/// across all of them at once.
struct InputTable<'a> {
    x: &'a [f32],
    g: &'a Geometry,
    first: usize,
    rows: Range<usize>,
    tab: &'a [u32],
    v: &'a mut [f32],
    d: &'a mut [f32],
}

impl Vectorized for InputTable<'_> {
    type Output = bool;

    #[inline(always)]
    fn run(self) -> bool {
        let InputTable {
            x,
            g,
            first,
            rows,
            tab,
            v,
            d,
        } = self;
        let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        let (hw, tiles) = (g.h * g.w, rows.len() * tw);
        let mut finite = true;
        for ci in 0..g.c {
            for r in rows.clone() {
                let (n, ti) = (first + r / th, r % th);
                let plane = &x[(n * g.c + ci) * hw..][..hw];
                for tj in 0..tw {
                    let t = (r - rows.start) * tw + tj;
                    let src = &tab[(ti * tw + tj) * 16..][..16];
                    for (pos, &at) in src.iter().enumerate() {
                        d[pos * tiles + t] = plane.get(at as usize).copied().unwrap_or(0.0);
                    }
                }
            }
            finite &= all_finite(&d[..16 * tiles]);
            let (d, h) = d.split_at_mut(16 * tiles);
            // Bᵀ d B as in `transform_input`, over every tile of the block: d·B per row a into
            // h[a·4 + k], then Bᵀ over the rows per column k into V[ξ = a·4 + k].
            let dr = |a: usize, b: usize| &d[(a * 4 + b) * tiles..][..tiles];
            for a in 0..4 {
                let at = std::array::from_fn(|k| (a * 4 + k) * tiles);
                bt_rows([dr(a, 0), dr(a, 1), dr(a, 2), dr(a, 3)], h, at);
            }
            for k in 0..4 {
                let hr = |a: usize| &h[(a * 4 + k) * tiles..][..tiles];
                let at = std::array::from_fn(|a| ((a * 4 + k) * g.c + ci) * tiles);
                bt_rows([hr(0), hr(1), hr(2), hr(3)], v, at);
            }
        }
        finite
    }
}

/// V = Bᵀ d B for every input channel and tile of the tile rows `rows` (row r: sample
/// `first + r / TH`, tile row r % TH), into `v` (`[16][C][tiles]`). Returns whether every
/// input value read is finite.
struct InputBlock<'a> {
    x: &'a [f32],
    g: &'a Geometry,
    first: usize,
    rows: Range<usize>,
    v: &'a mut [f32],
    buf: &'a mut [f32],
    hz: &'a mut [f32],
}

impl Vectorized for InputBlock<'_> {
    type Output = bool;

    #[inline(always)]
    fn run(self) -> bool {
        let InputBlock {
            x,
            g,
            first,
            rows,
            v,
            buf,
            hz,
        } = self;
        let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        let (hw, tiles) = (g.h * g.w, rows.len() * tw);
        let mut finite = true;
        for ci in 0..g.c {
            for r in rows.clone() {
                let (n, ti) = (first + r / th, r % th);
                let plane = &x[(n * g.c + ci) * hw..][..hw];
                gather_rows(plane, g, ti, tw, buf);
                finite &= all_finite(buf);
                let j0 = (r - rows.start) * tw;
                transform_input(buf, tw, hz, v, (ci, g.c), tiles, j0);
            }
        }
        finite
    }
}

/// The 4 input rows of tile row `ti` (rows 2·ti − pad .. + 4), each split into even and odd
/// columns counted from column −pad, zero outside the plane: `buf[(2·r + p)·(tw + 1) + j]` is
/// input row 2·ti − pad + r, column 2·j + p − pad.
#[inline(always)]
fn gather_rows(plane: &[f32], g: &Geometry, ti: usize, tw: usize, buf: &mut [f32]) {
    let (ph, pw) = g.p.padding;
    for r in 0..4 {
        let i = (2 * ti + r).checked_sub(ph).filter(|&i| i < g.h);
        for p in 0..2 {
            let dst = &mut buf[(2 * r + p) * (tw + 1)..][..tw + 1];
            let Some(i) = i else {
                dst.fill(0.0);
                continue;
            };
            // Columns j with 0 ≤ 2·j + p − pad < W.
            let ja = pw.saturating_sub(p).div_ceil(2).min(tw + 1);
            let jb = (g.w + pw).saturating_sub(p).div_ceil(2).clamp(ja, tw + 1);
            dst[..ja].fill(0.0);
            dst[jb..].fill(0.0);
            if jb > ja {
                let src = &plane[i * g.w + 2 * ja + p - pw..(i + 1) * g.w];
                copy::gather_strided(&mut dst[ja..jb], src, 2);
            }
        }
    }
}

/// Bᵀ d B for the `tw` tiles of one tile row (from [`gather_rows`]) of input channel
/// `ci` of `c`, into `v[(ξ·C + ci)·tiles + j0 + j]`; `hz` is scratch (`[4][4][tw]`).
#[inline(always)]
fn transform_input(
    buf: &[f32],
    tw: usize,
    hz: &mut [f32],
    v: &mut [f32],
    (ci, c): (usize, usize),
    tiles: usize,
    j0: usize,
) {
    // Horizontal: row r of tile j has columns d0..d3 = e[j], o[j], e[j + 1], o[j + 1];
    // d·B into hz[(r·4 + k)·tw + j].
    for r in 0..4 {
        let e = &buf[2 * r * (tw + 1)..][..tw + 1];
        let od = &buf[(2 * r + 1) * (tw + 1)..][..tw + 1];
        let at = std::array::from_fn(|k| (r * 4 + k) * tw);
        bt_rows([&e[..tw], &od[..tw], &e[1..], &od[1..]], hz, at);
    }
    // Vertical, per horizontal component k: Bᵀ over the 4 rows, into V[ξ = a·4 + k].
    for k in 0..4 {
        let row = |r: usize| &hz[(r * 4 + k) * tw..][..tw];
        let at = std::array::from_fn(|a| ((a * 4 + k) * c + ci) * tiles + j0);
        bt_rows([row(0), row(1), row(2), row(3)], v, at);
    }
}

/// Bᵀ across four rows d0..d3 of equal length, elementwise: `out` gets d0 − d2, d1 + d2,
/// d2 − d1 and d1 − d3 at the offsets `at` (the input transform's only arithmetic, applied
/// along the tile's rows and then along its columns).
#[inline(always)]
fn bt_rows([d0, d1, d2, d3]: [&[f32]; 4], out: &mut [f32], at: [usize; 4]) {
    let len = d0.len();
    for (o, (p, q)) in out[at[0]..][..len].iter_mut().zip(d0.iter().zip(d2)) {
        *o = p - q;
    }
    for (o, (p, q)) in out[at[1]..][..len].iter_mut().zip(d1.iter().zip(d2)) {
        *o = p + q;
    }
    for (o, (p, q)) in out[at[2]..][..len].iter_mut().zip(d2.iter().zip(d1)) {
        *o = p - q;
    }
    for (o, (p, q)) in out[at[3]..][..len].iter_mut().zip(d1.iter().zip(d3)) {
        *o = p - q;
    }
}

/// Aᵀ M A + b for a run of tiles of one output channel, `m(ξ)` being M_ξ over the run: over
/// the rows s0[k] = M0k + M1k + M2k, s1[k] = M1k − M2k − M3k, then over the columns
/// y_u0 = s_u[0] + s_u[1] + s_u[2], y_u1 = s_u[1] − s_u[2] − s_u[3]. Returns the four
/// outputs of each tile, [y00, y01, y10, y11], as slices of `buf`.
#[inline(always)]
fn transform_output<'b, 'm>(
    m: impl Fn(usize) -> &'m [f32],
    b: f32,
    buf: &'b mut [f32],
) -> [&'b mut [f32]; 4] {
    let cols: [[&[f32]; 4]; 4] = std::array::from_fn(|a| std::array::from_fn(|k| m(a * 4 + k)));
    let len = cols[0][0].len();
    let (y00, rest) = buf[..4 * len].split_at_mut(len);
    let (y01, rest) = rest.split_at_mut(len);
    let (y10, y11) = rest.split_at_mut(len);
    for j in 0..len {
        let s = |a: usize, k: usize| cols[a][k][j];
        let s0 = [0, 1, 2, 3].map(|k| s(0, k) + s(1, k) + s(2, k));
        let s1 = [0, 1, 2, 3].map(|k| s(1, k) - s(2, k) - s(3, k));
        y00[j] = s0[0] + s0[1] + s0[2] + b;
        y01[j] = s0[1] - s0[2] - s0[3] + b;
        y10[j] = s1[0] + s1[1] + s1[2] + b;
        y11[j] = s1[1] - s1[2] - s1[3] + b;
    }
    [y00, y01, y10, y11]
}

/// Y = Aᵀ M A for every output channel and tile of the tile rows `rows` (relative to the
/// task's first sample), plus the bias, into the task's output `y` (`[S, O, OH, OW]`).
struct OutputBlock<'a> {
    m: &'a [f32],
    g: &'a Geometry,
    rows: Range<usize>,
    bias: Option<&'a [f32]>,
    y: &'a mut [f32],
    buf: &'a mut [f32],
    /// Compute every tile of the block at once and store tile by tile (narrow planes), instead
    /// of row by row with interleaved stores.
    table: bool,
}

impl Vectorized for OutputBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let OutputBlock {
            m,
            g,
            rows,
            bias,
            y,
            buf,
            table,
        } = self;
        let (o, oh, ow) = (g.o, g.oh, g.ow);
        let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
        let tiles = rows.len() * tw;
        if table {
            for oi in 0..o {
                let b = bias.map_or(0.0, |b| b[oi]);
                let [y00, y01, y10, y11] =
                    transform_output(|xi| &m[(xi * o + oi) * tiles..][..tiles], b, buf);
                for r in rows.clone() {
                    let (n, ti) = (r / th, r % th);
                    let plane = &mut y[(n * o + oi) * oh * ow..][..oh * ow];
                    for tj in 0..tw {
                        let t = (r - rows.start) * tw + tj;
                        for (u, v, val) in [
                            (0, 0, y00[t]),
                            (0, 1, y01[t]),
                            (1, 0, y10[t]),
                            (1, 1, y11[t]),
                        ] {
                            let (i, j) = (2 * ti + u, 2 * tj + v);
                            if i < oh && j < ow {
                                plane[i * ow + j] = val;
                            }
                        }
                    }
                }
            }
            return;
        }
        // Output columns in whole pairs, and whether a last single column follows.
        let (pairs, odd) = (ow / 2, ow % 2 == 1);
        for r in rows.clone() {
            let (n, ti) = (r / th, r % th);
            let j0 = (r - rows.start) * tw;
            for oi in 0..o {
                let b = bias.map_or(0.0, |b| b[oi]);
                let [y00, y01, y10, y11] =
                    transform_output(|xi| &m[(xi * o + oi) * tiles + j0..][..tw], b, buf);
                let plane = &mut y[(n * o + oi) * oh * ow..][..oh * ow];
                let mut put = |row: usize, left: &[f32], right: &[f32]| {
                    let dst = &mut plane[row * ow..][..ow];
                    let (pr, _) = dst.as_chunks_mut::<2>();
                    for ((d, &l), &r) in pr.iter_mut().zip(left).zip(right) {
                        *d = [l, r];
                    }
                    if odd {
                        dst[ow - 1] = left[pairs];
                    }
                };
                put(2 * ti, y00, y01);
                if 2 * ti + 1 < oh {
                    put(2 * ti + 1, y10, y11);
                }
            }
        }
    }
}
