"""Turn a hand-drawn canvas into an MNIST-like 28 x 28 image.

MNIST digits were size-normalised to fit a 20 x 20 box (aspect ratio kept,
antialiased, so edges are soft) and then placed in a 28 x 28 field with their
centre of mass at the centre. A drawing must go through the same steps before
a model trained on MNIST can make sense of it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.data import unit_floats

__all__ = ["BOX", "CENTRE", "DIGIT_STROKES", "FIELD", "INK_TARGET", "INK_THRESHOLD", "arc", "centre_of_mass", "match_ink", "stroke_statistics", "to_mnist"]

FIELD = 28
BOX = 20
# Canvas values at or below this are background: antialiasing fuzz and stray
# specks would otherwise widen the bounding box and pull the centre of mass.
INK_THRESHOLD = 0.05
# Where MNIST's test digits have their centre of mass, in pixel-index coordinates:
# (13.99, 14.01) on average over the 10,000 (docs/benchmarks.md), not the field's
# middle 13.5.
CENTRE = FIELD / 2.0
MARGIN = 2  # output pixels kept around the 20-pixel box for the soft edges
# Soft strokes (a blurred scan, a soft pen) are sharpened until the mean ink of their
# inked pixels reaches this: the 2nd percentile of MNIST's test digits (they average
# 0.74), so MNIST-like input passes untouched (docs/benchmarks.md says what it does
# for the stand-in for other writers).
INK_TARGET = 0.62
SHARPEN_SIGMA = 1.5  # the unsharp mask's blur, in output pixels
SHARPEN_STEPS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def arc(cx: float, cy: float, rx: float, ry: float, start_deg: float, end_deg: float, n: int = 24) -> list[tuple[float, float]]:
    """``n`` points of an ellipse's arc from ``start_deg`` to ``end_deg`` (y down), for strokes."""
    t = np.radians(np.linspace(start_deg, end_deg, n))
    return [(float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in t]


# Digits as a user draws them with a mouse on the 280 x 280 canvas, (x, y) points of one
# polyline per stroke, about 190 pixels tall: what the brush width is matched with.
DIGIT_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [arc(140, 140, 58, 95, -90, 270, 40)],
    1: [[(150, 45), (130, 235)]],
    2: [arc(140, 95, 52, 48, 190, 400, 24) + [(92, 228), (200, 226)]],
    3: [arc(135, 92, 50, 47, -160, 90, 24) + arc(135, 184, 56, 48, -90, 165, 24)],
    4: [[(150, 45), (82, 170), (202, 170)], [(168, 92), (168, 235)]],
    7: [[(80, 50), (200, 50), (122, 235)]],
    9: [arc(137, 96, 50, 48, 0, -360, 32) + [(185, 150), (176, 235)]],
}


def stroke_statistics(image: np.ndarray, *, level: float = 0.1) -> tuple[float, float]:
    """How thick and how dark a 28 x 28 digit's strokes are: the share of pixels
    holding more than ``level`` of ink, and the mean ink of those pixels."""
    a = np.asarray(image, dtype=np.float32)
    inked = a > level
    return float(inked.mean()), float(a[inked].mean()) if inked.any() else 0.0


