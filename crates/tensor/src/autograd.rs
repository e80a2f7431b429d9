//! Reverse-mode automatic differentiation on a define-by-run graph.
//!
//! Every op that reads a tensor which requires grad records a [`Node`]: a backward closure
//! that maps the gradient of the op's output, ∂L/∂y, to the gradients of its inputs,
//! ∂L/∂xᵢ = (∂y/∂xᵢ)ᵀ ∂L/∂y, plus one edge per input. [`Tensor::backward`] walks the nodes
//! in reverse topological order (the chain rule), summing the gradients that reach a tensor
//! along several paths (fan-out), and adds the result into the `grad` of every leaf that
//! requires grad, exactly like PyTorch: gradients accumulate across calls until
//! [`Tensor::zero_grad`].
//!
//! After `backward` the graph's saved tensors are released (PyTorch's default
//! `retain_graph=False`); a second `backward` through the same graph panics with a message
//! that says so.
//!
//! # Writing a differentiable op
//! Compute the forward result with any kernel, then attach the backward rule with
//! [`Tensor::record`]. This is the same mechanism every built-in op uses:
//!
//! ```
//! use gradflow_tensor::Tensor;
//!
//! /// Cube, y = x³, with dy/dx = 3x².
//! fn cube(x: &Tensor) -> Tensor {
//!     let data: Vec<f32> = x.to_vec().iter().map(|v| v * v * v).collect();
//!     let saved = x.detach();
//!     Tensor::from_vec(data, x.shape()).record("cube", &[x], false, move |ctx| {
//!         let dx = ctx.grad_output().mul(&saved.mul(&saved).mul_scalar(3.0));
//!         vec![Some(dx)]
//!     })
//! }
//!
//! let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).requires_grad_();
//! cube(&x).sum_all().backward();
//! assert_eq!(x.grad().unwrap().to_vec(), vec![3.0, 12.0]);
//! ```

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::Tensor;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread currently record the graph.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Run `f` without recording any graph (PyTorch's `torch.no_grad()`): results do not
/// require grad, and no memory is kept for backward. Nested calls are fine.
///
/// ```
/// use gradflow_tensor::{no_grad, Tensor};
/// let w = Tensor::ones(&[2]).requires_grad_();
/// let y = no_grad(|| w.mul_scalar(2.0));
/// assert!(!y.requires_grad());
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Run `f` with graph recording on this thread set to `enabled`, then restore the previous
/// state (for [`crate::on_pool`], which carries the caller's mode to a worker thread).
pub(crate) fn with_grad_mode<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    // NoGradGuard's drop restores `previous`, whichever mode was set here.
    let _restore = NoGradGuard {
        previous: GRAD_ENABLED.with(|g| g.replace(enabled)),
    };
    f()
}

/// Disables graph recording on this thread until dropped (restores the previous state).
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Start a no-grad scope.
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// The slot where a leaf tensor's gradient accumulates.
pub(crate) type GradSlot = Arc<Mutex<Option<Tensor>>>;

/// Where a gradient flowing backward out of a node goes.
#[derive(Clone)]
pub(crate) enum Edge {
    /// The input does not require grad.
    None,
    /// A leaf that requires grad: accumulate into its slot.
    Leaf(GradSlot),
    /// An intermediate result: continue into the node that produced it.
    Node(Arc<Node>),
}

type BackwardFn = Box<dyn Fn(&BackwardCtx<'_>) -> Vec<Option<Tensor>> + Send + Sync>;

/// One recorded op: its backward rule and where its input gradients go.
pub struct Node {
    id: u64,
    name: &'static str,
    backward: Mutex<Option<BackwardFn>>,
    edges: Vec<Edge>,
    output: Mutex<Option<Tensor>>,
    retain: AtomicBool,
    retained: Mutex<Option<Tensor>>,
    output_shape: Vec<usize>,
    input_shapes: Vec<Vec<usize>>,
}

impl Node {
    /// The op's name, as given to [`Tensor::record`].
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn set_retain(&self) {
        self.retain.store(true, Ordering::Relaxed);
    }

    pub(crate) fn retained_grad(&self) -> Option<Tensor> {
        lock(&self.retained).clone()
    }

    pub(crate) fn clear_retained(&self) {
        *lock(&self.retained) = None;
    }
}

/// Frees a graph without recursion. The default drop of an `Arc<Node>` chain recurses once
/// per node (node → edge → node → …), so a 50,000-op graph overflows an 8 MiB stack. Here a
/// node hands its input edges to an explicit stack instead; each parent whose last owner that
/// was is unwrapped (`Arc::into_inner`), its own edges moved onto the stack, and then dropped
/// with no edges left, so the recursion depth is 1 whatever the graph's depth (PyTorch frees
/// its graphs the same way, with a deferred-delete queue). A parent another tensor or node
/// still holds is only decremented.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending: Vec<Arc<Node>> = Vec::new();
        take_node_edges(&mut self.edges, &mut pending);
        while let Some(node) = pending.pop() {
            if let Some(mut last) = Arc::into_inner(node) {
                take_node_edges(&mut last.edges, &mut pending);
                // `last` drops here with no node edges: this `drop` does not recurse.
            }
        }
    }
}

