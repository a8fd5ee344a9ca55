"""Noise and damage for images: the inputs of denoising, inpainting, deblurring,
super-resolution, colorization and old-photo restoration.

Conventions shared by every function here:

- Images are float tensors in [0, 1], batched as (B, H*W), (B, H, W) or
  (B, 1, H, W) grey, (B, 3*H*W) or (B, 3, H, W) colour (flat rows channels-first,
  as models.data makes them). Flat rows are taken to be square images (784 ->
  28x28 grey, 3072 -> 32x32 colour: no count is both s*s and 3*s*s) unless
  ``shape=(H, W)`` is given, which also tells grey rows (H*W values) from colour
  ones (3*H*W). ``corrupt`` also takes channels-last colour (B, H, W, 3) and
  returns that layout. Anything else raises ``ValueError``.
- On colour images, noise that hits a pixel (salt and pepper, masking, a mask)
  hits its three channels together; Gaussian noise is drawn per channel; blur and
  low resolution act on each channel alike.
- The result has the input's shape, dtype and device, is clamped to [0, 1],
  and is a new tensor: inputs are never modified in place.
- Random functions take ``seed`` or ``generator`` (keyword-only, not both).
  The same seed gives the same output; ``seed=None`` without a generator draws
  a fresh seed. The global torch RNG is never touched.
- Types: the building blocks are torch-only (masks may also be numpy bool
  arrays); ``corrupt`` also accepts a numpy array and returns one, since that
  is what the GUI holds.
- Masks are bool, True = missing pixel.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import overload

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "CORRUPTIONS",
    "LUMA_WEIGHTS",
    "PRESET_MASKS",
    "CorruptionSpec",
    "apply_mask",
    "brush_mask",
    "center_square_mask",
    "corrupt",
    "corruptions_for",
    "downsample_upsample",
    "gaussian_blur",
    "gaussian_noise",
    "greyscale",
    "masking_noise",
    "old_photo",
    "preset_mask",
    "random_pixel_mask",
    "rect_mask",
    "salt_and_pepper",
]

# --------------------------------------------------------------------------- layouts


def _check_tensor(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of images, got {type(x).__name__} (corrupt() also takes numpy arrays)")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point image tensor with values in [0, 1], got dtype {x.dtype}")
    return x


def _batch_rows(x: torch.Tensor) -> torch.Tensor:
    """(B, values) view for the per-value corruptions, which need no spatial layout."""
    _check_tensor(x)
    if x.dim() not in (2, 3, 4) or (x.dim() == 4 and x.shape[1] not in (1, 3)):
        raise ValueError(
            f"cannot interpret an input of shape {tuple(x.shape)}: expected a batch of images "
            "(B, H*W), (B, H, W) or (B, 1, H, W), or of colour images (B, 3*H*W) or (B, 3, H, W); "
            "for one image use x[None]"
        )
    return x.reshape(x.shape[0], -1)


def _is_square(n: int) -> bool:
    return math.isqrt(n) ** 2 == n


def _flat_channels(n: int) -> int:
    """Channels of a flat row of n values read as a square image: 3 when n is three
    times a square and not itself one (no n is both), else 1."""
    return 3 if not _is_square(n) and n % 3 == 0 and _is_square(n // 3) else 1


def _channels(x: torch.Tensor, shape: tuple[int, int] | None = None) -> int:
    rows = _batch_rows(x)
    if x.dim() == 4:
        return x.shape[1]
    if x.dim() == 3:
        return 1
    if shape is not None:
        h, w = (operator.index(s) for s in shape)
        return 3 if rows.shape[1] == 3 * h * w else 1
    return _flat_channels(rows.shape[1])


def _side(n: int) -> int:
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"flat input with {n} pixels per image is not a square image; pass shape=(H, W)")
    return side


def _images(x: torch.Tensor, shape: tuple[int, int] | None = None) -> torch.Tensor:
    """(B, C, H, W) view of a batch in any of the accepted layouts."""
    rows = _batch_rows(x)
    c = _channels(x, shape)
    if x.dim() == 2:
        if shape is None:
            side = _side(rows.shape[1] // c)
            h, w = side, side
        else:
            h, w = (operator.index(s) for s in shape)
            if c * h * w != rows.shape[1]:
                raise ValueError(
                    f"shape={tuple(shape)} has {h * w} pixels ({3 * h * w} values in colour) "
                    f"but each input row has {rows.shape[1]}"
                )
    else:
        h, w = x.shape[-2], x.shape[-1]
        if shape is not None and tuple(shape) != (h, w):
            raise ValueError(f"shape={tuple(shape)} does not match the input's images of {h}x{w}")
    return x.reshape(x.shape[0], c, h, w)


def _planes(x: torch.Tensor) -> torch.Tensor:
    """(B, C, pixels) view: the per-pixel corruptions hit a pixel's channels together.
    Flat rows have the channels ``_flat_channels`` reads in them (any length that is
    not three times a square is one grey plane)."""
    rows = _batch_rows(x)
    c = _channels(x)
    return rows.reshape(rows.shape[0], c, rows.shape[1] // c)


def _image_shape(image_shape: Sequence[int]) -> tuple[int, int]:
    try:
        h, w = (operator.index(s) for s in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be two integers (H, W), got {image_shape!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"image_shape must be positive, got {(h, w)}")
    return h, w


def _as_mask(mask: torch.Tensor | np.ndarray) -> torch.Tensor:
    if not isinstance(mask, (torch.Tensor, np.ndarray)):
        raise TypeError(f"a mask must be a bool torch.Tensor or numpy array, got {type(mask).__name__}")
    if mask.dtype not in (torch.bool, np.bool_):
        raise TypeError(f"a mask must have dtype bool (True = missing pixel), got {mask.dtype}")
    # A copy of a numpy mask, so read-only or reversed arrays never trip torch.from_numpy.
    return torch.from_numpy(mask.copy()) if isinstance(mask, np.ndarray) else mask


# --------------------------------------------------------------------------- randomness


def _generator(seed: int | None, generator: torch.Generator | None, device: torch.device) -> torch.Generator:
    if generator is not None:
        if seed is not None:
            raise ValueError("pass either seed or generator, not both")
        return generator
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(operator.index(seed))
    return g


def _rand(shape: tuple[int, ...], g: torch.Generator, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    # Draw where the generator lives (the trainer may hand in a CUDA one), then move.
    return torch.rand(shape, generator=g, device=g.device, dtype=dtype).to(device)


def _fraction(fraction: float) -> float:
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    return fraction


def _exact_mask(rows: int, n: int, fraction: float, g: torch.Generator, device: torch.device) -> torch.Tensor:
    """(rows, n) bool with exactly round(fraction * n) True per row, at random places."""
    k = round(fraction * n)
    mask = torch.zeros((rows, n), dtype=torch.bool, device=device)
    if k == 0 or rows == 0:
        return mask
    # A fixed count (not a coin per pixel) so "50 % missing" is exactly half of every image.
    idx = _rand((rows, n), g, device).topk(k, dim=1, sorted=False).indices
    return mask.scatter_(1, idx, True)


# --------------------------------------------------------------------------- pixel noise


def gaussian_noise(
    x: torch.Tensor, sigma: float, *, seed: int | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """x + sigma * N(0, 1) per pixel, clipped to [0, 1]."""
    rows = _batch_rows(x)
    sigma = float(sigma)
    if not sigma >= 0.0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma}")
    g = _generator(seed, generator, x.device)
    noise = torch.randn(rows.shape, generator=g, device=g.device, dtype=x.dtype).to(x.device)
    return (rows + sigma * noise).clamp_(0.0, 1.0).reshape(x.shape)


def salt_and_pepper(
    x: torch.Tensor, fraction: float, *, seed: int | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """That fraction of each image's pixels set to 0 or 1 (a fair coin per pixel; all
    of a colour pixel's channels alike, so it turns black or white)."""
    planes = _planes(x)
    b, _, n = planes.shape
    fraction = _fraction(fraction)
    g = _generator(seed, generator, x.device)
    hit = _exact_mask(b, n, fraction, g, x.device)[:, None]
    salt = (_rand((b, n), g, x.device) < 0.5).to(x.dtype)[:, None]
    return torch.where(hit, salt, planes).clamp_(0.0, 1.0).reshape(x.shape)


