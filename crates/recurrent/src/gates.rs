//! The fused gate kernels: everything a time step computes between its two GEMMs.
//!
//! A step receives the input projection gx = W_ih·x_t + b_ih and the recurrent projection
//! gh = W_hh·h_{t−1} + b_hh, both `[batch, G·H]` with the G gate blocks side by side in
//! PyTorch's order, and turns them into the new state in one pass over memory. Backward is
//! written by hand next to forward: one pass that maps ∂L/∂h_t (and ∂L/∂c_t) to ∂L/∂gx,
//! ∂L/∂gh and the part of ∂L/∂h_{t−1} (∂L/∂c_{t−1}) that does not go through W_hh.
//!
//! Instead of a graph node per gate op (PyTorch's CPU LSTM records about a dozen per step),
//! the whole gate block is one op; its derivatives use the saved activations, so
//! σ′ = σ(1 − σ) and tanh′ = 1 − tanh², exactly as PyTorch computes them from outputs.

use gradflow_tensor::math::{sigmoid, tanh};
use gradflow_tensor::{Vectorized, simd_dispatch};

/// Which recurrence a layer runs (PyTorch's `mode` of `nn.RNNBase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Elman RNN, h_t = tanh(gx + gh).
    RnnTanh,
    /// Elman RNN, h_t = relu(gx + gh), with relu′(0) = 0.
    RnnRelu,
    /// LSTM, gates i, f, g, o.
    Lstm,
    /// GRU, gates r, z, n.
    Gru,
}

impl CellKind {
    /// Number of gate blocks G in W_ih `[G·H, I]`: 1, 1, 4, 3.
    pub fn gates(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// Values saved per hidden unit and step for backward: LSTM i, f, g, o; GRU r, z, n and
    /// the recurrent candidate term W_hn·h + b_hn; an Elman RNN needs only its output.
    pub(crate) fn saved(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 0,
            CellKind::Lstm | CellKind::Gru => 4,
        }
    }

    /// Whether the state has a cell c besides h.
    pub fn has_cell(self) -> bool {
        self == CellKind::Lstm
    }

    /// PyTorch's module name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => "RNN",
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        }
    }
}

/// Slices of one step, all row-major `[batch, ·]`.
pub(crate) struct StepIn<'a> {
    pub gx: &'a [f32],
    pub gh: &'a [f32],
    pub h_prev: &'a [f32],
    pub c_prev: &'a [f32],
}

/// Forward of one step for the whole batch: writes h_t (and c_t, and the saved activations).
///
/// - Elman: h = φ(gx + gh).
/// - LSTM: i = σ(·), f = σ(·), g = tanh(·), o = σ(·) on the four blocks of gx + gh;
///   c = f ⊙ c_{t−1} + i ⊙ g; h = o ⊙ tanh(c).
/// - GRU: r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r ⊙ gh_n);
///   h = (1 − z) ⊙ n + z ⊙ h_{t−1}.
pub(crate) fn step_forward(
    kind: CellKind,
    hidden: usize,
    inp: StepIn<'_>,
    h: &mut [f32],
    c: &mut [f32],
    saved: &mut [f32],
) {
    let hd = hidden;
    let gw = kind.gates() * hd;
    let batch = h.len() / hd.max(1);
    for j in 0..batch {
        let gx = &inp.gx[j * gw..(j + 1) * gw];
        let gh = &inp.gh[j * gw..(j + 1) * gw];
        let out = &mut h[j * hd..(j + 1) * hd];
        match kind {
            CellKind::RnnTanh => {
                for k in 0..hd {
                    out[k] = tanh(gx[k] + gh[k]);
                }
            }
            CellKind::RnnRelu => {
                for k in 0..hd {
                    out[k] = (gx[k] + gh[k]).max(0.0);
                }
            }
            CellKind::Lstm => {
                let cp = &inp.c_prev[j * hd..(j + 1) * hd];
                let cr = &mut c[j * hd..(j + 1) * hd];
                let saved = &mut saved[j * 4 * hd..(j + 1) * 4 * hd];
                simd_dispatch(LstmForward {
                    x: blocks::<4>(gx, hd),
                    h: blocks::<4>(gh, hd),
                    c_prev: cp,
                    c: cr,
                    out,
                    saved: blocks_mut::<4>(saved, hd),
                });
            }
            CellKind::Gru => {
                simd_dispatch(GruForward {
                    x: blocks::<3>(gx, hd),
                    h: blocks::<3>(gh, hd),
                    h_prev: &inp.h_prev[j * hd..(j + 1) * hd],
                    out,
                    saved: blocks_mut::<4>(&mut saved[j * 4 * hd..(j + 1) * 4 * hd], hd),
                });
            }
        }
    }
}

