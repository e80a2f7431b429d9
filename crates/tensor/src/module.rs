//! The [`Module`] trait: a layer with parameters, buffers and a training mode.
//!
//! It lives in the tensor crate (as Candle's `Module` lives in candle-core) so that every
//! concept crate (activations with a learnable slope, normalization with running statistics,
//! residual blocks, recurrent cells) can implement it without depending on each other, and
//! optimizers and clipping can walk any model.
//!
//! Names follow PyTorch's `state_dict`: a child's tensors are prefixed with the child's name
//! and a dot (`0.weight`, `fc.bias`, `layer1.0.bn1.running_mean`), so checkpoints exchange
//! with PyTorch.
//!
//! ```
//! use gradflow_tensor::{Module, Scope, Tensor};
//!
//! /// y = x·a (a learnable scalar gain).
//! struct Gain { a: Tensor }
//! impl Module for Gain {
//!     fn forward(&self, x: &Tensor) -> Tensor { x.mul(&self.a) }
//!     fn visit(&self, s: &mut Scope<'_>) { s.param("a", &self.a); }
//! }
//!
//! /// Two gains in a row, named like PyTorch would name the attributes.
//! struct Two { first: Gain, second: Gain }
//! impl Module for Two {
//!     fn forward(&self, x: &Tensor) -> Tensor { self.second.forward(&self.first.forward(x)) }
//!     fn visit(&self, s: &mut Scope<'_>) {
//!         s.module("first", &self.first);
//!         s.module("second", &self.second);
//!     }
//! }
//!
//! let m = Two {
//!     first: Gain { a: Tensor::scalar(2.0).requires_grad_() },
//!     second: Gain { a: Tensor::scalar(3.0).requires_grad_() },
//! };
//! let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["first.a", "second.a"]);
//! assert_eq!(m.forward(&Tensor::scalar(1.0)).item(), 6.0);
//! ```

use crate::Tensor;

/// Whether a visited tensor is trained (a parameter) or only tracked (a buffer such as
/// BatchNorm's running mean).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// Trainable: receives gradients, updated by optimizers.
    Param,
    /// State that is saved and loaded but not trained.
    Buffer,
}

/// Walks a module tree, building dotted names; handed to [`Module::visit`].
pub struct Scope<'a> {
    prefix: String,
    f: &'a mut dyn FnMut(&str, &Tensor, TensorKind),
}

impl<'a> Scope<'a> {
    /// A root scope that calls `f(name, tensor, kind)` for every tensor visited.
    pub fn new(f: &'a mut dyn FnMut(&str, &Tensor, TensorKind)) -> Self {
        Scope {
            prefix: String::new(),
            f,
        }
    }

    fn emit(&mut self, name: &str, t: &Tensor, kind: TensorKind) {
        let full = format!("{}{}", self.prefix, name);
        (self.f)(&full, t, kind);
    }

    /// Report a trainable parameter called `name`.
    pub fn param(&mut self, name: &str, t: &Tensor) {
        self.emit(name, t, TensorKind::Param);
    }

    /// Report a buffer (saved state that is not trained) called `name`.
    pub fn buffer(&mut self, name: &str, t: &Tensor) {
        self.emit(name, t, TensorKind::Buffer);
    }

    /// Visit a child module under `name.`.
    pub fn module(&mut self, name: &str, child: &dyn Module) {
        let saved = self.prefix.len();
        self.prefix.push_str(name);
        self.prefix.push('.');
        child.visit(self);
        self.prefix.truncate(saved);
    }
}

/// A layer or model: a forward function plus the tensors it owns.
///
/// Implementors write `forward` and `visit`; everything else is provided. Modules whose
/// behaviour depends on the mode (dropout, batch norm) or that own children must override
/// [`set_training`](Module::set_training) and pass it on.
pub trait Module: Send + Sync {
    /// Apply the layer.
    fn forward(&self, x: &Tensor) -> Tensor;

    /// Report every parameter, buffer and child to `s` (in a fixed order).
    fn visit(&self, s: &mut Scope<'_>);

    /// Switch between training (`true`) and evaluation (`false`) behaviour. The mode is
    /// explicit state, never guessed. The default does nothing, which is right only for
    /// modules without mode-dependent behaviour or children.
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// Training mode (PyTorch's `model.train()`).
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Evaluation mode (PyTorch's `model.eval()`).
    fn eval(&mut self) {
        self.set_training(false);
    }

    /// Every tensor with its dotted name and kind, in visit order.
    fn named_tensors(&self) -> Vec<(String, Tensor, TensorKind)> {
        let mut out = Vec::new();
        let mut f = |n: &str, t: &Tensor, k: TensorKind| out.push((n.to_string(), t.clone(), k));
        self.visit(&mut Scope::new(&mut f));
        out
    }

    /// Trainable parameters with their dotted names.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.named_tensors()
            .into_iter()
            .filter(|(_, _, k)| *k == TensorKind::Param)
            .map(|(n, t, _)| (n, t))
            .collect()
    }

    /// Trainable parameters, in visit order (what an optimizer takes).
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Buffers with their dotted names.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.named_tensors()
            .into_iter()
            .filter(|(_, _, k)| *k == TensorKind::Buffer)
            .map(|(n, t, _)| (n, t))
            .collect()
    }

    /// Parameters and buffers by name: what a checkpoint stores (PyTorch's `state_dict`).
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.named_tensors()
            .into_iter()
            .map(|(n, t, _)| (n, t))
            .collect()
    }

    /// Forget every parameter's gradient.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// Total number of trainable scalars.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.numel()).sum()
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, x: &Tensor) -> Tensor {
        (**self).forward(x)
    }
    fn visit(&self, s: &mut Scope<'_>) {
        (**self).visit(s)
    }
    fn set_training(&mut self, training: bool) {
        (**self).set_training(training)
    }
}
