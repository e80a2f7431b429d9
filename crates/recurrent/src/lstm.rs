//! [`Lstm`]: a stack of LSTM layers over a whole sequence.

use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

use crate::gates::CellKind;
use crate::stack::{RecurrentConfig, Stack};
use crate::state::LstmState;

/// Multi-layer long short-term memory (Hochreiter & Schmidhuber 1997, forget gate of Gers
/// et al. 2000), PyTorch's `nn.LSTM`
/// (<https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html>). Per layer and step:
///
/// i_t = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi), f_t = σ(W_if x_t + b_if + W_hf h_{t−1} + b_hf),
/// g_t = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg), o_t = σ(W_io x_t + b_io + W_ho h_{t−1} + b_ho),
/// c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t, h_t = o_t ⊙ tanh(c_t).
///
/// The cell update is additive: ∂c_t/∂c_{t−1} = diag(f_t), with no weight matrix and no
/// squashing derivative in it, so a gradient carried along c decays only as fast as the
/// forget gates let it, instead of through the product of W_hhᵀ·diag(φ′) factors of a plain
/// RNN. Also |c_t| ≤ f|c_{t−1}| + i|g| < |c_{t−1}| + 1 and |h_t| < 1 elementwise.
///
/// # Parameters
/// `weight_ih_l{k}` `[4H, I]` (layer 0) or `[4H, D·H]`, `weight_hh_l{k}` `[4H, H]`,
/// `bias_ih_l{k}`, `bias_hh_l{k}` `[4H]`, gate blocks in the order i, f, g, o; the backward
/// direction's end in `_reverse`. Exactly PyTorch's `state_dict` names and layouts.
///
/// # Shapes
/// x `[T, B, I]` (`[B, T, I]` with `batch_first`) → output `[T, B, D·H]` (or `[B, T, D·H]`),
/// h_n and c_n `[L·D, B, H]` ordered layer 0 forward, layer 0 reverse, layer 1 forward, ….
///
/// ```
/// use gradflow_recurrent::{Lstm, RecurrentConfig};
/// use gradflow_tensor::{Module, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let cfg = RecurrentConfig::new(3, 8).with_num_layers(2).with_batch_first(true);
/// let lstm = Lstm::new(&cfg, &mut rng);
/// let x = Tensor::randn(&[4, 10, 3], 0.0, 1.0, &mut rng);
/// let (y, state) = lstm.forward_with(&x, None);
/// assert_eq!(y.shape(), [4, 10, 8]);
/// assert_eq!(state.c.shape(), [2, 4, 8]);
/// assert!(y.to_vec().iter().all(|h| h.abs() < 1.0));
/// ```
#[derive(Debug)]
pub struct Lstm {
    stack: Stack,
}

impl Lstm {
    /// Build the layers with `cfg`'s initialization, in training mode; the inter-layer
    /// dropout generator is seeded from `rng`.
    ///
    /// # Panics
    /// If `num_layers` or `hidden_size` is 0, or `dropout ∉ [0, 1]`.
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(cfg: &RecurrentConfig, rng: &mut R) -> Self {
        Lstm {
            stack: Stack::new(CellKind::Lstm, cfg, rng),
        }
    }

    /// The configuration the layer was built with.
    pub fn config(&self) -> &RecurrentConfig {
        &self.stack.cfg
    }

    /// Run the sequence from `state` (zeros when `None`), returning the output and the final
    /// state (h_n, c_n), PyTorch's `output, (h_n, c_n) = lstm(x, (h_0, c_0))`.
    ///
    /// # Panics
    /// If x is not rank 3 with I features, or a state is not `[L·D, B, H]`.
    #[track_caller]
    pub fn forward_with(&self, x: &Tensor, state: Option<&LstmState>) -> (Tensor, LstmState) {
        let r = self.stack.run(x, state.map(|s| &s.h), state.map(|s| &s.c));
        let c = r
            .c_n
            .unwrap_or_else(|| unreachable!("an LSTM stack returns c_n"));
        (r.output, LstmState { h: r.h_n, c })
    }
}

impl Module for Lstm {
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
