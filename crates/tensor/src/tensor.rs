//! The [`Tensor`] type: shared storage, a view layout, and a link into the autodiff graph.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::autograd::{Edge, GradSlot, Node};
use crate::layout::{Layout, shape_panic};

/// An n-dimensional array of `f32` that can record the ops applied to it for backprop.
///
/// Cloning is cheap (a reference count): clones share data *and* gradient, like Python
/// references to one `torch.Tensor`. Views (reshape, transpose, permute, narrow, expand)
/// share the buffer and cost no copy. Tensors are `Send + Sync`, so batches can be built on
/// other threads.
///
/// ```
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
/// let xt = x.t(); // a view, no copy
/// assert_eq!(xt.shape(), &[3, 2]);
/// assert_eq!(xt.to_vec(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
#[derive(Clone)]
pub struct Tensor(Arc<Inner>);

struct Inner {
    storage: Arc<RwLock<Vec<f32>>>,
    layout: Layout,
    link: Edge,
}

/// Reads a tensor's elements; either a borrowed contiguous slice or a gathered copy.
pub(crate) enum Data<'a> {
    Borrowed(RwLockReadGuard<'a, Vec<f32>>, std::ops::Range<usize>),
    Owned(Vec<f32>),
}

impl std::ops::Deref for Data<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Data::Borrowed(g, r) => &g[r.clone()],
            Data::Owned(v) => v,
        }
    }
}

impl Tensor {
    // ----- creation -------------------------------------------------------------------------

    /// A tensor owning `data`, read in row-major order as `shape`.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`.
    #[track_caller]
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Tensor {
        let numel: usize = shape.iter().product();
        assert_eq!(
            data.len(),
            numel,
            "from_vec: {} values cannot fill shape {shape:?} ({numel} elements)",
            data.len()
        );
        Tensor::from_parts(
            Arc::new(RwLock::new(data)),
            Layout::contiguous(shape),
            Edge::None,
        )
    }

    fn from_parts(storage: Arc<RwLock<Vec<f32>>>, layout: Layout, link: Edge) -> Tensor {
        Tensor(Arc::new(Inner {
            storage,
            layout,
            link,
        }))
    }

    /// A 0-dimensional tensor holding `v`.
    pub fn scalar(v: f32) -> Tensor {
        Tensor::from_vec(vec![v], &[])
    }

    /// Every element equal to `v`.
    pub fn full(shape: &[usize], v: f32) -> Tensor {
        Tensor::from_vec(vec![v; shape.iter().product()], shape)
    }

    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    /// All ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// Zeros with the shape of `self`.
    pub fn zeros_like(&self) -> Tensor {
        Tensor::zeros(self.shape())
    }

    /// `start, start + step, …` up to but excluding `end` (1-D), as `torch.arange`.
    ///
    /// # Panics
    /// If `step` is zero or has the wrong sign for the range.
    pub fn arange(start: f32, end: f32, step: f32) -> Tensor {
        assert!(
            step != 0.0 && (end - start) * step >= 0.0,
            "arange: step {step} cannot go from {start} to {end}"
        );
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let data: Vec<f32> = (0..n).map(|i| start + i as f32 * step).collect();
        Tensor::from_vec(data, &[n])
    }

    /// `n` evenly spaced points from `start` to `end` inclusive (1-D), as `torch.linspace`.
    pub fn linspace(start: f32, end: f32, n: usize) -> Tensor {
        let data = (0..n)
            .map(|i| {
                if n == 1 {
                    start
                } else {
                    start + (end - start) * i as f32 / (n - 1) as f32
                }
            })
            .collect();
        Tensor::from_vec(data, &[n])
    }

    /// The n×n identity matrix.
    pub fn eye(n: usize) -> Tensor {
        let mut data = vec![0.0; n * n];
        for i in 0..n {
            data[i * n + i] = 1.0;
        }
        Tensor::from_vec(data, &[n, n])
    }

    /// Samples of U(low, high) from `rng` (seed it for reproducible runs).
    ///
    /// # Panics
    /// If `low >= high` or either is not finite.
    pub fn rand<R: Rng + ?Sized>(shape: &[usize], low: f32, high: f32, rng: &mut R) -> Tensor {
        let dist = Uniform::new(low, high)
            .unwrap_or_else(|e| panic!("rand: bad range [{low}, {high}): {e}"));
        let data = (0..shape.iter().product())
            .map(|_| dist.sample(rng))
            .collect();
        Tensor::from_vec(data, shape)
    }