/// Move the node edges out of `edges` into `pending` (leaf and empty edges just drop).
fn take_node_edges(edges: &mut Vec<Edge>, pending: &mut Vec<Arc<Node>>) {
    for e in std::mem::take(edges) {
        if let Edge::Node(n) = e {
            pending.push(n);
        }
    }
}

/// What a backward rule gets: the upstream gradient and, if the op asked for it, its output.
pub struct BackwardCtx<'a> {
    grad_output: &'a Tensor,
    output: Option<&'a Tensor>,
    needs: &'a [bool],
}

impl BackwardCtx<'_> {
    /// ∂L/∂y, with the shape of the op's output.
    pub fn grad_output(&self) -> &Tensor {
        self.grad_output
    }

    /// The op's output y (detached), when the op was recorded with `save_output = true`.
    ///
    /// # Panics
    /// If the op did not ask to save its output.
    pub fn output(&self) -> &Tensor {
        self.output
            .expect("BackwardCtx::output: the op was recorded with save_output = false")
    }

    /// Whether input `i` needs a gradient; rules may skip work (and return `None`) when not.
    pub fn needs_grad(&self, i: usize) -> bool {
        self.needs.get(i).copied().unwrap_or(false)
    }
}

static NEXT_NODE: AtomicU64 = AtomicU64::new(0);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic inside a backward rule must not poison every later step.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tensor {
    /// Attach a backward rule to `self`, the freshly computed result of an op on `inputs`.
    ///
    /// `backward` receives ∂L/∂self and returns one entry per input: `Some(∂L/∂input)` with
    /// the input's shape, or `None` when the input needs no gradient. It runs with graph
    /// recording disabled, so it may freely use tensor ops. With `save_output`, the rule can
    /// read the output through [`BackwardCtx::output`] (as sigmoid and tanh do) without the
    /// graph holding a reference cycle.
    ///
    /// Nothing is recorded (and `backward` is dropped at once) when recording is disabled or
    /// no input requires grad. This is the public way to define a custom op; see the module
    /// docs of [`crate::autograd`] for an example.
    pub fn record<F>(
        self,
        name: &'static str,
        inputs: &[&Tensor],
        save_output: bool,
        backward: F,
    ) -> Tensor
    where
        F: Fn(&BackwardCtx<'_>) -> Vec<Option<Tensor>> + Send + Sync + 'static,
    {
        if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
            return self;
        }
        let edges = inputs.iter().map(|t| t.edge()).collect();
        let node = Arc::new(Node {
            id: NEXT_NODE.fetch_add(1, Ordering::Relaxed),
            name,
            backward: Mutex::new(Some(Box::new(backward))),
            edges,
            output: Mutex::new(save_output.then(|| self.detach())),
            retain: AtomicBool::new(false),
            retained: Mutex::new(None),
            output_shape: self.shape().to_vec(),
            input_shapes: inputs.iter().map(|t| t.shape().to_vec()).collect(),
        });
        self.with_node(node)
    }

    /// Compute the gradient of this scalar with respect to every leaf that requires grad,
    /// adding it into each leaf's [`grad`](Tensor::grad) (PyTorch's `loss.backward()`).
    ///
    /// # Panics
    /// If `self` does not have exactly one element, does not require grad, or its graph was
    /// already consumed by an earlier `backward`.
    pub fn backward(&self) {
        assert_eq!(
            self.numel(),
            1,
            "backward: called on a tensor of shape {:?}; it needs a scalar (one element), \
             reduce it first (e.g. .sum_all() or .mean_all())",
            self.shape()
        );
        let seed = Tensor::ones(self.shape());
        self.backward_with(&seed);
    }

    /// Backpropagate an explicit upstream gradient `grad` (same shape as `self`), as PyTorch's
    /// `y.backward(gradient=grad)`: the leaves receive the vector–Jacobian product gradᵀ·∂y/∂x.
    ///
    /// # Panics
    /// If the shapes differ or `self` does not require grad.
    pub fn backward_with(&self, grad: &Tensor) {
        if self.shape() != grad.shape() {
            crate::layout::shape_panic(
                "backward",
                self.shape(),
                grad.shape(),
                "the seed gradient must have the output's shape",
            );
        }
        let _no_grad = NoGradGuard::new();
        match self.edge() {
            Edge::None => panic!(
                "backward: the tensor does not require grad (no parameter it depends on \
                 called requires_grad_(), or it was computed inside no_grad)"
            ),
            Edge::Leaf(slot) => accumulate_slot(&slot, grad.clone()),
            Edge::Node(root) => run_backward(root, grad.clone()),
        }
    }
}

