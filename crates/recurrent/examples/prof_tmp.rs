//! temp
use gradflow_tensor::Tensor;
use rand::SeedableRng;
use std::time::Instant;
fn main() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    for (b, h) in [(32usize, 256usize), (64, 128)] {
        let hh = Tensor::randn(&[b, h], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[4 * h, h], 0.0, 1.0, &mut rng);
        let bias = Tensor::randn(&[4 * h], 0.0, 1.0, &mut rng);
        let wt = Tensor::from_vec(w.t().to_vec(), &[h, 4 * h]);
        let n = 300;
        for round in 0..3 {
            let t0 = Instant::now();
            for _ in 0..n { let _ = hh.linear(&w, Some(&bias)); }
            let a = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
            let t0 = Instant::now();
            for _ in 0..n { let _ = hh.matmul(&wt); }
            let c = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
            let t0 = Instant::now();
            for _ in 0..n { let _ = hh.linear(&wt.t(), Some(&bias)); }
            let d = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
            println!("B={b} H={h} round {round}: linear(W) {a:.0} us, matmul(Wt contiguous) {c:.0} us, linear(view of Wt) {d:.0} us");
        }
    }
}
