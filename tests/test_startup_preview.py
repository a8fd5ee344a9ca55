"""Start-up before torch: the window paints the bundled models' cached (or shipped)
codes at once, then torch and the models load in a thread; whatever needs a model
waits for them."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import explorer.startup
from explorer.startup import DEFAULT_MODELS, load_startup
from explorer.window import MainWindow
from models import data
from models.checkpoint import load_checkpoint
from models.files import CACHE_ENV, bundled_codes_dir, bundled_models_dir, file_key
from models.latent_space import LatentSpace
from models.plane import CodeCache

ROOT = Path(__file__).resolve().parent.parent

# The offscreen platform says this whenever a window is shown.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A code cache of this test's own, empty at first."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A copy of the shipped codes that a test may damage or empty."""
    folder = tmp_path / "shipped"
    shutil.copytree(bundled_codes_dir(), folder)
    monkeypatch.setattr(explorer.startup, "bundled_codes_dir", lambda: folder)
    return folder


@pytest.fixture
def warmed(qtbot, cache):
    """A window built the slow way (models loaded first), to compare with."""
    w = MainWindow(startup=load_startup(None, "mnist"), settings=None)
    qtbot.addWidget(w)
    return w


def _preview_window(qtbot, **changes) -> MainWindow:
    startup = load_startup(None, "mnist", preview=True)
    assert startup.load_models is not None and startup.previews
    if changes:
        startup = dataclasses.replace(startup, **changes)
    w = MainWindow(startup=startup, settings=None)
    qtbot.addWidget(w)
    return w


def test_a_checkpoint_names_its_codes_by_its_file(cache):
    path = bundled_models_dir("mnist") / "vae.pt"
    assert load_checkpoint(path).digest == file_key(path)


@pytest.mark.parametrize("dataset", data.BUNDLED_DATASETS)
def test_the_shipped_codes_are_the_bundled_models_codes(dataset):
    """scripts/make_bundled_codes.py was run after the bundled models last changed."""
    images = data.load_bundled(dataset).test_images
    shipped = CodeCache(bundled_codes_dir(), images)
    for _, kind in DEFAULT_MODELS:
        ckpt = load_checkpoint(bundled_models_dir(dataset) / f"{kind}.pt")
        codes = shipped.load(ckpt.digest, latent=2)
        assert codes is not None, f"no shipped codes for {dataset}/{kind}.pt: run scripts/make_bundled_codes.py"
        assert np.allclose(codes, LatentSpace(ckpt.model, images).codes, atol=1e-4)


def test_without_cached_or_shipped_codes_start_up_loads_the_models_first(cache, shipped):
    for f in shipped.glob("*.npy"):
        f.unlink()
    s = load_startup(None, "mnist", preview=True)
    assert s.load_models is None and not s.previews
    assert s.checkpoints["right"].config.kind == "vae"


def test_damaged_codes_mean_no_preview(cache, shipped):
    for f in shipped.glob("*.npy"):
        f.write_bytes(b"damaged")
    s = load_startup(None, "mnist", preview=True)
    assert s.load_models is None and s.checkpoints["left"] is not None


def test_the_users_cache_serves_when_nothing_is_shipped(qtbot, cache, shipped):
    for f in shipped.glob("*.npy"):
        f.unlink()
    w = MainWindow(startup=load_startup(None, "mnist"), settings=None)  # encodes and caches
    qtbot.addWidget(w)
    assert len(list(cache.glob("codes/*.npy"))) == 2
    assert load_startup(None, "mnist", preview=True).load_models is not None


def test_the_window_plots_the_cached_codes_before_the_models_load(qtbot, warmed):
    w = _preview_window(qtbot)  # not shown: nothing starts loading
    assert w.models_pending()
    for side in ("left", "right"):
        plot = w.explore.plots[side]
        assert w.explore.checkpoint(side) is None and w.explore.is_loading(side)
        assert plot.visible_point_count() == 10_000
        assert np.array_equal(plot.space.xy, warmed.explore.space(side).xy)
        assert plot.space.can_decode is False
    assert w.explore.plots["left"].plotItem.titleLabel.text.startswith("Autoencoder")
    assert "AE: loading…" in w.status_text() and "VAE: loading…" in w.status_text()

    # A drag meanwhile: the cross follows, the image waits for the model...
    w.explore.probe("right", 0.5, -0.5)
    view = w.explore.probe_views["right"]
    assert w.explore.plots["right"].crosshair() == (0.5, -0.5)
    assert view.image() is None and "Loading" in view.placeholder() and view.caption() == "VAE at (0.50, -0.50)"

    # ...and is decoded once the models are in.
    w.wait_for_models()
    assert not w.models_pending() and not w.explore.is_loading("right")
    assert w.explore.checkpoint("left").config.kind == "ae" and w.explore.checkpoint("right").config.kind == "vae"
    expected = warmed.explore.space("right").decode_plane(np.array([[0.5, -0.5]]))[0]
    assert view.image() is not None and np.allclose(view.image(), expected)
    assert view.placeholder() == "Left-drag on a plot"
    assert "vae.pt" in w.status_text() and "loading" not in w.status_text()


