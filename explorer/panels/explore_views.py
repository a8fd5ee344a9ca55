"""The Explore panel's side column: what the decoders make of the probed point, and
the selected test image with its reconstructions and codes."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QVBoxLayout,
    QWidget,
)

from explorer.startup import SIDES
from explorer.widgets.fitting import FittingImageView, WrappingLabel
from explorer.widgets.image_view import ImageView
from models.data import unit_floats

if TYPE_CHECKING:
    from models.plane import CodePlane

COLUMN_MIN_WIDTH = 330  # the note and the code lines take two lines at this width
BOX_MARGINS = (6, 4, 6, 4)
DETAIL_TITLE = "Test image"
DEFAULT_NAMES = {"left": "AE", "right": "VAE"}
PROBE_HINT = "Left-drag on a plot"
LOADING = "Loading the model…"
DETAIL_HINT = "Click a point on either plot: the test image, its reconstructions and codes."


def fmt_xy(xy: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in xy) + ")"


def fmt_code(code: np.ndarray, limit: int = 4) -> str:
    vals = ", ".join(f"{v:.2f}" for v in code[:limit])
    return f"({vals}{', …' if len(code) > limit else ''})"


class ProbeBox(QGroupBox):
    """One decoded image per side for the point under the crosshair, and a check box
    that mirrors ``linked`` (decode the point with both models)."""

    def __init__(self, parent: QWidget | None = None, *, linked: QAction):
        super().__init__("Decoded at the cursor", parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(*BOX_MARGINS)
        grid.setVerticalSpacing(4)
        self.views: dict[str, ImageView] = {}
        for col, s in enumerate(SIDES):
            view = FittingImageView(caption=DEFAULT_NAMES[s], placeholder=PROBE_HINT, minimum=72)
            view.setToolTip("The image the decoder makes from the point under the crosshair")
            grid.addWidget(view, 0, col)
            self.views[s] = view
        box = self.linked_box = QCheckBox("Linked: same point, both models")
        box.setToolTip(linked.toolTip())
        box.setChecked(linked.isChecked())
        box.toggled.connect(linked.setChecked)
        linked.toggled.connect(box.setChecked)
        grid.addWidget(box, 1, 0, 1, 2)
        note = WrappingLabel(
            "Between its clusters the AE decodes nonsense; the VAE's filled space decodes to plausible images near the origin.",
            lines=2,
        )
        self.note = note
        note.setEnabled(False)  # a muted hint, not a control
        grid.addWidget(note, 2, 0, 1, 2)

    def set_model(self, side: str, name: str, *, loading: bool = False) -> None:
        """A new model (or its preview while it loads) on ``side``: its view starts empty."""
        self.views[side].set_placeholder(LOADING if loading else PROBE_HINT)
        self.views[side].set_image(None, name)

    def show_point(self, side: str, name: str, xy: Sequence[float], image: np.ndarray | None = None) -> None:
        """What ``name`` decodes at ``xy`` (only the caption while its model loads)."""
        caption = f"{name} at {fmt_xy(xy)}"
        if image is None:
            self.views[side].set_caption(caption)
        else:
            self.views[side].set_image(image, caption)


class SelectedImageBox(QGroupBox):
    """The test image clicked on: the original, each model's reconstruction, its class
    and its codes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(DETAIL_TITLE, parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(*BOX_MARGINS)
        grid.setVerticalSpacing(4)
        self.views: dict[str, ImageView] = {}
        for col, key in enumerate(("original", *SIDES)):
            caption = "Original" if key == "original" else f"{DEFAULT_NAMES[key]} recon."
            view = FittingImageView(caption=caption, placeholder="Click a point" if key == "original" else "", minimum=56)
            grid.addWidget(view, 0, col)
            self.views[key] = view
        # Room for a code line per model (the image's number and class are the box's title).
        self.label = WrappingLabel(DETAIL_HINT, lines=len(SIDES))
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.label, 1, 0, 1, 3)

    def set_model(self, side: str, name: str) -> None:
        self.views[side].set_image(None, f"{name} recon.")

    def show_image(self, index: int, image: np.ndarray, class_name: str, lines: Sequence[str]) -> None:
        """Test image ``index`` (uint8) of class ``class_name``, with a line per model."""
        self.views["original"].set_image(unit_floats(image))
        what = "digit" if class_name.isdigit() else "class"
        self.setTitle(f"Test image #{index} · {what} {class_name}")
        self.label.setText("<br>".join(lines))

    def show_reconstruction(self, side: str, image: np.ndarray | None) -> None:
        self.views[side].set_image(image)

    def clear(self) -> None:
        for view in self.views.values():
            view.set_image(None)
        self.setTitle(DETAIL_TITLE)
        self.label.setText(DETAIL_HINT)


def code_line(name: str, space: CodePlane, index: int) -> str:
    """A model's code of test image ``index``, and its plane point when the plot is a projection."""
    where = "" if not space.is_projected else f", plane {fmt_xy(space.xy[index])}"
    return f"{name} z = {fmt_code(space.codes[index])}{where}"


def side_column(probe: ProbeBox, details: SelectedImageBox) -> QWidget:
    """The column right of the plots: the probed point above the selected test image."""
    column = QWidget()
    column.setMinimumWidth(COLUMN_MIN_WIDTH)
    column.setMaximumWidth(420)
    layout = QVBoxLayout(column)
    layout.setContentsMargins(4, 0, 0, 0)
    layout.addWidget(probe, 3)
    layout.addWidget(details, 2)
    return column
