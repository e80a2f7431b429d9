//! Shapes, strides and broadcasting: how a flat buffer is read as an n-dimensional array.
//!
//! A [`Layout`] maps an index `(i₀, …, i_{r−1})` to the buffer position
//! `offset + Σ_k i_k · strides[k]`. Reshape (of a contiguous layout), transpose, permute,
//! narrow and expand only change the layout, so they never copy data. Broadcasting follows
//! NumPy: shapes are aligned at their trailing dimensions and a dimension of size 1 stretches
//! to match (stride 0); any other mismatch is an error.

/// Shape, strides (in elements) and starting offset of a view into a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

/// Row-major (C order) strides for `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for k in (0..shape.len()).rev() {
        strides[k] = acc;
        acc *= shape[k];
    }
    strides
}

/// The one place where a shape error becomes a panic: it names the op and both shapes.
///
/// Shape mismatches inside tensor math are programmer errors (see the crate's panic policy),
/// so they panic instead of returning `Result`.
#[track_caller]
pub fn shape_panic(op: &str, lhs: &[usize], rhs: &[usize], why: &str) -> ! {
    panic!("{op}: incompatible shapes {lhs:?} and {rhs:?}: {why}")
}

/// The NumPy broadcast of two shapes, or a panic naming `op` and both shapes.
///
/// ```
/// use gradflow_tensor::layout::broadcast_shape;
/// assert_eq!(broadcast_shape("add", &[4, 1, 3], &[5, 1]), vec![4, 5, 3]);
/// ```
#[track_caller]
pub fn broadcast_shape(op: &str, a: &[usize], b: &[usize]) -> Vec<usize> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for k in 0..rank {
        let da = if k + a.len() >= rank {
            a[k + a.len() - rank]
        } else {
            1
        };
        let db = if k + b.len() >= rank {
            b[k + b.len() - rank]
        } else {
            1
        };
        out[k] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => shape_panic(
                op,
                a,
                b,
                &format!("dimension {k} of the broadcast differs ({da} vs {db}) and neither is 1"),
            ),
        };
    }
    out
}

impl Layout {
    /// A contiguous row-major layout of `shape` starting at offset 0.
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    /// A layout from its parts; `strides` must have the same length as `shape`.
    pub fn new(shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Self {
        assert_eq!(
            shape.len(),
            strides.len(),
            "Layout::new: shape {shape:?} and strides {strides:?} differ in rank"
        );
        Layout {
            shape,
            strides,
            offset,
        }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Elements to skip in the buffer to move one step along each dimension.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Buffer position of the first element.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements, the product of the shape (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the elements lie in row-major order without gaps (size-1 dims are ignored).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for k in (0..self.shape.len()).rev() {
            if self.shape[k] == 1 {
                continue;
            }
            if self.strides[k] != expected {
                return false;
            }
            expected *= self.shape[k];
        }
        true
    }

    /// The buffer range a contiguous layout covers.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        self.is_contiguous()
            .then(|| self.offset..self.offset + self.numel())
    }

    /// Strides that read this layout as if it had `out_shape` (NumPy broadcasting, stride 0
    /// on stretched dimensions).
    #[track_caller]
    pub fn broadcast_strides(&self, op: &str, out_shape: &[usize]) -> Vec<usize> {
        let rank = out_shape.len();
        if self.rank() > rank {
            shape_panic(
                op,
                &self.shape,
                out_shape,
                "cannot broadcast to a lower rank",
            );
        }
        let lead = rank - self.rank();
        (0..rank)
            .map(|k| {
                if k < lead {
                    0
                } else {
                    let d = self.shape[k - lead];
                    if d == out_shape[k] {
                        self.strides[k - lead]
                    } else if d == 1 {
                        0
                    } else {
                        shape_panic(op, &self.shape, out_shape, "cannot broadcast")
                    }
                }
            })
            .collect()
    }

    /// Visit the buffer position of every element in row-major order.
    pub fn for_each_offset(&self, mut f: impl FnMut(usize)) {
        self.for_each_run(|o, len, s| {
            for i in 0..len {
                f(o + i * s);
            }
        });
    }

    /// Calls `f(start, len, stride)` for each run of elements in row-major order: the
    /// buffer offsets `start + i·stride` for `i < len`. Neighbouring dimensions that are
    /// contiguous with each other are merged first (see [`strided_rows`]), so runs are as
    /// long as the layout allows; a run with stride 1 is a plain slice.
    pub fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        strided_rows(&self.shape, &[&self.strides], |offs, len, inner| {
            f(offs[0] + self.offset, len, inner[0])
        });
    }
}

