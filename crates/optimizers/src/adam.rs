//! Adam, with AMSGrad and either L2 (coupled) or decoupled (AdamW) weight decay.

use gradflow_tensor::math::fma;
use gradflow_tensor::{Vectorized, has_avx2_fma, simd_dispatch};
use serde::{Deserialize, Serialize};

use crate::OptimError;
use crate::engine::{Buffers, Engine, Scheduled, UpdateRule, fused, lerp};
use crate::error::{below_one, non_negative};

/// Hyperparameters of [`Adam`]; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// (β₁, β₂): decay of the first and second moment averages (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε added to the denominator, outside the square root (default 1e-8).
    pub eps: f64,
    /// Weight decay λ (default 0): the L2 penalty g ← g + λθ, or with
    /// `decoupled_weight_decay` the decay θ ← θ(1 − ηλ).
    pub weight_decay: f64,
    /// Use the running maximum of v (AMSGrad, Reddi et al. 2018).
    pub amsgrad: bool,
    /// AdamW: decay the weights directly instead of adding λθ to the gradient (PyTorch's
    /// `Adam(decoupled_weight_decay=True)`, which is `AdamW`). See [`AdamW`](crate::AdamW).
    #[serde(default)]
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            decoupled_weight_decay: false,
        }
    }
}

/// Adam (Kingma & Ba 2015) exactly as PyTorch's `torch.optim.Adam` (single-tensor path). For
/// each parameter θ with gradient g, at step t:
///
/// ```text
/// g ← g + λθ                                   (weight_decay λ ≠ 0: L2, coupled)
/// θ ← θ·(1 − ηλ)                               (instead, with decoupled_weight_decay: AdamW)
/// m ← m + (1 − β₁)(g − m)                      (= β₁m + (1 − β₁)g, PyTorch's lerp)
/// v ← β₂v + (1 − β₂)g²
/// v̂ ← max(v̂, v)                                (amsgrad; v̂ = v otherwise)
/// denom ← √v̂ / √(1 − β₂ᵗ) + ε                  (ε outside the square root)
/// θ ← θ − η/(1 − β₁ᵗ) · m / denom
/// ```
///
/// Bias correction makes the first step θ ← θ − η·g/(|g| + ε): every coordinate moves by at
/// most η, whatever the gradient's scale. The per-coordinate normalisation by √v is also why
/// Adam copes with vanishing gradients better than SGD: a layer whose gradients are 1000×
/// smaller still takes steps of size ≈ η.
///
/// ```
/// use gradflow_optimizers::{Adam, AdamConfig, Optimizer};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![0.0, 0.0], &[2]).requires_grad_();
/// let mut opt = Adam::new(&[w.clone()], AdamConfig { lr: 0.1, ..AdamConfig::default() }).unwrap();
/// w.set_grad(Some(Tensor::from_vec(vec![1e-4, -50.0], &[2])));
/// opt.step();
/// let x = w.to_vec();
/// // |Δθ| = η·|g|/(|g| + ε): both coordinates move by ≈ η despite a 5·10⁵ ratio in |g|.
/// assert!((x[0] + 0.1).abs() < 1e-4 && (x[1] - 0.1).abs() < 1e-6);
/// ```
pub type Adam = Engine<AdamConfig>;

/// Adam's per-parameter moments m and v, and v̂ with AMSGrad.
#[derive(Clone)]
pub struct AdamState {
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    max_exp_avg_sq: Option<Vec<f32>>,
}

impl UpdateRule for AdamConfig {
    type State = AdamState;

