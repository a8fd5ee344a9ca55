"""The explorer window as a user meets it: two populated latent plots, decoding under
the mouse, class toggles, samples, interpolation, errors, and the screenshot mode."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QGraphicsItem

from explorer.panels.explore import ExplorePanel
from explorer.panels.protocol import Panel
from explorer.startup import StartupData, images_context, load_startup
from explorer.window import MainWindow
from models.checkpoint import save_checkpoint
from models.nets import NetConfig, build_model
from qt_gestures import drag

ROOT = Path(__file__).resolve().parent.parent

# The offscreen platform cannot resize a shown top-level window to its layout's
# minimum size and says so; that is the test platform, not the app.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def startup() -> StartupData:
    """The bundled models and images, loaded once for the module."""
    s = load_startup()
    assert not s.errors, s.errors
    return s


@pytest.fixture
def window(qtbot, startup, tmp_path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def no_rate_limit(monkeypatch):
    """pyqtgraph drops mouse moves closer than 10 ms apart; synthetic ones are."""
    old = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", -1)
    yield
    pg.setConfigOption("mouseRateLimit", old)


def _tiny_checkpoint(path: Path, *, kind: str = "ae", latent: int = 2) -> Path:
    torch.manual_seed(0)
    model = build_model(NetConfig(kind=kind, latent=latent, hidden=(16,)))
    return save_checkpoint(path, model, meta={"test": {"mse": 0.5}})


def test_window_opens_with_two_populated_plots(window, startup):
    assert window.panel_names()[0] == "explore"
    assert window.current_panel_name() == "explore"
    for side, title in (("left", "Autoencoder"), ("right", "Variational autoencoder")):
        plot = window.explore.plots[side]
        items = plot.scatter_items()
        assert len(items) == 10
        assert sum(len(item.data) for item in items) == len(startup.dataset.images) == 10_000
        assert plot.visible_point_count() == 10_000
        assert plot.getPlotItem().titleLabel.text.startswith(title)
        assert plot.getPlotItem().getAxis("bottom").labelText == "z1"
    status = window.status_text()
    assert "AE: ae.pt" in status and "VAE: vae.pt" in status and "latent 2" in status
    assert "MNIST" in status


def test_explore_panel_shows_the_dataset_it_is_handed(qtbot, startup):
    ds = startup.dataset
    panel = ExplorePanel(dataset=images_context(ds.images[:500], ds.labels[:500]))
    qtbot.addWidget(panel)
    assert isinstance(panel, Panel)
    for side in ("left", "right"):
        panel.set_checkpoint(side, startup.checkpoints[side])
    assert panel.plots["right"].visible_point_count() == 500 and panel.interp_b.maximum() == 499
    assert panel.legend.button(0).text() == "0"

    names = tuple(f"class {k}" for k in range(10))
    assert panel.set_dataset(images_context(ds.images[:50], ds.labels[:50], class_names=names)) is True
    assert panel.class_names == names and panel.legend.button(3).text() == "class 3"
    assert panel.images.shape == (50, 28, 28) and panel.interp_b.maximum() == 49
    # The old models are gone with the old images; the plots say so until new ones are set.
    assert panel.checkpoint("left") is None and panel.plots["left"].visible_point_count() == 0
    panel.set_checkpoint("right", startup.checkpoints["right"])
    assert panel.plots["right"].visible_point_count() == 50
    panel.select_image(7)
    # The box's title names the image and its class; the label below holds the codes.
    assert "class " in panel.details.title() and "#7" in panel.details.title()


def test_demo_shows_a_probe_a_selection_samples_and_a_path(qtbot, startup):
    panel = ExplorePanel(dataset=startup.dataset)
    qtbot.addWidget(panel)
    for side in ("left", "right"):
        panel.set_checkpoint(side, startup.checkpoints[side])
    panel.demo()
    labels = startup.dataset.labels
    assert panel.plots["right"].background("prior") and panel.background_actions["prior"].isChecked()
    assert labels[panel.selected_image()] == 4
    assert panel.sample_strips["left"].count() == panel.sample_strips["right"].count() == 12
    assert panel.interp_strips["right"].count() == 10
    assert (labels[panel.interp_a.value()], labels[panel.interp_b.value()]) == (1, 7)
    assert panel.plots["right"].crosshair() == pytest.approx((0.6, -0.8))
    assert panel.probe_views["right"].image() is not None


def test_dragging_decodes_the_point_under_the_mouse(window, qtbot, no_rate_limit):
    panel = window.explore
    plot = panel.plots["right"]
    view = panel.probe_views["right"]
    assert view.image() is None

    drag(plot, (0.0, 0.0), (-1.5, 1.0))
    qtbot.waitUntil(lambda: view.image() is not None)
    first = view.image()
    cx, cy = plot.crosshair()
    assert cx == pytest.approx(-1.5, abs=0.1) and cy == pytest.approx(1.0, abs=0.1)

    drag(plot, (0.0, 0.0), (1.5, -1.0))
    qtbot.waitUntil(lambda: not np.array_equal(view.image(), first))
    second = view.image()
    assert np.abs(first - second).mean() > 0.02

    # Dragging back to the same place shows the same image again.
    drag(plot, (0.0, 0.0), (-1.5, 1.0))
    qtbot.waitUntil(lambda: np.array_equal(view.image(), first))
    assert plot.crosshair() == pytest.approx((cx, cy))
    # Linked (the default): the other model decoded the same coordinates, crosshair on both plots.
    assert panel.probe_views["left"].image() is not None
    assert panel.plots["left"].crosshair() == pytest.approx((cx, cy))


def test_unlinked_probe_leaves_the_other_model_alone(window):
    panel = window.explore
    panel.linked_action.setChecked(False)
    panel.probe("left", 3.0, -2.0)
    assert panel.probe_views["left"].image() is not None
    assert panel.probe_views["right"].image() is None
    assert panel.plots["right"].crosshair() is None


def test_hiding_a_class_removes_its_points(window, qtbot, startup):
    panel = window.explore
    threes = int((startup.dataset.labels == 3).sum())
    QTest.mouseClick(panel.legend.button(3), Qt.MouseButton.LeftButton)
    for plot in panel.plots.values():
        assert not plot.scatter_items()[3].isVisible()
        assert plot.visible_point_count() == 10_000 - threes
    # A hidden class cannot be clicked.
    i3 = int(np.flatnonzero(startup.dataset.labels == 3)[0])
    x, y = panel.space("left").xy[i3]
    panel._plot_clicked("left", float(x), float(y), 1e-6)
    assert panel.selected_image() != i3
    QTest.mouseClick(panel.legend.button(3), Qt.MouseButton.LeftButton)
    assert panel.plots["left"].visible_point_count() == 10_000


def test_clicking_a_point_shows_the_test_image_and_reconstructions(window, qtbot, startup):
    panel = window.explore
    plot = panel.plots["left"]
    i = int(np.flatnonzero(startup.dataset.labels == 0)[5])
    x, y = (float(v) for v in plot.space.xy[i])
    # Zoom in so that the click lands on this point and not on a neighbour.
    plot.getPlotItem().vb.setRange(xRange=(x - 0.05, x + 0.05), yRange=(y - 0.05, y + 0.05), padding=0)
    qtbot.waitUntil(lambda: plot.getPlotItem().vb.viewPixelSize()[0] < 0.001)
    pos = plot.view_to_widget(*plot.space.xy[i]).toPoint()
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    qtbot.waitUntil(lambda: panel.selected_image() is not None)
    j = panel.selected_image()
    assert np.allclose(plot.space.xy[j], plot.space.xy[i], atol=1e-3)
    assert np.array_equal(panel.detail_views["original"].image(), startup.dataset.images[j] / np.float32(255))
    assert panel.detail_views["left"].image().shape == (28, 28)
    assert panel.detail_views["right"].image() is not None
    assert f"#{j}" in panel.details.title() and "digit 0" in panel.details.title()


def test_interpolation_shows_the_requested_number_of_images(window, qtbot):
    panel = window.explore
    panel.interp_a.setValue(3)
    panel.interp_b.setValue(17)
    panel.interp_steps.setValue(7)
    QTest.mouseClick(panel.interp_button, Qt.MouseButton.LeftButton)
    for side in ("left", "right"):
        assert panel.interp_strips[side].count() == 7
        path = panel.plots[side].path()
        assert path.shape == (7, 2)
        # The path runs from image 3's code to image 17's.
        assert np.allclose(path[0], panel.space(side).xy[3], atol=1e-4)
        assert np.allclose(path[-1], panel.space(side).xy[17], atol=1e-4)
    # Changing the step count redoes the strips.
    panel.interp_steps.setValue(12)
    assert panel.interp_strips["right"].count() == 12


def test_interpolation_ends_picked_by_two_clicks(window):
    panel = window.explore
    space = panel.space("right")
    QTest.mouseClick(panel.pick_button, Qt.MouseButton.LeftButton)
    assert panel.pick_button.isChecked()
    for i in (10, 20):
        panel.plots["right"].clicked.emit(float(space.xy[i, 0]), float(space.xy[i, 1]), 1e-4)
    assert not panel.pick_button.isChecked()
    assert (panel.interp_a.value(), panel.interp_b.value()) == (10, 20)
    assert panel.interp_strips["left"].count() == panel.interp_steps.value() == 10


def test_samples_from_the_prior_on_both_plots(window):
    panel = window.explore
    panel.sample(n=5, seed=3)
    first = panel.sample_strips["right"].images()
    assert panel.sample_strips["left"].count() == 5 and len(first) == 5
    panel.sample_seed.setValue(4)  # a new seed draws new codes
    assert not np.array_equal(panel.sample_strips["right"].images()[0], first[0])


def test_backgrounds_toggle(window, qtbot):
    panel = window.explore
    plot = panel.plots["right"]
    panel.background_actions["manifold"].trigger()
    panel.flush()
    tiles = plot.manifold_image()
    assert tiles is not None and tiles.shape[0] % 28 == 0 and tiles.max() > 0.5
    panel.background_actions["density"].trigger()
    assert plot.background("density")
    panel.background_actions["manifold"].trigger()
    assert plot.manifold_image() is None


def test_corrupt_checkpoint_shows_an_error_and_keeps_the_old_model(window, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    old = window.explore.checkpoint("left")
    assert window.open_checkpoint("left", bad) is False
    assert "broken.pt" in window.last_error and "not a readable checkpoint" in window.last_error
    assert "broken.pt" in window.statusBar().currentMessage()
    assert window._message_box is not None and window._message_box.isVisible()
    assert window.explore.checkpoint("left") is old
    assert window.explore.plots["left"].visible_point_count() == 10_000
    assert window.isVisible()

    assert window.open_checkpoint("right", tmp_path / "missing.pt") is False
    assert "no such file" in window.last_error


def test_latent_3_checkpoint_is_shown_through_its_pca_plane(window, tmp_path):
    path = _tiny_checkpoint(tmp_path / "ae3.pt", latent=3)
    assert window.open_checkpoint("left", path)
    plot = window.explore.plots["left"]
    assert "PCA plane of the 3-D latent space" in plot.getPlotItem().titleLabel.text
    assert plot.visible_point_count() == 10_000
    assert "latent 3 (PCA plane)" in window.status_text()
    window.explore.probe("left", 0.1, 0.2)
    assert window.explore.probe_views["left"].image().shape == (28, 28)
    window.explore.sample(n=4, seed=0)
    assert window.explore.sample_strips["left"].count() == 4


def test_missing_bundled_models_give_empty_plots_and_a_message(qtbot, monkeypatch, tmp_path):
    import explorer.startup

    monkeypatch.setattr(explorer.startup, "bundled_models_dir", lambda dataset="mnist": tmp_path)
    s = load_startup()
    assert len(s.errors) == 4 and s.checkpoints == {"left": None, "right": None} and s.dae is None
    w = MainWindow(startup=s, settings=None, theme_choice="dark")
    qtbot.addWidget(w)
    w.show()
    assert "bundled AE could not be loaded" in w.last_error
    assert w.explore.plots["left"].visible_point_count() == 0
    w.explore.probe("left", 0.0, 0.0)  # nothing to decode, nothing breaks
    w.explore.sample(n=3)
    assert w.explore.sample_strips["left"].count() == 0
    # The hands-on panels say what is missing instead of failing.
    w.denoise.source.set_source("test")
    assert "Not loaded: Denoising AE, AE, VAE" in w.denoise.message.text()
    w.inpaint.start()
    while w.inpaint.step():
        pass
    assert "Not loaded" in w.inpaint.message.text()
    w.draw.demo()
    assert "No models loaded" in w.draw.readout.text()
    assert w.open_checkpoint("left", _tiny_checkpoint(tmp_path / "ae.pt"))
    assert w.explore.plots["left"].visible_point_count() == 10_000


def test_settings_remember_options(qtbot, startup, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(w)
    w.explore.linked_action.setChecked(False)
    w.explore.background_actions["prior"].setChecked(True)
    w.explore.interp_steps.setValue(6)
    w.close()
    w2 = MainWindow(startup=startup, settings=settings)
    qtbot.addWidget(w2)
    assert not w2.explore.linked_action.isChecked()
    assert w2.explore.background_actions["prior"].isChecked()
    assert w2.explore.interp_steps.value() == 6


def test_export_png(window, tmp_path):
    out = tmp_path / "view.png"
    assert window.export_png(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_screenshot_command_writes_a_png(tmp_path):
    out = tmp_path / "shot.png"
    run = subprocess.run(
        [sys.executable, "main.py", "--screenshot", str(out), "--panel", "explore"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000

    bad = subprocess.run(
        [sys.executable, "main.py", "--screenshot", str(tmp_path / "x.png"), "--panel", "nope"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert bad.returncode == 2
    assert "nope" in bad.stderr and "explore" in bad.stderr and "Traceback" not in bad.stderr


def test_reset_view_shortcut_and_theme_switch(window, qtbot):
    plot = window.explore.plots["left"]
    home = plot.view_range()
    plot.getPlotItem().vb.scaleBy(s=(0.2, 0.2))
    assert plot.view_range()[0][1] - plot.view_range()[0][0] < 0.5 * (home[0][1] - home[0][0])
    QTest.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert np.allclose(plot.view_range(), home, rtol=1e-3)

    window.theme_actions["dark"].trigger()
    assert window.theme.is_dark
    assert plot.backgroundBrush().color().name() == window.theme.background
    window.theme_actions["light"].trigger()
    assert plot.backgroundBrush().color().name() == "#ffffff"


def test_about_box_states_the_lecture_ideas(window):
    window.about_action.trigger()
    box = window._message_box
    assert box.isVisible()
    assert "N(0, I)" in box.text() and "z = f(x)" in box.text()


def test_moving_points_in_place_redraws_them_where_they_now_are(qtbot):
    from explorer.widgets.latent_plot import move_points

    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(300, 300)
    item = pg.ScatterPlotItem(x=[0.0, 1.0], y=[0.0, 1.0], size=8, pen=None, brush=pg.mkBrush(255, 0, 0))
    w.addItem(item)
    w.setRange(xRange=(-5, 5), yRange=(-5, 5), padding=0)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.getPlotItem().vb.width() > 100)  # laid out
    before = w.grab().toImage()
    move_points(item, [3.0, -3.0], [-3.0, 3.0])
    x, y = item.getData()
    assert list(x) == [3.0, -3.0] and list(y) == [-3.0, 3.0]
    assert item.dataBounds(0) == (-3.0, 3.0)  # bounds follow the points (they were 0 to 1)
    after = w.grab().toImage()
    assert after != before  # the picture changed, not only the numbers
    assert len(item.pointsAt(pg.Point(3.0, -3.0))) == 1  # hovering finds the moved point
    move_points(item, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])  # another count: rebuilt
    assert len(item.getData()[0]) == 3


def _cached(plot) -> bool:
    return all(item.cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache for item in plot.scatter_items())


def test_while_a_drag_lasts_both_plots_keep_their_points_as_pixmaps(window, qtbot, no_rate_limit):
    panel = window.explore
    plot = panel.plots["right"]
    vp = plot.viewport()
    p0 = plot.mapFromScene(plot.getPlotItem().vb.mapViewToScene(pg.Point(0.0, 0.0)))
    assert not _cached(plot) and not _cached(panel.plots["left"])
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p0)
    QTest.mouseMove(vp, p0 + QPoint(8, 8))
    QTest.mouseMove(vp, p0 + QPoint(30, -20))
    assert _cached(plot) and _cached(panel.plots["left"])
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p0 + QPoint(30, -20))
    assert not _cached(plot) and not _cached(panel.plots["left"])


def test_cached_points_look_the_same(window, qtbot):
    """Zoomed in, so that points are cut at the plot's edges, where a cached picture
    could spill over the axes."""
    plot = window.explore.plots["left"]
    plot.resize(400, 400)
    plot.zoom_to((0.0, 0.0), 4.0)
    window.show()
    qtbot.waitExposed(window)

    def pixels():
        for _ in range(3):
            QApplication.processEvents()
        image = plot.grab().toImage()
        rgb = np.array([[image.pixel(x, y) for x in range(0, image.width(), 2)] for y in range(0, image.height(), 2)])
        return np.stack([(rgb >> shift) & 0xFF for shift in (16, 8, 0)]).astype(int)

    plain = pixels()
    plot.cache_points(True)
    cached = pixels()
    plot.cache_points(False)
    diff = np.abs(plain - cached)
    assert diff.mean() < 0.5 and np.mean(diff > 8) < 0.001
