//! A GEMM whose right operand is never stored whole: the caller writes it panel by panel,
//! straight into the layout the micro-kernel reads.
//!
//! A convolution through im2col writes `col` (`[C·KH·KW, OH·OW]`, nine times the input for
//! a 3×3 kernel, several MB per sample at ResNet's first stage), and [`gemm`](super::gemm)
//! then reads all of it back to copy it into its own packed panels: two passes over a
//! matrix that does not fit in L2 (im2col 6.4 % and packing 5.5 % of a ResNet-18
//! evaluation). Here the convolution fills one packed panel at a time (a strip of output
//! pixels by a block of taps, up to 128 KiB) and the micro-kernel reads it from cache at once:
//! the implicit GEMM of cuDNN and oneDNN, on the `gemm` crate's own micro-kernels
//! (`gemm-f32`, the ones [`gemm_into`](super::gemm::gemm_into) runs).
//!
//! In the `gemm` crate's column-major terms the product is Yᵀ = Bᵀ · Wᵀ: its "lhs" is the
//! caller's panel (MR pixels by KC taps, pixel index fastest), its "rhs" the weights packed
//! once in strips of [`NR`] rows, its destination Y read with the pixel index contiguous.
//! Each output element is still one dot product over k, summed in blocks of [`KC`]
//! (`gemm` blocks k by its own cache sizes, so the two agree to rounding, not bit for bit).

use super::map::start_rows;

/// Output rows (weight rows) per micro-kernel call: the `gemm-f32` kernels' NR on x86-64.
const NR: usize = 6;

/// Deepest block of k. k is cut into equal blocks of at most this many (each pass over a
/// block reloads and stores Y's tiles once): 512 taps by 64 pixels is a 128 KiB panel, the
/// [`MC_PANELS`] panels of a block 512 KiB, inside a 1–2 MiB L2. Measured per layer (min of
/// 4–5 runs, a noisy machine): with 256, CIFAR's 32-channel 3×3 on 16² (288 taps) took
/// 10.7–12.8 ms forward and backward, with 512 10.2–10.7; ResNet-18's 14² stage forward
/// 19.9 → 18.6–18.8 ms.
const KC: usize = 512;

/// Panels filled before the micro-kernel sweeps them, the weight strip (NR × KC, 12 KiB)
/// reused from L1 across them.
const MC_PANELS: usize = 4;

/// `gemm-f32`'s micro-kernel signature (`gemm_common::microkernel::MicroKernelFn<f32>`).
type Ukr = unsafe fn(
    usize,
    usize,
    usize,
    *mut f32,
    *const f32,
    *const f32,
    isize,
    isize,
    isize,
    isize,
    isize,
    f32,
    f32,
    u8,
    bool,
    bool,
    bool,
    *const f32,
);

/// One micro-kernel call: the `rows × cols` tile of Yᵀ at `dst` (pixels 1 apart, weight rows
/// `dst_cs` apart) is set to (`status` 0) or added to (`status` 1) the sum over `k` steps of
/// a column of `lhs` (its steps `lhs_cs` apart) times a row of `rhs` (steps [`NR`] apart).
///
/// # Safety
/// `ukr` must run on this CPU; `lhs` must hold k steps of rows.div_ceil(lanes)·lanes floats
/// `lhs_cs` apart and `rhs` k steps of `cols` floats NR apart; `dst` must be valid for
/// reads (status 1) and writes of the tile, and nothing else may access it meanwhile.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile(
    ukr: Ukr,
    (rows, cols, k): (usize, usize, usize),
    dst: *mut f32,
    dst_cs: usize,
    lhs: &[f32],
    lhs_cs: usize,
    rhs: &[f32],
    status: u8,
) {
    // SAFETY: as the caller guarantees.
    unsafe {
        ukr(
            rows,
            cols,
            k,
            dst,
            lhs.as_ptr(),
            rhs.as_ptr(),
            dst_cs as isize,
            1,
            lhs_cs as isize,
            NR as isize,
            1,
            1.0,
            1.0,
            status,
            false,
            false,
            false,
            lhs.as_ptr(),
        );
    }
}

