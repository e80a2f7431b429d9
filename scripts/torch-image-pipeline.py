#!/usr/bin/env python3
"""PyTorch twin of `gradflow train-image --data DIR` for one epoch, for the end-to-end row of
docs/benchmarks.md: the same folder, transforms, batches, model, optimizer and schedule, and
the same two rates that gradflow's metrics.csv reports for the epoch.

What "the same" means (gradflow's side in parentheses):
- data: torchvision's ImageFolder on DIR/train and DIR/val (gradflow_data::ImageFolder; both
  sort class folders and files by name); JPEGs decoded by Pillow (the `image` crate).
- transforms: RandomResizedCrop(s) + RandomHorizontalFlip + ToTensor + Normalize(ImageNet) for
  training, Resize(s·256/224) + CenterCrop(s) for validation (`--augment standard`).
- loader: DataLoader(batch, shuffle, num_workers=W, drop_last=True) (gradflow's loader with W
  worker threads decoding ahead, the last partial batch dropped).
- model and step: torchvision's resnet (num_classes = the folder's classes), cross-entropy,
  SGD(lr, momentum 0.9, weight decay 5e-4) with CosineAnnealingLR stepped per batch; the loss
  read back and top-1 counted every step (the CLI's defaults for sgd).
- rates, as gradflow's `epoch_images_per_s` and `step_images_per_s` columns define them:
  delivered = images / (epoch start → last batch received), i.e. data wait and steps, the
  end-to-end figure; step = images / the summed time of forward, backward and update.
- then one evaluation pass over DIR/val (untimed, as gradflow's epoch ends with one).

Prints one JSON line: {"delivered_images_per_s", "step_images_per_s", "images", "steps"}.

    ~/torchbench/bin/python scripts/torch-image-pipeline.py --data DIR --arch resnet18 --batch 16
"""
import argparse
import json
import os
import time


def at_least(low):
    def parse(v):
        try:
            n = int(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {v!r}")
        if n < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {n}")
        return n
    return parse


positive = at_least(1)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="an ImageNet-layout folder: train/ and val/")
    p.add_argument("--arch", default="resnet18",
                   choices=["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
    p.add_argument("--batch", type=positive, default=16)
    p.add_argument("--image-size", type=positive, default=224)
    p.add_argument("--workers", type=at_least(0), default=2)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--threads", type=positive, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    for split in ("train", "val"):
        if not os.path.isdir(os.path.join(args.data, split)):
            p.error(f"{os.path.join(args.data, split)}: no such folder (an ImageNet-layout "
                    "folder holds train/ and val/, one subfolder per class)")

    import torch
    import torch.nn.functional as F
    import torchvision
    from torchvision import transforms as T

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    s = args.image_size
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    try:
        train = torchvision.datasets.ImageFolder(
            f"{args.data}/train",
            T.Compose([T.RandomResizedCrop(s), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
        val = torchvision.datasets.ImageFolder(
            f"{args.data}/val",
            T.Compose([T.Resize(s * 256 // 224), T.CenterCrop(s), T.ToTensor(), norm]))
    except (FileNotFoundError, OSError) as e:
        raise SystemExit(f"{args.data}: {e}")
    if len(train) < args.batch:
        raise SystemExit(f"{args.data}/train has {len(train)} images, fewer than one batch of {args.batch}")
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch, shuffle=True,
                                         num_workers=args.workers, drop_last=True)
    model = getattr(torchvision.models, args.arch)(num_classes=len(train.classes))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=len(loader))

    model.train()
    images, steps, hits, step_s = 0, 0, 0, 0.0
    start = time.perf_counter()
    last_received = start
    for x, y in loader:
        last_received = time.perf_counter()
        t0 = last_received
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss_value = loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        hits += (logits.argmax(1) == y).sum().item()
        step_s += time.perf_counter() - t0
        images += len(y)
        steps += 1
        if loss_value != loss_value:
            raise SystemExit(f"step {steps}: the loss is NaN")
    delivered = images / max(last_received - start, 1e-9)

    model.eval()
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(val, batch_size=args.batch,
                                                num_workers=args.workers):
            model(x)
    print(json.dumps({"delivered_images_per_s": delivered,
                      "step_images_per_s": images / max(step_s, 1e-9),
                      "images": images, "steps": steps, "train_top1": hits / max(images, 1)}))


if __name__ == "__main__":
    main()
