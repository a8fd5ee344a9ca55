"""LossCurves: a row of loss plots, one per model, on a logarithmic axis: the training
loss as a moving mean, and test figures as markers. It is handed plain arrays and
numbers, and knows nothing of jobs or models."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QWidget

from explorer.widgets.theme import LIGHT, Theme, style_legend, style_plot

FLOOR = 1e-8  # the smallest value drawn: a log axis has no place for zero


@dataclass(frozen=True)
class Line:
    """A training curve: the values reported under ``key``."""

    key: str
    label: str  # the legend's entry
    colour: str | None = None  # None: the total, in the theme's text colour, solid and on top


@dataclass(frozen=True)
class Markers:
    """Test figures (one marker per evaluation): the values reported under ``key``."""

    key: str
    label: str | None = None  # the legend's entry (None: not in the legend)
    colour: str | None = None  # None: the theme's text colour


def moving_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` values (shorter at the start), same length."""
    if window <= 1 or len(values) == 0:
        return values
    c = np.cumsum(np.concatenate([[0.0], values.astype(np.float64)]))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return ((c[idx] - c[lo]) / (idx - lo)).astype(np.float32)


class _Side:
    """What one plot has been told: its lines and markers, and the values so far."""

    def __init__(self, lines: Sequence[Line] = (), markers: Sequence[Markers] = ()):
        self.lines = tuple(lines)
        self.markers = tuple(markers)
        self.steps: list[np.ndarray] = []
        self.values: dict[str, list[np.ndarray]] = {}
        self.tests: dict[str, tuple[list[float], list[float]]] = {m.key: ([], []) for m in self.markers}
        self.follow = True  # the y range follows the curves until the user pans or zooms


