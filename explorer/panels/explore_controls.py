"""The Explore panel's bottom row: codes drawn from the prior, and the straight path
between two test images, each with its controls and one image strip per side."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.panels.explore_views import DEFAULT_NAMES
from explorer.startup import SIDES
from explorer.widgets.image_view import ImageStrip

# A small window (1000 x 650) leaves the strips this much each: digits still read at that size.
STRIP_MIN_HEIGHT = 40


def set_quietly(spin: QSpinBox, value: int | None) -> None:
    """Set a spin box without the redraw its valueChanged would ask for."""
    if value is not None:
        spin.blockSignals(True)
        spin.setValue(value)
        spin.blockSignals(False)


class _StripsBox(QGroupBox):
    """A row of controls above one image strip per side."""

    def __init__(self, title: str, *, placeholder: str, parent: QWidget | None = None):
        super().__init__(title, parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        self.row = QHBoxLayout()
        layout.addLayout(self.row)
        self.strips: dict[str, ImageStrip] = {}
        for s in SIDES:
            strip = ImageStrip(label=DEFAULT_NAMES[s], placeholder=placeholder)
            strip.setMinimumHeight(STRIP_MIN_HEIGHT)
            layout.addWidget(strip, 1)
            self.strips[s] = strip

    def _spin(self, label: str, tip: str, **range_) -> QSpinBox:
        self.row.addWidget(QLabel(label))
        spin = QSpinBox(**range_)
        spin.setToolTip(tip)
        self.row.addWidget(spin)
        return spin

    def set_model_name(self, side: str, name: str) -> None:
        """Label ``side``'s strip; both strips' images start at the same x."""
        self.strips[side].set_label(name)
        width = max(strip.natural_label_width() for strip in self.strips.values())
        for strip in self.strips.values():
            strip.set_min_label_width(width)

    def show_images(self, side: str, images: np.ndarray | None, captions: Sequence[str] | None = None) -> None:
        if images is None:
            self.strips[side].clear()
        else:
            self.strips[side].set_images(images, captions)

    def clear(self) -> None:
        for strip in self.strips.values():
            strip.clear()


class SamplingBox(_StripsBox):
    """How many codes to draw from N(0, I) and with which seed; ``values_changed(n,
    seed)`` when either spin box changes."""

    values_changed = Signal(int, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Samples from the prior N(0, I)", placeholder="Press Sample", parent=parent)
        self.button = QPushButton("Sample")
        self.button.setToolTip("Draw codes from N(0, I) and decode them with both models (stars on the plots)")
        self.row.addWidget(self.button)
        self.n = self._spin("n", "How many codes to draw", minimum=1, maximum=24, value=12)
        self.seed = self._spin("seed", "Random seed: the same seed draws the same codes", minimum=0, maximum=999_999, value=0)
        self.row.addStretch(1)
        for spin in (self.n, self.seed):
            spin.valueChanged.connect(lambda _: self.values_changed.emit(*self.values()))

    def values(self) -> tuple[int, int]:
        return self.n.value(), self.seed.value()

    def set_values(self, n: int | None = None, seed: int | None = None) -> None:
        """Show these values without emitting ``values_changed``."""
        set_quietly(self.n, n)
        set_quietly(self.seed, seed)

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("sample_n", self.n.value())
        settings.setValue("sample_seed", self.seed.value())

    def restore_settings(self, settings: QSettings) -> None:
        self.n.setValue(settings.value("sample_n", self.n.value(), type=int))
        self.seed.setValue(settings.value("sample_seed", self.seed.value(), type=int))


class InterpolationBox(_StripsBox):
    """The two test images a path runs between (typed, or picked by clicking two
    points while ``pick_button`` is down) and its number of steps."""

    steps_changed = Signal(int)
    status_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, count: int = 1):
        super().__init__(
            "Interpolation between two test images", placeholder="Pick two points or choose two test images", parent=parent,
        )
        self._picks: list[int] = []
        self.pick_button = QPushButton("Pick two points")
        self.pick_button.setCheckable(True)
        self.pick_button.setToolTip("Then click two points on either plot: the path runs between their test images")
        self.pick_button.toggled.connect(self._pick_toggled)
        self.row.addWidget(self.pick_button)
        self.a = self._spin("from #", "Index of the first test image", minimum=0, value=0)
        self.b = self._spin("to #", "Index of the last test image", minimum=0, value=1)
        self.steps = self._spin("steps", "Images along the path, ends included", minimum=2, maximum=24, value=10)
        self.set_count(count)
        self.button = QPushButton("Interpolate")
        self.button.setToolTip("Decode the straight path between the two images' codes with both models")
        self.row.addWidget(self.button)
        self.row.addStretch(1)
        self.steps.valueChanged.connect(self.steps_changed)

    def set_count(self, n: int) -> None:
        """The number of test images the ends are chosen from."""
        for spin in (self.a, self.b):
            spin.setMaximum(max(0, n - 1))

    def values(self) -> tuple[int, int, int]:
        return self.a.value(), self.b.value(), self.steps.value()

    def set_values(self, a: int | None = None, b: int | None = None, steps: int | None = None) -> None:
        """Show these values without emitting ``steps_changed``."""
        for spin, value in ((self.a, a), (self.b, b), (self.steps, steps)):
            set_quietly(spin, value)

    def picking(self) -> bool:
        return self.pick_button.isChecked()

    def add_pick(self, index: int) -> tuple[int, int] | None:
        """Test image ``index`` is an end of the path: the two ends once both are picked
        (picking is then over), else None."""
        self._picks.append(index)
        (self.a if len(self._picks) == 1 else self.b).setValue(index)
        if len(self._picks) < 2:
            return None
        a, b = self._picks[:2]
        self.pick_button.setChecked(False)  # clears the picks
        return a, b

    def clear(self) -> None:
        """Empty strips, and no end picked yet (picking stays on if it was)."""
        super().clear()
        self._picks = []

    def _pick_toggled(self, on: bool) -> None:
        self._picks = []
        if on:
            self.status_changed.emit("Click the first point of the path on either plot (Esc cancels)")

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("interp_steps", self.steps.value())

    def restore_settings(self, settings: QSettings) -> None:
        self.steps.setValue(settings.value("interp_steps", self.steps.value(), type=int))


def bottom_row(sampling: SamplingBox, interpolation: InterpolationBox) -> QWidget:
    """The row under the plots: samples on the left, the path on the right, equally wide."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(sampling, 1)
    layout.addWidget(interpolation, 1)
    return row
