"""StepOverlay: what a latent plot adds while a run goes step by step or in slow
motion: a faint trail behind every probe point through its last positions, and rings
around the codes of the training batch the latest step used.

One curve item per class draws all of that class's trails (a connect array breaks
the line between two points' trails): a thousand trails stay a handful of items."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from explorer.widgets.theme import CLASS_COLORS, LIGHT, Theme

TRAIL_ALPHA = 110
RING_SIZE = 8  # probe points are 4 pixels across
TRAIL_Z = -5  # under the points, above the plot's backgrounds
RING_Z = 15  # above the points, under the crosshair and overlays


class _Rings(pg.ScatterPlotItem):
    """Rings that let clicks through to the plot, like its points."""

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph API)
        ev.ignore()


def trail_segments(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, connect) for one curve item from ``paths`` of shape (T, P, 2), the T
    positions of P points oldest first: each point's positions in order, joined to
    the next only within the same point's trail."""
    t, p = paths.shape[0], paths.shape[1]
    flat = np.ascontiguousarray(paths.transpose(1, 0, 2)).reshape(p * t, 2)
    connect = np.ones(p * t, dtype=bool)
    connect[t - 1 :: t] = False
    return flat[:, 0], flat[:, 1], connect


class StepOverlay:
    """Trails and batch rings on one pyqtgraph plot (a LatentPlot)."""

    def __init__(self, plot: pg.PlotWidget, *, theme: Theme = LIGHT):
        pi = plot.getPlotItem()
        self.trails: list[pg.PlotCurveItem] = []
        for color in CLASS_COLORS:
            c = pg.mkColor(color)
            c.setAlpha(TRAIL_ALPHA)
            item = pg.PlotCurveItem(pen=pg.mkPen(c, width=1))
            item.setZValue(TRAIL_Z)
            item.setVisible(False)
            pi.addItem(item, ignoreBounds=True)
            self.trails.append(item)
        self.rings = _Rings(size=RING_SIZE, hoverable=False)
        self.rings.setZValue(RING_Z)
        self.rings.setVisible(False)
        pi.addItem(self.rings, ignoreBounds=True)
        self._brushes = [pg.mkBrush(color) for color in CLASS_COLORS]
        self.apply_theme(theme)

    def set_trails(self, paths: np.ndarray | None, labels: np.ndarray | None = None) -> None:
        """Trails through ``paths`` (T, P, 2), coloured by the P points' ``labels``; None hides them."""
        if paths is None or labels is None or paths.shape[0] < 2:
            for item in self.trails:
                item.setVisible(False)
            return
        labels = np.asarray(labels)
        for k, item in enumerate(self.trails):
            mine = paths[:, labels == k]
            if mine.shape[1] == 0:
                item.setVisible(False)
                continue
            x, y, connect = trail_segments(mine)
            item.setData(x=x, y=y, connect=connect)
            item.setVisible(True)

    def set_batch(self, xy: np.ndarray | None, labels: np.ndarray | None = None) -> None:
        """Rings at ``xy`` (B, 2), filled in the classes' colours; None hides them."""
        if xy is None or len(xy) == 0:
            self.rings.setVisible(False)
            return
        labels = np.zeros(len(xy), dtype=np.int64) if labels is None else np.asarray(labels) % len(CLASS_COLORS)
        self.rings.setData(x=xy[:, 0], y=xy[:, 1], brush=[self._brushes[k] for k in labels])
        self.rings.setVisible(True)

    def clear(self) -> None:
        self.set_trails(None)
        self.set_batch(None)

    def trails_shown(self) -> bool:
        return any(item.isVisible() for item in self.trails)

    def batch_shown(self) -> np.ndarray | None:
        """The ring positions shown (B, 2), or None."""
        if not self.rings.isVisible():
            return None
        return np.column_stack(self.rings.getData())

    def apply_theme(self, theme: Theme) -> None:
        self.rings.setPen(pg.mkPen(theme.foreground, width=1.3))
