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

use gradflow_tensor::Tensor;

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

/// The forward sweep, on plain values: per step one GEMM gh = h_{t−1}·W_hhᵀ + b_hh (on
/// detached tensors, so nothing is recorded) and one pass of the fused gate kernel.
fn compute(a: &ScanArgs<'_>, d: Dims) -> Forward {
    let Dims {
        kind,
        t_len,
        batch,
        hidden,
        ..
    } = d;
    let lstm = kind.has_cell();
    let gw = kind.gates() * hidden;
    // W_hh as a view of a contiguous copy of W_hhᵀ `[H, G·H]`: the per-step GEMM then reads
    // its right operand row-major, which the GEMM kernel handles 1.75× faster than W_hh's own
    // transposed layout (B = 32, H = 256: 156 vs 275 µs per step on the 2-core machine).
    let w = Tensor::from_vec(a.w_hh.t().to_vec(), &[hidden, gw]).t();
    let b = a.b_hh.map(Tensor::detach);
    let bh = batch * hidden;
    let per_saved = kind.saved() * bh;
    let mut hs = vec![0.0f32; t_len * bh];
    let mut cs = vec![0.0f32; if lstm { t_len * bh } else { 0 }];
    let mut saved = vec![0.0f32; t_len * per_saved];
    let h0v = a.h0.to_vec();
    let c0v = a.c0.map(Tensor::to_vec).unwrap_or_default();
    let mut hp = h0v.clone();
    let mut cp = c0v.clone();
    a.xproj.with_data(|xp| {
        for s in 0..t_len {
            let t = d.order(s);
            let gh = Tensor::from_vec(hp.clone(), &[batch, hidden]).linear(&w, b.as_ref());
            gh.with_data(|ghd| {
                step_forward(
                    kind,
                    hidden,
                    StepIn {
                        gx: &xp[t * batch * gw..(t + 1) * batch * gw],
                        gh: ghd,
                        h_prev: &hp,
                        c_prev: &cp,
                    },
                    &mut hs[t * bh..(t + 1) * bh],
                    if lstm {
                        &mut cs[t * bh..(t + 1) * bh]
                    } else {
                        &mut []
                    },
                    &mut saved[t * per_saved..(t + 1) * per_saved],
                );
            });
            hp.copy_from_slice(&hs[t * bh..(t + 1) * bh]);
            if lstm {
                cp.copy_from_slice(&cs[t * bh..(t + 1) * bh]);
            }
        }
    });
    hs.extend_from_slice(&cs);
    Forward {
        y: hs,
        saved,
        h0: h0v,
        c0: c0v,
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
    let y = Tensor::from_vec(y, &y_shape).record("recurrence", &inputs, true, move |ctx| {
        let (dgx, dgh, dh0, dc0) = ctx.grad_output().with_data(|dy| {
            ctx.output()
                .with_data(|y| backward_through_time(dims, dy, y, &saved, &h0v, &c0v, &w))
        });
        let gx_grad = Tensor::from_vec(dgx, &[t_len, batch, gw]);
        let g_rows = match dgh {
            Some(dgh) => Tensor::from_vec(dgh, &[t_len * batch, gw]),
            // For the Elman RNN and the LSTM, ∂L/∂gh = ∂L/∂gx.
            None => gx_grad.reshape(&[t_len * batch, gw]),
        };
        let mut grads = vec![Some(gx_grad)];
        grads.push(ctx.needs_grad(1).then(|| {
            let prev = previous_states(dims, ctx.output(), &h0v);
            g_rows.t().matmul(&prev)
        }));
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

/// H_prev `[T·B, H]`: row block t holds h_{t−1} of that step (h0 for the first processed step).
fn previous_states(d: Dims, y: &Tensor, h0: &[f32]) -> Tensor {
    let bh = d.batch * d.hidden;
    let mut prev = vec![0.0f32; d.t_len * bh];
    y.with_data(|y| {
        for s in 0..d.t_len {
            let t = d.order(s);
            let src = if s == 0 {
                h0
            } else {
                let p = d.order(s - 1);
                &y[p * bh..(p + 1) * bh]
            };
            prev[t * bh..(t + 1) * bh].copy_from_slice(src);
        }
    });
    Tensor::from_vec(prev, &[d.t_len * d.batch, d.hidden])
}

type BpttGrads = (Vec<f32>, Option<Vec<f32>>, Vec<f32>, Vec<f32>);

/// The reverse sweep: per step the gate kernel's backward and one GEMM (∂L/∂gh_t)·W_hh.
/// Returns ∂L/∂gx `[T, B, G·H]`, ∂L/∂gh (GRU only), ∂L/∂h0 and ∂L/∂c0.
fn backward_through_time(
    d: Dims,
    dy: &[f32],
    y: &[f32],
    saved: &[f32],
    h0: &[f32],
    c0: &[f32],
    w: &Tensor,
) -> BpttGrads {
    let (kind, hidden) = (d.kind, d.hidden);
    let bh = d.batch * hidden;
    let gw = kind.gates() * hidden;
    let per_saved = kind.saved() * bh;
    let lstm = kind.has_cell();
    let gru = kind == CellKind::Gru;
    let (hs, cs) = y.split_at(d.t_len * bh);
    let (dys_h, dys_c) = dy.split_at(d.t_len * bh);
    let mut dgx = vec![0.0f32; d.t_len * d.batch * gw];
    let mut dgh = vec![0.0f32; if gru { dgx.len() } else { 0 }];
    let mut dh_next = vec![0.0f32; bh];
    let mut dc = vec![0.0f32; if lstm { bh } else { 0 }];
    let mut dh = vec![0.0f32; bh];
    let mut dh_direct = vec![0.0f32; if gru { bh } else { 0 }];
    for s in (0..d.t_len).rev() {
        let t = d.order(s);
        let cur = t * bh..(t + 1) * bh;
        let (h_prev, c_prev) = if s == 0 {
            (h0, c0)
        } else {
            let p = d.order(s - 1) * bh..(d.order(s - 1) + 1) * bh;
            (&hs[p.clone()], if lstm { &cs[p] } else { &[][..] })
        };
        for ((a, &b), &c) in dh.iter_mut().zip(&dys_h[cur.clone()]).zip(&dh_next) {
            *a = b + c;
        }
        flush_tiny(&mut dh);
        if lstm {
            for (a, &b) in dc.iter_mut().zip(&dys_c[cur.clone()]) {
                *a += b;
            }
            flush_tiny(&mut dc);
        }
        let grange = t * d.batch * gw..(t + 1) * d.batch * gw;
        step_backward(
            kind,
            hidden,
            StepGrad {
                dh: &dh,
                h: &hs[cur.clone()],
                c: if lstm { &cs[cur] } else { &[] },
                h_prev,
                c_prev,
                saved: &saved[t * per_saved..(t + 1) * per_saved],
            },
            &mut dc,
            &mut dgx[grange.clone()],
            if gru {
                &mut dgh[grange.clone()]
            } else {
                &mut []
            },
            &mut dh_direct,
        );
        flush_tiny(&mut dgx[grange.clone()]);
        if gru {
            flush_tiny(&mut dgh[grange.clone()]);
        }
        let g_t = if gru { &dgh[grange] } else { &dgx[grange] };
        let through_w = Tensor::from_vec(g_t.to_vec(), &[d.batch, gw]).matmul(w);
        through_w.with_data(|tw| dh_next.copy_from_slice(tw));
        if gru {
            for (a, &b) in dh_next.iter_mut().zip(&dh_direct) {
                *a += b;
            }
        }
    }
    (dgx, gru.then_some(dgh), dh_next, dc)
}

/// Magnitude below which a gradient in the reverse sweep is set to 0.
///
/// A vanishing gradient shrinks geometrically step after step and, left alone, enters the
/// subnormal range (|g| < 1.2·10⁻³⁸), where x86 floating-point arithmetic takes microcode
/// assists: forward + backward of the adding-problem LSTM (gradient entering at the last of
/// 200 steps) took 1.4–2.1 s instead of 0.12–0.24 s on the shared 2-core machine. Flushing at 10⁻³⁰, far below anything that could move an
/// f32 weight, keeps every operand of the per-step GEMM normal; larger values are untouched.
const FLUSH_BELOW: f32 = 1e-30;

fn flush_tiny(v: &mut [f32]) {
    for x in v.iter_mut() {
        if x.abs() < FLUSH_BELOW {
            *x = 0.0;
        }
    }
}
