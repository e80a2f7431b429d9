//! One training step of a 20-layer, 256-wide MLP at batch 128 (the PyTorch baseline's `mlp`
//! workload): 784→256, 18 × 256→256, 256→10, the activation after every layer but the last,
//! cross-entropy, plain SGD with lr 0.01.

use criterion::{Criterion, criterion_group, criterion_main};
use gradflow::tensor::{Elementwise, Tensor};
use rand::SeedableRng;

#[derive(Clone, Copy)]
struct Sigmoid;
impl Elementwise for Sigmoid {
    const NAME: &'static str = "sigmoid";
    const FROM_OUTPUT: bool = true;
    fn f(self, x: f32) -> f32 {
        1.0 / (1.0 + (-x).exp())
    }
    fn df(self, _x: f32, y: f32) -> f32 {
        y * (1.0 - y)
    }
}

struct Mlp {
    layers: Vec<(Tensor, Tensor)>,
}

impl Mlp {
    fn new(rng: &mut rand::rngs::StdRng) -> Self {
        let mut dims = vec![784];
        dims.extend([256; 19]);
        dims.push(10);
        let layers = dims
            .windows(2)
            .map(|d| {
                let bound = 1.0 / (d[0] as f32).sqrt();
                (
                    Tensor::rand(&[d[1], d[0]], -bound, bound, rng).requires_grad_(),
                    Tensor::rand(&[d[1]], -bound, bound, rng).requires_grad_(),
                )
            })
            .collect();
        Mlp { layers }
    }

    fn step(&self, x: &Tensor, y: &[usize], sigmoid: bool) {
        let mut h = x.clone();
        let last = self.layers.len() - 1;
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = h.linear(w, Some(b));
            if i < last {
                h = if sigmoid {
                    h.map(Sigmoid)
                } else {
                    h.clamp(0.0, f32::INFINITY)
                };
            }
        }
        h.cross_entropy(y, Default::default(), 0.0).backward();
        for (w, b) in &self.layers {
            for p in [w, b] {
                if let Some(g) = p.grad() {
                    g.with_data(|gd| {
                        p.update_data(|d| {
                            for (v, gv) in d.iter_mut().zip(gd) {
                                *v -= 0.01 * gv;
                            }
                        })
                    });
                }
                p.zero_grad();
            }
        }
    }
}

fn mlp(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let net = Mlp::new(&mut rng);
    let x = Tensor::randn(&[128, 784], 0.0, 1.0, &mut rng);
    let y: Vec<usize> = (0..128).map(|i| i % 10).collect();
    let mut group = c.benchmark_group("mlp20x256_b128_step");
    group.bench_function("relu", |b| b.iter(|| net.step(&x, &y, false)));
    group.bench_function("sigmoid", |b| b.iter(|| net.step(&x, &y, true)));
    group.finish();
}

criterion_group!(benches, mlp);
criterion_main!(benches);
