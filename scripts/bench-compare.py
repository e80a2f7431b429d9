#!/usr/bin/env python3
"""Interleaved gradflow-vs-PyTorch comparison on the same machine: the whole benchmark table.

Shared machines are noisy: a figure taken minutes after another can differ by 50 %. This
script alternates the two engines, section after section and round after round, computes
each round's ratio (PyTorch time / gradflow time: above 1 means gradflow is faster) and
reports the median ratio per workload, next to gradflow's GFLOP/s, its share of the
machine's measured FMA peak, and the peak RSS of each side.

Usage (from the repository root, with a PyTorch virtualenv as in ../shared/bench/README.md):
    python3 scripts/bench-compare.py --python ~/torchbench/bin/python --rounds 3
    python3 scripts/bench-compare.py --python ~/torchbench/bin/python --only matmul conv

What is measured:
- gradflow: each workload is one run of its criterion bench binary (built once with
  `cargo bench --no-run`), filtered to that workload, so the process's peak RSS
  (`ru_maxrss` from `wait4`) is the workload's own, plus criterion's small overhead.
- PyTorch: `../shared/bench/pytorch_baseline.py <section> --threads 2`, one process per
  section; its peak RSS covers the whole section and includes importing torch (≈ 0.7 GiB).
- The two pipelines end to end (section `pipeline`): the `gradflow` binary's `train-image`
  (resnet18 from a folder of JPEGs that `scripts/make-jpeg-folder.py` writes once, one epoch
  of 30 steps) and `train-lm` (the embedded text, 4 epochs), each against its PyTorch twin
  (`scripts/torch-image-pipeline.py`, `scripts/lm_reference.py`) with the same data,
  transforms, model and optimizer; the rates are the ones each run reports (images/s
  delivered to training, chars/s trained), so "time" there is seconds per image or char.
- FMA probe (last column): GFLOP/s that the same loop got for 0.5 s on both cores just before
  each section, median over rounds; the peak when the machine is idle, half of it or less
  when other processes hold the cores (then every ratio is less certain).
- Peak: `../shared/bench/fma_log.c` (a zmm FMA loop, 12 accumulators) run on both cores at
  once before the first round; the peak is the sum of each core's 90th-percentile chunk
  (chunks that ran while another engineer's process held the core read about half).
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def shared_bench():
    """`../shared/bench` beside the repository; from a linked git worktree, beside the main one."""
    here = os.path.join(ROOT, "..", "shared", "bench")
    if os.path.isdir(here):
        return here
    common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return os.path.join(os.path.dirname(common), "..", "shared", "bench")


SHARED = shared_bench()
BENCH = os.path.join(SHARED, "pytorch_baseline.py")
FMA_SRC = os.path.join(SHARED, "fma_log.c")

# FLOP per iteration (2 per multiply–add). Matmul and conv by formula; the networks from
# torch.utils.flop_counter.FlopCounterMode on the baseline's own models (forward + backward
# of the loss, torch 2.15.0), except the LSTMs, which FlopCounterMode does not count: there
# 2·4H·(I+H) per token and layer forward, 3× for training (forward, input/hidden gradient,
# weight gradient), less the input gradient of the adding problem's first layer.
CONV_FWD = 2.0 * 16 * 64 * 64 * 9 * 56 * 56
CHARLM = 3 * 3200 * 2 * 4 * 256 * ((128 + 256) + (256 + 256)) + 0.492e9
ADDING = 12800 * 2 * 4 * 128 * (2 * (2 + 128) + 128)
# The pipelines per unit: resnet18's training step at 224² per image (the b16 step / 16);
# `train-lm`'s default model per character trained, 3× its forward: LSTM 64→128 and
# 128→128, decoder 128→76 (the embedded text's vocabulary). The rates include the loader
# (images) and the evaluation passes (chars), which these counts leave out.
IMAGE = 170.375e9 / 16
LM_CHAR = 3 * 2 * (4 * 128 * (64 + 128) + 4 * 128 * (128 + 128) + 128 * 76)
JPEG_TRAIN, JPEG_VAL = 48, 4  # per class, 10 classes: 30 steps of 16
# Both engines report images delivered / (epoch start → last batch received): all 30 batches
# over the time of 29 steps and the waits. The images trained in that time are 29 of 30.
TRAINED_SHARE = 1 - 16 / (10 * JPEG_TRAIN)


def w(label, pkg, bench, flt, section, key, flops, target):
    return dict(label=label, pkg=pkg, bench=bench, flt=flt, section=section, key=key,
                flops=flops, target=target)


def pipeline(label, ours_args, theirs_args, rate, flops, target):
    """An end-to-end row: `gradflow OURS_ARGS --out RUN` and `PYTHON THEIRS_ARGS`, compared by
    the rate `rate` ('images' or 'chars') each reports. `{data}` and `{out}` are filled in."""
    return dict(label=label, pkg=None, bench=None, section="pipeline", key=None, flops=flops,
                target=target, ours_args=ours_args, theirs_args=theirs_args, rate=rate)


# Every row of docs/benchmarks.md: (label, crate, bench, criterion filter, PyTorch section,
# key in that section's JSON at 2 threads, FLOP per iteration, target ratio).
WORKLOADS = [
    w("matmul 256²", "gradflow-tensor", "matmul", "^matmul/256$", "matmul", "256", 2 * 256**3, 1.0),
    w("matmul 512²", "gradflow-tensor", "matmul", "^matmul/512$", "matmul", "512", 2 * 512**3, 1.0),
    w("matmul 1024²", "gradflow-tensor", "matmul", "^matmul/1024$", "matmul", "1024", 2 * 1024**3, 1.0),
    w("conv 3×3 64→64 16×56², fwd", "gradflow-tensor", "conv", "/forward$", "conv", "forward",
      CONV_FWD, 1.0),
    w("conv fwd+bwd", "gradflow-tensor", "conv", "/forward_backward$", "conv", "forward_backward",
      3 * CONV_FWD, 1.0),
    w("MLP 20×256 b128 step, ReLU", "gradflow", "mlp", "/relu$", "mlp", "mlp20x256_relu_b128",
      1.011e9, 1.3),
    w("MLP step, sigmoid", "gradflow", "mlp", "/sigmoid$", "mlp", "mlp20x256_sigmoid_b128",
      1.011e9, 1.3),
    w("resnet18 train b16 224²", "gradflow-resnet", "resnet", "resnet_train_step/resnet18/b16_224$",
      "resnet", "resnet18_train_b16_224", 170.375e9, 1.0),
    w("resnet18 train b64 64²", "gradflow-resnet", "resnet", "resnet_train_step/resnet18/b64_64$",
      "resnet", "resnet18_train_b64_64", 55.813e9, 1.0),
    w("resnet34 train b16 224²", "gradflow-resnet", "resnet", "resnet_train_step/resnet34/b16_224$",
      "resnet", "resnet34_train_b16_224", 347.945e9, 1.0),
    w("resnet18 eval b16 224²", "gradflow-resnet", "resnet", "resnet_eval/resnet18/b16_224$",
      "resnet", "resnet18_eval_b16_224", 58.050e9, 1.0),
    w("CIFAR resnet20 train b128", "gradflow-resnet", "resnet", "resnet_train_step/resnet20/b128_32$",
      "cifar", "resnet20_train_b128_32", 31.030e9, 1.0),
    w("CIFAR resnet56 train b128", "gradflow-resnet", "resnet", "resnet_train_step/resnet56/b128_32$",
      "cifar", "resnet56_train_b128_32", 96.260e9, 1.0),
    w("CIFAR resnet20 eval b256", "gradflow-resnet", "resnet", "resnet_eval/resnet20/b256_32$",
      "cifar", "resnet20_eval_b256_32", 20.762e9, 1.0),
    w("char-LM LSTM step", "gradflow-recurrent", "lstm", "charlm_2x256_b32_t100$", "lstm",
      "charlm_2x256_b32_t100", CHARLM, 1.5),
    w("adding-problem LSTM step", "gradflow-recurrent", "lstm", "adding_1x128_b64_t200$", "lstm",
      "adding_1x128_b64_t200", ADDING, 1.5),
    pipeline("image pipeline resnet18 b16 224², JPEG → step",
             ["train-image", "--data", "{data}", "--arch", "resnet18", "--batch", "16",
              "--epochs", "1", "--workers", "2", "--optimizer", "sgd", "--lr", "0.01"],
             ["scripts/torch-image-pipeline.py", "--data", "{data}", "--arch", "resnet18",
              "--batch", "16", "--workers", "2", "--lr", "0.01"], "images", IMAGE, 1.0),
    pipeline("LM pipeline (train-lm), chars/s",
             ["train-lm", "--embedded", "--epochs", "4"],
             ["scripts/lm_reference.py", "--embedded", "--epochs", "4"], "chars", LM_CHAR, 1.5),
]


def run_measured(cmd, **kw):
    """Run `cmd`; return (stdout, stderr, returncode, peak RSS in MiB of that process tree)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, **kw)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return out.read().decode(), err.read().decode(), p.returncode, ru.ru_maxrss / 1024