/// The G gate blocks of one row, each exactly `hd` long.
fn blocks<const G: usize>(row: &[f32], hd: usize) -> [&[f32]; G] {
    std::array::from_fn(|g| &row[g * hd..(g + 1) * hd])
}

/// The G gate blocks of one row, mutable, each exactly `hd` long.
fn blocks_mut<const G: usize>(row: &mut [f32], hd: usize) -> [&mut [f32]; G] {
    let mut rest = &mut row[..G * hd];
    std::array::from_fn(|_| {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(hd);
        rest = tail;
        head
    })
}

/// What one backward step reads: the total gradient reaching h_t, the step's output h_t and
/// cell c_t, the previous state and the saved activations.
pub(crate) struct StepGrad<'a> {
    pub dh: &'a [f32],
    pub h: &'a [f32],
    pub c: &'a [f32],
    pub h_prev: &'a [f32],
    pub c_prev: &'a [f32],
    pub saved: &'a [f32],
}

/// Backward of one step for the whole batch.
///
/// Writes ∂L/∂gx into `dgx`. For the LSTM `dgx` must hold the step's saved gates i, f, g, o
/// on entry (`g.saved` is not read): the gradients overwrite them in place, so the reverse
/// sweep reuses the forward's saved buffer as ∂L/∂gx instead of a zero-filled second one.
/// For the GRU it also writes ∂L/∂gh into `dgh` (for the other kinds
/// ∂L/∂gh = ∂L/∂gx and `dgh` is left alone) and z ⊙ ∂L/∂h_t, the direct path to h_{t−1},
/// into `dh_direct`. For the LSTM, `dc` holds the total ∂L/∂c_t on entry and ∂L/∂c_{t−1}
/// = f ⊙ ∂L/∂c_t on return: the additive cell path, a diagonal Jacobian with no W_hh in it.
///
/// - Elman: ∂L/∂a = ∂L/∂h ⊙ φ′, with tanh′ = 1 − h² and relu′ = [h > 0].
/// - LSTM (with tc = tanh c_t): ∂o = ∂h ⊙ tc; ∂c += ∂h ⊙ o ⊙ (1 − tc²); ∂i = ∂c ⊙ g;
///   ∂g = ∂c ⊙ i; ∂f = ∂c ⊙ c_{t−1}; then through σ′ and tanh′ to the pre-activations.
/// - GRU: ∂n = ∂h ⊙ (1 − z); ∂z = ∂h ⊙ (h_{t−1} − n); ∂a_n = ∂n ⊙ (1 − n²);
///   ∂r = ∂a_n ⊙ gh_n; ∂gh_n = ∂a_n ⊙ r; ∂h_{t−1} gets ∂h ⊙ z directly.
pub(crate) fn step_backward(
    kind: CellKind,
    hidden: usize,
    g: StepGrad<'_>,
    dc: &mut [f32],
    dgx: &mut [f32],
    dgh: &mut [f32],
    dh_direct: &mut [f32],
) {
    let hd = hidden;
    let gw = kind.gates() * hd;
    let batch = g.dh.len() / hd.max(1);
    for j in 0..batch {
        let dh = &g.dh[j * hd..(j + 1) * hd];
        let dx = &mut dgx[j * gw..(j + 1) * gw];
        match kind {
            CellKind::RnnTanh => {
                let h = &g.h[j * hd..(j + 1) * hd];
                for k in 0..hd {
                    dx[k] = dh[k] * (1.0 - h[k] * h[k]);
                }
            }
            CellKind::RnnRelu => {
                let h = &g.h[j * hd..(j + 1) * hd];
                for k in 0..hd {
                    dx[k] = if h[k] > 0.0 { dh[k] } else { 0.0 };
                }
            }
            CellKind::Lstm => {
                // In place: dx holds this row's saved gates (see the doc above).
                simd_dispatch(LstmBackward {
                    dh,
                    c: &g.c[j * hd..(j + 1) * hd],
                    c_prev: &g.c_prev[j * hd..(j + 1) * hd],
                    dc: &mut dc[j * hd..(j + 1) * hd],
                    gates: blocks_mut::<4>(dx, hd),
                });
            }
            CellKind::Gru => {
                simd_dispatch(GruBackward {
                    dh,
                    h_prev: &g.h_prev[j * hd..(j + 1) * hd],
                    saved: blocks::<4>(&g.saved[j * 4 * hd..(j + 1) * 4 * hd], hd),
                    dx: blocks_mut::<3>(dx, hd),
                    dgh: blocks_mut::<3>(&mut dgh[j * gw..(j + 1) * gw], hd),
                    dh_direct: &mut dh_direct[j * hd..(j + 1) * hd],
                });
            }
        }
    }
}