class LossCurves(QWidget):
    """One loss plot per side (``sides``), in a row.

    ``reset(side, ...)`` says what a side shows; ``add_points`` and ``add_test`` collect
    values as they come, and ``draw`` shows them (it is the costly part: call it on a
    timer). ``curves`` and ``markers`` are the plot items drawn, by side and key."""

    def __init__(self, parent: QWidget | None = None, *, sides: Sequence[str] = ("left", "right"),
                 theme: Theme = LIGHT, legend_columns: Mapping[str, int] | None = None):
        super().__init__(parent)
        self._theme = theme
        self._titles = {side: "" for side in sides}
        self._sides = {side: _Side() for side in sides}
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {side: {} for side in sides}
        self.markers: dict[str, dict[str, pg.PlotDataItem]] = {side: {} for side in sides}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        for side in sides:
            w = pg.PlotWidget()
            w.setMinimumHeight(170)
            pi = w.getPlotItem()
            pi.hideButtons()
            pi.setMenuEnabled(False)
            pi.showGrid(x=True, y=True, alpha=0.25)
            pi.setLogMode(x=False, y=True)
            pi.setLabel("bottom", "step")
            # Many entries go in one row, in the empty decade above the curves: stacked,
            # they would cover them.
            pi.addLegend(offset=(-10, 4), labelTextSize="8pt", colCount=(legend_columns or {}).get(side, 1))
            # An empty log axis over less than a decade labels every minor tick.
            w.setYRange(-2, 3, padding=0)
            w.getViewBox().sigRangeChangedManually.connect(lambda *a, s=side: self._stop_following(s))
            w.setToolTip("Training loss (lines, averaged over a few steps) and the test set's figures after each epoch (markers); "
                         "the y axis is logarithmic")
            self.plots[side] = w
            row.addWidget(w)
        self.apply_theme(theme)

    def _stop_following(self, side: str) -> None:
        self._sides[side].follow = False

    # ------------------------------------------------------------ what to show

    def set_title(self, side: str, title: str) -> None:
        self._titles[side] = title
        self.plots[side].setTitle(title, color=self._theme.foreground, size="10pt")

    def reset(self, side: str, *, title: str, lines: Sequence[Line] = (), markers: Sequence[Markers] = ()) -> None:
        """Empty ``side`` and say what it shows next: ``lines`` (drawn in this order, the
        legend too) and ``markers``."""
        w = self.plots[side]
        for item in (*self.curves[side].values(), *self.markers[side].values()):
            w.getPlotItem().removeItem(item)
        self.curves[side].clear()
        self.markers[side].clear()
        w.getPlotItem().legend.clear()
        w.setYRange(-2, 3, padding=0)
        self._sides[side] = _Side(lines, markers)
        self.set_title(side, title)

    def add_points(self, side: str, steps: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        """Training losses at ``steps``, by key (drawn at the next ``draw``)."""
        s = self._sides[side]
        s.steps.append(np.asarray(steps))
        for key, v in values.items():
            s.values.setdefault(key, []).append(np.asarray(v))

    def add_test(self, side: str, x: float, values: Mapping[str, float]) -> None:
        """Test figures at step ``x``, by key (the keys no Markers asked for are ignored)."""
        for key, (xs, ys) in self._sides[side].tests.items():
            if key in values:
                xs.append(x)
                ys.append(max(values[key], FLOOR))

    def draw(self, *, smooth: int = 1, skip_before: int = 0) -> None:
        """Draw what was collected: curves as a moving mean over ``smooth`` steps; the
        y range leaves out the steps before ``skip_before`` unless nothing is later."""
        for side, s in self._sides.items():
            if s.steps:
                self._draw_side(side, s, smooth=smooth, skip_before=skip_before)

    def _draw_side(self, side: str, s: _Side, *, smooth: int, skip_before: int) -> None:
        w = self.plots[side]
        steps = np.concatenate(s.steps)
        shown: list[np.ndarray] = []
        top = 0.0
        for line in s.lines:
            parts = s.values.get(line.key)
            if not parts:
                continue
            values = np.concatenate(parts)
            n = min(len(values), len(steps))
            # The step that went NaN / inf is reported too; it has no place on the curve.
            finite = np.isfinite(values[:n])
            x = steps[:n][finite]
            # Minibatch losses are noisy: a moving mean shows the trend.
            y = np.maximum(moving_mean(values[:n][finite], smooth), FLOOR)
            top = max(top, float(y.max())) if len(y) else top
            # The start of a run (KL near 0, the loss near its initial value) would
            # squash the rest of the curve on a log axis.
            late = x > skip_before
            shown.append(y[late] if late.any() else y)
            item = self.curves[side].get(line.key)
            if item is None:
                item = w.plot(pen=self._pen(line), name=line.label)
                item.setZValue(2 if line.colour is None else 1)
                self.curves[side][line.key] = item
            item.setData(x, y)
        if s.follow and any(len(v) for v in shown):
            self._fit_y(w, min(float(v.min()) for v in shown if len(v)), top)
        for m in s.markers:
            xs, ys = s.tests[m.key]
            if not xs:
                continue
            item = self.markers[side].get(m.key)
            if item is None:
                # A PlotDataItem (not a bare scatter) so the plot's log axis applies to it too.
                item = w.plot(pen=None, symbol="o", symbolSize=8, symbolPen=pg.mkPen(self._theme.background),
                              symbolBrush=pg.mkBrush(m.colour or self._theme.foreground), name=m.label)
                self.markers[side][m.key] = item
            item.setData(xs, ys)

    def _pen(self, line: Line):
        if line.colour is None:
            return pg.mkPen(self._theme.foreground, width=2)
        return pg.mkPen(line.colour, width=1.2, style=Qt.PenStyle.DashLine)

    @staticmethod
    def _fit_y(w: pg.PlotWidget, lo: float, hi: float) -> None:
        """Fit the log axis to [lo, hi] when the curves left the view or it is clearly
        too loose: every new range lays the axis out again."""
        if not (math.isfinite(hi) and hi > lo > 0):
            return
        a, b = math.log10(lo), math.log10(hi)
        if b - a > 0.8:
            # Over more than a decade pyqtgraph labels every minor tick unless the
            # range runs from one power of ten to another.
            a, b = math.floor(a), math.ceil(b)
        (_, _), (c0, c1) = w.getViewBox().viewRange()
        outside = a < c0 or b > c1
        loose = c0 < a - 0.25 * (b - a) - 0.02 or c1 > b + 0.25 * (b - a) + 0.02
        if outside or loose:
            w.getPlotItem().setYRange(a, b, padding=0.1)

    # ------------------------------------------------------------ theme

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        for side, w in self.plots.items():
            style_plot(w, theme)
            pi = w.getPlotItem()
            w.setTitle(self._titles[side], color=theme.foreground, size="10pt")
            style_legend(pi.legend, theme)
            for line in self._sides[side].lines:
                if line.colour is None and line.key in self.curves[side]:
                    self.curves[side][line.key].setPen(self._pen(line))
            for m in self._sides[side].markers:
                item = self.markers[side].get(m.key)
                if item is not None:
                    item.setSymbolPen(pg.mkPen(theme.background))
                    item.setSymbolBrush(pg.mkBrush(m.colour or theme.foreground))
