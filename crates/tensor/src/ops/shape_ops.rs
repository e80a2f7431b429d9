//! Joining, splitting and indexing: concat, stack, chunk, index_select, gather, one_hot.

use crate::Tensor;
use crate::layout::shape_panic;

/// Copy `src` (`[outer, len, inner]` viewed) into the slab `start..start+len` of `dst`
/// (`[outer, dst_len, inner]`) along the middle axis.
fn copy_slab(
    dst: &mut [f32],
    src: &[f32],
    outer: usize,
    dst_len: usize,
    start: usize,
    len: usize,
    inner: usize,
) {
    for o in 0..outer {
        let d0 = (o * dst_len + start) * inner;
        dst[d0..d0 + len * inner].copy_from_slice(&src[o * len * inner..(o + 1) * len * inner]);
    }
}

/// The gradient of [`Tensor::narrow`]: `g` placed at `start` along `dim` in zeros of `shape`.
pub(crate) fn pad_narrow(g: &Tensor, shape: &[usize], dim: usize, start: usize) -> Tensor {
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let mut out = vec![0.0f32; shape.iter().product()];
    g.with_data(|src| {
        copy_slab(
            &mut out,
            src,
            outer,
            shape[dim],
            start,
            g.shape()[dim],
            inner,
        )
    });
    Tensor::from_vec(out, shape)
}