    fn name(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "AdamW"
        } else {
            "Adam"
        }
    }

    fn validate(&self) -> Result<(), OptimError> {
        let op = self.name();
        non_negative(
            op,
            &[
                ("lr", self.lr),
                ("eps", self.eps),
                ("weight_decay", self.weight_decay),
            ],
        )?;
        below_one(op, &[("beta1", self.betas.0), ("beta2", self.betas.1)])
    }

    fn scheduled(&mut self) -> Scheduled<'_> {
        Scheduled {
            lr: &mut self.lr,
            momentum: Some(&mut self.betas.0),
        }
    }

    fn init_state(&self, numel: usize) -> AdamState {
        AdamState {
            exp_avg: vec![0.0; numel],
            exp_avg_sq: vec![0.0; numel],
            max_exp_avg_sq: None,
        }
    }

    fn update(&self, state: &mut AdamState, step: u64, w: &mut [f32], g: &[f32]) {
        let n = g.len();
        let (beta1, beta2) = self.betas;
        let w1 = (1.0 - beta1) as f32;
        let b2 = beta2 as f32;
        let c2 = (1.0 - beta2) as f32;
        let eps = self.eps as f32;
        let wd = self.weight_decay as f32;
        let decay = (1.0 - self.lr * self.weight_decay) as f32;
        let t = step as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2_sqrt = (1.0 - beta2.powf(t)).sqrt();
        let step_size = -(self.lr / bias_correction1) as f32;
        let bc2 = bias_correction2_sqrt as f32;
        let (m, v) = (&mut state.exp_avg, &mut state.exp_avg_sq);
        if !self.amsgrad {
            let k = AdamStep {
                w,
                g,
                m,
                v,
                c: Consts {
                    w1,
                    b2,
                    c2,
                    eps,
                    wd,
                    decay,
                    step_size,
                    bc2,
                },
            };
            // One monomorphized loop per weight-decay mode, so the block loop has no branch.
            match (self.weight_decay != 0.0, self.decoupled_weight_decay) {
                (false, _) => dispatch::<0>(k),
                (true, false) => dispatch::<1>(k),
                (true, true) => dispatch::<2>(k),
            }
            return;
        }
        let vmax = state.max_exp_avg_sq.get_or_insert_with(|| vec![0.0; n]);
        for i in 0..n {
            let mut gi = g[i];
            if self.weight_decay != 0.0 {
                if self.decoupled_weight_decay {
                    w[i] *= decay;
                } else {
                    gi = fma(wd, w[i], gi);
                }
            }
            m[i] = lerp(m[i], gi, w1);
            v[i] = fma(c2 * gi, gi, v[i] * b2);
            vmax[i] = vmax[i].max(v[i]);
            let denom = vmax[i].sqrt() / bc2 + eps;
            w[i] += step_size * m[i] / denom;
        }
    }

    fn save(state: &AdamState) -> Vec<(&'static str, &[f32])> {
        let mut out = vec![
            ("exp_avg", state.exp_avg.as_slice()),
            ("exp_avg_sq", state.exp_avg_sq.as_slice()),
        ];
        out.extend(
            state
                .max_exp_avg_sq
                .as_deref()
                .map(|v| ("max_exp_avg_sq", v)),
        );
        out
    }

    fn load(buffers: &Buffers<'_>) -> Result<AdamState, OptimError> {
        Ok(AdamState {
            exp_avg: buffers.required("exp_avg")?,
            exp_avg_sq: buffers.required("exp_avg_sq")?,
            max_exp_avg_sq: buffers.optional("max_exp_avg_sq")?,
        })
    }
}

/// Adam's update without AMSGrad, element for element the scalar loop of
/// [`UpdateRule::update`] (the AMSGrad branch), in blocks of 8 so that it vectorizes: with
/// `FMA` the fused multiply–adds are the CPU's (under [`simd_dispatch`]'s AVX2 + FMA
/// function), otherwise [`fma`]'s f64 emulation (about 1.5 ns an element); both round once,
/// so the two give the same bits. `MODE`: 0 no weight decay, 1 L2 (coupled), 2 decoupled.
struct AdamStep<'a> {
    w: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    c: Consts,
}

/// The step's scalars, as [`UpdateRule::update`] derives them.
#[derive(Clone, Copy)]
struct Consts {
    w1: f32,
    b2: f32,
    c2: f32,
    eps: f32,
    wd: f32,
    decay: f32,
    step_size: f32,
    bc2: f32,
}

/// The kernel for this CPU: hardware FMA under AVX2 when it has them.
fn dispatch<const MODE: u8>(k: AdamStep<'_>) {
    if has_avx2_fma() {
        simd_dispatch(Blocks::<MODE, true>(k));
    } else {
        Blocks::<MODE, false>(k).run();
    }
}

struct Blocks<'a, const MODE: u8, const FMA: bool>(AdamStep<'a>);

