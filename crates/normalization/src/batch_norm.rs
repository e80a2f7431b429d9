//! Batch normalization (Ioffe & Szegedy, 2015): normalize each channel over the batch.
//!
//! For x of shape `[N, C]`, `[N, C, L]` or `[N, C, H, W]`, channel c's statistics are taken over
//! every element with that channel index (N·L or N·H·W of them, n in total):
//!
//! μ_c = (1/n) Σ x,   σ²_c = (1/n) Σ (x − μ_c)²  (biased),   y = γ_c·(x − μ_c)/√(σ²_c + ε) + β_c.
//!
//! In training mode the running statistics move toward the batch's, PyTorch's convention:
//!
//! running_mean ← (1 − m)·running_mean + m·μ_c,
//! running_var  ← (1 − m)·running_var  + m·σ²_c·n/(n − 1)   (unbiased),
//!
//! with m = `momentum` (0.1 by default), or m = 1/num_batches_tracked when `momentum` is `None`
//! (a cumulative average of every batch seen). Keras/TensorFlow's `momentum` is the weight of
//! the *old* value, i.e. 1 − m: PyTorch's 0.1 is Keras's 0.9. In evaluation mode the running
//! statistics replace μ_c and σ²_c, so the layer becomes a fixed per-channel affine map and one
//! sample's output no longer depends on the rest of its batch.
//!
//! The backward pass is the fused closed form (see the crate docs):
//! dx = (γ/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy, and in evaluation
//! mode dx = γ·dy/√(running_var + ε).

use gradflow_tensor::{Module, Scope, Tensor, no_grad};

use crate::kernel::{self, Grouping, Spec, Stats};

/// Functional batch normalization (PyTorch's `F.batch_norm`).
///
/// - `training = true`: normalize with the batch's mean and biased variance; when
///   `running_mean`/`running_var` are given, update them in place with factor `momentum`
///   (`(1 − momentum)·old + momentum·batch`, the variance unbiased by n/(n − 1)).
/// - `training = false`: normalize with `running_mean` and `running_var` (both required).
///
/// `weight` (γ) and `bias` (β), when given, are per-channel and receive gradients.
///
/// # Shapes
/// `x`: `[N, C, *]` (rank ≥ 2); `running_mean`, `running_var`, `weight`, `bias`: C elements.
/// The output has `x`'s shape.
///
/// # Panics
/// If `x` has rank < 2, a per-channel tensor does not have C elements, training mode sees
/// only one value per channel (N·∏spatial ≤ 1: the variance is undefined), evaluation
/// mode is asked for without running statistics, or training mode is given non-contiguous
/// running statistics (they are updated in place).
///
/// ```
/// use gradflow_normalization::batch_norm;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]);
/// let rm = Tensor::zeros(&[2]);
/// let rv = Tensor::ones(&[2]);
/// let y = batch_norm(&x, Some(&rm), Some(&rv), None, None, true, 0.1, 1e-5);
/// // Channel 0 is {1, 3}: mean 2, biased variance 1, so y = ±1/√(1 + 1e-5).
/// assert!((y.get(&[0, 0]) + 1.0).abs() < 1e-4);
/// // running_mean = 0.9·0 + 0.1·2; running_var = 0.9·1 + 0.1·2 (unbiased variance of {1, 3}).
/// assert!((rm.get(&[0]) - 0.2).abs() < 1e-6);
/// assert!((rv.get(&[0]) - 1.1).abs() < 1e-6);
/// ```
#[track_caller]
pub fn batch_norm(
    x: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Tensor {
    // Hyperparameters are f64 (as PyTorch's Python floats); the kernels run in f32.
    let (momentum, eps) = (momentum as f32, eps as f32);
    assert!(
        x.rank() >= 2,
        "batch_norm: input of shape {:?} needs rank ≥ 2 ([N, C, *])",
        x.shape()
    );
    let c = x.dim(1);
    for (what, t) in [
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ] {
        if let Some(t) = t {
            assert!(
                t.numel() == c,
                "batch_norm: {what} of shape {:?} does not have C = {c} elements for input of \
                 shape {:?}",
                t.shape(),
                x.shape()
            );
        }
    }
    let spec = Spec {
        outer: x.dim(0),
        mid: c,
        inner: x.shape()[2..].iter().product(),
        grouping: Grouping::PerChannel,
    };
    let n = spec.set_len();
    if training {
        assert!(
            n > 1,
            "batch_norm: expected more than 1 value per channel when training, got input of \
             shape {:?}",
            x.shape()
        );
        let stats = x.with_data(|xs| kernel::set_stats(xs, &spec));
        if let (Some(rm), Some(rv)) = (running_mean, running_var) {
            update_running(rm, rv, &stats, n, momentum);
        }
        kernel::normalize(
            "batch_norm",
            x,
            weight,
            bias,
            &stats,
            eps as f64,
            spec,
            true,
        )
    } else {
        let (Some(rm), Some(rv)) = (running_mean, running_var) else {
            panic!(
                "batch_norm: evaluation mode (training = false) needs running_mean and \
                 running_var; pass training = true to normalize with batch statistics \
                 (input shape {:?})",
                x.shape()
            );
        };
        let stats = Stats {
            mean: rm.to_vec().into_iter().map(f64::from).collect(),
            var: rv.to_vec().into_iter().map(f64::from).collect(),
        };
        kernel::normalize(
            "batch_norm_eval",
            x,
            weight,
            bias,
            &stats,
            eps as f64,
            spec,
            false,
        )
    }
}

/// In-place momentum update of the running statistics (outside the graph).
fn update_running(rm: &Tensor, rv: &Tensor, stats: &Stats, n: usize, momentum: f32) {
    let m = momentum as f64;
    let unbias = n as f64 / (n as f64 - 1.0);
    no_grad(|| {
        rm.update_data(|d| {
            for (r, &mu) in d.iter_mut().zip(&stats.mean) {
                *r = ((1.0 - m) * *r as f64 + m * mu) as f32;
            }
        });
        rv.update_data(|d| {
            for (r, &v) in d.iter_mut().zip(&stats.var) {
                *r = ((1.0 - m) * *r as f64 + m * v * unbias) as f32;
            }
        });
    });
}

/// Hyperparameters of a batch-norm layer (PyTorch's constructor arguments and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// C, the number of channels.
    pub num_features: usize,
    /// ε added to the variance (default 1e-5).
    pub eps: f64,
    /// Running-statistics factor m (default `Some(0.1)`); `None` is the cumulative average
    /// m = 1/num_batches_tracked.
    pub momentum: Option<f64>,
    /// Learnable per-channel γ (init 1) and β (init 0) (default true).
    pub affine: bool,
    /// Keep running statistics for evaluation (default true). Without them the layer
    /// normalizes with batch statistics in both modes, as PyTorch does.
    pub track_running_stats: bool,
}

