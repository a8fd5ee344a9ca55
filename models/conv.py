"""The layer stacks of the convolutional models: a strided-conv encoder and its
mirrored transposed-conv decoder, for square images of ``CONV_SIDES`` pixels (28, 32, 64),
grey (1 channel) or colour (3).

Each stride-2 layer halves the image (kernel 4, padding 1), so ``widths`` (the
channel counts, taken from a ``NetConfig``'s ``hidden``) also fixes the depth: 32
pixels with (32, 64, 128) end at 128 maps of 4 x 4. Every hidden conv layer is
followed by batch normalisation: without it a conv VAE started at the mean image
stayed there (KL 0) on small colour sets an MLP VAE learns at once (the test's
200 coloured shapes, 4 seeds of 4; docs/benchmarks.md). Batch statistics make the
models' mode matter: evaluate in ``eval()``, as metrics and checkpoints do. The model classes that use
these stacks live in ``models/nets.py``; this module knows nothing of configs.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# CONV_SIDES: the square sides a convolutional model is built for: MNIST's 28 (two
# halvings to 7 x 7) and the working sizes a user can pick for colour images.
from models.kinds import CONV_SIDES

__all__ = ["CONV_SIDES", "DEFAULT_WIDTHS", "BiasMap", "check_widths", "conv_decoder", "conv_encoder", "feature_size", "feature_side"]

# Channel widths per side when a caller has no preference: four halvings to 4 x 4 at
# 64 pixels, three at 32, two to 7 x 7 at 28.
DEFAULT_WIDTHS: dict[int, tuple[int, ...]] = {28: (32, 64), 32: (32, 64, 128), 64: (32, 64, 128, 256)}


class BiasMap(nn.Module):
    """A learned bias for every output value, (channels, side, side).

    A transposed convolution's bias is one number per channel, so it cannot hold a
    mean image; this map is where ``nets.init_output_bias`` puts logit(mean), as it
    does in an MLP decoder's last bias."""

    def __init__(self, channels: int, side: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels, side, side))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


def feature_side(side: int, widths: Sequence[int]) -> int:
    """The side of the encoder's last feature maps."""
    return side >> len(widths)


def check_widths(side: int, widths: Sequence[int]) -> str | None:
    """Why ``widths`` cannot be built for ``side`` pixels, or None."""
    if not widths:
        return "a convolutional model needs at least one conv layer (hidden lists the channel widths, e.g. 32,64,128)"
    if side % (1 << len(widths)) != 0 or feature_side(side, widths) < 1:
        return f"{len(widths)} stride-2 conv layers do not fit {side} x {side} images (each halves the side)"
    return None


def conv_encoder(channels: int, side: int, widths: Sequence[int]) -> nn.Sequential:
    """(B, channels, side, side) -> (B, widths[-1] * s * s) features after a ReLU."""
    layers: list[nn.Module] = []
    c_in = channels
    for width in widths:
        layers += [nn.Conv2d(c_in, width, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        c_in = width
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def feature_size(side: int, widths: Sequence[int]) -> int:
    s = feature_side(side, widths)
    return widths[-1] * s * s


def conv_decoder(latent: int, channels: int, side: int, widths: Sequence[int]) -> nn.Sequential:
    """(B, latent) -> (B, channels * side * side) logits, flattened channels-first.

    The mirror of ``conv_encoder``: a linear layer to the last feature maps, then
    one transposed convolution per encoder layer, the last to ``channels`` planes,
    plus a ``BiasMap``."""
    s = feature_side(side, widths)
    rev = list(widths)[::-1]
    layers: list[nn.Module] = [nn.Linear(latent, rev[0] * s * s), nn.ReLU(), nn.Unflatten(1, (rev[0], s, s))]
    for c_in, c_out in zip(rev, rev[1:], strict=False):
        layers += [nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
    # No bias on the last layer: the BiasMap after it holds one per output value.
    layers += [
        nn.ConvTranspose2d(rev[-1], channels, kernel_size=4, stride=2, padding=1, bias=False),
        BiasMap(channels, side),
        nn.Flatten(),
    ]
    return nn.Sequential(*layers)
