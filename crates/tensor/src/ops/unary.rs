//! Unary math ops, each written once: its doc (the math), the f/f′ pair as an
//! [`Elementwise`], and the `Tensor` method that applies it, side by side. [`Tensor::map`]
//! fuses each pair into one forward pass and one backward pass.
//!
//! Activations (sigmoid, tanh, ReLU, GELU, …) follow the same pattern in
//! `gradflow-activations`; see the crate README for which ops live where.

use crate::Tensor;
use crate::ops::elementwise::{Elementwise, Saved};

// ----- x + s ---------------------------------------------------------------------------------

/// x + s, with f′ = 1: backward keeps nothing.
#[derive(Clone, Copy)]
struct AddScalar(f32);
impl Elementwise for AddScalar {
    const NAME: &'static str = "add_scalar";
    const SAVES: Saved = Saved::Nothing;
    fn f(self, x: f32) -> f32 {
        x + self.0
    }
    fn df(self, _: f32) -> f32 {
        1.0
    }
}

impl Tensor {
    /// `x + s`; the gradient passes unchanged.
    pub fn add_scalar(&self, s: f32) -> Tensor {
        self.map(AddScalar(s))
    }
}

// ----- s·x -----------------------------------------------------------------------------------

/// s·x, with f′ = s: backward keeps nothing.
#[derive(Clone, Copy)]
struct MulScalar(f32);
impl Elementwise for MulScalar {
    const NAME: &'static str = "mul_scalar";
    const SAVES: Saved = Saved::Nothing;
    fn f(self, x: f32) -> f32 {
        x * self.0
    }
    fn df(self, _: f32) -> f32 {
        self.0
    }
}

impl Tensor {
    /// `x · s`, with (s·x)′ = s.
    pub fn mul_scalar(&self, s: f32) -> Tensor {
        self.map(MulScalar(s))
    }

    /// `x / s`, computed as x·(1/s).
    pub fn div_scalar(&self, s: f32) -> Tensor {
        self.map(MulScalar(1.0 / s))
    }

    /// `−x`.
    pub fn neg(&self) -> Tensor {
        self.mul_scalar(-1.0)
    }
}

// ----- eˣ ------------------------------------------------------------------------------------

/// eˣ, with (eˣ)′ = eˣ = y: backward keeps the output.
#[derive(Clone, Copy)]
struct Exp;
impl Elementwise for Exp {
    const NAME: &'static str = "exp";
    const SAVES: Saved = Saved::Output;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        crate::math::exp(x)
    }
    fn df(self, y: f32) -> f32 {
        y
    }
}

impl Tensor {
    /// eˣ (the vectorizable [`crate::math::exp`]); the derivative reuses the output,
    /// (eˣ)′ = y.
    pub fn exp(&self) -> Tensor {
        self.map(Exp)
    }
}

// ----- ln x ----------------------------------------------------------------------------------

/// ln x, with (ln x)′ = 1/x: backward keeps the input.
#[derive(Clone, Copy)]
struct Ln;
impl Elementwise for Ln {
    const NAME: &'static str = "ln";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        x.ln()
    }
    fn df(self, x: f32) -> f32 {
        1.0 / x
    }
}

impl Tensor {
    /// Natural logarithm, (ln x)′ = 1/x.
    pub fn ln(&self) -> Tensor {
        self.map(Ln)
    }
}

// ----- √x ------------------------------------------------------------------------------------

/// √x, with (√x)′ = 1/(2√x) = 1/(2y): backward keeps the output.
#[derive(Clone, Copy)]
struct Sqrt;
impl Elementwise for Sqrt {
    const NAME: &'static str = "sqrt";
    const SAVES: Saved = Saved::Output;
    fn f(self, x: f32) -> f32 {
        x.sqrt()
    }
    fn df(self, y: f32) -> f32 {
        0.5 / y
    }
}

