//! The broadcasting binary loop: `f(a, b)` over the NumPy-broadcast shape of two strided
//! tensors, with a contiguous fast path, stride-0 (stretched) fast paths and rayon over rows.

use crate::Tensor;
use crate::kernels::map::zip_slices;
use crate::layout::{broadcast_shape, strided_rows};
use crate::parallel::par_rows;

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
