"""Real mouse gestures on pyqtgraph plots, for the GUI tests."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest


def drag(plot, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A real left-button drag on the plot from one plane point to another."""
    vp = plot.viewport()
    p0 = plot.mapFromScene(plot.getPlotItem().vb.mapViewToScene(pg.Point(*start)))
    p1 = plot.mapFromScene(plot.getPlotItem().vb.mapViewToScene(pg.Point(*end)))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p0)
    QTest.mouseMove(vp, p0 + QPoint(8, 8))
    QTest.mouseMove(vp, p1)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p1)
