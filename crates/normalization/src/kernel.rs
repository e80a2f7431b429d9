//! The fused normalize-over-sets kernel shared by BatchNorm, LayerNorm and GroupNorm.
//!
//! Every normalization layer in this crate views its input, row-major, as `[outer, mid, inner]`
//! with one affine pair (γₘ, βₘ) per middle index, and differs only in which elements form a
//! normalization set S:
//!
//! | layer                  | outer | mid | inner     | sets                                   |
//! |------------------------|-------|-----|-----------|----------------------------------------|
//! | BatchNorm (`[N,C,…]`)  | N     | C   | H·W (or L)| one per channel m, over all (o, i)     |
//! | GroupNorm (`[N,C,…]`)  | N     | C   | H·W       | one per (o, group of C/G channels)     |
//! | LayerNorm (`[…, D…]`)  | rows  | D   | 1         | one per row o (GroupNorm with G = 1)   |
//!
//! # Forward (two passes: statistics, then normalize)
//! μ_S = (1/n) Σ x,  σ²_S = (1/n) Σ (x − μ_S)² (biased),  x̂ = (x − μ_S)/√(σ²_S + ε),
//! y = γₘ·x̂ + βₘ. The statistics pass reads x once, accumulating Σ(x − k) and Σ(x − k)² in
//! f64 with k the set's first element (the "shifted data" algorithm), so a large common
//! offset does not cancel catastrophically; the normalize pass subtracts μ as a two-float
//! sum (see [`split`]), so x − μ is as exact as the f32 input allows.
//!
//! # Backward (two passes: set sums, then dx)
//! With g = ∂L/∂x̂ = γₘ·dy, differentiating x̂ through μ_S and σ_S gives the closed form
//!
//! dx = (1/σ_S)·(g − mean_S(g) − x̂·mean_S(g·x̂)),   dγₘ = Σ dy·x̂,   dβₘ = Σ dy,
//!
//! which for BatchNorm (γ constant over a set) is the familiar
//! (γ/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)). When the statistics are constants (BatchNorm in
//! evaluation mode, using running statistics) the Jacobian is diagonal: dx = γₘ·dy/σ.
//!
//! # Threads
//! Below [`PAR_MIN_ELEMS`] elements (or with a single sample) everything runs on the calling
//! thread. Above it, the outer index is cut into about four chunks per rayon thread: writes
//! (y, dx) go to disjoint slices, and per-chunk f64 partial sums are combined in chunk order.
//!
//! Backward rules run without recording, so these ops are differentiable once (no
//! double backward).
//!
//! # NaN policy
//! A NaN or ±∞ in a set makes that set's mean and variance NaN, so every output of the set
//! (and, for BatchNorm in training, that channel's running statistics) is NaN, as in
//! PyTorch; other sets are unaffected.

use std::ops::Range;

use gradflow_tensor::{PAR_MIN_ELEMS, Tensor, Writer, write_new};
use rayon::prelude::*;

/// Which elements share a mean and variance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grouping {
    /// One set per middle index (BatchNorm's channel), across `outer` and `inner`.
    PerChannel,
    /// One set per (outer, group), each group `mid / groups` consecutive middle indices
    /// times `inner` (GroupNorm; LayerNorm with `groups = 1`).
    PerSample {
        /// Number of groups G (divides `mid`).
        groups: usize,
    },
}

/// The `[outer, mid, inner]` view and the grouping.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub outer: usize,
    pub mid: usize,
    pub inner: usize,
    pub grouping: Grouping,
}

impl Spec {
    /// Number of normalization sets.
    pub fn num_sets(&self) -> usize {
        match self.grouping {
            Grouping::PerChannel => self.mid,
            Grouping::PerSample { groups } => self.outer * groups,
        }
    }

    /// Number of elements in each set.
    pub fn set_len(&self) -> usize {
        match self.grouping {
            Grouping::PerChannel => self.outer * self.inner,
            Grouping::PerSample { groups } => (self.mid / groups) * self.inner,
        }
    }

    /// Division-free form of [`Spec::set_of`] for row walks: set(o, m) = o·stride + table[m].
    fn row_sets(&self) -> (usize, Vec<usize>) {
        match self.grouping {
            Grouping::PerChannel => (0, (0..self.mid).collect()),
            Grouping::PerSample { groups } => {
                let per = (self.mid / groups).max(1);
                (groups, (0..self.mid).map(|m| m / per).collect())
            }
        }
    }

