//! Invariants the equations promise, checked on random cases (proptest), and the behaviour of
//! the layer options: state carrying and detaching, bidirectional output order, inter-layer
//! dropout only in training, PyTorch's names and the initialization options.

use gradflow_recurrent::functional::{CellWeights, gru_cell, lstm_cell};
use gradflow_recurrent::{
    Gru, Lstm, LstmState, Nonlinearity, RecurrentConfig, RecurrentInit, Rnn, StateCarry,
};
use gradflow_tensor::{Module, Tensor};
use proptest::prelude::*;
use rand::SeedableRng;

const B: usize = 3;
const I: usize = 3;
const H: usize = 4;

fn tensor(v: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape)
}

fn vals(n: usize, lim: f32) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-lim..lim, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// c_t = f ⊙ c_{t−1} + i ⊙ g with f, i ∈ (0, 1) and |g| ≤ 1 gives |c_t| ≤ |c_{t−1}| + 1
    /// (rounding is monotone, so the f32 comparison holds exactly), and h = o ⊙ tanh(c) lies in
    /// (−1, 1). Strictness needs unsaturated gates: with |x| ≤ 2, |h| < 1, |c| ≤ 3 and weights
    /// in [−1, 1], every pre-activation is at most 2·3 + 4 + 2 = 12 in size, where σ < 1 − 6e-6
    /// and tanh(|c| ≤ 4) < 0.9994 are representable below 1 in f32.
    #[test]
    fn lstm_cell_bounds(
        x in vals(B * I, 2.0), h in vals(B * H, 1.0), c in vals(B * H, 3.0),
        w_ih in vals(4 * H * I, 1.0), w_hh in vals(4 * H * H, 1.0),
        b_ih in vals(4 * H, 1.0), b_hh in vals(4 * H, 1.0),
    ) {
        let (w_ih, w_hh) = (tensor(w_ih, &[4 * H, I]), tensor(w_hh, &[4 * H, H]));
        let (b_ih, b_hh) = (tensor(b_ih, &[4 * H]), tensor(b_hh, &[4 * H]));
        let w = CellWeights { w_ih: &w_ih, w_hh: &w_hh, b_ih: Some(&b_ih), b_hh: Some(&b_hh) };
        let prev = LstmState { h: tensor(h, &[B, H]), c: tensor(c.clone(), &[B, H]) };
        let next = lstm_cell(&tensor(x, &[B, I]), &prev, w);
        for (k, (cn, cp)) in next.c.to_vec().iter().zip(&c).enumerate() {
            prop_assert!(cn.abs() <= cp.abs() + 1.0, "c[{k}] = {cn} from {cp}");
        }
        for hn in next.h.to_vec() {
            prop_assert!(hn.abs() < 1.0, "h = {hn}");
        }
    }

    /// h_t = (1 − z) ⊙ n + z ⊙ h_{t−1} with z ∈ (0, 1): each unit of h_t lies between h_{t−1}
    /// and n_t. z and n are recomputed here in f64 from the equations (PyTorch's form, reset
    /// gate after the hidden matmul); the kernel agrees with that reference to 1e-5 (f32
    /// rounding of sums of ≤ 8 terms of size ≤ 2 plus the tanh/σ approximations, ≪ 1e-5).
    #[test]
    fn gru_state_is_a_convex_combination(
        x in vals(B * I, 2.0), h in vals(B * H, 1.0),
        w_ih in vals(3 * H * I, 1.0), w_hh in vals(3 * H * H, 1.0),
        b_ih in vals(3 * H, 1.0), b_hh in vals(3 * H, 1.0),
    ) {
        let ti = |v: &Vec<f32>, s: &[usize]| tensor(v.clone(), s);
        let (wi, wh) = (ti(&w_ih, &[3 * H, I]), ti(&w_hh, &[3 * H, H]));
        let (bi, bh) = (ti(&b_ih, &[3 * H]), ti(&b_hh, &[3 * H]));
        let w = CellWeights { w_ih: &wi, w_hh: &wh, b_ih: Some(&bi), b_hh: Some(&bh) };
        let out = gru_cell(&ti(&x, &[B, I]), &ti(&h, &[B, H]), w).to_vec();
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        for j in 0..B {
            for k in 0..H {
                let gate = |gi: usize| {
                    let row = gi * H + k;
                    let gx: f64 = (0..I).map(|m| w_ih[row * I + m] as f64 * x[j * I + m] as f64).sum::<f64>() + b_ih[row] as f64;
                    let gh: f64 = (0..H).map(|m| w_hh[row * H + m] as f64 * h[j * H + m] as f64).sum::<f64>() + b_hh[row] as f64;
                    (gx, gh)
                };
                let (rx, rh) = gate(0);
                let (zx, zh) = gate(1);
                let (nx, nh) = gate(2);
                let r = sig(rx + rh);
                let z = sig(zx + zh);
                let n = (nx + r * nh).tanh();
                let hp = h[j * H + k] as f64;
                let got = out[j * H + k] as f64;
                let want = (1.0 - z) * n + z * hp;
                prop_assert!((got - want).abs() < 1e-5, "h[{j},{k}] = {got}, reference {want}");
                let (lo, hi) = (hp.min(n), hp.max(n));
                prop_assert!(got >= lo - 1e-6 && got <= hi + 1e-6, "h = {got} outside [{lo}, {hi}]");
            }
        }
    }
}