impl BatchNormConfig {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1, affine, tracking running statistics.
    pub fn new(num_features: usize) -> Self {
        BatchNormConfig {
            num_features,
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }

    /// Set ε.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Set the momentum (`None`: cumulative average).
    pub fn with_momentum(mut self, momentum: Option<f64>) -> Self {
        self.momentum = momentum;
        self
    }

    /// Enable or disable γ and β.
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }

    /// Enable or disable running statistics.
    pub fn with_track_running_stats(mut self, track: bool) -> Self {
        self.track_running_stats = track;
        self
    }

    /// Build the layer for `D` spatial dimensions (`BatchNorm<1>` = [`BatchNorm1d`],
    /// `BatchNorm<2>` = [`BatchNorm2d`]), in training mode.
    pub fn init<const D: usize>(&self) -> BatchNorm<D> {
        let c = self.num_features;
        let tracked = |t: Tensor| self.track_running_stats.then_some(t);
        BatchNorm {
            weight: self.affine.then(|| Tensor::ones(&[c]).requires_grad_()),
            bias: self.affine.then(|| Tensor::zeros(&[c]).requires_grad_()),
            running_mean: tracked(Tensor::zeros(&[c])),
            running_var: tracked(Tensor::ones(&[c])),
            num_batches_tracked: tracked(Tensor::zeros(&[])),
            config: self.clone(),
            training: true,
        }
    }
}