impl Tensor {
    /// Join tensors along an existing dimension `dim` (`torch.cat`).
    ///
    /// # Panics
    /// If the list is empty, or the shapes differ anywhere but `dim`.
    #[track_caller]
    pub fn concat(tensors: &[&Tensor], dim: usize) -> Tensor {
        let first = tensors.first().expect("concat: needs at least one tensor");
        first.check_dim("concat", dim);
        for t in tensors {
            let ok = t.rank() == first.rank()
                && t.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(k, (a, b))| k == dim || a == b);
            if !ok {
                shape_panic(
                    "concat",
                    first.shape(),
                    t.shape(),
                    &format!("shapes must match except in dim {dim}"),
                );
            }
        }
        let mut shape = first.shape().to_vec();
        shape[dim] = tensors.iter().map(|t| t.shape()[dim]).sum();
        let outer: usize = shape[..dim].iter().product();
        let inner: usize = shape[dim + 1..].iter().product();
        let mut out = vec![0.0f32; shape.iter().product()];
        let mut start = 0;
        let mut spans = Vec::with_capacity(tensors.len());
        for t in tensors {
            let len = t.shape()[dim];
            t.with_data(|src| copy_slab(&mut out, src, outer, shape[dim], start, len, inner));
            spans.push((start, len));
            start += len;
        }
        Tensor::from_vec(out, &shape).record("concat", tensors, false, move |c| {
            spans
                .iter()
                .enumerate()
                .map(|(i, &(s, l))| {
                    c.needs_grad(i)
                        .then(|| c.grad_output().narrow(dim, s, l).contiguous())
                })
                .collect()
        })
    }

    /// Join equal-shaped tensors along a new dimension `dim` (`torch.stack`).
    #[track_caller]
    pub fn stack(tensors: &[&Tensor], dim: usize) -> Tensor {
        let first = tensors.first().expect("stack: needs at least one tensor");
        assert!(
            dim <= first.rank(),
            "stack: dimension {dim} out of range for shape {:?}",
            first.shape()
        );
        let expanded: Vec<Tensor> = tensors
            .iter()
            .map(|t| {
                if t.shape() != first.shape() {
                    shape_panic(
                        "stack",
                        first.shape(),
                        t.shape(),
                        "all tensors must have the same shape",
                    );
                }
                t.unsqueeze(dim)
            })
            .collect();
        let refs: Vec<&Tensor> = expanded.iter().collect();
        Tensor::concat(&refs, dim)
    }

    /// Split into `n` pieces along `dim` (views; the last may be smaller), as `torch.chunk`.
    #[track_caller]
    pub fn chunk(&self, n: usize, dim: usize) -> Vec<Tensor> {
        self.check_dim("chunk", dim);
        assert!(n > 0, "chunk: needs n > 0");
        let len = self.shape()[dim];
        let size = len.div_ceil(n).max(1);
        (0..len)
            .step_by(size)
            .map(|s| self.narrow(dim, s, size.min(len - s)))
            .collect()
    }

    /// Rows `indices` along `dim` (`torch.index_select`); an embedding lookup is
    /// `table.index_select(0, ids)`. The backward scatter-adds, so repeated indices
    /// accumulate.
    ///
    /// # Panics
    /// If an index is out of range.
    #[track_caller]
    pub fn index_select(&self, dim: usize, indices: &[usize]) -> Tensor {
        self.check_dim("index_select", dim);
        let shape = self.shape().to_vec();
        if let Some(&bad) = indices.iter().find(|&&i| i >= shape[dim]) {
            panic!("index_select: index {bad} out of range for dim {dim} of shape {shape:?}");
        }
        let outer: usize = shape[..dim].iter().product();
        let inner: usize = shape[dim + 1..].iter().product();
        let mut out_shape = shape.clone();
        out_shape[dim] = indices.len();
        let mut out = Vec::with_capacity(out_shape.iter().product());
        self.with_data(|x| {
            for o in 0..outer {
                for &i in indices {
                    let s = (o * shape[dim] + i) * inner;
                    out.extend_from_slice(&x[s..s + inner]);
                }
            }
        });
        let idx = indices.to_vec();
        Tensor::from_vec(out, &out_shape).record("index_select", &[self], false, move |c| {
            let mut dx = vec![0.0f32; shape.iter().product()];
            c.grad_output().with_data(|g| {
                for o in 0..outer {
                    for (k, &i) in idx.iter().enumerate() {
                        let d = (o * shape[dim] + i) * inner;
                        let s = (o * idx.len() + k) * inner;
                        for (a, b) in dx[d..d + inner].iter_mut().zip(&g[s..s + inner]) {
                            *a += b;
                        }
                    }
                }
            });
            vec![Some(Tensor::from_vec(dx, &shape))]
        })
    }

    /// `out[…, i, …] = self[…, index[…, i, …], …]` along `dim` (`torch.gather`). `index`
    /// is row-major with shape `index_shape`, which matches `self` except in `dim`.
    ///
    /// ```
    /// use gradflow_tensor::Tensor;
    /// // Pick each row's target logit.
    /// let logits = Tensor::from_vec(vec![0.1, 0.7, 0.2, 0.5, 0.3, 0.2], &[2, 3]);
    /// let picked = logits.gather(1, &[1, 0], &[2, 1]);
    /// assert_eq!(picked.to_vec(), vec![0.7, 0.5]);
    /// ```
    #[track_caller]
    pub fn gather(&self, dim: usize, index: &[usize], index_shape: &[usize]) -> Tensor {
        self.check_dim("gather", dim);
        let shape = self.shape().to_vec();
        let ok = index_shape.len() == shape.len()
            && index.len() == index_shape.iter().product::<usize>()
            && index_shape
                .iter()
                .zip(&shape)
                .enumerate()
                .all(|(k, (a, b))| k == dim || a == b);
        if !ok {
            shape_panic(
                "gather",
                &shape,
                index_shape,
                &format!("index must match the input except in dim {dim}"),
            );
        }
        if let Some(&bad) = index.iter().find(|&&i| i >= shape[dim]) {
            panic!("gather: index {bad} out of range for dim {dim} of shape {shape:?}");
        }
        let outer: usize = shape[..dim].iter().product();
        let inner: usize = shape[dim + 1..].iter().product();
        let m = index_shape[dim];
        // Source position of output element (o, k, i).
        let src_pos = move |o: usize, k: usize, i: usize, idx: &[usize]| {
            (o * shape[dim] + idx[(o * m + k) * inner + i]) * inner + i
        };
        let mut out = Vec::with_capacity(index.len());
        self.with_data(|x| {
            for o in 0..outer {
                for k in 0..m {
                    for i in 0..inner {
                        out.push(x[src_pos(o, k, i, index)]);
                    }
                }
            }
        });
        let idx = index.to_vec();
        let in_shape = self.shape().to_vec();
        Tensor::from_vec(out, index_shape).record("gather", &[self], false, move |c| {
            let mut dx = vec![0.0f32; in_shape.iter().product()];
            c.grad_output().with_data(|g| {
                let mut p = 0;
                for o in 0..outer {
                    for k in 0..m {
                        for i in 0..inner {
                            dx[src_pos(o, k, i, &idx)] += g[p];
                            p += 1;
                        }
                    }
                }
            });
            vec![Some(Tensor::from_vec(dx, &in_shape))]
        })
    }

    /// One-hot rows: `[indices.len(), num_classes]` with a 1 at each index.
    ///
    /// # Panics
    /// If an index is `>= num_classes`.
    #[track_caller]
    pub fn one_hot(indices: &[usize], num_classes: usize) -> Tensor {
        let mut out = vec![0.0f32; indices.len() * num_classes];
        for (r, &i) in indices.iter().enumerate() {
            assert!(
                i < num_classes,
                "one_hot: class {i} out of range for {num_classes} classes"
            );
            out[r * num_classes + i] = 1.0;
        }
        Tensor::from_vec(out, &[indices.len(), num_classes])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_then_chunk_round_trips() {
        let a = Tensor::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
        let b = Tensor::arange(6.0, 10.0, 1.0).reshape(&[2, 2]);
        let c = Tensor::concat(&[&a, &b], 1);
        assert_eq!(
            c.to_vec(),
            vec![0.0, 1.0, 2.0, 6.0, 7.0, 3.0, 4.0, 5.0, 8.0, 9.0]
        );
        let parts = c.chunk(2, 1);
        assert_eq!(parts[0].to_vec(), a.to_vec());
        assert_eq!(parts[1].shape(), &[2, 2]);
    }

    #[test]
    fn index_select_accumulates_repeated_rows() {
        let table = Tensor::ones(&[3, 2]).requires_grad_();
        table.index_select(0, &[2, 2, 0]).sum_all().backward();
        assert_eq!(
            table.grad().unwrap().to_vec(),
            vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]
        );
    }

    #[test]
    #[should_panic(expected = "stack: incompatible shapes [2] and [3]")]
    fn stack_rejects_mismatch() {
        Tensor::stack(&[&Tensor::zeros(&[2]), &Tensor::zeros(&[3])], 0);
    }
}
