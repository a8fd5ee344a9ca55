"""The Draw, Denoise and Inpaint panels as a user meets them, on the bundled models:
real mouse strokes, sliders, masks, and the numbers each panel shows."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from explorer.panels.draw import demo_digit_stroke
from explorer.startup import StartupData, load_startup
from explorer.window import MainWindow
from models.corrupt import preset_mask
from models.drawing import CENTRE, centre_of_mass
from models.metrics import psnr_db

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def startup() -> StartupData:
    s = load_startup()
    assert not s.errors, s.errors
    assert s.dae is not None
    return s


@pytest.fixture
def window(qtbot, startup, tmp_path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def _stroke(widget, points) -> None:
    """A real left-button stroke through widget points."""
    pts = [QPoint(round(x), round(y)) for x, y in points]
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[0])
    for p in pts[1:]:
        QTest.mouseMove(widget, p)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[-1])


def _canvas_points(canvas, points):
    """Canvas-pixel points -> widget points of the canvas as it is shown."""
    side = min(canvas.width(), canvas.height()) - 4.0
    x0, y0 = (canvas.width() - side) / 2, (canvas.height() - side) / 2
    n = canvas.array().shape[0]
    return [(x0 + x / n * side, y0 + y / n * side) for x, y in points]


# --------------------------------------------------------------------------- Draw


def test_a_stroke_changes_the_image_and_moves_the_latent_markers(window, qtbot):
    window.show_panel("draw")
    draw = window.draw
    assert all(p.visible_point_count() == 10_000 for p in draw.plots.values())  # plotted once shown
    assert draw.preview.image() is None
    assert all(p.marker() is None for p in draw.plots.values())

    _stroke(draw.canvas, _canvas_points(draw.canvas, [(140, 50), (140, 230)]))  # a "1"
    draw.refresh()
    first = draw.preview.image()
    assert first is not None and first.shape == (28, 28) and first.max() == pytest.approx(1.0)
    markers = {r: draw.plots[r].marker() for r in draw.plots}
    assert all(m is not None for m in markers.values())
    assert draw.recon_views["vae"].image() is not None
    assert draw.nearest["vae"].count() == 8

    # A second stroke across the top turns the "1" into a "7": new image, markers move.
    _stroke(draw.canvas, _canvas_points(draw.canvas, [(60, 50), (140, 50)]))
    draw.refresh()
    second = draw.preview.image()
    assert np.abs(second - first).sum() > 20
    for role, before in markers.items():
        after = draw.plots[role].marker()
        assert np.hypot(after[0] - before[0], after[1] - before[1]) > 1e-3, role

    # Undo brings the "1" back exactly.
    draw.undo_action.trigger()
    draw.refresh()
    np.testing.assert_array_equal(draw.preview.image(), first)


def test_the_vae_posterior_is_drawn_as_one_and_two_sigma_ellipses(window):
    draw = window.draw
    draw.demo()
    reading = draw.readings["vae"]
    curves = draw.plots["vae"].ellipse_curves()
    assert len(curves) == 2
    mu = np.asarray(reading.xy)
    r1 = np.hypot(*(curves[0] - mu).T)
    r2 = np.hypot(*(curves[1] - mu).T)
    # Radii run between the smallest and largest sigma, and the 2-sigma contour is twice as far out.
    assert r1.min() >= 0.99 * reading.sigma.min() and r1.max() <= 1.01 * reading.sigma.max()
    np.testing.assert_allclose(r2, 2 * r1, rtol=1e-6)
    assert draw.plots["ae"].ellipse_curves() == []  # a plain AE has a code, not a distribution
    assert "KL to the prior" in draw.readout.text()


def test_an_off_centre_drawing_is_centred_by_its_centre_of_mass(window):
    draw = window.draw
    # A small digit drawn in the top-left corner.
    points = [(x * 0.35 + 5, y * 0.35 + 5) for x, y in demo_digit_stroke()]
    draw.canvas.stroke(points, width=9)
    draw.refresh()
    img = draw.preview.image()
    r, c = centre_of_mass(img)
    assert abs(r - CENTRE) <= 1.0 and abs(c - CENTRE) <= 1.0  # where MNIST digits have theirs
    rows, cols = np.nonzero(img > 0.05)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 22  # the 20 x 20 box (+ a soft edge each side)


def test_pen_pressure_sets_the_stroke_width(window):
    """A tablet pen pressed lightly draws a thinner line than one pressed hard."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QPointingDevice, QTabletEvent
    from PySide6.QtWidgets import QApplication

    canvas = window.draw.canvas

    def pen(kind, x, y, pressure):
        p = QPointF(x, y)
        ev = QTabletEvent(kind, QPointingDevice.primaryPointingDevice(), p, p, pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                          Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
        QApplication.sendEvent(canvas, ev)

    ink = {}
    for pressure in (0.1, 1.0):
        canvas.clear()
        (x0, y0), (x1, _) = _canvas_points(canvas, [(40, 140), (240, 140)])
        pen(QEvent.Type.TabletPress, x0, y0, pressure)
        for x in np.linspace(x0, x1, 12):
            pen(QEvent.Type.TabletMove, x, y0, pressure)
        pen(QEvent.Type.TabletRelease, x1, y0, pressure)
        ink[pressure] = int((canvas.array() > 128).sum())
    assert ink[0.1] > 0 and ink[1.0] > 2 * ink[0.1]


def test_an_empty_canvas_is_valid(window, qtbot):
    window.show_panel("draw")
    draw = window.draw
    draw.demo()
    draw.clear_action.trigger()
    draw.refresh()
    assert draw.canvas.is_empty()
    assert draw.preview.image() is None
    assert all(v.image() is None for v in draw.recon_views.values())
    assert all(p.marker() is None for p in draw.plots.values())
    assert window.workbench.drawing is None
    assert "Draw a digit" in draw.readout.text()
    assert window.last_error is None
    # Erasing everything by hand is an empty canvas too.
    draw.canvas.stroke([(100, 100), (180, 100)])
    draw.set_eraser(True)
    draw.canvas.stroke([(100, 100), (180, 100)], width=60)
    draw.refresh()
    assert draw.canvas.is_empty() and draw.preview.image() is None


# --------------------------------------------------------------------------- Denoise


def test_denoising_a_test_image_at_sigma_half_raises_psnr(window):
    window.show_panel("denoise")
    panel = window.denoise
    panel.source.set_source("test")
    panel.set_kind("gaussian")
    gains = []
    for index in range(5):
        panel.source.index.setValue(index)
        panel.set_level(0.5)
        assert panel.level_value() == pytest.approx(0.5)
        clean, noisy, out = panel.clean, panel.noisy, panel.outputs["dae"][-1]
        # What the panel says is what it shows.
        assert panel.psnr["noisy"] == pytest.approx(psnr_db(noisy, clean))
        assert panel.psnr["dae"] == pytest.approx(psnr_db(out, clean))
        np.testing.assert_array_equal(panel.output_views["dae"].image(), out)
        gains.append(panel.psnr["dae"] - panel.psnr["noisy"])
    assert min(gains) > 3.0, gains
    assert f"{panel.psnr['dae']:.1f} dB" in panel.output_views["dae"].caption()


def test_the_level_slider_and_seed_change_the_noise(window):
    panel = window.denoise
    panel.source.set_source("test")
    panel.set_kind("gaussian")
    panel.set_level(0.2)
    light = panel.psnr["noisy"]
    panel.level.setValue(panel.level.value() + 40)  # a user dragging the slider to sigma 0.6
    assert panel.level_value() == pytest.approx(0.6)
    assert panel.psnr["noisy"] < light - 5
    before = panel.noisy.copy()
    panel.seed.setValue(panel.seed.value() + 1)
    assert not np.array_equal(panel.noisy, before)


@pytest.mark.parametrize("kind, level", [("salt_and_pepper", 0.3), ("masking", 0.5), ("blur", 1.5), ("downsample", 4)])
def test_every_kind_of_damage_updates_all_outputs(window, kind, level):
    panel = window.denoise
    panel.source.set_source("test")
    panel.set_kind(kind)
    panel.set_level(level)
    assert panel.level_value() == pytest.approx(level)
    assert not np.allclose(panel.noisy, panel.clean)
    for key in ("dae", "ae", "vae"):
        assert panel.outputs[key] is not None and np.isfinite(panel.psnr[key])
    if kind == "downsample":
        assert panel.level_label.text().endswith("×4")
        # Each 4 x 4 block of the low-resolution input holds one value.
        assert np.ptp(panel.noisy[:4, 4:8]) == 0 and np.ptp(panel.noisy[8:12, 12:16]) == 0


def test_feeding_back_shows_every_pass(window):
    panel = window.denoise
    panel.source.set_source("test")
    panel.passes.setValue(5)
    for key in ("dae", "ae", "vae"):
        assert panel.outputs[key].shape == (5, 28, 28)
        assert panel.pass_strips[key].count() == 5
        np.testing.assert_array_equal(panel.output_views[key].image(), panel.outputs[key][-1])
    # A second pass is the model applied to the first pass's output.
    dae = window.workbench.dae.model
    from models.metrics import feed_back

    np.testing.assert_allclose(panel.outputs["dae"][1], feed_back(dae, panel.outputs["dae"][0], 1)[0], atol=1e-6)


def test_the_drawing_and_vae_samples_are_sources(window):
    panel = window.denoise
    panel.source.set_source("drawing")
    assert panel.clean is None and "draw a digit in the Draw panel" in panel.message.text()
    window.draw.demo()  # drawing in the Draw panel updates the Denoise panel
    np.testing.assert_array_equal(panel.clean, window.workbench.drawing)
    assert panel.outputs["dae"] is not None
    panel.source.set_source("vae_sample")
    first = panel.clean.copy()
    panel.source.sample_button.click()
    assert not np.array_equal(first, panel.clean)


def test_denoise_settings_are_remembered(qtbot, startup, tmp_path):
    path = str(tmp_path / "s.ini")
    settings = QSettings(path, QSettings.Format.IniFormat)
    w = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(w)
    w.denoise.set_kind("salt_and_pepper")
    w.denoise.set_level(0.35)
    w.denoise.source.index.setValue(42)
    w.close()
    again = MainWindow(startup=startup, settings=QSettings(path, QSettings.Format.IniFormat), theme_choice="light")
    qtbot.addWidget(again)
    assert again.denoise.kind_name() == "salt_and_pepper"
    assert again.denoise.level_value() == pytest.approx(0.35)
    assert again.denoise.source.index.value() == 42


# --------------------------------------------------------------------------- Inpaint


def _finish(panel) -> None:
    while panel.step():
        pass


def test_inpainting_beats_the_mean_fill_on_the_hidden_pixels(window):
    window.show_panel("inpaint")
    panel = window.inpaint
    panel.source.set_source("test")
    panel.set_preset("center_square")
    ratios = []
    for index in range(8):
        panel.source.index.setValue(index)
        panel.start()
        _finish(panel)
        errors = panel.final_errors()
        best = min(errors[m] for m in ("ae_projection", "vae_latent", "dae", "dae_masking"))
        ratios.append(best / errors["mean_fill"])
        # Known pixels are never changed by any method.
        mask = panel.editor.mask()
        for m in ("ae_projection", "vae_latent", "dae", "dae_masking"):
            filled = panel.views[m].image()
            np.testing.assert_array_equal(filled[~mask], panel.clean[~mask])
    assert np.mean(ratios) < 0.8, ratios
    assert "the mean image's" in panel.message.text()


def test_the_fill_is_animated_step_by_step(window, qtbot):
    panel = window.inpaint
    panel.source.set_source("test")
    panel.interval.setValue(0)
    panel.set_preset("top_half")
    with qtbot.waitSignal(panel.stepped):
        panel.start()
    assert panel.running()
    steps_seen = len(panel.errors["ae_projection"])
    qtbot.waitUntil(lambda: not panel.running(), timeout=20_000)
    assert len(panel.errors["ae_projection"]) == 21 > steps_seen  # step 0 then 20 iterations
    assert len(panel.curves["vae_latent"].getData()[0]) == 31
    assert panel.progress.text() == "done"


def test_painting_a_mask_with_the_mouse(window, qtbot):
    window.show_panel("inpaint")
    panel = window.inpaint
    editor = panel.editor
    editor.clear()
    assert not editor.mask().any()
    panel.set_tool("brush")
    pts = [editor.pixel_to_widget(14, c) for c in (6, 14, 22)]
    _stroke(editor, [(p.x(), p.y()) for p in pts])
    mask = editor.mask()
    assert mask[14, 6:23].all() and not mask[0].any()
    panel.set_tool("eraser")
    p = editor.pixel_to_widget(14, 14)
    _stroke(editor, [(p.x(), p.y())])
    assert not editor.mask()[14, 14] and editor.mask()[14, 6]
    panel.set_tool("rectangle")
    a, b = editor.pixel_to_widget(2, 3), editor.pixel_to_widget(5, 9)
    _stroke(editor, [(a.x(), a.y()), (b.x(), b.y())])
    assert editor.mask()[2:6, 3:10].all() and not editor.mask()[6, 3]
    qtbot.waitUntil(lambda: panel.mask_label.text().startswith(f"{int(editor.mask().sum())} of 784"))
    editor.undo()
    assert not editor.mask()[2:6, 3:10].all()


def test_a_hidden_inpaint_panel_waits_until_it_is_shown(window, qtbot):
    panel = window.inpaint
    assert not panel.isVisible()
    panel.set_preset("top_half")
    qtbot.waitUntil(lambda: panel._stale)  # the change was seen, and left for later
    assert not panel.running() and panel.results.get("ae_projection") is None
    window.show_panel("inpaint")
    qtbot.waitUntil(lambda: panel.results.get("ae_projection") is not None)
    assert panel.mask_label.text().startswith("392 of 784")


def test_a_fully_masked_image_falls_back_and_says_so(window):
    panel = window.inpaint
    panel.source.set_source("test")
    panel.editor.set_mask(np.ones((28, 28), dtype=bool))
    panel.start()
    _finish(panel)
    text = panel.message.text()
    assert "Every pixel is hidden" in text and "prior" in text and "mean image" in text
    for m in ("ae_projection", "vae_latent", "dae", "dae_masking", "mean_fill"):
        img = panel.views[m].image()
        assert img is not None and np.isfinite(img).all()
    assert window.last_error is None


def test_inpainting_the_drawing(window):
    panel = window.inpaint
    window.draw.demo()
    panel.source.set_source("drawing")
    panel.set_preset("bottom_half")
    panel.start()
    _finish(panel)
    np.testing.assert_array_equal(panel.clean, window.workbench.drawing)
    assert panel.final_errors()["dae"] >= 0


def test_random_pixel_preset_hides_half_the_pixels(window):
    panel = window.inpaint
    panel.set_preset("random_pixels", seed=3)
    np.testing.assert_array_equal(panel.editor.mask(), preset_mask("random_pixels", seed=3).numpy())
    assert panel.editor.mask().sum() == 392


# --------------------------------------------------------------------------- screenshots


@pytest.mark.slow
@pytest.mark.parametrize("panel", ["draw", "denoise", "inpaint"])
def test_screenshot_of_each_panel_shows_a_digit(tmp_path, panel):
    from PySide6.QtGui import QImage

    out = tmp_path / f"{panel}.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--screenshot", str(out), "--panel", panel],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    img = QImage(str(out))
    assert img.width() >= 1000 and img.height() >= 700
    # Lots of pure black (digit backgrounds) and pure white (ink) pixels: digits are on screen.
    grey = img.convertToFormat(QImage.Format.Format_Grayscale8)
    arr = np.frombuffer(grey.constBits(), np.uint8, count=grey.sizeInBytes()).copy()
    assert (arr == 0).mean() > 0.05 and (arr >= 250).mean() > 0.02


