//! One layer, one direction, over a whole sequence: the fused recurrence and its hand-written
//! backpropagation through time.
//!
//! Forward, with the input projection gx_t = W_ih·x_t + b_ih of every step already computed
//! by one GEMM over all T·B rows, each step costs one GEMM gh = h_{t−1}·W_hhᵀ + b_hh and one
//! pass of the fused gate kernel ([`crate::gates`]). The whole scan is recorded as a single
//! graph node.
//!
//! Backward walks the steps in reverse: with δ_t = ∂L/∂h_t (from the output and from step
//! t + 1), the gate kernel gives ∂L/∂gh_t, and
//!
//! ∂L/∂h_{t−1} = (∂L/∂gh_t)·W_hh (+ the GRU's direct z ⊙ δ_t), i.e. ∂h_t/∂h_{t−1} = W_hhᵀ·diag(φ′).
//!
//! The weight gradient is then one GEMM over all steps at once,
//! ∂L/∂W_hh = Σ_t (∂L/∂gh_t)ᵀ·h_{t−1} = Gᵀ·H_prev with G `[T·B, G·H]`, and ∂L/∂b_hh = Σ rows G;
//! ∂L/∂gx (all steps) flows on to the input GEMM's own backward.

use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use gradflow_tensor::{MatRef, Tensor, gemm_into};
use rayon::prelude::*;

use crate::gates::{CellKind, StepGrad, StepIn, step_backward, step_forward};

/// What a recurrence returns: the output sequence and the final state.
#[derive(Clone, Debug)]
pub struct Recurrence {
    /// h_t for every step, `[T, B, H]`, in time order (also for a reverse scan).
    pub output: Tensor,
    /// The state after the last processed step, `[B, H]` (for a reverse scan: after t = 0).
    pub h_n: Tensor,
    /// The LSTM's final cell, `[B, H]`; `None` for the other kinds.
    pub c_n: Option<Tensor>,
}

#[track_caller]
fn shape_error(what: &str, got: &[usize], want: &[usize], kind: CellKind) -> ! {
    panic!(
        "{} recurrence: {what} has shape {got:?}, expected {want:?}",
        kind.name()
    )
}

/// One recurrence to run: `xproj` `[T, B, G·H]` (input projections, b_ih included), the
/// recurrent weights and the initial state.
#[derive(Clone, Copy)]
pub(crate) struct ScanArgs<'a> {
    pub kind: CellKind,
    pub xproj: &'a Tensor,
    pub w_hh: &'a Tensor,
    pub b_hh: Option<&'a Tensor>,
    pub h0: &'a Tensor,
    pub c0: Option<&'a Tensor>,
    pub reverse: bool,
}

/// Run one recurrence and record it as one graph node.
#[track_caller]
pub(crate) fn scan(a: ScanArgs<'_>) -> Recurrence {
    let d = check(&a);
    if d.t_len == 0 {
        return empty(&a, d);
    }
    let f = compute(&a, d);
    finish(a, d, f)
}

/// Check the shapes (panicking with a message that names them) and return the sizes.
#[track_caller]
fn check(a: &ScanArgs<'_>) -> Dims {
    let ScanArgs {
        kind,
        xproj,
        w_hh,
        b_hh,
        h0,
        c0,
        reverse,
    } = *a;
    let xs = xproj.shape().to_vec();
    if w_hh.rank() != 2 {
        shape_error("weight_hh", w_hh.shape(), &[kind.gates(), 0], kind);
    }
    let hidden = w_hh.shape()[1];
    let gw = kind.gates() * hidden;
    if w_hh.shape()[0] != gw {
        shape_error("weight_hh", w_hh.shape(), &[gw, hidden], kind);
    }
    if xs.len() != 3 || xs[2] != gw {
        shape_error(
            "input projection",
            &xs,
            &[xs.first().copied().unwrap_or(0), 0, gw],
            kind,
        );
    }
    let (t_len, batch) = (xs[0], xs[1]);
    if h0.shape() != [batch, hidden] {
        shape_error("h0", h0.shape(), &[batch, hidden], kind);
    }
    if let Some(b) = b_hh
        && b.shape() != [gw]
    {
        shape_error("bias_hh", b.shape(), &[gw], kind);
    }
    match (kind.has_cell(), c0) {
        (true, Some(c)) if c.shape() != [batch, hidden] => {
            shape_error("c0", c.shape(), &[batch, hidden], kind)
        }
        (true, None) => panic!("LSTM recurrence: the initial cell state c0 is missing"),
        (false, Some(_)) => panic!("{} recurrence: only the LSTM has a cell state", kind.name()),
        _ => {}
    }
    Dims {
        kind,
        t_len,
        batch,
        hidden,
        reverse,
    }
}

