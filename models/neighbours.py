"""Each training image's nearest neighbours in pixel space, for the neighbour term
(``models.losses.neighbour_loss``), which asks a 2-D code to keep them near.

A 2-D autoencoder's reconstruction loss alone lets two classes that share strokes
(MNIST's 4 and 9, 3 and 5) overlap: a code is wherever the decoder draws the digit
best, and a 4 with a closed top is drawn as well among the 9s. Pixel-space neighbours
are nearly always the same digit (a 5-NN vote in pixel space is 0.97 right on MNIST),
so asking neighbours to stay near each other in the plane keeps a class together
without any label, as t-SNE and UMAP do (the term is their contrastive form,
Damrich et al. 2023, "From t-SNE to UMAP with contrastive learning").

The table costs N x N distances, so it is made once and cached (``.npz``, keyed by the
images' bytes and k) beside the augmented copies."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from models.files import default_cache_dir, read_cached_array, write_cached_array

# Progress of the table's making: (images done, images in all).
Progress = Callable[[int, int], None]
CHUNK = 1000
CACHE_VERSION = 1


def pixel_neighbours(
    images: torch.Tensor,
    k: int,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """The ``k`` nearest other images of every row of ``images`` (N, D) by Euclidean
    distance, nearest first: a long tensor (N, k) of row indices (never the row itself)."""
    if images.ndim != 2:
        raise ValueError(f"neighbours are found between flat images (N, D), got shape {tuple(images.shape)}")
    n = images.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and {n - 1} for {n} images, got {k}")
    x = images.detach().cpu().to(torch.float32)
    cache = _cache_path(x, k)
    table = _read_cache(cache, n, k)
    if table is not None:
        if progress is not None:
            progress(n, n)
        return torch.from_numpy(table).long()
    sq = (x * x).sum(1)
    out = torch.empty((n, k), dtype=torch.int32)
    for start in range(0, n, CHUNK):
        if should_stop is not None and should_stop():
            raise InterruptedError("stopped while the neighbours were found")
        part = x[start : start + CHUNK]
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2; |a|^2 is the same along a row, so left out.
        d2 = sq[None, :] - 2 * part @ x.T
        rows = torch.arange(start, start + len(part))
        d2[torch.arange(len(part)), rows] = float("inf")  # never one's own neighbour
        out[start : start + len(part)] = torch.topk(d2, k, dim=1, largest=False).indices.to(torch.int32)
        if progress is not None:
            progress(start + len(part), n)
    write_cached_array(cache, "neighbours", out.numpy())
    return out.long()


def _cache_path(images: torch.Tensor, k: int) -> Path:
    h = hashlib.sha256()
    h.update(repr((CACHE_VERSION, k, tuple(images.shape))).encode())
    h.update(images.numpy().tobytes())
    return default_cache_dir() / "neighbours" / f"{h.hexdigest()[:32]}.npz"


def _read_cache(path: Path, n: int, k: int) -> np.ndarray | None:
    """The cached table if it has the right shape and indices, else None."""
    table = read_cached_array(path, "neighbours")
    if table is None or table.dtype != np.int32 or table.shape != (n, k):
        return None
    if table.min(initial=0) < 0 or table.max(initial=0) >= n:
        return None
    return table
