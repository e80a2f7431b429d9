//! The character language model: Embedding → L recurrent layers (LSTM or GRU) with dropout →
//! Linear, PyTorch's `word_language_model` `RNNModel` with its parameter names.
//!
//! ```text
//! e_t = drop(E[x_t])                         E: [V, D]             (encoder.weight)
//! h_t^(k) = cell_k(drop(h_t^(k−1)), h_{t−1}^(k)),  h^(0) = e        (rnn.weight_ih_l{k}, …)
//! z_t = W · drop(h_t^(L)) + b                W: [V, H]             (decoder.weight, .bias)
//! p(x_{t+1} = c | x_≤t) = softmax(z_t)_c
//! ```
//!
//! Dropout (inverted, rate p) sits on the embeddings, between the layers and before the
//! decoder, as in PyTorch's example (`drop(emb)`, `nn.LSTM(dropout=p)`, `drop(output)`), and
//! only in training mode. Its masks come from a generator the caller passes per window (the
//! trainer derives it from the seed and the step), so that a resumed run draws the same masks.
//! Each layer is its own one-layer [`Lstm`] / [`Gru`] (fused: one graph node per layer); the
//! names are renumbered so that a checkpoint reads as `nn.LSTM(num_layers = L)`'s.

use gradflow_layers::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use gradflow_recurrent::{Detach, Gru, Lstm, LstmState, RecurrentConfig};
use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CellChoice {
    /// Long short-term memory.
    Lstm,
    /// Gated recurrent unit.
    Gru,
}

impl CellChoice {
    /// `lstm` or `gru`.
    pub fn name(self) -> &'static str {
        match self {
            CellChoice::Lstm => "lstm",
            CellChoice::Gru => "gru",
        }
    }

    /// The cell called `name`.
    pub fn parse(name: &str) -> Option<CellChoice> {
        match name {
            "lstm" => Some(CellChoice::Lstm),
            "gru" => Some(CellChoice::Gru),
            _ => None,
        }
    }
}

/// The shape of a [`CharLm`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharLmConfig {
    /// Vocabulary size V.
    pub vocab: usize,
    /// Embedding size D.
    pub embed: usize,
    /// Hidden units H per layer.
    pub hidden: usize,
    /// Recurrent layers L.
    pub layers: usize,
    /// Dropout rate p (training only).
    pub dropout: f64,
    /// The cell.
    pub cell: CellChoice,
}

impl CharLmConfig {
    /// Trainable values: V·D + Σ_k G·H·(in_k + H + 2) + V·(H + 1), with G = 4 gates for the
    /// LSTM and 3 for the GRU.
    pub fn num_parameters(&self) -> usize {
        let g = match self.cell {
            CellChoice::Lstm => 4,
            CellChoice::Gru => 3,
        };
        let (v, d, h) = (self.vocab, self.embed, self.hidden);
        let rnn: usize = (0..self.layers)
            .map(|k| g * h * (if k == 0 { d } else { h } + h + 2))
            .sum();
        v * d + rnn + v * (h + 1)
    }
}

#[derive(Debug)]
enum Layer {
    Lstm(Lstm),
    Gru(Gru),
}

/// The recurrent state of every layer, carried between windows.
#[derive(Clone, Debug)]
pub enum LmState {
    /// (h, c) per layer, each `[1, B, H]`.
    Lstm(Vec<LstmState>),
    /// h per layer, each `[1, B, H]`.
    Gru(Vec<Tensor>),
}

impl Detach for LmState {
    fn detach(&self) -> Self {
        match self {
            LmState::Lstm(v) => LmState::Lstm(v.iter().map(Detach::detach).collect()),
            LmState::Gru(v) => LmState::Gru(v.iter().map(Tensor::detach).collect()),
        }
    }
}

