"""A small window (1000 x 650): in the Explore, Train and Draw panels and the Lab's
Larger latents tab nothing lies over anything else and no label, caption or plot
title is cut. Each panel is laid out at the size its tab page has in a 1000 x 650
window (and at 1600 x 1000), with its texts filled in the way a user fills them."""
from __future__ import annotations

import itertools
import re

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, QSize
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

from explorer.lab.latent import LargerLatentExperiment
from explorer.panels.draw import DrawPanel
from explorer.panels.explore import ExplorePanel
from explorer.panels.train import TrainPanel
from explorer.startup import StartupData, load_startup
from explorer.widgets.image_view import ImageView
from explorer.widgets.latent_plot import LatentPlot
from explorer.window import MainWindow, fit_to_screen
from models.jobs import JobFinished

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

SMALL = QSize(1000, 650)
LARGE = QSize(1600, 1000)


@pytest.fixture(scope="module")
def startup() -> StartupData:
    return load_startup()


@pytest.fixture
def window(qtbot, startup, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.wait_for_models()
    yield w
    w.train_panel.shutdown(1.0)


def page_size(window: MainWindow, size: QSize) -> QSize:
    """The size of a tab page in a window of ``size`` (menus, toolbar, tabs and status bar taken off)."""
    chrome = window.size() - window.explore.size()
    return size - chrome


def lay_out(qtbot, panel: QWidget, size: QSize) -> None:
    """Show ``panel`` on its own at ``size``; it must take that size (its minimum fits)."""
    qtbot.addWidget(panel)
    panel.resize(size)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: panel.size() == size, timeout=2000)
    # Labels that wrap settle their height after the first layout pass.
    for _ in range(3):
        qtbot.wait(0)
        panel.layout().activate()


def rect_in(panel: QWidget, w: QWidget) -> QRect:
    return QRect(w.mapTo(panel, QPoint(0, 0)), w.size())


def text_of(label: QLabel) -> str:
    return re.sub(r"<[^>]+>", "\n", label.text())


def assert_whole(w: QWidget) -> None:
    """``w`` shows all of its text: a label its lines, a button its text, an image view its caption."""
    name = w.objectName() or type(w).__name__ + " " + (w.text() if hasattr(w, "text") else "")
    if isinstance(w, QLabel):
        if w.wordWrap():
            assert w.heightForWidth(w.width()) <= w.height(), f"{name!r}: wrapped text taller than its label"
        else:
            assert w.sizeHint().width() <= w.width(), f"{name!r}: cut ({w.sizeHint().width()} > {w.width()} px)"
    elif isinstance(w, QAbstractButton):
        assert w.sizeHint().width() <= w.width() and w.minimumSizeHint().height() <= w.height(), f"{name!r}: cut"
    elif isinstance(w, ImageView):
        caption = w.caption()
        assert w.fontMetrics().horizontalAdvance(caption) <= w.width(), f"caption {caption!r} cut"
    elif isinstance(w, LatentPlot):
        shown, pt = w.shown_title()
        # Whole, or the model's short name, or cut with its whole text in the tooltip.
        assert shown in w.title_forms() or (shown.endswith("…") and w.getPlotItem().titleLabel.toolTip() == w._title), shown
        assert "<br>" not in shown, f"title {shown!r} on two lines: pyqtgraph's title row holds one"
        # Where it is drawn (centred over the plot area): inside the widget.
        drawn = w.getPlotItem().titleLabel.item.sceneBoundingRect()
        assert drawn.left() >= 0 and drawn.right() <= w.width(), f"title {shown!r} drawn at {drawn}, plot {w.width()} px"


def assert_apart(panel: QWidget, widgets: list[QWidget]) -> None:
    """Every widget is shown, inside the panel, whole, and none overlaps another."""
    bounds = panel.rect()
    for w in widgets:
        assert w.isVisible(), f"{w!r} hidden"
        r = rect_in(panel, w)
        assert bounds.contains(r), f"{w!r} at {r} outside the panel {bounds}"
        assert_whole(w)
    for a, b in itertools.combinations(widgets, 2):
        ra, rb = rect_in(panel, a), rect_in(panel, b)
        assert not ra.intersects(rb), f"{a!r} {ra} overlaps {b!r} {rb}"


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1000x650", "1600x1000"])
def test_explore_panel_has_nothing_over_anything(qtbot, window, size):
    panel = ExplorePanel(dataset=window.context)
    for side in ("left", "right"):
        panel.set_checkpoint(side, window.explore.checkpoint(side))
    lay_out(qtbot, panel, page_size(window, size))
    panel.demo()  # a selected test image with its code lines, samples, a path, a probed point
    qtbot.wait(0)
    probe, details = panel.probe_box, panel.details
    assert "#" in details.title() and "z = (" in panel.detail_label.text()
    widgets = [
        panel.legend, panel.hint, *panel.plots.values(), *probe.views.values(), probe.linked_box, probe.note,
        *details.views.values(), details.label, panel.sample_button, panel.pick_button, panel.interp_button,
        *panel.sample_strips.values(), *panel.interp_strips.values(),
    ]
    assert_apart(panel, widgets)
    # The group box titles sit above their contents.
    for box, first in ((probe, probe.views["left"]), (details, details.views["original"])):
        title_height = box.fontMetrics().height()
        assert rect_in(box, first).top() >= title_height


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1000x650", "1600x1000"])
def test_train_panel_has_nothing_over_anything(qtbot, window, tmp_path, size):
    panel = TrainPanel(runs_dir=tmp_path / "runs", data_dir=tmp_path / "no-data")
    lay_out(qtbot, panel, page_size(window, size))
    # The longest titles a run gives its plots: a VAE with an 8-D code.
    panel.form.latent_spin.setValue(8)
    panel.live.start_run(panel.form.build_job().configs)
    for side, plot in panel.live.plots.items():
        plot.set_space(None, title=panel.live.plot_title(side, "after training"))
    panel._on_finished(JobFinished(stopped=False, checkpoints=(str(tmp_path / "run" / "ae.pt"),), seconds=12.0,
                                   warnings=("AE: the training loss ended at 4.9e+07: training diverged",)))
    qtbot.wait(0)
    panel.layout().activate()
    assert panel.warning_label.isVisible() and panel.bundled_button.isVisible()
    widgets = [panel.progress, panel.run_label, panel.warning_label, panel.bundled_button,
               *panel.live.plots.values(), *panel.live.decoded.values(), panel.losses,
               panel.start_button, panel.pause_button, panel.stop_button]
    assert_apart(panel, widgets)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1000x650", "1600x1000"])
