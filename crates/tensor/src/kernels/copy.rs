//! Block copies and fills kept below the C library's string-instruction threshold.
//!
//! glibc's `memcpy`/`memset` switch to `rep movsb` / `rep stosb` above a size threshold (2112
//! and 2048 bytes on an AMD EPYC Zen 4 with FSRM, glibc 2.36: `ld.so --list-tunables`). On
//! that core the string instructions ran the 4 KiB block copies of im2col markedly slower than
//! the vector loop below the threshold: with the threshold raised
//! (`GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=…`), memmove went from 18 % to 11 % of
//! the CIFAR resnet20 evaluation profile. [`copy`] and [`fill`] cut a large block into pieces
//! of [`PIECE`] floats, so every call stays on the vector path; on CPUs where the string
//! instructions are fast the extra calls cost next to nothing (a call per 2 KiB).

/// Floats per piece: 2 KiB, below both thresholds.
const PIECE: usize = 512;

/// `dst.copy_from_slice(src)` in pieces of at most [`PIECE`] floats.
///
/// # Panics
/// If the slices differ in length (as `copy_from_slice`).
pub(crate) fn copy(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy: lengths differ");
    for (d, s) in dst.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
        d.copy_from_slice(s);
    }
}

/// `dst.fill(v)` in pieces of at most [`PIECE`] floats.
pub(crate) fn fill(dst: &mut [f32], v: f32) {
    for d in dst.chunks_mut(PIECE) {
        d.fill(v);
    }
}

/// `dst[j] = src[j·stride]` for every j: the strided reads of im2col (one output row of a
/// stride-2 convolution). Stride 2 runs in blocks of 8 outputs from 16 inputs, which the
/// compiler turns into vector loads and even-lane shuffles; one element at a time, the
/// bounds-checked gather was a third of the 7×7 stride-2 stem's forward.
///
/// # Panics
/// If `src` is shorter than `(dst.len() − 1)·stride + 1`.
#[inline(always)]
pub(crate) fn gather_strided(dst: &mut [f32], src: &[f32], stride: usize) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    let src = &src[..(n - 1) * stride + 1];
    if stride == 1 {
        dst.copy_from_slice(src);
    } else if stride == 2 {
        // Whole blocks only while their 16th input is inside `src`.
        let blocks = (n - 1) / 8;
        let (db, _) = dst[..blocks * 8].as_chunks_mut::<8>();
        let (sb, _) = src[..blocks * 16].as_chunks::<16>();
        for (d, s) in db.iter_mut().zip(sb) {
            *d = std::array::from_fn(|i| s[2 * i]);
        }
        for (j, d) in dst.iter_mut().enumerate().skip(blocks * 8) {
            *d = src[2 * j];
        }
    } else {
        for (j, d) in dst.iter_mut().enumerate() {
            *d = src[j * stride];
        }
    }
}

/// `dst[j·stride] += src[j]` for every j: col2im's strided adds, the transpose of
/// [`gather_strided`] (stride 2 in blocks the same way).
///
/// # Panics
/// If `dst` is shorter than `(src.len() − 1)·stride + 1`.
pub(crate) fn scatter_add_strided(dst: &mut [f32], src: &[f32], stride: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    let dst = &mut dst[..(n - 1) * stride + 1];
    if stride == 1 {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d += v;
        }
    } else if stride == 2 {
        let blocks = (n - 1) / 8;
        let (db, _) = dst[..blocks * 16].as_chunks_mut::<16>();
        let (sb, _) = src[..blocks * 8].as_chunks::<8>();
        for (d, s) in db.iter_mut().zip(sb) {
            for i in 0..8 {
                d[2 * i] += s[i];
            }
        }
        for (j, &v) in src.iter().enumerate().skip(blocks * 8) {
            dst[2 * j] += v;
        }
    } else {
        for (j, &v) in src.iter().enumerate() {
            dst[j * stride] += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_whole_block() {
        for n in [0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 7] {
            let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let mut dst = vec![-1.0; n];
            copy(&mut dst, &src);
            assert_eq!(dst, src);
            fill(&mut dst, 2.5);
            assert!(dst.iter().all(|&v| v == 2.5));
        }
    }

    #[test]
    fn strided_gather_and_scatter_match_the_loop() {
        // Every block/tail split for strides 1–3: n around the 8-output blocks, and `src`
        // exactly as long as the last read needs (a longer read would panic).
        for stride in 1..=3 {
            for n in [0usize, 1, 2, 7, 8, 9, 16, 17, 33] {
                let len = if n == 0 { 0 } else { (n - 1) * stride + 1 };
                let src: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
                let mut dst = vec![f32::NAN; n];
                gather_strided(&mut dst, &src, stride);
                let want: Vec<f32> = (0..n).map(|j| src[j * stride]).collect();
                assert_eq!(dst, want, "gather stride {stride} n {n}");
                let mut acc: Vec<f32> = (0..len).map(|i| i as f32).collect();
                let mut want = acc.clone();
                for (j, &v) in dst.iter().enumerate() {
                    want[j * stride] += v;
                }
                scatter_add_strided(&mut acc, &dst, stride);
                assert_eq!(acc, want, "scatter stride {stride} n {n}");
            }
        }
    }
}
