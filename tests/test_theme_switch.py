"""Switching the theme while the app runs: every text the panels drew in the old
theme's colours (help text, plot legends, titles) takes the new theme's, so none is
left dark on dark or pale on white."""
from __future__ import annotations

import re

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel

from explorer.startup import load_startup
from explorer.widgets.loss_curves import Line, LossCurves, Markers
from explorer.widgets.theme import DARK, LIGHT
from explorer.window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

# A text this far from its background reads; the old theme's text colour left on the
# new background is under 3.3 (dark grey on dark) or under 3 (pale on white).
MIN_CONTRAST = 4.0


def luminance(colour: QColor) -> float:
    def channel(v: int) -> float:
        v = v / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.red()) + 0.7152 * channel(colour.green()) + 0.0722 * channel(colour.blue())


def contrast(a: QColor, b: QColor) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def html_colour(label: pg.LabelItem) -> QColor:
    """The colour a pyqtgraph label is drawn in (from the HTML it renders)."""
    found = re.findall(r"color:\s*#([0-9a-fA-F]{6,8})", label.item.toHtml())
    assert found, label.item.toHtml()
    return QColor("#" + found[-1][-6:])


def legend_labels(plot: pg.PlotWidget) -> list[pg.LabelItem]:
    legend = plot.getPlotItem().legend
    return [label for _, label in legend.items] if legend is not None else []


@pytest.fixture(scope="module")
def startup():
    return load_startup()


@pytest.fixture
def window(qtbot, startup, tmp_path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.build_all_panels()
    for name in w.lab.registry.names():
        w.lab.registry.panel(name)
    return w


def _train_curves(panel) -> LossCurves:
    """The Train panel's loss plots with a run's lines, markers and legend entries in them."""
    losses = panel.losses
    for side in ("left", "right"):
        losses.reset(side, title="loss", lines=(Line("loss", "total"), Line("kl", "KL", colour="#ff7f0e")),
                     markers=(Markers("test", "test"),))
        losses.add_points(side, np.arange(1, 51), {"loss": np.linspace(200, 100, 50), "kl": np.linspace(1, 5, 50)})
        losses.add_test(side, 50, {"test": 110.0})
    losses.draw()
    assert all(len(legend_labels(losses.plots[s])) == 3 for s in ("left", "right"))
    return losses


def _pages(window: MainWindow):
    """Every panel and every Lab experiment, by name."""
    for name in window.panel_names():
        if name != "lab":
            yield name, window.panel(name)
    for name in window.lab.registry.names():
        yield f"lab/{name}", window.lab.registry.panel(name)


def _badly_coloured_texts(window: MainWindow) -> list[str]:
    bad = []
    theme = window.theme
    window_bg = QApplication.palette().color(QPalette.ColorRole.Window)
    inpaint_help = next(lab for lab in window.inpaint.findChildren(QLabel) if lab.text().startswith("<b>How each fills"))
    denoise_help = window.denoise.explain
    for what, label in (("Inpaint help", inpaint_help), ("Denoise help", denoise_help)):
        colour = label.palette().color(label.foregroundRole())
        if contrast(colour, window_bg) < MIN_CONTRAST:
            bad.append(f"{what}: {colour.name()} on {window_bg.name()}")
    for page, panel in _pages(window):
        for plot in panel.findChildren(pg.PlotWidget):
            bg = QColor(theme.background)
            assert plot.backgroundBrush().color() == bg, page
            title = plot.getPlotItem().titleLabel
            texts = [("title", title)] if title.text else []
            texts += [("legend", label) for label in legend_labels(plot)]
            for kind, label in texts:
                colour = html_colour(label)
                if contrast(colour, bg) < MIN_CONTRAST:
                    bad.append(f"{page}: {kind} {label.text!r} in {colour.name()} on {bg.name()}")
    return bad


def test_texts_and_legends_follow_each_theme_switch(window, qtbot):
    curves = _train_curves(window.train_panel)
    window.inpaint.start()  # its legend lists the methods; the plot keeps them
    legends = {page: sum(len(legend_labels(p)) for p in panel.findChildren(pg.PlotWidget)) for page, panel in _pages(window)}
    for page in ("inpaint", "train", "lab/linear", "lab/capacity"):
        assert legends[page] > 0, f"{page} has no legend to check"
    assert _badly_coloured_texts(window) == []
    for choice, theme in (("dark", DARK), ("light", LIGHT), ("dark", DARK)):
        window.apply_theme(choice)
        assert window.theme == theme
        # Qt hands the new palette to the widgets through the event loop.
        try:
            qtbot.waitUntil(lambda: _badly_coloured_texts(window) == [], timeout=2000)
        except qtbot.TimeoutError:
            pass
        assert _badly_coloured_texts(window) == [], f"after switching to {choice}"
        # The Train panel's test markers are outlined in the plot's background colour.
        marker = curves.markers["left"]["test"]
        assert marker.opts["symbolPen"].color() == QColor(theme.background)


@pytest.mark.parametrize("start", ["light", "dark"])
def test_loss_curve_legend_entries_take_the_new_theme(qtbot, start):
    first, second = (LIGHT, DARK) if start == "light" else (DARK, LIGHT)
    curves = LossCurves(theme=first)
    qtbot.addWidget(curves)
    curves.reset("left", title="AE loss", lines=(Line("loss", "total"), Line("mse", "MSE", colour="#1f77b4")))
    curves.add_points("left", np.arange(1, 11), {"loss": np.linspace(2, 1, 10), "mse": np.linspace(1, 0.5, 10)})
    curves.draw()
    labels = legend_labels(curves.plots["left"])
    assert [label.text for label in labels] == ["total", "MSE"]
    assert all(contrast(html_colour(label), QColor(first.background)) >= MIN_CONTRAST for label in labels)
    curves.apply_theme(second)
    for label in labels:
        assert contrast(html_colour(label), QColor(second.background)) >= MIN_CONTRAST, label.text