def cargo_executables(args):
    """Run `cargo ARGS --message-format=json` in the repository; (target, executable path) of
    every artifact it built that has an executable. Exits with cargo's error on failure."""
    cmd = ["cargo"] + args + ["--message-format=json"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr[-4000:]}")
    out = []
    for line in res.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            out.append((msg["target"], msg["executable"]))
    return out


def bench_executables(pkgs_benches):
    """Build the benches once; map (package, bench) to its executable."""
    args = ["bench", "--no-run"]
    for pkg in sorted({p for p, _ in pkgs_benches}):
        args += ["-p", pkg]
    for bench in sorted({b for _, b in pkgs_benches}):
        args += ["--bench", bench]
    exes = {}
    for target, exe in cargo_executables(args):
        if "bench" in target["kind"]:
            # Bench target names are unique across the workspace's crates.
            for p, b in pkgs_benches:
                if b == target["name"]:
                    exes[(p, b)] = exe
    missing = [pb for pb in pkgs_benches if pb not in exes]
    if missing:
        sys.exit(f"no executable found for {missing}")
    return exes


def gradflow_binary():
    """Build the `gradflow` binary (release) and return its path."""
    for target, exe in cargo_executables(["build", "--release", "-p", "gradflow", "--bin",
                                          "gradflow"]):
        if target["name"] == "gradflow" and "bin" in target["kind"]:
            return exe
    sys.exit("cargo built no `gradflow` executable")


