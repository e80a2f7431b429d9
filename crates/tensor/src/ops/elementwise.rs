//! Elementwise ops: the [`Elementwise`] trait and [`Tensor::map`] that turns an f/f′ pair into
//! one fused op, broadcasting binary arithmetic, comparisons and selection. The unary ops
//! built on `map` (exp, ln, sqrt, …) live in [`crate::ops::unary`], each beside its f and f′.
//!
//! Binary ops broadcast like NumPy; the backward of a broadcast input sums the gradient over
//! the stretched dimensions ([`Tensor::sum_to`]).

use crate::Tensor;
use crate::kernels::broadcast::broadcast_binary;
use crate::kernels::map::{map_slice, map_slice_from, zip_slices};
use crate::layout::broadcast_shape;

/// What the backward pass of an [`Elementwise`] op keeps from the forward pass, and therefore
/// which value its derivative [`df`](Elementwise::df) is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// Keep the input x; `df(x)` is f′ written in x: ln′(x) = 1/x, |x|′ = sign x, most
    /// activations (GELU, SiLU, ELU, …).
    Input,
    /// Keep the output y = f(x) and not x; `df(y)` is f′ written in y: (eˣ)′ = y,
    /// (√x)′ = 1/(2y), σ′ = y(1 − y), tanh′ = 1 − y². Choose it whenever f′ is a function of
    /// y, since y is the tensor the next op holds anyway.
    Output,
    /// Keep nothing: f′ is a constant (x + s has f′ = 1, s·x has f′ = s). `df` is evaluated
    /// once, at 0, and the backward pass is dx = f′·dy with no saved tensor at all.
    Nothing,
}

/// An elementwise function written next to its derivative (the dfdx pattern).
///
/// [`Tensor::map`] turns the pair into one fused op: one pass forward, one pass backward
/// (`dx = dy · f′`), keeping for backward only what [`SAVES`](Elementwise::SAVES) names: the
/// input, the output, or nothing. `df` receives exactly that value, never a placeholder.
///
/// ```
/// use gradflow_tensor::{Elementwise, Saved, Tensor};
///
/// /// Softsign, f(x) = x / (1 + |x|), f′(x) = 1 / (1 + |x|)², written in x.
/// #[derive(Clone, Copy)]
/// struct Softsign;
/// impl Elementwise for Softsign {
///     const NAME: &'static str = "softsign";
///     const SAVES: Saved = Saved::Input;
///     fn f(self, x: f32) -> f32 { x / (1.0 + x.abs()) }
///     fn df(self, x: f32) -> f32 { 1.0 / ((1.0 + x.abs()) * (1.0 + x.abs())) }
/// }
///
/// let x = Tensor::from_vec(vec![1.0], &[1]).requires_grad_();
/// x.map(Softsign).sum_all().backward();
/// assert_eq!(x.grad().unwrap().item(), 0.25);
/// ```
pub trait Elementwise: Copy + Send + Sync + 'static {
    /// The op's name in error messages and the graph.
    const NAME: &'static str;
    /// What backward keeps, and so what [`df`](Elementwise::df) is given.
    const SAVES: Saved;
    /// What f costs per element against a pass over memory (an add or a ReLU: 1): the
    /// forward splits over threads from [`PAR_MIN_ELEMS`](crate::PAR_MIN_ELEMS) / `COST`
    /// elements on instead of from `PAR_MIN_ELEMS`. Functions built on `exp` or `ln`
    /// (sigmoid, tanh, GELU, …) cost about 8: the vectorized `exp` takes 0.7 ns an element
    /// on one core. The 20-layer MLP bench's sigmoid step, whose 32 Ki-element sigmoids then
    /// run on both cores: 7.50 → 6.81 ms (median of 300 steps, alternated per step).
    const COST: usize = 1;
    /// The function, y = f(x).
    fn f(self, x: f32) -> f32;
    /// The derivative f′, written in the value that [`SAVES`](Elementwise::SAVES) keeps:
    /// - [`Saved::Input`]: `v` is the input x, return f′(x);
    /// - [`Saved::Output`]: `v` is the output y = f(x), return f′ as a function of y;
    /// - [`Saved::Nothing`]: f′ is constant; `v` is 0 and must not change the result.
    fn df(self, v: f32) -> f32;
}

impl Tensor {
    /// Apply an [`Elementwise`] function as one fused, differentiable op: y = f(x) in one
    /// pass, and in backward dx = dy ⊙ f′ in one pass, from what [`Elementwise::SAVES`] kept.
    pub fn map<E: Elementwise>(&self, e: E) -> Tensor {
        let min_par = crate::PAR_MIN_ELEMS / E::COST.max(1);
        let y = Tensor::from_vec(
            self.with_data(|x| map_slice_from(x, min_par, |v| e.f(v))),
            self.shape(),
        );
        match E::SAVES {
            Saved::Output => y.record(E::NAME, &[self], true, move |c| {
                let y = c.output();
                let dx = c
                    .grad_output()
                    .with_data(|dy| y.with_data(|yv| zip_slices(dy, yv, |g, v| g * e.df(v))));
                vec![Some(Tensor::from_vec(dx, y.shape()))]
            }),
            Saved::Input => {
                let x = self.detach();
                y.record(E::NAME, &[self], false, move |c| {
                    let dx = c
                        .grad_output()
                        .with_data(|dy| x.with_data(|xv| zip_slices(dy, xv, |g, v| g * e.df(v))));
                    vec![Some(Tensor::from_vec(dx, x.shape()))]
                })
            }
            Saved::Nothing => {
                let slope = e.df(0.0);
                y.record(E::NAME, &[self], false, move |c| {
                    let dy = c.grad_output();
                    let dx = dy.with_data(|d| map_slice(d, |g| g * slope));
                    vec![Some(Tensor::from_vec(dx, dy.shape()))]
                })
            }
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

    /// An op with `COST` 8 on 20 001 elements (between PAR_MIN_ELEMS / 8 and PAR_MIN_ELEMS,
    /// an odd length, so the split's last piece is short) computes f for every element,
    /// on a pool of two threads where the split happens: bit for bit the scalar f, forward
    /// and backward.
    #[test]
    fn costly_maps_split_and_cover_every_element() {
        #[derive(Clone, Copy)]
        struct Costly;
        impl Elementwise for Costly {
            const NAME: &'static str = "costly";
            const SAVES: Saved = Saved::Input;
            const COST: usize = 8;
            fn f(self, x: f32) -> f32 {
                x * x + 1.0
            }
            fn df(self, x: f32) -> f32 {
                2.0 * x
            }
        }
        let n = 20_001;
        assert!((crate::PAR_MIN_ELEMS / Costly::COST..crate::PAR_MIN_ELEMS).contains(&n));
        let xs: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let x = Tensor::from_vec(xs.clone(), &[n]).requires_grad_();
        let y = pool.install(|| x.map(Costly));
        pool.install(|| y.sum_all().backward());
        let want: Vec<u32> = xs.iter().map(|&v| Costly.f(v).to_bits()).collect();
        assert_eq!(
            y.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want
        );
        let dwant: Vec<u32> = xs.iter().map(|&v| Costly.df(v).to_bits()).collect();
        let dx = x.grad().unwrap().to_vec();
        assert_eq!(dx.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), dwant);
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
