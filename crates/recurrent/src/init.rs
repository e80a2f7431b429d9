//! Initialization of recurrent weights, and the four tensors of one layer and direction.
//!
//! PyTorch's default (`nn.RNNBase.reset_parameters`) draws every weight and bias from
//! U(−1/√H, 1/√H), whatever the fan-in. Two options target the vanishing gradient in time:
//!
//! - **Orthogonal recurrent weights**: each H×H gate block of W_hh is orthogonal, so all its
//!   singular values are 1 and the linear part of ∂h_t/∂h_{t−1} = W_hhᵀ·diag(φ′) neither
//!   shrinks nor grows a gradient; only φ′ ≤ 1 does (Saxe et al. 2014; Le et al. 2015).
//! - **Forget-gate bias 1** (Gers et al. 2000; Jozefowicz et al. 2015): f_t = σ(… + 1) ≈ 0.73
//!   at the start, so the cell path ∂c_t/∂c_{t−1} = diag(f_t) keeps gradients over more steps
//!   before the network has learnt to remember. PyTorch has two biases; this sets
//!   bias_ih's forget block to 1 and bias_hh's to 0, so their sum, the effective bias, is 1.

use gradflow_tensor::{Scope, Tensor};
use rand::Rng;

use crate::gates::CellKind;
use crate::projection::project_inputs;
use crate::scan::ScanArgs;

/// Initialization options beyond PyTorch's default U(−1/√H, 1/√H).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RecurrentInit {
    /// Draw each H×H gate block of `weight_hh` as an orthogonal matrix (gain 1) instead of
    /// uniformly.
    pub orthogonal_recurrent: bool,
    /// LSTM only: effective forget-gate bias 1 (bias_ih's f block = 1, bias_hh's = 0).
    pub unit_forget_bias: bool,
}

impl RecurrentInit {
    /// PyTorch's default: everything U(−1/√H, 1/√H).
    pub fn pytorch() -> Self {
        Self::default()
    }

    /// Orthogonal recurrent weights and, for the LSTM, forget-gate bias 1.
    pub fn recommended() -> Self {
        RecurrentInit {
            orthogonal_recurrent: true,
            unit_forget_bias: true,
        }
    }
}

/// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` of one layer and direction.
#[derive(Clone, Debug)]
pub(crate) struct DirectionParams {
    pub w_ih: Tensor,
    pub w_hh: Tensor,
    pub b_ih: Option<Tensor>,
    pub b_hh: Option<Tensor>,
}

impl DirectionParams {
    /// Draw the tensors in PyTorch's order (w_ih, w_hh, b_ih, b_hh), all requiring grad.
    pub fn new<R: Rng + ?Sized>(
        kind: CellKind,
        input: usize,
        hidden: usize,
        bias: bool,
        init: RecurrentInit,
        rng: &mut R,
    ) -> Self {
        let gw = kind.gates() * hidden;
        let k = 1.0 / (hidden as f64).sqrt();
        let w_ih = gradflow_init::uniform(&[gw, input], -k, k, rng);
        let w_hh = if init.orthogonal_recurrent {
            let blocks: Vec<Tensor> = (0..kind.gates())
                .map(|_| gradflow_init::orthogonal(&[hidden, hidden], 1.0, rng))
                .collect();
            let refs: Vec<&Tensor> = blocks.iter().collect();
            Tensor::concat(&refs, 0)
        } else {
            gradflow_init::uniform(&[gw, hidden], -k, k, rng)
        };
        let (mut b_ih, mut b_hh) = (None, None);
        if bias {
            let bi = gradflow_init::uniform(&[gw], -k, k, rng);
            let bh = gradflow_init::uniform(&[gw], -k, k, rng);
            if init.unit_forget_bias && kind == CellKind::Lstm {
                bi.update_data(|d| d[hidden..2 * hidden].fill(1.0));
                bh.update_data(|d| d[hidden..2 * hidden].fill(0.0));
            }
            b_ih = Some(bi.requires_grad_());
            b_hh = Some(bh.requires_grad_());
        }
        DirectionParams {
            w_ih: w_ih.requires_grad_(),
            w_hh: w_hh.requires_grad_(),
            b_ih,
            b_hh,
        }
    }

    /// Report the tensors as `weight_ih{suffix}`, … in PyTorch's order.
    pub fn visit(&self, s: &mut Scope<'_>, suffix: &str) {
        s.param(&format!("weight_ih{suffix}"), &self.w_ih);
        s.param(&format!("weight_hh{suffix}"), &self.w_hh);
        if let Some(b) = &self.b_ih {
            s.param(&format!("bias_ih{suffix}"), b);
        }
        if let Some(b) = &self.b_hh {
            s.param(&format!("bias_hh{suffix}"), b);
        }
    }

    /// The arguments of this direction's recurrence over the projected inputs `xproj`.
    pub fn scan_args<'a>(
        &'a self,
        kind: CellKind,
        xproj: &'a Tensor,
        h0: &'a Tensor,
        c0: Option<&'a Tensor>,
        reverse: bool,
    ) -> ScanArgs<'a> {
        ScanArgs {
            kind,
            xproj,
            w_hh: &self.w_hh,
            b_hh: self.b_hh.as_ref(),
            h0,
            c0,
            reverse,
        }
    }

    /// The input projection x·W_ihᵀ + b_ih of every step, `[T, B, G·H]`.
    #[track_caller]
    pub fn project(&self, x: &Tensor) -> Tensor {
        project_inputs(x, &self.w_ih, self.b_ih.as_ref())
    }
}
