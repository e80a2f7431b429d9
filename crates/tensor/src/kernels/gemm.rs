//! The one call into the `gemm` crate: a strided matrix product into a row-major buffer.
//! Matmul, the fused linear layer and conv2d (im2col) all go through [`gemm_into`].
//!
//! # Two threads: halves under `rayon::join`
//!
//! `gemm` 0.19's own `Parallelism::Rayon(2)` scales poorly at the sizes of a training step
//! (1.2× at 128–256² on two Sapphire Rapids cores, where MKL gets 1.8×). Splitting the
//! product instead into two independent halves, each a single-threaded `gemm` call, one per
//! core under `rayon::join`, keeps every microkernel on its own core from the first packing
//! on. The split runs along the longer of m and n: along m each half reads all of B, along n
//! all of A, and the halves write disjoint rows or disjoint columns of the destination. With
//! more threads the halves split again (recursive bisection). Every element of the result is
//! the same dot product as without the split (k is never split), so results do not depend on
//! the thread count.

/// Products with fewer multiply–adds than this run on one thread: below it, waking the
/// second core costs more than it saves (measured with the `matmul` bench, 64² vs 128²).
const PAR_MIN_FLOPS: usize = 96 * 96 * 96;

/// From this many multiply–adds on (128·128·128), a parallel product is bisected into
/// single-threaded halves; between [`PAR_MIN_FLOPS`] and this, `gemm`'s own rayon split is
/// kept. Measured with the `matmul` bench, best of 8 interleaved runs on two loaded cores:
/// bisection ran 256² 1.45× and 512² 1.09× faster than `Parallelism::Rayon(2)`, 1024² the
/// same (1.01×), but 128² 0.87× as fast.
const SPLIT_MIN_FLOPS: usize = 128 * 128 * 128;

/// Split points are rounded to this many rows or columns, a multiple of the microkernel's
/// register tile, so that no half ends in a ragged tile the whole product would not have.
const SPLIT_ALIGN: usize = 16;

/// A strided matrix operand: base offset and (row, column) strides into a buffer.
///
/// Element (i, j) is `data[offset + i·rs + j·cs]`; [`gemm_into`] checks that the last
/// element it reads lies inside `data`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The buffer the view reads from.
    pub data: &'a [f32],
    /// Index of element (0, 0).
    pub offset: usize,
    /// Distance between rows.
    pub rs: usize,
    /// Distance between columns.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A contiguous row-major matrix with `cols` columns, starting at `data[0]`.
    pub fn row_major(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            offset: 0,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a contiguous row-major matrix with `cols` columns: the same buffer
    /// read with the strides swapped, no copy.
    ///
    /// ```
    /// use gradflow_tensor::{MatRef, gemm_into};
    /// let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [[1, 2, 3], [4, 5, 6]]
    /// let mut ata = [0.0; 9]; // Aᵀ·A, [3, 3]
    /// let (at, a) = (MatRef::row_major_t(&a, 3), MatRef::row_major(&a, 3));
    /// gemm_into(&mut ata, 3, 3, 2, at, a, false, 1);
    /// assert_eq!(ata, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
    /// ```
    pub fn row_major_t(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            offset: 0,
            rs: 1,
            cs: cols,
        }
    }
}

/// dst\[m×n\] (contiguous, row stride `n`) = (accumulate ? dst : 0) + A\[m×k\] · B\[k×n\].
///
/// `threads` > 1 splits the product into that many parts (see the module doc), each run by
/// a single-threaded `gemm` call on rayon's pool; pass 1 from code that is already one of
/// several parallel tasks (the recurrent scan runs one per batch chunk).
///
/// This is the slice-level entry for kernels outside this crate that keep their own buffers
/// across many small products (the per-step GEMMs of a recurrence), where a [`crate::Tensor`]
/// per product would cost an allocation and a graph check each time.
///
/// # Panics
/// If `dst` holds fewer than m·n elements or an operand view reaches outside its buffer.
///
/// ```
/// use gradflow_tensor::{MatRef, gemm_into};
/// let a = [1.0, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [1.0, 0.0, 1.0, 1.0]; // [[1, 0], [1, 1]]
/// let mut c = [10.0; 4];
/// gemm_into(&mut c, 2, 2, 2, MatRef::row_major(&a, 2), MatRef::row_major(&b, 2), true, 1);
/// assert_eq!(c, [13.0, 12.0, 17.0, 14.0]);
/// ```
pub fn gemm_into(
    dst: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    threads: usize,
) {
    assert!(dst.len() >= m * n, "gemm_into: destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: dst is an exclusive borrow of at least m·n initialized floats.
    unsafe { launch(dst.as_mut_ptr(), m, n, k, a, b, accumulate, threads) };
}

/// A new m×n row-major buffer holding A\[m×k\] · B\[k×n\], written by `gemm` into fresh
/// capacity without zero-filling it first: `vec![0.0; m·n]` would be a memset that the
/// product then overwrites (5–7 % of the MLP step's profile went to memset).
pub(crate) fn gemm_new(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    threads: usize,
) -> Vec<f32> {
    if m == 0 || n == 0 || k == 0 {
        return vec![0.0; m * n];
    }
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: the spare capacity holds at least m·n floats and nothing else refers to it;
    // with `accumulate` false `gemm` never reads the destination, it only writes it.
    unsafe {
        launch(
            out.spare_capacity_mut().as_mut_ptr().cast::<f32>(),
            m,
            n,
            k,
            a,
            b,
            false,
            threads,
        );
        // SAFETY: `launch` wrote every element of the m×n block (k > 0: each one is a dot
        // product stored with read_dst false), so the first m·n floats are initialized.
        out.set_len(m * n);
    }
    out
}

/// Bounds-check the operands and run the product into `dst`.
///
/// # Safety
/// `dst` must be valid for writes of m·n floats (and for reads when `accumulate`), with no
/// other access during the call; m, n, k > 0.
pub(super) unsafe fn launch(
    dst: *mut f32,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    threads: usize,
) {
    // Bounds: the last element each operand reads must lie inside its buffer.
    // Checked arithmetic: a wrapped sum could otherwise pass the bound.
    let last = |o: MatRef<'_>, rows: usize, cols: usize| {
        (rows - 1)
            .checked_mul(o.rs)
            .and_then(|r| r.checked_add((cols - 1).checked_mul(o.cs)?))
            .and_then(|r| r.checked_add(o.offset))
    };
    let inside = |o: MatRef<'_>, rows: usize, cols: usize| {
        last(o, rows, cols).is_some_and(|l| l < o.data.len())
    };
    assert!(
        inside(a, m, k) && inside(b, k, n),
        "gemm_into: operand view exceeds its buffer"
    );
    let parts = if threads > 1 && m * n * k >= PAR_MIN_FLOPS {
        threads
    } else {
        1
    };
    let job = Job {
        dst: Raw(dst),
        dst_rs: n,
        m,
        n,
        k,
        // SAFETY: the offsets are inside their slices (checked by `inside` above).
        a: Operand {
            ptr: Raw(unsafe { a.data.as_ptr().add(a.offset) }.cast_mut()),
            rs: a.rs,
            cs: a.cs,
        },
        b: Operand {
            ptr: Raw(unsafe { b.data.as_ptr().add(b.offset) }.cast_mut()),
            rs: b.rs,
            cs: b.cs,
        },
        accumulate,
    };
    // SAFETY (both calls): the asserts above keep every read of A and B inside their
    // slices, and the caller gives dst room for the m×n row-major result (row stride n,
    // column stride 1);
    // `run` only ever narrows these views to disjoint sub-blocks. The pointers come from live
    // borrows that outlive the call (rayon::join returns only when both halves are done), and
    // dst does not alias A or B (the caller's exclusive access).
    if parts > 1 && m * n * k < SPLIT_MIN_FLOPS {
        unsafe { job.single(parts) };
    } else {
        unsafe { job.run(parts) };
    }
}

