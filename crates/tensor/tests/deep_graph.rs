//! Graphs are freed iteratively: a 100,000-op chain is dropped (with and without a backward
//! pass) on a thread with a 256 KiB stack.
//!
//! Why this would fail with a recursive drop: each node of the chain owns the next one
//! through an `Arc`, and the default drop glue recurses once per node (`drop_slow` →
//! `drop_in_place::<Node>` → `drop_slow` …), at least ~100 bytes of stack a level even
//! optimised, so 100,000 nodes need ≥ 10 MB, forty times the 256 KiB given here (a stack
//! overflow aborts the test binary). With the iterative `Drop for Node` the depth is constant.

use gradflow_tensor::Tensor;

const CHAIN: usize = 100_000;
const STACK: usize = 256 * 1024;

/// Run `f` on a thread with a small stack and propagate its panic, if any.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("spawn a test thread")
        .join()
        .expect("the small-stack thread finished without panicking");
}

/// x → x·1 + 0 … alternating two cheap ops, `CHAIN` ops in all; returns (leaf, output).
fn chain() -> (Tensor, Tensor) {
    let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).requires_grad_();
    let mut y = x.clone();
    for i in 0..CHAIN {
        y = if i % 2 == 0 {
            y.mul_scalar(1.0)
        } else {
            y.add_scalar(0.0)
        };
    }
    (x, y)
}

#[test]
fn dropping_a_100k_op_chain_without_backward_does_not_overflow() {
    on_small_stack(|| {
        let (x, y) = chain();
        assert_eq!(y.op_name(), Some("add_scalar"));
        drop(y); // the whole chain goes here
        assert!(x.grad().is_none());
    });
}

#[test]
fn backward_through_and_dropping_a_100k_op_chain_does_not_overflow() {
    on_small_stack(|| {
        let (x, y) = chain();
        y.sum_all().backward();
        // Every op is the identity, so ∂Σy/∂x = 1 for each element.
        assert_eq!(x.grad().expect("x requires grad").to_vec(), vec![1.0, 1.0]);
        drop(y);
    });
}

#[test]
fn dropping_a_wide_and_deep_graph_with_shared_nodes() {
    // Two chains that share their first half: the shared nodes are freed once, when the last
    // chain that holds them goes.
    on_small_stack(|| {
        let x = Tensor::ones(&[3]).requires_grad_();
        let mut trunk = x.clone();
        for _ in 0..CHAIN / 2 {
            trunk = trunk.add_scalar(1.0);
        }
        let (mut a, mut b) = (trunk.clone(), trunk.clone());
        drop(trunk);
        for _ in 0..CHAIN / 2 {
            a = a.mul_scalar(1.0);
            b = b.add_scalar(0.0);
        }
        drop(a);
        // b still holds the trunk: it must still backpropagate.
        b.sum_all().backward();
        assert_eq!(x.grad().expect("x requires grad").to_vec(), vec![1.0; 3]);
        drop(b);
    });
}
