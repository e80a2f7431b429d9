//! Recurrent state and truncated backpropagation through time.
//!
//! Training on a long stream, backpropagating through all of it would keep every step's
//! activations alive and multiply ∂h_t/∂h_{t−1} over thousands of steps. Truncated BPTT
//! (Williams & Peng 1990; Sutskever 2013) cuts the stream into windows of k steps: the
//! *value* of the state is carried from one window to the next, so the network still sees
//! the whole past in its forward pass, but the state is **detached** at the boundary, so
//! gradients flow back at most k steps and each window's graph is freed after its backward.
//! This is what `state = tuple(h.detach() for h in state)` does in a PyTorch training loop.

use gradflow_tensor::Tensor;

/// The LSTM's state: hidden h and cell c, each `[num_layers·D, B, H]` for a layer (D = 2
/// when bidirectional) or `[B, H]` for a cell.
#[derive(Clone, Debug)]
pub struct LstmState {
    /// Hidden state h.
    pub h: Tensor,
    /// Cell state c.
    pub c: Tensor,
}

/// A recurrent state that can be cut from its graph.
pub trait Detach {
    /// The same values, no longer connected to the graph that produced them.
    fn detach(&self) -> Self;
}

impl Detach for Tensor {
    fn detach(&self) -> Self {
        Tensor::detach(self)
    }
}

impl Detach for LstmState {
    fn detach(&self) -> Self {
        LstmState {
            h: self.h.detach(),
            c: self.c.detach(),
        }
    }
}

/// Carries a recurrent state across the windows of truncated BPTT, detached.
///
/// Call [`take`](StateCarry::take) before each window's forward (it hands out the previous
/// window's final state, detached, or `None` at the start) and [`store`](StateCarry::store)
/// the window's final state after it. [`reset`](StateCarry::reset) at a document or epoch
/// boundary starts again from the zero state.
///
/// ```
/// use gradflow_recurrent::{Detach, Lstm, RecurrentConfig, StateCarry};
/// use gradflow_tensor::{Module, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let lstm = Lstm::new(&RecurrentConfig::new(3, 4), &mut rng);
/// let mut carry = StateCarry::new();
/// for _window in 0..3 {
///     let x = Tensor::randn(&[5, 2, 3], 0.0, 1.0, &mut rng); // [T, B, I]
///     let state = carry.take();
///     let (y, last) = lstm.forward_with(&x, state.as_ref());
///     y.sum_all().backward(); // reaches back only to this window's first step
///     carry.store(last);
/// }
/// let state = carry.take().unwrap();
/// assert!(!state.h.requires_grad() && !state.c.requires_grad());
/// ```
#[derive(Clone, Debug)]
pub struct StateCarry<S> {
    state: Option<S>,
}

impl<S> Default for StateCarry<S> {
    fn default() -> Self {
        StateCarry { state: None }
    }
}

impl<S: Detach> StateCarry<S> {
    /// Start with no state (the layers then use zeros).
    pub fn new() -> Self {
        Self::default()
    }

    /// The carried state, detached (`None` before the first [`store`](StateCarry::store) or
    /// after a [`reset`](StateCarry::reset)).
    pub fn take(&self) -> Option<S> {
        self.state.as_ref().map(Detach::detach)
    }

    /// Keep `state` (typically the final state of the window just run) for the next window.
    /// It is detached now, so the window's graph is not kept alive by the carry.
    pub fn store(&mut self, state: S) {
        self.state = Some(state.detach());
    }

    /// Forget the state: the next window starts from zeros.
    pub fn reset(&mut self) {
        self.state = None;
    }

    /// Whether a state is being carried.
    pub fn is_carrying(&self) -> bool {
        self.state.is_some()
    }
}
