"""Write a small image folder to try the app on your own images with: coloured circles,
squares and triangles (one sub-folder per class), 36 x 36 PNGs.

    python scripts/make_shapes.py /tmp/shapes [--count 200]
    python main.py --images /tmp/shapes --size 32
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"circle": (220, 40, 40), "square": (40, 180, 60), "triangle": (40, 80, 220)}


def make_shapes(root: Path, count: int = 200, *, seed: int = 0) -> Path:
    """``count`` images, the classes in turn, each shape at a random place and size."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        name = list(COLOURS)[k % len(COLOURS)]
        (root / name).mkdir(parents=True, exist_ok=True)
        im = Image.new("RGB", (36, 36), (10, 10, 10))
        d = ImageDraw.Draw(im)
        r, cx, cy = int(rng.integers(7, 14)), int(rng.integers(14, 22)), int(rng.integers(14, 22))
        box = [cx - r, cy - r, cx + r, cy + r]
        if name == "circle":
            d.ellipse(box, fill=COLOURS[name])
        elif name == "square":
            d.rectangle(box, fill=COLOURS[name])
        else:
            d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=COLOURS[name])
        im.save(root / name / f"{k}.png")
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--count", type=int, default=200)
    args = p.parse_args(argv)
    make_shapes(args.folder, args.count)
    print(f"wrote {args.count} images in {len(COLOURS)} classes to {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
