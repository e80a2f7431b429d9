#!/usr/bin/env python3
# A small ImageNet-layout JPEG folder for the loader-overhead check and the end-to-end row of
# docs/benchmarks.md: 10 classes, 24 train and 4 val images each unless told otherwise,
# 375×500 (ImageNet's typical size), quality 90, textured content.
#
#     python3 scripts/make-jpeg-folder.py DIR [TRAIN_PER_CLASS VAL_PER_CLASS]
import os, random
from PIL import Image, ImageDraw, ImageFilter
random.seed(0)
import sys
root = sys.argv[1] if len(sys.argv) > 1 else "jpeg-folder"
try:
    counts = [int(a) for a in sys.argv[2:4]] if len(sys.argv) > 3 else [24, 4]
except ValueError:
    sys.exit(f"images per class must be whole numbers, got {sys.argv[2:4]}")
if min(counts) < 1:
    sys.exit(f"images per class must be at least 1, got {counts}")
for split, n in zip(("train", "val"), counts):
    for c in range(10):
        d = os.path.join(root, split, f"class{c:02d}")
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            im = Image.effect_noise((500, 375), 40 + 8 * c).convert("RGB")
            dr = ImageDraw.Draw(im)
            for _ in range(12):
                x, y = random.randrange(500), random.randrange(375)
                r = random.randrange(10, 80)
                col = tuple(random.randrange(256) for _ in range(3))
                dr.ellipse([x - r, y - r, x + r, y + r], fill=col)
            im = im.filter(ImageFilter.GaussianBlur(1))
            im.save(os.path.join(d, f"{i:03d}.jpg"), quality=90)
