//! The graph is freed after backward: 10,000 SGD steps of a small MLP must not grow the heap.
//!
//! A counting global allocator ([`CountingAlloc`], its own test binary, since
//! `#[global_allocator]` is per binary) tracks live heap bytes. Each step builds a graph of ~20 nodes holding saved
//! tensors (a few KiB); if any of it outlived the step, 9,900 steps would leak megabytes.
//! The bound below (64 KiB between step 100 and step 10,000) allows under 7 bytes per step.

use gradflow_tensor::{CountingAlloc, Reduction, Tensor, no_grad};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::new();

fn live_bytes() -> isize {
    GLOBAL.live_bytes()
}

#[test]
fn ten_thousand_training_steps_do_not_grow_the_heap() {
    let mut rng = StdRng::seed_from_u64(42);
    let (batch, d_in, hidden, classes) = (8, 16, 32, 4);
    let he = |fan_in: usize| (2.0 / fan_in as f32).sqrt();
    let params = [
        Tensor::randn(&[d_in, hidden], 0.0, he(d_in), &mut rng).requires_grad_(),
        Tensor::zeros(&[hidden]).requires_grad_(),
        Tensor::randn(&[hidden, hidden], 0.0, he(hidden), &mut rng).requires_grad_(),
        Tensor::zeros(&[hidden]).requires_grad_(),
        Tensor::randn(&[hidden, classes], 0.0, he(hidden), &mut rng).requires_grad_(),
        Tensor::zeros(&[classes]).requires_grad_(),
    ];
    let x = Tensor::randn(&[batch, d_in], 0.0, 1.0, &mut rng);
    let targets: Vec<usize> = (0..batch).map(|_| rng.random_range(0..classes)).collect();
    let zero = Tensor::zeros(&[1]);
    let lr = 0.05f32;

    let step = || -> f32 {
        let [w1, b1, w2, b2, w3, b3] = &params;
        // Two ReLU forms: clamp(0, ∞) and maximum with zeros.
        let h1 = x.matmul(w1).add(b1).clamp(0.0, f32::INFINITY);
        let h2 = h1.matmul(w2).add(b2).maximum(&zero);
        let loss = h2
            .matmul(w3)
            .add(b3)
            .cross_entropy(&targets, Reduction::Mean, 0.0);
        loss.backward();
        no_grad(|| {
            for p in &params {
                let g = p.grad().expect("every parameter gets a gradient").to_vec();
                p.update_data(|d| {
                    for (v, gv) in d.iter_mut().zip(&g) {
                        *v -= lr * gv;
                    }
                });
                p.zero_grad();
            }
        });
        loss.item()
    };

    let first_loss = step();
    for _ in 1..100 {
        step();
    }
    let after_100 = live_bytes();
    let mut last_loss = 0.0;
    for _ in 100..10_000 {
        last_loss = step();
    }
    let after_10k = live_bytes();
    let growth = after_10k - after_100;
    eprintln!(
        "live heap: {after_100} B after step 100, {after_10k} B after step 10,000 (growth {growth} B)"
    );
    assert!(
        growth.abs() <= 64 * 1024,
        "heap grew by {growth} bytes over 9,900 steps ({after_100} -> {after_10k}): the graph is not freed"
    );
    // The steps really trained (so the graph really was built and consumed each time).
    assert!(
        last_loss < 0.5 * first_loss,
        "loss {first_loss} -> {last_loss}"
    );
}