/// A raw pointer that may cross to the other rayon worker. Sound here because the two
/// halves of a split write disjoint parts of the destination and only read the operands.
#[derive(Clone, Copy)]
struct Raw(*mut f32);
// SAFETY: see the type's doc; every `Job` built from a `Raw` is run while the borrows it was
// made from are alive, and concurrent jobs touch disjoint destination elements.
unsafe impl Send for Raw {}
// SAFETY: as above; shared access only reads through the pointer until a job owns its block.
unsafe impl Sync for Raw {}

#[derive(Clone, Copy)]
struct Operand {
    ptr: Raw,
    rs: usize,
    cs: usize,
}

/// One block product dst\[m×n\] (row stride `dst_rs`, column stride 1) (+)= A·B.
#[derive(Clone, Copy)]
struct Job {
    dst: Raw,
    dst_rs: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    accumulate: bool,
}

impl Job {
    /// Run this product in `parts` pieces, bisecting along the longer of m and n.
    ///
    /// # Safety
    /// `dst` must be valid for writes of the m×n block and `a`, `b` for reads of their m×k and
    /// k×n views, for the whole call; no other code may access the destination block meanwhile.
    unsafe fn run(self, parts: usize) {
        let long = self.m.max(self.n);
        if parts <= 1 || long < 2 * SPLIT_ALIGN {
            // SAFETY: the caller's contract, unchanged.
            unsafe { self.single(parts) };
            return;
        }
        let p1 = parts / 2;
        let cut = (long * p1 / parts).div_ceil(SPLIT_ALIGN) * SPLIT_ALIGN;
        let cut = cut.clamp(SPLIT_ALIGN, long - SPLIT_ALIGN);
        let (mut first, mut second) = (self, self);
        if self.m >= self.n {
            first.m = cut;
            second.m = self.m - cut;
            // SAFETY: row `cut` < m lies inside the destination and A's views.
            second.dst = Raw(unsafe { self.dst.0.add(cut * self.dst_rs) });
            second.a.ptr = Raw(unsafe { self.a.ptr.0.add(cut * self.a.rs) });
        } else {
            first.n = cut;
            second.n = self.n - cut;
            // SAFETY: column `cut` < n lies inside the destination and B's views.
            second.dst = Raw(unsafe { self.dst.0.add(cut) });
            second.b.ptr = Raw(unsafe { self.b.ptr.0.add(cut * self.b.cs) });
        }
        // SAFETY: the two blocks are disjoint sub-blocks of this one (rows [0, cut) and
        // [cut, m), or columns likewise), so each half satisfies the contract on its own.
        rayon::join(
            || unsafe { first.run(p1) },
            || unsafe { second.run(parts - p1) },
        );
    }

    /// One `gemm` call; `threads` > 1 only for shapes too narrow to bisect, where `gemm`
    /// splits along k-free dimensions itself.
    ///
    /// # Safety
    /// As for [`Job::run`].
    unsafe fn single(self, threads: usize) {
        let par = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: the caller guarantees the views. Note `gemm`'s convention: dst =
        // alpha·dst + beta·A·B, the reverse of BLAS naming, and alpha is only read when
        // `read_dst` is true.
        unsafe {
            gemm::gemm(
                self.m,
                self.n,
                self.k,
                self.dst.0,
                1,
                self.dst_rs as isize,
                self.accumulate,
                self.a.ptr.0.cast_const(),
                self.a.cs as isize,
                self.a.rs as isize,
                self.b.ptr.0.cast_const(),
                self.b.cs as isize,
                self.b.rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
    }
}