/// Lanes of the LSTM gate kernels' blocks: 8 f32, one AVX2 register (two SSE2 ones).
const LANES: usize = 8;

/// One LSTM unit forward: (c_t, h_t, i, f, g, o) from the eight pre-activations and c_{t−1}.
#[inline(always)]
fn lstm_unit(x: [f32; 4], h: [f32; 4], cp: f32) -> (f32, f32, [f32; 4]) {
    let i = sigmoid(x[0] + h[0]);
    let f = sigmoid(x[1] + h[1]);
    let g = tanh(x[2] + h[2]);
    let o = sigmoid(x[3] + h[3]);
    let c = f * cp + i * g;
    (c, o * tanh(c), [i, f, g, o])
}

/// One row of the LSTM forward, vectorized in blocks of [`LANES`] units (see
/// [`gradflow_tensor::Vectorized`] for why blocks): the gate blocks of gx and gh, c_{t−1}, and
/// the outputs c_t, h_t and the saved i, f, g, o.
struct LstmForward<'a> {
    x: [&'a [f32]; 4],
    h: [&'a [f32]; 4],
    c_prev: &'a [f32],
    c: &'a mut [f32],
    out: &'a mut [f32],
    saved: [&'a mut [f32]; 4],
}

impl Vectorized for LstmForward<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let LstmForward {
            x,
            h,
            c_prev,
            c,
            out,
            mut saved,
        } = self;
        let hd = c_prev.len();
        let nb = hd / LANES;
        {
            let xb = x.map(|s| s.as_chunks::<LANES>().0);
            let hb = h.map(|s| s.as_chunks::<LANES>().0);
            let (cpb, _) = c_prev.as_chunks::<LANES>();
            let (cb, _) = c.as_chunks_mut::<LANES>();
            let (ob, _) = out.as_chunks_mut::<LANES>();
            let sb = saved.each_mut().map(|s| s.as_chunks_mut::<LANES>().0);
            for b in 0..nb {
                // Computed into local arrays, stored whole: see `Vectorized`.
                let (mut cv, mut hv) = ([0.0f32; LANES], [0.0f32; LANES]);
                let mut gates = [[0.0f32; LANES]; 4];
                for l in 0..LANES {
                    let (cc, hh, g) = lstm_unit(
                        [xb[0][b][l], xb[1][b][l], xb[2][b][l], xb[3][b][l]],
                        [hb[0][b][l], hb[1][b][l], hb[2][b][l], hb[3][b][l]],
                        cpb[b][l],
                    );
                    cv[l] = cc;
                    hv[l] = hh;
                    for q in 0..4 {
                        gates[q][l] = g[q];
                    }
                }
                cb[b] = cv;
                ob[b] = hv;
                for q in 0..4 {
                    sb[q][b] = gates[q];
                }
            }
        }
        // The units past the last whole block.
        for k in nb * LANES..hd {
            let (cc, hh, g) = lstm_unit(
                [x[0][k], x[1][k], x[2][k], x[3][k]],
                [h[0][k], h[1][k], h[2][k], h[3][k]],
                c_prev[k],
            );
            c[k] = cc;
            out[k] = hh;
            for q in 0..4 {
                saved[q][k] = g[q];
            }
        }
    }
}