/// The micro-kernels this CPU runs: `table[r − 1][c − 1]` computes r·`lanes` rows (of the
/// column-major product, i.e. pixels) by c columns.
#[derive(Clone, Copy)]
struct Kernels {
    lanes: usize,
    table: &'static [[Ukr; NR]],
}

impl Kernels {
    /// Every kernel set this CPU runs, the widest first.
    fn all() -> Vec<Self> {
        let mut sets = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                sets.push(Kernels {
                    lanes: 16,
                    table: &gemm_f32::microkernel::avx512f::f32::UKR,
                });
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                sets.push(Kernels {
                    lanes: 8,
                    table: &gemm_f32::microkernel::fma::f32::UKR,
                });
            }
        }
        sets
    }

    fn detect() -> Option<Self> {
        Kernels::all().first().copied()
    }

    fn get() -> Option<Self> {
        static KERNELS: std::sync::OnceLock<Option<Kernels>> = std::sync::OnceLock::new();
        *KERNELS.get_or_init(Kernels::detect)
    }

    /// Pixels per panel for a product with `n` of them: the micro-kernel's MR, or fewer
    /// (whole vectors) when n is smaller, so that a 4×4 plane's 16 pixels fill a 16-wide
    /// panel instead of a quarter of a 64-wide one (the fill then copies no padding).
    fn rows(self, n: usize) -> usize {
        (self.lanes * self.table.len()).min(n.next_multiple_of(self.lanes).max(self.lanes))
    }
}

/// The pixels per panel of [`PackedWeights::product`] over `n` pixels, or `None` where this
/// CPU has no AVX-512 or AVX2 + FMA micro-kernel (the caller then takes im2col and
/// [`gemm_into`]).
///
/// [`gemm_into`]: super::gemm::gemm_into
pub(crate) fn panel_rows(n: usize) -> Option<usize> {
    Kernels::get().map(|k| k.rows(n))
}

/// A weight matrix W `[m, k]` in strips of [`NR`] rows, each strip `[k][NR]` (the last one
/// zero-padded), as the micro-kernel broadcasts it.
pub(crate) struct PackedWeights {
    data: Vec<f32>,
    m: usize,
    k: usize,
}

impl PackedWeights {
    /// Packs W `[m, k]`, row-major in `w`.
    ///
    /// # Panics
    /// If `w` holds fewer than m·k floats.
    pub(crate) fn new(w: &[f32], m: usize, k: usize) -> Self {
        Self::from_rows(m, k, |r, row| row.copy_from_slice(&w[r * k..][..k]))
    }

    /// Packs W `[m, k]` whose row r `row(r, buf)` writes into `buf` (k floats): for weights
    /// that are not stored row by row (the flipped kernel of a transposed convolution),
    /// without building them whole first.
    pub(crate) fn from_rows(m: usize, k: usize, mut row: impl FnMut(usize, &mut [f32])) -> Self {
        let strips = m.div_ceil(NR);
        let mut data = vec![0.0f32; strips * k * NR];
        let mut buf = vec![0.0f32; k];
        for (s, strip) in data
            .chunks_exact_mut((k * NR).max(1))
            .enumerate()
            .take(strips)
        {
            for r in 0..NR.min(m - s * NR) {
                row(s * NR + r, &mut buf);
                for (kk, &v) in buf.iter().enumerate() {
                    strip[kk * NR + r] = v;
                }
            }
        }
        PackedWeights { data, m, k }
    }

    /// m, the number of weight rows (rows of the product).
    pub(crate) fn rows(&self) -> usize {
        self.m
    }

    /// [`PackedWeights::product`] over initialized memory (overwritten, not added to).
    pub(crate) fn product_into(
        &self,
        dst: &mut [f32],
        n: usize,
        panel: &mut Vec<f32>,
        fill: impl FnMut(usize, usize, usize, &mut [f32]),
    ) {
        // SAFETY: `MaybeUninit<f32>` has the layout of `f32`, and `product` only writes
        // initialized floats through the view, so `dst` stays initialized.
        let view = unsafe {
            std::slice::from_raw_parts_mut(
                dst.as_mut_ptr().cast::<std::mem::MaybeUninit<f32>>(),
                dst.len(),
            )
        };
        self.product(view, n, None, panel, fill);
    }