def masking_noise(
    x: torch.Tensor, fraction: float, *, seed: int | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """That fraction of each image's pixels set to 0 (the denoising-AE masking noise)."""
    planes = _planes(x)
    b, _, n = planes.shape
    fraction = _fraction(fraction)
    g = _generator(seed, generator, x.device)
    hit = _exact_mask(b, n, fraction, g, x.device)[:, None]
    return planes.masked_fill(hit, 0.0).clamp_(0.0, 1.0).reshape(x.shape)


# --------------------------------------------------------------------------- masks


def random_pixel_mask(
    shape_or_x: torch.Tensor | Sequence[int],
    fraction: float,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Bool mask with exactly round(fraction * pixels) True per image.

    Given a tensor the mask has its shape (one image per row); given (H, W) it
    is one image, given (B, H, W) one per leading index.
    """
    fraction = _fraction(fraction)
    if isinstance(shape_or_x, torch.Tensor):
        rows = _batch_rows(shape_or_x)
        shape, device = tuple(shape_or_x.shape), shape_or_x.device
        batch, n = rows.shape
    else:
        shape = tuple(operator.index(s) for s in shape_or_x)
        if len(shape) not in (2, 3) or min(shape) < 0:
            raise ValueError(f"mask shape must be (H, W) or (B, H, W), got {shape}")
        device = torch.device("cpu")
        batch = 1 if len(shape) == 2 else shape[0]
        n = shape[-2] * shape[-1]
    g = _generator(seed, generator, device)
    return _exact_mask(batch, n, fraction, g, device).reshape(shape)


def rect_mask(
    x_or_shape: torch.Tensor | Sequence[int], *, top: int, left: int, height: int, width: int
) -> torch.Tensor:
    """Bool mask of a rectangle (clipped to the image): (B, H, W) for a batch, (H, W) for a shape."""
    top, left, height, width = (operator.index(v) for v in (top, left, height, width))
    if height < 0 or width < 0:
        raise ValueError(f"a rectangle needs height and width >= 0, got {height}x{width}")
    shape: tuple[int, ...]
    if isinstance(x_or_shape, torch.Tensor):
        images = _images(x_or_shape)
        shape, device = (images.shape[0], images.shape[2], images.shape[3]), x_or_shape.device
    else:
        shape = tuple(operator.index(s) for s in x_or_shape)
        if len(shape) not in (2, 3) or min(shape) < 0:
            raise ValueError(f"mask shape must be (H, W) or (B, H, W), got {shape}")
        device = torch.device("cpu")
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    # Clip rather than refuse: a rectangle dragged past the edge covers what is inside.
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = max(top + height, 0), max(left + width, 0)
    mask[..., r0:r1, c0:c1] = True
    return mask


def center_square_mask(size: int = 12, image_shape: Sequence[int] = (28, 28)) -> torch.Tensor:
    """(H, W) bool mask of a size x size square in the middle of the image."""
    h, w = _image_shape(image_shape)
    size = operator.index(size)
    if not 0 <= size <= min(h, w):
        raise ValueError(f"square size must be between 0 and {min(h, w)} for a {h}x{w} image, got {size}")
    return rect_mask((h, w), top=(h - size) // 2, left=(w - size) // 2, height=size, width=size)


PRESET_MASKS = ("top_half", "bottom_half", "left_half", "right_half", "center_square", "random_pixels")


def preset_mask(name: str, image_shape: Sequence[int] = (28, 28), *, seed: int | None = None) -> torch.Tensor:
    """(H, W) bool mask by name (see PRESET_MASKS); "random_pixels" hides half the pixels."""
    h, w = _image_shape(image_shape)
    if name == "top_half":
        return rect_mask((h, w), top=0, left=0, height=h // 2, width=w)
    if name == "bottom_half":
        return rect_mask((h, w), top=h // 2, left=0, height=h - h // 2, width=w)
    if name == "left_half":
        return rect_mask((h, w), top=0, left=0, height=h, width=w // 2)
    if name == "right_half":
        return rect_mask((h, w), top=0, left=w // 2, height=h, width=w - w // 2)
    if name == "center_square":
        return center_square_mask(round(12 * min(h, w) / 28), (h, w))
    if name == "random_pixels":
        return random_pixel_mask((h, w), 0.5, seed=seed)
    raise ValueError(f"unknown mask preset {name!r}; valid names: {', '.join(PRESET_MASKS)}")


_SEGMENTS_PER_CHUNK = 256


def _stroke(pts: torch.Tensor, radius: float, h: int, w: int) -> torch.Tensor:
    """(h, w) bool: pixel centres within radius of the polyline through pts (N, 2)."""
    painted = torch.zeros(h * w, dtype=torch.bool)
    if len(pts) == 0:
        return painted.reshape(h, w)
    # Segments between consecutive points, so a fast drag leaves no gaps; a
    # single point is a zero-length segment (a disc).
    a, b = (pts[:-1], pts[1:]) if len(pts) > 1 else (pts, pts)
    # Segments that cannot reach the image cost nothing.
    lo, hi = torch.minimum(a, b) - radius, torch.maximum(a, b) + radius
    near = (hi[:, 0] >= 0) & (lo[:, 0] <= h - 1) & (hi[:, 1] >= 0) & (lo[:, 1] <= w - 1)
    a, b = a[near], b[near]
    pr = torch.arange(h, dtype=torch.float32).repeat_interleave(w)
    pc = torch.arange(w, dtype=torch.float32).repeat(h)
    # A pixel exactly radius away counts, whatever the rounding.
    limit = radius * radius * (1 + 1e-5) + 1e-6
    for i in range(0, len(a), _SEGMENTS_PER_CHUNK):  # bounded memory for long strokes
        ar, ac = a[i : i + _SEGMENTS_PER_CHUNK].unbind(1)
        abr, abc = (b[i : i + _SEGMENTS_PER_CHUNK] - a[i : i + _SEGMENTS_PER_CHUNK]).unbind(1)
        inv = 1.0 / (abr * abr + abc * abc).clamp_min(1e-12)
        dr = pr[None, :] - ar[:, None]
        dc = pc[None, :] - ac[:, None]
        t = ((dr * abr[:, None] + dc * abc[:, None]) * inv[:, None]).clamp_(0.0, 1.0)
        dr -= t * abr[:, None]
        dc -= t * abc[:, None]
        painted |= (dr * dr + dc * dc).amin(dim=0) <= limit
    return painted.reshape(h, w)


def brush_mask(
    points: Sequence[Sequence[float]] | np.ndarray | torch.Tensor,
    *,
    radius: float,
    image_shape: Sequence[int] = (28, 28),
    mask: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor | np.ndarray:
    """(H, W) bool mask of a brush stroke through (row, col) points, joined by straight segments.

    Pixel (r, c) is painted when its centre is within ``radius`` of the stroke.
    With ``mask`` the stroke is added to a copy of it, returned as the same type
    (numpy or torch); otherwise a torch tensor. While dragging, pass only the
    new points (with the previous one) and the mask so far: the cost grows
    with the number of segments.
    """
    h, w = _image_shape(image_shape)
    radius = float(radius)
    if not radius >= 0.0 or not math.isfinite(radius):
        raise ValueError(f"brush radius must be a finite number >= 0, got {radius}")
    base = None
    if mask is not None:
        base = _as_mask(mask)
        if tuple(base.shape) != (h, w):
            raise ValueError(f"mask has shape {tuple(base.shape)}, expected the image shape {(h, w)}")
    if isinstance(points, torch.Tensor):
        pts = points.detach().to(device="cpu", dtype=torch.float64)
    else:
        try:
            pts = torch.from_numpy(np.array(points, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError("brush points must be a sequence of (row, col) pairs") from None
    if pts.numel() == 0:
        pts = pts.reshape(0, 2)
    elif pts.shape == (2,):
        pts = pts.reshape(1, 2)
    if pts.dim() != 2 or pts.shape[1] != 2:
        raise ValueError(f"brush points must have shape (N, 2) as (row, col) pairs, got {tuple(pts.shape)}")
    if not torch.isfinite(pts).all():
        raise ValueError("brush points must be finite (row, col) numbers")
    painted = _stroke(pts.to(torch.float32), radius, h, w)
    if base is None:
        return painted
    out = base | painted.to(base.device)
    return out.numpy() if isinstance(mask, np.ndarray) else out


def apply_mask(
    x: torch.Tensor,
    mask: torch.Tensor | np.ndarray,
    *,
    fill: float | torch.Tensor = 0.0,
    shape: tuple[int, int] | None = None,
) -> torch.Tensor:
    """x with the masked pixels (True) set to ``fill``; the other pixels are untouched.

    ``mask`` is (H, W) for every image, (B, H, W), (B, 1, H, W) or x's own
    shape. ``fill`` is a number or an image such as the mean digit, (H, W) or
    flat (H*W,), or one per example (B, H, W); for colour images also one colour
    image (3*H*W values, channels-first) or one per example.
    """
    images = _images(x, shape)
    b, c, h, w = images.shape
    m = _as_mask(mask).to(x.device)
    if tuple(m.shape) == tuple(x.shape):
        m = m.reshape(images.shape)
    elif tuple(m.shape) == (h, w):
        m = m.reshape(1, 1, h, w)
    elif tuple(m.shape) in ((b, h, w), (b, 1, h, w)):
        m = m.reshape(b, 1, h, w)
    else:
        raise ValueError(
            f"mask of shape {tuple(m.shape)} does not fit images of {h}x{w} in a batch of {b}; "
            f"use ({h}, {w}), ({b}, {h}, {w}) or the input's shape {tuple(x.shape)}"
        )
    if isinstance(fill, torch.Tensor) or isinstance(fill, np.ndarray):
        f = torch.as_tensor(fill).to(device=x.device, dtype=x.dtype)
        # A colour image before one grey image per example: a batch of three colour
        # images has as many of both, and their mean image is the fill to expect.
        if f.numel() == 1:
            f = f.reshape(1, 1, 1, 1)
        elif f.numel() == h * w:
            f = f.reshape(1, 1, h, w)
        elif c > 1 and f.numel() == c * h * w:
            f = f.reshape(1, c, h, w)
        elif f.numel() == b * h * w:
            f = f.reshape(b, 1, h, w)
        elif c > 1 and f.numel() == b * c * h * w:
            f = f.reshape(b, c, h, w)
        else:
            raise ValueError(f"fill of shape {tuple(f.shape)} is neither a number, one {h}x{w} image nor one per example")
    else:
        fill = float(fill)
        if not math.isfinite(fill):
            raise ValueError(f"fill must be a finite number, got {fill}")
        f = torch.tensor(fill, dtype=x.dtype, device=x.device)
    return torch.where(m, f, images).clamp_(0.0, 1.0).reshape(x.shape)


# --------------------------------------------------------------------------- resolution


def _gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = math.ceil(3.0 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    # Normalised so a flat image stays flat and total brightness is kept.
    return (k / k.sum()).to(device=device, dtype=dtype)


def _mirror_index(n: int, r: int, device: torch.device) -> torch.Tensor:
    """Indices of a row of n padded by r on both sides, mirrored about the edges (edge pixel repeated).

    This half-sample mirror, unlike torch's "reflect" (which skips the edge
    pixel) or "replicate", makes the blur a symmetric matrix with unit row
    sums, so no brightness is lost or gained even for ink touching the border.
    Taken modulo 2n it also works for a pad wider than the image.
    """
    i = torch.arange(-r, n + r, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def _blur_matrix(n: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n, n) matrix that blurs a row of n pixels: the kernel taps, with the padding folded in."""
    k = _gaussian_kernel(sigma, dtype, device)
    taps = _mirror_index(n, (len(k) - 1) // 2, device).unfold(0, len(k), 1)  # (n, len(k))
    return torch.zeros((n, n), dtype=dtype, device=device).scatter_add_(1, taps, k.expand(n, -1).contiguous())


def gaussian_blur(x: torch.Tensor, sigma: float, *, shape: tuple[int, int] | None = None) -> torch.Tensor:
    """Separable Gaussian blur (radius ceil(3 sigma) pixels) with mirrored borders; sigma 0 is a copy."""
    images = _images(x, shape)
    sigma = float(sigma)
    if not sigma >= 0.0 or not math.isfinite(sigma):
        raise ValueError(f"blur sigma must be a finite number >= 0, got {sigma}")
    if sigma == 0.0:
        return x.clamp(0.0, 1.0)
    return _blur(images, sigma).clamp_(0.0, 1.0).reshape(x.shape)


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, C, H, W) blurred plane by plane (sigma > 0), not clamped."""
    b, c, h, w = images.shape
    rows = _blur_matrix(h, sigma, images.dtype, images.device)
    cols = rows if w == h else _blur_matrix(w, sigma, images.dtype, images.device)
    # The separable convolution as two small matrix products: the same numbers
    # as conv2d with mirror padding, but much faster on a CPU for many small
    # single-channel images, where conv2d has too little work per call.
    return (rows @ images.reshape(b * c, h, w) @ cols.T).reshape(b, c, h, w)


def downsample_upsample(
    x: torch.Tensor, factor: int, *, mode: str = "nearest", shape: tuple[int, int] | None = None
) -> torch.Tensor:
    """Average-pool by ``factor`` then upsample back to the input size ("nearest" or "bilinear").

    The low-resolution input of super-resolution. A factor that does not divide
    the image size averages the partial blocks at the bottom and right edges.
    """
    images = _images(x, shape)
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"unknown upsampling mode {mode!r}; use 'nearest' or 'bilinear'")
    if not math.isfinite(float(factor)) or float(factor) != int(factor) or int(factor) < 1:
        raise ValueError(f"downsampling factor must be a whole number >= 1, got {factor}")
    factor = int(factor)
    _, _, h, w = images.shape
    if factor > min(h, w):
        raise ValueError(f"downsampling factor {factor} is larger than the {h}x{w} image")
    if factor == 1:
        return x.clamp(0.0, 1.0)
    small = F.avg_pool2d(images, factor, ceil_mode=True)
    hp, wp = small.shape[2] * factor, small.shape[3] * factor
    if mode == "nearest":
        big = F.interpolate(small, size=(hp, wp), mode="nearest")
    else:
        big = F.interpolate(small, size=(hp, wp), mode="bilinear", align_corners=False)
    return big[:, :, :h, :w].clamp(0.0, 1.0).reshape(x.shape)


# --------------------------------------------------------------------------- colour

# ITU-R BT.601 luma weights of R, G and B: what television, JPEG and Pillow's
# convert("L") use, so a greyed image looks as a grey photo of the scene would.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _luma(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luminance of (B, C, H, W); grey images are their own."""
    if images.shape[1] == 1:
        return images
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device)
    return torch.einsum("bchw,c->bhw", images, weights)[:, None]


