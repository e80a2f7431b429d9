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
/// (together with an in-place SGD update; see docs/benchmarks.md).
pub const PAR_MIN_ELEMS: usize = 1 << 17;

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
