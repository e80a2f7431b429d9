//! Elementwise ops: unary maps with their derivatives, broadcasting binary arithmetic,
//! comparisons and selection.
//!
//! Binary ops broadcast like NumPy; the backward of a broadcast input sums the gradient over
//! the stretched dimensions ([`Tensor::sum_to`]).

use rayon::prelude::*;

use crate::Tensor;
use crate::layout::{broadcast_shape, strided_rows};
use crate::parallel::{PAR_MIN_ELEMS, par_rows};

/// An elementwise function written next to its derivative (the dfdx pattern).
///
/// [`Tensor::map`] turns the pair into one fused op: one pass forward, one pass backward
/// (`dx = dy · f′`), saving only what `df` reads: the output `y` when
/// [`FROM_OUTPUT`](Elementwise::FROM_OUTPUT) is true (sigmoid, tanh, exp), else the input `x`.
///
/// ```
/// use gradflow_tensor::{Elementwise, Tensor};
///
/// /// Softsign, f(x) = x / (1 + |x|), f′(x) = 1 / (1 + |x|)².
/// #[derive(Clone, Copy)]
/// struct Softsign;
/// impl Elementwise for Softsign {
///     const NAME: &'static str = "softsign";
///     const FROM_OUTPUT: bool = false;
///     fn f(self, x: f32) -> f32 { x / (1.0 + x.abs()) }
///     fn df(self, x: f32, _y: f32) -> f32 { 1.0 / ((1.0 + x.abs()) * (1.0 + x.abs())) }
/// }
///
/// let x = Tensor::from_vec(vec![1.0], &[1]).requires_grad_();
/// x.map(Softsign).sum_all().backward();
/// assert_eq!(x.grad().unwrap().item(), 0.25);
/// ```
pub trait Elementwise: Copy + Send + Sync + 'static {
    /// The op's name in error messages and the graph.
    const NAME: &'static str;
    /// True when `df` needs only the output `y`: then `x` is not kept for backward and the
    /// `x` passed to `df` is NaN. When false, only `x` is kept and the `y` passed to `df` is
    /// NaN (recomputing f(x) in backward would cost a second forward pass).
    const FROM_OUTPUT: bool;
    /// The function, y = f(x).
    fn f(self, x: f32) -> f32;
    /// Its derivative f′ at `x`, where `y = f(x)`.
    fn df(self, x: f32, y: f32) -> f32;
}

/// `out[i] = f(x[i])` on one thread, compiled for AVX2 + FMA when the CPU has them (runtime
/// detection keeps the binary portable): `f` is inlined into the wide loop, so branch-free
/// kernels such as [`crate::math::exp`] run 8 lanes at a time instead of 4.
fn map_serial(x: &[f32], out: &mut [f32], f: &(impl Fn(f32) -> f32 + Sync)) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(x: &[f32], out: &mut [f32], f: &(impl Fn(f32) -> f32 + Sync)) {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = f(v);
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: `wide` only enables AVX2 and FMA, which the CPU was just checked to have.
            unsafe { wide(x, out, f) };
            return;
        }
    }
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// Apply `f` to every element, splitting the work over threads for large inputs.
pub(crate) fn map_slice(x: &[f32], f: impl Fn(f32) -> f32 + Sync + Send) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    if x.len() >= PAR_MIN_ELEMS {
        out.par_chunks_mut(PAR_MIN_ELEMS / 4)
            .zip(x.par_chunks(PAR_MIN_ELEMS / 4))
            .for_each(|(o, xs)| map_serial(xs, o, &f));
    } else {
        map_serial(x, &mut out, &f);
    }
    out
}

