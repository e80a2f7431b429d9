#!/usr/bin/env python3
"""Build the embedded default data set of `gradflow vanishing` from Fashion-MNIST.

Fashion-MNIST (Zalando Research, MIT licence) as installed by scripts/fetch-data.sh. The subset
is class-balanced (the first TRAIN_PER_CLASS / TEST_PER_CLASS images of each class, in file
order, then shuffled with a fixed seed) and downsampled from 28x28 to 14x14 by 2x2 averaging
(rounded), so the binary stays small. It is written as standard gzip'd IDX files, the same
format the lab reads from disk.

    python3 scripts/make-embedded-data.py [SRC_DIR] [OUT_DIR]

Pure Python (no numpy); reruns are byte-identical (gzip mtime 0).
"""
import gzip
import random
import struct
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
OUT = sys.argv[2] if len(sys.argv) > 2 else "crates/gradflow/assets/fashion-mnist-14"
TRAIN_PER_CLASS, TEST_PER_CLASS, SEED = 600, 150, 20261205


def read_idx(path):
    b = gzip.open(path).read()
    nd = b[3]
    dims = struct.unpack(">" + "I" * nd, b[4 : 4 + 4 * nd])
    return dims, b[4 + 4 * nd :]


def subset(prefix, per_class):
    (n, h, w), pixels = read_idx(f"{SRC}/{prefix}-images-idx3-ubyte.gz")
    (_,), labels = read_idx(f"{SRC}/{prefix}-labels-idx1-ubyte.gz")
    taken = {c: 0 for c in range(10)}
    idx = []
    for i, y in enumerate(labels):
        if taken[y] < per_class:
            taken[y] += 1
            idx.append(i)
    random.Random(SEED).shuffle(idx)
    out = bytearray()
    for i in idx:
        img = pixels[i * h * w : (i + 1) * h * w]
        for r in range(0, h, 2):
            for c in range(0, w, 2):
                s = img[r * w + c] + img[r * w + c + 1] + img[(r + 1) * w + c] + img[(r + 1) * w + c + 1]
                out.append((s + 2) // 4)
    return len(idx), bytes(out), bytes(labels[i] for i in idx)


def write(path, header, body):
    with open(path, "wb") as f:
        f.write(gzip.compress(header + body, compresslevel=9, mtime=0))


for prefix, k in [("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)]:
    n, images, labels = subset(prefix, k)
    write(f"{OUT}/{prefix}-images-idx3-ubyte.gz", struct.pack(">IIII", 0x0803, n, 14, 14), images)
    write(f"{OUT}/{prefix}-labels-idx1-ubyte.gz", struct.pack(">II", 0x0801, n), labels)
    print(prefix, n, "images")
