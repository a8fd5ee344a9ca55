"""Writer augmentation: training batches in which a share of the digits comes as another
writer and scanner would have made it, so that the models learn to put such digits
where their class is.

The distortions are ``models.foreign``'s family (elastic and affine warps, thicker or
thinner strokes, a soft low-resolution re-scan, then the app's own ``to_mnist``), drawn
for the training images with the run's own seed; the held-out stand-in that measures
robustness is drawn from the test images with its fixed seed, so no image and no draw
is shared. The encoder sees the distorted copy while the loss asks for the original
image: a code must then say which digit it is, not how it was written, which is what
the nearest-code vote needs (reconstructing the distorted copy instead spends the
latent space on slant and stroke width).

Distorting a digit costs about a millisecond (``to_mnist`` per image), too slow to redo
every batch, so ``copies`` distorted versions of the training set are made once before
the first step and each batch draws from them. They are cached (``.npz``, keyed by the
images' bytes, the seed and the preprocessing's settings): the copies are drawn one
after another from one generator, so a cached set of more copies serves a run that
asks for fewer, and the second model trained on the same digits starts at once."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from models import drawing
from models.data import IMAGE_SHAPE
from models.files import default_cache_dir, read_cached_array, write_cached_array

# Progress of the pool's making: (images done, images in all).
Progress = Callable[[int, int], None]
CHUNK = 2000
# Bump when models.foreign's distortions change, so old cached copies are not reused.
CACHE_VERSION = 1


class AugmentError(ValueError):
    """Writer augmentation cannot be used with these images or settings."""


class WriterAugment:
    """A pool of distorted copies of the training images and the batches drawn from it.

    ``train_x``: float tensor (N, 784) in [0, 1] (28 x 28 grey digits). ``share``: the
    expected share of each batch replaced by a distorted copy (0 < share <= 1)."""

    def __init__(
        self,
        train_x: torch.Tensor,
        *,
        share: float,
        copies: int,
        seed: int,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        if not 0 < share <= 1:
            raise AugmentError(f"the augmented share must be in (0, 1], got {share}")
        if copies < 1:
            raise AugmentError(f"augmentation needs at least one distorted copy, got {copies}")
        pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
        if train_x.ndim != 2 or train_x.shape[1] != pixels:
            raise AugmentError(
                f"writer augmentation is made for 28 x 28 grey digits; these images have {train_x.shape[1]} values each"
            )
        from models.foreign import distort_digits

        self.share = share
        self.copies = copies
        n = train_x.shape[0]
        images = train_x.detach().cpu().reshape(n, *IMAGE_SHAPE).numpy()
        cache = _cache_path(images, seed)
        pool = _read_cache(cache, copies, n)
        if pool is None:
            # uint8 keeps the pool at a quarter of float32's memory (47 MB per copy of 60,000).
            pool = np.empty((copies, n, pixels), dtype=np.uint8)
            g = torch.Generator().manual_seed(seed + 7919)  # not the stand-in's seeds (0, 1)
            done, total = 0, copies * n
            for c in range(copies):
                for start in range(0, n, CHUNK):
                    if should_stop is not None and should_stop():
                        raise InterruptedError("stopped while the augmented copies were made")
                    part = distort_digits(images[start : start + CHUNK], g)
                    pool[c, start : start + len(part)] = np.rint(part.reshape(len(part), -1) * 255).astype(np.uint8)
                    done += len(part)
                    if progress is not None:
                        progress(done, total)
            write_cached_array(cache, "pool", pool)
        elif progress is not None:
            progress(copies * n, copies * n)
        self.pool = torch.from_numpy(np.ascontiguousarray(pool[:copies]))

    def replaced(
        self, batch: torch.Tensor, index: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's inputs for ``batch`` (the clean images at training-set positions
        ``index``): each row replaced, with probability ``share``, by one of its
        distorted copies; and the positions in ``batch`` of the rows it replaced (1-D,
        long), which the nearest-code term (models.losses.nearest_code_loss) pairs with
        their originals."""
        n = batch.shape[0]
        pick = torch.rand(n, generator=generator, device=generator.device) < self.share
        copy = torch.randint(0, self.copies, (n,), generator=generator, device=generator.device)
        rows = torch.nonzero(pick).flatten()
        if len(rows) == 0:
            return batch, rows.to(batch.device)
        idx = index[rows].cpu()
        distorted = self.pool[copy[rows].cpu(), idx].to(batch.device, torch.float32) / 255.0
        out = batch.clone()
        rows = rows.to(batch.device)
        out[rows] = distorted
        return out, rows


def _cache_path(images: np.ndarray, seed: int) -> Path:
    h = hashlib.sha256()
    h.update(repr((CACHE_VERSION, seed, images.shape, drawing.INK_TARGET, drawing.SHARPEN_SIGMA,
                   drawing.SHARPEN_STEPS)).encode())
    h.update(np.ascontiguousarray(images, dtype=np.float32).tobytes())
    return default_cache_dir() / "augment" / f"{h.hexdigest()[:32]}.npz"


def _read_cache(path: Path, copies: int, n: int) -> np.ndarray | None:
    """The cached copies when there are at least ``copies`` of the right shape, else None."""
    pool = read_cached_array(path, "pool")
    if pool is None or pool.dtype != np.uint8 or pool.ndim != 3 or pool.shape[0] < copies or pool.shape[1] != n:
        return None
    return pool
