//! The one call into the `gemm` crate: a strided matrix product into a row-major buffer.
//! Matmul, the fused linear layer and conv2d (im2col) all go through [`gemm_into`].

/// Products with fewer multiply–adds than this run on one thread: below it, waking the
/// second core costs more than it saves (measured with the `matmul` bench, 64² vs 128²).
const PAR_MIN_FLOPS: usize = 96 * 96 * 96;

/// A strided matrix operand: base offset and (row, column) strides into a buffer.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

/// dst\[m×n\] (contiguous, row stride `n`) = (accumulate ? dst : 0) + A\[m×k\] · B\[k×n\].
///
/// `threads` > 1 lets `gemm` split the product over rayon's pool.
pub(crate) fn gemm_into(
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
    let par = if threads > 1 && m * n * k >= PAR_MIN_FLOPS {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every read of A and B inside their slices, and dst has
    // room for the m×n row-major result (row stride n, column stride 1). The pointers come
    // from live borrows that outlive the call, and dst does not alias A or B because it is an
    // exclusive borrow. Note `gemm`'s convention: dst = alpha·dst + beta·A·B, the reverse of
    // BLAS naming, and alpha is only read when `read_dst` is true.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr().add(a.offset),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr().add(b.offset),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}
