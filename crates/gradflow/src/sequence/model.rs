//! The recurrent networks the sequence experiments compare, built from `gradflow-recurrent`:
//! a sequence layer (one fused graph node per layer, for training) or a single-step cell (one
//! node per step, so that every h_t can keep its gradient), each followed by a Linear readout
//! of the last hidden state.

use gradflow_layers::{Linear, LinearConfig};
use gradflow_recurrent::{
    Gru, GruCell, Lstm, LstmCell, LstmState, Nonlinearity, RecurrentConfig, RecurrentInit, Rnn,
    RnnCell,
};
use gradflow_tensor::{Module, Tensor};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Which recurrence, with which initialization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    /// Elman RNN, h′ = tanh(W_ih x + W_hh h + b), PyTorch's default init U(±1/√H): the
    /// spectral radius of W_hh is about √(H·(1/3H)) = 1/√3 ≈ 0.58, so BPTT shrinks a gradient
    /// by about that factor (times tanh′ ≤ 1) per step.
    RnnTanh,
    /// The same RNN with an orthogonal W_hh: every singular value 1, so only tanh′ shrinks
    /// the backward signal.
    RnnTanhOrthogonal,
    /// LSTM with PyTorch's default init (forget gate f ≈ σ(0) = 1/2 at the start).
    Lstm,
    /// LSTM with orthogonal recurrent blocks and forget-gate bias 1 (f ≈ 0.73 at the start).
    LstmForgetBias,
    /// GRU with PyTorch's default init.
    Gru,
}

impl Arch {
    /// Every architecture, in table order.
    pub const ALL: [Arch; 5] = [
        Arch::RnnTanh,
        Arch::RnnTanhOrthogonal,
        Arch::Lstm,
        Arch::LstmForgetBias,
        Arch::Gru,
    ];

    /// Its name in tables, files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Arch::RnnTanh => "rnn-tanh",
            Arch::RnnTanhOrthogonal => "rnn-tanh-orth",
            Arch::Lstm => "lstm",
            Arch::LstmForgetBias => "lstm-fb1",
            Arch::Gru => "gru",
        }
    }

    /// The architecture called `name` (see [`Arch::name`]).
    pub fn parse(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    pub(crate) fn init(self) -> RecurrentInit {
        match self {
            Arch::RnnTanhOrthogonal => RecurrentInit {
                orthogonal_recurrent: true,
                unit_forget_bias: false,
            },
            Arch::LstmForgetBias => RecurrentInit::recommended(),
            _ => RecurrentInit::pytorch(),
        }
    }

    /// The index of its colour in the figures (fixed, so that a subset keeps its colours).
    pub fn color_index(self) -> usize {
        Arch::ALL.iter().position(|&a| a == self).unwrap_or(0)
    }
}

/// A one-layer recurrent layer over a whole sequence, then Linear(H → 1) on h_T.
#[derive(Debug)]
pub struct SequenceModel {
    arch: Arch,
    input: usize,
    hidden: usize,
    layer: Layer,
    readout: Linear,
}

#[derive(Debug)]
enum Layer {
    Rnn(Rnn),
    Lstm(Lstm),
    Gru(Gru),
}

impl SequenceModel {
    /// Build `arch` with `input` features and `hidden` units.
    pub fn new<R: Rng + ?Sized>(arch: Arch, input: usize, hidden: usize, rng: &mut R) -> Self {
        let cfg = RecurrentConfig::new(input, hidden).with_init(arch.init());
        let layer = match arch {
            Arch::RnnTanh | Arch::RnnTanhOrthogonal => {
                Layer::Rnn(Rnn::new(&cfg, Nonlinearity::Tanh, rng))
            }
            Arch::Lstm | Arch::LstmForgetBias => Layer::Lstm(Lstm::new(&cfg, rng)),
            Arch::Gru => Layer::Gru(Gru::new(&cfg, rng)),
        };
        SequenceModel {
            arch,
            input,
            hidden,
            layer,
            readout: LinearConfig::new(hidden, 1).init(rng),
        }
    }

    /// The prediction from x `[T, B, I]`: Linear(h_T), `[B, 1]`.
    pub fn predict(&self, x: &Tensor) -> Tensor {
        let y = match &self.layer {
            Layer::Rnn(l) => l.forward(x),
            Layer::Lstm(l) => l.forward(x),
            Layer::Gru(l) => l.forward(x),
        };
        let last = y.select(0, y.shape()[0] - 1);
        self.readout.forward(&last)
    }

