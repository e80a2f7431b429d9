//! Non-autograd properties: matmul agrees with nalgebra, reductions agree with naive loops,
//! and permutations / transposes round-trip exactly.

use gradflow_tensor::Tensor;
use nalgebra::DMatrix;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

fn uniform(seed: u64, shape: &[usize]) -> Tensor {
    Tensor::rand(shape, -2.0, 2.0, &mut StdRng::seed_from_u64(seed))
}

/// |a − b| ≤ 1e-5·(1 + Σ|terms|): `scale` is the sum of magnitudes that went into `b`.
fn close(a: f32, b: f64, scale: f64) -> bool {
    ((a as f64) - b).abs() <= 1e-5 * (1.0 + scale)
}

/// Row-major multi-index of flat position `i`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = i % shape[k];
        i /= shape[k];
    }
    idx
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// C = A·B against nalgebra on contiguous operands, including every dimension ≤ 5
    /// (where nalgebra's small-matrix paths differ from its large ones).
    #[test]
    fn matmul_matches_nalgebra(m in 1usize..=9, k in 1usize..=9, n in 1usize..=9, seed in any::<u64>()) {
        let a = uniform(seed, &[m, k]);
        let b = uniform(seed ^ 1, &[k, n]);
        let c = a.matmul(&b);
        prop_assert_eq!(c.shape(), &[m, n]);
        let na = DMatrix::from_row_slice(m, k, &a.to_vec());
        let nb = DMatrix::from_row_slice(k, n, &b.to_vec());
        let nc = &na * &nb;
        let cv = c.to_vec();
        for i in 0..m {
            for j in 0..n {
                let scale: f64 = (0..k).map(|p| (na[(i, p)] * nb[(p, j)]).abs() as f64).sum();
                prop_assert!(close(cv[i * n + j], nc[(i, j)] as f64, scale),
                    "C[{}, {}] = {} but nalgebra gives {}", i, j, cv[i * n + j], nc[(i, j)]);
            }
        }
    }

    /// A batched product equals the per-batch nalgebra products, with the batch dim of B
    /// broadcast from 1.
    #[test]
    fn batched_matmul_is_per_batch(batch in 1usize..=4, m in 1usize..=5, k in 1usize..=5, n in 1usize..=5, seed in any::<u64>()) {
        let a = uniform(seed, &[batch, m, k]);
        let b = uniform(seed ^ 2, &[1, k, n]);
        let c = a.matmul(&b).to_vec();
        let nb = DMatrix::from_row_slice(k, n, &b.to_vec());
        for t in 0..batch {
            let na = DMatrix::from_row_slice(m, k, &a.select(0, t).to_vec());
            let nc = &na * &nb;
            for i in 0..m {
                for j in 0..n {
                    let got = c[(t * m + i) * n + j];
                    prop_assert!(close(got, nc[(i, j)] as f64, 4.0 * k as f64),
                        "C[{}][{}, {}] = {} but nalgebra gives {}", t, i, j, got, nc[(i, j)]);
                }
            }
        }
    }

    /// sum over any set of axes equals the naive loop over every element.
    #[test]
    fn sum_over_axes_matches_naive_loops(
        (shape, axes) in prop::collection::vec(1usize..=4, 1..=4).prop_flat_map(|s| {
            let r = s.len();
            (Just(s), prop::collection::vec(any::<bool>(), r))
        }),
        keepdim in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let dims: Vec<usize> = axes.iter().enumerate().filter(|&(_, &b)| b).map(|(k, _)| k).collect();
        let x = uniform(seed, &shape);
        let y = x.sum(&dims, keepdim);
        let kept: Vec<usize> = shape.iter().enumerate().map(|(k, &d)| if axes[k] { 1 } else { d }).collect();
        let expect_shape: Vec<usize> = if keepdim {
            kept.clone()
        } else {
            shape.iter().enumerate().filter(|(k, _)| !axes[*k]).map(|(_, &d)| d).collect()
        };
        prop_assert_eq!(y.shape(), expect_shape.as_slice());
        let out_n: usize = kept.iter().product();
        let (mut naive, mut scale) = (vec![0.0f64; out_n], vec![0.0f64; out_n]);
        let xv = x.to_vec();
        for (i, &v) in xv.iter().enumerate() {
            let idx = unravel(i, &shape);
            let o = idx.iter().zip(&kept).fold(0, |acc, (&ix, &d)| acc * d + if d == 1 { 0 } else { ix });
            naive[o] += v as f64;
            scale[o] += v.abs() as f64;
        }
        for (o, (&got, &want)) in y.to_vec().iter().zip(&naive).enumerate() {
            prop_assert!(close(got, want, scale[o]), "sum[{}] = {} but the loop gives {}", o, got, want);
        }
    }

    /// permute then the inverse permutation is the identity, and permute moves each element
    /// where the definition says (y[i₀…] = x[i_{p⁻¹}…]); two transposes of the same pair
    /// cancel. Copies only, so the comparisons are exact.
    #[test]
    fn permute_and_transpose_round_trip(shape in prop::collection::vec(1usize..=4, 1..=4), seed in any::<u64>()) {
        let x = uniform(seed, &shape);
        let r = shape.len();
        let mut perm: Vec<usize> = (0..r).collect();
        perm.shuffle(&mut StdRng::seed_from_u64(seed));
        let mut inverse = vec![0; r];
        for (k, &p) in perm.iter().enumerate() {
            inverse[p] = k;
        }
        let y = x.permute(&perm);
        prop_assert!(y.shares_storage(&x), "permute must be a view");
        prop_assert_eq!(y.permute(&inverse).to_vec(), x.to_vec());
        prop_assert_eq!(y.contiguous().permute(&inverse).contiguous().to_vec(), x.to_vec());
        let yv = y.to_vec();
        for (i, &v) in yv.iter().enumerate() {
            let yi = unravel(i, y.shape());
            let xi: Vec<usize> = (0..r).map(|d| yi[inverse[d]]).collect();
            prop_assert_eq!(v, x.get(&xi));
        }
        let (a, b) = ((seed % r as u64) as usize, ((seed / 7) % r as u64) as usize);
        prop_assert_eq!(x.transpose(a, b).transpose(a, b).to_vec(), x.to_vec());
        prop_assert_eq!(x.transpose(a, b).to_vec(), x.permute(&{
            let mut p: Vec<usize> = (0..r).collect();
            p.swap(a, b);
            p
        }).to_vec());
    }
}
