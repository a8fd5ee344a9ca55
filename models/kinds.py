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