/// `f(a[i], b[i])` for equal-length slices, split over threads for large inputs.
pub(crate) fn zip_slices(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Vec<f32> {
    debug_assert_eq!(a.len(), b.len());
    let mut out = vec![0.0f32; a.len()];
    if a.len() >= PAR_MIN_ELEMS {
        let c = PAR_MIN_ELEMS / 4;
        out.par_chunks_mut(c)
            .zip(a.par_chunks(c).zip(b.par_chunks(c)))
            .for_each(|(o, (x, y))| zip_serial(x, y, o, &f));
    } else {
        zip_serial(a, b, &mut out, &f);
    }
    out
}

/// `out[i] = f(a[i], b[i])` on one thread, widened like [`map_serial`].
fn zip_serial(a: &[f32], b: &[f32], out: &mut [f32], f: &(impl Fn(f32, f32) -> f32 + Sync)) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(a: &[f32], b: &[f32], out: &mut [f32], f: &(impl Fn(f32, f32) -> f32 + Sync)) {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: `wide` only enables AVX2 and FMA, which the CPU was just checked to have.
            unsafe { wide(a, b, out, f) };
            return;
        }
    }
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// Broadcasting binary kernel without autograd: `f(a, b)` over the broadcast shape.
pub(crate) fn broadcast_binary(
    op: &str,
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Tensor {
    if a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous() {
        let out = a.with_data(|x| b.with_data(|y| zip_slices(x, y, &f)));
        return Tensor::from_vec(out, a.shape());
    }
    let shape = broadcast_shape(op, a.shape(), b.shape());
    let (la, lb) = (a.layout(), b.layout());
    let sa = la.broadcast_strides(op, &shape);
    let sb = lb.broadcast_strides(op, &shape);
    let (ga, gb) = (a.read_storage(), b.read_storage());
    let (xa, xb) = (&ga[..], &gb[..]);
    let mut out = vec![0.0f32; shape.iter().product()];
    par_rows(&mut out, &shape, |chunk, rows, start| {
        let mut sub = shape.clone();
        if !sub.is_empty() {
            sub[0] = rows;
        }
        let base_a = la.offset() + start * sa.first().copied().unwrap_or(0);
        let base_b = lb.offset() + start * sb.first().copied().unwrap_or(0);
        let mut pos = 0;
        strided_rows(&sub, &[&sa, &sb], |offs, len, inner| {
            let (oa, ob) = (base_a + offs[0], base_b + offs[1]);
            let dst = &mut chunk[pos..pos + len];
            match (inner[0], inner[1]) {
                (1, 1) => {
                    for ((d, &x), &y) in
                        dst.iter_mut().zip(&xa[oa..oa + len]).zip(&xb[ob..ob + len])
                    {
                        *d = f(x, y);
                    }
                }
                (1, 0) => {
                    let y = xb[ob];
                    for (d, &x) in dst.iter_mut().zip(&xa[oa..oa + len]) {
                        *d = f(x, y);
                    }
                }
                (0, 1) => {
                    let x = xa[oa];
                    for (d, &y) in dst.iter_mut().zip(&xb[ob..ob + len]) {
                        *d = f(x, y);
                    }
                }
                (s, t) => {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = f(xa[oa + i * s], xb[ob + i * t]);
                    }
                }
            }
            pos += len;
        });
    });
    Tensor::from_vec(out, &shape)
}

impl Tensor {
    /// Apply an [`Elementwise`] function as one fused, differentiable op.
    pub fn map<E: Elementwise>(&self, e: E) -> Tensor {
        let y = Tensor::from_vec(self.with_data(|x| map_slice(x, |v| e.f(v))), self.shape());
        if E::FROM_OUTPUT {
            y.record(E::NAME, &[self], true, move |c| {
                let dx = c.grad_output().with_data(|dy| {
                    c.output()
                        .with_data(|y| zip_slices(dy, y, |g, yv| g * e.df(f32::NAN, yv)))
                });
                vec![Some(Tensor::from_vec(dx, c.output().shape()))]
            })
        } else {
            let x = self.detach();
            y.record(E::NAME, &[self], false, move |c| {
                let dx = c.grad_output().with_data(|dy| {
                    x.with_data(|xv| zip_slices(dy, xv, |g, v| g * e.df(v, f32::NAN)))
                });
                vec![Some(Tensor::from_vec(dx, x.shape()))]
            })
        }
    }

    /// Apply `f` elementwise without recording a gradient (for masks, metrics and kernels
    /// whose derivative is not needed).
    pub fn map_values(&self, f: impl Fn(f32) -> f32 + Sync + Send) -> Tensor {
        Tensor::from_vec(self.with_data(|x| map_slice(x, f)), self.shape())
    }