/// Iterate over `shape` row by row for several operands at once.
///
/// Dimensions of size 1 are dropped and neighbours that are contiguous for every operand are
/// merged, so the innermost run is as long as possible. For each run the callback gets the
/// starting offset of every operand, the run length, and every operand's stride inside the
/// run. Kernels put their tight loop inside the callback.
pub fn strided_rows(
    shape: &[usize],
    strides: &[&[usize]],
    mut f: impl FnMut(&[usize], usize, &[usize]),
) {
    let n_ops = strides.len();
    // Collapse: (size, strides per operand), dropping size-1 dims and merging mergeable dims.
    let mut dims: Vec<(usize, Vec<usize>)> = Vec::with_capacity(shape.len());
    for (k, &size) in shape.iter().enumerate() {
        if size == 0 {
            return;
        }
        if size == 1 {
            continue;
        }
        let s: Vec<usize> = strides.iter().map(|st| st[k]).collect();
        if let Some((psize, ps)) = dims.last_mut()
            && (0..n_ops).all(|i| ps[i] == s[i] * size)
        {
            *psize *= size;
            ps.clone_from(&s);
            continue;
        }
        dims.push((size, s));
    }
    let (len, inner) = match dims.pop() {
        Some(last) => last,
        None => (1, vec![0; n_ops]),
    };
    let outer: usize = dims.iter().map(|d| d.0).product();
    let mut idx = vec![0usize; dims.len()];
    let mut offs = vec![0usize; n_ops];
    for _ in 0..outer {
        f(&offs, len, &inner);
        // Increment the multi-index over the outer dims, updating offsets incrementally.
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            for (o, s) in offs.iter_mut().zip(&dims[d].1) {
                *o += s;
            }
            if idx[d] < dims[d].0 {
                break;
            }
            for (o, s) in offs.iter_mut().zip(&dims[d].1) {
                *o -= s * dims[d].0;
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(broadcast_shape("t", &[2, 3], &[3]), vec![2, 3]);
        assert_eq!(broadcast_shape("t", &[1], &[7, 1, 2]), vec![7, 1, 2]);
        assert_eq!(broadcast_shape("t", &[], &[2]), vec![2]);
    }

    #[test]
    #[should_panic(expected = "add: incompatible shapes [2, 3] and [2]")]
    fn broadcast_rejects_mismatch() {
        broadcast_shape("add", &[2, 3], &[2]);
    }

    #[test]
    fn strided_rows_merges_contiguous_dims() {
        let mut runs = vec![];
        strided_rows(&[2, 3, 4], &[&[12, 4, 1]], |o, len, s| {
            runs.push((o[0], len, s[0]))
        });
        assert_eq!(runs, vec![(0, 24, 1)]);
        // A transposed 3x2 view of a 2x3 buffer: 3 runs of 2 with stride 3.
        let mut offs = vec![];
        Layout::new(vec![3, 2], vec![1, 3], 0).for_each_offset(|o| offs.push(o));
        assert_eq!(offs, vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn runs_are_as_long_as_the_layout_allows() {
        let runs = |l: &Layout| {
            let mut v = vec![];
            l.for_each_run(|o, len, s| v.push((o, len, s)));
            v
        };
        // Contiguous with an offset: one run.
        assert_eq!(
            runs(&Layout::new(vec![2, 3], vec![3, 1], 5)),
            vec![(5, 6, 1)]
        );
        // The transposed 3x2 view: per output row, a run of 2 with stride 3.
        let t = Layout::new(vec![3, 2], vec![1, 3], 0);
        assert_eq!(runs(&t), vec![(0, 2, 3), (1, 2, 3), (2, 2, 3)]);
        // A [2, 3, 4] buffer with its first two dims swapped: unit-stride runs of 4.
        let p = Layout::new(vec![3, 2, 4], vec![4, 12, 1], 0);
        let r = runs(&p);
        assert_eq!(r.len(), 6);
        assert!(r.iter().all(|&(_, len, s)| len == 4 && s == 1));
        assert_eq!(r[1].0, 12);
    }
}