    /// The set that block (o, m) belongs to.
    #[inline(always)]
    fn set_of(&self, o: usize, m: usize) -> usize {
        match self.grouping {
            Grouping::PerChannel => m,
            Grouping::PerSample { groups } => o * groups + m / (self.mid / groups),
        }
    }

    /// Visit every contiguous block of `inner` elements of outer indices `os`, in memory
    /// order, as `f(block_start, set, m)` (`block_start` indexes the whole tensor).
    #[inline(always)]
    fn for_each_block(&self, os: Range<usize>, mut f: impl FnMut(usize, usize, usize)) {
        for o in os {
            for m in 0..self.mid {
                f((o * self.mid + m) * self.inner, self.set_of(o, m), m);
            }
        }
    }

    /// Index of the first element of set `s` (its shift k in the statistics pass).
    fn first_index(&self, s: usize) -> usize {
        match self.grouping {
            Grouping::PerChannel => s * self.inner,
            Grouping::PerSample { groups } => {
                let (o, g) = (s / groups, s % groups);
                (o * self.mid + g * (self.mid / groups)) * self.inner
            }
        }
    }

    /// The sets that outer indices `os` touch: all channels, or the samples' own groups.
    fn sets_of(&self, os: &Range<usize>) -> Range<usize> {
        match self.grouping {
            Grouping::PerChannel => 0..self.mid,
            Grouping::PerSample { groups } => os.start * groups..os.end * groups,
        }
    }

    /// Outer indices per parallel chunk: everything in one chunk below
    /// [`PAR_MIN_ELEMS`] elements, else about four chunks per thread.
    fn outer_per_chunk(&self) -> usize {
        let numel = self.outer * self.mid * self.inner;
        if numel < PAR_MIN_ELEMS || self.outer < 2 {
            return self.outer.max(1);
        }
        let chunks = rayon::current_num_threads().max(1) * 4;
        self.outer.div_ceil(chunks).max(1)
    }

    /// `f` on consecutive ranges of outer indices, in parallel when large; results in order.
    fn map_chunks<R: Send>(&self, f: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
        let per = self.outer_per_chunk();
        let n = self.outer.div_ceil(per);
        let range = |i: usize| i * per..((i + 1) * per).min(self.outer);
        if n <= 1 {
            return (0..n).map(|i| f(range(i))).collect();
        }
        (0..n).into_par_iter().map(|i| f(range(i))).collect()
    }

    /// A new tensor-sized buffer written chunk by chunk without a zero fill:
    /// `f(outer range, writer)` writes that range's elements in memory order.
    fn write_chunks(&self, f: impl Fn(Range<usize>, &mut Writer<'_>) + Sync) -> Vec<f32> {
        let row = self.mid * self.inner;
        let len = self.outer * row;
        if row == 0 {
            return vec![0.0; len];
        }
        write_new(len, self.outer_per_chunk() * row, |range, w| {
            f(range.start / row..range.end / row, w)
        })
    }
}

/// Per-set statistics: the mean and the biased variance, in f64.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

/// Σ(x − k) and Σ(x − k)² over a block in f64, in four independent running sums: one
/// sequential f64 sum is a chain of dependent adds (4 cycles each).
#[inline(always)]
fn shifted_sums(x: &[f32], k: f64) -> (f64, f64) {
    let (mut s1, mut s2) = ([0.0f64; 4], [0.0f64; 4]);
    let (blocks, tail) = x.as_chunks::<4>();
    for b in blocks {
        for l in 0..4 {
            let d = f64::from(b[l]) - k;
            s1[l] += d;
            s2[l] += d * d;
        }
    }
    for (l, &v) in tail.iter().enumerate() {
        let d = f64::from(v) - k;
        s1[l] += d;
        s2[l] += d * d;
    }
    (
        (s1[0] + s1[1]) + (s1[2] + s1[3]),
        (s2[0] + s2[1]) + (s2[2] + s2[3]),
    )
}

/// Σ dy and Σ dy·x̂ over a block in f64 (four running sums each), x̂ = ((x − hi) − lo)·r.
#[inline(always)]
fn grad_sums(x: &[f32], dy: &[f32], (hi, lo): (f32, f32), r: f32) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f64; 4], [0.0f64; 4]);
    let (xb, xt) = x.as_chunks::<4>();
    let (db, dt) = dy[..x.len()].as_chunks::<4>();
    for (xv, dv) in xb.iter().zip(db) {
        for l in 0..4 {
            let xhat = f64::from(((xv[l] - hi) - lo) * r);
            a[l] += f64::from(dv[l]);
            b[l] += f64::from(dv[l]) * xhat;
        }
    }
    for (l, (&xv, &d)) in xt.iter().zip(dt).enumerate() {
        let xhat = f64::from(((xv - hi) - lo) * r);
        a[l] += f64::from(d);
        b[l] += f64::from(d) * xhat;
    }
    ((a[0] + a[1]) + (a[2] + a[3]), (b[0] + b[1]) + (b[2] + b[3]))
}