    /// `a + b`, broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast; the message names `add` and both shapes.
    #[track_caller]
    pub fn add(&self, rhs: &Tensor) -> Tensor {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        broadcast_binary("add", self, rhs, |x, y| x + y).record(
            "add",
            &[self, rhs],
            false,
            move |c| {
                let g = c.grad_output();
                vec![
                    c.needs_grad(0).then(|| g.sum_to(&sa)),
                    c.needs_grad(1).then(|| g.sum_to(&sb)),
                ]
            },
        )
    }

    /// `a − b`, broadcasting.
    #[track_caller]
    pub fn sub(&self, rhs: &Tensor) -> Tensor {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        broadcast_binary("sub", self, rhs, |x, y| x - y).record(
            "sub",
            &[self, rhs],
            false,
            move |c| {
                let g = c.grad_output();
                vec![
                    c.needs_grad(0).then(|| g.sum_to(&sa)),
                    c.needs_grad(1).then(|| g.sum_to(&sb).neg()),
                ]
            },
        )
    }

    /// `a ⊙ b` (elementwise product), broadcasting.
    #[track_caller]
    pub fn mul(&self, rhs: &Tensor) -> Tensor {
        let (a, b) = (self.detach(), rhs.detach());
        broadcast_binary("mul", self, rhs, |x, y| x * y).record(
            "mul",
            &[self, rhs],
            false,
            move |c| {
                let g = c.grad_output();
                vec![
                    c.needs_grad(0).then(|| g.mul(&b).sum_to(a.shape())),
                    c.needs_grad(1).then(|| g.mul(&a).sum_to(b.shape())),
                ]
            },
        )
    }

    /// `a / b`, broadcasting. ∂/∂a = 1/b, ∂/∂b = −a/b².
    #[track_caller]
    pub fn div(&self, rhs: &Tensor) -> Tensor {
        let (a, b) = (self.detach(), rhs.detach());
        broadcast_binary("div", self, rhs, |x, y| x / y).record(
            "div",
            &[self, rhs],
            false,
            move |c| {
                let g = c.grad_output();
                vec![
                    c.needs_grad(0).then(|| g.div(&b).sum_to(a.shape())),
                    c.needs_grad(1).then(|| {
                        broadcast_binary("div", &g.mul(&a), &b, |ga, y| -ga / (y * y))
                            .sum_to(b.shape())
                    }),
                ]
            },
        )
    }

    /// Elementwise maximum, broadcasting. At ties the gradient is split in half between the
    /// inputs, as PyTorch's `torch.maximum`.
    #[track_caller]
    pub fn maximum(&self, rhs: &Tensor) -> Tensor {
        self.extremum(rhs, "maximum", |x, y| if x >= y { x } else { y }, 1.0)
    }

    /// Elementwise minimum, broadcasting; ties split the gradient like [`Tensor::maximum`].
    #[track_caller]
    pub fn minimum(&self, rhs: &Tensor) -> Tensor {
        self.extremum(rhs, "minimum", |x, y| if x <= y { x } else { y }, -1.0)
    }

    #[track_caller]
    fn extremum(
        &self,
        rhs: &Tensor,
        name: &'static str,
        f: fn(f32, f32) -> f32,
        sign: f32,
    ) -> Tensor {
        let (a, b) = (self.detach(), rhs.detach());
        broadcast_binary(name, self, rhs, f).record(name, &[self, rhs], false, move |c| {
            // Share of the gradient that goes to `a`: 1 where a wins, 1/2 at ties, else 0.
            let share_a = broadcast_binary(name, &a, &b, move |x, y| {
                let d = sign * (x - y);
                if d > 0.0 {
                    1.0
                } else if d == 0.0 {
                    0.5
                } else {
                    0.0
                }
            });
            let g = c.grad_output();
            vec![
                c.needs_grad(0).then(|| g.mul(&share_a).sum_to(a.shape())),
                c.needs_grad(1).then(|| {
                    broadcast_binary(name, g, &share_a, |gv, s| gv * (1.0 - s)).sum_to(b.shape())
                }),
            ]
        })
    }

    /// `−x`.
    pub fn neg(&self) -> Tensor {
        self.mul_scalar(-1.0)
    }

    /// `x + s`.
    pub fn add_scalar(&self, s: f32) -> Tensor {
        self.map(AddScalar(s))
    }

    /// `x · s`.
    pub fn mul_scalar(&self, s: f32) -> Tensor {
        self.map(MulScalar(s))
    }

