"""A held-out stand-in for other people's handwriting, made from MNIST's test digits.

Digits from other writers and scanners differ from MNIST's in ways MNIST's own test
set does not show: slant and size, wobble, stroke width, and soft or low-resolution
scans. Each test digit gets one fixed, seeded mix of those (an elastic deformation,
an affine warp, thicker or thinner strokes, and a soft re-scan at a lower
resolution), drawn at twice MNIST's resolution and then put through the app's own
preprocessing (``models.drawing.to_mnist``), as a drawing or a scan would be. The same
seed gives the same images everywhere, so figures on it compare across models.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.data import unit_floats
from models.drawing import separable_blur, to_mnist

SCALE = 2  # the distortions work at twice MNIST's resolution
ELASTIC_ALPHA = 1.2  # standard deviation of the displacement, MNIST pixels (Simard et al. 2003 style fields)
ELASTIC_SIGMA = 3.0  # smoothness of the displacement field, MNIST pixels
MAX_ROTATION_DEG = 18.0
SCALE_RANGE = (0.8, 1.15)
MAX_SHEAR = 0.3
STROKE_HALF_WIDTH = 1  # thicken or thin each side of a stroke by this many pixels at SCALE
RESCAN_SIDES = (14, 22)  # a soft re-scan at this many pixels, then back up
BATCH = 500


def _warp(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Elastic field plus a random affine map, in one grid_sample."""
    n, _, h, w = x.shape
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    angle = torch.deg2rad((u(n) * 2 - 1) * MAX_ROTATION_DEG)
    scale = SCALE_RANGE[0] + u(n) * (SCALE_RANGE[1] - SCALE_RANGE[0])
    shear = (u(n) * 2 - 1) * MAX_SHEAR
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + shear * cos
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos + shear * sin
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # A smooth random displacement field (in grid units: 2 / side per pixel).
    # The field is smooth, so it is made at a quarter of the resolution and enlarged.
    coarse = separable_blur(torch.randn(n, 2, h // 4, w // 4, generator=g), ELASTIC_SIGMA * SCALE / 4, pad="reflect")
    field = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    field = field / field.flatten(1).std(dim=1).clamp_min(1e-8).view(n, 1, 1, 1)
    field = field * ELASTIC_ALPHA * SCALE * (2.0 / w)
    grid = grid + field.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _stroke_width(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Thicker (grey dilation), thinner (grey erosion) or unchanged strokes, a third each."""
    k = 2 * STROKE_HALF_WIDTH + 1
    thick = F.max_pool2d(x, k, stride=1, padding=k // 2)
    thin = -F.max_pool2d(-x, k, stride=1, padding=k // 2)
    choice = torch.randint(0, 3, (len(x),), generator=g).view(-1, 1, 1, 1)
    return torch.where(choice == 0, thick, torch.where(choice == 1, thin, x))


def _rescan(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A soft, low-resolution scan: shrunk to 14-22 pixels, back up, with a soft gamma."""
    out = torch.empty_like(x)
    sides = torch.randint(RESCAN_SIDES[0], RESCAN_SIDES[1] + 1, (len(x),), generator=g)
    gamma = 0.6 + torch.rand(len(x), generator=g) * 0.6  # below 1: soft, wide strokes
    for side in sides.unique().tolist():
        sel = sides == side
        small = F.interpolate(x[sel], size=(side, side), mode="area")
        out[sel] = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return out.clamp(0, 1) ** gamma.view(-1, 1, 1, 1)


def distort_digits(images: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """Each digit of ``images`` (N, 28, 28; uint8 or float in [0, 1]) distorted once by
    draws from ``generator`` and preprocessed by ``to_mnist``: float32 (N, 28, 28). A
    digit the distortions left without ink stays as it was. The stand-in below and the
    training augmentation (``models.augment``) both draw from this one family."""
    x = unit_floats(np.asarray(images))
    if x.ndim != 3:
        raise ValueError(f"need images (N, H, W), got shape {x.shape}")
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, len(x), BATCH):
        t = torch.from_numpy(np.ascontiguousarray(x[start : start + BATCH]))[:, None]
        large = F.interpolate(t, scale_factor=SCALE, mode="bilinear", align_corners=False)
        scanned = _rescan(_stroke_width(_warp(large, generator), generator), generator)[:, 0].numpy()
        for i, img in enumerate(scanned):
            made = to_mnist(img)
            out[start + i] = x[start + i] if made is None else made
    return out


def foreign_digits(images: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The stand-in for ``images`` (N, 28, 28; uint8 or float in [0, 1]): float32
    (N, 28, 28), each digit distorted once with the fixed seed and preprocessed by
    ``to_mnist``."""
    return distort_digits(images, torch.Generator().manual_seed(seed))