impl LmState {
    /// Every state tensor in a fixed order (layer by layer; h then c for the LSTM).
    pub fn tensors(&self) -> Vec<Tensor> {
        match self {
            LmState::Lstm(v) => v.iter().flat_map(|s| [s.h.clone(), s.c.clone()]).collect(),
            LmState::Gru(v) => v.clone(),
        }
    }

    /// Rebuild from [`LmState::tensors`]' values, each `[1, B, H]`; `None` if the count or a
    /// length does not fit.
    pub fn from_values(
        cell: CellChoice,
        layers: usize,
        batch: usize,
        hidden: usize,
        values: &[Vec<f32>],
    ) -> Option<LmState> {
        let per = if cell == CellChoice::Lstm { 2 } else { 1 };
        if values.len() != per * layers || values.iter().any(|v| v.len() != batch * hidden) {
            return None;
        }
        let t = |v: &Vec<f32>| Tensor::from_vec(v.clone(), &[1, batch, hidden]);
        Some(match cell {
            CellChoice::Lstm => LmState::Lstm(
                values
                    .chunks(2)
                    .map(|p| LstmState {
                        h: t(&p[0]),
                        c: t(&p[1]),
                    })
                    .collect(),
            ),
            CellChoice::Gru => LmState::Gru(values.iter().map(t).collect()),
        })
    }
}

/// Embedding → L recurrent layers → Linear (see the module docs).
#[derive(Debug)]
pub struct CharLm {
    cfg: CharLmConfig,
    encoder: Embedding,
    layers: Vec<Layer>,
    decoder: Linear,
    training: bool,
}

