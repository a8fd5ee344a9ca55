"""The Explore panel's two latent plots side by side, and what is done to both at once."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QSplitter, QWidget

from explorer.startup import SIDES
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import LIGHT, Theme

BACKGROUNDS = (
    ("manifold", "Decoded manifold", "Tile images decoded on a lattice of the visible plane under the points"),
    ("prior", "Prior contours", "Circles of the VAE prior N(0, I) at 1, 2 and 3 standard deviations"),
    ("density", "Code density", "A 2-D histogram of where the test images' codes lie"),
)


class PlotPair(QSplitter):
    """One LatentPlot per side. Backgrounds (an action each), hidden classes, the view
    reset and the theme apply to both; the plots' drags and clicks come out with the
    side they happened on."""

    probe_changed = Signal(str, float, float)  # side, plane point under a left-drag
    clicked = Signal(str, float, float, float)  # side, plane point, click radius in plane units

    def __init__(self, parent: QWidget | None = None, *, theme: Theme = LIGHT):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setChildrenCollapsible(False)
        self.plots: dict[str, LatentPlot] = {}
        for side in SIDES:
            plot = LatentPlot(role=side, theme=theme)
            plot.probe_changed.connect(lambda x, y, side=side: self.probe_changed.emit(side, x, y))
            # A drag moves the crosshair over both plots (linked decoding): both keep
            # their points as pixmaps meanwhile (see LatentPlot.cache_points).
            plot.dragging_changed.connect(self._cache_points)
            plot.clicked.connect(lambda x, y, r, side=side: self.clicked.emit(side, x, y, r))
            self.addWidget(plot)
            self.plots[side] = plot
        self.background_actions: dict[str, QAction] = {}
        for i, (name, text, tip) in enumerate(BACKGROUNDS, start=1):
            a = QAction(text, self, checkable=True)
            a.setToolTip(tip)
            a.setShortcut(QKeySequence(f"Ctrl+{i}"))
            a.toggled.connect(lambda on, name=name: self.set_background(name, on))
            self.background_actions[name] = a
        self.reset_action = QAction("&Reset view", self)
        self.reset_action.setShortcuts([QKeySequence("Ctrl+0"), QKeySequence("R")])
        self.reset_action.setToolTip("Show all codes again (Ctrl+0 or R)")
        self.reset_action.triggered.connect(self.reset_view)

    def _cache_points(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.cache_points(on)

    def set_background(self, name: str, on: bool) -> None:
        """Switch background ``name`` on both plots (and its action)."""
        action = self.background_actions[name]
        if action.isChecked() != on:
            action.setChecked(on)  # re-enters through toggled
            return
        for plot in self.plots.values():
            plot.set_background(name, on)

    def set_class_visible(self, k: int, visible: bool) -> None:
        for plot in self.plots.values():
            plot.set_class_visible(k, visible)

    def reset_view(self) -> None:
        for plot in self.plots.values():
            plot.reset_view()

    def flush(self) -> None:
        """Finish debounced background work (the manifold) now."""
        for plot in self.plots.values():
            plot.flush()

    def apply_theme(self, theme: Theme) -> None:
        for plot in self.plots.values():
            plot.apply_theme(theme)

    def save_settings(self, settings: QSettings) -> None:
        for name, action in self.background_actions.items():
            settings.setValue(f"background/{name}", action.isChecked())

    def restore_settings(self, settings: QSettings) -> None:
        for name, action in self.background_actions.items():
            action.setChecked(settings.value(f"background/{name}", False, type=bool))