/// One LSTM unit backward. From ∂L/∂h_t, the total ∂L/∂c_t so far, c_t, c_{t−1} and the
/// saved i, f, g, o: (∂L/∂c_{t−1} = f ⊙ ∂L/∂c_t, the four pre-activation gradients).
#[inline(always)]
fn lstm_unit_backward(dh: f32, dc: f32, c: f32, cp: f32, s: [f32; 4]) -> (f32, [f32; 4]) {
    let [i, f, g, o] = s;
    let tc = tanh(c);
    let d_o = dh * tc;
    let dcv = dc + dh * o * (1.0 - tc * tc);
    let di = dcv * g;
    let dg = dcv * i;
    let df = dcv * cp;
    (
        dcv * f,
        [
            di * i * (1.0 - i),
            df * f * (1.0 - f),
            dg * (1.0 - g * g),
            d_o * o * (1.0 - o),
        ],
    )
}

/// One row of the LSTM backward, in blocks of [`LANES`] units like [`LstmForward`], in
/// place: `gates` holds the saved i, f, g, o on entry and the four pre-activation gradients
/// on return (each element is read before it is written, within its block).
struct LstmBackward<'a> {
    dh: &'a [f32],
    c: &'a [f32],
    c_prev: &'a [f32],
    /// ∂L/∂c_t on entry, ∂L/∂c_{t−1} on return.
    dc: &'a mut [f32],
    gates: [&'a mut [f32]; 4],
}

impl Vectorized for LstmBackward<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let LstmBackward {
            dh,
            c,
            c_prev,
            dc,
            mut gates,
        } = self;
        let hd = c.len();
        let nb = hd / LANES;
        {
            let (dhb, _) = dh.as_chunks::<LANES>();
            let (c_b, _) = c.as_chunks::<LANES>();
            let (cpb, _) = c_prev.as_chunks::<LANES>();
            let (dcb, _) = dc.as_chunks_mut::<LANES>();
            let gb = gates.each_mut().map(|s| s.as_chunks_mut::<LANES>().0);
            for b in 0..nb {
                let s = [gb[0][b], gb[1][b], gb[2][b], gb[3][b]];
                let mut dcv = [0.0f32; LANES];
                let mut d = [[0.0f32; LANES]; 4];
                for l in 0..LANES {
                    let (dcp, dg) = lstm_unit_backward(
                        dhb[b][l],
                        dcb[b][l],
                        c_b[b][l],
                        cpb[b][l],
                        [s[0][l], s[1][l], s[2][l], s[3][l]],
                    );
                    dcv[l] = dcp;
                    for q in 0..4 {
                        d[q][l] = dg[q];
                    }
                }
                dcb[b] = dcv;
                for q in 0..4 {
                    gb[q][b] = d[q];
                }
            }
        }
        for k in nb * LANES..hd {
            let (dcp, dg) = lstm_unit_backward(
                dh[k],
                dc[k],
                c[k],
                c_prev[k],
                [gates[0][k], gates[1][k], gates[2][k], gates[3][k]],
            );
            dc[k] = dcp;
            for q in 0..4 {
                gates[q][k] = dg[q];
            }
        }
    }
}

/// One GRU unit forward: (h_t, [r, z, n, W_hn·h + b_hn]) from the pre-activations and
/// h_{t−1}.
#[inline(always)]
fn gru_unit(x: [f32; 3], h: [f32; 3], hp: f32) -> (f32, [f32; 4]) {
    let r = sigmoid(x[0] + h[0]);
    let z = sigmoid(x[1] + h[1]);
    let n = tanh(x[2] + r * h[2]);
    ((1.0 - z) * n + z * hp, [r, z, n, h[2]])
}