impl CharLm {
    /// Build with PyTorch's default initializations (Embedding N(0, 1); recurrent weights and
    /// biases U(±1/√H); Linear U(±1/√H)), drawn from `rng` in the order encoder, layers,
    /// decoder. Starts in training mode.
    ///
    /// # Panics
    /// If a size is 0 or the dropout rate is outside [0, 1).
    pub fn new<R: Rng + ?Sized>(cfg: CharLmConfig, rng: &mut R) -> Self {
        assert!(
            cfg.vocab > 0 && cfg.embed > 0 && cfg.hidden > 0 && cfg.layers > 0,
            "CharLm: every size must be at least 1, got {cfg:?}"
        );
        assert!(
            (0.0..1.0).contains(&cfg.dropout),
            "CharLm: dropout {} must lie in [0, 1)",
            cfg.dropout
        );
        let encoder = EmbeddingConfig::new(cfg.vocab, cfg.embed).init(rng);
        let layers = (0..cfg.layers)
            .map(|k| {
                let input = if k == 0 { cfg.embed } else { cfg.hidden };
                let rc = RecurrentConfig::new(input, cfg.hidden);
                match cfg.cell {
                    CellChoice::Lstm => Layer::Lstm(Lstm::new(&rc, rng)),
                    CellChoice::Gru => Layer::Gru(Gru::new(&rc, rng)),
                }
            })
            .collect();
        let decoder = LinearConfig::new(cfg.hidden, cfg.vocab).init(rng);
        CharLm {
            cfg,
            encoder,
            layers,
            decoder,
            training: true,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CharLmConfig {
        &self.cfg
    }

    fn drop<R: Rng + ?Sized>(&self, x: Tensor, rng: &mut R) -> Tensor {
        if self.training && self.cfg.dropout > 0.0 {
            x.dropout(self.cfg.dropout, rng)
        } else {
            x
        }
    }

    /// Run one window: `ids` time-major `[T, B]` (id of step t, stream b at `t·B + b`) from
    /// `state` (zeros when `None`). Returns the logits `[T·B, V]` in the same order and the
    /// final state. Dropout masks (training mode only) come from `rng`.
    ///
    /// # Panics
    /// If `ids.len() != steps·batch` or an id is ≥ V.
    pub fn forward_window<R: Rng + ?Sized>(
        &self,
        ids: &[u32],
        steps: usize,
        batch: usize,
        state: Option<&LmState>,
        rng: &mut R,
    ) -> (Tensor, LmState) {
        assert_eq!(
            ids.len(),
            steps * batch,
            "CharLm: {} ids for a window of {steps} steps × {batch} streams",
            ids.len()
        );
        let idx: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
        let emb = self
            .encoder
            .lookup(&idx)
            .reshape(&[steps, batch, self.cfg.embed]);
        let mut x = self.drop(emb, rng);
        let mut lstm_states = Vec::new();
        let mut gru_states = Vec::new();
        for (k, layer) in self.layers.iter().enumerate() {
            let y = match layer {
                Layer::Lstm(l) => {
                    let s0 = match state {
                        Some(LmState::Lstm(v)) => v.get(k),
                        _ => None,
                    };
                    let (y, s) = l.forward_with(&x, s0);
                    lstm_states.push(s);
                    y
                }
                Layer::Gru(l) => {
                    let h0 = match state {
                        Some(LmState::Gru(v)) => v.get(k),
                        _ => None,
                    };
                    let (y, h) = l.forward_with(&x, h0);
                    gru_states.push(h);
                    y
                }
            };
            x = self.drop(y, rng);
        }
        let logits = self
            .decoder
            .forward(&x.reshape(&[steps * batch, self.cfg.hidden]));
        let last = match self.cfg.cell {
            CellChoice::Lstm => LmState::Lstm(lstm_states),
            CellChoice::Gru => LmState::Gru(gru_states),
        };
        (logits, last)
    }
}

impl Module for CharLm {
    /// `x`: integer-valued f32 ids `[T, B]`; the logits `[T·B, V]` from the zero state (no
    /// dropout mask is drawn in evaluation mode; in training mode a fixed-seed one is).
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(
            x.rank() == 2,
            "CharLm: input must be [T, B], got {:?}",
            x.shape()
        );
        let ids: Vec<u32> = x.to_vec().iter().map(|&v| v as u32).collect();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        self.forward_window(&ids, x.shape()[0], x.shape()[1], None, &mut rng)
            .0
    }

    fn visit(&self, s: &mut Scope<'_>) {
        s.module("encoder", &self.encoder);
        for (k, layer) in self.layers.iter().enumerate() {
            let named = match layer {
                Layer::Lstm(l) => l.named_parameters(),
                Layer::Gru(l) => l.named_parameters(),
            };
            for (name, t) in named {
                let renamed = name.replace("_l0", &format!("_l{k}"));
                s.param(&format!("rnn.{renamed}"), &t);
            }
        }
        s.module("decoder", &self.decoder);
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
        for layer in &mut self.layers {
            match layer {
                Layer::Lstm(l) => l.set_training(training),
                Layer::Gru(l) => l.set_training(training),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn names_and_sizes_are_pytorchs() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let cfg = CharLmConfig {
            vocab: 7,
            embed: 5,
            hidden: 6,
            layers: 2,
            dropout: 0.0,
            cell: CellChoice::Lstm,
        };
        let m = CharLm::new(cfg, &mut rng);
        let names: Vec<(String, Vec<usize>)> = m
            .named_parameters()
            .into_iter()
            .map(|(n, t)| (n, t.shape().to_vec()))
            .collect();
        assert_eq!(names[0], ("encoder.weight".into(), vec![7, 5]));
        assert!(names.contains(&("rnn.weight_ih_l1".into(), vec![24, 6])));
        assert!(names.contains(&("rnn.bias_hh_l0".into(), vec![24])));
        assert_eq!(names.last().unwrap().0, "decoder.bias");
        assert_eq!(m.num_parameters(), cfg.num_parameters());
        let (z, s) = m.forward_window(&[0, 1, 2, 3, 4, 5], 3, 2, None, &mut rng);
        assert_eq!(z.shape(), &[6, 7]);
        assert_eq!(s.tensors().len(), 4);
    }
}