    /// `x / s`.
    pub fn div_scalar(&self, s: f32) -> Tensor {
        self.map(MulScalar(1.0 / s))
    }

    /// eˣ; the derivative reuses the output, (eˣ)′ = y.
    pub fn exp(&self) -> Tensor {
        self.map(Exp)
    }

    /// Natural logarithm, (ln x)′ = 1/x.
    pub fn ln(&self) -> Tensor {
        self.map(Ln)
    }

    /// √x, with (√x)′ = 1/(2y).
    pub fn sqrt(&self) -> Tensor {
        self.map(Sqrt)
    }

    /// xᵖ, with (xᵖ)′ = p·xᵖ⁻¹.
    pub fn powf(&self, p: f32) -> Tensor {
        self.map(Powf(p))
    }

    /// |x|, with subgradient sign(x) and 0 at x = 0 (as PyTorch).
    pub fn abs(&self) -> Tensor {
        self.map(Abs)
    }

    /// Clamp into `[min, max]`; the gradient passes where `min ≤ x ≤ max` (bounds included, as
    /// PyTorch) and is 0 outside. Use `f32::NEG_INFINITY`/`f32::INFINITY` for one-sided clamps.
    pub fn clamp(&self, min: f32, max: f32) -> Tensor {
        self.map(Clamp { min, max })
    }

    /// 1 where `self > rhs`, else 0 (broadcasting; not differentiable).
    #[track_caller]
    pub fn gt(&self, rhs: &Tensor) -> Tensor {
        broadcast_binary("gt", self, rhs, |x, y| f32::from(u8::from(x > y)))
    }

    /// 1 where `self < rhs`, else 0.
    #[track_caller]
    pub fn lt(&self, rhs: &Tensor) -> Tensor {
        broadcast_binary("lt", self, rhs, |x, y| f32::from(u8::from(x < y)))
    }

    /// 1 where `self == rhs`, else 0.
    #[track_caller]
    pub fn eq(&self, rhs: &Tensor) -> Tensor {
        broadcast_binary("eq", self, rhs, |x, y| f32::from(u8::from(x == y)))
    }

    /// 1 where `self > s`, else 0.
    pub fn gt_scalar(&self, s: f32) -> Tensor {
        self.map_values(|x| f32::from(u8::from(x > s)))
    }

    /// Select `on_true` where `mask ≠ 0`, else `on_false`, broadcasting all three
    /// (`torch.where`). Gradients flow to the chosen input only.
    #[track_caller]
    pub fn where_cond(mask: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Tensor {
        let shape = broadcast_shape(
            "where",
            &broadcast_shape("where", mask.shape(), on_true.shape()),
            on_false.shape(),
        );
        // One gather of the broadcast view (a contiguous copy first would copy twice).
        let m = mask.detach().broadcast_to(&shape).to_vec();
        let a = on_true.detach().broadcast_to(&shape);
        let b = on_false.detach().broadcast_to(&shape);
        let out: Vec<f32> = a.with_data(|av| {
            b.with_data(|bv| {
                m.iter()
                    .zip(av.iter().zip(bv))
                    .map(|(&k, (&x, &y))| if k != 0.0 { x } else { y })
                    .collect()
            })
        });
        let m = Tensor::from_vec(m, &shape);
        let (sa, sb) = (on_true.shape().to_vec(), on_false.shape().to_vec());
        Tensor::from_vec(out, &shape).record("where", &[on_true, on_false], false, move |c| {
            let g = c.grad_output();
            vec![
                c.needs_grad(0).then(|| g.mul(&m).sum_to(&sa)),
                c.needs_grad(1).then(|| {
                    broadcast_binary("where", g, &m, |gv, k| if k != 0.0 { 0.0 } else { gv })
                        .sum_to(&sb)
                }),
            ]
        })
    }

    /// Replace elements where `mask ≠ 0` by `value` (`masked_fill`); no gradient flows to
    /// the replaced elements.
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor, value: f32) -> Tensor {
        Tensor::where_cond(mask, &Tensor::scalar(value), self)
    }
}

#[derive(Clone, Copy)]
struct AddScalar(f32);
impl Elementwise for AddScalar {
    const NAME: &'static str = "add_scalar";
    const FROM_OUTPUT: bool = true;
    fn f(self, x: f32) -> f32 {
        x + self.0
    }
    fn df(self, _x: f32, _y: f32) -> f32 {
        1.0
    }
}

