#!/usr/bin/env python3
"""Interleaved gradflow-vs-PyTorch comparison on the same machine.

Shared machines are noisy: a figure taken minutes after another can differ by 50 %. This
script alternates the two engines, round after round, computes each round's ratio
(PyTorch time / gradflow time: above 1 means gradflow is faster) and reports the median
ratio per workload.

Usage (from the repository root, with a PyTorch virtualenv as in ../shared/bench/README.md):
    python3 scripts/bench-compare.py --python ~/torchbench/bin/python --rounds 3
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench", "pytorch_baseline.py")

# (gradflow criterion bench, filter, PyTorch section, key path in the JSON, label)
WORKLOADS = [
    ("matmul", "matmul/256$", "matmul", ("2", "256", "median_s"), "matmul 256²"),
    ("matmul", "matmul/1024$", "matmul", ("2", "1024", "median_s"), "matmul 1024²"),
    ("conv", "forward$", "conv", ("2", "forward", "median_s"), "conv 3×3 64→64 fwd"),
    ("conv", "forward_backward$", "conv", ("2", "forward_backward", "median_s"), "conv fwd+bwd"),
    ("mlp", "relu$", "mlp", ("2", "mlp20x256_relu_b128", "median_s"), "MLP step, ReLU"),
    ("mlp", "sigmoid$", "mlp", ("2", "mlp20x256_sigmoid_b128", "median_s"), "MLP step, sigmoid"),
]


# Each bench is run for the crate it measures (benches/ holds them all).
PACKAGE = {"matmul": "gradflow-tensor", "conv": "gradflow-tensor", "elementwise": "gradflow-tensor",
           "normalization": "gradflow-normalization", "mlp": "gradflow", "recorder": "gradflow"}


def ours(bench, flt):
    out = subprocess.run(
        ["cargo", "bench", "-q", "-p", PACKAGE.get(bench, "gradflow"), "--bench", bench, "--", "--warm-up-time", "1",
         "--measurement-time", "3", "--output-format", "bencher", flt],
        capture_output=True, text=True, check=True).stdout
    m = re.search(r"bench:\s+([\d,]+) ns/iter", out)
    if not m:
        sys.exit(f"could not parse criterion output for {bench} {flt}:\n{out}")
    return int(m.group(1).replace(",", "")) * 1e-9


def pytorch(python, sections):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "pt.json")
        subprocess.run([python, BENCH, *sections, "--threads", "2", "--out", path],
                       capture_output=True, text=True, check=True)
        with open(path) as f:
            return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True, help="a Python with torch installed")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ratios = {w[4]: [] for w in WORKLOADS}
    for r in range(args.rounds):
        mine = {w[4]: ours(w[0], w[1]) for w in WORKLOADS}
        pt = pytorch(args.python, sorted({w[2] for w in WORKLOADS}))
        for bench, flt, section, keys, label in WORKLOADS:
            v = pt[section]
            for k in keys:
                v = v[k]
            ratios[label].append(v / mine[label])
            print(f"round {r + 1}: {label:<22} gradflow {mine[label] * 1e3:9.3f} ms   "
                  f"PyTorch {v * 1e3:9.3f} ms   ratio {v / mine[label]:.2f}", flush=True)
    print("\n| workload | median ratio (PyTorch time / gradflow time) | per round |")
    print("|---|---|---|")
    for label, rs in ratios.items():
        print(f"| {label} | {statistics.median(rs):.2f} | {', '.join(f'{x:.2f}' for x in rs)} |")


if __name__ == "__main__":
    main()
