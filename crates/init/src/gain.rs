//! The recommended gain of a nonlinearity, `torch.nn.init.calculate_gain`.
//!
//! A layer z = W·a with i.i.d. weights of variance Var\[W\] and n inputs gives
//! Var\[z\] = n·Var\[W\]·E\[a²\]. If the next activation is a = f(z), the signal keeps its scale
//! when n·Var\[W\]·E\[f(z)²\] = Var\[z\], i.e. Var\[W\] = gain² / n with
//! gain² = Var\[z\] / E\[f(z)²\]. For ReLU, E\[relu(z)²\] = Var\[z\]/2, so gain = √2.

/// The nonlinearity that follows a layer, as in PyTorch's `nonlinearity` strings.
///
/// `Conv` stands for all of PyTorch's `conv1d`, `conv2d`, `conv3d` and `conv_transpose*`
/// names; they all have gain 1, like `Linear`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Nonlinearity {
    /// The identity, gain 1.
    Linear,
    /// A convolution with no nonlinearity after it, gain 1.
    Conv,
    /// The logistic sigmoid, gain 1 (PyTorch's value; σ′(0) = 1/4, so no gain truly fits).
    Sigmoid,
    /// tanh, gain 5/3.
    Tanh,
    /// ReLU, gain √2.
    Relu,
    /// Leaky ReLU with negative slope `s` (`None` means PyTorch's default 0.01),
    /// gain √(2 / (1 + s²)).
    LeakyRelu(Option<f64>),
    /// SELU, gain 3/4 (PyTorch's choice; self-normalization itself wants gain 1).
    Selu,
}

/// PyTorch's default leaky-ReLU slope when `calculate_gain("leaky_relu")` gets no parameter.
pub const DEFAULT_LEAKY_RELU_SLOPE: f64 = 0.01;

/// The recommended gain for `nl`, matching `torch.nn.init.calculate_gain`.
///
/// | nonlinearity | gain |
/// |---|---|
/// | Linear, Conv, Sigmoid | 1 |
/// | Tanh | 5/3 |
/// | Relu | √2 |
/// | LeakyRelu(s) | √(2 / (1 + s²)), s = 0.01 when `None` |
/// | Selu | 3/4 |
///
/// The value is an `f64`, as PyTorch's Python float (a hyperparameter: the initializers
/// round what they draw to `f32`, not the gain).
///
/// ```
/// use gradflow_init::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::Relu), 2f64.sqrt());
/// assert_eq!(calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
/// assert!((calculate_gain(Nonlinearity::LeakyRelu(Some(0.2))) - 1.386750490563073).abs() < 1e-15);
/// ```
///
/// # Panics
/// If a leaky-ReLU slope is not finite.
pub fn calculate_gain(nl: Nonlinearity) -> f64 {
    gain_f64(nl)
}

/// [`calculate_gain`] before rounding to `f32`: the initializers chain it with `1/√fan`
/// in `f64`, as PyTorch does in Python floats.
pub(crate) fn gain_f64(nl: Nonlinearity) -> f64 {
    match nl {
        Nonlinearity::Linear | Nonlinearity::Conv | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(slope) => {
            let s = slope.unwrap_or(DEFAULT_LEAKY_RELU_SLOPE);
            assert!(
                s.is_finite(),
                "calculate_gain: leaky_relu slope {s} is not finite"
            );
            (2.0 / (1.0 + s * s)).sqrt()
        }
        Nonlinearity::Selu => 3.0 / 4.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytorch_values() {
        // torch.nn.init.calculate_gain(name[, param]) for each name, torch 2.x.
        let cases = [
            (Nonlinearity::Linear, 1.0),
            (Nonlinearity::Conv, 1.0),
            (Nonlinearity::Sigmoid, 1.0),
            (Nonlinearity::Tanh, 1.666_666_7),
            (Nonlinearity::Relu, std::f64::consts::SQRT_2),
            (Nonlinearity::LeakyRelu(None), 1.414_142_8),
            (Nonlinearity::LeakyRelu(Some(0.2)), 1.386_750_5),
            (Nonlinearity::LeakyRelu(Some(0.0)), std::f64::consts::SQRT_2),
            (Nonlinearity::LeakyRelu(Some(1.0)), 1.0),
            (Nonlinearity::Selu, 0.75),
        ];
        for (nl, want) in cases {
            let got = calculate_gain(nl);
            assert!((got - want).abs() <= 1e-6, "{nl:?}: got {got}, want {want}");
        }
    }

    #[test]
    #[should_panic(expected = "calculate_gain")]
    fn nan_slope_panics() {
        calculate_gain(Nonlinearity::LeakyRelu(Some(f64::NAN)));
    }
}