/// T = 0: no step runs; the final state is the initial one.
fn empty(a: &ScanArgs<'_>, d: Dims) -> Recurrence {
    Recurrence {
        output: Tensor::zeros(&[0, d.batch, d.hidden]),
        h_n: a.h0.clone(),
        c_n: a.c0.cloned(),
    }
}

/// What the forward sweep produced: all h_t (then all c_t for the LSTM), the saved gate
/// activations, and the initial state as plain values.
struct Forward {
    y: Vec<f32>,
    saved: Vec<f32>,
    h0: Vec<f32>,
    c0: Vec<f32>,
}

/// The batch rows of one parallel task, and how to find them in a `[T, B, width]` buffer.
///
/// # Parallel over the batch
///
/// The B sequences of a batch never interact inside a recurrence: row b of h_t depends on
/// row b of h_{t−1} and gx_t only. The scan therefore splits the batch into one chunk of
/// rows per rayon thread and runs each chunk's whole sweep, forward or backward, as one task
/// with no synchronisation between steps. Each step's GEMM is then a single-threaded
/// `[rows, H]·[H, G·H]` product, and the gate kernels, copies and flushes of both chunks run
/// at once. Splitting each step's GEMM across the cores instead (what a per-step matmul on two
/// threads does) pays a wake-up per step and leaves the gate kernel on one core: 200 steps of
/// the char-LM's 2-layer LSTM are 400 joins forward and 400 backward.
///
/// Every row's arithmetic is the same whatever the chunking, so results do not depend on the
/// thread count (test `chunked_scan_is_bit_identical_to_one_chunk`).
#[derive(Clone, Debug)]
struct Chunk {
    rows: Range<usize>,
}

impl Chunk {
    /// Rows `[start, end)` of step `t` in a `[T, batch, width]` buffer.
    fn at(&self, t: usize, batch: usize, width: usize) -> Range<usize> {
        (t * batch + self.rows.start) * width..(t * batch + self.rows.end) * width
    }

    /// Rows `[start, end)` of a `[batch, width]` buffer.
    fn of(&self, width: usize) -> Range<usize> {
        self.rows.start * width..self.rows.end * width
    }
}

/// Fewest rows a chunk gets: below this a chunk's per-step GEMM is too thin to keep a core's
/// microkernel busy (its register tile covers 6 rows) and the batch stays whole.
const MIN_CHUNK_ROWS: usize = 4;

/// Split `batch` rows into at most `parts` contiguous chunks of near-equal size.
fn chunks(batch: usize, parts: usize) -> Vec<Chunk> {
    let n = parts.min(batch / MIN_CHUNK_ROWS).max(1);
    (0..n)
        .map(|i| Chunk {
            rows: batch * i / n..batch * (i + 1) / n,
        })
        .collect()
}