/// Batch normalization over `D` spatial dimensions (see the module docs for the math).
///
/// State, named as in PyTorch's `state_dict`: parameters `weight` (γ) and `bias` (β);
/// buffers `running_mean`, `running_var` and `num_batches_tracked`. PyTorch keeps
/// `num_batches_tracked` as a 0-dim I64; here it is a 0-dim f32 tensor holding the same
/// count, exact up to 2²⁴ ≈ 16.7 M batches (convert with `as i64` when exporting).
///
/// The mode is explicit state: [`Module::set_training`] (or `train()`/`eval()`); a new layer
/// starts in training mode, like PyTorch's.
///
/// # Shapes
/// `BatchNorm<1>`: `[N, C]` or `[N, C, L]`; `BatchNorm<2>`: `[N, C, H, W]`; in general
/// `[N, C]` followed by `D` spatial dimensions. Output: the input's shape.
///
/// # Panics
/// In `forward`, if the input's rank or channel count does not match, or training mode sees
/// a single value per channel.
#[derive(Debug)]
pub struct BatchNorm<const D: usize> {
    /// γ, shape `[C]` (when affine).
    weight: Option<Tensor>,
    /// β, shape `[C]` (when affine).
    bias: Option<Tensor>,
    /// Running mean, shape `[C]` (when tracking).
    running_mean: Option<Tensor>,
    /// Running (unbiased) variance, shape `[C]` (when tracking).
    running_var: Option<Tensor>,
    /// Number of training batches seen, a 0-dim f32 tensor (when tracking).
    num_batches_tracked: Option<Tensor>,
    config: BatchNormConfig,
    training: bool,
}

/// Batch normalization of `[N, C]` or `[N, C, L]` inputs (PyTorch's `nn.BatchNorm1d`).
pub type BatchNorm1d = BatchNorm<1>;
/// Batch normalization of `[N, C, H, W]` inputs (PyTorch's `nn.BatchNorm2d`).
pub type BatchNorm2d = BatchNorm<2>;

impl<const D: usize> BatchNorm<D> {
    /// A layer with PyTorch's defaults for C = `num_features` channels.
    ///
    /// ```
    /// use gradflow_normalization::BatchNorm2d;
    /// use gradflow_tensor::{Module, Tensor};
    /// let mut bn = BatchNorm2d::new(3);
    /// let x = Tensor::from_vec((0..24).map(|v| v as f32).collect(), &[2, 3, 2, 2]);
    /// let y = bn.forward(&x); // training mode: batch statistics
    /// let m: f32 = y.mean(&[0, 2, 3], false).to_vec().iter().map(|v| v.abs()).sum();
    /// assert!(m < 1e-5);
    /// bn.eval(); // now the running statistics are used
    /// assert_eq!(bn.num_batches_tracked().unwrap().item(), 1.0);
    /// ```
    pub fn new(num_features: usize) -> Self {
        BatchNormConfig::new(num_features).init()
    }

    /// A layer around existing tensors (loading, sharing, gradient checks), like
    /// [`Linear::from_tensors`](https://docs.rs/gradflow-layers): γ, β (when
    /// `config.affine`) and the running mean and variance (when
    /// `config.track_running_stats`), each of shape `[C]`, used as given (call
    /// `requires_grad_()` on γ and β first if they should train). The batch counter starts at
    /// 0. The layer starts in training mode.
    ///
    /// ```
    /// use gradflow_normalization::{BatchNorm1d, BatchNormConfig};
    /// use gradflow_tensor::{Module, Tensor};
    /// let stats = (Tensor::from_vec(vec![1.0, -1.0], &[2]), Tensor::from_vec(vec![4.0, 1.0], &[2]));
    /// let mut bn = BatchNorm1d::from_tensors(
    ///     BatchNormConfig::new(2),
    ///     Some((Tensor::ones(&[2]), Tensor::zeros(&[2]))),
    ///     Some(stats),
    /// );
    /// bn.eval(); // (x − running_mean)/√(running_var + ε)
    /// let y = bn.forward(&Tensor::from_vec(vec![3.0, 0.0], &[1, 2])).to_vec();
    /// assert!((y[0] - 1.0).abs() < 1e-5 && (y[1] - 1.0).abs() < 1e-5);
    /// ```
    ///
    /// # Panics
    /// If a pair is given that the config does not have (or one it has is missing), or a
    /// shape is not `[config.num_features]`.
    #[track_caller]
    pub fn from_tensors(
        config: BatchNormConfig,
        affine: Option<(Tensor, Tensor)>,
        running: Option<(Tensor, Tensor)>,
    ) -> Self {
        let c = config.num_features;
        assert_eq!(
            affine.is_some(),
            config.affine,
            "BatchNorm{D}d::from_tensors: γ, β given = {}, but config.affine = {}",
            affine.is_some(),
            config.affine
        );
        assert_eq!(
            running.is_some(),
            config.track_running_stats,
            "BatchNorm{D}d::from_tensors: running statistics given = {}, but \
             config.track_running_stats = {}",
            running.is_some(),
            config.track_running_stats
        );
        for (name, t) in affine
            .iter()
            .chain(&running)
            .flat_map(|(a, b)| [("γ/mean", a), ("β/var", b)])
        {
            assert!(
                t.shape() == [c],
                "BatchNorm{D}d::from_tensors: {name} must be [{c}], got {:?}",
                t.shape()
            );
        }
        let (weight, bias) = affine.map_or((None, None), |(w, b)| (Some(w), Some(b)));
        let (running_mean, running_var) = running.map_or((None, None), |(m, v)| (Some(m), Some(v)));
        BatchNorm {
            weight,
            bias,
            num_batches_tracked: running_mean.as_ref().map(|_| Tensor::zeros(&[])),
            running_mean,
            running_var,
            config,
            training: true,
        }
    }

