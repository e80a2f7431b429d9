//! Autograd semantics (PyTorch's): accumulation and `zero_grad`, fan-out, `no_grad`,
//! `detach`, `retain_grad` on intermediates, and the panics of a consumed graph and of a
//! non-scalar `backward`.

use gradflow_tensor::{Reduction, Tensor, is_grad_enabled, no_grad};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[track_caller]
fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "[{i}]: got {a}, want {b}\n got {got:?}\nwant {want:?}"
        );
    }
}

#[test]
fn gradients_accumulate_across_backward_calls_until_zero_grad() {
    // L = Σ x², ∂L/∂x = 2x; two backward passes (two forward passes) add up to 4x.
    let x = Tensor::from_vec(vec![1.0, -2.0, 0.5], &[3]).requires_grad_();
    assert!(x.grad().is_none(), "no gradient before any backward");
    x.mul(&x).sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![2.0, -4.0, 1.0]);
    x.mul(&x).sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![4.0, -8.0, 2.0]);
    x.zero_grad();
    assert!(
        x.grad().is_none(),
        "zero_grad sets the gradient to None (set_to_none=True)"
    );
    // A fresh pass after zero_grad starts from nothing.
    x.mul_scalar(3.0).sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![3.0, 3.0, 3.0]);
}

#[test]
fn fan_out_sums_the_paths() {
    // y = x·x + 3x + x, used three ways: ∂y/∂x = 2x + 4.
    let x = Tensor::from_vec(vec![1.0, 2.0, -3.0], &[3]).requires_grad_();
    let y = x.mul(&x).add(&x.mul_scalar(3.0)).add(&x);
    y.sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![6.0, 8.0, -2.0]);

    // A diamond through views: h = 2x; L = Σ h + Σ (first row of hᵀ = first column of h).
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).requires_grad_();
    let h = x.mul_scalar(2.0);
    let l = h.sum_all().add(&h.t().narrow(0, 0, 1).sum_all());
    l.backward();
    // ∂L/∂x = 2·(1 + [x is in the first column]).
    assert_eq!(x.grad().unwrap().to_vec(), vec![4.0, 2.0, 4.0, 2.0]);
}

#[test]
fn no_grad_records_nothing() {
    let w = Tensor::ones(&[2, 2]).requires_grad_();
    assert!(is_grad_enabled());
    let y = no_grad(|| {
        assert!(!is_grad_enabled());
        // Nested scopes restore the outer state, not "enabled".
        let inner = no_grad(|| w.mul_scalar(2.0));
        assert!(!is_grad_enabled());
        inner.matmul(&w).add(&w)
    });
    assert!(is_grad_enabled(), "leaving no_grad re-enables recording");
    assert!(!y.requires_grad());
    assert!(y.is_leaf());
    assert_eq!(y.op_name(), None);
    assert_eq!(y.to_vec(), vec![5.0; 4]);
    // The tensor still requires grad afterwards and records again.
    assert_eq!(w.mul(&w).op_name(), Some("mul"));
}

#[test]
#[should_panic(expected = "backward: the tensor does not require grad")]
fn backward_of_a_no_grad_result_panics() {
    let w = Tensor::ones(&[2]).requires_grad_();
    no_grad(|| w.mul_scalar(2.0)).sum_all().backward();
}

#[test]
fn detach_stops_the_gradient() {
    // y = x · stop(x): only the first factor carries a gradient, so ∂y/∂x = x (not 2x).
    let x = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]).requires_grad_();
    let d = x.detach();
    assert!(!d.requires_grad());
    assert!(d.shares_storage(&x), "detach must not copy");
    x.mul(&d).sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, -2.0, 3.0]);
}

/// Row-major matrix product of `[m, k]` and `[k, n]` in f64.
fn mm(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                .sum();
        }
    }
    c
}