/// One read pass over `x`: mean and biased variance of every set (shifted-data sums in f64).
pub(crate) fn set_stats(x: &[f32], spec: &Spec) -> Stats {
    let sets = spec.num_sets();
    let n = spec.set_len() as f64;
    let shift: Vec<f64> = (0..sets)
        .map(|s| x.get(spec.first_index(s)).copied().unwrap_or(0.0) as f64)
        .collect();
    // Per chunk: Σ(x − k), Σ(x − k)² over the sets it touches; combined in chunk order.
    let partials = spec.map_chunks(|os| {
        let touched = spec.sets_of(&os);
        let mut s1 = vec![0.0f64; touched.len()];
        let mut s2 = vec![0.0f64; touched.len()];
        if spec.inner == 1 {
            let (stride, table) = spec.row_sets();
            for o in os {
                let row = o * spec.mid;
                for (m, &v) in x[row..row + spec.mid].iter().enumerate() {
                    let s = o * stride + table[m];
                    let d = v as f64 - shift[s];
                    s1[s - touched.start] += d;
                    s2[s - touched.start] += d * d;
                }
            }
            return (touched.start, s1, s2);
        }
        spec.for_each_block(os, |start, s, _| {
            let (a, b) = shifted_sums(&x[start..start + spec.inner], shift[s]);
            s1[s - touched.start] += a;
            s2[s - touched.start] += b;
        });
        (touched.start, s1, s2)
    });
    let mut s1 = vec![0.0f64; sets];
    let mut s2 = vec![0.0f64; sets];
    for (lo, a, b) in partials {
        for (i, (a, b)) in a.into_iter().zip(b).enumerate() {
            s1[lo + i] += a;
            s2[lo + i] += b;
        }
    }
    let mut mean = vec![0.0; sets];
    let mut var = vec![0.0; sets];
    for s in 0..sets {
        let d = s1[s] / n;
        mean[s] = shift[s] + d;
        // Rounding can push E[d²] − E[d]² a hair below zero for constant sets; clamp without
        // `max`, which would turn a NaN (from a NaN or ∞ input) into 0.
        let v = s2[s] / n - d * d;
        var[s] = if v < 0.0 { 0.0 } else { v };
    }
    Stats { mean, var }
}

/// μ as an unevaluated f32 sum hi + lo (hi = μ rounded, lo = the remainder), so that
/// x − μ = (x − hi) − lo keeps the digits a lone f32 μ would drop: when |μ| ≫ σ, the
/// rounding of μ alone (½ulp(μ)) would shift every x̂ of the set by ½ulp(μ)/σ.
fn split(m: f64) -> (f32, f32) {
    let hi = m as f32;
    (hi, (m - hi as f64) as f32)
}

/// What the backward rule needs, captured by value.
struct Saved {
    x: Tensor,
    weight: Option<Tensor>,
    mean: Vec<(f32, f32)>,
    rstd: Vec<f32>,
    spec: Spec,
    /// Statistics were computed from this batch (true) or are constants (false).
    batch_stats: bool,
}