/// Per chunk, its `[rows, width]` slice of every step of a `[T, batch, width]` buffer: the
/// disjoint mutable views that let the chunks write one shared buffer in parallel, without
/// `unsafe`. A buffer of width 0 (the cell of a kind without one) gives empty slices.
fn split_steps<'a>(
    buf: &'a mut [f32],
    t_len: usize,
    batch: usize,
    width: usize,
    parts: &[Chunk],
) -> Vec<Vec<&'a mut [f32]>> {
    let mut out: Vec<Vec<&'a mut [f32]>> =
        parts.iter().map(|_| Vec::with_capacity(t_len)).collect();
    if width == 0 || batch == 0 {
        for v in &mut out {
            v.resize_with(t_len, Default::default);
        }
        return out;
    }
    for step in buf.chunks_exact_mut(batch * width) {
        let mut rest = step;
        for (v, c) in out.iter_mut().zip(parts) {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(c.rows.len() * width);
            v.push(head);
            rest = tail;
        }
    }
    out
}

/// The forward sweep, on plain values, one task per chunk of batch rows (see [`Chunk`]):
/// per step one GEMM gh = h_{t−1}·W_hhᵀ + b_hh and one pass of the fused gate kernel.
fn compute(a: &ScanArgs<'_>, d: Dims) -> Forward {
    compute_chunked(a, d, rayon::current_num_threads())
}

fn compute_chunked(a: &ScanArgs<'_>, d: Dims, parts: usize) -> Forward {
    let Dims {
        kind,
        t_len,
        batch,
        hidden,
        ..
    } = d;
    let lstm = kind.has_cell();
    // A contiguous copy of W_hhᵀ `[H, G·H]`: the per-step GEMM then reads its right operand
    // row-major, which the GEMM kernel handles 1.75× faster than W_hh's own transposed layout
    // (B = 32, H = 256: 156 vs 275 µs per step on the 2-core machine).
    let wt = a.w_hh.t().to_vec();
    let bias = a.b_hh.map(Tensor::to_vec);
    let bh = batch * hidden;
    let per_saved = kind.saved() * hidden;
    // h of every step, then (LSTM) c of every step: the layout of the op's output.
    let mut y = vec![0.0f32; if lstm { 2 } else { 1 } * t_len * bh];
    let (hs, cs) = y.split_at_mut(t_len * bh);
    let mut saved = vec![0.0f32; t_len * batch * per_saved];
    let h0v = a.h0.to_vec();
    let c0v = a.c0.map(Tensor::to_vec).unwrap_or_default();
    let parts = chunks(batch, parts);
    let h_parts = split_steps(hs, t_len, batch, hidden, &parts);
    let c_parts = split_steps(cs, t_len, batch, if lstm { hidden } else { 0 }, &parts);
    let s_parts = split_steps(&mut saved, t_len, batch, per_saved, &parts);
    a.xproj.with_data(|xp| {
        let sweep = ForwardSweep {
            d,
            xp,
            wt: &wt,
            bias: bias.as_deref(),
            h0: &h0v,
            c0: &c0v,
        };
        let tasks: Vec<_> = parts
            .iter()
            .zip(h_parts)
            .zip(c_parts)
            .zip(s_parts)
            .map(|(((c, h), cc), s)| (c, h, cc, s))
            .collect();
        tasks
            .into_par_iter()
            .for_each(|(c, h, cc, s)| sweep.run(c, h, cc, s));
    });
    Forward {
        y,
        saved,
        h0: h0v,
        c0: c0v,
    }
}

/// What every chunk of the forward sweep reads.
struct ForwardSweep<'a> {
    d: Dims,
    /// The input projections `[T, B, G·H]`.
    xp: &'a [f32],
    /// W_hhᵀ `[H, G·H]`, row-major.
    wt: &'a [f32],
    bias: Option<&'a [f32]>,
    h0: &'a [f32],
    c0: &'a [f32],
}