    /// Every trainable tensor (recurrent layer first, then the readout).
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut p = match &self.layer {
            Layer::Rnn(l) => l.parameters(),
            Layer::Lstm(l) => l.parameters(),
            Layer::Gru(l) => l.parameters(),
        };
        p.extend(self.readout.parameters());
        p
    }

    fn layer_parameters(&self) -> Vec<(String, Tensor)> {
        match &self.layer {
            Layer::Rnn(l) => l.named_parameters(),
            Layer::Lstm(l) => l.named_parameters(),
            Layer::Gru(l) => l.named_parameters(),
        }
    }

    /// Multiply the recurrent weights W_hh by `gain` in place (the exploding configuration).
    pub fn scale_recurrent(&self, gain: f64) {
        let gain = gain as f32;
        for (name, t) in self.layer_parameters() {
            if name.starts_with("weight_hh") {
                t.update_data(|d| d.iter_mut().for_each(|v| *v *= gain));
            }
        }
    }
}

/// The same network as single-step cells, run step by step so that each h_t is its own
/// graph node whose gradient ∂L/∂h_t can be kept ([`Tensor::retain_grad`]).
#[derive(Debug)]
pub struct SteppedModel {
    cell: Cell,
    readout: Linear,
}

#[derive(Debug)]
enum Cell {
    Rnn(RnnCell),
    Lstm(LstmCell),
    Gru(GruCell),
}

impl SteppedModel {
    /// Build `arch` with `input` features and `hidden` units.
    pub fn new<R: Rng + ?Sized>(arch: Arch, input: usize, hidden: usize, rng: &mut R) -> Self {
        let init = arch.init();
        let cell = match arch {
            Arch::RnnTanh | Arch::RnnTanhOrthogonal => Cell::Rnn(RnnCell::with_options(
                input,
                hidden,
                Nonlinearity::Tanh,
                true,
                init,
                rng,
            )),
            Arch::Lstm | Arch::LstmForgetBias => {
                Cell::Lstm(LstmCell::with_options(input, hidden, true, init, rng))
            }
            Arch::Gru => Cell::Gru(GruCell::with_options(input, hidden, true, init, rng)),
        };
        SteppedModel {
            cell,
            readout: LinearConfig::new(hidden, 1).init(rng),
        }
    }

    /// The single-step twin of a (trained) sequence model: the same weights, copied by name
    /// (`weight_ih_l0` → `weight_ih`, …) and the same readout, so that ∂L/∂h_t can be read
    /// after training.
    pub fn from_sequence_model(m: &SequenceModel) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let stepped = SteppedModel::new(m.arch, m.input, m.hidden, &mut rng);
        let cell = match &stepped.cell {
            Cell::Rnn(c) => c.named_parameters(),
            Cell::Lstm(c) => c.named_parameters(),
            Cell::Gru(c) => c.named_parameters(),
        };
        let copy = |dst: &Tensor, src: &Tensor| {
            let v = src.to_vec();
            dst.update_data(|d| d.copy_from_slice(&v));
        };
        for (name, src) in m.layer_parameters() {
            let short = name.trim_end_matches("_l0");
            if let Some((_, dst)) = cell.iter().find(|(n, _)| n == short) {
                copy(dst, &src);
            }
        }
        for (dst, src) in stepped
            .readout
            .parameters()
            .iter()
            .zip(m.readout.parameters())
        {
            copy(dst, &src);
        }
        stepped
    }

    /// Run the steps `xs` (each `[B, I]`) from the zero state; returns the prediction
    /// Linear(h_T) `[B, 1]` and every hidden state h_1 … h_T, each marked to retain its
    /// gradient.
    pub fn run(&self, xs: &[Tensor]) -> (Tensor, Vec<Tensor>) {
        let mut hs: Vec<Tensor> = Vec::with_capacity(xs.len());
        let mut lstm: Option<LstmState> = None;
        for x in xs {
            let h = match &self.cell {
                Cell::Rnn(c) => c.step(x, hs.last()),
                Cell::Gru(c) => c.step(x, hs.last()),
                Cell::Lstm(c) => {
                    let s = c.step(x, lstm.as_ref());
                    let h = s.h.clone();
                    lstm = Some(s);
                    h
                }
            };
            h.retain_grad();
            hs.push(h);
        }
        let y = match hs.last() {
            Some(h) => self.readout.forward(h),
            None => Tensor::zeros(&[0, 1]),
        };
        (y, hs)
    }
}
