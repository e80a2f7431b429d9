//! The configuration shared by [`crate::Rnn`], [`crate::Lstm`] and [`crate::Gru`], and the
//! multi-layer, optionally bidirectional stack that all three run.

use std::sync::Mutex;

use gradflow_tensor::{Scope, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::gates::CellKind;
use crate::init::{DirectionParams, RecurrentInit};
use crate::scan::{ScanArgs, scan};

/// Hyperparameters of a recurrent layer, with PyTorch's meanings and defaults
/// (`nn.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
/// dropout=0.0, bidirectional=False)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// Features per input step, I.
    pub input_size: usize,
    /// Hidden units per direction, H.
    pub hidden_size: usize,
    /// Stacked layers L; layer k > 0 reads layer k − 1's output (default 1).
    pub num_layers: usize,
    /// Whether the layers have b_ih and b_hh (default true).
    pub bias: bool,
    /// Input and output as `[B, T, ·]` instead of `[T, B, ·]` (default false). The states
    /// stay `[L·D, B, H]` either way, as in PyTorch.
    pub batch_first: bool,
    /// Dropout probability on the outputs of every layer but the last, in training mode
    /// only (default 0).
    pub dropout: f64,
    /// Also run each layer from t = T−1 down to 0 and concatenate both outputs (default false).
    pub bidirectional: bool,
    /// Weight initialization (default: PyTorch's U(−1/√H, 1/√H)).
    pub init: RecurrentInit,
}

impl RecurrentConfig {
    /// One layer from `input_size` to `hidden_size` with PyTorch's defaults.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RecurrentConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
            init: RecurrentInit::default(),
        }
    }

    /// Set the number of stacked layers.
    pub fn with_num_layers(mut self, num_layers: usize) -> Self {
        self.num_layers = num_layers;
        self
    }

    /// With or without biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Batch-first input and output, `[B, T, ·]`.
    pub fn with_batch_first(mut self, batch_first: bool) -> Self {
        self.batch_first = batch_first;
        self
    }

    /// Dropout between layers (training only).
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Bidirectional layers.
    pub fn with_bidirectional(mut self, bidirectional: bool) -> Self {
        self.bidirectional = bidirectional;
        self
    }

    /// Initialization options.
    pub fn with_init(mut self, init: RecurrentInit) -> Self {
        self.init = init;
        self
    }

    /// Directions D: 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }
}

/// What a stack returns: output `[T, B, D·H]` (or batch-first), h_n and c_n `[L·D, B, H]`.
pub(crate) struct StackOutput {
    pub output: Tensor,
    pub h_n: Tensor,
    pub c_n: Option<Tensor>,
}

/// L layers × D directions of one cell kind.
#[derive(Debug)]
pub(crate) struct Stack {
    pub kind: CellKind,
    pub cfg: RecurrentConfig,
    layers: Vec<Vec<DirectionParams>>,
    pub training: bool,
    rng: Mutex<StdRng>,
}

impl Stack {
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(kind: CellKind, cfg: &RecurrentConfig, rng: &mut R) -> Self {
        assert!(
            cfg.num_layers >= 1,
            "{}: num_layers must be at least 1",
            kind.name()
        );
        assert!(
            cfg.hidden_size >= 1,
            "{}: hidden_size must be at least 1",
            kind.name()
        );
        assert!(
            (0.0..=1.0).contains(&cfg.dropout),
            "{}: dropout {} must lie in [0, 1]",
            kind.name(),
            cfg.dropout
        );
        let d = cfg.num_directions();
        let layers = (0..cfg.num_layers)
            .map(|k| {
                let input = if k == 0 {
                    cfg.input_size
                } else {
                    d * cfg.hidden_size
                };
                (0..d)
                    .map(|_| {
                        DirectionParams::new(kind, input, cfg.hidden_size, cfg.bias, cfg.init, rng)
                    })
                    .collect()
            })
            .collect();
        Stack {
            kind,
            cfg: *cfg,
            layers,
            training: true,
            rng: Mutex::new(StdRng::seed_from_u64(rng.next_u64())),
        }
    }