impl ForwardSweep<'_> {
    /// One chunk's whole sweep, writing its rows of h_t, c_t and the saved activations.
    fn run(
        &self,
        chunk: &Chunk,
        mut hs: Vec<&mut [f32]>,
        mut cs: Vec<&mut [f32]>,
        mut saved: Vec<&mut [f32]>,
    ) {
        let Dims {
            kind,
            t_len,
            batch,
            hidden,
            ..
        } = self.d;
        let lstm = kind.has_cell();
        let gw = kind.gates() * hidden;
        let rows = chunk.rows.len();
        let mut gh = vec![0.0f32; rows * gw];
        let mut hp = self.h0[chunk.of(hidden)].to_vec();
        let mut cp = if lstm {
            self.c0[chunk.of(hidden)].to_vec()
        } else {
            Vec::new()
        };
        for s in 0..t_len {
            let t = self.d.order(s);
            // gh = b_hh + h_{t−1}·W_hhᵀ: the bias rows first, then the product added to them
            // (the order `linear` uses, so results match the per-layer op bit for bit).
            if let Some(b) = self.bias {
                for row in gh.chunks_exact_mut(gw) {
                    row.copy_from_slice(b);
                }
            }
            gemm_into(
                &mut gh,
                rows,
                gw,
                hidden,
                MatRef::row_major(&hp, hidden),
                MatRef::row_major(self.wt, gw),
                self.bias.is_some(),
                1,
            );
            step_forward(
                kind,
                hidden,
                StepIn {
                    gx: &self.xp[chunk.at(t, batch, gw)],
                    gh: &gh,
                    h_prev: &hp,
                    c_prev: &cp,
                },
                &mut *hs[t],
                &mut *cs[t],
                &mut *saved[t],
            );
            hp.copy_from_slice(&*hs[t]);
            if lstm {
                cp.copy_from_slice(&*cs[t]);
            }
        }
    }
}

/// Wrap the sweep's values in one output tensor and record its hand-written backward.
fn finish(a: ScanArgs<'_>, dims: Dims, f: Forward) -> Recurrence {
    let ScanArgs {
        kind,
        xproj,
        w_hh,
        b_hh,
        h0,
        c0,
        ..
    } = a;
    let Dims {
        t_len,
        batch,
        hidden,
        ..
    } = dims;
    let lstm = kind.has_cell();
    let gw = kind.gates() * hidden;
    // One output tensor holds everything: [2, T, B, H] (h then c) for the LSTM, else [T, B, H].
    let y_shape = if lstm {
        vec![2, t_len, batch, hidden]
    } else {
        vec![t_len, batch, hidden]
    };
    let Forward {
        y,
        saved,
        h0: h0v,
        c0: c0v,
    } = f;
    let w = w_hh.detach();
    let mut inputs: Vec<&Tensor> = vec![xproj, w_hh, h0];
    inputs.extend(c0);
    inputs.extend(b_hh);
    let has_bias = b_hh.is_some();
    // The backward runs once (the graph is released after it), and takes the saved gates:
    // the LSTM's reverse sweep turns them into ∂L/∂gx in place.
    let saved = Mutex::new(saved);
    let y = Tensor::from_vec(y, &y_shape).record("recurrence", &inputs, true, move |ctx| {
        let saved = std::mem::take(&mut *saved.lock().unwrap_or_else(PoisonError::into_inner));
        let (dgx, dgh, dh0, dc0) = ctx.grad_output().with_data(|dy| {
            ctx.output()
                .with_data(|y| backward_through_time(dims, dy, y, saved, &h0v, &c0v, &w))
        });
        let dw = ctx.needs_grad(1).then(|| {
            let g = dgh.as_deref().unwrap_or(&dgx);
            let dw = ctx.output().with_data(|y| weight_grad(dims, g, y, &h0v));
            Tensor::from_vec(dw, &[gw, hidden])
        });
        let gx_grad = Tensor::from_vec(dgx, &[t_len, batch, gw]);
        let g_rows = match dgh {
            Some(dgh) => Tensor::from_vec(dgh, &[t_len * batch, gw]),
            // For the Elman RNN and the LSTM, ∂L/∂gh = ∂L/∂gx.
            None => gx_grad.reshape(&[t_len * batch, gw]),
        };
        let mut grads = vec![Some(gx_grad)];
        grads.push(dw);
        grads.push(Some(Tensor::from_vec(dh0, &[batch, hidden])));
        if lstm {
            grads.push(Some(Tensor::from_vec(dc0, &[batch, hidden])));
        }
        if has_bias {
            let i = grads.len();
            grads.push(ctx.needs_grad(i).then(|| g_rows.sum(&[0], false)));
        }
        grads
    });
    let last = dims.order(t_len - 1);
    if lstm {
        let (h_seq, c_seq) = (y.select(0, 0), y.select(0, 1));
        Recurrence {
            h_n: h_seq.select(0, last),
            c_n: Some(c_seq.select(0, last)),
            output: h_seq,
        }
    } else {
        Recurrence {
            h_n: y.select(0, last),
            c_n: None,
            output: y,
        }
    }
}