impl<const MODE: u8, const FMA: bool> Blocks<'_, MODE, FMA> {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        fused::<FMA>(a, b, c)
    }

    /// [`lerp`] with the branch on the weight taken outside the loop.
    #[inline(always)]
    fn lerp(a: f32, b: f32, w: f32, small: bool) -> f32 {
        if small {
            Self::fma(w, b - a, a)
        } else {
            Self::fma(w - 1.0, b - a, b)
        }
    }

    #[inline(always)]
    fn element(k: &Consts, small: bool, w: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        let mut gi = g;
        match MODE {
            1 => gi = Self::fma(k.wd, *w, gi),
            2 => *w *= k.decay,
            _ => {}
        }
        *m = Self::lerp(*m, gi, k.w1, small);
        *v = Self::fma(k.c2 * gi, gi, *v * k.b2);
        let denom = v.sqrt() / k.bc2 + k.eps;
        *w += k.step_size * *m / denom;
    }
}

impl<const MODE: u8, const FMA: bool> Vectorized for Blocks<'_, MODE, FMA> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let AdamStep { w, g, m, v, c } = self.0;
        let k = &c;
        let small = k.w1.abs() < 0.5;
        let n = g.len();
        let (wb, wt) = w[..n].as_chunks_mut::<8>();
        let (gb, gt) = g.as_chunks::<8>();
        let (mb, mt) = m[..n].as_chunks_mut::<8>();
        let (vb, vt) = v[..n].as_chunks_mut::<8>();
        // Each block computed into local arrays and stored whole (see `Vectorized`).
        for (((w, g), m), v) in wb.iter_mut().zip(gb).zip(mb.iter_mut()).zip(vb.iter_mut()) {
            let (mut wl, mut ml, mut vl) = (*w, *m, *v);
            for l in 0..8 {
                Self::element(k, small, &mut wl[l], g[l], &mut ml[l], &mut vl[l]);
            }
            (*w, *m, *v) = (wl, ml, vl);
        }
        for (((w, &g), m), v) in wt.iter_mut().zip(gt).zip(mt.iter_mut()).zip(vt.iter_mut()) {
            Self::element(k, small, w, g, m, v);
        }
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    /// The block kernel, with the CPU's FMA and with the f64 emulation, gives bit for bit
    /// the scalar formula (the AMSGrad loop's, without the maximum) for every weight-decay
    /// mode, including the tail after the last block of 8.
    #[test]
    fn block_kernel_matches_the_scalar_formula_bit_for_bit() {
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 4.0
        };
        let n = 37;
        let (w0, g, m0): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            (0..n).map(|_| next()).collect(),
            (0..n).map(|_| next()).collect(),
            (0..n).map(|_| next() * 0.1).collect(),
        );
        let v0: Vec<f32> = (0..n).map(|_| next().abs() * 0.01).collect();
        let c = Consts {
            w1: 0.1,
            b2: 0.999,
            c2: 1.0 - 0.999,
            eps: 1e-8,
            wd: 0.01,
            decay: 1.0 - 1e-3 * 0.01,
            step_size: -1e-3 / 0.19,
            bc2: 0.0447,
        };
        let run = |mode: u8, fma_hw: bool| {
            let (mut w, mut m, mut v) = (w0.clone(), m0.clone(), v0.clone());
            let k = AdamStep {
                w: &mut w,
                g: &g,
                m: &mut m,
                v: &mut v,
                c,
            };
            match (mode, fma_hw) {
                (0, true) => simd_dispatch(Blocks::<0, true>(k)),
                (1, true) => simd_dispatch(Blocks::<1, true>(k)),
                (2, true) => simd_dispatch(Blocks::<2, true>(k)),
                (0, false) => Blocks::<0, false>(k).run(),
                (1, false) => Blocks::<1, false>(k).run(),
                _ => Blocks::<2, false>(k).run(),
            }
            [w, m, v].map(|x| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
        };
        for mode in 0..3u8 {
            let (mut w, mut m, mut v) = (w0.clone(), m0.clone(), v0.clone());
            for i in 0..n {
                let mut gi = g[i];
                match mode {
                    1 => gi = fma(c.wd, w[i], gi),
                    2 => w[i] *= c.decay,
                    _ => {}
                }
                m[i] = lerp(m[i], gi, c.w1);
                v[i] = fma(c.c2 * gi, gi, v[i] * c.b2);
                w[i] += c.step_size * m[i] / (v[i].sqrt() / c.bc2 + c.eps);
            }
            let want = [w, m, v].map(|x| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
            assert_eq!(run(mode, false), want, "emulated FMA, mode {mode}");
            if has_avx2_fma() {
                assert_eq!(run(mode, true), want, "hardware FMA, mode {mode}");
            }
        }
    }
}
