//! [`Sequential`]: layers applied one after another.

use gradflow_tensor::{Module, Scope, Tensor};

/// A chain of layers, y = fₙ(… f₁(f₀(x))), like PyTorch's `nn.Sequential`.
///
/// Children are named by position, `"0"`, `"1"`, …, so the tensors of a
/// `Sequential(Conv2d, BatchNorm2d, ReLU, …, Linear)` are `0.weight`, `1.running_mean`,
/// `5.bias`, exactly as in the PyTorch model's `state_dict` (positions of layers without
/// tensors are skipped in the names but still count). [`Module::set_training`] reaches
/// every child. An empty `Sequential` is the identity.
///
/// ```
/// use gradflow_layers::{Flatten, LinearConfig, Module, Sequential};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let model = Sequential::new()
///     .with(Flatten::new())
///     .with(LinearConfig::new(12, 4).init(&mut rng))
///     .with(LinearConfig::new(4, 2).with_bias(false).init(&mut rng));
/// let names: Vec<String> = model.state_dict().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["1.weight", "1.bias", "2.weight"]);
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty chain.
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }

    /// A chain of already boxed layers.
    pub fn from_layers(layers: Vec<Box<dyn Module>>) -> Self {
        Sequential { layers }
    }

    /// The chain with `layer` appended (builder style).
    pub fn with(mut self, layer: impl Module + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Append `layer`.
    pub fn push(&mut self, layer: impl Module + 'static) {
        self.layers.push(Box::new(layer));
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the chain has no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Layer `i`, if any.
    pub fn layer(&self, i: usize) -> Option<&dyn Module> {
        self.layers.get(i).map(|l| &**l)
    }

    /// The layers in order.
    pub fn layers(&self) -> &[Box<dyn Module>] {
        &self.layers
    }
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequential")
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers
            .iter()
            .fold(x.clone(), |h, layer| layer.forward(&h))
    }

    fn visit(&self, s: &mut Scope<'_>) {
        for (i, layer) in self.layers.iter().enumerate() {
            s.module(&i.to_string(), &**layer);
        }
    }

    fn set_training(&mut self, training: bool) {
        for layer in &mut self.layers {
            layer.set_training(training);
        }
    }
}