    /// Y `[m, n]` (row-major, row stride n) = W · B, written into `dst`, with B `[k, n]`
    /// supplied by `fill(k0, kc, p0, panel)`: it writes B's rows `k0..k0 + kc`, columns
    /// `p0..p0 + rows` as `panel[r · rows + q]` = B\[k0 + r\]\[p0 + q\], zero where
    /// p0 + q ≥ n, with `rows` = [`panel_rows`]`(n)` (`panel.len()` = kc · rows). With `bias`,
    /// row i starts from `bias[i]` (the sum then adds the products to it).
    ///
    /// # Panics
    /// If [`panel_rows`] is `None`, `dst` is not m·n long or `bias` not m.
    pub(crate) fn product(
        &self,
        dst: &mut [std::mem::MaybeUninit<f32>],
        n: usize,
        bias: Option<&[f32]>,
        panel: &mut Vec<f32>,
        fill: impl FnMut(usize, usize, usize, &mut [f32]),
    ) {
        let kernels = Kernels::get().expect("PackedWeights::product: no micro-kernel");
        self.product_on(kernels, dst, n, bias, panel, fill);
    }

    /// Y `[m, n]` (row-major, row stride n, overwritten) = Σ_t W_t · X_t with nothing
    /// filled: X_t `[c, n]` is read in place, X_t\[ci\]\[q\] = `x[ci·cs + offsets[t] + q]`,
    /// and W was packed with k = t·c + ci (tap-major, c = k / taps). The micro-kernel
    /// reads each X_t straight from `x` with a stride of `cs` between its rows, so a
    /// convolution over zero-padded planes needs no panels at all (`conv`'s
    /// `PaddedPlanes`); the products of the taps are summed in Y's tile, tap after tap.
    ///
    /// # Panics
    /// If [`panel_rows`] is `None`, `dst` is not m·n long, k is not a multiple of the taps,
    /// or `x` is shorter than the last tile reads: (c − 1)·cs + max(offsets) + n rounded up
    /// to the micro-kernel's vector width.
    pub(crate) fn product_shifted(
        &self,
        dst: &mut [f32],
        n: usize,
        x: &[f32],
        cs: usize,
        offsets: &[usize],
    ) {
        let kernels = Kernels::get().expect("PackedWeights::product_shifted: no micro-kernel");
        self.product_shifted_on(kernels, dst, n, x, cs, offsets);
    }

    /// [`PackedWeights::product_shifted`] on the given micro-kernels.
    fn product_shifted_on(
        &self,
        kernels: Kernels,
        dst: &mut [f32],
        n: usize,
        x: &[f32],
        cs: usize,
        offsets: &[usize],
    ) {
        let (m, k, taps) = (self.m, self.k, offsets.len());
        assert_eq!(
            dst.len(),
            m * n,
            "PackedWeights::product_shifted: destination"
        );
        assert!(
            taps > 0 && k.is_multiple_of(taps),
            "PackedWeights::product_shifted: {k} rows of k for {taps} taps"
        );
        let c = k / taps;
        if m == 0 || n == 0 {
            return;
        }
        if c == 0 {
            dst.fill(0.0);
            return;
        }
        let mr = kernels.rows(n);
        let reach = (c - 1) * cs + offsets.iter().max().copied().unwrap_or(0);
        assert!(
            x.len() >= reach + n.next_multiple_of(kernels.lanes),
            "PackedWeights::product_shifted: the planes end before the last tile's reads"
        );
        let dp = dst.as_mut_ptr();
        for p0 in (0..n).step_by(mr) {
            let rows = mr.min(n - p0);
            let table = &kernels.table[rows.div_ceil(kernels.lanes) - 1];
            for s in 0..m.div_ceil(NR) {
                let cols = NR.min(m - s * NR);
                let ukr = table[cols - 1];
                // The first product overwrites the tile, the others add to it.
                let mut status = 0u8;
                for (t, &off) in offsets.iter().enumerate() {
                    for c0 in (0..c).step_by(KC) {
                        let kc = KC.min(c - c0);
                        let rhs = &self.data[(s * k + t * c + c0) * NR..][..kc * NR];
                        let lhs = &x[c0 * cs + off + p0..];
                        // SAFETY: the kernel was detected on this CPU (`Kernels::all`). It
                        // reads kc steps of `lhs`, `cs` apart, each rows.div_ceil(lanes)·lanes
                        // floats: the last read ends at (c − 1)·cs + off + p0 + that, inside
                        // `x` by the assertion above; and kc steps of `rhs` (`cols` floats
                        // each, NR apart: inside the strip). It reads/writes exactly the
                        // rows × cols block of Yᵀ at (p0, s·NR): Y's elements
                        // (s·NR + j)·n + p0 + r for j < cols ≤ m − s·NR, r < rows ≤ n − p0,
                        // all inside `dst` (m·n floats, exclusively borrowed); with status 1
                        // it reads those the previous tap wrote.
                        unsafe {
                            tile(
                                ukr,
                                (rows, cols, kc),
                                dp.add(s * NR * n + p0),
                                n,
                                lhs,
                                cs,
                                rhs,
                                status,
                            );
                        }
                        status = 1;
                    }
                }
            }
        }
    }