def test_single_key_shortcuts_belong_to_the_panel_in_front(window, qtbot):
    """B, E, R, Z are used by several panels; each works on the panel that is shown."""
    window.activateWindow()
    window.show_panel("inpaint")
    QTest.keyClick(window.inpaint.editor, Qt.Key.Key_R)
    assert window.inpaint.editor.tool == "rectangle"
    QTest.keyClick(window.inpaint.editor, Qt.Key.Key_E)
    assert window.inpaint.editor.tool == "eraser" and not window.draw.canvas.eraser
    window.show_panel("draw")
    QTest.keyClick(window.draw.canvas, Qt.Key.Key_E)
    assert window.draw.canvas.eraser and window.inpaint.editor.tool == "eraser"
    QTest.keyClick(window.draw.canvas, Qt.Key.Key_Z)
    assert window.draw.follow_action.isChecked()
    window.show_panel("explore")
    plot = window.explore.plots["right"]
    plot.zoom_to((5.0, 5.0), 0.1)
    QTest.keyClick(window, Qt.Key.Key_R)  # reset view, on the Explore panel
    (x0, x1), _ = plot.view_range()
    assert x1 - x0 > 1.0


# --------------------------------------------------------------------------- datasets


def test_switching_to_fashion_mnist_changes_every_panel(window):
    assert window.set_dataset("fashion-mnist")
    explore = window.explore
    assert explore.legend.button(0).text() == "T-shirt/top" and explore.legend.button(9).text() == "Ankle boot"
    assert explore.plots["right"].visible_point_count() == 10_000
    assert "Fashion-MNIST" in window.status_text()
    assert window.dataset_actions["fashion-mnist"].isChecked()
    # Denoise and Inpaint work on clothes now.
    from models import data

    fashion = data.load_bundled("fashion-mnist").test_images[0].astype(np.float32) / 255
    window.denoise.source.set_source("test")
    window.denoise.source.index.setValue(0)
    np.testing.assert_array_equal(window.denoise.clean, fashion)
    assert window.denoise.source.label.text().endswith(explore.class_names[int(window.workbench.labels[0])])
    window.inpaint.source.set_source("test")
    window.inpaint.start()
    while window.inpaint.step():
        pass
    np.testing.assert_array_equal(window.inpaint.clean, fashion)
    assert window.train_panel.form.dataset_combo.currentData() == "fashion-mnist"
    # And back.
    assert window.set_dataset("mnist")
    assert explore.legend.button(0).text() == "0"