def greyscale(x: torch.Tensor, amount: float = 1.0, *, shape: tuple[int, int] | None = None) -> torch.Tensor:
    """Colour images turned towards their luminance: ``amount`` 1 is fully grey (each
    channel the BT.601 luma), 0 a copy. The three channels are kept, equal, so a
    model of colour images reads the result and can be asked to colour it again.
    Grey images are unchanged at any amount: they hold no colour to take away."""
    images = _images(x, shape)
    amount = _fraction(amount)
    out = torch.lerp(images, _luma(images).expand_as(images), amount)
    return out.clamp_(0.0, 1.0).reshape(x.shape)


def _scratches(b: int, h: int, w: int, count: int, g: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W) where ``count`` thin straight scratches lie on each image, and their
    brightness there: segments of a third to the whole of the image's size at any
    angle, about a pixel wide, pale but not all white."""
    if count == 0:
        return torch.zeros((b, h, w), dtype=torch.bool, device=device), torch.zeros((b, h, w), device=device)
    u = _rand((b, count, 6), g, device)
    size = float(max(h, w))
    r0, c0 = u[..., 0] * h, u[..., 1] * w
    angle = u[..., 2] * math.pi
    length = size * (1.0 + 2.0 * u[..., 3]) / 3.0
    value = 0.75 + 0.25 * u[..., 4]
    half_width = 0.35 + 0.4 * u[..., 5]
    dr, dc = torch.sin(angle), torch.cos(angle)
    pr = torch.arange(h, dtype=torch.float32, device=device).reshape(1, 1, h, 1)
    pc = torch.arange(w, dtype=torch.float32, device=device).reshape(1, 1, 1, w)
    vr, vc = pr - r0[..., None, None], pc - c0[..., None, None]
    t = (vr * dr[..., None, None] + vc * dc[..., None, None]).clamp(min=0.0)
    t = torch.minimum(t, length[..., None, None])
    dist2 = (vr - t * dr[..., None, None]) ** 2 + (vc - t * dc[..., None, None]) ** 2
    on = dist2 <= half_width[..., None, None] ** 2  # (B, K, H, W)
    brightness = torch.where(on, value[..., None, None], torch.zeros((), device=device)).amax(dim=1)
    return on.any(dim=1), brightness


def old_photo(
    x: torch.Tensor,
    level: float,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    shape: tuple[int, int] | None = None,
) -> torch.Tensor:
    """An old grey print of the image: greyscale, then blur (sigma 1.2 * level pixels),
    pale scratches (round(8 * level) per image) and film grain (Gaussian, sigma 0.1 *
    level, the same on every channel); ``level`` in [0, 1], 0 only greys it. Colour
    images keep three (equal) channels, grey images get the rest of the damage."""
    images = _images(x, shape)
    level = _fraction(level)
    b, c, h, w = images.shape
    g = _generator(seed, generator, x.device)
    grey = _luma(images)
    if level > 0.0:
        grey = _blur(grey, 1.2 * level)
        on, brightness = _scratches(b, h, w, round(8 * level), g, x.device)
        grey = torch.where(on[:, None], brightness[:, None].to(grey.dtype), grey)
        grain = torch.randn((b, 1, h, w), generator=g, device=g.device, dtype=x.dtype).to(x.device)
        grey = grey + 0.1 * level * grain
    return grey.expand(b, c, h, w).clamp(0.0, 1.0).reshape(x.shape)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class CorruptionSpec:
    """What the GUI and CLI need to offer one corruption: names, level range, tooltip."""

    name: str
    title: str
    level_name: str
    level_min: float
    level_max: float
    default_level: float
    seeded: bool
    description: str
    step: float = 0.01  # slider resolution; 1 for whole-number levels
    # Only worth offering for colour images (on grey ones it changes nothing).
    colour_only: bool = False


# Read-only: the registry is shared by the GUI, the CLI and training processes.
CORRUPTIONS: Mapping[str, CorruptionSpec] = MappingProxyType(
    {
        "gaussian": CorruptionSpec(
            name="gaussian", title="Gaussian noise", level_name="sigma",
            level_min=0.0, level_max=1.0, default_level=0.5, seeded=True,
            description="Adds Gaussian noise of standard deviation sigma to every pixel.",
        ),
        "salt_and_pepper": CorruptionSpec(
            name="salt_and_pepper", title="Salt and pepper", level_name="fraction",
            level_min=0.0, level_max=1.0, default_level=0.2, seeded=True,
            description="Sets a fraction of the pixels to pure white or pure black at random.",
        ),
        "masking": CorruptionSpec(
            name="masking", title="Masking noise", level_name="fraction",
            level_min=0.0, level_max=1.0, default_level=0.5, seeded=True,
            description="Sets a random fraction of the pixels to black, as in the denoising autoencoder paper.",
        ),
        "blur": CorruptionSpec(
            name="blur", title="Gaussian blur", level_name="sigma",
            level_min=0.0, level_max=3.0, default_level=1.0, seeded=False,
            description="Blurs the image with a Gaussian of width sigma pixels, the input for deblurring.",
        ),
        "downsample": CorruptionSpec(
            name="downsample", title="Low resolution", level_name="factor",
            level_min=1.0, level_max=7.0, default_level=2.0, seeded=False, step=1.0,
            description="Averages blocks of factor x factor pixels, the input for super-resolution.",
        ),
        "grey": CorruptionSpec(
            name="grey", title="Grey (colour removed)", level_name="amount",
            level_min=0.0, level_max=1.0, default_level=1.0, seeded=False, colour_only=True,
            description="Turns the image to its luminance, the input for colorization; "
                        "a denoising AE trained on it is a colorizing autoencoder.",
        ),
        "old_photo": CorruptionSpec(
            name="old_photo", title="Old photo", level_name="strength",
            level_min=0.0, level_max=1.0, default_level=0.5, seeded=True,
            description="Grey, blurred, scratched and grainy like an old print: the input for old-photo restoration.",
        ),
    }
)


def corruptions_for(channels: int) -> tuple[str, ...]:
    """The names in CORRUPTIONS worth offering for images with ``channels`` planes."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {channels!r}")
    return tuple(name for name, spec in CORRUPTIONS.items() if channels == 3 or not spec.colour_only)


