//! [`Gru`]: a stack of GRU layers over a whole sequence.

use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

use crate::gates::CellKind;
use crate::stack::{RecurrentConfig, Stack};

/// Multi-layer gated recurrent unit (Cho et al. 2014), PyTorch's `nn.GRU`
/// (<https://pytorch.org/docs/stable/generated/torch.nn.GRU.html>). Per layer and step:
///
/// r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr), z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz),
/// n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn)), h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}.
///
/// The reset gate multiplies W_hn·h + b_hn *after* the matmul (PyTorch's and cuDNN's form,
/// not the paper's r ⊙ h inside it). h_t is a convex combination of h_{t−1} and n_t, and
/// ∂h_t/∂h_{t−1} contains the identity-like term diag(z_t): the update gate plays the LSTM
/// forget gate's role of an additive path through time.
///
/// # Parameters
/// `weight_ih_l{k}` `[3H, ·]`, `weight_hh_l{k}` `[3H, H]`, `bias_ih_l{k}`, `bias_hh_l{k}`
/// `[3H]`, gate blocks r, z, n; `_reverse` for the backward direction.
///
/// # Shapes
/// x `[T, B, I]` (`[B, T, I]` with `batch_first`) → output `[T, B, D·H]`, h_n `[L·D, B, H]`.
///
/// ```
/// use gradflow_recurrent::{Gru, RecurrentConfig};
/// use gradflow_tensor::Tensor;
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let gru = Gru::new(&RecurrentConfig::new(3, 5).with_bidirectional(true), &mut rng);
/// let (y, h_n) = gru.forward_with(&Tensor::zeros(&[7, 2, 3]), None);
/// assert_eq!((y.shape(), h_n.shape()), (&[7, 2, 10][..], &[2, 2, 5][..]));
/// ```
#[derive(Debug)]
pub struct Gru {
    stack: Stack,
}

impl Gru {
    /// Build the layers with `cfg`'s initialization, in training mode.
    ///
    /// # Panics
    /// If `num_layers` or `hidden_size` is 0, or `dropout ∉ [0, 1]`.
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(cfg: &RecurrentConfig, rng: &mut R) -> Self {
        Gru {
            stack: Stack::new(CellKind::Gru, cfg, rng),
        }
    }

    /// The configuration the layer was built with.
    pub fn config(&self) -> &RecurrentConfig {
        &self.stack.cfg
    }

    /// Run the sequence from `h0` `[L·D, B, H]` (zeros when `None`): PyTorch's
    /// `output, h_n = gru(x, h_0)`.
    ///
    /// # Panics
    /// If x is not rank 3 with I features, or `h0` is not `[L·D, B, H]`.
    #[track_caller]
    pub fn forward_with(&self, x: &Tensor, h0: Option<&Tensor>) -> (Tensor, Tensor) {
        let r = self.stack.run(x, h0, None);
        (r.output, r.h_n)
    }
}

impl Module for Gru {
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
