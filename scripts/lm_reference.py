#!/usr/bin/env python3
"""PyTorch twin of `gradflow train-lm`: the same text, vocabulary, split, batches, model,
optimizer, clipping, schedule and evaluation, so that the two validation curves can be
compared step for step (the issue's bar: within 0.05 bpc after the same number of steps).

What "the same" means, piece by piece (gradflow's side in parentheses):

- text: --embedded inflates crates/gradflow/assets/moby-dick-ch1-9.txt.gz; --moby-dick reads
  /usr/share/datasets/moby-dick/moby-dick.txt; --text FILE any UTF-8 file (TextSource).
- vocabulary: the sorted distinct characters, id = rank (gradflow_data::Vocabulary).
- split: the last ceil(f*N) ids are held out (TextCorpus::split).
- batches: PyTorch's word_language_model batchify/get_batch, B streams, windows of --seq,
  the last window shorter (Streams::window).
- model: Embedding(V, D) -> L one-layer nn.LSTM/nn.GRU -> Linear(H, V), dropout on the
  embeddings, after every layer (word_language_model's drop(emb), nn.LSTM(dropout), drop(output))
  (lm::model::CharLm); PyTorch's default initializations (gradflow draws the same
  distributions from its own generator, so the two runs start from different weights).
- training: state carried across windows and detached, reset at every epoch start;
  cross-entropy mean; clip_grad_norm_(clip); Adam/AdamW; CosineAnnealingLR(T_max = planned
  steps) stepped per step (lm::train).
- evaluation: eval mode, state carried through the held-out windows from zeros,
  sum(CE)/count/ln 2.

Writes metrics.csv with gradflow's columns (epoch, step, train_bpc, valid_bpc, lr, elapsed_s,
chars_per_s, grad_norm) into --out.

    ~/torchbench/bin/python scripts/lm_reference.py --moby-dick --epochs 2 --out runs/lm-torch
"""

import argparse
import csv
import gzip
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED = os.path.join(ROOT, "crates/gradflow/assets/moby-dick-ch1-9.txt.gz")
MOBY_DICK = "/usr/share/datasets/moby-dick/moby-dick.txt"


def load_text(args):
    if args.text:
        raw = open(args.text, "rb").read()
    elif args.moby_dick:
        raw = open(MOBY_DICK, "rb").read()
    else:
        raw = gzip.open(EMBEDDED, "rb").read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # gradflow's byte fallback


def batchify(ids, bsz):
    n = ids.size(0) // bsz
    return ids[: n * bsz].view(bsz, n).t().contiguous()  # [rows, B]


def windows(source, seq):
    for i in range(0, source.size(0) - 1, seq):
        k = min(seq, source.size(0) - 1 - i)
        yield source[i : i + k], source[i + 1 : i + 1 + k]


class CharLm(nn.Module):
    def __init__(self, vocab, embed, hidden, layers, dropout, cell):
        super().__init__()
        self.encoder = nn.Embedding(vocab, embed)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.layers = nn.ModuleList(
            rnn(embed if k == 0 else hidden, hidden) for k in range(layers)
        )
        self.decoder = nn.Linear(hidden, vocab)
        self.drop = nn.Dropout(dropout)
        self.cell = cell

    def forward(self, x, state):
        h = self.drop(self.encoder(x))
        new = []
        for k, layer in enumerate(self.layers):
            h, s = layer(h, None if state is None else state[k])
            new.append(s)
            h = self.drop(h)
        return self.decoder(h.reshape(-1, h.size(-1))), new


def detach(state):
    return [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in state]


def evaluate(model, source, seq):
    model.eval()
    total, n, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in windows(source, seq):
            logits, state = model(x, state)
            total += F.cross_entropy(logits, y.reshape(-1), reduction="sum").item()
            n += y.numel()
    model.train()
    return total / max(n, 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text")
    src.add_argument("--moby-dick", action="store_true")
    src.add_argument("--embedded", action="store_true")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw"])
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--steps", type=int)
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/lm-torch")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    text = load_text(args)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    n_valid = math.ceil(len(ids) * args.valid_fraction)
    train_data = batchify(ids[: len(ids) - n_valid], args.batch)
    valid_data = batchify(ids[len(ids) - n_valid :], args.batch)
    per_epoch = math.ceil((train_data.size(0) - 1) / args.seq)
    planned = min(args.steps or per_epoch * args.epochs, per_epoch * args.epochs)

    model = CharLm(len(chars), args.embed, args.hidden, args.layers, args.dropout, args.cell)
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=planned)
        if args.schedule == "cosine"
        else None
    )
    os.makedirs(args.out, exist_ok=True)
    rows = []
    step, start = 0, time.time()
    print(
        f"{len(text)} chars, vocabulary {len(chars)}, {per_epoch} windows/epoch, "
        f"{sum(p.numel() for p in model.parameters())} parameters, {planned} steps"
    )
    for epoch in range(args.epochs):
        state, loss_sum, count = None, 0.0, 0
        for w, (x, y) in enumerate(windows(train_data, args.seq)):
            if step >= planned:
                break
            step += 1
            logits, state = model(x, state)
            loss = F.cross_entropy(logits, y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            norm = (
                nn.utils.clip_grad_norm_(model.parameters(), args.clip)
                if args.clip > 0
                else nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
            )
            opt.step()
            if sched:
                sched.step()
            state = detach(state)
            loss_sum += loss.item() * y.numel()
            count += y.numel()
            done = w + 1 == per_epoch
            if done or step >= planned:
                valid = evaluate(model, valid_data, args.seq) / math.log(2)
                elapsed = time.time() - start
                frac = epoch + 1 if done else epoch + (w + 1) / per_epoch
                row = [frac, step, loss_sum / count / math.log(2), valid,
                       opt.param_groups[0]["lr"], elapsed,
                       step * args.seq * args.batch / elapsed, float(norm)]
                rows.append(row)
                print(f"epoch {frac:.2f} (step {step}): train {row[2]:.3f} bpc, "
                      f"validation {valid:.3f} bpc, {elapsed:.0f} s", flush=True)
        if step >= planned:
            break
    with open(os.path.join(args.out, "metrics.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["epoch", "step", "train_bpc", "valid_bpc", "lr", "elapsed_s",
                     "chars_per_s", "grad_norm"])
        wr.writerows(rows)
    print(f"metrics: {os.path.join(args.out, 'metrics.csv')}")


if __name__ == "__main__":
    main()
