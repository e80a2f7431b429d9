//! # gradflow-recurrent
//!
//! Recurrent layers with PyTorch's semantics and parameter names: [`Rnn`] (tanh or relu),
//! [`Lstm`], [`Gru`], the single-step cells [`RnnCell`], [`LstmCell`], [`GruCell`], and a
//! helper for truncated backpropagation through time ([`StateCarry`]).
//!
//! ## Vanishing gradients in time
//! A recurrent net is a deep net whose depth is the sequence length and whose layers share
//! one weight matrix. For h_t = φ(W_ih x_t + W_hh h_{t−1} + b), the gradient of a loss at
//! step T with respect to an earlier state is
//!
//! ∂L/∂h_t = (∏_{s=t+1..T} ∂h_s/∂h_{s−1})ᵀ ∂L/∂h_T, with ∂h_s/∂h_{s−1} = diag(φ′_s)·W_hh,
//!
//! i.e. the backward pass applies W_hhᵀ·diag(φ′) once per step. When the largest singular
//! value of W_hh times max φ′ stays below 1 the product shrinks exponentially in T − t
//! (vanishing: early inputs stop influencing learning); when W_hh's spectral radius exceeds
//! 1 it can grow exponentially (exploding) (Bengio et al. 1994; Pascanu et al. 2013).
//!
//! The cures this crate provides:
//! - **Gated, additive state** — the LSTM's c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t has
//!   ∂c_t/∂c_{t−1} = diag(f_t): no weight matrix and no squashing derivative on that path
//!   (Hochreiter & Schmidhuber 1997). The GRU's h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1} has the
//!   same kind of path through z_t (Cho et al. 2014).
//! - **Initialization** ([`RecurrentInit`]) — orthogonal W_hh and forget-gate bias 1
//!   (Jozefowicz et al. 2015).
//! - **Clipping** of the global gradient norm against explosion (Pascanu et al. 2013) lives in
//!   `gradflow-clipping`.
//!
//! ## Speed
//! Each layer direction is one graph node ([`functional::recurrence`]): one GEMM projects
//! the inputs of all steps, then per step one GEMM h·W_hhᵀ and one fused gate kernel; the
//! backward pass is written by hand, with one GEMM per step for ∂L/∂h_{t−1} and a single
//! GEMM over all steps for ∂L/∂W_hh.
//!
//! ```
//! use gradflow_recurrent::{Lstm, RecurrentConfig};
//! use gradflow_tensor::{Module, Tensor};
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! let lstm = Lstm::new(&RecurrentConfig::new(4, 16).with_num_layers(2), &mut rng);
//! let names: Vec<String> = lstm.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names[..4], ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]);
//! let y = lstm.forward(&Tensor::randn(&[12, 3, 4], 0.0, 1.0, &mut rng)); // [T, B, I]
//! assert_eq!(y.shape(), [12, 3, 16]);
//! ```
//!
//! ## Panic policy
//! Shape mismatches (input features, state shapes) and invalid configurations (zero layers,
//! dropout outside [0, 1]) are programmer errors: they panic with a message naming the layer
//! and the shapes. Nothing here reads user data, so there is no error type.

mod cells;
pub mod functional;
mod gates;
mod gru;
mod init;
mod lstm;
mod projection;
mod rnn;
mod scan;
mod stack;
mod state;

pub use cells::{GruCell, LstmCell, RnnCell};
pub use gates::CellKind;
pub use gru::Gru;
pub use init::RecurrentInit;
pub use lstm::Lstm;
pub use rnn::{Nonlinearity, Rnn};
pub use scan::Recurrence;
pub use stack::RecurrentConfig;
pub use state::{Detach, LstmState, StateCarry};

/// The README's example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
