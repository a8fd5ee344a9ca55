"""Small colour images the tests make: a filled circle, square or triangle (3
classes) on a dark background, each class in its own hue with a little jitter, at a
random place and size. The colour follows from the shape, so a model can learn to
colour a grey picture of one."""
from __future__ import annotations

import numpy as np

CLASSES = ("circle", "square", "triangle")
# Red circles, green squares, blue triangles (0-255).
HUES = np.array([[220, 50, 40], [50, 190, 60], [40, 80, 225]], dtype=np.float64)


def coloured_shapes(n: int, *, side: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, side, side, 3) channels-last, labels int64 (n,))."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    r = np.arange(side)[None, :, None] + 0.5
    c = np.arange(side)[None, None, :] + 0.5
    radius = rng.uniform(0.22, 0.34, n)[:, None, None] * side
    cy = rng.uniform(0.38, 0.62, n)[:, None, None] * side
    cx = rng.uniform(0.38, 0.62, n)[:, None, None] * side
    dy, dx = r - cy, c - cx
    circle = dy**2 + dx**2 <= radius**2
    square = (np.abs(dy) <= 0.8 * radius) & (np.abs(dx) <= 0.8 * radius)
    # Apex up: inside when below the apex and within the widening sides.
    triangle = (dy >= -radius) & (dy <= 0.8 * radius) & (np.abs(dx) <= (dy + radius) * 0.6)
    inside = np.where(labels[:, None, None] == 0, circle, np.where(labels[:, None, None] == 1, square, triangle))
    colour = np.clip(HUES[labels] + rng.normal(0.0, 12.0, (n, 3)), 0, 255)
    background = rng.uniform(10, 40, (n, 1, 1, 1))
    images = np.where(inside[..., None], colour[:, None, None, :], background)
    return images.round().astype(np.uint8), labels.astype(np.int64)