@overload
def corrupt(
    x: torch.Tensor, kind: str, level: float, *, seed: int | None = None, generator: torch.Generator | None = None,
    shape: tuple[int, int] | None = None,
) -> torch.Tensor: ...


@overload
def corrupt(
    x: np.ndarray, kind: str, level: float, *, seed: int | None = None, generator: torch.Generator | None = None,
    shape: tuple[int, int] | None = None,
) -> np.ndarray: ...


def corrupt(
    x: torch.Tensor | np.ndarray,
    kind: str,
    level: float,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    shape: tuple[int, int] | None = None,
) -> torch.Tensor | np.ndarray:
    """Apply the corruption ``kind`` (a key of CORRUPTIONS) at ``level``; numpy in, numpy out.

    Unseeded kinds ignore ``seed`` and ``generator``. Channels-last colour batches
    (B, H, W, 3), as the GUI holds them, come back in that layout.
    """
    spec = CORRUPTIONS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ValueError(f"unknown corruption {kind!r}; valid names: {', '.join(CORRUPTIONS)}")
    level = float(level)
    if not spec.level_min <= level <= spec.level_max:
        raise ValueError(
            f"{spec.level_name} for {kind!r} must be between {spec.level_min:g} and {spec.level_max:g}, got {level:g}"
        )
    if spec.step == 1.0 and level != int(level):
        raise ValueError(f"{spec.level_name} for {kind!r} must be a whole number, got {level:g}")
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"expected a floating-point image array with values in [0, 1], got dtype {x.dtype}")
        # A copy: from_numpy refuses reversed views and warns on read-only arrays.
        t = torch.from_numpy(x.copy())
    else:
        t = _check_tensor(x)
    channels_last = t.dim() == 4 and t.shape[-1] == 3 and t.shape[1] != 3
    if channels_last:
        t = t.permute(0, 3, 1, 2)
    if kind == "gaussian":
        out = gaussian_noise(t, level, seed=seed, generator=generator)
    elif kind == "salt_and_pepper":
        out = salt_and_pepper(t, level, seed=seed, generator=generator)
    elif kind == "masking":
        out = masking_noise(t, level, seed=seed, generator=generator)
    elif kind == "blur":
        out = gaussian_blur(t, level, shape=shape)
    elif kind == "grey":
        out = greyscale(t, level, shape=shape)
    elif kind == "old_photo":
        out = old_photo(t, level, seed=seed, generator=generator, shape=shape)
    else:
        out = downsample_upsample(t, int(level), shape=shape)
    if channels_last:
        out = out.permute(0, 2, 3, 1).contiguous()
    return out.numpy() if isinstance(x, np.ndarray) else out