#[test]
fn retain_grad_on_a_three_layer_mlp_matches_a_manual_backward() {
    // z1 = x W1 + b1, h1 = relu(z1); z2 = h1 W2 + b2, h2 = relu(z2); z3 = h2 W3 + b3;
    // L = mean cross-entropy(z3, t). Manual chain rule:
    //   ∂L/∂z3 = (softmax(z3) − onehot(t)) / N
    //   ∂L/∂h2 = ∂L/∂z3 · W3ᵀ,  ∂L/∂z2 = ∂L/∂h2 ⊙ [z2 > 0]
    //   ∂L/∂h1 = ∂L/∂z2 · W2ᵀ
    let (n, d0, d1, d2, d3) = (4, 5, 6, 6, 3);
    let mut rng = StdRng::seed_from_u64(7);
    let x = Tensor::randn(&[n, d0], 0.0, 1.0, &mut rng);
    let w1 = Tensor::randn(&[d0, d1], 0.0, 0.6, &mut rng).requires_grad_();
    let b1 = Tensor::randn(&[d1], 0.0, 0.1, &mut rng).requires_grad_();
    let w2 = Tensor::randn(&[d1, d2], 0.0, 0.6, &mut rng).requires_grad_();
    let b2 = Tensor::randn(&[d2], 0.0, 0.1, &mut rng).requires_grad_();
    let w3 = Tensor::randn(&[d2, d3], 0.0, 0.6, &mut rng).requires_grad_();
    let b3 = Tensor::randn(&[d3], 0.0, 0.1, &mut rng).requires_grad_();
    let targets = [0usize, 2, 1, 2];

    let h1 = x.matmul(&w1).add(&b1).clamp(0.0, f32::INFINITY);
    let z2 = h1.matmul(&w2).add(&b2);
    let h2 = z2.maximum(&Tensor::zeros(&[1]));
    let z3 = h2.matmul(&w3).add(&b3);
    for t in [&h1, &h2, &z3] {
        t.retain_grad();
    }
    let loss = z3.cross_entropy(&targets, Reduction::Mean, 0.0);
    loss.backward();

    // Manual backward in f64 from the forward values.
    let z3v = z3.to_vec();
    let mut dz3 = vec![0.0f64; n * d3];
    for r in 0..n {
        let row = &z3v[r * d3..(r + 1) * d3];
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let s: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
        for c in 0..d3 {
            let p = (row[c] as f64 - m).exp() / s;
            dz3[r * d3 + c] = (p - f64::from(u8::from(c == targets[r]))) / n as f64;
        }
    }
    let to32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let dh2 = mm(&to32(&dz3), &w3.t().contiguous().to_vec(), n, d3, d2);
    let z2v = z2.to_vec();
    let dz2: Vec<f64> = dh2
        .iter()
        .zip(&z2v)
        .map(|(&g, &z)| if z > 0.0 { g } else { 0.0 })
        .collect();
    let dh1 = mm(&to32(&dz2), &w2.t().contiguous().to_vec(), n, d2, d1);

    assert_close(
        &z3.grad().expect("retained dL/dz3").to_vec(),
        &to32(&dz3),
        1e-6,
    );
    assert_close(
        &h2.grad().expect("retained dL/dh2").to_vec(),
        &to32(&dh2),
        1e-5,
    );
    assert_close(
        &h1.grad().expect("retained dL/dh1").to_vec(),
        &to32(&dh1),
        1e-5,
    );
    // Both ReLU forms must have been active somewhere, or the test proves little.
    assert!(z2v.iter().any(|&v| v > 0.0) && z2v.iter().any(|&v| v < 0.0));
    // Parameters still get theirs: ∂L/∂b3 = Σ_rows ∂L/∂z3.
    let db3: Vec<f32> = (0..d3)
        .map(|c| (0..n).map(|r| dz3[r * d3 + c]).sum::<f64>() as f32)
        .collect();
    assert_close(&b3.grad().unwrap().to_vec(), &db3, 1e-6);
    // An intermediate without retain_grad keeps nothing.
    assert!(z2.grad().is_none());
}

#[test]
#[should_panic(expected = "was already used by an earlier backward()")]
fn second_backward_through_the_same_graph_panics() {
    let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).requires_grad_();
    let loss = x.exp().sum_all();
    loss.backward();
    loss.backward();
}

#[test]
#[should_panic(expected = "backward: called on a tensor of shape [2, 3]; it needs a scalar")]
fn backward_on_a_non_scalar_panics() {
    let x = Tensor::ones(&[2, 3]).requires_grad_();
    x.mul_scalar(2.0).backward();
}

#[test]
fn backward_with_an_explicit_seed_is_a_vector_jacobian_product() {
    // y = 3x, seed g: ∂(gᵀy)/∂x = 3g.
    let x = Tensor::ones(&[3]).requires_grad_();
    x.mul_scalar(3.0)
        .backward_with(&Tensor::from_vec(vec![1.0, -1.0, 0.5], &[3]));
    assert_eq!(x.grad().unwrap().to_vec(), vec![3.0, -3.0, 1.5]);
}

/// Two leaves that receive the same gradient tensor (as `a + b` does) must not end up
/// sharing one buffer: writing one gradient in place must leave the other alone.
#[test]
fn leaf_gradients_never_share_storage() {
    let a = Tensor::from_vec(vec![1.0, 2.0], &[2]).requires_grad_();
    let b = Tensor::from_vec(vec![3.0, 4.0], &[2]).requires_grad_();
    a.add(&b)
        .mul(&Tensor::from_vec(vec![30.0, 40.0], &[2]))
        .sum_all()
        .backward();
    let (ga, gb) = (a.grad().unwrap(), b.grad().unwrap());
    assert!(!ga.shares_storage(&gb));
    ga.update_data(|d| d[0] = 0.0);
    assert_eq!(b.grad().unwrap().to_vec(), vec![30.0, 40.0]);
}