/// y = γₘ·(x − μ_S)·rstd_S + βₘ as a recorded op with the fused backward.
///
/// `x` must have `spec.outer·spec.mid·spec.inner` elements; `weight`/`bias`, when given, have
/// `spec.mid` elements (any shape). `stats` are the per-set mean and biased variance: the
/// batch's own (`batch_stats = true`) or constants such as running statistics.
pub(crate) fn normalize(
    name: &'static str,
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    stats: &Stats,
    eps: f64,
    spec: Spec,
    batch_stats: bool,
) -> Tensor {
    let mean: Vec<(f32, f32)> = stats.mean.iter().map(|&m| split(m)).collect();
    let rstd: Vec<f32> = stats
        .var
        .iter()
        .map(|&v| (1.0 / (v + eps).sqrt()) as f32)
        .collect();
    let gamma = weight.map(|w| w.to_vec());
    let beta = bias.map(|b| b.to_vec());
    let y = x.with_data(|xs| {
        spec.write_chunks(|os, out| {
            if spec.inner == 1 {
                let (stride, table) = spec.row_sets();
                // Features without spatial extent ([N, C] input): one element per block, so
                // walk each row directly instead of one block (and one slice) per element.
                for o in os {
                    let row = o * spec.mid;
                    for (m, &xv) in xs[row..row + spec.mid].iter().enumerate() {
                        let s = o * stride + table[m];
                        let g = gamma.as_ref().map_or(1.0, |g| g[m]);
                        let b = beta.as_ref().map_or(0.0, |b| b[m]);
                        let (hi, lo) = mean[s];
                        out.push(((xv - hi) - lo) * (rstd[s] * g) + b);
                    }
                }
                return;
            }
            spec.for_each_block(os, |start, s, m| {
                let g = gamma.as_ref().map_or(1.0, |g| g[m]);
                let b = beta.as_ref().map_or(0.0, |b| b[m]);
                let ((hi, lo), scale) = (mean[s], rstd[s] * g);
                out.map(&xs[start..start + spec.inner], |xv| {
                    ((xv - hi) - lo) * scale + b
                });
            });
        })
    });
    let mut inputs: Vec<&Tensor> = vec![x];
    inputs.extend(weight);
    inputs.extend(bias);
    let saved = Saved {
        x: x.detach(),
        weight: weight.map(Tensor::detach),
        mean,
        rstd,
        spec,
        batch_stats,
    };
    let has_weight = weight.is_some();
    let bias_shape = bias.map(|b| b.shape().to_vec());
    Tensor::from_vec(y, x.shape()).record(name, &inputs, false, move |ctx| {
        let n_in = 1 + usize::from(has_weight) + usize::from(bias_shape.is_some());
        let need_params = (1..n_in).any(|i| ctx.needs_grad(i));
        let (dx, dgamma, dbeta) =
            backward(&saved, ctx.grad_output(), ctx.needs_grad(0), need_params);
        let mut grads = vec![
            ctx.needs_grad(0)
                .then(|| Tensor::from_vec(dx, saved.x.shape())),
        ];
        if let Some(w) = &saved.weight {
            grads.push(
                ctx.needs_grad(1)
                    .then(|| Tensor::from_vec(dgamma, w.shape())),
            );
        }
        if let Some(shape) = &bias_shape {
            let i = if has_weight { 2 } else { 1 };
            grads.push(ctx.needs_grad(i).then(|| Tensor::from_vec(dbeta, shape)));
        }
        grads
    })
}

/// One chunk's share of the backward sums.
struct Partial {
    /// First set index of `sum_g`/`sum_gx`.
    sets: usize,
    sum_g: Vec<f64>,
    sum_gx: Vec<f64>,
    dgamma: Vec<f64>,
    dbeta: Vec<f64>,
}

