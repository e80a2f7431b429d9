//! Elementwise loops: `out[i] = f(x[i])` and `out[i] = f(a[i], b[i])` over contiguous
//! slices, widened to AVX2 + FMA at run time ([`super::simd`]) and split over threads above
//! [`PAR_MIN_ELEMS`] elements.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::gemm::{MatRef, launch};
use super::panel::PackedWeights;
use super::simd::has_avx2_fma;
use crate::parallel::PAR_MIN_ELEMS;

/// `out[i] = f(x[i])` on one thread, compiled for AVX2 + FMA when the CPU has them: `f` is
/// inlined into the wide loop, so branch-free kernels such as [`crate::math::exp`] run 8
/// lanes at a time instead of 4. Writes every element of `out` (it may be uninitialized
/// memory), which must be as long as `x`.
fn map_serial(x: &[f32], out: &mut [MaybeUninit<f32>], f: &(impl Fn(f32) -> f32 + Sync)) {
    assert_eq!(x.len(), out.len(), "map_serial: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(x: &[f32], out: &mut [MaybeUninit<f32>], f: &(impl Fn(f32) -> f32 + Sync)) {
            for (o, &v) in out.iter_mut().zip(x) {
                o.write(f(v));
            }
        }
        if has_avx2_fma() {
            // SAFETY: `wide` only enables AVX2 and FMA, which the CPU was just checked to have;
            // it is otherwise safe code (slice iteration, bounds by `zip`).
            unsafe { wide(x, out, f) };
            return;
        }
    }
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(f(v));
    }
}

/// A new vector of `n` elements, every one written by `fill` into fresh capacity: a
/// `vec![0.0; n]` would be a memset (and, for a buffer the allocator reused, a second pass
/// over memory) that the loop then overwrites; memset was 12 % of the CIFAR resnet20 step.
/// `fill` must write all `n` elements, as [`map_serial`] and [`zip_serial`] do (they assert
/// their lengths).
fn filled(n: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    fill(&mut out.spare_capacity_mut()[..n]);
    // SAFETY: `fill` initialized the first n elements of the spare capacity (its contract,
    // kept by this module's callers: every chunk goes through a length-checked serial
    // kernel that writes each of its elements). Had it panicked, `out` would be dropped
    // with length 0, reading nothing.
    unsafe { out.set_len(n) };
    out
}

/// True when no element is NaN or ±∞: one pass with no early exit, so that it vectorizes
/// (the fast paths that fall back on a value that is not finite check whole operands).
#[inline(always)]
pub(crate) fn all_finite(v: &[f32]) -> bool {
    v.iter().fold(true, |a, x| a & x.is_finite())
}

/// Apply `f` to every element, splitting the work over threads for large inputs.
pub(crate) fn map_slice(x: &[f32], f: impl Fn(f32) -> f32 + Sync + Send) -> Vec<f32> {
    map_slice_from(x, PAR_MIN_ELEMS, f)
}

/// [`map_slice`], split over threads from `min_par` elements on (in pieces of a quarter of
/// that): a lower threshold for functions that cost more per element than a memory pass.
pub(crate) fn map_slice_from(
    x: &[f32],
    min_par: usize,
    f: impl Fn(f32) -> f32 + Sync + Send,
) -> Vec<f32> {
    let min_par = min_par.max(4);
    filled(x.len(), |out| {
        if x.len() >= min_par {
            out.par_chunks_mut(min_par / 4)
                .zip(x.par_chunks(min_par / 4))
                .for_each(|(o, xs)| map_serial(xs, o, &f));
        } else {
            map_serial(x, out, &f);
        }
    })
}

/// `f(a[i], b[i])` for equal-length slices, split over threads for large inputs.
pub(crate) fn zip_slices(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "zip_slices: lengths differ");
    filled(a.len(), |out| {
        if a.len() >= PAR_MIN_ELEMS {
            let c = PAR_MIN_ELEMS / 4;
            out.par_chunks_mut(c)
                .zip(a.par_chunks(c).zip(b.par_chunks(c)))
                .for_each(|(o, (x, y))| zip_serial(x, y, o, &f));
        } else {
            zip_serial(a, b, out, &f);
        }
    })
}

