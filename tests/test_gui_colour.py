"""The window on images a user brings, as a user meets it: 200 coloured shapes in 3
classes made here, a first AE and VAE trained on them, colour in the Explore panel,
the Draw panel saying why it is unavailable, Open images refusing a bad folder without
losing anything, and the folder remembered in View › Dataset after a restart."""
from __future__ import annotations

import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings

from explorer.background import quick_models
from explorer.startup import load_startup, startup_on
from explorer.widgets.image_view import to_qimage
from explorer.window import MainWindow
from models import sources
from test_data import server  # noqa: F401 (the loopback HTTP server fixture)

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

# The README's own example folder, made by scripts/make_shapes.py.
make_shapes = runpy.run_path(str(Path(__file__).resolve().parent.parent / "scripts" / "make_shapes.py"))["make_shapes"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp("shapes") / "shapes")


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(quick_models, "QUICK_SECONDS", 2.0)  # a test's budget, not a user's


def open_window(qtbot, shapes, settings=None) -> MainWindow:
    ds = sources.read_images(sources.inspect_images(shapes, size=32)).dataset
    w = MainWindow(startup=startup_on(ds), settings=settings)
    qtbot.addWidget(w)
    return w


def is_colour(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] == 3 and float(np.abs(image[..., 0] - image[..., 2]).max()) > 0.05


def test_explore_shows_a_colour_latent_space_once_the_first_models_are_in(qtbot, shapes):
    w = open_window(qtbot, shapes)
    assert w.datasets.quick.is_running and w.explore.checkpoint("left") is None
    with qtbot.waitSignal(w.datasets.quick_ready, timeout=60_000):
        pass
    assert w.explore.checkpoint("left") is not None and w.explore.checkpoint("right") is not None
    space = w.explore.space("right")
    assert space.codes.shape == (len(w.context.images), 2)
    xy, images = space.sample(4, seed=0)
    assert images.shape == (4, 32, 32, 3)
    w.explore.sample(6, seed=0)
    shown = w.explore.sampling.strips["right"].images()
    assert len(shown) == 6 and all(is_colour(im) for im in shown)
    # The strip paints them as colour pixels, not grey.
    q = to_qimage(images[0])
    c = q.pixelColor(16, 16)
    assert (c.red(), c.green(), c.blue()) == tuple(int(v * 255 + 0.5) for v in np.clip(images[0][16, 16], 0, 1))


def test_draw_says_why_it_is_unavailable_and_comes_back_on_mnist(qtbot, shapes):
    w = open_window(qtbot, shapes)
    w.show_panel("draw")
    text = w.panel("draw").text()
    assert "not available for shapes" in text and "28 x 28 grey" in text and "32 x 32 colour" in text
    assert w.set_dataset("mnist")
    assert hasattr(w.panel("draw"), "canvas")  # the real Draw panel is back


def test_open_images_on_a_bad_folder_shows_the_message_and_keeps_the_dataset(qtbot, shapes, tmp_path):
    w = open_window(qtbot, shapes)
    before = w.context
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images")

    assert not w.datasets.open_images(empty, wait=True)

    assert "nothing-here" in w.last_error and "no" in w.last_error
    assert w.context is before and w.explore.images is before.images


