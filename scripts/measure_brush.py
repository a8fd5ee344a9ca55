"""Which brush width makes drawn digits look like MNIST's after to_mnist: the share of
inked pixels and their mean ink, per digit, against MNIST's test digits of the same
class (the bundled ones). Prints one row per width; docs/benchmarks.md keeps the result.

    QT_QPA_PLATFORM=offscreen python scripts/measure_brush.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer.widgets.canvas import DrawingCanvas  # noqa: E402
from models.data import load_bundled  # noqa: E402
from models.drawing import DIGIT_STROKES, stroke_statistics, to_mnist  # noqa: E402


def drawn(canvas: DrawingCanvas, digit: int, width: float) -> np.ndarray:
    canvas.clear()
    for points in DIGIT_STROKES[digit]:
        canvas.stroke(points, width=width)
    return to_mnist(canvas.array())


def main() -> int:
    app = QApplication.instance() or QApplication([])  # noqa: F841 (the canvas paints with Qt)
    data = load_bundled("mnist")
    x = data.test_images.astype(np.float32) / 255.0
    target = {d: np.mean([stroke_statistics(i) for i in x[data.test_labels == d]], axis=0) for d in DIGIT_STROKES}
    print("MNIST   " + "  ".join(f"{d}: {s[0]:.3f}/{s[1]:.2f}" for d, s in target.items()))
    canvas = DrawingCanvas()
    best = None
    for width in range(6, 49, 2):
        stats = {d: stroke_statistics(drawn(canvas, d, width)) for d in DIGIT_STROKES}
        err = float(np.mean([np.log(stats[d][0] / target[d][0]) ** 2 for d in DIGIT_STROKES]))
        print(f"w={width:2d}   " + "  ".join(f"{d}: {s[0]:.3f}/{s[1]:.2f}" for d, s in stats.items()) + f"   err {err:.4f}")
        best = min(best or (err, width), (err, width))
    print(f"best width {best[1]} (mean squared log-ratio of the inked share {best[0]:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