/// `out[i] = f(a[i], b[i])` on one thread, widened like [`map_serial`]; writes every element
/// of `out`, which must be as long as `a` and `b`.
fn zip_serial(
    a: &[f32],
    b: &[f32],
    out: &mut [MaybeUninit<f32>],
    f: &(impl Fn(f32, f32) -> f32 + Sync),
) {
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "zip_serial: lengths differ"
    );
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(
            a: &[f32],
            b: &[f32],
            out: &mut [MaybeUninit<f32>],
            f: &(impl Fn(f32, f32) -> f32 + Sync),
        ) {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                o.write(f(x, y));
            }
        }
        if has_avx2_fma() {
            // SAFETY: `wide` only enables AVX2 and FMA, which the CPU was just checked to have;
            // it is otherwise safe code.
            unsafe { wide(a, b, out, f) };
            return;
        }
    }
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        o.write(f(x, y));
    }
}

/// Writes a new buffer front to back, for [`write_new`]: each call fills the next elements,
/// so a kernel outside this crate can produce its output without a zero-filled `vec!` first
/// (BatchNorm's output and input gradient: a memset over the whole tensor per call, 1.5–2.5 %
/// of a CIFAR ResNet step).
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut [MaybeUninit<f32>],
    next: usize,
}

impl Writer<'_> {
    /// Writes `f(x[i])` into the next `x.len()` elements (compiled for AVX2 when the CPU has
    /// it, like the tensor's own elementwise ops).
    ///
    /// # Panics
    /// If fewer than `x.len()` elements remain.
    pub fn map(&mut self, x: &[f32], f: impl Fn(f32) -> f32 + Sync) {
        let end = self.next + x.len();
        map_serial(x, &mut self.out[self.next..end], &f);
        self.next = end;
    }

    /// Writes `f(a[i], b[i])` into the next `a.len()` elements.
    ///
    /// # Panics
    /// If `a` and `b` differ in length or fewer than `a.len()` elements remain.
    pub fn zip(&mut self, a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
        let end = self.next + a.len();
        zip_serial(a, b, &mut self.out[self.next..end], &f);
        self.next = end;
    }

    /// Writes the product A\[m×k\] · B\[k×n\] into the next m·n elements (row-major, row
    /// stride n), plus `row_bias[i]` on every element of row i when given: the GEMM of
    /// [`gemm_into`](crate::gemm_into), `threads` as there, with no zero-filled destination
    /// first (a convolution's output: the zero fill was 5 % of a CIFAR ResNet evaluation).
    ///
    /// # Panics
    /// If fewer than m·n elements remain, `row_bias` does not hold m values, or an operand
    /// view reaches outside its buffer.
    ///
    /// ```
    /// use gradflow_tensor::{MatRef, write_new};
    /// let a = [1.0, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
    /// let b = [1.0, 0.0, 1.0, 1.0]; // [[1, 0], [1, 1]]
    /// let y = write_new(8, 8, |_, w| {
    ///     let (a, b) = (MatRef::row_major(&a, 2), MatRef::row_major(&b, 2));
    ///     w.gemm(2, 2, 2, a, b, None, 1);
    ///     w.gemm(2, 2, 2, a, b, Some(&[10.0, 20.0]), 1);
    /// });
    /// assert_eq!(y, [3.0, 2.0, 7.0, 4.0, 13.0, 12.0, 27.0, 24.0]);
    /// ```
    #[allow(clippy::too_many_arguments)] // gemm_into's arguments, less the destination
    pub fn gemm(
        &mut self,
        m: usize,
        n: usize,
        k: usize,
        a: MatRef<'_>,
        b: MatRef<'_>,
        row_bias: Option<&[f32]>,
        threads: usize,
    ) {
        let end = self.next + m * n;
        let dst = &mut self.out[self.next..end];
        start_rows(dst, m, n, k, row_bias, "Writer::gemm");
        if m > 0 && n > 0 && k > 0 {
            // SAFETY: `dst` holds m·n floats that nothing else refers to. Without a bias,
            // `launch` with `accumulate` false writes every one of them (k > 0: each is a
            // dot product) and reads none; with one, every element was just written, so the
            // accumulating product reads initialized values.
            unsafe {
                launch(
                    dst.as_mut_ptr().cast::<f32>(),
                    m,
                    n,
                    k,
                    a,
                    b,
                    row_bias.is_some(),
                    threads,
                );
            }
        }
        self.next = end;
    }

    /// Writes W · B into the next m·n elements, B supplied panel by panel by `fill`: see
    /// [`PackedWeights::product`], which this calls on them.
    pub(crate) fn product(
        &mut self,
        w: &PackedWeights,
        n: usize,
        bias: Option<&[f32]>,
        panel: &mut Vec<f32>,
        fill: impl FnMut(usize, usize, usize, &mut [f32]),
    ) {
        let end = self.next + w.rows() * n;
        w.product(&mut self.out[self.next..end], n, bias, panel, fill);
        self.next = end;
    }

    /// The next `len` elements, for a kernel of this crate that writes them itself (each
    /// one, before the buffer is read).
    ///
    /// # Panics
    /// If fewer than `len` elements remain.
    pub(crate) fn next_part(&mut self, len: usize) -> &mut [MaybeUninit<f32>] {
        let start = self.next;
        self.next += len;
        &mut self.out[start..self.next]
    }

    /// Writes one element.
    ///
    /// # Panics
    /// If the part is already full.
    pub fn push(&mut self, v: f32) {
        self.out[self.next].write(v);
        self.next += 1;
    }
}