def test_the_models_load_in_a_thread_once_the_window_shows(qtbot, warmed):
    w = _preview_window(qtbot)
    with qtbot.waitSignal(w.models_ready, timeout=60_000):
        w.show()
    assert not w.models_pending()
    assert w.workbench.vae is not None and w.workbench.dae is not None
    # Then the other panels are built in the background, as after a slow start.
    qtbot.waitUntil(lambda: all(w.panel_built(n) for n in w.panel_names()), timeout=30_000)


def test_a_view_moved_while_loading_stays_where_the_user_put_it(qtbot, warmed):
    w = _preview_window(qtbot)
    plot = w.explore.plots["left"]
    plot.zoom_to((2.0, -3.0), 1.5)
    before = plot.view_range()
    w.wait_for_models()
    assert np.allclose(plot.view_range(), before)


def test_another_panel_opened_while_loading_waits_for_the_models(qtbot, warmed):
    w = _preview_window(qtbot)
    w.show_panel("denoise")
    assert not w.models_pending()
    assert w.denoise.outputs["vae"] is not None and w.denoise.outputs["dae"] is not None


def test_switching_dataset_while_loading_ends_on_that_dataset(qtbot, warmed):
    w = _preview_window(qtbot)
    assert w.set_dataset("fashion-mnist")
    assert not w.models_pending()
    assert w.explore.checkpoint("right").path.parent.name == "fashion-mnist"
    assert w.workbench.class_names[0] == "T-shirt/top"


def test_models_that_fail_to_load_are_reported_and_leave_empty_plots(qtbot, warmed):
    def broken():
        raise RuntimeError("the disk went away")

    w = _preview_window(qtbot, load_models=broken)
    w.wait_for_models()
    assert not w.models_pending()
    assert "the disk went away" in w.last_error
    assert all(w.explore.plots[s].visible_point_count() == 0 for s in ("left", "right"))
    assert "AE: no model" in w.status_text()


@pytest.mark.slow
def test_the_first_paint_needs_no_torch(cache):
    """In a fresh interpreter: the preview window is built and painted, and torch is
    still not imported."""
    script = textwrap.dedent("""
        import sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from explorer.app import configure_pyqtgraph
        from explorer.startup import load_startup
        from explorer.window import MainWindow
        configure_pyqtgraph()
        w = MainWindow(startup=load_startup(None, "mnist", preview=True), settings=None)
        w._start_loading = lambda: None  # hold the models back
        w.show()
        app.processEvents()
        picture = w.grab()
        print("points", w.explore.plots["right"].visible_point_count(), "size", picture.width(),
              "torch", "torch" in sys.modules)
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    words = out.stdout.split()
    assert words[words.index("points") + 1] == "10000" and int(words[words.index("size") + 1]) > 0
    assert words[words.index("torch") + 1] == "False"


def test_a_point_clicked_while_loading_is_ringed_and_detailed_once_the_models_are_in(qtbot):
    w = _preview_window(qtbot)
    w.explore.select_image(7)
    assert w.explore.plots["right"].selection() is not None
    assert "Loading the model" in w.explore.detail_label.text()
    assert w.explore.detail_views["right"].image() is None
    w.explore.sample(n=4, seed=1)
    assert w.explore.sample_strips["right"].count() == 0
    w.wait_for_models()
    assert "VAE z = (" in w.explore.detail_label.text()
    assert w.explore.detail_views["right"].image() is not None
    assert w.explore.sample_strips["right"].count() == 4  # the samples asked for meanwhile


def test_closing_the_window_while_the_models_load_waits_for_the_loading_thread(qtbot):
    w = _preview_window(qtbot)
    w.show()
    qtbot.waitUntil(lambda: w.loader.started, timeout=10_000)
    w.close()
    assert not w.isVisible() and not w.loader.is_running
