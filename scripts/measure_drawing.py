"""How often mouse-drawn 4s, 7s and 9s land among their own class: several ways of
drawing each digit, each varied by a seeded random tilt, size, aspect, slant and
position, drawn on the real Draw panel (offscreen) and judged by its own vote of the
nearest test codes in each model's latent space. Prints one row per way of drawing
and the share each model names right (in brackets: the share it calls unlike any digit); docs/benchmarks.md keeps the results.

    QT_QPA_PLATFORM=offscreen python scripts/measure_drawing.py [--ae AE.pt] [--vae VAE.pt]
        [--variants 30] [--lean 0.0]

``--lean`` adds a slant to every variant: negative leans the tops to the right, as most
handwriting does (the canvas's y axis points down).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtWidgets import QApplication  # noqa: E402

from models.drawing import DIGIT_STROKES, arc  # noqa: E402

Strokes = list[list[tuple[float, float]]]

# (digit, strokes on the 280 x 280 canvas): the drawing tests' own strokes and other
# common ways of writing the same digits.
STYLES: dict[str, tuple[int, Strokes]] = {
    "4, closed top": (4, DIGIT_STROKES[4]),
    "4, open top": (4, [[(95, 45), (88, 150), (205, 150)], [(172, 50), (172, 235)]]),
    "4, open, slanted": (4, [[(110, 45), (80, 155), (200, 150)], [(180, 50), (160, 235)]]),
    "7": (7, DIGIT_STROKES[7]),
    "7, crossed": (7, [[(80, 50), (200, 50), (122, 235)], [(120, 140), (185, 140)]]),
    "9, round head": (9, [arc(140, 95, 60, 52, 0, -360, 32) + [(200, 150), (190, 235)]]),
    "9, narrow": (9, DIGIT_STROKES[9]),
    "9, curled tail": (9, [arc(140, 95, 48, 45, 0, -360, 32) + [(188, 95), (180, 180), (150, 232), (110, 225)]]),
}
CENTRE = 140.0


def varied(strokes: Strokes, rng: np.random.Generator, lean: float) -> Strokes:
    """The strokes tilted (+-12 degrees), scaled (0.7-1.1), stretched (0.85-1.2 wide),
    slanted (+-0.2 plus ``lean``) and moved (+-25 px) about the canvas's centre."""
    angle = np.radians(rng.uniform(-12, 12))
    scale, aspect = rng.uniform(0.7, 1.1), rng.uniform(0.85, 1.2)
    slant = rng.uniform(-0.2, 0.2) + lean
    shift = rng.uniform(-25, 25, 2)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a = rotate @ np.array([[scale * aspect, slant * scale], [0.0, scale]])
    out = []
    for points in strokes:
        p = (np.asarray(points, dtype=float) - CENTRE) @ a.T + CENTRE + shift
        out.append([(float(x), float(y)) for x, y in np.clip(p, 8, 272)])
    return out


def main(argv: list[str] | None = None) -> int:
    from models.files import bundled_models_dir

    folder = bundled_models_dir("mnist")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ae", type=Path, default=folder / "ae.pt")
    ap.add_argument("--vae", type=Path, default=folder / "vae.pt")
    ap.add_argument("--variants", type=int, default=30)
    ap.add_argument("--lean", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    app = QApplication.instance() or QApplication([])  # noqa: F841 (the canvas paints with Qt)
    from explorer.panels.draw import DrawPanel
    from explorer.panels.workbench import Workbench
    from explorer.startup import images_context
    from models.checkpoint import load_checkpoint
    from models.data import as_float_images, load_bundled
    from models.latent_space import LatentSpace

    data = load_bundled("mnist")
    x = as_float_images(data.test_images)
    slots = []
    for role, path in (("AE", args.ae), ("VAE", args.vae)):
        ckpt = load_checkpoint(path)
        slots.append((ckpt, LatentSpace(ckpt.model, x), role))
    bench = Workbench(dataset=images_context(data.test_images, data.test_labels))
    bench.set_models(slots)
    panel = DrawPanel(workbench=bench)
    panel.resize(1200, 700)
    rng = np.random.default_rng(args.seed)
    print(f"AE {args.ae.name}, VAE {args.vae.name}; {args.variants} variants a style, lean {args.lean:+.2f}")
    right = {"ae": 0, "vae": 0}
    odd = {"ae": 0, "vae": 0}
    for name, (digit, strokes) in STYLES.items():
        named = {"ae": 0, "vae": 0}
        unusual = {"ae": 0, "vae": 0}
        for _ in range(args.variants):
            panel.canvas.clear()
            for points in varied(strokes, rng, args.lean):
                panel.canvas.stroke(points)
            panel.refresh()
            panel.vote_board.wait()  # the votes are set up in the background the first time
            panel.refresh()
            for role in named:
                verdict = panel.verdicts[role]
                named[role] += int(verdict is not None and verdict.label == digit)
                unusual[role] += int(verdict is not None and verdict.unusual)
        for role in right:
            right[role] += named[role]
            odd[role] += unusual[role]
        n = args.variants
        print(f"{name:18s} AE {named['ae'] / n:.2f} ({unusual['ae'] / n:.2f})   VAE {named['vae'] / n:.2f} "
              f"({unusual['vae'] / n:.2f})", flush=True)
    total = args.variants * len(STYLES)
    print(f"{'every style':18s} AE {right['ae'] / total:.3f} ({odd['ae'] / total:.2f})  VAE {right['vae'] / total:.3f} "
          f"({odd['vae'] / total:.2f})")
    panel.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