fn accumulate_slot(slot: &GradSlot, g: Tensor) {
    let mut s = lock(slot);
    *s = Some(match s.take() {
        // Gradients computed in backward carry no graph; a user's seed might, so cut it. Not
        // cloning first keeps the buffer exclusive when nothing else holds it (no copy).
        None => {
            let g = if g.requires_grad() { g.detach() } else { g };
            g.into_exclusive()
        }
        Some(prev) => prev.add(&g),
    });
}

fn run_backward(root: Arc<Node>, seed: Tensor) {
    // Reverse topological order by iterative DFS (deep nets would overflow a recursive one).
    let mut order: Vec<Arc<Node>> = Vec::new();
    let mut visited: HashSet<u64> = HashSet::new();
    let mut stack: Vec<(Arc<Node>, bool)> = vec![(root.clone(), false)];
    while let Some((node, expanded)) = stack.pop() {
        if expanded {
            order.push(node);
            continue;
        }
        if !visited.insert(node.id) {
            continue;
        }
        stack.push((node.clone(), true));
        for e in &node.edges {
            if let Edge::Node(parent) = e
                && !visited.contains(&parent.id)
            {
                stack.push((parent.clone(), false));
            }
        }
    }
    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    grads.insert(root.id, seed);
    for node in order.iter().rev() {
        let Some(g) = grads.remove(&node.id) else {
            continue;
        };
        if node.retain.load(Ordering::Relaxed) {
            let mut r = lock(&node.retained);
            *r = Some(match r.take() {
                None => g.clone(),
                Some(prev) => prev.add(&g),
            });
        }
        let backward = lock(&node.backward).take().unwrap_or_else(|| {
            panic!(
                "backward: the graph through op `{}` was already used by an earlier backward() \
                 and its saved tensors were freed; recompute the forward pass",
                node.name
            )
        });
        let output = lock(&node.output).take();
        let needs: Vec<bool> = node
            .edges
            .iter()
            .map(|e| !matches!(e, Edge::None))
            .collect();
        let ctx = BackwardCtx {
            grad_output: &g,
            output: output.as_ref(),
            needs: &needs,
        };
        debug_assert_eq!(g.shape(), node.output_shape.as_slice());
        let input_grads = backward(&ctx);
        assert_eq!(
            input_grads.len(),
            node.edges.len(),
            "backward of `{}` returned {} gradients for {} inputs",
            node.name,
            input_grads.len(),
            node.edges.len()
        );
        for (i, (edge, ig)) in node.edges.iter().zip(input_grads).enumerate() {
            let Some(ig) = ig else { continue };
            if ig.shape() != node.input_shapes[i].as_slice() {
                crate::layout::shape_panic(
                    node.name,
                    &node.input_shapes[i],
                    ig.shape(),
                    &format!("backward returned a gradient for input {i} with the wrong shape"),
                );
            }
            match edge {
                Edge::None => {}
                Edge::Leaf(slot) => accumulate_slot(slot, ig),
                Edge::Node(parent) => {
                    let entry = grads.remove(&parent.id);
                    grads.insert(
                        parent.id,
                        match entry {
                            None => ig,
                            Some(prev) => prev.add(&ig),
                        },
                    );
                }
            }
        }
    }
}
