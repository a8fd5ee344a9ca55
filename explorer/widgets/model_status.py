"""The status bar's permanent labels: each plot's model (name, file, latent size, test
figures) and where the test images came from."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QStatusBar


class ShownModels(Protocol):
    """What the labels read of the models shown (the Explore panel)."""

    def is_loading(self, side: str) -> bool: ...

    def checkpoint(self, side: str) -> Any: ...

    def space(self, side: str) -> Any: ...


def figures_text(meta: dict) -> str:
    """A checkpoint's test figures as the status bar shows them ('test −ELBO 137.5')."""
    test = meta.get("test") if isinstance(meta, dict) else None
    if not isinstance(test, dict):
        return ""
    parts = []
    for key, label in (("nelbo", "−ELBO"), ("mse", "MSE")):
        value = test.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.4g}")
    return ("test " + ", ".join(parts)) if parts else ""


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


class ModelStatus:
    """Permanent labels in ``bar``: one per side of the Explore panel, then the data source."""

    def __init__(self, bar: QStatusBar, *, sides: tuple[str, ...], model_name: Callable[[object, str], str]):
        self._bar = bar
        self._model_name = model_name
        self.model_labels: dict[str, QLabel] = {}
        for side in sides:
            label = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            bar.addPermanentWidget(label)
            bar.addPermanentWidget(_separator())
            self.model_labels[side] = label
        self.data_label = QLabel()
        bar.addPermanentWidget(self.data_label)

    def model_text(self, explore: ShownModels, side: str) -> str:
        name = self._model_name
        if explore.is_loading(side):
            return f"{name(None, side)}: loading…"
        ckpt = explore.checkpoint(side)
        if ckpt is None:
            return f"{name(None, side)}: no model"
        space = explore.space(side)
        parts = [f"{name(ckpt, side)}: {ckpt.name}", f"latent {ckpt.config.latent}"]
        if space is not None and space.is_projected:
            parts[-1] += " (PCA plane)"
        figs = figures_text(ckpt.meta)
        if figs:
            parts.append(figs)
        return " · ".join(parts)

    def update(self, explore: ShownModels, data_source: str) -> None:
        for side, label in self.model_labels.items():
            label.setText(self.model_text(explore, side))
            ckpt = explore.checkpoint(side)
            label.setToolTip(str(ckpt.path) if ckpt is not None and ckpt.path else "")
        self.data_label.setText(f"Data: {data_source}")

    def text(self) -> str:
        """Everything the status bar shows, for tests and logs."""
        labels = (*self.model_labels.values(), self.data_label)
        return " | ".join([self._bar.currentMessage(), *(label.text() for label in labels)])