/// One row of the GRU forward, in blocks of [`LANES`] units like [`LstmForward`].
struct GruForward<'a> {
    x: [&'a [f32]; 3],
    h: [&'a [f32]; 3],
    h_prev: &'a [f32],
    out: &'a mut [f32],
    saved: [&'a mut [f32]; 4],
}

impl Vectorized for GruForward<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let GruForward {
            x,
            h,
            h_prev,
            out,
            mut saved,
        } = self;
        let hd = h_prev.len();
        let nb = hd / LANES;
        {
            let xb = x.map(|s| s.as_chunks::<LANES>().0);
            let hb = h.map(|s| s.as_chunks::<LANES>().0);
            let (hpb, _) = h_prev.as_chunks::<LANES>();
            let (ob, _) = out.as_chunks_mut::<LANES>();
            let sb = saved.each_mut().map(|s| s.as_chunks_mut::<LANES>().0);
            for b in 0..nb {
                let mut hv = [0.0f32; LANES];
                let mut keep = [[0.0f32; LANES]; 4];
                for l in 0..LANES {
                    let (hh, s) = gru_unit(
                        [xb[0][b][l], xb[1][b][l], xb[2][b][l]],
                        [hb[0][b][l], hb[1][b][l], hb[2][b][l]],
                        hpb[b][l],
                    );
                    hv[l] = hh;
                    for q in 0..4 {
                        keep[q][l] = s[q];
                    }
                }
                ob[b] = hv;
                for q in 0..4 {
                    sb[q][b] = keep[q];
                }
            }
        }
        for k in nb * LANES..hd {
            let (hh, s) = gru_unit(
                [x[0][k], x[1][k], x[2][k]],
                [h[0][k], h[1][k], h[2][k]],
                h_prev[k],
            );
            out[k] = hh;
            for q in 0..4 {
                saved[q][k] = s[q];
            }
        }
    }
}

/// One GRU unit backward, from ∂L/∂h_t, h_{t−1} and the saved [r, z, n, gh_n]: (z ⊙ ∂L/∂h_t,
/// the direct path to h_{t−1}; ∂L/∂gx [r, z, n]; ∂L/∂gh [r, z, n]).
#[inline(always)]
fn gru_unit_backward(dh: f32, hp: f32, s: [f32; 4]) -> (f32, [f32; 3], [f32; 3]) {
    let [r, z, n, hn] = s;
    let dn = dh * (1.0 - z);
    let dz = dh * (hp - n);
    let dan = dn * (1.0 - n * n);
    let dar = dan * hn * r * (1.0 - r);
    let daz = dz * z * (1.0 - z);
    (dh * z, [dar, daz, dan], [dar, daz, dan * r])
}