#[derive(Clone, Copy)]
struct MulScalar(f32);
impl Elementwise for MulScalar {
    const NAME: &'static str = "mul_scalar";
    const FROM_OUTPUT: bool = true;
    fn f(self, x: f32) -> f32 {
        x * self.0
    }
    fn df(self, _x: f32, _y: f32) -> f32 {
        self.0
    }
}

#[derive(Clone, Copy)]
struct Exp;
impl Elementwise for Exp {
    const NAME: &'static str = "exp";
    const FROM_OUTPUT: bool = true;
    fn f(self, x: f32) -> f32 {
        crate::math::exp(x)
    }
    fn df(self, _x: f32, y: f32) -> f32 {
        y
    }
}

#[derive(Clone, Copy)]
struct Ln;
impl Elementwise for Ln {
    const NAME: &'static str = "ln";
    const FROM_OUTPUT: bool = false;
    fn f(self, x: f32) -> f32 {
        x.ln()
    }
    fn df(self, x: f32, _y: f32) -> f32 {
        1.0 / x
    }
}

#[derive(Clone, Copy)]
struct Sqrt;
impl Elementwise for Sqrt {
    const NAME: &'static str = "sqrt";
    const FROM_OUTPUT: bool = true;
    fn f(self, x: f32) -> f32 {
        x.sqrt()
    }
    fn df(self, _x: f32, y: f32) -> f32 {
        0.5 / y
    }
}

#[derive(Clone, Copy)]
struct Powf(f32);
impl Elementwise for Powf {
    const NAME: &'static str = "powf";
    const FROM_OUTPUT: bool = false;
    fn f(self, x: f32) -> f32 {
        if self.0 == 2.0 { x * x } else { x.powf(self.0) }
    }
    fn df(self, x: f32, _y: f32) -> f32 {
        if self.0 == 2.0 {
            2.0 * x
        } else if self.0 == 0.0 {
            0.0
        } else {
            self.0 * x.powf(self.0 - 1.0)
        }
    }
}

#[derive(Clone, Copy)]
struct Abs;
impl Elementwise for Abs {
    const NAME: &'static str = "abs";
    const FROM_OUTPUT: bool = false;
    fn f(self, x: f32) -> f32 {
        x.abs()
    }
    fn df(self, x: f32, _y: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    }
}

#[derive(Clone, Copy)]
struct Clamp {
    min: f32,
    max: f32,
}
impl Elementwise for Clamp {
    const NAME: &'static str = "clamp";
    const FROM_OUTPUT: bool = false;
    fn f(self, x: f32) -> f32 {
        x.max(self.min).min(self.max)
    }
    fn df(self, x: f32, _y: f32) -> f32 {
        f32::from(u8::from(x >= self.min && x <= self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_matches_manual_expansion() {
        let a = Tensor::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
        let b = Tensor::from_vec(vec![10.0, 20.0, 30.0], &[3]);
        assert_eq!(a.add(&b).to_vec(), vec![10.0, 21.0, 32.0, 13.0, 24.0, 35.0]);
        let col = Tensor::from_vec(vec![1.0, 2.0], &[2, 1]);
        assert_eq!(a.mul(&col).to_vec(), vec![0.0, 1.0, 2.0, 6.0, 8.0, 10.0]);
        // A transposed operand goes through the strided path.
        assert_eq!(
            a.t().add(&a.t()).to_vec(),
            vec![0.0, 6.0, 2.0, 8.0, 4.0, 10.0]
        );
    }

    #[test]
    #[should_panic(expected = "mul: incompatible shapes [2, 3] and [2]")]
    fn incompatible_shapes_panic_with_both_shapes() {
        Tensor::zeros(&[2, 3]).mul(&Tensor::zeros(&[2]));
    }

    #[test]
    fn maximum_splits_ties() {
        let a = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]).requires_grad_();
        let b = Tensor::from_vec(vec![2.0, 2.0, 1.0], &[3]).requires_grad_();
        a.maximum(&b).sum_all().backward();
        assert_eq!(a.grad().unwrap().to_vec(), vec![0.0, 0.5, 1.0]);
        assert_eq!(b.grad().unwrap().to_vec(), vec![1.0, 0.5, 0.0]);
    }
}
