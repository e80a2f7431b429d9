//! LSTM training steps, the PyTorch baseline's `lstm` workloads (`shared/bench/pytorch_baseline.py`):
//!
//! - char-LM: Embedding(100→128) → LSTM(128→256, 2 layers, batch_first) → Linear(256→100),
//!   batch 32, seq 100, cross-entropy over every position, clip_grad_norm 1.0, Adam lr 2e-3;
//! - adding problem: LSTM(2→128) → Linear(128→1) on the last step, batch 64, seq 200, MSE,
//!   Adam lr 1e-3, no clipping.
//!
//! Throughput is in sequences per second (criterion's elements = batch size), the unit of the
//! baseline's `seq_per_s`. Built from the library as a user would.
//! Each step runs through `gradflow_tensor::on_pool`, as the `gradflow` binary runs
//! `train-lm` (docs/benchmarks.md).

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use gradflow_clipping::clip_grad_norm;
use gradflow_layers::{EmbeddingConfig, LinearConfig};
use gradflow_optimizers::{Adam, AdamConfig, Optimizer};
use gradflow_recurrent::{Lstm, RecurrentConfig};
use gradflow_tensor::{Module, Reduction, Tensor, on_pool};
use rand::{RngExt, SeedableRng};

/// mimalloc, set up as in the `gradflow` binary (see `docs/benchmarks.md`, "The allocator").
#[path = "../crates/gradflow/src/allocator.rs"]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

fn char_lm(c: &mut Criterion) {
    let (b, t, v) = (32, 100, 100);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let embed = EmbeddingConfig::new(v, 128).init(&mut rng);
    let lstm = Lstm::new(
        &RecurrentConfig::new(128, 256)
            .with_num_layers(2)
            .with_batch_first(true),
        &mut rng,
    );
    let head = LinearConfig::new(256, v).init(&mut rng);
    let mut params = embed.parameters();
    params.extend(lstm.parameters());
    params.extend(head.parameters());
    let cfg = AdamConfig {
        lr: 2e-3,
        ..AdamConfig::default()
    };
    let mut opt = Adam::new(&params, cfg).expect("valid Adam settings");
    let idx: Vec<f32> = (0..b * t).map(|_| rng.random_range(0..v) as f32).collect();
    let idx = Tensor::from_vec(idx, &[b, t]);
    let tgt: Vec<usize> = (0..b * t).map(|_| rng.random_range(0..v)).collect();
    let mut group = c.benchmark_group("lstm");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(b as u64));
    group.bench_function("charlm_2x256_b32_t100", |bench| {
        bench.iter(|| {
            on_pool(|| {
                opt.zero_grad();
                let (y, _) = lstm.forward_with(&embed.forward(&idx), None);
                let logits = head.forward(&y).reshape(&[b * t, v]);
                let loss = logits.cross_entropy(&tgt, Reduction::Mean, 0.0);
                loss.backward();
                clip_grad_norm(&params, 1.0, 2.0);
                opt.step();
            })
        })
    });
    group.finish();
}

fn adding(c: &mut Criterion) {
    let (b, t, h) = (64, 200, 128);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let lstm = Lstm::new(&RecurrentConfig::new(2, h).with_batch_first(true), &mut rng);
    let head = LinearConfig::new(h, 1).init(&mut rng);
    let mut params = lstm.parameters();
    params.extend(head.parameters());
    let mut opt = Adam::new(&params, AdamConfig::default()).expect("valid Adam settings");
    // Values U[0, 1] and two markers per sequence; the target is the sum of the marked values.
    let mut x = vec![0.0f32; b * t * 2];
    let mut y = vec![0.0f32; b];
    for i in 0..b {
        let first = rng.random_range(0..t);
        let mut second = rng.random_range(0..t);
        while second == first {
            second = rng.random_range(0..t);
        }
        for s in 0..t {
            let val: f32 = rng.random();
            x[(i * t + s) * 2] = val;
            if s == first || s == second {
                x[(i * t + s) * 2 + 1] = 1.0;
                y[i] += val;
            }
        }
    }
    let x = Tensor::from_vec(x, &[b, t, 2]);
    let y = Tensor::from_vec(y, &[b, 1]);
    let mut group = c.benchmark_group("lstm");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(b as u64));
    group.bench_function("adding_1x128_b64_t200", |bench| {
        bench.iter(|| {
            on_pool(|| {
                opt.zero_grad();
                let (out, _) = lstm.forward_with(&x, None);
                let last = out.select(1, t - 1); // [B, H]
                let loss = head.forward(&last).mse_loss(&y, Reduction::Mean);
                loss.backward();
                opt.step();
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = {
        allocator::keep_freed_memory();
        Criterion::default()
    };
    targets = char_lm, adding
}
criterion_main!(benches);