def test_draw_panel_has_nothing_over_anything_and_cuts_no_caption(qtbot, window, size):
    panel = DrawPanel(workbench=window.workbench)
    lay_out(qtbot, panel, page_size(window, size))
    panel.demo()  # a drawn '2': the readout's longest lines (the VAE's posterior)
    qtbot.wait(0)
    panel.layout().activate()
    assert "posterior" in panel.readout.text()
    buttons = [b for b in panel.findChildren(QAbstractButton) if b.isVisible() and b.text() in
               ("Brush", "Eraser", "Undo", "Clear", "Zoom to drawing")]
    assert len(buttons) == 5
    widgets = [panel.canvas, panel.readout, panel.size_slider, panel.preview, *panel.recon_views.values(),
               *panel.plots.values(), *panel.nearest.values(), *buttons]
    assert_apart(panel, widgets)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1000x650", "1600x1000"])
def test_larger_latents_sentence_stays_under_its_bar_chart(qtbot, window, size):
    window.show_panel("lab")
    window.lab.registry.show("latent8")
    qtbot.waitUntil(lambda: window.lab.registry.panel("latent8").isVisible())
    lab_chrome = window.lab.size() - window.lab.registry.panel("latent8").size()
    panel = LargerLatentExperiment(dataset=window.context)
    lay_out(qtbot, panel, page_size(window, size) - lab_chrome)
    panel.demo()
    qtbot.wait(0)
    panel.layout().activate()
    assert "of the variance" in panel.variance_label.text()
    widgets = [panel.plot, panel.intro_label, panel.decoded_view, panel.original_view, panel.full_view,
               panel.shadow_view, panel.variance_plot, panel.variance_label, panel.along_strip, panel.along_strip2]
    assert_apart(panel, widgets)


def test_the_window_reaches_1000_by_650_in_these_panels(qtbot, window):
    """What the window may shrink to is the largest minimum of its pages: these panels'
    must fit a 1000 x 650 window."""
    page = page_size(window, SMALL)
    window.show_panel("lab")
    lab = window.lab
    lab.registry.show("latent8")
    qtbot.waitUntil(lambda: lab.registry.panel("latent8").isVisible())
    lab_chrome = lab.size() - lab.registry.panel("latent8").size()
    for name in ("explore", "train", "draw"):
        hint = window.panel(name).minimumSizeHint()
        assert hint.width() <= page.width() and hint.height() <= page.height(), f"{name}: minimum {hint.toTuple()}"
    hint = lab.registry.panel("latent8").minimumSizeHint() + lab_chrome
    assert hint.width() <= page.width() and hint.height() <= page.height(), f"latent8: minimum {hint.toTuple()}"
    window.resize(SMALL)
    qtbot.waitUntil(lambda: window.width() == SMALL.width())




def test_explore_plot_titles_fit_in_the_window_itself(qtbot, window):
    """In the window (not a panel on its own), where the VAE plot's wider tick labels move
    its plot area right: each title is drawn inside its plot at 1000 x 650."""
    window.show()
    window.resize(SMALL)
    qtbot.waitUntil(lambda: window.width() == SMALL.width())
    for _ in range(3):
        qtbot.wait(0)
    for plot in window.explore.plots.values():
        drawn = plot.getPlotItem().titleLabel.item.sceneBoundingRect()
        assert drawn.left() >= 0 and drawn.right() <= plot.width(), (plot.shown_title(), drawn, plot.width())


def test_a_window_saved_on_a_larger_screen_reopens_inside_this_one(qtbot, startup, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    first = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(first)
    avail = first.screen().availableGeometry()
    # A window as large as a bigger monitor allowed, saved on close.
    first.resize(avail.width() + 600, avail.height() + 400)
    first.save_settings()
    first.train_panel.shutdown(1.0)
    again = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(again)
    # And a first start, with no saved size: the default (1400 x 900) is larger than this screen.
    fresh = MainWindow(startup=startup, settings=None, theme_choice="light")
    qtbot.addWidget(fresh)
    assert avail.width() < 1400 or avail.height() < 900, avail  # the offscreen screen is small
    for w in (again, fresh):
        fit_to_screen(w)  # as the app does before it shows the window
        assert w.width() <= avail.width() and w.height() <= avail.height(), (w.size().toTuple(), avail)
        assert avail.contains(w.geometry().topLeft())
        w.train_panel.shutdown(1.0)
