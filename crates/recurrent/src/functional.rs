//! Stateless forms of the cells and of a one-direction recurrence, taking the weights as
//! arguments (like `torch.nn.functional`): what the modules call, and what a gradient check
//! differentiates with respect to every weight.

use gradflow_tensor::Tensor;

use crate::gates::CellKind;
use crate::projection::project_inputs;
use crate::scan::{Recurrence, ScanArgs, scan};
use crate::state::LstmState;

/// The four tensors of a cell: W_ih `[G·H, I]`, W_hh `[G·H, H]`, b_ih and b_hh `[G·H]`,
/// with the G gate blocks stacked in PyTorch's order (LSTM i, f, g, o; GRU r, z, n).
#[derive(Clone, Copy, Debug)]
pub struct CellWeights<'a> {
    /// Input-to-hidden weights.
    pub w_ih: &'a Tensor,
    /// Hidden-to-hidden (recurrent) weights.
    pub w_hh: &'a Tensor,
    /// Input-to-hidden bias, if any.
    pub b_ih: Option<&'a Tensor>,
    /// Hidden-to-hidden bias, if any (the GRU's b_hn sits inside r ⊙ (W_hn·h + b_hn)).
    pub b_hh: Option<&'a Tensor>,
}

/// Run `kind` over a whole sequence `x` `[T, B, I]` from state `h0` (`c0` for the LSTM),
/// forward in time or, with `reverse`, from t = T−1 down to 0 (the backward direction of a
/// bidirectional layer). The output is in time order either way.
///
/// One GEMM projects all T·B input rows; then one GEMM and one fused gate op per step; the
/// whole scan is a single graph node whose backward is written by hand: per step the gate
/// kernel's backward and one GEMM ∂L/∂h_{t−1} = (∂L/∂gh_t)·W_hh (∂h_t/∂h_{t−1} = W_hhᵀ·diag(φ′)
/// in Jacobian form), then ∂L/∂W_hh = Σ_t (∂L/∂gh_t)ᵀ·h_{t−1} as one GEMM over all steps.
///
/// # Panics
/// If the shapes disagree (the message names the tensor and both shapes), or if `c0` is
/// given for a kind without a cell state or missing for the LSTM.
///
/// ```
/// use gradflow_recurrent::{CellKind, functional::{recurrence, CellWeights}};
/// use gradflow_tensor::Tensor;
/// // A 1-unit tanh RNN with W_ih = 1, W_hh = 0: h_t = tanh(x_t).
/// let (w_ih, w_hh) = (Tensor::ones(&[1, 1]), Tensor::zeros(&[1, 1]));
/// let w = CellWeights { w_ih: &w_ih, w_hh: &w_hh, b_ih: None, b_hh: None };
/// let x = Tensor::from_vec(vec![0.5, -1.0], &[2, 1, 1]);
/// let r = recurrence(CellKind::RnnTanh, &x, &Tensor::zeros(&[1, 1]), None, w, false);
/// assert!((r.h_n.item() - (-1.0f32).tanh()).abs() < 1e-6);
/// ```
#[track_caller]
pub fn recurrence(
    kind: CellKind,
    x: &Tensor,
    h0: &Tensor,
    c0: Option<&Tensor>,
    w: CellWeights<'_>,
    reverse: bool,
) -> Recurrence {
    if x.rank() != 3 {
        panic!(
            "{} recurrence: input has shape {:?}, expected [T, B, I]",
            kind.name(),
            x.shape()
        );
    }
    let xproj = project_inputs(x, w.w_ih, w.b_ih);
    scan(ScanArgs {
        kind,
        xproj: &xproj,
        w_hh: w.w_hh,
        b_hh: w.b_hh,
        h0,
        c0,
        reverse,
    })
}

/// One step: a recurrence of length 1 (the same fused kernels).
#[track_caller]
fn step(
    kind: CellKind,
    x: &Tensor,
    h: &Tensor,
    c: Option<&Tensor>,
    w: CellWeights<'_>,
) -> Recurrence {
    if x.rank() != 2 {
        panic!(
            "{} cell: input has shape {:?}, expected [B, I]",
            kind.name(),
            x.shape()
        );
    }
    let xproj = project_inputs(x, w.w_ih, w.b_ih).unsqueeze(0);
    scan(ScanArgs {
        kind,
        xproj: &xproj,
        w_hh: w.w_hh,
        b_hh: w.b_hh,
        h0: h,
        c0: c,
        reverse: false,
    })
}

/// One Elman RNN step, h′ = φ(W_ih·x + b_ih + W_hh·h + b_hh) with φ = tanh or relu
/// (`relu = true`), PyTorch's `nn.RNNCell`.
///
/// # Shapes
/// x `[B, I]`, h `[B, H]` → `[B, H]`.
#[track_caller]
pub fn rnn_cell(x: &Tensor, h: &Tensor, w: CellWeights<'_>, relu: bool) -> Tensor {
    let kind = if relu {
        CellKind::RnnRelu
    } else {
        CellKind::RnnTanh
    };
    step(kind, x, h, None, w).h_n
}

/// One LSTM step (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000),
/// PyTorch's `nn.LSTMCell`:
///
/// i = σ(W_ii x + b_ii + W_hi h + b_hi), f = σ(W_if x + b_if + W_hf h + b_hf),
/// g = tanh(W_ig x + b_ig + W_hg h + b_hg), o = σ(W_io x + b_io + W_ho h + b_ho),
/// c′ = f ⊙ c + i ⊙ g, h′ = o ⊙ tanh(c′).
///
/// # Shapes
/// x `[B, I]`, state `[B, H]` each → state `[B, H]` each.
#[track_caller]
pub fn lstm_cell(x: &Tensor, state: &LstmState, w: CellWeights<'_>) -> LstmState {
    let r = step(CellKind::Lstm, x, &state.h, Some(&state.c), w);
    LstmState {
        h: r.h_n,
        c: r.c_n
            .unwrap_or_else(|| unreachable!("the LSTM scan returns a cell")),
    }
}

/// One GRU step (Cho et al. 2014), PyTorch's `nn.GRUCell`, with the reset gate applied after
/// the hidden matmul:
///
/// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
/// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h′ = (1 − z) ⊙ n + z ⊙ h.
///
/// # Shapes
/// x `[B, I]`, h `[B, H]` → `[B, H]`.
#[track_caller]
pub fn gru_cell(x: &Tensor, h: &Tensor, w: CellWeights<'_>) -> Tensor {
    step(CellKind::Gru, x, h, None, w).h_n
}