    /// [`PackedWeights::product`] on the given micro-kernels (one of [`Kernels::all`]).
    fn product_on(
        &self,
        kernels: Kernels,
        dst: &mut [std::mem::MaybeUninit<f32>],
        n: usize,
        bias: Option<&[f32]>,
        panel: &mut Vec<f32>,
        mut fill: impl FnMut(usize, usize, usize, &mut [f32]),
    ) {
        let (m, k, mr) = (self.m, self.k, kernels.rows(n));
        assert_eq!(dst.len(), m * n, "PackedWeights::product: destination");
        start_rows(dst, m, n, k, bias, "PackedWeights::product");
        if m == 0 || n == 0 || k == 0 {
            return;
        }
        let dst = dst.as_mut_ptr().cast::<f32>();
        let block = mr * MC_PANELS;
        // Blocks of k of equal depth (a multiple of 8 up to the last): 288 taps as 144 +
        // 144, not 256 + 32, whose short block would pay a whole pass over Y for little.
        let depth = k.div_ceil(k.div_ceil(KC)).next_multiple_of(8);
        panel.resize(depth.min(k) * block, 0.0);
        for k0 in (0..k).step_by(depth) {
            let kc = depth.min(k - k0);
            // The first block of k overwrites (or adds to the bias), the others add.
            let status = u8::from(k0 > 0 || bias.is_some());
            for p0 in (0..n).step_by(block) {
                let panels = (n - p0).div_ceil(mr).min(MC_PANELS);
                for i in 0..panels {
                    fill(
                        k0,
                        kc,
                        p0 + i * mr,
                        &mut panel[i * kc * mr..(i + 1) * kc * mr],
                    );
                }
                for s in 0..m.div_ceil(NR) {
                    let cols = NR.min(m - s * NR);
                    let rhs = &self.data[(s * k + k0) * NR..][..kc * NR];
                    for i in 0..panels {
                        let (q0, rows) = (p0 + i * mr, mr.min(n - p0 - i * mr));
                        let lhs = &panel[i * kc * mr..(i + 1) * kc * mr];
                        let ukr = kernels.table[rows.div_ceil(kernels.lanes) - 1][cols - 1];
                        // SAFETY: the kernel was detected on this CPU (`Kernels::all`).
                        // It reads kc steps of `lhs` (rows.div_ceil(lanes)·lanes ≤ mr floats
                        // each, `mr` apart: inside the panel) and of `rhs` (`cols` floats
                        // each, NR apart: inside the strip), and reads/writes exactly the
                        // rows × cols block of Yᵀ at (q0, s·NR): Y's elements
                        // (s·NR + c)·n + q0 + r for c < cols ≤ m − s·NR, r < rows ≤ n − q0,
                        // all inside `dst` (m·n floats, exclusively borrowed). With status 0
                        // it only writes; with 1 it reads elements written before (the bias,
                        // or the previous block of k).
                        unsafe {
                            tile(
                                ukr,
                                (rows, cols, kc),
                                dst.add(s * NR * n + q0),
                                n,
                                lhs,
                                mr,
                                rhs,
                                status,
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::MaybeUninit;

    /// Every block boundary, on every micro-kernel set this CPU runs (AVX-512's 64-pixel
    /// panels and AVX2's 16-pixel ones): k across two blocks, n across a narrow panel (1 and
    /// 13 pixels), a partial panel and a partial block of panels, m across a partial strip
    /// of 6; with and without a bias. The reference sums in f64; tolerance from the worst
    /// case of f32 summation: k = 556 products of values in [−1, 1], error ≤ k · 2⁻²⁴ · k
    /// ≈ 1.8e-2.
    #[test]
    fn product_matches_a_plain_sum_at_every_block_edge() {
        let (m, k) = (13, KC + 44);
        for kernels in Kernels::all() {
            let full = kernels.rows(1 << 20);
            for n in [1, 13, full - 3, full * MC_PANELS + full + 5] {
                let mr = kernels.rows(n);
                let w: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
                    .collect();
                let b: Vec<f32> = (0..k * n)
                    .map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0)
                    .collect();
                let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.25).collect();
                let packed = PackedWeights::new(&w, m, k);
                for with_bias in [false, true] {
                    let mut y = vec![MaybeUninit::new(f32::NAN); m * n];
                    let mut panel = Vec::new();
                    packed.product_on(
                        kernels,
                        &mut y,
                        n,
                        with_bias.then_some(&bias[..]),
                        &mut panel,
                        |k0, _kc, p0, out| {
                            for (i, v) in out.iter_mut().enumerate() {
                                let (r, q) = (i / mr, p0 + i % mr);
                                *v = if q < n { b[(k0 + r) * n + q] } else { 0.0 };
                            }
                        },
                    );
                    for i in 0..m {
                        for j in 0..n {
                            let want: f64 = (0..k)
                                .map(|p| f64::from(w[i * k + p]) * f64::from(b[p * n + j]))
                                .sum::<f64>()
                                + if with_bias { f64::from(bias[i]) } else { 0.0 };
                            // SAFETY (test): the vector was initialized with NaN, and
                            // `product_on` writes only floats.
                            let got = unsafe { y[i * n + j].assume_init() };
                            assert!(
                                (f64::from(got) - want).abs() < 1.8e-2,
                                "{} lanes, n {n}, bias {with_bias}, ({i}, {j}): {got} vs {want}",
                                kernels.lanes
                            );
                        }
                    }
                }
            }
        }
    }

    /// [`PackedWeights::product_shifted`] against a plain sum, on every micro-kernel set this
    /// CPU runs: 3 taps at offsets 0, 1 and 9 of rows `cs` apart, c across two blocks of
    /// k (KC + 5 channels), n across a partial tile, m across a partial strip of 6. The
    /// reference sums in f64; tolerance as above, for 3·(KC + 5) = 1551 products of values
    /// in [−1, 1]: 1551² · 2⁻²⁴ ≈ 0.14.
    #[test]
    fn shifted_product_matches_a_plain_sum() {
        let (m, c, offsets) = (13, KC + 5, [0usize, 1, 9]);
        let taps = offsets.len();
        for kernels in Kernels::all() {
            let full = kernels.rows(1 << 20);
            for n in [1, 13, full + 3] {
                let cs = n + 10;
                let len = (c - 1) * cs + 9 + n.next_multiple_of(kernels.lanes);
                let x: Vec<f32> = (0..len)
                    .map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0)
                    .collect();
                // W [m, taps·c], k = t·c + ci.
                let w: Vec<f32> = (0..m * taps * c)
                    .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
                    .collect();
                let packed = PackedWeights::new(&w, m, taps * c);
                let mut y = vec![f32::NAN; m * n];
                packed.product_shifted_on(kernels, &mut y, n, &x, cs, &offsets);
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..taps)
                            .flat_map(|t| (0..c).map(move |ci| (t, ci)))
                            .map(|(t, ci)| {
                                f64::from(w[i * taps * c + t * c + ci])
                                    * f64::from(x[ci * cs + offsets[t] + j])
                            })
                            .sum();
                        let got = f64::from(y[i * n + j]);
                        assert!(
                            (got - want).abs() < 0.14,
                            "{} lanes, n {n}, ({i}, {j}): {got} vs {want}",
                            kernels.lanes
                        );
                    }
                }
            }
        }
    }
}