def test_a_dataset_that_is_not_on_disk_is_explained_and_nothing_changes(window, tmp_path):
    window.data_dir = tmp_path / "empty"
    assert not window.set_dataset("kmnist")
    assert window.dataset == "mnist" and window.dataset_actions["mnist"].isChecked()
    assert "Kuzushiji-MNIST" in window.last_error and "Download" in window.last_error
    assert window.explore.plots["left"].visible_point_count() == 10_000


def test_kmnist_from_disk_shows_its_images_and_asks_for_models(window, tmp_path):
    from synthetic import labelled_blobs, write_idx_dataset

    folder = tmp_path / "kmnist"
    folder.mkdir()
    x, labels = labelled_blobs(60)
    write_idx_dataset(folder, "kmnist", x, labels, test=40)
    window.data_dir = folder
    assert window.set_dataset("kmnist")
    assert window.workbench.count == 40
    assert "train an AE and a VAE" in window.last_error
    assert window.explore.plots["right"].visible_point_count() == 0  # no model yet
    window.denoise.source.set_source("test")
    assert "Not loaded: Denoising AE, AE, VAE" in window.denoise.message.text()


def test_lab_experiments_are_made_when_first_shown_and_follow_the_dataset(window):
    lab = window.lab
    assert not any(lab.is_built(n) for n in lab.experiment_names()[1:])  # nothing but the first tab yet
    window.show_panel("lab")
    assert lab.is_built(lab.current_experiment())
    lab.show_experiment("losses")
    losses = lab.experiment("losses")
    assert window.set_dataset("fashion-mnist")
    # Made again with the clothes (it takes images at construction).
    assert lab.experiment("losses") is not losses
    assert lab.experiment("losses").images is lab.dataset.images
    assert lab.dataset is window.workbench.dataset and lab.dataset.name == "fashion-mnist"
