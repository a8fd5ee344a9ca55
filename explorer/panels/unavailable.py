"""UnavailablePanel: what a panel's tab shows on a dataset it cannot work on (the Draw
panel on colour photos), saying why in a sentence, until the user picks one it can."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from explorer.panels.protocol import PanelDefaults
from explorer.startup import DatasetContext


def draw_unavailable_text(ctx: DatasetContext) -> str:
    """Why the Draw panel does not work on ``ctx``."""
    return (f"The Draw panel is not available for {ctx.title}. It turns what you draw into a 28 x 28 grey "
            f"digit, placed as MNIST's digits are, so it works on the 28 x 28 grey datasets (MNIST, "
            f"Fashion-MNIST, Kuzushiji-MNIST); {ctx.title} holds {ctx.shape_text} images. "
            f"Explore, Denoise and Inpaint work on them.")


def lab_unavailable_text(ctx: DatasetContext) -> str:
    """Why the Lab does not work on ``ctx``."""
    return (f"The Lab's experiments are built on 28 x 28 grey digits (MNIST and its kin); {ctx.title} holds "
            f"{ctx.shape_text} images. Explore, Train, Denoise and Inpaint work on them.")


class UnavailablePanel(QWidget, PanelDefaults):
    """A tab's page with one message; ``works_on(ctx)`` says when the real panel can be
    built instead (``set_dataset`` then returns False, so the registry builds it)."""

    status_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, dataset: DatasetContext,
                 message: Callable[[DatasetContext], str], works_on: Callable[[DatasetContext], bool]):
        super().__init__(parent)
        self._message, self._works_on = message, works_on
        self.label = QLabel(message(dataset))
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setMaximumWidth(560)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def text(self) -> str:
        return self.label.text()

    def set_dataset(self, dataset: DatasetContext) -> bool:
        if self._works_on(dataset):
            return False
        self.label.setText(self._message(dataset))
        return True