#[derive(Clone, Copy)]
struct Dims {
    kind: CellKind,
    t_len: usize,
    batch: usize,
    hidden: usize,
    reverse: bool,
}

impl Dims {
    fn order(&self, s: usize) -> usize {
        if self.reverse { self.t_len - 1 - s } else { s }
    }
}

/// ∂L/∂W_hh = Σ_t (∂L/∂gh_t)ᵀ·h_{t−1} `[G·H, H]`, read straight from the sweep's output
/// `y` (h of every step first) instead of a copy of the previous states: the first
/// processed step pairs with h0; for a forward scan steps 1..T pair with the outputs of steps
/// 0..T−1, one GEMM over (T−1)·B rows (for a reverse scan, steps 0..T−1 with outputs 1..T).
fn weight_grad(d: Dims, g: &[f32], y: &[f32], h0: &[f32]) -> Vec<f32> {
    let (batch, hidden) = (d.batch, d.hidden);
    let gw = d.kind.gates() * hidden;
    let threads = rayon::current_num_threads();
    // Gᵀ restricted to the rows of steps from `step` on: `[G·H, rows]`.
    let g_t = |step: usize| MatRef {
        data: g,
        offset: step * batch * gw,
        rs: 1,
        cs: gw,
    };
    let mut dw = vec![0.0f32; gw * hidden];
    let first = d.order(0);
    gemm_into(
        &mut dw,
        gw,
        hidden,
        batch,
        g_t(first),
        MatRef::row_major(h0, hidden),
        false,
        threads,
    );
    if d.t_len > 1 {
        let (g_step, y_step) = if d.reverse { (0, 1) } else { (1, 0) };
        gemm_into(
            &mut dw,
            gw,
            hidden,
            (d.t_len - 1) * batch,
            g_t(g_step),
            MatRef {
                data: y,
                offset: y_step * batch * hidden,
                rs: hidden,
                cs: 1,
            },
            true,
            threads,
        );
    }
    dw
}

type BpttGrads = (Vec<f32>, Option<Vec<f32>>, Vec<f32>, Vec<f32>);

/// The reverse sweep, one task per chunk of batch rows (see [`Chunk`]): per step the gate
/// kernel's backward and one GEMM (∂L/∂gh_t)·W_hh. Returns ∂L/∂gx `[T, B, G·H]`, ∂L/∂gh (GRU
/// only), ∂L/∂h0 and ∂L/∂c0. The LSTM's ∂L/∂gx is written over `saved` (the same
/// `[T, B, 4·H]` layout, i, f, g, o), which saves a zero-filled buffer and a write stream.
fn backward_through_time(
    d: Dims,
    dy: &[f32],
    y: &[f32],
    saved: Vec<f32>,
    h0: &[f32],
    c0: &[f32],
    w: &Tensor,
) -> BpttGrads {
    backward_chunked(d, dy, y, saved, h0, c0, w, rayon::current_num_threads())
}

