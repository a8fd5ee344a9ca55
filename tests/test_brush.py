"""The Draw panel's default brush draws MNIST's stroke thickness (issue #19): a digit
drawn with it and scaled by to_mnist has about as many inked pixels, and about as
dark, as MNIST's own digits of its class."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.widgets.canvas import MNIST_BRUSH_WIDTH, DrawingCanvas
from models.data import load_bundled
from models.drawing import DIGIT_STROKES, stroke_statistics, to_mnist


@pytest.fixture(scope="module")
def mnist_strokes():
    data = load_bundled("mnist")
    x = data.test_images.astype(np.float32) / 255.0
    return {d: np.mean([stroke_statistics(i) for i in x[data.test_labels == d]], axis=0) for d in DIGIT_STROKES}


def _draw(canvas: DrawingCanvas, digit: int, width: float | None = None) -> np.ndarray:
    canvas.clear()
    for points in DIGIT_STROKES[digit]:
        canvas.stroke(points, width=width)
    img = to_mnist(canvas.array())
    assert img is not None
    return img


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_the_default_brush_draws_mnists_stroke_thickness(qtbot, mnist_strokes, digit):
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    assert canvas.brush_width == MNIST_BRUSH_WIDTH
    share, ink = stroke_statistics(_draw(canvas, digit))
    want_share, want_ink = mnist_strokes[digit]
    assert share == pytest.approx(want_share, rel=0.15), (share, want_share)
    assert ink == pytest.approx(want_ink, abs=0.08), (ink, want_ink)


def test_the_old_thin_brush_drew_too_little_ink(qtbot, mnist_strokes):
    # The measurement can tell widths apart: 22 (the old default) draws a thinner digit.
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    thin = np.mean([stroke_statistics(_draw(canvas, d, 22))[0] / mnist_strokes[d][0] for d in DIGIT_STROKES])
    assert thin < 0.85


def test_the_draw_panel_starts_with_that_brush_and_says_why(qtbot):
    from explorer.panels.draw import DrawPanel
    from explorer.panels.workbench import Workbench
    from explorer.startup import images_context

    data = load_bundled("mnist")
    bench = Workbench(dataset=images_context(data.test_images[:50], data.test_labels[:50]))
    panel = DrawPanel(workbench=bench)
    qtbot.addWidget(panel)
    assert panel.size_slider.value() == MNIST_BRUSH_WIDTH == panel.canvas.brush_width
    assert "MNIST" in panel.size_slider.toolTip() and str(MNIST_BRUSH_WIDTH) in panel.size_slider.toolTip()


def test_a_click_on_the_canvas_draws_a_dot_of_the_brush_width(qtbot):
    from PySide6.QtCore import QPoint, Qt

    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(280, 280)
    canvas.show()
    qtbot.waitExposed(canvas)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(140, 140))
    ink = canvas.array() > 127
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert rows.size and cols.size, "the click drew nothing"
    # A round dot as wide as the brush (in canvas pixels; the widget shows the canvas 1:1 here, less its border).
    assert abs((rows[-1] - rows[0] + 1) - MNIST_BRUSH_WIDTH) <= 4 and abs((cols[-1] - cols[0] + 1) - MNIST_BRUSH_WIDTH) <= 4