def test_opened_images_are_listed_after_a_restart_and_a_gone_folder_is_disabled(qtbot, shapes, tmp_path):
    ini = tmp_path / "settings.ini"
    copy = shutil.copytree(shapes, tmp_path / "my-shapes")
    w = MainWindow(startup=load_startup(None, "mnist"), settings=QSettings(str(ini), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.datasets.converting.finished, timeout=60_000):
        assert w.datasets.open_images(copy, size=32)
    assert w.context.title == "my-shapes" and w.context.colour
    w.window_actions.fill_dataset_menu()
    assert [a.isChecked() for a in w.window_actions.recent_actions if a.text() == "my-shapes"] == [True]
    assert not w.dataset_actions["mnist"].isChecked()
    w.close()

    again = MainWindow(startup=load_startup(None, "mnist"), settings=QSettings(str(ini), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.window_actions.fill_dataset_menu()
    entries = {a.text(): a for a in again.window_actions.recent_actions}
    assert "my-shapes" in entries and entries["my-shapes"].isEnabled()
    assert not entries["my-shapes"].isChecked()  # the window shows MNIST again
    assert "CIFAR-10" in [a.text() for a in again.dataset_actions.values()]
    shutil.rmtree(copy)
    again.window_actions.fill_dataset_menu()
    assert not {a.text(): a for a in again.window_actions.recent_actions}["my-shapes"].isEnabled()


@pytest.mark.slow
def test_the_train_panel_trains_a_conv_vae_on_the_windows_colour_images(qtbot, shapes, tmp_path):
    w = MainWindow(startup=startup_on(sources.read_images(sources.inspect_images(shapes, size=32)).dataset),
                   settings=None, train_job_defaults=dict(threads=1, thread_choices=(), out_dir=str(tmp_path / "run"),
                                                          snapshot_interval_s=0.1))
    qtbot.addWidget(w)
    w.show_panel("train")
    form = w.train_panel.form
    assert form.dataset_combo.currentText() == "shapes"
    assert "Trains on shapes" in form.dataset_status.text() and "32 x 32 colour" in form.dataset_status.text()
    conv = form.arch_combo.findData("conv")
    assert form.arch_combo.model().item(conv).isEnabled()  # 32 px: conv allowed
    form.arch_combo.setCurrentIndex(conv)
    assert form.hidden_edit.text() != "256, 128"  # channel widths now
    form.epochs_spin.setValue(2)

    with qtbot.waitSignal(w.train_panel.finished, timeout=120_000):
        assert w.train_panel.start()

    ckpt = w.explore.checkpoint("right")
    assert ckpt.config.arch == "conv" and ckpt.config.channels == 3 and ckpt.config.image_shape == (32, 32)
    described = ckpt.meta["dataset_description"]  # what it was trained on travels with it
    assert described["format"] == "folder" and described["classes"] == ["circle", "square", "triangle"]
    assert w.explore.space("right").sample(2, seed=0)[1].shape == (2, 32, 32, 3)


def test_conv_is_offered_for_mnist_and_refused_with_its_reason_for_other_sizes(qtbot, tmp_path):
    w = MainWindow(startup=load_startup(None, "mnist"), settings=None)
    qtbot.addWidget(w)
    form = w.train_panel.form
    conv = form.arch_combo.findData("conv")
    assert form.arch_combo.model().item(conv).isEnabled()  # 28 px digits: conv allowed
    assert "28 x 28, 32 x 32 or 64 x 64" in form.arch_combo.toolTip()

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "small.npz", x=rng.integers(0, 256, (60, 20, 20), dtype=np.uint8), y=rng.integers(0, 3, 60))
    small = sources.read_images(sources.inspect_images(tmp_path / "small.npz")).dataset
    w2 = MainWindow(startup=startup_on(small), settings=None)
    qtbot.addWidget(w2)
    form2 = w2.train_panel.form
    assert not form2.arch_combo.model().item(conv).isEnabled()
    assert form2.arch_combo.arch() == "mlp"
    assert "These images are 20 x 20, so only the MLP fits them" in form2.arch_combo.toolTip()


def test_denoise_offers_colorization_on_colour_images_and_scores_a_colorizing_dae(qtbot, shapes):
    from models.checkpoint import Checkpoint
    from models.data import as_float_images
    from models.nets import NetConfig, build_model
    from models.train import TrainConfig, Trainer

    w = open_window(qtbot, shapes)
    ds = w.context.data
    config = NetConfig(kind="dae", image_shape=(32, 32), channels=3, latent=16, hidden=(128,), noise="grey", noise_level=1.0)
    x = as_float_images(ds.train_images)
    model = build_model(config, data_mean=x.mean(0), seed=0)
    Trainer(model, config=TrainConfig(epochs=30, batch_size=32, lr=3e-3), train_x=x).fit()
    w.workbench.set_denoisers(dae=Checkpoint(model=model.eval(), config=config), dae_masking=None)

    w.show_panel("denoise")
    panel = w.denoise
    kinds = [panel.kind.itemData(i) for i in range(panel.kind.count())]
    assert "grey" in kinds and "old_photo" in kinds
    panel.kind.setCurrentIndex(kinds.index("grey"))
    panel.refresh()

    assert panel.noisy.shape == (32, 32, 3) and np.allclose(panel.noisy[..., 0], panel.noisy[..., 2])
    assert panel.output_views["dae"].caption().startswith("Colorizing AE")
    assert is_colour(panel.outputs["dae"][-1])
    assert panel.psnr["dae"] > panel.psnr["noisy"]  # it puts colour back


def test_denoise_on_grey_digits_does_not_offer_colour_damages(qtbot):
    w = MainWindow(startup=load_startup(None, "mnist"), settings=None)
    qtbot.addWidget(w)
    w.show_panel("denoise")
    kinds = [w.denoise.kind.itemData(i) for i in range(w.denoise.kind.count())]
    assert "grey" not in kinds and "old_photo" in kinds


def test_inpaint_fills_a_hole_in_a_colour_image_and_keeps_the_known_pixels(qtbot, shapes):
    w = open_window(qtbot, shapes)
    with qtbot.waitSignal(w.datasets.quick_ready, timeout=60_000):
        pass
    w.show_panel("inpaint")
    panel = w.inpaint
    assert panel.editor.mask().shape == (32, 32)
    panel.animate.setChecked(False)
    panel.start()

    filled = panel._picture(panel.results["ae_projection"].image)
    mask = panel.editor.mask()
    assert filled.shape == (32, 32, 3) and mask.any()
    np.testing.assert_array_equal(filled[~mask], panel.clean[~mask])  # known pixels are the image's own
    mean_fill = panel._picture(panel.results["mean_fill"].image)
    assert np.abs(filled[mask] - mean_fill[mask]).max() > 0.05  # the AE painted the hole, not the mean image
    assert len(panel.errors["ae_projection"]) == 21 and all(np.isfinite(panel.errors["ae_projection"]))


def test_view_dataset_cifar10_offers_the_download_then_shows_its_colour_images(qtbot, tmp_path, server, monkeypatch):  # noqa: F811
    from models import data
    from test_cifar import make_archive, spec_for

    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    payload, truth = make_archive()
    server.files["/ok/cifar-10-binary.tar.gz"] = payload
    w = MainWindow(startup=load_startup(None, "mnist"), settings=None)
    qtbot.addWidget(w)
    w.set_data_dir(tmp_path)
    asked = []
    w.datasets.ask_download = lambda text: asked.append(text) or True
    w.datasets.cifar_mirrors, w.datasets.cifar_spec = [server.url + "/ok/"], spec_for(payload)

    with qtbot.waitSignal(w.datasets.converting.finished, timeout=60_000):
        w.dataset_actions["cifar10"].trigger()  # what the menu entry does

    assert "not on disk" in asked[0] and "162 MB" in asked[0]
    assert w.context.name == "cifar10" and w.context.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(w.context.images, truth["test_batch.bin"][0])
    assert w.dataset_actions["cifar10"].isChecked() and not w.dataset_actions["mnist"].isChecked()
    assert w.datasets.quick.is_running  # its first models are on their way


def test_cifar10_download_declined_keeps_the_dataset(qtbot, tmp_path):
    w = MainWindow(startup=load_startup(None, "mnist"), settings=None)
    qtbot.addWidget(w)
    w.set_data_dir(tmp_path)
    w.datasets.ask_download = lambda text: False
    assert not w.set_dataset("cifar10")
    assert w.context.name == "mnist" and w.dataset_actions["mnist"].isChecked()


def test_a_session_on_your_images_opens_again_while_they_are_shown_and_says_how_otherwise(qtbot, shapes, tmp_path):
    w = open_window(qtbot, shapes)
    with qtbot.waitSignal(w.datasets.quick_ready, timeout=60_000):
        pass
    w.explore.select_image(3)
    path = tmp_path / "s.json"
    assert w.session.save(path)
    w.explore.select_image(5)

    assert w.session.open(path), w.last_error
    assert w.explore.selected_image() == 3 and w.explore.checkpoint("right") is not None

    assert w.set_dataset("mnist")
    assert not w.session.open(path)
    assert "File › Open images" in w.last_error and w.context.name == "mnist"


def test_the_decoded_manifold_of_colour_images_exports_as_a_colour_png(qtbot, shapes, tmp_path):
    from explorer.panels.explore_exports import ManifoldChoice

    w = open_window(qtbot, shapes)
    with qtbot.waitSignal(w.datasets.quick_ready, timeout=60_000):
        pass
    out = tmp_path / "grid.png"
    assert w.exports.export_manifold("right", out, ManifoldChoice(n=5, use_view=False, gutter=True)), w.last_error
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.size == (5 * 32 + 4, 5 * 32 + 4)
        assert is_colour(np.asarray(im, dtype=np.float32) / 255)


def test_the_walk_through_the_prior_exports_as_a_colour_gif(qtbot, shapes, tmp_path):
    w = open_window(qtbot, shapes)
    with qtbot.waitSignal(w.datasets.quick_ready, timeout=60_000):
        pass
    out = tmp_path / "walk.gif"
    assert w.exports.export_sweep_gif(out), w.last_error
    qtbot.waitUntil(lambda: out.is_file(), timeout=60_000)
    with Image.open(out) as im:
        im.seek(3)
        assert is_colour(np.asarray(im.convert("RGB"), dtype=np.float32) / 255)


@pytest.mark.slow
def test_the_command_line_screenshot_of_your_images_waits_for_their_first_models(shapes, tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "explore.png"
    env = {**os.environ, "LATENT_EXPLORER_CACHE": str(tmp_path / "cache")}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "main.py"), "--images", str(shapes), "--size", "32",
                           "--screenshot", str(out), "--panel", "explore"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower() and "Traceback" not in done.stderr
    with Image.open(out) as im:
        assert im.size == (1400, 900)
        # The Explore panel's sample strips (bottom left) hold the VAE's decoded shapes, in colour.
        strip = np.asarray(im.convert("RGB"), dtype=np.float32)[760:830, 100:680] / 255
    assert is_colour(strip)