impl Tensor {
    /// √x, with (√x)′ = 1/(2y).
    pub fn sqrt(&self) -> Tensor {
        self.map(Sqrt)
    }
}

// ----- xᵖ ------------------------------------------------------------------------------------

/// xᵖ, with (xᵖ)′ = p·xᵖ⁻¹: backward keeps the input (x⁰ has f′ = 0, also at x = 0).
#[derive(Clone, Copy)]
struct Powf(f32);
impl Elementwise for Powf {
    const NAME: &'static str = "powf";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        if self.0 == 2.0 { x * x } else { x.powf(self.0) }
    }
    fn df(self, x: f32) -> f32 {
        if self.0 == 2.0 {
            2.0 * x
        } else if self.0 == 0.0 {
            0.0
        } else {
            self.0 * x.powf(self.0 - 1.0)
        }
    }
}

impl Tensor {
    /// xᵖ, with (xᵖ)′ = p·xᵖ⁻¹.
    pub fn powf(&self, p: f32) -> Tensor {
        self.map(Powf(p))
    }
}

// ----- |x| -----------------------------------------------------------------------------------

/// |x|, with subgradient sign(x) and 0 at x = 0 (PyTorch's): backward keeps the input.
#[derive(Clone, Copy)]
struct Abs;
impl Elementwise for Abs {
    const NAME: &'static str = "abs";
    const SAVES: Saved = Saved::Input;
    fn f(self, x: f32) -> f32 {
        x.abs()
    }
    fn df(self, x: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    }
}

impl Tensor {
    /// |x|, with subgradient sign(x) and 0 at x = 0 (as PyTorch).
    pub fn abs(&self) -> Tensor {
        self.map(Abs)
    }
}

// ----- clamp ---------------------------------------------------------------------------------

/// min(max(x, lo), hi), with f′ = 1 on [lo, hi] (bounds included, as PyTorch) and 0
/// outside: backward keeps the input.
#[derive(Clone, Copy)]
struct Clamp {
    min: f32,
    max: f32,
}
impl Elementwise for Clamp {
    const NAME: &'static str = "clamp";
    const SAVES: Saved = Saved::Input;
    fn f(self, x: f32) -> f32 {
        x.max(self.min).min(self.max)
    }
    fn df(self, x: f32) -> f32 {
        f32::from(u8::from(x >= self.min && x <= self.max))
    }
}

impl Tensor {
    /// Clamp into `[min, max]`; the gradient passes where `min ≤ x ≤ max` (bounds included, as
    /// PyTorch) and is 0 outside. Use `f32::NEG_INFINITY`/`f32::INFINITY` for one-sided clamps.
    pub fn clamp(&self, min: f32, max: f32) -> Tensor {
        self.map(Clamp { min, max })
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn constant_slope_ops_keep_nothing_and_scale_the_gradient() {
        let x = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]).requires_grad_();
        let y = x.mul_scalar(-3.0).add_scalar(5.0).neg();
        assert_eq!(y.to_vec(), vec![-2.0, -11.0, 4.0]);
        y.backward_with(&Tensor::from_vec(vec![1.0, 2.0, 0.5], &[3]));
        assert_eq!(x.grad().unwrap().to_vec(), vec![3.0, 6.0, 1.5]);
    }

    #[test]
    fn output_and_input_forms_of_the_derivative() {
        // exp keeps y, (eˣ)′ = y; ln keeps x, (ln x)′ = 1/x; sqrt keeps y, 1/(2y).
        let x = Tensor::from_vec(vec![0.5, 4.0], &[2]).requires_grad_();
        x.exp().add(&x.ln()).add(&x.sqrt()).sum_all().backward();
        let g = x.grad().unwrap().to_vec();
        for (gi, xi) in g.iter().zip([0.5f32, 4.0]) {
            let want = xi.exp() + 1.0 / xi + 0.5 / xi.sqrt();
            assert!((gi - want).abs() <= 1e-6 * want, "{gi} vs {want}");
        }
    }
}
