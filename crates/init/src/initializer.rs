//! [`Initializer`]: an init scheme as a value, so a layer config can carry it.
//!
//! PyTorch re-initializes a built module in place (`nn.init.kaiming_normal_(m.weight)`);
//! Burn instead stores an `Initializer` in each layer's config and draws the tensors once in
//! `init()`. gradflow follows Burn: `LinearConfig::new(256, 256).with_init(Initializer::…)`
//! builds the layer with the scheme of your choice, so an experiment never re-picks weights
//! outside the layer.

use gradflow_tensor::Tensor;
use rand::Rng;

use crate::{
    FanMode, Nonlinearity, constant, default_weight, kaiming_normal, kaiming_uniform, lecun_normal,
    normal, orthogonal, uniform, xavier_normal, xavier_uniform,
};

/// A weight (or bias) initialization scheme. Each variant names the `gradflow_init` function
/// it calls; see that function for the math and the panics.
///
/// ```
/// use gradflow_init::{FanMode, Initializer, Nonlinearity};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// // He init for a ReLU layer, Var W = 2/fan_in = 2/200.
/// let he = Initializer::KaimingNormal { mode: FanMode::FanIn, nonlinearity: Nonlinearity::Relu };
/// let w = he.init(&[400, 200], &mut rng);
/// assert!((w.var(&[0, 1], 1, false).item() * 100.0 - 1.0).abs() < 0.05);
/// // 1.5 × He: every layer multiplies the variance by 2.25 (the exploding configuration).
/// let big = he.clone().scaled(1.5).init(&[400, 200], &mut rng);
/// assert!((big.var(&[0, 1], 1, false).item() * 100.0 - 2.25).abs() < 0.12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Initializer {
    /// PyTorch's `nn.Linear`/`nn.Conv2d` default for weights, kaiming_uniform with a = √5,
    /// i.e. U(±1/√fan_in) ([`default_weight`]).
    PytorchDefault,
    /// Every element equal to the value ([`constant`]); `Constant(0.0)` for zero biases.
    Constant(f32),
    /// U(low, high) ([`uniform`]).
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// N(mean, std²) ([`normal`]); std is the standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Glorot normal, std = gain·√(2/(fan_in + fan_out)) ([`xavier_normal`]).
    XavierNormal {
        /// Gain (1 for sigmoid and linear, 5/3 for tanh in PyTorch's table).
        gain: f64,
    },
    /// Glorot uniform, bound = gain·√(6/(fan_in + fan_out)) ([`xavier_uniform`]).
    XavierUniform {
        /// Gain.
        gain: f64,
    },
    /// He normal, std = gain/√fan ([`kaiming_normal`]); a leaky-ReLU slope is read from
    /// `nonlinearity`.
    KaimingNormal {
        /// fan_in keeps the forward variance, fan_out the backward one.
        mode: FanMode,
        /// The nonlinearity that follows the layer.
        nonlinearity: Nonlinearity,
    },
    /// He uniform, bound = gain·√(3/fan) ([`kaiming_uniform`]).
    KaimingUniform {
        /// fan_in or fan_out.
        mode: FanMode,
        /// The nonlinearity that follows the layer.
        nonlinearity: Nonlinearity,
    },
    /// LeCun normal, std = 1/√fan_in ([`lecun_normal`]), for SELU.
    LecunNormal,
    /// A (semi-)orthogonal matrix times `gain` ([`orthogonal()`]).
    Orthogonal {
        /// Every singular value equals the gain.
        gain: f64,
    },
    /// Another scheme with every element multiplied by `factor`.
    Scaled {
        /// The scheme that draws the values.
        base: Box<Initializer>,
        /// The multiplier (> 1 amplifies the signal at every layer).
        factor: f64,
    },
}

impl Initializer {
    /// This scheme with every element multiplied by `factor`.
    pub fn scaled(self, factor: f64) -> Self {
        Initializer::Scaled {
            base: Box::new(self),
            factor,
        }
    }

    /// Draw a fresh tensor of `shape` (a leaf that does not require grad).
    ///
    /// # Panics
    /// As the function the variant names (for example a fan-based scheme on a 1-D shape).
    #[track_caller]
    pub fn init<R: Rng + ?Sized>(&self, shape: &[usize], rng: &mut R) -> Tensor {
        let leaky_slope = |nl: Nonlinearity| match nl {
            Nonlinearity::LeakyRelu(s) => s.unwrap_or(crate::DEFAULT_LEAKY_RELU_SLOPE),
            _ => 0.0,
        };
        match self {
            Initializer::PytorchDefault => default_weight(shape, rng),
            Initializer::Constant(v) => constant(shape, *v),
            Initializer::Uniform { low, high } => uniform(shape, *low, *high, rng),
            Initializer::Normal { mean, std } => normal(shape, *mean, *std, rng),
            Initializer::XavierNormal { gain } => xavier_normal(shape, *gain, rng),
            Initializer::XavierUniform { gain } => xavier_uniform(shape, *gain, rng),
            Initializer::KaimingNormal { mode, nonlinearity } => {
                kaiming_normal(shape, leaky_slope(*nonlinearity), *mode, *nonlinearity, rng)
            }
            Initializer::KaimingUniform { mode, nonlinearity } => {
                kaiming_uniform(shape, leaky_slope(*nonlinearity), *mode, *nonlinearity, rng)
            }
            Initializer::LecunNormal => lecun_normal(shape, rng),
            Initializer::Orthogonal { gain } => orthogonal(shape, *gain, rng),
            Initializer::Scaled { base, factor } => {
                base.init(shape, rng).mul_scalar(*factor as f32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A reference draw: the `gradflow_init` function a variant names, called directly.
    type Reference = fn(&mut rand::rngs::StdRng) -> Tensor;

    #[test]
    fn each_variant_calls_its_function_with_the_same_draws() {
        // Same seed, same function: the values must be identical, not just alike.
        let shape = [8, 5];
        let cases: Vec<(Initializer, Reference)> = vec![
            (Initializer::PytorchDefault, |r| default_weight(&[8, 5], r)),
            (Initializer::XavierNormal { gain: 1.0 }, |r| {
                xavier_normal(&[8, 5], 1.0, r)
            }),
            (
                Initializer::KaimingNormal {
                    mode: FanMode::FanIn,
                    nonlinearity: Nonlinearity::LeakyRelu(Some(0.2)),
                },
                |r| {
                    kaiming_normal(
                        &[8, 5],
                        0.2,
                        FanMode::FanIn,
                        Nonlinearity::LeakyRelu(Some(0.2)),
                        r,
                    )
                },
            ),
            (Initializer::Orthogonal { gain: 2.0 }, |r| {
                orthogonal(&[8, 5], 2.0, r)
            }),
        ];
        for (init, reference) in cases {
            let a = init.init(&shape, &mut rand::rngs::StdRng::seed_from_u64(7));
            let b = reference(&mut rand::rngs::StdRng::seed_from_u64(7));
            assert_eq!(a.to_vec(), b.to_vec(), "{init:?}");
        }
    }

    #[test]
    fn scaled_multiplies_every_element() {
        let base = Initializer::Normal {
            mean: 0.0,
            std: 1.0,
        };
        let a = base.init(&[4, 4], &mut rand::rngs::StdRng::seed_from_u64(3));
        let b = base
            .clone()
            .scaled(-2.0)
            .init(&[4, 4], &mut rand::rngs::StdRng::seed_from_u64(3));
        for (x, y) in a.to_vec().iter().zip(b.to_vec()) {
            assert_eq!(x * -2.0, y);
        }
    }
}
