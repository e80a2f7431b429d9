//! Finite-difference checks of every cell and of multi-step recurrences in both directions,
//! with respect to every input: x, the initial state and all four weight tensors.
//!
//! `gradflow_tensor::gradcheck` uses central differences accumulated in f64 with its
//! f32-derived default step and tolerance (see its module docs). Weights are drawn at the
//! scale of PyTorch's init, U(−1/√H, 1/√H) with H = 3 → about ±0.58, so pre-activations
//! stay where σ and tanh are smooth on the scale of the step.

use gradflow_recurrent::functional::{CellWeights, gru_cell, lstm_cell, recurrence, rnn_cell};
use gradflow_recurrent::{CellKind, LstmState};
use gradflow_tensor::{GradCheck, Tensor, gradcheck};
use rand::SeedableRng;

const B: usize = 2;
const I: usize = 3;
const H: usize = 3;

/// x `[B, I]` (or `[T, B, I]`), h0, c0, w_ih, w_hh, b_ih, b_hh.
fn inputs(kind: CellKind, t: Option<usize>, seed: u64) -> Vec<Tensor> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let g = kind.gates() * H;
    let k = 1.0 / (H as f32).sqrt();
    let x_shape: Vec<usize> = match t {
        Some(t) => vec![t, B, I],
        None => vec![B, I],
    };
    vec![
        Tensor::randn(&x_shape, 0.0, 1.0, &mut rng),
        Tensor::rand(&[B, H], -0.8, 0.8, &mut rng),
        Tensor::randn(&[B, H], 0.0, 1.0, &mut rng),
        Tensor::rand(&[g, I], -k, k, &mut rng),
        Tensor::rand(&[g, H], -k, k, &mut rng),
        Tensor::rand(&[g], -k, k, &mut rng),
        Tensor::rand(&[g], -k, k, &mut rng),
    ]
}

fn weights(t: &[Tensor]) -> CellWeights<'_> {
    CellWeights {
        w_ih: &t[3],
        w_hh: &t[4],
        b_ih: Some(&t[5]),
        b_hh: Some(&t[6]),
    }
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let report = gradcheck(f, inputs, GradCheck::default());
    assert!(report.passed, "{name}: {report}");
}

#[test]
fn rnn_cells_tanh_and_relu() {
    for (relu, kind) in [(false, CellKind::RnnTanh), (true, CellKind::RnnRelu)] {
        // c0 (index 2) is unused by an Elman cell: its gradient must come out as 0.
        check(
            &format!("rnn_cell relu={relu}"),
            |t| rnn_cell(&t[0], &t[1], weights(t), relu),
            &inputs(kind, None, 1),
        );
    }
}

#[test]
fn lstm_cell_h_and_c() {
    check(
        "lstm_cell",
        |t| {
            let s = lstm_cell(
                &t[0],
                &LstmState {
                    h: t[1].clone(),
                    c: t[2].clone(),
                },
                weights(t),
            );
            Tensor::concat(&[&s.h, &s.c], 1)
        },
        &inputs(CellKind::Lstm, None, 2),
    );
}

#[test]
fn gru_cell_h() {
    check(
        "gru_cell",
        |t| gru_cell(&t[0], &t[1], weights(t)),
        &inputs(CellKind::Gru, None, 3),
    );
}

/// Five steps, forward and reverse: the hand-written BPTT (the dh_{t−1} GEMM, the LSTM's
/// dc path, the single ∂L/∂W_hh GEMM over all steps) against finite differences. The
/// checked output is the whole sequence plus the final state(s).
#[test]
fn recurrences_over_five_steps_both_directions() {
    for kind in [
        CellKind::RnnTanh,
        CellKind::RnnRelu,
        CellKind::Lstm,
        CellKind::Gru,
    ] {
        for reverse in [false, true] {
            check(
                &format!("{kind:?} reverse={reverse}"),
                |t| {
                    let c0 = kind.has_cell().then(|| &t[2]);
                    let r = recurrence(kind, &t[0], &t[1], c0, weights(t), reverse);
                    let mut parts = vec![r.output.reshape(&[5 * B, H]), r.h_n.clone()];
                    parts.extend(r.c_n);
                    let refs: Vec<&Tensor> = parts.iter().collect();
                    Tensor::concat(&refs, 0)
                },
                &inputs(kind, Some(5), 10 + reverse as u64),
            );
        }
    }
}

/// Inputs wider than 16 features take the GEMM projection path instead of the direct one:
/// check an LSTM recurrence through it too.
#[test]
fn recurrence_with_a_wide_input() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let (i, g) = (20, 4 * H);
    let k = 1.0 / (H as f32).sqrt();
    let inputs = vec![
        Tensor::randn(&[3, B, i], 0.0, 0.5, &mut rng),
        Tensor::rand(&[B, H], -0.8, 0.8, &mut rng),
        Tensor::randn(&[B, H], 0.0, 1.0, &mut rng),
        Tensor::rand(&[g, i], -k / 2.0, k / 2.0, &mut rng),
        Tensor::rand(&[g, H], -k, k, &mut rng),
        Tensor::rand(&[g], -k, k, &mut rng),
        Tensor::rand(&[g], -k, k, &mut rng),
    ];
    check(
        "LSTM, I = 20",
        |t| {
            let r = recurrence(CellKind::Lstm, &t[0], &t[1], Some(&t[2]), weights(t), false);
            let c = r.c_n.expect("LSTM has a cell");
            Tensor::concat(&[&r.output.reshape(&[3 * B, H]), &c], 0)
        },
        &inputs,
    );
}