def last_metric(run_dir, column):
    """`column` of the last row of RUN_DIR/metrics.csv (both engines' runs write one)."""
    path = os.path.join(run_dir, "metrics.csv")
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"{path}: {e.strerror}")
    if not rows or column not in rows[-1]:
        sys.exit(f"{path}: no row with a {column} column")
    return float(rows[-1][column])


def fill(args, **kw):
    return [a.format(**kw) for a in args]


def ours_pipeline(exe, row, data, tmp):
    """Seconds per image (per char) of one `gradflow` pipeline run, and its peak RSS."""
    out_dir = tempfile.mkdtemp(dir=tmp)
    cmd = [exe] + fill(row["ours_args"], data=data) + ["--out", out_dir]
    out, err, rc, rss = run_measured(cmd, cwd=ROOT)
    if rc != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    if row["rate"] == "chars":
        return 1.0 / last_metric(out_dir, "chars_per_s"), rss
    return 1.0 / (last_metric(out_dir, "epoch_images_per_s") * TRAINED_SHARE), rss


def torch_env(omp_wait_policy):
    """The environment of a PyTorch process: ours, with OMP_WAIT_POLICY set unless 'default'."""
    env = dict(os.environ)
    if omp_wait_policy != "default":
        env["OMP_WAIT_POLICY"] = omp_wait_policy.upper()
    return env


def theirs_pipeline(python, row, data, tmp, omp_wait_policy):
    """Seconds per image (per char) of the PyTorch twin, and its peak RSS."""
    env = torch_env(omp_wait_policy)
    out_dir = tempfile.mkdtemp(dir=tmp)
    cmd = [python] + fill(row["theirs_args"], data=data)
    if row["rate"] == "chars":
        cmd += ["--out", out_dir]
    out, err, rc, rss = run_measured(cmd, cwd=ROOT, env=env)
    if rc != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    if row["rate"] == "chars":
        return 1.0 / last_metric(out_dir, "chars_per_s"), rss
    rate = json.loads(out.strip().splitlines()[-1])["delivered_images_per_s"]
    return 1.0 / (rate * TRAINED_SHARE), rss


