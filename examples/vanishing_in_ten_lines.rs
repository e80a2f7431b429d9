//! The vanishing gradient in a few lines: a 20-layer sigmoid MLP and a 20-layer ReLU MLP with
//! He initialization, one backward pass each, and the norm of ∂L/∂h for every hidden layer.
//!
//! Run with `cargo run --release --example vanishing_in_ten_lines`.

use gradflow::activations::{relu, sigmoid};
use gradflow::init::{FanMode, Nonlinearity, kaiming_normal, xavier_normal};
use gradflow::tensor::{Reduction, Tensor};
use rand::SeedableRng;

fn main() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let x = Tensor::randn(&[64, 128], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..64).map(|i| i % 10).collect();
    for name in ["sigmoid + Xavier", "ReLU + He"] {
        let mut h = x.clone();
        let mut hidden = Vec::new();
        for _ in 0..19 {
            let w = if name.starts_with("sigmoid") {
                xavier_normal(&[128, 128], 1.0, &mut rng)
            } else {
                kaiming_normal(
                    &[128, 128],
                    0.0,
                    FanMode::FanIn,
                    Nonlinearity::Relu,
                    &mut rng,
                )
            }
            .requires_grad_();
            let z = h.linear(&w, None);
            h = if name.starts_with("sigmoid") {
                sigmoid(&z)
            } else {
                relu(&z)
            };
            h.retain_grad();
            hidden.push(h.clone());
        }
        let head = xavier_normal(&[10, 128], 1.0, &mut rng).requires_grad_();
        h.linear(&head, None)
            .cross_entropy(&labels, Reduction::Mean, 0.0)
            .backward();
        println!("{name}: ‖∂L/∂h_l‖ from the first hidden layer to the last");
        for (l, h) in hidden.iter().enumerate() {
            let g = h.grad().map_or(0.0, |g| g.mul(&g).sum_all().item().sqrt());
            println!("  layer {:>2}: {g:.3e}", l + 1);
        }
    }
}
