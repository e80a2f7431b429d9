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
                let [xi, xf, xg, xo] = blocks::<4>(gx, hd);
                let [hi, hf, hg, ho] = blocks::<4>(gh, hd);
                let [si, sf, sg, so] =
                    blocks_mut::<4>(&mut saved[j * 4 * hd..(j + 1) * 4 * hd], hd);
                // Exact-length slices: the loop has no bounds checks and vectorizes.
                for k in 0..hd {
                    let i = sigmoid(xi[k] + hi[k]);
                    let f = sigmoid(xf[k] + hf[k]);
                    let g = tanh(xg[k] + hg[k]);
                    let o = sigmoid(xo[k] + ho[k]);
                    let cv = f * cp[k] + i * g;
                    cr[k] = cv;
                    out[k] = o * tanh(cv);
                    si[k] = i;
                    sf[k] = f;
                    sg[k] = g;
                    so[k] = o;
                }
            }
            CellKind::Gru => {
                let hp = &inp.h_prev[j * hd..(j + 1) * hd];
                let [xr, xz, xn] = blocks::<3>(gx, hd);
                let [hr, hz, hn] = blocks::<3>(gh, hd);
                let [sr, sz, sn, sh] =
                    blocks_mut::<4>(&mut saved[j * 4 * hd..(j + 1) * 4 * hd], hd);
                for k in 0..hd {
                    let r = sigmoid(xr[k] + hr[k]);
                    let z = sigmoid(xz[k] + hz[k]);
                    let n = tanh(xn[k] + r * hn[k]);
                    out[k] = (1.0 - z) * n + z * hp[k];
                    sr[k] = r;
                    sz[k] = z;
                    sn[k] = n;
                    sh[k] = hn[k];
                }
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
/// Writes ∂L/∂gx into `dgx`; for the GRU also ∂L/∂gh into `dgh` (for the other kinds
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
                let c = &g.c[j * hd..(j + 1) * hd];
                let cp = &g.c_prev[j * hd..(j + 1) * hd];
                let [si, sf, sg, so] = blocks::<4>(&g.saved[j * 4 * hd..(j + 1) * 4 * hd], hd);
                let dcr = &mut dc[j * hd..(j + 1) * hd];
                let [dxi, dxf, dxg, dxo] = blocks_mut::<4>(dx, hd);
                for k in 0..hd {
                    let (i, f, gg, o) = (si[k], sf[k], sg[k], so[k]);
                    let tc = tanh(c[k]);
                    let d_o = dh[k] * tc;
                    let dcv = dcr[k] + dh[k] * o * (1.0 - tc * tc);
                    let di = dcv * gg;
                    let dg = dcv * i;
                    let df = dcv * cp[k];
                    dcr[k] = dcv * f;
                    dxi[k] = di * i * (1.0 - i);
                    dxf[k] = df * f * (1.0 - f);
                    dxg[k] = dg * (1.0 - gg * gg);
                    dxo[k] = d_o * o * (1.0 - o);
                }
            }
            CellKind::Gru => {
                let hp = &g.h_prev[j * hd..(j + 1) * hd];
                let [sr, sz, sn, sh] = blocks::<4>(&g.saved[j * 4 * hd..(j + 1) * 4 * hd], hd);
                let [dxr, dxz, dxn] = blocks_mut::<3>(dx, hd);
                let [dhr, dhz, dhn] = blocks_mut::<3>(&mut dgh[j * gw..(j + 1) * gw], hd);
                let dd = &mut dh_direct[j * hd..(j + 1) * hd];
                for k in 0..hd {
                    let (r, z, n, hn) = (sr[k], sz[k], sn[k], sh[k]);
                    let dn = dh[k] * (1.0 - z);
                    let dz = dh[k] * (hp[k] - n);
                    dd[k] = dh[k] * z;
                    let dan = dn * (1.0 - n * n);
                    let dar = dan * hn * r * (1.0 - r);
                    let daz = dz * z * (1.0 - z);
                    dxr[k] = dar;
                    dxz[k] = daz;
                    dxn[k] = dan;
                    dhr[k] = dar;
                    dhz[k] = daz;
                    dhn[k] = dan * r;
                }
            }
        }
    }
}