def ours(exe, flt, warm_up, measure):
    """Seconds per iteration and peak RSS (MiB) of one filtered criterion run."""
    out, err, rc, rss = run_measured(
        [exe, "--bench", "--warm-up-time", str(warm_up), "--measurement-time", str(measure),
         "--output-format", "bencher", flt], cwd=ROOT)
    m = re.search(r"bench:\s+([\d,]+) ns/iter", out)
    if rc != 0 or not m:
        sys.exit(f"could not parse criterion output for {exe} {flt}:\n{out}\n{err[-2000:]}")
    return int(m.group(1).replace(",", "")) * 1e-9, rss


def pytorch(python, section, omp_wait_policy):
    """PyTorch's JSON for one section at 2 threads, and the section process's peak RSS."""
    env = torch_env(omp_wait_policy)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "pt.json")
        out, err, rc, rss = run_measured([python, BENCH, section, "--threads", "2", "--out", path],
                                         env=env)
        if rc != 0:
            sys.exit(f"pytorch_baseline.py {section} failed:\n{err[-2000:]}")
        with open(path) as f:
            return json.load(f)[section]["2"], rss


def build_fma(d):
    exe = os.path.join(d, "fma_log")
    subprocess.run(["gcc", "-O2", "-mavx512f", "-o", exe, FMA_SRC], check=True)
    return exe


