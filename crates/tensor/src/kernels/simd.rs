//! Runtime SIMD dispatch.
//!
//! Release builds target baseline x86-64 (SSE2, 4 f32 lanes) so that the binaries run on any
//! x86-64 CPU; we never commit `target-cpu=native`. Hot loops are therefore compiled twice:
//! once as plain code, once inside a `#[target_feature(enable = "avx2,fma")]` function (8
//! lanes, fused multiply–add), and [`has_avx2_fma`] picks one at run time. Calling a
//! target-feature function is `unsafe` because running AVX2 instructions on a CPU without
//! them is undefined behaviour; the check makes it sound.

/// True when this CPU executes AVX2 and FMA instructions: when [`simd_dispatch`] runs its
/// wide path, inside which `f32::mul_add` is the single FMA instruction (a·b + c rounded
/// once). Kernels outside this crate that use `mul_add` there check it, as the optimizers'
/// update kernels do. `std` caches the CPUID query, so this costs one relaxed atomic load
/// after the first call.
///
/// ```
/// use gradflow_tensor::has_avx2_fma;
/// #[cfg(target_arch = "x86_64")]
/// assert_eq!(
///     has_avx2_fma(),
///     std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
/// );
/// ```
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A loop body to run under [`simd_dispatch`].
///
/// Implement [`Vectorized::run`] with `#[inline(always)]`, and mark `#[inline(always)]`
/// whatever it calls that should be widened too: the body is then inlined into the AVX2
/// function and compiled for 8 lanes. (A closure does not do: the compiler keeps a large
/// closure as its own function, compiled for baseline x86-64, and only calls it.)
///
/// Write the loop so that it vectorizes without knowing that its slices are disjoint:
/// inlined through a struct, `&mut` slices lose the no-alias facts that function parameters
/// carry, and a plain `for k in 0..n { out[k] = f(a[k], b[k]) }` over many slices then stays
/// scalar. Fixed-size blocks (`as_chunks::<8>()`), computed into local arrays and stored
/// whole, vectorize regardless.
pub trait Vectorized {
    /// What the loop returns.
    type Output;
    /// The loop.
    fn run(self) -> Self::Output;
}

/// Run `kernel` compiled for AVX2 + FMA when this CPU has them, and as plain code otherwise.
///
/// For fused loops outside this crate (the recurrent gate kernels) that are too specific for
/// the `map`/`zip` kernels. Rust never contracts `a * b + c` into an FMA on its own, so both
/// paths round identically; only an explicit `mul_add` differs.
///
/// ```
/// use gradflow_tensor::{Vectorized, math::sigmoid, simd_dispatch};
/// struct Sigmoid<'a>(&'a mut [f32]);
/// impl Vectorized for Sigmoid<'_> {
///     type Output = ();
///     #[inline(always)]
///     fn run(self) {
///         let (blocks, tail) = self.0.as_chunks_mut::<8>();
///         for b in blocks {
///             *b = b.map(sigmoid);
///         }
///         for v in tail {
///             *v = sigmoid(*v);
///         }
///     }
/// }
/// let mut x = vec![0.5f32; 67];
/// simd_dispatch(Sigmoid(&mut x));
/// assert!(x.iter().all(|&v| v == sigmoid(0.5)));
/// ```
#[inline]
pub fn simd_dispatch<K: Vectorized>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide<K: Vectorized>(kernel: K) -> K::Output {
            kernel.run()
        }
        if has_avx2_fma() {
            // SAFETY: `wide` only enables AVX2 and FMA, which the CPU was just checked to have;
            // `Vectorized::run` is safe code.
            return unsafe { wide(kernel) };
        }
    }
    kernel.run()
}