def _as_unit_float(canvas: np.ndarray) -> np.ndarray:
    a = np.asarray(canvas)
    if a.ndim != 2:
        raise ValueError(f"a canvas must be a 2-D grayscale image, got an array of shape {a.shape}")
    if a.dtype == np.uint8:
        return unit_floats(a)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise TypeError(f"a canvas must hold numbers (uint8 0-255 or float 0-1), got dtype {a.dtype}")
    # NaN (an uninitialised pixel) counts as no ink rather than spreading into the output.
    return np.clip(np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted mean (row, col) of a 2-D image, in pixel-index coordinates."""
    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {a.shape}")
    total = a.sum()
    if not total > 0:
        raise ValueError("an image without ink has no centre of mass")
    rows = np.arange(a.shape[0], dtype=np.float64)
    cols = np.arange(a.shape[1], dtype=np.float64)
    return float(a.sum(axis=1) @ rows / total), float(a.sum(axis=0) @ cols / total)


def _half_max_edges(profile: np.ndarray, first: int, last: int, reach: int) -> tuple[float, float]:
    """Where the ink of a row or column profile begins and ends, in edge coordinates
    (pixel i covers [i, i + 1)): where the profile first reaches half of its level
    near each end. A hard edge gives the pixel boundary and a soft (blurred or
    antialiased) edge its middle, which is where the stroke's boundary was before
    blurring; a fixed threshold would put a soft edge too far out."""

    def begin(q: np.ndarray, j0: int) -> float:
        half = q[j0 : j0 + reach].max() / 2.0
        j = j0
        while q[j] < half:
            j += 1
        prev = float(q[j - 1]) if j > 0 else 0.0
        # Linear between pixel centres j - 1 and j, then + 0.5 from centres to edges.
        return j - 0.5 + (half - prev) / (float(q[j]) - prev)

    n = len(profile)
    return begin(profile, first), n - begin(profile[::-1], n - 1 - last)


def _resample(crop: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None, None]
    if size[0] <= crop.shape[0] and size[1] <= crop.shape[1]:
        # Shrinking: each output pixel is the mean of what it covers, the way MNIST's
        # grey levels came from how much of a pixel the pen covered.
        return F.interpolate(t, size=size, mode="area")[0, 0].numpy()
    return F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)[0, 0].numpy()


def separable_blur(x: torch.Tensor, sigma: float, *, pad: str = "constant") -> torch.Tensor:
    """Images (N, C, H, W) blurred by a Gaussian of ``sigma`` pixels, row then column, with
    torch's padding ``pad`` ("constant": zeros, "reflect"). ``models.foreign``'s warps
    blur with it too."""
    r = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    n, c, h, w = x.shape
    x = x.reshape(n * c, 1, h, w)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode=pad), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode=pad), k.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w)


def match_ink(img: np.ndarray) -> np.ndarray:
    """Strokes as crisp as MNIST's: an image whose inked pixels hold less ink on average
    than ``INK_TARGET`` gets the weakest unsharp mask (of ``SHARPEN_STEPS``) that lifts
    it there. A soft scan or pen spreads each stroke into a wide grey band; the models
    only know MNIST's dark cores with thin soft edges, and sharpening gives those back."""
    if stroke_statistics(img)[1] >= INK_TARGET:
        return img
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    detail = img - separable_blur(t, SHARPEN_SIGMA)[0, 0].numpy()
    for amount in SHARPEN_STEPS:
        out = np.clip(img + amount * detail, 0.0, 1.0)
        if stroke_statistics(out)[1] >= INK_TARGET:
            break
    return out.astype(np.float32)


def to_mnist(canvas: np.ndarray, *, threshold: float = INK_THRESHOLD) -> np.ndarray | None:
    """A drawn canvas (uint8 or float in [0, 1], any size) as a 28 x 28 float32 MNIST-like image.

    As MNIST was made: the ink's bounding box is scaled (aspect ratio kept) so that
    its longer side spans 20 pixels exactly, with its edges on pixel boundaries; the
    ink is averaged into those pixels; the result is shifted by whole pixels so
    that its centre of mass lands within half a pixel of (14, 14), where MNIST's
    test digits have theirs on average. Strokes softer than MNIST's are sharpened
    (``match_ink``). Returns None when nothing is drawn (no
    pixel above ``threshold``).
    """
    a = _as_unit_float(canvas)
    ink = a > threshold
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(ink.any(axis=0))
    a = np.where(ink, a, 0.0).astype(np.float32)
    # An edge's softness is judged over about one output pixel (a twentieth of the box).
    reach = max(1, max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) // BOX)
    r0, r1 = _half_max_edges(a.max(axis=1), rows[0], rows[-1], reach)
    c0, c1 = _half_max_edges(a.max(axis=0), cols[0], cols[-1], reach)
    scale = BOX / max(r1 - r0, c1 - c0, 1e-6)
    # A margin of MARGIN output pixels around the box keeps the soft edges' outer halves.
    margin_in = MARGIN / scale
    pad = int(np.ceil(margin_in)) + 1
    padded = np.pad(a, pad)

    def span(lo: float, hi: float) -> tuple[slice, int]:
        n_out = max(1, round((hi - lo) * scale)) + 2 * MARGIN
        start = round(lo - margin_in) + pad
        return slice(start, start + max(1, round(n_out / scale))), n_out

    (rs, rn), (cs, cn) = span(r0, r1), span(c0, c1)
    small = _resample(padded[rs, cs], (rn, cn))
    peak = small.max()
    if not peak > 0:
        return None
    # MNIST strokes reach full intensity; a light pen or a thin brush shrunk a
    # lot would otherwise give a faint digit the models have never seen.
    small = match_ink(np.clip(small / peak, 0.0, 1.0))
    if not small.max() > 0:
        return None
    com_r, com_c = centre_of_mass(small)
    # Whole-pixel shift, clipped so that no part of the box falls off the field for a
    # lopsided drawing (only the margins around it may be cut).
    top = int(np.clip(round(CENTRE - com_r), -MARGIN, FIELD - rn + MARGIN)) + rn
    left = int(np.clip(round(CENTRE - com_c), -MARGIN, FIELD - cn + MARGIN)) + cn
    big = np.zeros((FIELD + 2 * rn, FIELD + 2 * cn), dtype=np.float32)
    big[top : top + rn, left : left + cn] = small
    return np.ascontiguousarray(big[rn : rn + FIELD, cn : cn + FIELD])
