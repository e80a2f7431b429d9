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
    ~/torchbench/bin/python scripts/lm_reference.py --compare runs/lm runs/lm-torch docs/lm-compare.svg
    ~/torchbench/bin/python scripts/lm_reference.py --compare-seeds docs/lm-seeds.svg \
        --gradflow-runs runs/gf-s0 runs/gf-s1 ... --torch-runs runs/pt-s0 runs/pt-s1 ...
"""

import argparse
import csv
import gzip
import math
import statistics
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


def write_metrics(out, rows):
    with open(os.path.join(out, "metrics.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["epoch", "step", "train_bpc", "valid_bpc", "lr", "elapsed_s",
                     "chars_per_s", "grad_norm"])
        wr.writerows(rows)


def read_metrics(path):
    with open(path) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def compare(gradflow_dir, torch_dir, svg_path):
    """Print the validation bpc of both runs at their common steps, and draw both curves
    (train dashed, validation solid) as an SVG."""
    g = read_metrics(os.path.join(gradflow_dir, "metrics.csv"))
    t = read_metrics(os.path.join(torch_dir, "metrics.csv"))
    tv = {int(r["step"]): r for r in t}
    print("step  gradflow valid  PyTorch valid  difference")
    worst = 0.0
    for r in g:
        s = int(r["step"])
        if s in tv:
            d = r["valid_bpc"] - tv[s]["valid_bpc"]
            worst = max(worst, abs(d))
            print(f"{s:5d}  {r['valid_bpc']:14.4f}  {tv[s]['valid_bpc']:13.4f}  {d:+10.4f}")
    print(f"largest |difference|: {worst:.4f} bpc")
    draw(svg_path, "Character LM: gradflow vs PyTorch", [
        ("gradflow validation", points(g, "valid_bpc"), "#1f77b4", "", 2, True),
        ("PyTorch validation", points(t, "valid_bpc"), "#d62728", "", 2, True),
        ("gradflow train", points(g, "train_bpc"), "#1f77b4", "6,4", 2, True),
        ("PyTorch train", points(t, "train_bpc"), "#d62728", "6,4", 2, True),
    ])


def points(rows, key):
    return [(r["step"], r[key]) for r in rows]


def compare_seeds(gradflow_dirs, torch_dirs, svg_path):
    """Several seeds of each framework: print the mean and standard deviation of the
    validation bpc at every common step, and draw every seed's curve thin with the two means
    thick."""
    runs = {"gradflow": [read_metrics(os.path.join(d, "metrics.csv")) for d in gradflow_dirs],
            "PyTorch": [read_metrics(os.path.join(d, "metrics.csv")) for d in torch_dirs]}
    vals = {k: [{int(r["step"]): r["valid_bpc"] for r in run} for run in v]
            for k, v in runs.items()}
    steps = sorted(set.intersection(*(set(v) for k in vals for v in vals[k])))
    mean = {k: {s: statistics.mean(v[s] for v in vals[k]) for s in steps} for k in vals}
    sd = {k: {s: statistics.stdev(v[s] for v in vals[k]) if len(vals[k]) > 1 else 0.0
              for s in steps} for k in vals}
    print(f"{len(gradflow_dirs)} gradflow and {len(torch_dirs)} PyTorch runs")
    print("| step | gradflow mean ± sd | PyTorch mean ± sd | PyTorch − gradflow |")
    print("|---|---|---|---|")
    for s in steps:
        g, t = mean["gradflow"][s], mean["PyTorch"][s]
        print(f"| {s} | {g:.4f} ± {sd['gradflow'][s]:.4f} | {t:.4f} ± {sd['PyTorch'][s]:.4f} "
              f"| {t - g:+.4f} |")
    colors = {"gradflow": "#1f77b4", "PyTorch": "#d62728"}
    series = []
    for k in ("gradflow", "PyTorch"):
        for v in vals[k]:
            series.append((None, [(s, v[s]) for s in steps], colors[k], "", 0.7, False))
        series.append((f"{k}, mean of {len(vals[k])} seeds", [(s, mean[k][s]) for s in steps],
                       colors[k], "", 2.5, True))
    draw(svg_path, "Character LM, held-out bpc: every seed (thin) and the mean (thick)", series)


def draw(svg_path, title, series):
    """A line chart in the lab's style: series = (legend name or None, [(step, bpc)], color,
    dash, stroke width, dots)."""
    W, H, L, R, T, B = 900, 460, 70, 250, 40, 50
    xs = [x for _, pts, *_ in series for x, _ in pts]
    ys = [y for _, pts, *_ in series for _, y in pts]
    x0, x1 = 0.0, max(xs)
    y0, y1 = math.floor(min(ys) * 4) / 4, math.ceil(max(ys) * 4) / 4
    px = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
    py = lambda y: T + (y1 - y) / (y1 - y0) * (H - T - B)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="DejaVu Sans, sans-serif" font-size="13">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="22" font-size="16">{title}</text>']
    y = y0
    while y <= y1 + 1e-9:
        out.append(f'<line x1="{L}" x2="{W-R}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L-8}" y="{py(y)+4:.1f}" text-anchor="end">{y:.2f}</text>')
        y += 0.25
    step = 10 ** math.floor(math.log10(max(x1, 1)))
    x = 0.0
    while x <= x1 + 1e-9:
        out.append(f'<line y1="{T}" y2="{H-B}" x1="{px(x):.1f}" x2="{px(x):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{px(x):.1f}" y="{H-B+18}" text-anchor="middle">{int(x)}</text>')
        x += step / 2 if x1 / step < 4 else step
    out.append(f'<text x="{(L+W-R)/2}" y="{H-10}" text-anchor="middle">optimizer step</text>')
    out.append(f'<text x="18" y="{(T+H-B)/2}" transform="rotate(-90 18 {(T+H-B)/2})" '
               f'text-anchor="middle">bits per character</text>')
    legend = 0
    for name, pts, color, dash, width, dots in series:
        poly = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{poly}" fill="none" stroke="{color}" '
                   f'stroke-width="{width}" stroke-dasharray="{dash}"/>')
        if dots:
            for x, y in pts:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        if name:
            ly = T + 20 + 22 * legend
            legend += 1
            out.append(f'<line x1="{W-R+15}" x2="{W-R+45}" y1="{ly}" y2="{ly}" stroke="{color}" '
                       f'stroke-width="{width}" stroke-dasharray="{dash}"/>')
            out.append(f'<text x="{W-R+52}" y="{ly+4}">{name}</text>')
    out.append("</svg>")
    with open(svg_path, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"figure: {svg_path}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--compare", nargs=3, metavar=("GRADFLOW_RUN", "TORCH_RUN", "SVG"),
                   help="compare two finished runs' metrics.csv and draw both curves; no training")
    p.add_argument("--compare-seeds", metavar="SVG",
                   help="compare the runs of --gradflow-runs with those of --torch-runs (several "
                        "seeds each): mean ± sd per step, and every curve; no training")
    p.add_argument("--gradflow-runs", nargs="*", default=[])
    p.add_argument("--torch-runs", nargs="*", default=[])
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
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--init", help="start from these weights (a gradflow model.safetensors with "
                   "PyTorch names, e.g. of `train-lm --steps 1 --lr 1e-30`, i.e. its initial "
                   "weights), so that both frameworks train the same network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/lm-torch")
    args = p.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if args.compare_seeds:
        if len(args.gradflow_runs) < 2 or len(args.torch_runs) < 2:
            p.error("--compare-seeds needs at least two --gradflow-runs and two --torch-runs")
        compare_seeds(args.gradflow_runs, args.torch_runs, args.compare_seeds)
        return
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
    if args.init:
        from safetensors.torch import load_file

        state = {}
        for name, t in load_file(args.init).items():
            if name.startswith("rnn."):  # rnn.weight_ih_l1 -> layers.1.weight_ih_l0
                base, k = name[4:].rsplit("_l", 1)
                name = f"layers.{k}.{base}_l0"
            state[name] = t
        model.load_state_dict(state, strict=True)
        print(f"initial weights: {args.init}")
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
            due = args.eval_every > 0 and step % args.eval_every == 0
            if done or step >= planned or due:
                valid = evaluate(model, valid_data, args.seq) / math.log(2)
                elapsed = time.time() - start
                frac = epoch + 1 if done else epoch + (w + 1) / per_epoch
                row = [frac, step, loss_sum / count / math.log(2), valid,
                       opt.param_groups[0]["lr"], elapsed,
                       step * args.seq * args.batch / elapsed, float(norm)]
                rows.append(row)
                write_metrics(args.out, rows)  # after every evaluation
                print(f"epoch {frac:.2f} (step {step}): train {row[2]:.3f} bpc, "
                      f"validation {valid:.3f} bpc, {elapsed:.0f} s", flush=True)
        if step >= planned:
            break
    print(f"metrics: {os.path.join(args.out, 'metrics.csv')}")


if __name__ == "__main__":
    main()