/// Before a product of depth `k` is written into `dst` (`[m, n]`, possibly uninitialized):
/// each row set to its bias when there is one (the product then adds to it), every element
/// to 0 when k is 0 (no product writes it). `what` names the caller in the panic.
///
/// # Panics
/// If `bias` does not hold m values.
pub(super) fn start_rows(
    dst: &mut [MaybeUninit<f32>],
    m: usize,
    n: usize,
    k: usize,
    bias: Option<&[f32]>,
    what: &str,
) {
    if let Some(bias) = bias {
        assert_eq!(bias.len(), m, "{what}: {m} rows but {} biases", bias.len());
        for (row, &v) in dst.chunks_mut(n.max(1)).zip(bias) {
            row.iter_mut().for_each(|o| {
                o.write(v);
            });
        }
    } else if k == 0 {
        dst.iter_mut().for_each(|o| {
            o.write(0.0);
        });
    }
}

/// A new vector of `len` floats, written without zero-filling it first: `fill(range, writer)`
/// writes the elements `range` through `writer`, front to back, for consecutive parts of
/// `part` elements (the last may be shorter), in parallel when there are several.
///
/// # Panics
/// If `part` is 0 while `len` is not, or if `fill` leaves any element of its part unwritten
/// (nothing uninitialized is ever read: the vector is then dropped unfinished).
///
/// ```
/// use gradflow_tensor::write_new;
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0];
/// let y = write_new(5, 2, |range, w| w.map(&x[range], |v| v * 10.0));
/// assert_eq!(y, [10.0, 20.0, 30.0, 40.0, 50.0]);
/// ```
pub fn write_new(
    len: usize,
    part: usize,
    fill: impl Fn(Range<usize>, &mut Writer<'_>) + Sync,
) -> Vec<f32> {
    assert!(part > 0 || len == 0, "write_new: parts of 0 elements");
    let run = |i: usize, out: &mut [MaybeUninit<f32>]| {
        let start = i * part;
        let n = out.len();
        let mut w = Writer { out, next: 0 };
        fill(start..start + n, &mut w);
        assert_eq!(
            w.next, n,
            "write_new: the part at {start} wrote {} of its {n} elements",
            w.next
        );
    };
    filled(len, |out| {
        if len == 0 {
        } else if len <= part {
            run(0, out);
        } else {
            out.par_chunks_mut(part)
                .enumerate()
                .for_each(|(i, o)| run(i, o));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_new_fills_parts_in_order_and_in_parallel() {
        let a: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let y = write_new(1000, 96, |range, w| {
            let (lo, hi) = (range.start, range.end);
            w.push(a[lo] + 0.5);
            w.zip(&a[lo + 1..hi], &a[lo + 1..hi], |p, q| p + q);
        });
        for (i, v) in y.iter().enumerate() {
            let want = if i % 96 == 0 {
                i as f32 + 0.5
            } else {
                2.0 * i as f32
            };
            assert_eq!(*v, want, "element {i}");
        }
        assert!(write_new(0, 0, |_, _| unreachable!()).is_empty());
    }

    #[test]
    #[should_panic(expected = "wrote 3 of its 4 elements")]
    fn a_part_left_unfinished_panics() {
        write_new(8, 4, |range, w| {
            let x = vec![1.0f32; range.len() - 1];
            w.map(&x, |v| v);
        });
    }
}