/// Fused backward: returns (dx, dγ, dβ) as flat vectors. Pass 1 (set and channel sums) is
/// skipped when nothing needs it (constant statistics and no parameter gradient), pass 2
/// when x needs no gradient; skipped results come back empty.
fn backward(
    sv: &Saved,
    dy: &Tensor,
    need_dx: bool,
    need_params: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let spec = &sv.spec;
    let sets = spec.num_sets();
    let n = spec.set_len() as f64;
    let gamma = sv.weight.as_ref().map(|w| w.to_vec());
    let mut dgamma = vec![0.0f64; spec.mid];
    let mut dbeta = vec![0.0f64; spec.mid];
    let mut sum_g = vec![0.0f64; sets];
    let mut sum_gx = vec![0.0f64; sets];
    let dx = sv.x.with_data(|xs| {
        dy.with_data(|dys| {
            // Pass 1: per-set Σg, Σg·x̂ and per-channel Σdy·x̂, Σdy.
            if need_params || (need_dx && sv.batch_stats) {
                let partials = spec.map_chunks(|os| {
                    let touched = spec.sets_of(&os);
                    let mut p = Partial {
                        sets: touched.start,
                        sum_g: vec![0.0; touched.len()],
                        sum_gx: vec![0.0; touched.len()],
                        dgamma: vec![0.0; spec.mid],
                        dbeta: vec![0.0; spec.mid],
                    };
                    if spec.inner == 1 {
                        let (stride, table) = spec.row_sets();
                        for o in os {
                            let row = o * spec.mid;
                            for m in 0..spec.mid {
                                let (s, i) = (o * stride + table[m], row + m);
                                let g = gamma.as_ref().map_or(1.0, |g| g[m]) as f64;
                                let ((hi, lo), r) = (sv.mean[s], sv.rstd[s]);
                                let xhat = (((xs[i] - hi) - lo) * r) as f64;
                                let (a, b) = (dys[i] as f64, dys[i] as f64 * xhat);
                                p.dbeta[m] += a;
                                p.dgamma[m] += b;
                                p.sum_g[s - touched.start] += g * a;
                                p.sum_gx[s - touched.start] += g * b;
                            }
                        }
                        return p;
                    }
                    spec.for_each_block(os, |start, s, m| {
                        let g = gamma.as_ref().map_or(1.0, |g| g[m]) as f64;
                        let end = start + spec.inner;
                        let (a, b) =
                            grad_sums(&xs[start..end], &dys[start..end], sv.mean[s], sv.rstd[s]);
                        p.dbeta[m] += a;
                        p.dgamma[m] += b;
                        p.sum_g[s - touched.start] += g * a;
                        p.sum_gx[s - touched.start] += g * b;
                    });
                    p
                });
                for p in partials {
                    for i in 0..p.sum_g.len() {
                        sum_g[p.sets + i] += p.sum_g[i];
                        sum_gx[p.sets + i] += p.sum_gx[i];
                    }
                    for m in 0..spec.mid {
                        dgamma[m] += p.dgamma[m];
                        dbeta[m] += p.dbeta[m];
                    }
                }
            }
            // Pass 2: dx.
            if !need_dx {
                return Vec::new();
            }
            // Per-set means of g and g·x̂, once (not once per block).
            let mg: Vec<f32> = sum_g.iter().map(|&a| (a / n) as f32).collect();
            let mgx: Vec<f32> = sum_gx.iter().map(|&a| (a / n) as f32).collect();
            spec.write_chunks(|os, out| {
                if spec.inner == 1 {
                    let (stride, table) = spec.row_sets();
                    for o in os {
                        let row = o * spec.mid;
                        for m in 0..spec.mid {
                            let (s, i) = (o * stride + table[m], row + m);
                            let g = gamma.as_ref().map_or(1.0, |g| g[m]);
                            let ((hi, lo), r) = (sv.mean[s], sv.rstd[s]);
                            out.push(if sv.batch_stats {
                                let xhat = ((xs[i] - hi) - lo) * r;
                                r * (g * dys[i] - mg[s] - xhat * mgx[s])
                            } else {
                                dys[i] * (g * r)
                            });
                        }
                    }
                    return;
                }
                spec.for_each_block(os, |start, s, m| {
                    let g = gamma.as_ref().map_or(1.0, |g| g[m]);
                    let ((hi, lo), r) = (sv.mean[s], sv.rstd[s]);
                    let end = start + spec.inner;
                    if sv.batch_stats {
                        let (mg, mgx) = (mg[s], mgx[s]);
                        out.zip(&xs[start..end], &dys[start..end], |xv, d| {
                            let xhat = ((xv - hi) - lo) * r;
                            r * (g * d - mg - xhat * mgx)
                        });
                    } else {
                        let scale = g * r;
                        out.map(&dys[start..end], |d| d * scale);
                    }
                });
            })
        })
    });
    let to32 = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
    (dx, to32(dgamma), to32(dbeta))
}
