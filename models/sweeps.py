"""Frames for animations of a latent space: the decoded images along an interpolation
path, or along a circle walked in the VAE's prior N(0, I), one frame a step, each
model's image side by side, scaled up with nearest-neighbour pixels. Written with
``models.animation.write_animation``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from models.manifold import to_uint8

SCALE = 8  # a 28 x 28 digit becomes 224 x 224: readable on a slide, crisp pixels
GAP_VALUE = 128  # mid grey between the models' images, so neither seems to run into the other
SWEEP_STEPS = 36
SWEEP_RADIUS = 1.5  # prior standard deviations: inside the 2-sigma circle, where the VAE's digits live


class Space(Protocol):
    """What frames are decoded from: ``models.latent_space.LatentSpace``."""

    latent: int
    codes: np.ndarray

    def decode_codes(self, codes: np.ndarray) -> np.ndarray: ...

    def plane_axes(self) -> np.ndarray: ...

    def interpolate_images(self, i: int, j: int, steps: int) -> tuple[np.ndarray, np.ndarray]: ...


def scale_up(image: np.ndarray, factor: int = SCALE) -> np.ndarray:
    """An (H, W) or (H, W, 3) image -> (H*factor, W*factor[, 3]) uint8, each pixel a factor x factor block."""
    if factor < 1:
        raise ValueError(f"the scale factor must be at least 1, got {factor}")
    a = np.asarray(image)
    a = a if a.dtype == np.uint8 else to_uint8(a)
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)


def side_by_side(images: Sequence[np.ndarray], *, factor: int = SCALE) -> np.ndarray:
    """One frame: each image scaled up, left to right, a gap of ``factor`` pixels between."""
    if not images:
        raise ValueError("a frame needs at least one image")
    tiles = [scale_up(im, factor) for im in images]
    h = tiles[0].shape[0]
    gap = np.full((h, factor, *tiles[0].shape[2:]), GAP_VALUE, dtype=np.uint8)  # colour frames keep their channels
    parts: list[np.ndarray] = []
    for k, t in enumerate(tiles):
        if k:
            parts.append(gap)
        parts.append(t)
    return np.concatenate(parts, axis=1)


def frames_from(images_per_model: Sequence[np.ndarray], *, factor: int = SCALE) -> list[np.ndarray]:
    """Frames from each model's images (steps, H, W): frame k shows every model's image k."""
    if not images_per_model:
        raise ValueError("there is no model to make frames from")
    steps = {len(imgs) for imgs in images_per_model}
    if len(steps) != 1:
        raise ValueError(f"every model needs the same number of images, got {sorted(steps)}")
    return [side_by_side([imgs[k] for imgs in images_per_model], factor=factor) for k in range(steps.pop())]


def interpolation_frames(spaces: Sequence[Space], a: int, b: int, steps: int, *, factor: int = SCALE) -> list[np.ndarray]:
    """One frame per step of the straight path from test image a's code to b's (the
    path the Explore panel draws), every model side by side."""
    return frames_from([s.interpolate_images(a, b, steps)[1] for s in spaces], factor=factor)


def prior_circle(space: Space, steps: int = SWEEP_STEPS, radius: float = SWEEP_RADIUS) -> np.ndarray:
    """``steps`` codes on a circle of ``radius`` around the prior's mean (the origin), in
    the plane the plot shows (the latent plane itself for a 2-D code): a walk through
    the prior N(0, I) that the plot draws as a circle."""
    if steps < 2:
        raise ValueError(f"a sweep needs at least 2 steps, got {steps}")
    t = np.linspace(0.0, 2.0 * np.pi, steps, endpoint=False)
    axes = np.asarray(space.plane_axes(), dtype=np.float64)
    return radius * (np.cos(t)[:, None] * axes[0] + np.sin(t)[:, None] * axes[1])


def sweep_frames(spaces: Sequence[Space], steps: int = SWEEP_STEPS, radius: float = SWEEP_RADIUS, *,
                 factor: int = SCALE) -> list[np.ndarray]:
    """One frame per step of the prior circle, every model side by side."""
    return frames_from([s.decode_codes(prior_circle(s, steps, radius)) for s in spaces], factor=factor)