fn seeded(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Elementwise |a − b| ≤ tol, for results of the same ops on the same numbers (equal up to a
/// possibly different GEMM blocking).
#[track_caller]
fn assert_all_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (u, v)) in a.iter().zip(b).enumerate() {
        assert!((u - v).abs() <= tol, "element {i}: {u} vs {v}");
    }
}

/// Running T = 10 steps at once equals two windows of 5 with the state carried: carrying
/// changes nothing in the forward pass. Same ops on the same numbers → equal to rounding
/// (identical kernels, so in practice bit-equal; 1e-6 allows a different GEMM blocking).
#[test]
fn carried_state_reproduces_the_full_sequence() {
    let mut rng = seeded(1);
    let lstm = Lstm::new(&RecurrentConfig::new(I, H).with_num_layers(2), &mut rng);
    let x = Tensor::randn(&[10, B, I], 0.0, 1.0, &mut rng);
    let (full, full_state) = lstm.forward_with(&x, None);
    let mut carry = StateCarry::new();
    let mut pieces = Vec::new();
    for w in 0..2 {
        let (y, last) = lstm.forward_with(&x.narrow(0, 5 * w, 5), carry.take().as_ref());
        pieces.push(y);
        carry.store(last);
    }
    let joined = Tensor::concat(&[&pieces[0], &pieces[1]], 0);
    for (a, b) in joined.to_vec().iter().zip(full.to_vec()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    let carried = carry.take().expect("a state is carried");
    for (a, b) in carried.c.to_vec().iter().zip(full_state.c.to_vec()) {
        assert!((a - b).abs() < 1e-6);
    }
}

/// A detached carry stops gradients at the window boundary: the second window's loss gives
/// the first window's inputs no gradient, and the weights get exactly the gradient of a run
/// that starts from a constant state with the same values.
#[test]
fn detached_state_cuts_the_graph_at_the_boundary() {
    let mut rng = seeded(2);
    let gru = Gru::new(&RecurrentConfig::new(I, H), &mut rng);
    let x1 = Tensor::randn(&[4, B, I], 0.0, 1.0, &mut rng).requires_grad_();
    let x2 = Tensor::randn(&[4, B, I], 0.0, 1.0, &mut rng);
    let mut carry = StateCarry::new();
    let (_, h1) = gru.forward_with(&x1, None);
    assert!(h1.requires_grad());
    carry.store(h1.clone());
    let h_in = carry.take().expect("carried");
    assert!(!h_in.requires_grad() && h_in.is_leaf());
    let (y2, _) = gru.forward_with(&x2, Some(&h_in));
    y2.sum_all().backward();
    assert!(
        x1.grad().is_none(),
        "gradient leaked through a detached state"
    );
    let grads: Vec<Vec<f32>> = gru
        .parameters()
        .iter()
        .map(|p| p.grad().expect("grad").to_vec())
        .collect();
    gru.zero_grad();
    let constant = Tensor::from_vec(h1.to_vec(), &[1, B, H]);
    gru.forward_with(&x2, Some(&constant))
        .0
        .sum_all()
        .backward();
    for (g, p) in grads.iter().zip(gru.parameters()) {
        assert_all_close(g, &p.grad().expect("grad").to_vec(), 1e-6);
    }
    // Without detaching, the same loss does reach x1.
    let (y2, _) = gru.forward_with(&x2, Some(&h1));
    y2.sum_all().backward();
    assert!(x1.grad().is_some());
}

/// y[t] = [h→_t, h←_t]: the first H features are a forward GRU with the forward weights, the
/// last H the forward GRU run over the reversed sequence with the `_reverse` weights, read
/// back in reverse; h_n holds (forward at t = T−1, reverse at t = 0).
#[test]
fn bidirectional_output_ordering() {
    let mut rng = seeded(3);
    let t = 6;
    let bi = Gru::new(
        &RecurrentConfig::new(I, H).with_bidirectional(true),
        &mut rng,
    );
    let fwd = Gru::new(&RecurrentConfig::new(I, H), &mut rng);
    let rev = Gru::new(&RecurrentConfig::new(I, H), &mut rng);
    let params = bi.named_parameters();
    for (name, p) in fwd.named_parameters() {
        let src = params
            .iter()
            .find(|(n, _)| *n == name)
            .expect("forward name");
        p.assign(&src.1);
    }
    for (name, p) in rev.named_parameters() {
        let src = params
            .iter()
            .find(|(n, _)| *n == format!("{name}_reverse"))
            .expect("reverse name");
        p.assign(&src.1);
    }
    let x = Tensor::randn(&[t, B, I], 0.0, 1.0, &mut rng);
    let (y, hn) = bi.forward_with(&x, None);
    let (yf, _) = fwd.forward_with(&x, None);
    let rev_idx: Vec<usize> = (0..t).rev().collect();
    let (yr, _) = rev.forward_with(&x.index_select(0, &rev_idx), None);
    let close = |a: &Tensor, b: &Tensor| {
        for (u, v) in a.to_vec().iter().zip(b.to_vec()) {
            assert!((u - v).abs() < 1e-6, "{u} vs {v}");
        }
    };
    close(&y.narrow(2, 0, H), &yf);
    close(&y.narrow(2, H, H), &yr.index_select(0, &rev_idx));
    close(&hn.select(0, 0), &y.select(0, t - 1).narrow(1, 0, H));
    close(&hn.select(0, 1), &y.select(0, 0).narrow(1, H, H));
}

/// Dropout between layers acts in training only: in eval mode the output is deterministic and
/// equals the same weights with dropout 0; in training two passes draw different masks.
#[test]
fn inter_layer_dropout_only_in_training() {
    let cfg = RecurrentConfig::new(I, H)
        .with_num_layers(3)
        .with_dropout(0.5);
    let mut lstm = Lstm::new(&cfg, &mut seeded(4));
    let plain = Lstm::new(&cfg.with_dropout(0.0), &mut seeded(4));
    let x = Tensor::randn(&[5, B, I], 0.0, 1.0, &mut seeded(5));
    let train_a = lstm.forward(&x).to_vec();
    let train_b = lstm.forward(&x).to_vec();
    assert_ne!(
        train_a, train_b,
        "training passes should draw different masks"
    );
    lstm.eval();
    let eval_a = lstm.forward(&x).to_vec();
    assert_all_close(&eval_a, &lstm.forward(&x).to_vec(), 1e-6);
    assert_all_close(&eval_a, &plain.forward(&x).to_vec(), 1e-6);
    lstm.train();
    assert_ne!(lstm.forward(&x).to_vec(), eval_a);
}

#[test]
fn pytorch_names_shapes_and_batch_first() {
    let mut rng = seeded(6);
    let cfg = RecurrentConfig::new(5, 7)
        .with_num_layers(2)
        .with_bidirectional(true);
    let rnn = Rnn::new(&cfg, Nonlinearity::Tanh, &mut rng);
    let named: Vec<(String, Vec<usize>)> = rnn
        .named_parameters()
        .into_iter()
        .map(|(n, p)| (n, p.shape().to_vec()))
        .collect();
    let expect = [
        ("weight_ih_l0", vec![7, 5]),
        ("weight_hh_l0", vec![7, 7]),
        ("bias_ih_l0", vec![7]),
        ("bias_hh_l0", vec![7]),
        ("weight_ih_l0_reverse", vec![7, 5]),
        ("weight_hh_l0_reverse", vec![7, 7]),
        ("bias_ih_l0_reverse", vec![7]),
        ("bias_hh_l0_reverse", vec![7]),
        ("weight_ih_l1", vec![7, 14]),
    ];
    for ((n, s), (en, es)) in named.iter().zip(expect.iter()) {
        assert_eq!((n.as_str(), s), (*en, es));
    }
    assert_eq!(named.len(), 16);
    // batch_first only transposes input and output.
    let x = Tensor::randn(&[4, 3, 5], 0.0, 1.0, &mut rng); // [T, B, I]
    let (y, hn) = rnn.forward_with(&x, None);
    let bf = Rnn::new(&cfg.with_batch_first(true), Nonlinearity::Tanh, &mut rng);
    for ((_, p), (_, q)) in bf.named_parameters().iter().zip(rnn.named_parameters()) {
        p.assign(&q);
    }
    let (yb, hnb) = bf.forward_with(&x.transpose(0, 1), None);
    assert_eq!(yb.shape(), [3, 4, 14]);
    assert_all_close(&yb.transpose(0, 1).to_vec(), &y.to_vec(), 1e-6);
    assert_all_close(&hnb.to_vec(), &hn.to_vec(), 1e-6);
}

/// PyTorch's default U(−1/√H, 1/√H) bound everywhere; orthogonal W_hh blocks satisfy
/// WᵀW = I (to f32 rounding of sums of H products, < 1e-5); unit forget bias makes the
/// effective forget bias b_ih + b_hh exactly 1.
#[test]
fn initialization_options() {
    let h = 16;
    let k = 1.0 / (h as f32).sqrt();
    let default = Lstm::new(&RecurrentConfig::new(3, h), &mut seeded(7));
    for (n, p) in default.named_parameters() {
        assert!(p.to_vec().iter().all(|v| v.abs() <= k), "{n} outside ±1/√H");
    }
    let lstm = Lstm::new(
        &RecurrentConfig::new(3, h).with_init(RecurrentInit::recommended()),
        &mut seeded(7),
    );
    let p = lstm.named_parameters();
    let get = |name: &str| p.iter().find(|(n, _)| n == name).expect("param").1.clone();
    let w_hh = get("weight_hh_l0");
    for g in 0..4 {
        let block = w_hh.narrow(0, g * h, h);
        let gram = block.t().matmul(&block).to_vec();
        for i in 0..h {
            for j in 0..h {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (gram[i * h + j] - want).abs() < 1e-5,
                    "gate {g}: WᵀW[{i},{j}] = {}",
                    gram[i * h + j]
                );
            }
        }
    }
    let bias = get("bias_ih_l0").add(&get("bias_hh_l0")).to_vec();
    assert!(bias[h..2 * h].iter().all(|&b| b == 1.0));
}
