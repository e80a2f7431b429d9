//! [`Rnn`]: a stack of Elman RNN layers (tanh or relu) over a whole sequence.

use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

use crate::gates::CellKind;
use crate::stack::{RecurrentConfig, Stack};

/// The nonlinearity φ of an Elman RNN (PyTorch's `nonlinearity='tanh' | 'relu'`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nonlinearity {
    /// φ = tanh, φ′ = 1 − h² ∈ (0, 1].
    #[default]
    Tanh,
    /// φ = relu, φ′ = 1 where h > 0, else 0 (0 at the kink, as PyTorch).
    Relu,
}

impl Nonlinearity {
    pub(crate) fn kind(self) -> CellKind {
        match self {
            Nonlinearity::Tanh => CellKind::RnnTanh,
            Nonlinearity::Relu => CellKind::RnnRelu,
        }
    }
}

/// Multi-layer Elman RNN, PyTorch's `nn.RNN`
/// (<https://pytorch.org/docs/stable/generated/torch.nn.RNN.html>):
///
/// h_t = φ(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh).
///
/// Backpropagation through time multiplies ∂h_t/∂h_{t−1} = diag(φ′)·W_hh once per step, so
/// ∂h_T/∂h_t is a product of T − t such factors: with ‖W_hh‖·max φ′ < 1 the gradient reaching
/// early steps vanishes exponentially in T − t, with a spectral radius above 1 it can explode
/// (Bengio et al. 1994; Pascanu et al. 2013). This is the layer the LSTM and GRU fix.
///
/// # Parameters
/// `weight_ih_l{k}` `[H, ·]`, `weight_hh_l{k}` `[H, H]`, `bias_ih_l{k}`, `bias_hh_l{k}` `[H]`;
/// `_reverse` for the backward direction.
///
/// # Shapes
/// x `[T, B, I]` (`[B, T, I]` with `batch_first`) → output `[T, B, D·H]`, h_n `[L·D, B, H]`.
///
/// ```
/// use gradflow_recurrent::{Nonlinearity, RecurrentConfig, Rnn};
/// use gradflow_tensor::{Module, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let rnn = Rnn::new(&RecurrentConfig::new(2, 4), Nonlinearity::Relu, &mut rng);
/// let y = rnn.forward(&Tensor::ones(&[3, 1, 2]));
/// assert!(y.to_vec().iter().all(|&h| h >= 0.0));
/// ```
#[derive(Debug)]
pub struct Rnn {
    stack: Stack,
    nonlinearity: Nonlinearity,
}

impl Rnn {
    /// Build the layers with `cfg`'s initialization, in training mode.
    ///
    /// # Panics
    /// If `num_layers` or `hidden_size` is 0, or `dropout ∉ [0, 1]`.
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        cfg: &RecurrentConfig,
        nonlinearity: Nonlinearity,
        rng: &mut R,
    ) -> Self {
        Rnn {
            stack: Stack::new(nonlinearity.kind(), cfg, rng),
            nonlinearity,
        }
    }

    /// The configuration the layer was built with.
    pub fn config(&self) -> &RecurrentConfig {
        &self.stack.cfg
    }

    /// The nonlinearity φ.
    pub fn nonlinearity(&self) -> Nonlinearity {
        self.nonlinearity
    }

    /// Run the sequence from `h0` `[L·D, B, H]` (zeros when `None`): PyTorch's
    /// `output, h_n = rnn(x, h_0)`.
    ///
    /// # Panics
    /// If x is not rank 3 with I features, or `h0` is not `[L·D, B, H]`.
    #[track_caller]
    pub fn forward_with(&self, x: &Tensor, h0: Option<&Tensor>) -> (Tensor, Tensor) {
        let r = self.stack.run(x, h0, None);
        (r.output, r.h_n)
    }
}

impl Module for Rnn {
    /// The output sequence, from the zero state.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_with(x, None).0
    }

    fn visit(&self, s: &mut Scope<'_>) {
        self.stack.visit(s);
    }

    fn set_training(&mut self, training: bool) {
        self.stack.training = training;
    }
}
