//! Fully connected layer: y = x·Wᵀ + b.

use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

use gradflow_init::{Initializer, default_bias};

/// Hyperparameters of a [`Linear`] layer (PyTorch's `nn.Linear(in_features, out_features,
/// bias=True)`).
///
/// ```
/// use gradflow_layers::{LinearConfig, Module};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let fc = LinearConfig::new(3, 2).init(&mut rng);
/// let names: Vec<String> = fc.state_dict().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["weight", "bias"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinearConfig {
    /// Size of each input row, the `in` of W's shape `[out, in]`.
    pub in_features: usize,
    /// Size of each output row.
    pub out_features: usize,
    /// Whether to learn the additive bias b (default `true`).
    pub bias: bool,
    /// How W is drawn (default: PyTorch's U(±1/√in)).
    pub weight_init: Initializer,
    /// How b is drawn; `None` (the default) is PyTorch's U(±1/√in).
    pub bias_init: Option<Initializer>,
}

impl LinearConfig {
    /// `in_features → out_features` with a bias, like PyTorch's default.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig {
            in_features,
            out_features,
            bias: true,
            weight_init: Initializer::PytorchDefault,
            bias_init: None,
        }
    }

    /// The same layer with or without a bias.
    pub fn with_bias(self, bias: bool) -> Self {
        LinearConfig { bias, ..self }
    }

    /// The same layer with W drawn by `init` (He, Xavier, orthogonal…).
    ///
    /// ```
    /// use gradflow_init::{FanMode, Initializer, Nonlinearity};
    /// use gradflow_layers::LinearConfig;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let he = Initializer::KaimingNormal { mode: FanMode::FanIn, nonlinearity: Nonlinearity::Relu };
    /// let fc = LinearConfig::new(512, 256)
    ///     .with_init(he)
    ///     .with_bias_init(Initializer::Constant(0.0))
    ///     .init(&mut rng);
    /// assert!((fc.weight().var(&[0, 1], 1, false).item() * 256.0 - 1.0).abs() < 0.05);
    /// assert_eq!(fc.bias().unwrap().sum_all().item(), 0.0);
    /// ```
    pub fn with_init(self, weight_init: Initializer) -> Self {
        LinearConfig {
            weight_init,
            ..self
        }
    }

    /// The same layer with b drawn by `init` (e.g. `Initializer::Constant(0.0)`).
    pub fn with_bias_init(self, init: Initializer) -> Self {
        LinearConfig {
            bias_init: Some(init),
            ..self
        }
    }

    /// Build the layer: W from [`weight_init`](Self::weight_init) (default PyTorch's
    /// kaiming_uniform with a = √5, i.e. U(±1/√in)) and b from
    /// [`bias_init`](Self::bias_init) (default U(±1/√in)), both trainable.
    ///
    /// # Panics
    /// As the chosen [`Initializer`] (a fan-based bias init on the 1-D bias, for example).
    #[track_caller]
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Linear {
        let shape = [self.out_features, self.in_features];
        let weight = self.weight_init.init(&shape, rng).requires_grad_();
        let bias = self.bias.then(|| {
            match &self.bias_init {
                None => default_bias(self.out_features, self.in_features, rng),
                Some(init) => init.init(&[self.out_features], rng),
            }
            .requires_grad_()
        });
        Linear { weight, bias }
    }
}

/// Fully connected layer, y = x·Wᵀ + b.
///
/// W has PyTorch's shape `[out, in]`, so a state_dict's `weight` loads unchanged. The forward
/// is the tensor crate's fused [`Tensor::linear`] (PyTorch's `F.linear`/addmm): one GEMM that
/// reads Wᵀ as a transposed *view* (a stride swap, no copy) into an output pre-filled with b.
/// Backward: ∂L/∂x = ∂L/∂y · W, ∂L/∂W = (∂L/∂y)ᵀ·x summed over the batch (directly in W's
/// layout), ∂L/∂b = Σ ∂L/∂y.
///
/// # Shapes
/// `[…, in] → […, out]`: any number of leading dimensions, including none (`[in] → [out]`).
///
/// # Panics
/// If the last input dimension is not `in_features`; the message names `Linear` and the shapes.
///
/// ```
/// use gradflow_layers::{Linear, Module};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
/// let fc = Linear::from_tensors(w, Some(Tensor::from_vec(vec![0.5, -0.5], &[2])));
/// let y = fc.forward(&Tensor::from_vec(vec![1.0, 0.0, -1.0], &[1, 3]));
/// assert_eq!(y.to_vec(), vec![-1.5, -2.5]); // [1−3+0.5, 4−6−0.5]
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer around existing tensors (loading, weight tying, gradient checks). They are
    /// used as given: call `requires_grad_()` on them first if they should train.
    ///
    /// # Panics
    /// If `weight` is not 2-D or `bias` is not `[out]`.
    #[track_caller]
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Self {
        assert!(
            weight.rank() == 2,
            "Linear: weight must be [out, in], got {:?}",
            weight.shape()
        );
        if let Some(b) = &bias {
            assert!(
                b.shape() == [weight.dim(0)],
                "Linear: bias must be [{}] to match weight {:?}, got {:?}",
                weight.dim(0),
                weight.shape(),
                b.shape()
            );
        }
        Linear { weight, bias }
    }

    /// W, shape `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// b, shape `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Input size.
    pub fn in_features(&self) -> usize {
        self.weight.dim(1)
    }

    /// Output size.
    pub fn out_features(&self) -> usize {
        self.weight.dim(0)
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        let xs = x.shape();
        assert!(
            xs.last() == Some(&self.in_features()),
            "Linear: input {:?} must end in in_features = {} (weight {:?})",
            xs,
            self.in_features(),
            self.weight.shape()
        );
        x.linear(&self.weight, self.bias.as_ref())
    }

    fn visit(&self, s: &mut Scope<'_>) {
        s.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            s.param("bias", b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn default_init_lies_in_pytorch_bounds() {
        let mut rng = StdRng::seed_from_u64(1);
        let fc = LinearConfig::new(16, 64).init(&mut rng);
        let bound = 1.0 / 4.0;
        let w = fc.weight().to_vec();
        assert!(w.iter().all(|v| v.abs() <= bound));
        // U(±b) has variance b²/3.
        let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        assert!(
            (var - bound * bound / 3.0).abs() < 0.25 * bound * bound / 3.0,
            "var {var}"
        );
        assert!(fc.bias().unwrap().to_vec().iter().all(|v| v.abs() <= bound));
        assert!(fc.weight().requires_grad());
    }

    #[test]
    fn no_bias_has_only_weight() {
        let mut rng = StdRng::seed_from_u64(1);
        let fc = LinearConfig::new(3, 2).with_bias(false).init(&mut rng);
        assert!(fc.bias().is_none());
        assert_eq!(fc.state_dict().len(), 1);
        assert_eq!(fc.num_parameters(), 6);
    }

    #[test]
    fn vector_input_gives_vector_output() {
        let fc = Linear::from_tensors(Tensor::eye(3), None);
        let y = fc.forward(&Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
        assert_eq!(y.shape(), &[3]);
        assert_eq!(y.to_vec(), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    #[should_panic(expected = "Linear: input [2, 4] must end in in_features = 3")]
    fn wrong_width_panics_with_shapes() {
        let fc = Linear::from_tensors(Tensor::zeros(&[2, 3]), None);
        fc.forward(&Tensor::zeros(&[2, 4]));
    }
}
