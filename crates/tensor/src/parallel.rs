//! When and how kernels use more than one thread.
//!
//! Small ops stay on the calling thread: waking a worker costs a few microseconds, more than
//! an elementwise pass over a few thousand floats. Above [`PAR_MIN_ELEMS`] elements the work
//! is split over rayon's pool (all cores by default; set `RAYON_NUM_THREADS` to change it).

use rayon::prelude::*;

/// Element count (128 Ki) from which elementwise kernels split work over threads. On 2 cores
/// a 1 Mi-element `exp` or `mul` runs 1.9× faster split, but the 32 Ki-element ops of an MLP
/// step at batch 128 lose more to waking the second core than they gain: raising the
/// threshold from 32 Ki to 128 Ki took the `mlp` bench's ReLU step from 14.3 to 10.5 ms
/// (together with an in-place SGD update; see docs/benchmarks.md). Costlier functions
/// split earlier: [`Elementwise::COST`](crate::Elementwise::COST).
pub const PAR_MIN_ELEMS: usize = 1 << 17;

/// Run `f` on a worker thread of rayon's global pool and wait for its result; from a thread
/// that already is one of rayon's workers, just run it. The calling thread's grad mode
/// ([`crate::no_grad`]) goes along.
///
/// Run a training step through this. Every parallel kernel splits its work with rayon: from
/// a worker thread a split is one `join` on the worker's own queue, the other core takes
/// the second half; from any other thread (a program's `main`) each split is handed to the
/// pool through its global queue while the caller sleeps until a worker has finished it,
/// two thread hand-overs per op. A step of the 20-layer MLP bench makes about 60 splits: run
/// through `on_pool` it took 5.6–5.9 instead of 6.6–6.9 ms (docs/benchmarks.md). PyTorch's
/// OpenMP regions have no such cost, because the calling thread is one of the team.
///
/// Do not block inside `f` on work that itself needs the pool (waiting on a channel fed by
/// threads that run tensor ops): with `RAYON_NUM_THREADS=1` that worker would wait for
/// itself. Wrap the step, not a loop that waits for data.
///
/// ```
/// use gradflow_tensor::{Tensor, no_grad, on_pool};
/// let w = Tensor::ones(&[2]).requires_grad_();
/// let y = no_grad(|| on_pool(|| w.mul_scalar(2.0)));
/// assert!(!y.requires_grad());
/// // The worker's own mode is restored afterwards.
/// assert!(on_pool(gradflow_tensor::is_grad_enabled));
/// assert_eq!(on_pool(|| rayon::current_thread_index().is_some()), true);
/// ```
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let grad = crate::is_grad_enabled();
    // `join` called from outside the pool runs as a whole on one worker: `f` there, and the
    // empty second half on the same worker's queue.
    rayon::join(move || crate::autograd::with_grad_mode(grad, f), || ()).0
}

/// Fill `out` (row-major over `shape`) in parallel chunks of whole rows of dimension 0.
///
/// `f(chunk, rows, start)` must fill `chunk`, which holds rows `start..start + rows` of
/// dimension 0. Runs on one thread when the output is small or has a single row.
pub(crate) fn par_rows(
    out: &mut [f32],
    shape: &[usize],
    f: impl Fn(&mut [f32], usize, usize) + Sync + Send,
) {
    let rows = shape.first().copied().unwrap_or(1);
    if out.len() < PAR_MIN_ELEMS || rows < 2 || shape.is_empty() {
        f(out, rows, 0);
        return;
    }
    let row_len = out.len() / rows;
    let threads = rayon::current_num_threads().max(1);
    let rows_per_chunk = rows.div_ceil(threads * 4).max(1);
    out.par_chunks_mut(rows_per_chunk * row_len)
        .enumerate()
        .for_each(|(i, chunk)| f(chunk, chunk.len() / row_len, i * rows_per_chunk));
}
