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
}