/// One row of the GRU backward, in blocks of [`LANES`] units like [`LstmForward`].
struct GruBackward<'a> {
    dh: &'a [f32],
    h_prev: &'a [f32],
    saved: [&'a [f32]; 4],
    dx: [&'a mut [f32]; 3],
    dgh: [&'a mut [f32]; 3],
    dh_direct: &'a mut [f32],
}

impl Vectorized for GruBackward<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let GruBackward {
            dh,
            h_prev,
            saved,
            mut dx,
            mut dgh,
            dh_direct,
        } = self;
        let hd = dh.len();
        let nb = hd / LANES;
        {
            let (dhb, _) = dh.as_chunks::<LANES>();
            let (hpb, _) = h_prev.as_chunks::<LANES>();
            let sb = saved.map(|s| s.as_chunks::<LANES>().0);
            let dxb = dx.each_mut().map(|s| s.as_chunks_mut::<LANES>().0);
            let dghb = dgh.each_mut().map(|s| s.as_chunks_mut::<LANES>().0);
            let (ddb, _) = dh_direct.as_chunks_mut::<LANES>();
            for b in 0..nb {
                let mut dd = [0.0f32; LANES];
                let (mut gx, mut gh) = ([[0.0f32; LANES]; 3], [[0.0f32; LANES]; 3]);
                for l in 0..LANES {
                    let (d, x, h) = gru_unit_backward(
                        dhb[b][l],
                        hpb[b][l],
                        [sb[0][b][l], sb[1][b][l], sb[2][b][l], sb[3][b][l]],
                    );
                    dd[l] = d;
                    for q in 0..3 {
                        gx[q][l] = x[q];
                        gh[q][l] = h[q];
                    }
                }
                ddb[b] = dd;
                for q in 0..3 {
                    dxb[q][b] = gx[q];
                    dghb[q][b] = gh[q];
                }
            }
        }
        for k in nb * LANES..hd {
            let (d, x, h) = gru_unit_backward(
                dh[k],
                h_prev[k],
                [saved[0][k], saved[1][k], saved[2][k], saved[3][k]],
            );
            dh_direct[k] = d;
            for q in 0..3 {
                dx[q][k] = x[q];
                dgh[q][k] = h[q];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    fn random(rng: &mut StdRng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-3.0..3.0)).collect()
    }

    /// The blocked LSTM kernels put every unit's gates, state and gradients where the scalar
    /// formula says, in the whole blocks and in the tail: hd = 19 is two blocks of 8 and 3
    /// units left over. Compared bit for bit with `lstm_unit` / `lstm_unit_backward` per unit;
    /// the backward overwrites the saved gates in place.
    #[test]
    fn blocked_lstm_kernels_match_the_unit_formulas() {
        let mut rng = StdRng::seed_from_u64(3);
        let hd = 19;
        let (gx, gh, cp) = (
            random(&mut rng, 4 * hd),
            random(&mut rng, 4 * hd),
            random(&mut rng, hd),
        );
        let (mut c, mut h, mut saved) = (vec![0.0; hd], vec![0.0; hd], vec![0.0; 4 * hd]);
        simd_dispatch(LstmForward {
            x: blocks::<4>(&gx, hd),
            h: blocks::<4>(&gh, hd),
            c_prev: &cp,
            c: &mut c,
            out: &mut h,
            saved: blocks_mut::<4>(&mut saved, hd),
        });
        let (dh, dc0) = (random(&mut rng, hd), random(&mut rng, hd));
        let mut dc = dc0.clone();
        // The backward works in place: the saved gates in, the gradients out.
        let mut dx = saved.clone();
        simd_dispatch(LstmBackward {
            dh: &dh,
            c: &c,
            c_prev: &cp,
            dc: &mut dc,
            gates: blocks_mut::<4>(&mut dx, hd),
        });
        for k in 0..hd {
            let at = |v: &[f32]| [v[k], v[hd + k], v[2 * hd + k], v[3 * hd + k]];
            let (cc, hh, g) = lstm_unit(at(&gx), at(&gh), cp[k]);
            assert_eq!(
                (c[k].to_bits(), h[k].to_bits()),
                (cc.to_bits(), hh.to_bits()),
                "unit {k}"
            );
            assert_eq!(
                at(&saved).map(f32::to_bits),
                g.map(f32::to_bits),
                "unit {k}"
            );
            let (dcp, d) = lstm_unit_backward(dh[k], dc0[k], c[k], cp[k], g);
            assert_eq!(dc[k].to_bits(), dcp.to_bits(), "unit {k}");
            assert_eq!(at(&dx).map(f32::to_bits), d.map(f32::to_bits), "unit {k}");
        }
    }

    /// The same for the GRU's blocked kernels.
    #[test]
    fn blocked_gru_kernels_match_the_unit_formulas() {
        let mut rng = StdRng::seed_from_u64(4);
        let hd = 19;
        let (gx, gh, hp) = (
            random(&mut rng, 3 * hd),
            random(&mut rng, 3 * hd),
            random(&mut rng, hd),
        );
        let (mut h, mut saved) = (vec![0.0; hd], vec![0.0; 4 * hd]);
        simd_dispatch(GruForward {
            x: blocks::<3>(&gx, hd),
            h: blocks::<3>(&gh, hd),
            h_prev: &hp,
            out: &mut h,
            saved: blocks_mut::<4>(&mut saved, hd),
        });
        let dh = random(&mut rng, hd);
        let (mut dx, mut dgh, mut direct) = (vec![0.0; 3 * hd], vec![0.0; 3 * hd], vec![0.0; hd]);
        simd_dispatch(GruBackward {
            dh: &dh,
            h_prev: &hp,
            saved: blocks::<4>(&saved, hd),
            dx: blocks_mut::<3>(&mut dx, hd),
            dgh: blocks_mut::<3>(&mut dgh, hd),
            dh_direct: &mut direct,
        });
        for k in 0..hd {
            let at3 = |v: &[f32]| [v[k], v[hd + k], v[2 * hd + k]];
            let (hh, s) = gru_unit(at3(&gx), at3(&gh), hp[k]);
            assert_eq!(h[k].to_bits(), hh.to_bits(), "unit {k}");
            let got = [
                saved[k],
                saved[hd + k],
                saved[2 * hd + k],
                saved[3 * hd + k],
            ];
            assert_eq!(got.map(f32::to_bits), s.map(f32::to_bits), "unit {k}");
            let (d, x, g) = gru_unit_backward(dh[k], hp[k], s);
            assert_eq!(direct[k].to_bits(), d.to_bits(), "unit {k}");
            assert_eq!(at3(&dx).map(f32::to_bits), x.map(f32::to_bits), "unit {k}");
            assert_eq!(at3(&dgh).map(f32::to_bits), g.map(f32::to_bits), "unit {k}");
        }
    }
}
