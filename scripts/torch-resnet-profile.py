#!/usr/bin/env python3
"""Where PyTorch's time goes inside a torchvision ResNet step on the CPU, per op and shape.

Runs the step of `pytorch_baseline.py` (SGD with momentum 0.9 and cross-entropy for `train`,
`inference_mode` for `eval`) a few times to warm up, then under `torch.profiler`, and prints
the per-step self time of the convolutions (forward and backward apart), of the other ops,
and the top ops by input shape. Compare with gradflow's per-layer timings, which
docs/benchmarks.md gives for the same shapes: isolated per-layer timings of PyTorch are no
stand-in, since inside a model its allocator and caches behave differently.

    ~/torchbench/bin/python scripts/torch-resnet-profile.py --mode train --batch 16 --size 224
"""
import argparse
import time

import torch
import torchvision
from torch.profiler import ProfilerActivity, profile


def positive(text):
    """argparse type: an integer ≥ 1 (a batch, size, thread or step count of 0 is an error
    here, not a division by zero or an empty tensor later)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} is not ≥ 1")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet18",
                    choices=["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
    ap.add_argument("--mode", choices=["train", "eval"], default="train")
    ap.add_argument("--batch", type=positive, default=16)
    ap.add_argument("--size", type=positive, default=224,
                    help="image side; ResNets need at least 32")
    ap.add_argument("--threads", type=positive, default=2)
    ap.add_argument("--steps", type=positive, default=3, help="profiled steps")
    ap.add_argument("--rows", type=positive, default=25, help="ops listed by shape")
    a = ap.parse_args()
    if a.size < 32:
        ap.error(f"--size {a.size}: a ResNet needs images of at least 32×32")

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, a.arch)(weights=None, num_classes=1000)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, 1000, (a.batch,))
    if a.mode == "train":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)

    for _ in range(3):
        step()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    print(f"{a.arch} {a.mode} b{a.batch} {a.size}² on {a.threads} threads, "
          f"step ms (unprofiled): {', '.join(f'{t:.0f}' for t in times)}")

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(a.steps):
            step()
    per_step = {"conv forward": 0.0, "conv backward": 0.0, "other ops": 0.0}
    for e in prof.key_averages():
        # Leaf ops only: self time, so nothing is counted twice.
        ms = e.self_cpu_time_total / 1e3 / a.steps
        if e.key == "aten::mkldnn_convolution":
            per_step["conv forward"] += ms
        elif e.key == "aten::convolution_backward":
            per_step["conv backward"] += ms
        else:
            per_step["other ops"] += ms
    print("per step, self CPU time of the profiled steps (ms):")
    for k, v in per_step.items():
        print(f"  {k:14} {v:8.1f}")
    print(prof.key_averages(group_by_input_shape=True).table(
        sort_by="self_cpu_time_total", row_limit=a.rows))


if __name__ == "__main__":
    main()
