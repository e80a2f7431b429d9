//! Runtime SIMD dispatch.
//!
//! Release builds target baseline x86-64 (SSE2, 4 f32 lanes) so that the binaries run on any
//! x86-64 CPU; we never commit `target-cpu=native`. Hot loops are therefore compiled twice:
//! once as plain code, once inside a `#[target_feature(enable = "avx2,fma")]` function (8
//! lanes, fused multiply–add), and [`has_avx2_fma`] picks one at run time. Calling a
//! target-feature function is `unsafe` because running AVX2 instructions on a CPU without
//! them is undefined behaviour; the check makes it sound.

/// True when this CPU executes AVX2 and FMA instructions. `std` caches the CPUID query, so
/// this costs one relaxed atomic load after the first call.
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
