//! [`Dropout`]: inverted dropout with an explicit train/eval mode.

use std::sync::Mutex;

use gradflow_tensor::{Module, Scope, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Hyperparameters of a [`Dropout`] layer (PyTorch's `nn.Dropout(p=0.5)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutConfig {
    /// Probability p of zeroing each element, in [0, 1].
    pub p: f64,
}

impl Default for DropoutConfig {
    fn default() -> Self {
        DropoutConfig { p: 0.5 }
    }
}

impl DropoutConfig {
    /// Drop with probability `p`.
    pub fn new(p: f64) -> Self {
        DropoutConfig { p }
    }

    /// Build the layer, in training mode (as PyTorch modules start). Its private mask
    /// generator is seeded from `rng`, so a seeded `rng` gives reproducible masks and two
    /// dropout layers built from the same `rng` draw independent masks.
    ///
    /// # Panics
    /// If `p ∉ [0, 1]`.
    #[track_caller]
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Dropout {
        assert!(
            (0.0..=1.0).contains(&self.p),
            "Dropout: probability {} must lie in [0, 1]",
            self.p
        );
        Dropout {
            p: self.p,
            training: true,
            rng: Mutex::new(StdRng::seed_from_u64(rng.next_u64())),
        }
    }
}

/// Inverted dropout: in training, y = m ⊙ x / (1 − p) with mᵢ ~ Bernoulli(1 − p), so
/// E\[y\] = x and evaluation is the identity (no rescaling at test time). ∂L/∂x = m ⊙ ∂L/∂y / (1 − p).
///
/// The mask generator lives in the module behind a `Mutex`, so `forward(&self)` can draw
/// from it (and a model stays `Sync`); each call draws a fresh mask. p = 1 zeroes
/// everything.
///
/// # Shapes
/// Any shape; the output has the input's shape.
///
/// ```
/// use gradflow_layers::{DropoutConfig, Module};
/// use gradflow_tensor::Tensor;
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut drop = DropoutConfig::new(0.5).init(&mut rng);
/// let x = Tensor::ones(&[1000]);
/// let y = drop.forward(&x).to_vec();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0)); // survivors scaled by 1/(1 − p)
/// drop.eval();
/// assert_eq!(drop.forward(&x).to_vec(), x.to_vec());
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    training: bool,
    rng: Mutex<StdRng>,
}

impl Dropout {
    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Whether the layer is in training mode (drops) or evaluation mode (identity).
    pub fn is_training(&self) -> bool {
        self.training
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Tensor {
        if !self.training || self.p == 0.0 {
            return x.clone();
        }
        // A panic while holding the lock cannot leave a generator half-updated in a way that
        // matters, so a poisoned lock is simply taken over.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        x.dropout(self.p, &mut *rng)
    }

    fn visit(&self, _s: &mut Scope<'_>) {}

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