    /// PyTorch's names: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`,
    /// then the same with `_reverse` for the backward direction, layer by layer.
    pub fn visit(&self, s: &mut Scope<'_>) {
        for (k, layer) in self.layers.iter().enumerate() {
            for (di, p) in layer.iter().enumerate() {
                let suffix = if di == 0 {
                    format!("_l{k}")
                } else {
                    format!("_l{k}_reverse")
                };
                p.visit(s, &suffix);
            }
        }
    }

    #[track_caller]
    fn check_state(&self, what: &str, s: &Tensor, batch: usize) {
        let want = [
            self.cfg.num_layers * self.cfg.num_directions(),
            batch,
            self.cfg.hidden_size,
        ];
        if s.shape() != want {
            panic!(
                "{}: {what} has shape {:?}, expected [num_layers·directions, batch, hidden] = {want:?}",
                self.kind.name(),
                s.shape()
            );
        }
    }

    /// Run every layer and direction. `h0`/`c0` are `[L·D, B, H]` (zeros when `None`).
    #[track_caller]
    pub fn run(&self, x: &Tensor, h0: Option<&Tensor>, c0: Option<&Tensor>) -> StackOutput {
        let cfg = &self.cfg;
        if x.rank() != 3 || x.shape()[2] != cfg.input_size {
            let layout = if cfg.batch_first {
                "[B, T, I]"
            } else {
                "[T, B, I]"
            };
            panic!(
                "{}: input has shape {:?}, expected {layout} with I = {}",
                self.kind.name(),
                x.shape(),
                cfg.input_size
            );
        }
        let mut input = if cfg.batch_first {
            x.transpose(0, 1)
        } else {
            x.clone()
        };
        let batch = input.shape()[1];
        if let Some(h) = h0 {
            self.check_state("h0", h, batch);
        }
        if let Some(c) = c0 {
            self.check_state("c0", c, batch);
        }
        let lstm = self.kind.has_cell();
        let zeros = Tensor::zeros(&[batch, cfg.hidden_size]);
        let d = cfg.num_directions();
        let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
        for (k, layer) in self.layers.iter().enumerate() {
            if k > 0 && self.training && cfg.dropout > 0.0 {
                let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                input = input.dropout(cfg.dropout, &mut *rng);
            }
            let states: Vec<(Tensor, Option<Tensor>)> = (0..d)
                .map(|di| {
                    let idx = k * d + di;
                    let h = h0.map_or_else(|| zeros.clone(), |h| h.select(0, idx));
                    let c = lstm.then(|| c0.map_or_else(|| zeros.clone(), |c| c.select(0, idx)));
                    (h, c)
                })
                .collect();
            let xprojs: Vec<Tensor> = layer.iter().map(|p| p.project(&input)).collect();
            let args: Vec<ScanArgs<'_>> = layer
                .iter()
                .zip(&xprojs)
                .zip(&states)
                .enumerate()
                .map(|(di, ((p, xp), (h, c)))| p.scan_args(self.kind, xp, h, c.as_ref(), di == 1))
                .collect();
            // The directions run in turn: their GEMMs already use every core, and running the
            // two sweeps side by side on two threads measured no faster (bidirectional
            // LSTM 128→256, B 32, T 100, forward: 137–201 ms side by side, 120–136 ms in turn).
            let results: Vec<_> = args.into_iter().map(scan).collect();
            let mut outs = Vec::with_capacity(d);
            for r in results {
                outs.push(r.output);
                h_n.push(r.h_n);
                c_n.extend(r.c_n);
            }
            input = if outs.len() == 1 {
                outs.swap_remove(0)
            } else {
                // Forward direction first, as PyTorch: y[t] = [h→_t, h←_t].
                Tensor::concat(&[&outs[0], &outs[1]], 2)
            };
        }
        let stack = |v: &[Tensor]| {
            let refs: Vec<&Tensor> = v.iter().collect();
            Tensor::stack(&refs, 0)
        };
        StackOutput {
            output: if cfg.batch_first {
                input.transpose(0, 1)
            } else {
                input
            },
            h_n: stack(&h_n),
            c_n: lstm.then(|| stack(&c_n)),
        }
    }
}
