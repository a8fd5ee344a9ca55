"""The model kinds and what they are called: no torch, so the window can name a
model (in a plot title, say) before torch is imported.

``KIND_INFO`` is the one table; the other names are views of it kept for callers
that want a single column.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Side = Literal["left", "right"]


@dataclass(frozen=True)
class KindInfo:
    """One model kind: its key, its short and full names, and the explorer side it trains on."""

    name: str  # the key in configs and checkpoints
    short: str  # for tight places: tab labels, legends, buttons
    title: str  # for titles: "Variational autoencoder"
    side: Side  # which half of the explorer shows it (the AE family left, the VAE right)


KIND_INFO: Mapping[str, KindInfo] = MappingProxyType({
    info.name: info
    for info in (
        KindInfo("ae", "AE", "Autoencoder", "left"),
        KindInfo("vae", "VAE", "Variational autoencoder", "right"),
        KindInfo("dae", "Denoising AE", "Denoising autoencoder", "left"),
        KindInfo("linear", "Linear AE", "Linear autoencoder", "left"),
    )
})

KINDS: tuple[str, ...] = tuple(KIND_INFO)
KIND_TITLES: Mapping[str, str] = MappingProxyType({k: i.title for k, i in KIND_INFO.items()})
KIND_SHORT_NAMES: Mapping[str, str] = MappingProxyType({k: i.short for k, i in KIND_INFO.items()})
KIND_SIDES: Mapping[str, Side] = MappingProxyType({k: i.side for k, i in KIND_INFO.items()})

# The layers a kind can be built from (NetConfig.arch): what the Train panel and the
# CLI offer, named before torch is imported. Convolutional models need square
# images of CONV_SIDES pixels (models/conv.py builds them).
ARCH_TITLES: Mapping[str, str] = MappingProxyType({"mlp": "MLP (fully connected)", "conv": "Convolutional"})
ARCHS: tuple[str, ...] = tuple(ARCH_TITLES)
CONV_SIDES: tuple[int, ...] = (28, 32, 64)


def conv_sides_text(*, squared: bool = False) -> str:
    """CONV_SIDES for a message: "28, 32 or 64", or "28 x 28, 32 x 32 or 64 x 64"."""
    names = [f"{s} x {s}" if squared else str(s) for s in CONV_SIDES]
    return ", ".join(names[:-1]) + " or " + names[-1]


# The linear AE is PCA: it has no convolutional form.
CONV_KINDS: tuple[str, ...] = ("ae", "vae", "dae")