def fma_peak(exe, seconds=2.0):
    """(peak, now): GFLOP/s of both cores, from fma_log.c run on two processes at once.

    `now` (the median chunk) is the contention probe: on an idle machine it equals the peak,
    and it halves when other processes hold the cores."""
    procs = [subprocess.Popen([exe, str(seconds), "2000000"], stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    per_core = []
    for p in procs:
        vals = sorted(float(l.split()[1]) for l in p.communicate()[0].splitlines())
        per_core.append((vals[int(0.9 * (len(vals) - 1))], statistics.median(vals)))
    return sum(p for p, _ in per_core), sum(m for _, m in per_core)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--python", required=True, help="a Python with torch installed")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=[],
                    help="keep workloads whose label or PyTorch section contains one of these")
    ap.add_argument("--warm-up", type=float, default=1.0, help="criterion warm-up seconds")
    ap.add_argument("--measure", type=float, default=3.0,
                    help="criterion measurement seconds (the resnet groups set their own)")
    ap.add_argument("--json", help="write every round's figures here")
    ap.add_argument("--omp-wait-policy", choices=["auto", "passive", "default"], default="auto",
                    help="OMP_WAIT_POLICY for PyTorch (default: auto). PyTorch's OpenMP threads "
                         "spin at every barrier by default; when other processes hold the "
                         "cores, a spinning thread waits for a descheduled one, and a 256² "
                         "matmul took 7–20 ms instead of 0.65 ms (passive) on this machine at "
                         "load 12. On an idle machine the passive policy instead costs PyTorch "
                         "a wake-up per parallel region (its MLP step 2.3× slower), which "
                         "flatters gradflow. 'auto' uses PyTorch's own policy when the first "
                         "FMA probe reads at least 80 %% of the peak (an idle machine) and "
                         "passive otherwise, and says which it chose.")
    args = ap.parse_args()

    work = [x for x in WORKLOADS
            if not args.only or any(o in x["label"] or o == x["section"] for o in args.only)]
    if not work:
        sys.exit("no workload matches --only")
    # Build every bench of the table, whatever --only keeps: cargo unifies features over the
    # packages named, so another set would build (and time) differently hashed binaries.
    exes = bench_executables(sorted({(x["pkg"], x["bench"]) for x in WORKLOADS if x["pkg"]}))
    tmp = tempfile.TemporaryDirectory()
    data = os.path.join(tmp.name, "jpeg-folder")
    if any(x["section"] == "pipeline" for x in work):
        exes["gradflow"] = gradflow_binary()
        res = subprocess.run([args.python, os.path.join(ROOT, "scripts", "make-jpeg-folder.py"),
                              data, str(JPEG_TRAIN), str(JPEG_VAL)], capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"scripts/make-jpeg-folder.py (Pillow) failed:\n{res.stderr[-2000:]}")
    fma = build_fma(tmp.name)
    peak, now = fma_peak(fma)
    print(f"FMA probe: peak {peak:.0f} GFLOP/s on 2 cores (90th percentile per core), "
          f"{now:.0f} available at the median", flush=True)
    policy = args.omp_wait_policy
    if policy == "auto":
        policy = "default" if now >= 0.8 * peak else "passive"
        print(f"OMP_WAIT_POLICY for PyTorch: {policy} (the machine is "
              f"{'idle' if policy == 'default' else 'loaded'}: {now:.0f} of {peak:.0f} GFLOP/s "
              "available; pass --omp-wait-policy to choose)", flush=True)

    sections = []
    for x in work:
        if x["section"] not in sections:
            sections.append(x["section"])
    rows = {x["label"]: dict(x, ratio=[], ours=[], theirs=[], rss=[], pt_rss=[], probe=[])
            for x in work}
    for r in range(args.rounds):
        # Interleave per section: gradflow's workloads of a section, then PyTorch's.
        for s in sections:
            probe = fma_peak(fma, 0.5)[1]
            mine, theirs = {}, {}
            in_s = [x for x in work if x["section"] == s]
            if s == "pipeline":
                # One process per workload on each side, gradflow's run right before its twin.
                for x in in_s:
                    mine[x["label"]] = ours_pipeline(exes["gradflow"], x, data, tmp.name)
                    theirs[x["label"]] = theirs_pipeline(args.python, x, data, tmp.name, policy)
            else:
                for x in in_s:
                    mine[x["label"]] = ours(exes[(x["pkg"], x["bench"])], x["flt"], args.warm_up,
                                            args.measure)
                pt, pt_rss = pytorch(args.python, s, policy)
                theirs = {x["label"]: (pt[x["key"]]["median_s"], pt_rss) for x in in_s}
            for label, (t, rss) in mine.items():
                row = rows[label]
                v, pt_rss = theirs[label]
                row["ratio"].append(v / t)
                row["ours"].append(t)
                row["theirs"].append(v)
                row["rss"].append(rss)
                row["pt_rss"].append(pt_rss)
                row["probe"].append(probe)
                if row.get("rate"):  # a pipeline: its rate reads better than its ms per unit
                    u = f"{row['rate']}/s"
                    times = f"gradflow {1 / t:10.1f} {u}  PyTorch {1 / v:10.1f} {u}"
                else:
                    times = f"gradflow {t * 1e3:10.3f} ms  PyTorch {v * 1e3:10.3f} ms"
                print(f"round {r + 1}: {label:<28} {times}  ratio {v / t:5.2f}  "
                      f"RSS {rss:6.0f} / {pt_rss:6.0f} MiB  (FMA probe {probe:.0f} GFLOP/s)", flush=True)

    print(f"\nFMA peak of the 2 cores: {peak:.0f} GFLOP/s (fma_log.c); every figure at 2 threads; "
          f"ratio = PyTorch time / gradflow time, median of {args.rounds} interleaved rounds; "
          f"PyTorch with OMP_WAIT_POLICY={policy}.\n")
    print("| workload | target | median ratio | per round | met | gradflow GFLOP/s | % of peak "
          "| PyTorch GFLOP/s | gradflow peak RSS | PyTorch section peak RSS | FMA probe |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows.values():
        med = statistics.median(row["ratio"])
        t, v = statistics.median(row["ours"]), statistics.median(row["theirs"])
        g, gp = row["flops"] / t / 1e9, row["flops"] / v / 1e9
        miss = 100 * (1 - med / row["target"])
        met = "yes" if med >= row["target"] else f"no, by {miss:.0f} %" if miss >= 0.5 else "no, by < 1 %"
        print(f"| {row['label']} | ≥ {row['target']:.1f} | **{med:.2f}** | "
              f"{', '.join(f'{x:.2f}' for x in row['ratio'])} | {met} | {g:.0f} | "
              f"{100 * g / peak:.0f} % | {gp:.0f} | {statistics.median(row['rss']):.0f} MiB | "
              f"{statistics.median(row['pt_rss']):.0f} MiB | {statistics.median(row['probe']):.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"fma_peak_gflops": peak, "fma_median_gflops": now,
                       "omp_wait_policy": policy,
                       "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": list(rows.values())},
                      f, indent=1)


if __name__ == "__main__":
    main()
