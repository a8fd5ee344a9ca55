"""The Computation panel as a user meets it: it follows the image that is current
(a test image selected in Explore, the drawing, a dragged plot point), its numbers
are models.computation's, Resample moves z and not mu, and it fits a small window."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QRect, QSettings

from explorer.panels.computation import ComputationPanel
from explorer.startup import StartupData, load_startup
from explorer.widgets.computation_views import num, paren
from explorer.widgets.image_view import ImageView
from explorer.widgets.theme import DARK
from explorer.window import MainWindow
from models.checkpoint import save_checkpoint
from models.computation import trace
from models.files import bundled_models_dir
from models.nets import NetConfig, build_model
from test_small_window import LARGE, SMALL, assert_apart, lay_out, page_size

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


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


def mlp_checkpoint(folder, kind: str, latent: int):
    """An MLP of MNIST's shape with real (untrained) weights, saved as a checkpoint: the
    bundled latent-8 models are convolutional, which this view does not show."""
    model = build_model(NetConfig(kind=kind, latent=latent), seed=0)
    return save_checkpoint(folder / f"{kind}{latent}.pt", model, meta={"dataset": "mnist"})


def test_a_convolutional_model_gets_a_sentence_saying_why_it_is_not_shown(qtbot, window):
    folder = bundled_models_dir("mnist")
    assert window.open_checkpoint("right", folder / "vae8.pt")  # the lab's conv VAE, latent 8
    panel = computation(qtbot, window)
    window.explore.select_image(0)
    panel.refresh()
    strip = panel.strips["vae"]
    assert strip.trace is None
    assert "shows MLP models layer by layer; this vae is convolutional" in strip.numbers_label.text()
    assert panel.strips["ae"].trace is not None  # the other model is still shown


def computation(qtbot, window) -> ComputationPanel:
    window.show_panel("computation")
    panel = window.panel("computation")
    qtbot.waitUntil(panel.isVisible)
    return panel


def test_the_strips_show_the_models_numbers_for_the_image_selected_in_explore(qtbot, window):
    panel = computation(qtbot, window)
    wb = window.workbench
    index = int(np.flatnonzero(wb.labels == 7)[0])
    window.explore.select_image(index)
    vae_strip, ae_strip = panel.strips["vae"], panel.strips["ae"]
    qtbot.waitUntil(lambda: vae_strip.trace is not None and vae_strip.trace.input is not None
                    and np.array_equal(vae_strip.trace.input, wb.image(index)))
    vae = wb.vae.model
    eps = panel.eps(vae.latent)
    expected = trace(vae, wb.image(index), eps=eps)
    shown = vae_strip.trace
    for field in ("mu", "logvar", "sigma", "eps", "z", "output"):
        np.testing.assert_allclose(getattr(shown, field), getattr(expected, field), rtol=1e-6, err_msg=field)
    assert (shown.recon, shown.kl, shown.total) == pytest.approx((expected.recon, expected.kl, expected.total))
    # What is written is those numbers: the arithmetic of z1 and the loss line.
    text = vae_strip.numbers_label.text()
    z1 = f"{num(expected.mu[0])} + {num(expected.sigma[0])} × {paren(expected.eps[0])} = <b>{num(expected.z[0])}</b>"
    assert z1 in text
    loss = vae_strip.loss_label.text()
    assert f"KL {num(expected.kl, 2)}" in loss and f"<b>{num(expected.total, 2)}</b> nats" in loss
    assert "drawn outside the network" in vae_strip.sentence_label.text()
    assert f"#{index}" in vae_strip.focus_label.text()
    # The AE above: no sampling, its code and loss.
    ae_expected = trace(wb.ae.model, wb.image(index))
    np.testing.assert_allclose(ae_strip.trace.z, ae_expected.z, rtol=1e-6)
    assert ae_strip.trace.eps is None and "ε" not in ae_strip.numbers_label.text()
    assert num(ae_expected.total, 4) in ae_strip.loss_label.text()
    assert ae_strip.resample_button is None and vae_strip.resample_button.isEnabled()
    assert ae_strip.title_label.text().startswith("<b>AE</b>") and vae_strip.title_label.text().startswith("<b>VAE</b>")


def test_the_strips_follow_the_drawing(qtbot, window):
    panel = computation(qtbot, window)
    window.explore.select_image(0)
    window.draw.demo()  # a drawn 2
    drawing = window.workbench.drawing
    assert drawing is not None
    strip = panel.strips["vae"]
    qtbot.waitUntil(lambda: strip.trace is not None and strip.trace.input is not None
                    and np.allclose(strip.trace.input, drawing))
    assert "drawing" in strip.focus_label.text()
    np.testing.assert_allclose(panel.strips["ae"].trace.input, drawing)


def test_a_dragged_point_starts_the_strips_at_z(qtbot, window):
    panel = computation(qtbot, window)
    window.explore.select_image(3)
    # A drag is a burst of points: the strip ends on the last one.
    for x in np.linspace(-1.0, 0.6, 12):
        window.explore.probe("right", float(x), -0.8)
    strip = panel.strips["vae"]
    qtbot.waitUntil(lambda: strip.trace is not None and strip.trace.starts_at_z)
    z = window.workbench.vae.space.plane_to_codes(np.array([[0.6, -0.8]]))[0]
    np.testing.assert_allclose(strip.trace.z, z, rtol=1e-6)
    assert "decoding the point (0.60, −0.80)" in strip.focus_label.text()
    assert strip.input_view.image() is None and all(v.image() is None for v in strip.encoder_views)
    assert strip.output_view.image() is not None and not strip.resample_button.isEnabled()
    assert "no loss" in strip.loss_label.text()
    expected = window.workbench.vae.space.decode_plane(np.array([[0.6, -0.8]]))[0]
    np.testing.assert_allclose(strip.output_view.image(), expected, atol=1e-5)


def test_resample_draws_a_new_eps_and_keeps_mu(qtbot, window):
    panel = computation(qtbot, window)
    window.explore.select_image(5)
    strip = panel.strips["vae"]
    qtbot.waitUntil(lambda: strip.trace is not None and not strip.trace.starts_at_z
                    and np.array_equal(strip.trace.input, window.workbench.image(5)))
    before = strip.trace
    strip.resample_button.click()
    after = strip.trace
    np.testing.assert_array_equal(after.mu, before.mu)
    np.testing.assert_array_equal(after.sigma, before.sigma)
    assert not np.array_equal(after.eps, before.eps) and not np.array_equal(after.z, before.z)
    np.testing.assert_allclose(after.z, after.mu + after.sigma * after.eps, rtol=1e-5)
    # The same eps is kept while the image changes.
    window.explore.select_image(6)
    qtbot.waitUntil(lambda: np.array_equal(strip.trace.input, window.workbench.image(6)))
    np.testing.assert_array_equal(strip.trace.eps, after.eps)


def test_show_gradients_draws_them_and_moves_no_weight(qtbot, window):
    panel = computation(qtbot, window)
    window.explore.select_image(1)
    vae = window.workbench.vae.model
    weights = {k: v.clone() for k, v in vae.state_dict().items()}
    strip = panel.strips["vae"]
    assert not strip.gradient_views["encoder 1"].isVisible()
    panel.gradients_button.click()
    qtbot.waitUntil(lambda: strip.gradients is not None)
    assert all(v.isVisible() and v.image() is not None for v in strip.gradient_views.values())
    assert "∂L/∂μ" in strip.code_gradient_label.text() and "ε gets none" in strip.code_gradient_label.text()
    for k, v in vae.state_dict().items():
        assert torch.equal(v, weights[k]), k
    assert all(p.grad is None for p in vae.parameters())
    # Explore still decodes with the same model.
    np.testing.assert_allclose(window.workbench.vae.space.reconstruct([1])[0],
                               trace(vae, window.workbench.image(1)).output.clip(0, 1), atol=1e-5)


def test_the_theme_recolours_the_strips(qtbot, window):
    panel = computation(qtbot, window)
    window.apply_theme("dark")
    inset = panel.strips["vae"].inset
    assert inset.backgroundBrush().color().name() == DARK.background
    assert DARK.muted in panel.strips["vae"].sentence_label.text()


@pytest.mark.parametrize(("size", "latent"), [(SMALL, 2), (LARGE, 2), (SMALL, 8)], ids=["1000x650", "1600x1000", "8-D"])
def test_the_panel_has_nothing_over_anything(qtbot, window, size, latent, tmp_path):
    if latent != 2:  # the longest numbers: an 8-D code (two of its dimensions written out)
        left, right = (mlp_checkpoint(tmp_path, kind, 8) for kind in ("ae", "vae"))
        assert window.open_checkpoint("left", left) and window.open_checkpoint("right", right)
    panel = ComputationPanel(workbench=window.workbench)
    lay_out(qtbot, panel, page_size(window, size))
    panel.demo()
    panel.gradients_action.setChecked(True)
    panel.refresh()
    qtbot.wait(0)
    panel.layout().activate()
    for strip in panel.strips.values():
        strip.layout().activate()
    widgets = [panel.intro_label, panel.gradients_button]
    for strip in panel.strips.values():
        widgets += [strip.title_label, strip.input_view, *strip.encoder_views, strip.code_box, *strip.decoder_views,
                    strip.output_view, strip.loss_label, *strip.gradient_views.values(), strip.code_gradient_label]
    vae = panel.strips["vae"]
    widgets += [vae.sentence_label, vae.inset, vae.resample_button, vae.numbers_label]
    widgets.remove(vae.code_box)  # its parts are checked instead
    # The page is at least as large as the panel's minimum: nothing is squeezed below what it needs.
    page = page_size(window, size)
    hint = panel.minimumSizeHint()
    assert hint.width() <= page.width() and hint.height() <= page.height(), hint.toTuple()
    views = [w for w in widgets if isinstance(w, ImageView)]
    assert_apart(panel, [w for w in widgets if w not in views])
    # The views' captions have two lines, each shown whole; no view overlaps another widget.
    for v in views:
        assert v.isVisible() and panel.rect().contains(QRect(v.mapTo(panel, QPoint(0, 0)), v.size())), v.caption()
        assert v.caption_lines_shown() == v.caption().split("\n")[: len(v.caption_lines_shown())], v.caption()
        assert len(v.caption_lines_shown()) == len(v.caption().split("\n")), v.caption()
    for a, b in itertools.combinations(widgets, 2):
        ra, rb = (QRect(w.mapTo(panel, QPoint(0, 0)), w.size()) for w in (a, b))
        assert not ra.intersects(rb), f"{a!r} {ra} overlaps {b!r} {rb}"
    # The numbers and the plot of the code sit side by side inside their column.
    assert vae.numbers_label.sizeHint().width() <= vae.numbers_label.width()
    assert vae.numbers_label.sizeHint().height() <= vae.numbers_label.height()
    assert vae.resample_button.isVisible()
    assert vae.trace.z.size == latent and (latent == 2) == ("of 8" not in vae.numbers_label.text())