    /// The hyperparameters.
    pub fn config(&self) -> &BatchNormConfig {
        &self.config
    }

    /// γ, shape `[C]` (when affine).
    pub fn weight(&self) -> Option<&Tensor> {
        self.weight.as_ref()
    }

    /// β, shape `[C]` (when affine).
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Running mean, shape `[C]` (when tracking).
    pub fn running_mean(&self) -> Option<&Tensor> {
        self.running_mean.as_ref()
    }

    /// Running (unbiased) variance, shape `[C]` (when tracking).
    pub fn running_var(&self) -> Option<&Tensor> {
        self.running_var.as_ref()
    }

    /// Training batches seen, a 0-dim tensor (when tracking).
    pub fn num_batches_tracked(&self) -> Option<&Tensor> {
        self.num_batches_tracked.as_ref()
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// The layer in evaluation mode as the per-channel affine map it is there, y = a·x + b
    /// with a = γ / √(running_var + ε) and b = β − running_mean · a (γ = 1, β = 0 without
    /// affine), both `[C]`, computed with tensor ops so that γ and β keep their gradients.
    /// `None` in training mode or without running statistics. A linear layer before it can
    /// absorb it, as PyTorch's `torch.nn.utils.fusion.fuse_conv_bn_eval` does: W·a and
    /// a·bias + b, one pass over the activations fewer; the result agrees with normalizing
    /// to rounding.
    ///
    /// ```
    /// use gradflow_normalization::BatchNorm1d;
    /// use gradflow_tensor::{Module, Tensor};
    /// let mut bn = BatchNorm1d::new(2);
    /// bn.forward(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2])); // running stats move
    /// assert!(bn.eval_affine().is_none()); // training mode
    /// bn.set_training(false);
    /// let (a, b) = bn.eval_affine().unwrap();
    /// let x = Tensor::from_vec(vec![0.5, -1.0], &[1, 2]);
    /// let y = bn.forward(&x).to_vec();
    /// let (a, b) = (a.to_vec(), b.to_vec());
    /// for c in 0..2 {
    ///     assert!((y[c] - (a[c] * x.to_vec()[c] + b[c])).abs() < 1e-6);
    /// }
    /// ```
    pub fn eval_affine(&self) -> Option<(Tensor, Tensor)> {
        if self.training {
            return None;
        }
        let (mean, var) = (self.running_mean.as_ref()?, self.running_var.as_ref()?);
        let std = var.add_scalar(self.config.eps as f32).sqrt();
        let inv_std = Tensor::ones(std.shape()).div(&std);
        let a = match &self.weight {
            Some(g) => g.mul(&inv_std),
            None => inv_std,
        };
        let shift = mean.mul(&a).neg();
        let b = match &self.bias {
            Some(beta) => beta.add(&shift),
            None => shift,
        };
        Some((a, b))
    }

    /// Reset the running statistics to mean 0, variance 1 and the batch count to 0.
    pub fn reset_running_stats(&self) {
        no_grad(|| {
            for (t, v) in [
                (&self.running_mean, 0.0),
                (&self.running_var, 1.0),
                (&self.num_batches_tracked, 0.0),
            ] {
                if let Some(t) = t {
                    t.update_data(|d| d.fill(v));
                }
            }
        });
    }

    #[track_caller]
    fn check_input(&self, x: &Tensor) {
        let rank_ok = if D == 1 {
            x.rank() == 2 || x.rank() == 3
        } else {
            x.rank() == D + 2
        };
        let expected = if D == 1 {
            "[N, C] or [N, C, L]".to_string()
        } else {
            format!("[N, C] + {D} spatial dims")
        };
        assert!(
            rank_ok && x.dim(1) == self.config.num_features,
            "BatchNorm{D}d: input of shape {:?} does not match {expected} with C = {}",
            x.shape(),
            self.config.num_features
        );
    }
}

impl<const D: usize> Module for BatchNorm<D> {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.check_input(x);
        let tracking = self.running_mean.is_some() && self.running_var.is_some();
        let mut factor = 0.0f64;
        if self.training && tracking {
            let mut count = 1.0;
            if let Some(nbt) = &self.num_batches_tracked {
                nbt.update_data(|d| {
                    d[0] += 1.0;
                    count = d[0];
                });
            }
            factor = self.config.momentum.unwrap_or(1.0 / f64::from(count));
        }
        // As PyTorch: without running statistics the batch's are used in both modes.
        let use_batch_stats = self.training || !tracking;
        let (rm, rv) = if self.training && !tracking {
            (None, None)
        } else {
            (self.running_mean.as_ref(), self.running_var.as_ref())
        };
        batch_norm(
            x,
            rm,
            rv,
            self.weight.as_ref(),
            self.bias.as_ref(),
            use_batch_stats,
            factor,
            self.config.eps,
        )
    }

