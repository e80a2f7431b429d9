//! Forward taps: [`Tap`] and the [`Traced`] wrapper, PyTorch's forward hooks made explicit.
//!
//! A gradient-flow study needs, for chosen sub-modules, their output h_l during the forward
//! pass and ∂L/∂h_l after backward. PyTorch gets them with
//! `module.register_forward_hook(lambda m, i, out: (out.retain_grad(), store(out)))`.
//! gradflow builds the same thing from plain values: wrap a sub-module in [`Traced`] with a
//! name and a shared [`Tap`]; while the tap is armed, every forward of a traced module stores
//! its output under its name and asks autodiff to keep its gradient
//! ([`Tensor::retain_grad`]). A disarmed tap costs one atomic load per forward.
//!
//! The wrapper is transparent: its parameters, buffers and training mode are the inner
//! module's, under the same names, so a checkpoint of a traced model loads into the
//! untraced one and back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use gradflow_tensor::{Module, Scope, Tensor};

#[derive(Default)]
struct TapState {
    armed: AtomicBool,
    records: Mutex<Vec<Tapped>>,
}

/// One output a [`Traced`] module stored while its tap was armed.
#[derive(Clone, Debug)]
pub struct Tapped {
    /// The name given to [`Tap::wrap`].
    pub name: String,
    /// The module's output h; after `backward`, `output.grad()` is ∂L/∂h when h was part of
    /// the graph (it required grad).
    pub output: Tensor,
}

/// A shared recorder of forward outputs; clones share the same records.
///
/// ```
/// use gradflow_layers::{LinearConfig, Module, Sequential, Tap};
/// use gradflow_tensor::Tensor;
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let tap = Tap::new();
/// let net = Sequential::new()
///     .with(tap.wrap("hidden", LinearConfig::new(3, 4).init(&mut rng)))
///     .with(LinearConfig::new(4, 2).init(&mut rng));
/// tap.arm();
/// let loss = net.forward(&Tensor::ones(&[5, 3])).sum_all();
/// loss.backward();
/// let taps = tap.take();
/// assert_eq!(taps[0].name, "hidden");
/// assert_eq!(taps[0].output.shape(), &[5, 4]);
/// assert!(taps[0].output.grad().is_some()); // ∂L/∂h of the hidden layer
/// ```
#[derive(Clone, Default)]
pub struct Tap {
    state: Arc<TapState>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("armed", &self.is_armed())
            .field("records", &self.records().len())
            .finish()
    }
}

impl Tap {
    /// A disarmed tap with no records.
    pub fn new() -> Self {
        Tap::default()
    }

    /// Wrap `inner` so that its outputs are recorded under `name` while this tap is armed.
    pub fn wrap<M: Module>(&self, name: impl Into<String>, inner: M) -> Traced<M> {
        Traced {
            name: name.into(),
            inner,
            tap: self.clone(),
        }
    }

    /// Start recording (and retaining gradients) on the following forwards.
    pub fn arm(&self) {
        self.state.armed.store(true, Ordering::Relaxed);
    }

    /// Stop recording; what was recorded stays until [`Tap::take`].
    pub fn disarm(&self) {
        self.state.armed.store(false, Ordering::Relaxed);
    }

    /// Whether forwards are being recorded.
    pub fn is_armed(&self) -> bool {
        self.state.armed.load(Ordering::Relaxed)
    }

    /// Disarm and return the records in forward order, leaving the tap empty.
    pub fn take(&self) -> Vec<Tapped> {
        self.disarm();
        std::mem::take(&mut *self.records())
    }

    fn records(&self) -> MutexGuard<'_, Vec<Tapped>> {
        // A panic while recording must not poison every later step.
        self.state.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, name: &str, output: &Tensor) {
        if output.requires_grad() {
            output.retain_grad();
        }
        self.records().push(Tapped {
            name: name.to_string(),
            output: output.clone(),
        });
    }
}

/// A module whose forward output is recorded by a [`Tap`] while it is armed (a forward hook).
/// Made by [`Tap::wrap`]; transparent for names, parameters and training mode.
#[derive(Clone, Debug)]
pub struct Traced<M> {
    name: String,
    inner: M,
    tap: Tap,
}

impl<M> Traced<M> {
    /// The name outputs are recorded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wrapped module.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The wrapped module, mutably.
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }
}

impl<M: Module> Module for Traced<M> {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.inner.forward(x);
        if self.tap.is_armed() {
            self.tap.record(&self.name, &y);
        }
        y
    }

    fn visit(&self, s: &mut Scope<'_>) {
        self.inner.visit(s);
    }

    fn set_training(&mut self, training: bool) {
        self.inner.set_training(training);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Linear, Residual, Sequential};

    fn linear(w: f32) -> Linear {
        Linear::from_tensors(Tensor::eye(2).mul_scalar(w).requires_grad_(), None)
    }

    #[test]
    fn records_outputs_and_their_gradients_in_forward_order() {
        // h1 = 2x, h2 = 3·h1, L = Σ h2: ∂L/∂h2 = 1, ∂L/∂h1 = 3.
        let tap = Tap::new();
        let net = Sequential::new()
            .with(tap.wrap("a", linear(2.0)))
            .with(tap.wrap("b", linear(3.0)));
        tap.arm();
        net.forward(&Tensor::ones(&[1, 2])).sum_all().backward();
        let r = tap.take();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].name.as_str(), r[1].name.as_str()), ("a", "b"));
        assert_eq!(r[0].output.to_vec(), vec![2.0, 2.0]);
        assert_eq!(r[0].output.grad().unwrap().to_vec(), vec![3.0, 3.0]);
        assert_eq!(r[1].output.grad().unwrap().to_vec(), vec![1.0, 1.0]);
        assert!(!tap.is_armed(), "take disarms");
    }

    #[test]
    fn disarmed_tap_records_nothing() {
        let tap = Tap::new();
        let net = tap.wrap("a", linear(2.0));
        net.forward(&Tensor::ones(&[1, 2]));
        assert!(tap.take().is_empty());
    }

    #[test]
    fn wrapper_is_transparent_for_names_and_parameters() {
        let tap = Tap::new();
        let plain = Sequential::new().with(Residual::new(linear(1.0)));
        let traced = Sequential::new().with(tap.wrap("r", Residual::new(linear(1.0))));
        let names = |m: &dyn Module| -> Vec<String> {
            m.state_dict().into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(names(&plain), names(&traced));
        assert_eq!(names(&traced), ["0.inner.weight"]);
    }

    #[test]
    fn inputs_without_grad_are_recorded_without_retaining() {
        let tap = Tap::new();
        let frozen = tap.wrap("f", Linear::from_tensors(Tensor::eye(2), None));
        tap.arm();
        let y = frozen.forward(&Tensor::ones(&[1, 2]));
        assert!(!y.requires_grad());
        assert_eq!(tap.take().len(), 1);
    }
}