    /// Samples of N(mean, std²) from `rng`; `std` is the standard deviation, as in
    /// `rand_distr::Normal` and `torch.normal`.
    ///
    /// # Panics
    /// If `std` is negative or not finite.
    pub fn randn<R: Rng + ?Sized>(shape: &[usize], mean: f32, std: f32, rng: &mut R) -> Tensor {
        let dist = Normal::new(mean, std).unwrap_or_else(|e| panic!("randn: bad std {std}: {e}"));
        let data = (0..shape.iter().product())
            .map(|_| dist.sample(rng))
            .collect();
        Tensor::from_vec(data, shape)
    }

    // ----- reading --------------------------------------------------------------------------

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        self.0.layout.shape()
    }

    /// Size of dimension `dim`.
    ///
    /// # Panics
    /// If `dim` is out of range.
    #[track_caller]
    pub fn dim(&self, dim: usize) -> usize {
        self.check_dim("dim", dim);
        self.shape()[dim]
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.layout.rank()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }

    /// The view's layout (shape, strides, offset).
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }

    /// True when the elements are stored in row-major order without gaps.
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }

    /// True when `self` and `other` view the same buffer.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }

    pub(crate) fn read_storage(&self) -> RwLockReadGuard<'_, Vec<f32>> {
        self.0.storage.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The elements in row-major order: borrowed when contiguous, gathered otherwise.
    pub(crate) fn data(&self) -> Data<'_> {
        let guard = self.read_storage();
        match self.0.layout.contiguous_range() {
            Some(r) => Data::Borrowed(guard, r),
            None => {
                // Run by run: a run with unit stride (the last dimension of a transposed or
                // permuted view, typically) is one slice copy, not an element-by-element push.
                let mut out = Vec::with_capacity(self.numel());
                self.0.layout.for_each_run(|start, len, stride| {
                    if stride == 1 {
                        out.extend_from_slice(&guard[start..start + len]);
                    } else {
                        out.extend((0..len).map(|i| guard[start + i * stride]));
                    }
                });
                Data::Owned(out)
            }
        }
    }

    /// `self` when it is contiguous and nothing else holds its buffer, else a fresh copy: a
    /// tensor that can be stored (as a gradient) and later updated in place without the
    /// update showing through another tensor (PyTorch's AccumulateGrad steals or clones the
    /// same way).
    pub(crate) fn into_exclusive(self) -> Tensor {
        let exclusive = self.is_contiguous()
            && self.0.layout.offset() == 0
            && Arc::strong_count(&self.0) == 1
            && Arc::strong_count(&self.0.storage) == 1
            && self.read_storage().len() == self.numel();
        if exclusive {
            self
        } else {
            Tensor::from_vec(self.to_vec(), self.shape())
        }
    }

    /// The elements in row-major order, copied.
    pub fn to_vec(&self) -> Vec<f32> {
        match self.data() {
            Data::Owned(v) => v,
            borrowed => borrowed.to_vec(),
        }
    }

    /// Run `f` on the elements in row-major order without copying when contiguous.
    pub fn with_data<R>(&self, f: impl FnOnce(&[f32]) -> R) -> R {
        f(&self.data())
    }

    /// The single value of a one-element tensor (PyTorch's `.item()`).
    ///
    /// # Panics
    /// If the tensor has more than one element.
    #[track_caller]
    pub fn item(&self) -> f32 {
        assert_eq!(
            self.numel(),
            1,
            "item: tensor of shape {:?} has {} elements, not 1",
            self.shape(),
            self.numel()
        );
        self.read_storage()[self.0.layout.offset()]
    }

    /// The element at multi-index `index`.
    ///
    /// # Panics
    /// If the index has the wrong rank or is out of bounds.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> f32 {
        if index.len() != self.rank() || index.iter().zip(self.shape()).any(|(i, d)| i >= d) {
            shape_panic("get", self.shape(), index, "index out of bounds");
        }
        let l = &self.0.layout;
        let pos = l.offset()
            + index
                .iter()
                .zip(l.strides())
                .map(|(i, s)| i * s)
                .sum::<usize>();
        self.read_storage()[pos]
    }

    /// True when no element is NaN or ±∞. One pass, no allocation when contiguous.
    pub fn all_finite(&self) -> bool {
        self.with_data(crate::kernels::map::all_finite)
    }

    // ----- autograd handles -----------------------------------------------------------------

    pub(crate) fn edge(&self) -> Edge {
        self.0.link.clone()
    }

    pub(crate) fn with_node(self, node: Arc<Node>) -> Tensor {
        Tensor::from_parts(
            self.0.storage.clone(),
            self.0.layout.clone(),
            Edge::Node(node),
        )
    }

    /// A leaf that requires grad and shares `self`'s data: a trainable parameter.
    /// Gradients of later `backward` calls accumulate into [`grad`](Tensor::grad).
    pub fn requires_grad_(self) -> Tensor {
        let slot: GradSlot = Arc::new(Mutex::new(None));
        Tensor::from_parts(
            self.0.storage.clone(),
            self.0.layout.clone(),
            Edge::Leaf(slot),
        )
    }

    /// Whether gradients flow to this tensor (a parameter, or computed from one).
    pub fn requires_grad(&self) -> bool {
        !matches!(self.0.link, Edge::None)
    }

    /// True for tensors not produced by a recorded op (parameters and plain data).
    pub fn is_leaf(&self) -> bool {
        !matches!(self.0.link, Edge::Node(_))
    }

    /// The name of the op that produced this tensor, if it was recorded.
    pub fn op_name(&self) -> Option<&'static str> {
        match &self.0.link {
            Edge::Node(n) => Some(n.name()),
            _ => None,
        }
    }

    /// The same data, cut from the graph: gradients do not flow through the result.
    pub fn detach(&self) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), self.0.layout.clone(), Edge::None)
    }

    /// The accumulated gradient of a leaf, or of an intermediate after
    /// [`retain_grad`](Tensor::retain_grad); `None` before any backward or after
    /// [`zero_grad`](Tensor::zero_grad).
    pub fn grad(&self) -> Option<Tensor> {
        match &self.0.link {
            Edge::None => None,
            Edge::Leaf(slot) => slot.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            Edge::Node(n) => n.retained_grad(),
        }
    }

    /// Forget the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        match &self.0.link {
            Edge::None => {}
            Edge::Leaf(slot) => *slot.lock().unwrap_or_else(|e| e.into_inner()) = None,
            Edge::Node(n) => n.clear_retained(),
        }
    }

    /// Replace a leaf's gradient (what clipping does).
    ///
    /// # Panics
    /// If `self` is not a leaf that requires grad, or `grad` has another shape.
    #[track_caller]
    pub fn set_grad(&self, grad: Option<Tensor>) {
        if let Some(g) = &grad
            && g.shape() != self.shape()
        {
            shape_panic(
                "set_grad",
                self.shape(),
                g.shape(),
                "gradient shape must match",
            );
        }
        match &self.0.link {
            Edge::Leaf(slot) => {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = grad.map(|g| g.detach())
            }
            _ => panic!("set_grad: only a leaf that requires grad holds a gradient"),
        }
    }

    /// Keep ∂L/∂self after the next `backward` even though `self` is an intermediate result
    /// (PyTorch's `retain_grad`). The vanishing-gradient lab uses it to read ∂L/∂h for every
    /// hidden layer. No effect on leaves (they always keep their gradient) or on tensors that
    /// do not require grad.
    pub fn retain_grad(&self) {
        if let Edge::Node(n) = &self.0.link {
            n.set_retain();
        }
    }

    /// Overwrite the elements in place, outside the graph (an optimizer step). `f` gets the
    /// contiguous elements of this tensor.
    ///
    /// # Panics
    /// If the tensor is not contiguous.
    pub fn update_data(&self, f: impl FnOnce(&mut [f32])) {
        let range = self.0.layout.contiguous_range().unwrap_or_else(|| {
            panic!(
                "update_data: tensor of shape {:?} is a non-contiguous view",
                self.shape()
            )
        });
        let mut guard = self.0.storage.write().unwrap_or_else(|e| e.into_inner());
        f(&mut guard[range]);
    }

    /// Copy `src`'s values into `self` in place, outside the graph.
    ///
    /// # Panics
    /// If the shapes differ or `self` is not contiguous.
    #[track_caller]
    pub fn assign(&self, src: &Tensor) {
        if src.shape() != self.shape() {
            shape_panic("assign", self.shape(), src.shape(), "shapes must match");
        }
        let values = src.to_vec();
        self.update_data(|d| d.copy_from_slice(&values));
    }

    // ----- views ----------------------------------------------------------------------------

    #[track_caller]
    pub(crate) fn check_dim(&self, op: &str, dim: usize) {
        assert!(
            dim < self.rank(),
            "{op}: dimension {dim} out of range for shape {:?}",
            self.shape()
        );
    }

    fn view(&self, layout: Layout) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), layout, Edge::None)
    }

    /// A contiguous tensor with the same values: `self` if already contiguous, else a copy.
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() {
            return self.clone();
        }
        Tensor::from_vec(self.to_vec(), self.shape()).record("contiguous", &[self], false, |c| {
            vec![Some(c.grad_output().clone())]
        })
    }

    /// The same elements read as `shape` (a view when `self` is contiguous, else a copy).
    ///
    /// # Panics
    /// If the element counts differ.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        if shape.iter().product::<usize>() != self.numel() {
            shape_panic("reshape", self.shape(), shape, "element counts differ");
        }
        let src = self.contiguous();
        let l = src.layout();
        let out = src.view(Layout::new(
            shape.to_vec(),
            crate::layout::contiguous_strides(shape),
            l.offset(),
        ));
        let in_shape = self.shape().to_vec();
        out.record("reshape", &[&src], false, move |c| {
            vec![Some(c.grad_output().reshape(&in_shape))]
        })
    }

    /// Flatten dimensions `start..=end` into one (as `torch.flatten(x, start, end)`).
    #[track_caller]
    pub fn flatten(&self, start: usize, end: usize) -> Tensor {
        assert!(
            start <= end && end < self.rank().max(1),
            "flatten: dims {start}..={end} out of range for shape {:?}",
            self.shape()
        );
        if self.rank() == 0 {
            return self.reshape(&[1]);
        }
        let s = self.shape();
        let mut shape = s[..start].to_vec();
        shape.push(s[start..=end].iter().product());
        shape.extend_from_slice(&s[end + 1..]);
        self.reshape(&shape)
    }

    /// Swap two dimensions (a view).
    #[track_caller]
    pub fn transpose(&self, d0: usize, d1: usize) -> Tensor {
        self.check_dim("transpose", d0);
        self.check_dim("transpose", d1);
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(d0, d1);
        self.permute(&perm)
    }

    /// The transpose of a matrix (a view).
    ///
    /// # Panics
    /// If `self` is not 2-D.
    #[track_caller]
    pub fn t(&self) -> Tensor {
        assert_eq!(
            self.rank(),
            2,
            "t: needs a 2-D tensor, got shape {:?}",
            self.shape()
        );
        self.transpose(0, 1)
    }

    /// Reorder the dimensions: result dim `k` is `self` dim `perm[k]` (a view).
    #[track_caller]
    pub fn permute(&self, perm: &[usize]) -> Tensor {
        let mut seen = vec![false; self.rank()];
        let ok = perm.len() == self.rank()
            && perm
                .iter()
                .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true));
        if !ok {
            shape_panic(
                "permute",
                self.shape(),
                perm,
                "not a permutation of the dims",
            );
        }
        let l = self.layout();
        let out = self.view(Layout::new(
            perm.iter().map(|&p| l.shape()[p]).collect(),
            perm.iter().map(|&p| l.strides()[p]).collect(),
            l.offset(),
        ));
        let mut inverse = vec![0; perm.len()];
        for (k, &p) in perm.iter().enumerate() {
            inverse[p] = k;
        }
        out.record("permute", &[self], false, move |c| {
            vec![Some(c.grad_output().permute(&inverse))]
        })
    }

    /// Elements `start..start + len` along `dim` (a view).
    #[track_caller]
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Tensor {
        self.check_dim("narrow", dim);
        if start + len > self.shape()[dim] {
            shape_panic(
                "narrow",
                self.shape(),
                &[dim, start, len],
                "range [start, start+len) leaves the dimension",
            );
        }
        let l = self.layout();
        let mut shape = l.shape().to_vec();
        shape[dim] = len;
        let out = self.view(Layout::new(
            shape,
            l.strides().to_vec(),
            l.offset() + start * l.strides()[dim],
        ));
        let in_shape = self.shape().to_vec();
        out.record("narrow", &[self], false, move |c| {
            vec![Some(crate::ops::shape_ops::pad_narrow(
                c.grad_output(),
                &in_shape,
                dim,
                start,
            ))]
        })
    }

    /// Index `i` along `dim`, removing that dimension (a view), as `x.select(dim, i)`.
    #[track_caller]
    pub fn select(&self, dim: usize, i: usize) -> Tensor {
        self.narrow(dim, i, 1).squeeze(dim)
    }

    /// Insert a dimension of size 1 at `dim`.
    #[track_caller]
    pub fn unsqueeze(&self, dim: usize) -> Tensor {
        assert!(
            dim <= self.rank(),
            "unsqueeze: dimension {dim} out of range for shape {:?}",
            self.shape()
        );
        let mut shape = self.shape().to_vec();
        shape.insert(dim, 1);
        self.reshape(&shape)
    }

    /// Remove dimension `dim`, which must have size 1.
    #[track_caller]
    pub fn squeeze(&self, dim: usize) -> Tensor {
        self.check_dim("squeeze", dim);
        assert_eq!(
            self.shape()[dim],
            1,
            "squeeze: dimension {dim} of shape {:?} is not 1",
            self.shape()
        );
        let mut shape = self.shape().to_vec();
        shape.remove(dim);
        self.reshape(&shape)
    }

    /// Broadcast to `shape` without copying (stride 0 on stretched dims), as `expand`.
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        if self.shape() == shape {
            return self.clone();
        }
        let strides = self.layout().broadcast_strides("broadcast_to", shape);
        let out = self.view(Layout::new(shape.to_vec(), strides, self.layout().offset()));
        let in_shape = self.shape().to_vec();
        out.record("broadcast_to", &[self], false, move |c| {
            vec![Some(c.grad_output().sum_to(&in_shape))]
        })
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Shows the shape, where the tensor came from, and up to 8 leading values.
///
/// ```
/// use gradflow_tensor::Tensor;
/// let s = format!("{}", Tensor::arange(0.0, 3.0, 1.0));
/// assert_eq!(s, "Tensor[3] [0, 1, 2]");
/// ```
impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREVIEW: usize = 8;
        write!(f, "Tensor{:?}", self.shape())?;
        match &self.0.link {
            Edge::Leaf(_) => write!(f, " (requires_grad)")?,
            Edge::Node(n) => write!(f, " (grad_fn={})", n.name())?,
            Edge::None => {}
        }
        let data = self.data();
        let shown: Vec<String> = data.iter().take(PREVIEW).map(|v| format!("{v}")).collect();
        write!(f, " [{}", shown.join(", "))?;
        if data.len() > PREVIEW {
            write!(f, ", … {} more", data.len() - PREVIEW)?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tensor>();
    }

    #[test]
    fn views_share_storage_and_read_correctly() {
        let x = Tensor::arange(0.0, 24.0, 1.0).reshape(&[2, 3, 4]);
        let p = x.permute(&[2, 0, 1]);
        assert!(p.shares_storage(&x));
        assert_eq!(p.shape(), &[4, 2, 3]);
        assert_eq!(p.get(&[3, 1, 2]), x.get(&[1, 2, 3]));
        let n = x.narrow(2, 1, 2);
        assert_eq!(n.to_vec()[..4], [1.0, 2.0, 5.0, 6.0]);
        assert!(n.shares_storage(&x));
    }

    #[test]
    #[should_panic(expected = "from_vec: 5 values cannot fill shape [2, 3]")]
    fn from_vec_checks_length() {
        Tensor::from_vec(vec![0.0; 5], &[2, 3]);
    }

    #[test]
    fn display_previews() {
        let s = format!("{}", Tensor::zeros(&[3, 4]));
        assert_eq!(s, "Tensor[3, 4] [0, 0, 0, 0, 0, 0, 0, 0, … 4 more]");
    }
}
