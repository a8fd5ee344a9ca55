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

__all__ = ["BOX", "FIELD", "INK_THRESHOLD", "centre_of_mass", "to_mnist"]

FIELD = 28
BOX = 20
# Canvas values at or below this are background: antialiasing fuzz and stray
# specks would otherwise widen the bounding box and pull the centre of mass.
INK_THRESHOLD = 0.05


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


def to_mnist(canvas: np.ndarray, *, threshold: float = INK_THRESHOLD) -> np.ndarray | None:
    """A drawn canvas (uint8 or float in [0, 1], any size) as a 28 x 28 float32 MNIST-like image.

    Returns None when nothing is drawn (no pixel above ``threshold``).
    """
    a = _as_unit_float(canvas)
    ink = a > threshold
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(ink.any(axis=0))
    crop = np.where(ink, a, 0.0)[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    # Antialiased bilinear averages over the whole footprint when shrinking
    # (soft edges, thin strokes do not vanish) and interpolates when enlarging.
    small = F.interpolate(
        torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None, None],
        size=size, mode="bilinear", antialias=True, align_corners=False,
    )[0, 0].numpy()
    peak = small.max()
    if not peak > 0:
        return None
    # MNIST strokes reach full intensity; a light pen or a thin brush shrunk a
    # lot would otherwise give a faint digit the models have never seen.
    small = np.clip(small / peak, 0.0, 1.0)
    com_r, com_c = centre_of_mass(small)
    centre = (FIELD - 1) / 2.0
    # Whole-pixel shift (centre of mass lands within half a pixel), clipped so
    # no ink falls off the field for a lopsided drawing.
    top = int(np.clip(round(centre - com_r), 0, FIELD - size[0]))
    left = int(np.clip(round(centre - com_c), 0, FIELD - size[1]))
    out = np.zeros((FIELD, FIELD), dtype=np.float32)
    out[top : top + size[0], left : left + size[1]] = small
    return out
