"""The Lab in a small window (1000 x 650): in every experiment nothing lies over
anything else, nothing sits outside it and no text is cut, at the size its tab page
has in a 1000 x 650 window and in a 1600 x 1000 one; and the Lab's experiments let
the window shrink to 1000 x 650."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QWidget,
)

import test_small_window as small
from explorer.lab.capacity import CapacityExperiment
from explorer.lab.elbo import ElboExperiment
from explorer.lab.linear import LinearPcaExperiment
from explorer.lab.losses import LossesExperiment
from explorer.startup import DatasetContext
from explorer.widgets.image_view import ImageStrip, ImageView

# The small-window tests' window (with its models loaded) and their layout checks.
startup, window = small.startup, small.window
SMALL, LARGE, lay_out, assert_apart = small.SMALL, small.LARGE, small.lay_out, small.assert_apart

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

SIZES = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1000x650", "1600x1000"])

# Widgets a user reads or uses as one piece: what lies inside them is their own business.
# (A scroll area, a table and a plot among them: their contents scroll or are drawn inside.)
ATOMS = (QLabel, QAbstractButton, QLineEdit, QAbstractSpinBox, QComboBox, QAbstractSlider, QProgressBar,
         QAbstractScrollArea, ImageView, ImageStrip)


def shown_pieces(panel: QWidget) -> list[QWidget]:
    """Every visible piece of ``panel`` that is not part of another piece."""
    pieces = []
    for w in panel.findChildren(QWidget):
        if not isinstance(w, ATOMS) or not w.isVisibleTo(panel) or w.width() == 0:
            continue
        parent, inside = w.parentWidget(), False
        while parent is not None and parent is not panel:
            if isinstance(parent, ATOMS):
                inside = True
                break
            parent = parent.parentWidget()
        if not inside:
            pieces.append(w)
    return pieces


def settle(qtbot, panel: QWidget) -> None:
    """Lay out again after texts changed: every nested layout too (each waits for its own event)."""
    for _ in range(3):
        qtbot.wait(0)
        for w in [panel, *panel.findChildren(QWidget)]:
            if w.layout() is not None:
                w.layout().activate()


def experiment_size(qtbot, window, size: QSize) -> QSize:
    """The size an experiment has inside the Lab of a window of ``size``."""
    window.show_panel("lab")
    window.lab.registry.show("latent8")
    qtbot.waitUntil(lambda: window.lab.registry.panel("latent8").isVisible())
    lab_chrome = window.lab.size() - window.lab.registry.panel("latent8").size()
    return small.page_size(window, size) - lab_chrome


def small_context(window, count: int) -> DatasetContext:
    """The window's dataset with only its first ``count`` test images (so a run is quick)."""
    ctx = window.context
    return dataclasses.replace(ctx, images=ctx.images[:count], labels=ctx.labels[:count])


@SIZES
def test_losses_has_nothing_over_anything(qtbot, window, size):
    panel = LossesExperiment(dataset=window.context)
    lay_out(qtbot, panel, experiment_size(qtbot, window, size))
    panel.x_edit.setText("3, 4, 0, 1")
    panel.x_hat_edit.setText("-4, -3, 1")  # a mismatch: the error line shows too
    panel.show_digit(7)
    settle(qtbot, panel)
    assert panel.error_label.isVisible() and "ranks" in panel.findings.text()
    pieces = shown_pieces(panel)
    assert panel.loss_table in pieces and panel.findings in pieces and panel.error_label in pieces
    assert_apart(panel, pieces)


@SIZES
def test_linear_ae_has_nothing_over_anything(qtbot, window, size):
    panel = LinearPcaExperiment(dataset=small_context(window, 2000))
    lay_out(qtbot, panel, experiment_size(qtbot, window, size))
    panel.latent_spin.setValue(4)
    panel.epochs_spin.setValue(1)
    panel.demo()  # trains to the end: its longest summary and four components in each strip
    settle(qtbot, panel)
    assert "After" in panel.summary.text()
    pieces = shown_pieces(panel)
    assert panel.summary in pieces and panel.intro_label in pieces and all(s in pieces for s in panel.strips)
    assert_apart(panel, pieces)
    panel.shutdown(1.0)


@SIZES
def test_under_overcomplete_has_nothing_over_anything(qtbot, window, size):
    panel = CapacityExperiment(dataset=small_context(window, 1500), sizes=(2, 1024))
    lay_out(qtbot, panel, experiment_size(qtbot, window, size))
    panel.epochs_spin.setValue(1)
    panel.demo()
    settle(qtbot, panel)
    assert "copies" in panel.findings.text()
    pieces = shown_pieces(panel)
    assert panel.findings in pieces and all(s in pieces for s in panel.strips.values())
    assert_apart(panel, pieces)
    panel.shutdown(1.0)


@SIZES
def test_elbo_and_beta_has_nothing_over_anything(qtbot, window, size):
    panel = ElboExperiment(dataset=window.context)
    lay_out(qtbot, panel, experiment_size(qtbot, window, size))
    assert panel.ensure_loaded()
    panel.show_image(0)
    settle(qtbot, panel)
    assert panel.terms_view.iwae_label.text()
    pieces = shown_pieces(panel)
    assert panel.terms_view.iwae_label in pieces and panel.beta_study.compare_label in pieces
    assert_apart(panel, pieces)
    panel.shutdown(1.0)


def test_the_window_reaches_1000_by_650_with_every_lab_experiment(qtbot, window):
    """The Lab's page is as large as its largest experiment needs, built or not: with all
    of them built the window must still shrink to 1000 x 650."""
    window.build_all_panels()
    for name in window.lab.experiment_names():
        window.lab.experiment(name)
    assert np.all([window.lab.is_built(n) for n in window.lab.experiment_names()])
    hint = window.minimumSizeHint()
    assert hint.width() <= SMALL.width() and hint.height() <= SMALL.height(), f"window minimum {hint.toTuple()}"
    window.resize(SMALL)
    qtbot.waitUntil(lambda: window.size() == SMALL)