fn backward_chunked(
    d: Dims,
    dy: &[f32],
    y: &[f32],
    saved: Vec<f32>,
    h0: &[f32],
    c0: &[f32],
    w: &Tensor,
    parts: usize,
) -> BpttGrads {
    let (kind, hidden) = (d.kind, d.hidden);
    let bh = d.batch * hidden;
    let gw = kind.gates() * hidden;
    let gru = kind == CellKind::Gru;
    let (hs, cs) = y.split_at(d.t_len * bh);
    let (dys_h, dys_c) = dy.split_at(d.t_len * bh);
    let (mut dgx, saved) = if kind == CellKind::Lstm {
        assert_eq!(
            saved.len(),
            d.t_len * d.batch * gw,
            "recurrence backward: the saved gates are gone (a second backward through one graph?)"
        );
        (saved, Vec::new())
    } else {
        (vec![0.0f32; d.t_len * d.batch * gw], saved)
    };
    let mut dgh = vec![0.0f32; if gru { dgx.len() } else { 0 }];
    let parts = chunks(d.batch, parts);
    let gx_parts = split_steps(&mut dgx, d.t_len, d.batch, gw, &parts);
    let gh_parts = split_steps(&mut dgh, d.t_len, d.batch, if gru { gw } else { 0 }, &parts);
    // W_hh `[G·H, H]` (detached, contiguous): the right operand of every step's
    // (∂L/∂gh_t)·W_hh, read in place.
    let tasks: Vec<_> = parts.iter().zip(gx_parts).zip(gh_parts).collect();
    let states: Vec<(Vec<f32>, Vec<f32>)> = w.with_data(|wv| {
        let sweep = BackwardSweep {
            d,
            dys_h,
            dys_c,
            hs,
            cs,
            saved: &saved,
            h0,
            c0,
            w: wv,
        };
        tasks
            .into_par_iter()
            .map(|((c, gx), gh)| sweep.run(c, gx, gh))
            .collect()
    });
    // The chunks are consecutive rows, so ∂L/∂h0 and ∂L/∂c0 are their parts in order.
    let (dh0, dc0) =
        states
            .into_iter()
            .fold((Vec::new(), Vec::new()), |(mut h, mut c), (ph, pc)| {
                h.extend(ph);
                c.extend(pc);
                (h, c)
            });
    (dgx, gru.then_some(dgh), dh0, dc0)
}

/// What every chunk of the reverse sweep reads: the output gradient and output (h then c),
/// the saved activations (empty for the LSTM, whose saved gates are in ∂L/∂gx), the initial
/// state and W_hh.
struct BackwardSweep<'a> {
    d: Dims,
    dys_h: &'a [f32],
    dys_c: &'a [f32],
    hs: &'a [f32],
    cs: &'a [f32],
    saved: &'a [f32],
    h0: &'a [f32],
    c0: &'a [f32],
    /// W_hh `[G·H, H]`, row-major.
    w: &'a [f32],
}

impl BackwardSweep<'_> {
    /// One chunk's reverse sweep: writes its rows of ∂L/∂gx (and ∂L/∂gh) and returns its rows
    /// of ∂L/∂h0 and ∂L/∂c0.
    fn run(
        &self,
        chunk: &Chunk,
        mut dgx: Vec<&mut [f32]>,
        mut dgh: Vec<&mut [f32]>,
    ) -> (Vec<f32>, Vec<f32>) {
        let d = self.d;
        let (kind, hidden, batch) = (d.kind, d.hidden, d.batch);
        let gw = kind.gates() * hidden;
        let per_saved = kind.saved() * hidden;
        let lstm = kind.has_cell();
        let gru = kind == CellKind::Gru;
        let rows = chunk.rows.len();
        let mut dh_next = vec![0.0f32; rows * hidden];
        let mut dc = vec![0.0f32; if lstm { rows * hidden } else { 0 }];
        let mut dh = vec![0.0f32; rows * hidden];
        let mut dh_direct = vec![0.0f32; if gru { rows * hidden } else { 0 }];
        for s in (0..d.t_len).rev() {
            let t = d.order(s);
            let cur = chunk.at(t, batch, hidden);
            let (h_prev, c_prev) = if s == 0 {
                (
                    &self.h0[chunk.of(hidden)],
                    if lstm {
                        &self.c0[chunk.of(hidden)]
                    } else {
                        &[][..]
                    },
                )
            } else {
                let p = chunk.at(d.order(s - 1), batch, hidden);
                (
                    &self.hs[p.clone()],
                    if lstm { &self.cs[p] } else { &[][..] },
                )
            };
            for ((a, &b), &c) in dh.iter_mut().zip(&self.dys_h[cur.clone()]).zip(&dh_next) {
                *a = b + c;
            }
            flush_tiny(&mut dh);
            if lstm {
                for (a, &b) in dc.iter_mut().zip(&self.dys_c[cur.clone()]) {
                    *a += b;
                }
                flush_tiny(&mut dc);
            }
            step_backward(
                kind,
                hidden,
                StepGrad {
                    dh: &dh,
                    h: &self.hs[cur.clone()],
                    c: if lstm { &self.cs[cur] } else { &[] },
                    h_prev,
                    c_prev,
                    // The LSTM's saved gates are already in dgx[t] (in place).
                    saved: if lstm {
                        &[]
                    } else {
                        &self.saved[chunk.at(t, batch, per_saved)]
                    },
                },
                &mut dc,
                &mut *dgx[t],
                &mut *dgh[t],
                &mut dh_direct,
            );
            flush_tiny(&mut *dgx[t]);
            if gru {
                flush_tiny(&mut *dgh[t]);
            }
            let g_t: &[f32] = if gru { &*dgh[t] } else { &*dgx[t] };
            gemm_into(
                &mut dh_next,
                rows,
                hidden,
                gw,
                MatRef::row_major(g_t, gw),
                MatRef::row_major(self.w, hidden),
                false,
                1,
            );
            if gru {
                for (a, &b) in dh_next.iter_mut().zip(&dh_direct) {
                    *a += b;
                }
            }
        }
        (dh_next, dc)
    }
}

