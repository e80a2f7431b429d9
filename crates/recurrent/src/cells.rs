//! The single-step cells [`RnnCell`], [`LstmCell`] and [`GruCell`] (PyTorch's `nn.RNNCell`,
//! `nn.LSTMCell`, `nn.GRUCell`): the same fused kernels as the sequence layers, one step at
//! a time, for loops that need to act between steps (sampling, attention, teacher forcing).

use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

use crate::functional::{CellWeights, gru_cell, lstm_cell, rnn_cell};
use crate::gates::CellKind;
use crate::init::{DirectionParams, RecurrentInit};
use crate::rnn::Nonlinearity;
use crate::state::LstmState;

/// The tensors every cell owns, named `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
#[derive(Clone, Debug)]
struct CellParams {
    p: DirectionParams,
    hidden: usize,
}

impl CellParams {
    fn new<R: Rng + ?Sized>(
        kind: CellKind,
        input: usize,
        hidden: usize,
        bias: bool,
        init: RecurrentInit,
        rng: &mut R,
    ) -> Self {
        assert!(
            hidden >= 1,
            "{} cell: hidden_size must be at least 1",
            kind.name()
        );
        CellParams {
            p: DirectionParams::new(kind, input, hidden, bias, init, rng),
            hidden,
        }
    }

    fn weights(&self) -> CellWeights<'_> {
        CellWeights {
            w_ih: &self.p.w_ih,
            w_hh: &self.p.w_hh,
            b_ih: self.p.b_ih.as_ref(),
            b_hh: self.p.b_hh.as_ref(),
        }
    }

    fn zeros(&self, x: &Tensor) -> Tensor {
        Tensor::zeros(&[x.shape().first().copied().unwrap_or(0), self.hidden])
    }
}

/// An Elman RNN cell, h′ = φ(W_ih x + b_ih + W_hh h + b_hh), PyTorch's `nn.RNNCell`
/// (<https://pytorch.org/docs/stable/generated/torch.nn.RNNCell.html>).
///
/// # Shapes
/// x `[B, I]`, h `[B, H]` → `[B, H]`.
#[derive(Clone, Debug)]
pub struct RnnCell {
    params: CellParams,
    nonlinearity: Nonlinearity,
}

impl RnnCell {
    /// A cell with biases and PyTorch's default init U(−1/√H, 1/√H).
    pub fn new<R: Rng + ?Sized>(
        input_size: usize,
        hidden_size: usize,
        nonlinearity: Nonlinearity,
        rng: &mut R,
    ) -> Self {
        Self::with_options(
            input_size,
            hidden_size,
            nonlinearity,
            true,
            RecurrentInit::default(),
            rng,
        )
    }

    /// A cell with or without biases and the given initialization.
    pub fn with_options<R: Rng + ?Sized>(
        input_size: usize,
        hidden_size: usize,
        nonlinearity: Nonlinearity,
        bias: bool,
        init: RecurrentInit,
        rng: &mut R,
    ) -> Self {
        RnnCell {
            params: CellParams::new(
                nonlinearity.kind(),
                input_size,
                hidden_size,
                bias,
                init,
                rng,
            ),
            nonlinearity,
        }
    }

    /// One step from `h` (zeros when `None`).
    ///
    /// # Panics
    /// If the shapes disagree.
    #[track_caller]
    pub fn step(&self, x: &Tensor, h: Option<&Tensor>) -> Tensor {
        let h = h.cloned().unwrap_or_else(|| self.params.zeros(x));
        rnn_cell(
            x,
            &h,
            self.params.weights(),
            self.nonlinearity == Nonlinearity::Relu,
        )
    }
}

impl Module for RnnCell {
    /// One step from the zero state.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.step(x, None)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        self.params.p.visit(s, "");
    }
}

/// An LSTM cell, PyTorch's `nn.LSTMCell`
/// (<https://pytorch.org/docs/stable/generated/torch.nn.LSTMCell.html>); see
/// [`functional::lstm_cell`](crate::functional::lstm_cell) for the equations.
///
/// # Shapes
/// x `[B, I]`, h and c `[B, H]` → h′ and c′ `[B, H]`.
///
/// ```
/// use gradflow_recurrent::LstmCell;
/// use gradflow_tensor::Tensor;
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let cell = LstmCell::new(3, 4, &mut rng);
/// let s1 = cell.step(&Tensor::ones(&[2, 3]), None);
/// let s2 = cell.step(&Tensor::ones(&[2, 3]), Some(&s1));
/// assert_eq!(s2.c.shape(), [2, 4]);
/// ```
#[derive(Clone, Debug)]
pub struct LstmCell {
    params: CellParams,
}

impl LstmCell {
    /// A cell with biases and PyTorch's default init U(−1/√H, 1/√H).
    pub fn new<R: Rng + ?Sized>(input_size: usize, hidden_size: usize, rng: &mut R) -> Self {
        Self::with_options(input_size, hidden_size, true, RecurrentInit::default(), rng)
    }

    /// A cell with or without biases and the given initialization.
    pub fn with_options<R: Rng + ?Sized>(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        init: RecurrentInit,
        rng: &mut R,
    ) -> Self {
        LstmCell {
            params: CellParams::new(CellKind::Lstm, input_size, hidden_size, bias, init, rng),
        }
    }

    /// One step from `state` (zeros when `None`).
    ///
    /// # Panics
    /// If the shapes disagree.
    #[track_caller]
    pub fn step(&self, x: &Tensor, state: Option<&LstmState>) -> LstmState {
        let state = state.cloned().unwrap_or_else(|| LstmState {
            h: self.params.zeros(x),
            c: self.params.zeros(x),
        });
        lstm_cell(x, &state, self.params.weights())
    }
}

impl Module for LstmCell {
    /// h′ of one step from the zero state.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.step(x, None).h
    }

    fn visit(&self, s: &mut Scope<'_>) {
        self.params.p.visit(s, "");
    }
}

/// A GRU cell, PyTorch's `nn.GRUCell`
/// (<https://pytorch.org/docs/stable/generated/torch.nn.GRUCell.html>); see
/// [`functional::gru_cell`](crate::functional::gru_cell) for the equations.
///
/// # Shapes
/// x `[B, I]`, h `[B, H]` → `[B, H]`.
#[derive(Clone, Debug)]
pub struct GruCell {
    params: CellParams,
}

impl GruCell {
    /// A cell with biases and PyTorch's default init U(−1/√H, 1/√H).
    pub fn new<R: Rng + ?Sized>(input_size: usize, hidden_size: usize, rng: &mut R) -> Self {
        Self::with_options(input_size, hidden_size, true, RecurrentInit::default(), rng)
    }

    /// A cell with or without biases and the given initialization.
    pub fn with_options<R: Rng + ?Sized>(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        init: RecurrentInit,
        rng: &mut R,
    ) -> Self {
        GruCell {
            params: CellParams::new(CellKind::Gru, input_size, hidden_size, bias, init, rng),
        }
    }

    /// One step from `h` (zeros when `None`).
    ///
    /// # Panics
    /// If the shapes disagree.
    #[track_caller]
    pub fn step(&self, x: &Tensor, h: Option<&Tensor>) -> Tensor {
        let h = h.cloned().unwrap_or_else(|| self.params.zeros(x));
        gru_cell(x, &h, self.params.weights())
    }
}

impl Module for GruCell {
    /// h′ of one step from the zero state.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.step(x, None)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        self.params.p.visit(s, "");
    }
}
