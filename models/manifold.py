"""The decoded manifold as one picture: images decoded on an n x n lattice of a
latent plane, tiled (optionally with one-pixel gutters) into a uint8 array, and
written as a PNG. The lattice and its decoding are ``LatentSpace.manifold``'s, the
same as the plots' "Decoded manifold" background."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from models.files import ExportError, atomic_write_bytes, check_folder

MIN_CELLS = 2
MAX_CELLS = 60
GUTTER_VALUE = 255  # white lines between the tiles read as a grid on a slide


class Manifold(Protocol):
    """What a grid is decoded from: ``models.latent_space.LatentSpace``."""

    def manifold(self, *, x_range: tuple[float, float], y_range: tuple[float, float],
                 n: int | tuple[int, int] = 15) -> np.ndarray: ...


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8 0-255 (rounded, clipped)."""
    return (np.clip(np.nan_to_num(np.asarray(images, dtype=np.float32)), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def manifold_grid(space: Manifold, x_range: tuple[float, float], y_range: tuple[float, float], n: int, *,
                  gutter: int = 0, tile: tuple[int, int] = (28, 28)) -> np.ndarray:
    """``space``'s images decoded on an n x n lattice from the first to the last value
    of each range, as one uint8 array of n*H + (n-1)*gutter pixels a side (with a last
    axis of 3 for colour); row 0 is the top (largest y), as on the plot. ``tile`` is one
    decoded image's (H, W)."""
    if not MIN_CELLS <= n <= MAX_CELLS:
        raise ValueError(f"the grid needs {MIN_CELLS} to {MAX_CELLS} images a side, got {n}")
    for name, (lo, hi) in (("x", x_range), ("y", y_range)):
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ValueError(f"the {name} range must run from a smaller to a larger finite number, got {lo}, {hi}")
    tiled = to_uint8(space.manifold(x_range=x_range, y_range=y_range, n=n))
    h, w = tile
    if tiled.shape[:2] != (n * h, n * w) or tiled.ndim not in (2, 3):
        raise ValueError(f"expected {n} x {n} tiles of {h} x {w} pixels, got an image of {tiled.shape}")
    if gutter <= 0:
        return tiled
    side_h, side_w = n * h + (n - 1) * gutter, n * w + (n - 1) * gutter
    out = np.full((side_h, side_w, *tiled.shape[2:]), GUTTER_VALUE, dtype=np.uint8)  # colour keeps its channels
    for r in range(n):
        for c in range(n):
            out[r * (h + gutter): r * (h + gutter) + h, c * (w + gutter): c * (w + gutter) + w] = \
                tiled[r * h:(r + 1) * h, c * w:(c + 1) * w]
    return out


def grid_tile(grid: np.ndarray, row: int, col: int, *, gutter: int = 0, tile: tuple[int, int] = (28, 28)) -> np.ndarray:
    """The tile at (row, col) of a grid made by ``manifold_grid`` (row 0 at the top)."""
    h, w = tile
    return grid[row * (h + gutter): row * (h + gutter) + h, col * (w + gutter): col * (w + gutter) + w]


def lattice(x_range: tuple[float, float], y_range: tuple[float, float], n: int) -> np.ndarray:
    """The plane points (n, n, 2) the grid's tiles are decoded at, row 0 at the largest y."""
    xs = np.linspace(x_range[0], x_range[1], n)
    ys = np.linspace(y_range[1], y_range[0], n)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], axis=2)


def spread_range(xy: np.ndarray, sigmas: float = 2.0) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x_range, y_range): the codes' mean plus and minus ``sigmas`` standard deviations
    along each plane axis."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    mean, std = xy.mean(axis=0), np.maximum(xy.std(axis=0), 1e-6)
    lo, hi = mean - sigmas * std, mean + sigmas * std
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 (H, W) grey or (H, W, 3) RGB image as a PNG, atomically (a failure
    leaves any previous file as it was)."""
    path = check_folder(path, suffixes=(".png",))
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or a.size == 0:
        raise ExportError(f"{path}: expected a uint8 H x W or H x W x 3 image, got {a.dtype} {a.shape}")
    import imageio.v2 as imageio

    buf = io.BytesIO()
    imageio.imwrite(buf, a, format="PNG")
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        raise ExportError(f"{path}: could not write the PNG ({exc.strerror or exc})") from exc
    return path
