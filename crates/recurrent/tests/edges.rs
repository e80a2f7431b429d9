//! Edge cases and the panic policy: empty sequences and batches, and shape errors that name
//! the layer and both shapes.

use gradflow_recurrent::{Gru, Lstm, LstmCell, LstmState, Nonlinearity, RecurrentConfig, Rnn};
use gradflow_tensor::{Module, Tensor};
use rand::SeedableRng;

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(11)
}

/// T = 0: no step runs, the output is empty and the final state is the initial one.
#[test]
fn empty_sequence_returns_the_initial_state() {
    let lstm = Lstm::new(&RecurrentConfig::new(3, 4).with_num_layers(2), &mut rng());
    let state = LstmState {
        h: Tensor::full(&[2, 5, 4], 0.25),
        c: Tensor::full(&[2, 5, 4], -0.5),
    };
    let (y, last) = lstm.forward_with(&Tensor::zeros(&[0, 5, 3]), Some(&state));
    assert_eq!(y.shape(), [0, 5, 4]);
    assert_eq!(last.h.to_vec(), state.h.to_vec());
    assert_eq!(last.c.to_vec(), state.c.to_vec());
}

/// B = 0 is a valid (empty) batch.
#[test]
fn empty_batch() {
    let gru = Gru::new(&RecurrentConfig::new(3, 4), &mut rng());
    let (y, h) = gru.forward_with(&Tensor::zeros(&[6, 0, 3]), None);
    assert_eq!((y.shape(), h.shape()), (&[6, 0, 4][..], &[1, 0, 4][..]));
}

/// A relu RNN whose pre-activations are all −1 outputs zeros and passes back exactly zero:
/// φ′ = [h > 0] = 0 everywhere (PyTorch's convention, relu′ = 0 at and below the kink).
#[test]
fn dead_relu_rnn_passes_zero_gradient() {
    let rnn = Rnn::new(&RecurrentConfig::new(2, 3), Nonlinearity::Relu, &mut rng());
    for (name, p) in rnn.named_parameters() {
        let v = if name.starts_with("bias") { -1.0 } else { 0.0 };
        p.assign(&Tensor::full(p.shape(), v));
    }
    let x = Tensor::ones(&[5, 2, 2]).requires_grad_();
    let y = rnn.forward(&x);
    assert!(y.to_vec().iter().all(|&v| v == 0.0));
    y.sum_all().backward();
    assert!(x.grad().expect("grad").to_vec().iter().all(|&g| g == 0.0));
}

#[test]
#[should_panic(expected = "LSTM: input has shape [4, 2, 5], expected [T, B, I] with I = 3")]
fn wrong_feature_count_names_the_shapes() {
    Lstm::new(&RecurrentConfig::new(3, 4), &mut rng()).forward(&Tensor::zeros(&[4, 2, 5]));
}

#[test]
#[should_panic(
    expected = "GRU: h0 has shape [1, 2, 4], expected [num_layers·directions, batch, hidden] = [2, 2, 4]"
)]
fn wrong_state_shape_names_the_shapes() {
    let gru = Gru::new(
        &RecurrentConfig::new(3, 4).with_bidirectional(true),
        &mut rng(),
    );
    gru.forward_with(&Tensor::zeros(&[4, 2, 3]), Some(&Tensor::zeros(&[1, 2, 4])));
}

#[test]
#[should_panic(expected = "LSTM recurrence: h0 has shape [3, 4], expected [2, 4]")]
fn cell_state_batch_mismatch() {
    let cell = LstmCell::new(3, 4, &mut rng());
    let s = LstmState {
        h: Tensor::zeros(&[3, 4]),
        c: Tensor::zeros(&[3, 4]),
    };
    cell.step(&Tensor::zeros(&[2, 3]), Some(&s));
}

#[test]
#[should_panic(expected = "dropout 1.5 must lie in [0, 1]")]
fn invalid_dropout_is_rejected() {
    Lstm::new(&RecurrentConfig::new(3, 4).with_dropout(1.5), &mut rng());
}

/// A gradient that vanishes over 60 steps (W_hh = 0.05·I, so each step scales it by
/// ≤ 0.05) is flushed to exact zeros before it reaches the slow subnormal range: no gradient
/// component is subnormal, and the early steps receive exactly 0.
#[test]
fn vanishing_gradients_are_flushed_not_subnormal() {
    let rnn = Rnn::new(&RecurrentConfig::new(1, 2), Nonlinearity::Tanh, &mut rng());
    for (name, p) in rnn.named_parameters() {
        let v = match name.as_str() {
            "weight_hh_l0" => vec![0.05, 0.0, 0.0, 0.05],
            "weight_ih_l0" => vec![1.0, 1.0],
            _ => vec![0.0, 0.0],
        };
        p.assign(&Tensor::from_vec(v, p.shape()));
    }
    let x = Tensor::full(&[60, 1, 1], 0.1).requires_grad_();
    let (y, _) = rnn.forward_with(&x, None);
    y.select(0, 59).sum_all().backward();
    let dx = x.grad().expect("grad").to_vec();
    assert!(
        dx.iter().all(|g| !g.is_subnormal()),
        "subnormal gradient in {dx:?}"
    );
    assert!(dx[59] > 0.5 && dx[0] == 0.0);
}

/// A bidirectional layer records nothing under `no_grad`, and records both directions
/// otherwise.
#[test]
fn bidirectional_layer_respects_no_grad() {
    let gru = Gru::new(
        &RecurrentConfig::new(3, 4).with_bidirectional(true),
        &mut rng(),
    );
    let x = Tensor::ones(&[5, 2, 3]).requires_grad_();
    let (y, h) = gradflow_tensor::no_grad(|| gru.forward_with(&x, None));
    assert!(!y.requires_grad() && !h.requires_grad());
    let (y, _) = gru.forward_with(&x, None);
    assert!(y.requires_grad());
}