    fn visit(&self, s: &mut Scope<'_>) {
        if let Some(w) = &self.weight {
            s.param("weight", w);
        }
        if let Some(b) = &self.bias {
            s.param("bias", b);
        }
        if let Some(t) = &self.running_mean {
            s.buffer("running_mean", t);
        }
        if let Some(t) = &self.running_var {
            s.buffer("running_var", t);
        }
        if let Some(t) = &self.num_batches_tracked {
            s.buffer("num_batches_tracked", t);
        }
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_without_tracking_uses_batch_stats() {
        let mut bn = BatchNormConfig::new(1)
            .with_track_running_stats(false)
            .init::<1>();
        bn.eval();
        let x = Tensor::from_vec(vec![1.0, 3.0], &[2, 1]);
        let y = bn.forward(&x).to_vec();
        assert!(
            (y[0] + 1.0).abs() < 1e-4 && (y[1] - 1.0).abs() < 1e-4,
            "{y:?}"
        );
        assert!(bn.named_buffers().is_empty());
    }

    #[test]
    fn cumulative_average_momentum_none() {
        let bn = BatchNormConfig::new(1).with_momentum(None).init::<1>();
        // Batch means 2 and 6: the cumulative average is 4 (the initial 0 is forgotten:
        // the first factor is 1/1).
        bn.forward(&Tensor::from_vec(vec![1.0, 3.0], &[2, 1]));
        bn.forward(&Tensor::from_vec(vec![5.0, 7.0], &[2, 1]));
        let rm = bn.running_mean().map_or(f32::NAN, Tensor::item);
        let rv = bn.running_var().map_or(f32::NAN, Tensor::item);
        assert!((rm - 4.0).abs() < 1e-6, "running_mean {rm}");
        // Unbiased variances 2 and 2.
        assert!((rv - 2.0).abs() < 1e-6, "running_var {rv}");
        assert_eq!(bn.num_batches_tracked().map(Tensor::item), Some(2.0));
    }

    #[test]
    fn state_dict_names_match_pytorch() {
        let bn = BatchNorm2d::new(4);
        let names: Vec<String> = bn.state_dict().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "weight",
                "bias",
                "running_mean",
                "running_var",
                "num_batches_tracked"
            ]
        );
        assert_eq!(bn.num_parameters(), 8);
    }

    #[test]
    fn reset_running_stats_restores_init() {
        let bn = BatchNorm1d::new(2);
        bn.forward(&Tensor::from_vec(vec![1.0, 2.0, 5.0, 9.0], &[2, 2]));
        bn.reset_running_stats();
        assert_eq!(bn.running_mean().map(Tensor::to_vec), Some(vec![0.0; 2]));
        assert_eq!(bn.running_var().map(Tensor::to_vec), Some(vec![1.0; 2]));
    }

    #[test]
    #[should_panic(expected = "more than 1 value per channel")]
    fn single_value_per_channel_panics_in_training() {
        BatchNorm1d::new(3).forward(&Tensor::ones(&[1, 3]));
    }

    #[test]
    #[should_panic(expected = "BatchNorm2d: input of shape [2, 3, 4]")]
    fn wrong_rank_panics() {
        BatchNorm2d::new(3).forward(&Tensor::ones(&[2, 3, 4]));
    }
}