/// Magnitude below which a gradient in the reverse sweep is set to 0.
///
/// A vanishing gradient shrinks geometrically step after step and, left alone, enters the
/// subnormal range (|g| < 1.2·10⁻³⁸), where x86 floating-point arithmetic takes microcode
/// assists: forward + backward of the adding-problem LSTM (gradient entering at the last of
/// 200 steps) took 1.4–2.1 s instead of 0.12–0.24 s on the shared 2-core machine. Flushing at 10⁻³⁰, far below anything that could move an
/// f32 weight, keeps every operand of the per-step GEMM normal; larger values are untouched.
const FLUSH_BELOW: f32 = 1e-30;

/// Sets every element with |x| < [`FLUSH_BELOW`] to +0 (NaN and larger values stay).
///
/// Branch-free: the element is and-ed with an all-ones or all-zeros mask and always stored,
/// so the loop vectorizes. Written as `if x.abs() < FLUSH_BELOW { *x = 0.0 }` it compiled to a
/// compare and branch per element and took 4.9 % of the adding-problem step.
fn flush_tiny(v: &mut [f32]) {
    for x in v.iter_mut() {
        // 1 − 1 = 0 clears a tiny element; 0 − 1 = all ones keeps the rest (NaN included).
        let keep = u32::from(x.abs() < FLUSH_BELOW).wrapping_sub(1);
        *x = f32::from_bits(x.to_bits() & keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    /// The mask form flushes exactly the elements the plain `if` would, to the same +0, and
    /// keeps every other element's bits: NaN, ±∞, −0's neighbours, the threshold itself.
    #[test]
    fn flush_tiny_matches_the_branchy_rule() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut v: Vec<f32> = vec![
            1e-31,
            -1e-31,
            FLUSH_BELOW,
            -FLUSH_BELOW,
            2e-30,
            0.5,
            -0.0,
            f32::MIN_POSITIVE / 4.0,
            f32::NAN,
            f32::NEG_INFINITY,
            f32::INFINITY,
        ];
        // Random magnitudes from 10⁻⁴⁵ to 10, both signs, spanning the threshold.
        v.extend((0..997).map(|_| {
            let m = 10f32.powf(rng.random_range(-45.0..1.0));
            if rng.random_range(0..2u32) == 0 {
                m
            } else {
                -m
            }
        }));
        let want: Vec<u32> = v
            .iter()
            .map(|&x| if x.abs() < FLUSH_BELOW { 0.0f32 } else { x }.to_bits())
            .collect();
        flush_tiny(&mut v);
        let got: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        assert_eq!(got, want);
        // The random values land on both sides of the threshold.
        assert!(v.contains(&0.0) && v.iter().any(|&x| x != 0.0 && x.abs() < 1e-20));
    }

    fn random(rng: &mut StdRng, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_vec((0..n).map(|_| rng.random_range(-1.0..1.0)).collect(), shape)
    }

    /// Splitting the batch into chunks changes who computes a row, never how: forward values
    /// and every gradient are bit-identical for 1, 2 and 3 chunks, for all four kinds and both
    /// directions; at 13 rows (uneven chunks) and at the char-LM's size (32 rows, H = 256,
    /// where the GEMM kernel's cache blocking is in play).
    #[test]
    fn chunked_scan_is_bit_identical_to_one_chunk() {
        let mut rng = StdRng::seed_from_u64(7);
        let small = [
            CellKind::RnnTanh,
            CellKind::RnnRelu,
            CellKind::Lstm,
            CellKind::Gru,
        ]
        .map(|k| (k, 7, 13, 9));
        let large = [(CellKind::Lstm, 3, 32, 256), (CellKind::Gru, 2, 32, 256)];
        for (kind, t_len, batch, hidden) in small.into_iter().chain(large) {
            for reverse in [false, true] {
                let gw = kind.gates() * hidden;
                let xproj = random(&mut rng, &[t_len, batch, gw]);
                let w_hh = random(&mut rng, &[gw, hidden]);
                let b_hh = random(&mut rng, &[gw]);
                let h0 = random(&mut rng, &[batch, hidden]);
                let c0 = random(&mut rng, &[batch, hidden]);
                let a = ScanArgs {
                    kind,
                    xproj: &xproj,
                    w_hh: &w_hh,
                    b_hh: Some(&b_hh),
                    h0: &h0,
                    c0: kind.has_cell().then_some(&c0),
                    reverse,
                };
                let d = check(&a);
                let one = compute_chunked(&a, d, 1);
                let dy: Vec<f32> = (0..one.y.len())
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect();
                let back = |parts| {
                    backward_chunked(
                        d,
                        &dy,
                        &one.y,
                        one.saved.clone(),
                        &one.h0,
                        &one.c0,
                        &w_hh,
                        parts,
                    )
                };
                let b1 = back(1);
                for parts in [2, 3] {
                    let many = compute_chunked(&a, d, parts);
                    assert_eq!(chunks(batch, parts).len(), parts);
                    let same = |x: &[f32], y: &[f32]| {
                        x.len() == y.len()
                            && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
                    };
                    assert!(same(&one.y, &many.y), "{kind:?} forward, {parts} chunks");
                    assert!(
                        same(&one.saved, &many.saved),
                        "{kind:?} saved, {parts} chunks"
                    );
                    let bn = back(parts);
                    assert!(same(&b1.0, &bn.0), "{kind:?} ∂gx, {parts} chunks");
                    assert_eq!(b1.1.is_some(), bn.1.is_some());
                    if let (Some(p), Some(q)) = (&b1.1, &bn.1) {
                        assert!(same(p, q), "{kind:?} ∂gh, {parts} chunks");
                    }
                    assert!(same(&b1.2, &bn.2), "{kind:?} ∂h0, {parts} chunks");
                    assert!(same(&b1.3, &bn.3), "{kind:?} ∂c0, {parts} chunks");
                }
            }
        }
    }

    #[test]
    fn chunks_cover_the_batch_in_order() {
        for batch in 0..40 {
            for parts in 1..5 {
                let c = chunks(batch, parts);
                assert_eq!(c[0].rows.start, 0);
                assert_eq!(c[c.len() - 1].rows.end, batch);
                assert!(c.windows(2).all(|w| w[0].rows.end == w[1].rows.start));
                assert!(c.len() == 1 || c.iter().all(|c| c.rows.len() >= MIN_CHUNK_ROWS));
            }
        }
    }
}
