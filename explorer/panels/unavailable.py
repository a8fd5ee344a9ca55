"""UnavailablePanel: what a panel's tab shows on a dataset it cannot work on (the Draw
panel on colour photos), saying why in a sentence, until the user picks one it can."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from explorer.panels.protocol import PanelDefaults
from explorer.startup import DatasetContext
from explorer.widgets.fitting import WrappingLabel


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


def computation_unavailable_text(ctx: DatasetContext) -> str:
    """Why the Computation panel does not work on ``ctx``."""
    return (f"The Computation panel lays out a model's numbers on one grey image, pixel by pixel; {ctx.title} "
            f"holds {ctx.shape_text} images. It works on the grey datasets (MNIST and its kin).")


# Panel name -> (why not, on which datasets the real panel works).
LIMITS: dict[str, tuple[Callable[[DatasetContext], str], Callable[[DatasetContext], bool]]] = {
    "draw": (draw_unavailable_text, lambda c: c.drawable),
    "computation": (computation_unavailable_text, lambda c: not c.colour),
    "lab": (lab_unavailable_text, lambda c: c.drawable),
}


def unavailable_page(name: str, ctx: DatasetContext) -> QWidget | None:
    """The 'unavailable' page for panel ``name`` on ``ctx``, or None where the panel works."""
    if name not in LIMITS or LIMITS[name][1](ctx):
        return None
    message, works_on = LIMITS[name]
    return UnavailablePanel(dataset=ctx, message=message, works_on=works_on)


class UnavailablePanel(QWidget, PanelDefaults):
    """A tab's page with one message; ``works_on(ctx)`` says when the real panel can be
    built instead (``set_dataset`` then returns False, so the registry builds it)."""

    status_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, dataset: DatasetContext,
                 message: Callable[[DatasetContext], str], works_on: Callable[[DatasetContext], bool]):
        super().__init__(parent)
        self._message, self._works_on = message, works_on
        # A wrapping label that keeps the height its text needs (a tab page does not ask for it).
        self.label = WrappingLabel(message(dataset), lines=4)
        self.label.setMaximumWidth(560)
        self.label.setMinimumWidth(280)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.label, 3)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)

    def text(self) -> str:
        return self.label.text()

    def set_dataset(self, dataset: DatasetContext) -> bool:
        if self._works_on(dataset):
            return False
        self.label.setText(self._message(dataset))
        return True
