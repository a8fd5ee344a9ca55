"""Small faults a user meets in the window: long status messages, the active tool
button in the dark theme, the Inpaint panel's "Best:" line while a new mask fills, the
Denoise panel at level 0 and at 1000 x 650."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QSlider, QSpinBox, QToolButton

from explorer.startup import load_startup
from explorer.widgets.image_view import ImageStrip, ImageView
from explorer.window import MainWindow
from models.corrupt import CORRUPTIONS, corruptions_for

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

LONG_MESSAGE = ("Loaded the trained models into every panel: the autoencoder from /home/someone/models/run-7/ae.pt "
                "and the VAE from the same folder, in place of the bundled ones")


@pytest.fixture(scope="module")
def startup():
    return load_startup()


def _window(qtbot, startup, tmp_path, theme: str = "light", size=(1000, 650)) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(startup=startup, settings=settings, theme_choice=theme)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    return w


# ------------------------------------------------------------ status bar

def test_a_long_status_message_is_elided_at_a_word_with_the_whole_text_in_its_tooltip(qtbot, startup, tmp_path):
    w = _window(qtbot, startup, tmp_path)
    bar, message = w.statusBar(), w.status.message
    bar.showMessage(LONG_MESSAGE, 10_000)
    # Once laid out, the message has a fair share of the bar (the model fields give way).
    qtbot.waitUntil(lambda: message.width() >= 0.4 * bar.width() and message.shown_text().endswith("…"))
    assert w.width() == 1000  # the status bar does not push the window wider
    shown = message.shown_text()
    head = shown[:-1]
    # Cut between words, not inside one, and at least a few words of it show.
    assert LONG_MESSAGE.startswith(head) and LONG_MESSAGE[len(head)] in " ,;:·" and len(head.split()) >= 4
    assert message.fontMetrics().horizontalAdvance(shown) <= message.contentsRect().width()
    assert message.toolTip() == LONG_MESSAGE
    # Nothing runs into the model fields: every label is left of the next, none overlapping.
    labels = [message, *w.status.model_labels.values(), w.status.data_label]
    for a, b in zip(labels, labels[1:], strict=False):
        assert a.geometry().right() < b.geometry().left(), (a.shown_text(), b.shown_text())
        assert a.fontMetrics().horizontalAdvance(a.shown_text()) <= a.contentsRect().width()
    assert LONG_MESSAGE in w.status_text()  # the whole message, for logs and tests
    # A panel's message goes the same way; a short one shows whole, with no tooltip.
    w.panel("denoise").status_changed.emit("Saved")
    qtbot.waitUntil(lambda: message.shown_text() == "Saved")
    assert message.toolTip() == ""
    bar.clearMessage()
    assert message.shown_text() == ""
    # With no message the model fields show whole again.
    qtbot.waitUntil(lambda: all(label.shown_text() == label.full_text() for label in w.status.model_labels.values()))


# ------------------------------------------------------------ tool buttons

def _median_colour(button: QToolButton) -> np.ndarray:
    image = button.grab().toImage()
    pixels = np.array([[image.pixelColor(x, y).getRgb()[:3] for x in range(image.width())] for y in range(image.height())])
    return np.median(pixels.reshape(-1, 3), axis=0)


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("panel_name", ["inpaint", "draw"])
def test_the_active_tool_button_stands_out(qtbot, startup, tmp_path, theme, panel_name):
    w = _window(qtbot, startup, tmp_path, theme=theme, size=(1400, 900))
    w.show_panel(panel_name)
    panel = w.panel(panel_name)
    buttons = {b.defaultAction().text(): b for b in panel.findChildren(QToolButton) if b.defaultAction() is not None}
    brush, eraser = buttons["Brush"], buttons["Eraser"]
    brush.defaultAction().trigger()
    qtbot.waitUntil(lambda: brush.isChecked() and not eraser.isChecked())
    on, off = _median_colour(brush), _median_colour(eraser)
    assert np.abs(on - off).sum() > 90, (on, off)
    eraser.defaultAction().trigger()
    qtbot.waitUntil(eraser.isChecked)
    assert np.abs(_median_colour(eraser) - on).sum() < 30  # the look moved with the tool


# ------------------------------------------------------------ inpaint

def test_the_best_line_waits_for_the_new_mask_s_fill(qtbot, startup, tmp_path):
    w = _window(qtbot, startup, tmp_path, size=(1400, 900))
    w.show_panel("inpaint")
    panel = w.inpaint
    panel.source.set_source("test")
    panel.animate.setChecked(False)
    panel.set_preset("center_square")
    panel.start()
    old = panel.message.text()
    assert old.startswith("Best:")
    panel.animate.setChecked(True)
    panel.interval.setValue(20)
    panel.set_preset("top_half")
    panel.start()
    assert panel.running()  # the new fill is under way
    assert "Best:" not in panel.message.text() and "MSE" not in panel.message.text()
    qtbot.waitUntil(lambda: not panel.running(), timeout=10_000)
    new = panel.message.text()
    assert new.startswith("Best:") and new != old
    assert f"{panel.mean_error:.4f}" in new


# ------------------------------------------------------------ denoise

def test_an_undamaged_digit_is_called_identical_not_a_clamped_psnr(qtbot, startup, tmp_path):
    w = _window(qtbot, startup, tmp_path, size=(1400, 900))
    w.show_panel("denoise")
    panel = w.denoise
    panel.source.set_source("test")
    for kind in corruptions_for(1):  # what the panel offers for grey digits
        spec = CORRUPTIONS[kind]
        panel.set_kind(kind)
        panel.set_level(spec.level_min)
        if not np.array_equal(panel.noisy, panel.clean):
            continue  # this damage changes the digit even at its lowest level
        assert "identical" in panel.noisy_view.caption() and "dB" not in panel.noisy_view.caption(), kind
        assert "identical" in panel.message.text() and "100.0" not in panel.message.text(), kind
        for view in panel.output_views.values():
            caption = view.caption()
            # A figure for the restoration, and no gain measured from a capped 100 dB.
            assert "100.0" not in caption and "(+" not in caption and "(-" not in caption, (kind, caption)
            assert "dB" in caption or "identical" in caption, (kind, caption)
    panel.set_kind("gaussian")
    panel.set_level(0.0)
    assert "identical" in panel.noisy_view.caption()
    panel.set_level(0.5)
    assert "identical" not in panel.noisy_view.caption() and "dB" in panel.noisy_view.caption()
    assert "(+" in panel.output_views["dae"].caption()  # a real gain is shown again


def _leaf_widgets(panel):
    kinds = (QLabel, QComboBox, QSlider, QSpinBox, QToolButton, ImageView, ImageStrip, QGroupBox)
    return [c for kind in kinds for c in panel.findChildren(kind) if c.isVisible()]


@pytest.mark.parametrize("size", [(1000, 650), (1600, 1000)])
def test_the_denoise_panel_fits_the_window_without_cuts_or_overlaps(qtbot, startup, tmp_path, size):
    w = _window(qtbot, startup, tmp_path, size=size)
    w.show_panel("denoise")
    panel = w.denoise
    panel.source.set_source("test")
    panel.passes.setValue(3)
    qtbot.waitUntil(lambda: w.size().toTuple() == size)
    assert panel.minimumSizeHint().width() <= panel.width() and panel.minimumSizeHint().height() <= panel.height()
    assert panel.rect().contains(panel.childrenRect()) or panel.childrenRect().bottom() <= panel.height()
    for widget in _leaf_widgets(panel):
        if isinstance(widget, QLabel) and not widget.wordWrap() and widget.text():
            assert widget.width() >= widget.sizeHint().width(), f"cut: {widget.text()!r}"
        if isinstance(widget, ImageView):
            assert not any(line.endswith("…") for line in widget.caption_lines_shown()), widget.caption()
        top_left = widget.mapTo(panel, widget.rect().topLeft())
        assert panel.rect().contains(top_left) and panel.rect().contains(widget.mapTo(panel, widget.rect().bottomRight()))
    # No two widgets (neither inside the other) share pixels.
    leaves = _leaf_widgets(panel)
    rects = [(wd, wd.rect().translated(wd.mapTo(panel, wd.rect().topLeft()))) for wd in leaves]
    for i, (a, ra) in enumerate(rects):
        for b, rb in rects[i + 1:]:
            if a.isAncestorOf(b) or b.isAncestorOf(a):
                continue
            assert not ra.intersects(rb), (type(a).__name__, type(b).__name__, ra, rb)
