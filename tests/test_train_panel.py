"""The Train panel as a user meets it: Start, a moving progress bar, falling loss,
moving latent points, pause / resume / stop, a NaN run, closing mid-run, and the
trained models becoming the explorer's. Every run trains on tiny synthetic images
in a real child process."""
from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import QSettings, Qt

from explorer.panels.protocol import Panel
from explorer.panels.train import TrainPanel
from explorer.startup import StartupData, images_context, load_startup
from explorer.window import MainWindow
from models.checkpoint import load_checkpoint
from models.jobs import ImageArrays, ModelSnapshot
from models.live_space import LiveSpace, decoder_only_model
from models.nets import NetConfig, build_model
from qt_gestures import drag
from synthetic import labelled_blobs, write_idx_dataset

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def _tiny_job(tmp_path: Path) -> dict:
    """What every job of a test panel takes: a tiny synthetic dataset, few probes, frequent snapshots."""
    x, labels = labelled_blobs(512)
    return dict(
        data_source=ImageArrays(x, x[:200], labels[:200]), probe_count=100, snapshot_interval_s=0.05, threads=1, thread_choices=(),
        out_dir=str(tmp_path / "run"),
        # Every epoch evaluated (tiny epochs would put most over the app's 3 % budget),
        # so the test markers can be counted.
        eval_share=None,
    )


def _tiny(panel: TrainPanel, tmp_path: Path, *, epochs: int, lr: str = "0.003") -> Path:
    """Set the form for a short run of a panel built with _tiny_job; the run's folder."""
    panel.form.hidden_edit.setText("64")
    panel.form.batch_spin.setValue(32)
    panel.form.epochs_spin.setValue(epochs)
    panel.form.lr_edit.setText(lr)
    return tmp_path / "run"


def _points(panel: TrainPanel, side: str) -> np.ndarray:
    parts = [np.column_stack(item.getData()) for item in panel.live.plots[side].scatter_items() if len(item.data)]
    return np.concatenate(parts) if parts else np.zeros((0, 2))


@pytest.fixture
def no_rate_limit():
    """pyqtgraph drops mouse moves closer than 10 ms apart; synthetic ones are."""
    old = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", -1)
    yield
    pg.setConfigOption("mouseRateLimit", old)


@pytest.fixture(scope="module")
def startup() -> StartupData:
    return load_startup()


@pytest.fixture
def window(qtbot, startup, tmp_path, monkeypatch):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    # The Train panel's jobs take the tiny synthetic run.
    w = MainWindow(startup=startup, settings=settings, theme_choice="light", train_job_defaults=_tiny_job(tmp_path))
    qtbot.addWidget(w)
    w.show_panel("train")
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.train_panel.shutdown(1.0)


@pytest.fixture
def make_panel(qtbot, tmp_path):
    """A Train panel of its own (what its constructor is given: see TrainPanel)."""
    made = []

    def make(**kwargs) -> TrainPanel:
        p = TrainPanel(runs_dir=tmp_path / "runs", **kwargs)
        qtbot.addWidget(p)
        p.show()
        made.append(p)
        return p

    yield make
    for p in made:
        p.shutdown(1.0)


@pytest.fixture
def panel(make_panel):
    return make_panel()


def test_panel_is_registered_with_tooltips_and_shortcuts(window):
    panel = window.panel("train")
    assert panel is window.train_panel
    assert "train" in window.panel_names()
    form = panel.form
    for w in (form.dataset_combo, form.models_combo, form.latent_spin, form.hidden_edit, form.epochs_spin,
              form.batch_spin, form.lr_edit, form.beta_spin, form.likelihood_combo, form.noise_combo, form.noise_level):
        assert w.toolTip(), w
    assert panel.start_button.shortcut().toString() and panel.pause_button.shortcut().toString()
    assert panel.stop_button.shortcut().toString()
    # Only the denoising AE uses the noise settings.
    assert not form.noise_combo.isEnabled()
    form.models_combo.setCurrentIndex(form.models_combo.findData("dae+vae"))
    assert form.noise_combo.isEnabled()
    job = form.build_job()
    assert [c.kind for c in job.configs] == ["dae", "vae"]


def test_panel_takes_its_dataset_and_follows_the_window_s(make_panel):
    panel = make_panel(dataset=images_context(None, name="fashion-mnist"))
    assert isinstance(panel, Panel)
    assert panel.form.dataset_combo.currentData() == "fashion-mnist"
    assert panel.set_dataset(images_context(None, name="kmnist"))
    assert panel.form.dataset_combo.currentData() == "kmnist"
    panel.demo()  # untrained there is nothing to stage
    panel.set_active(False)
    panel.set_active(True)


def _snapshot(codes: np.ndarray, decoder_state: dict) -> ModelSnapshot:
    return ModelSnapshot(
        index=0, kind="ae", latent=codes.shape[1], epoch=0, step=1, total_steps=2, samples_per_s=1.0, losses={},
        curve_steps=np.zeros(0, np.int64), curve_losses={}, probe_codes=codes, decoder_state=decoder_state,
    )


def test_live_space_decodes_with_the_snapshot_weights_and_keeps_its_pca_frame():
    config = NetConfig(kind="ae", latent=5, hidden=(16,))
    torch.manual_seed(1)
    trained = build_model(config)
    state = {k: v.numpy().copy() for k, v in trained.state_dict().items() if k.startswith("decoder")}
    codes = np.random.default_rng(0).normal(size=(200, 5)) * [5, 2, 1, 1, 1]
    first = LiveSpace(config, _snapshot(codes, state))
    assert first.is_projected
    with torch.no_grad():
        expected = trained.decode(torch.as_tensor(first.plane_to_codes(np.array([[0.5, -0.5]])), dtype=torch.float32))
    np.testing.assert_allclose(first.decode_plane(np.array([[0.5, -0.5]])).reshape(1, -1), expected.clamp(0, 1).numpy(), atol=1e-5)
    # The same codes, slightly grown, land in the same place: no flipped axes between redraws.
    second = LiveSpace(config, _snapshot(codes * 1.01, state), previous=first)
    np.testing.assert_allclose(second.xy / 1.01, first.xy, atol=1e-4)


def test_missing_dataset_offers_download_and_bundled_sets_fall_back(panel, tmp_path):
    form = panel.form
    panel.set_data_dir(tmp_path / "empty")
    assert "bundled" in form.dataset_status.text()
    assert not form.download_row.isHidden()
    job = form.build_job()
    assert job.allow_bundled and job.dataset == "mnist"
    form.dataset_combo.setCurrentIndex(form.dataset_combo.findData("fashion-mnist"))
    assert "10,000 Fashion-MNIST images bundled" in form.dataset_status.text()
    assert form.build_job().dataset == "fashion-mnist"
    form.dataset_combo.setCurrentIndex(form.dataset_combo.findData("kmnist"))  # not bundled
    assert "--data-dir" in form.dataset_status.text() and "bundled" not in form.dataset_status.text()
    assert not panel.start()
    assert "download it first" in panel.last_error
    assert panel.error_label.isVisible()


def test_run_from_start_shows_progress_falling_loss_moving_points_and_ends_in_explorer(window, qtbot, tmp_path, no_rate_limit):
    panel = window.train_panel
    out = _tiny(panel, tmp_path, epochs=8)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: len(_points(panel, "left")) == 100 and len(_points(panel, "right")) == 100, timeout=30000)
    first_value = panel.progress.value()
    before = _points(panel, "left")
    # Points move between two redraws while the model learns.
    qtbot.waitUntil(lambda: not np.allclose(_points(panel, "left"), before), timeout=20000)

    # Dragging during training decodes with the latest decoder weights (a copy of them).
    plot = panel.live.plots["right"]
    (x0, x1), (y0, y1) = plot.view_range()
    start, end = (x0 + 0.3 * (x1 - x0), (y0 + y1) / 2), (x0 + 0.7 * (x1 - x0), (y0 + y1) / 2)
    drag(plot, start, end)
    cx, cy = plot.crosshair()
    assert cx == pytest.approx(end[0], abs=0.05 * (x1 - x0))
    decoded = panel.live.decoded["right"].image()
    assert decoded is not None and decoded.shape == (28, 28) and np.isfinite(decoded).all()
    snap = plot.space  # the live space the drag decoded with
    with torch.no_grad():
        z = torch.tensor([[cx, cy]], dtype=torch.float32)
        expected = decoder_only_model(panel.live.config("right"), snap._decoder_state).decode(z).reshape(28, 28).numpy()
    np.testing.assert_allclose(decoded, np.clip(expected, 0, 1), atol=1e-5)

    with qtbot.waitSignal(panel.finished, timeout=60000) as done:
        pass
    result = done.args[0]
    assert panel.progress.value() > first_value
    assert panel.progress.value() == panel.progress.maximum()
    # The loss goes down: the curve's last stretch is below its first.
    _, y = panel.losses.curves["left"]["loss"].getData()
    assert len(y) > 20
    assert np.mean(y[-10:]) < np.mean(y[:10])
    _, nelbo = panel.losses.curves["right"]["loss"].getData()
    assert np.mean(nelbo[-10:]) < np.mean(nelbo[:10])
    # Per-epoch test figures appear as markers.
    xs, _ = panel.losses.markers["left"]["mse"].getData()
    assert len(xs) == 8

    # The trained models are now the explorer's: AE left, VAE right.
    assert {Path(p).name for p in result.checkpoints} == {"ae.pt", "vae.pt"}
    assert window.explore.checkpoint("left").path == out / "ae.pt"
    assert window.explore.checkpoint("right").path == out / "vae.pt"
    # The window and the panel say that the bundled models were replaced everywhere.
    assert "the new AE (left) and VAE (right) replace the bundled models in every panel" in window.status_text()
    assert str(out) in panel.run_label.text()
    assert "replace the bundled ones in every panel" in panel.run_label.text()
    assert not panel.warning_label.isVisible()  # a run that learned has nothing to warn about

    # One click brings the bundled models back in every panel.
    assert panel.bundled_button.isVisible()
    qtbot.mouseClick(panel.bundled_button, Qt.MouseButton.LeftButton)
    bundled = ROOT / "resources" / "models"
    for side, name in (("left", "ae.pt"), ("right", "vae.pt")):
        path = window.explore.checkpoint(side).path
        assert path.name == name and bundled in path.parents
    # The hands-on panels (Draw, Denoise, Inpaint) take the Explore panel's models.
    assert window.draw.workbench.ae.model is window.explore.checkpoint("left").model
    assert "bundled models are back" in window.status_text()
    assert not panel.bundled_button.isVisible()

    # A new run empties the decoded-image boxes, coordinates and all.
    assert "(" in panel.live.decoded["right"].caption()
    assert panel.start()
    for side, title in (("left", "AE"), ("right", "VAE")):
        assert panel.live.decoded[side].image() is None
        assert panel.live.decoded[side].caption() == f"{title} decoded"
    with qtbot.waitSignal(panel.finished, timeout=60000):
        panel.stop()

    # The last run's settings are remembered.
    again = TrainPanel(settings=window._settings)
    qtbot.addWidget(again)
    assert again.form.epochs_spin.value() == 8 and again.form.hidden_edit.text() == "64"


@pytest.mark.slow
def test_pause_really_pauses_resume_continues_and_stop_stops(make_panel, qtbot, tmp_path):
    panel = make_panel(job_defaults=_tiny_job(tmp_path))
    _tiny(panel, tmp_path, epochs=300)
    assert panel.start()
    c = panel.controller
    qtbot.waitUntil(lambda: 0 in c.latest and c.state == "running", timeout=30000)
    # A second run while one is going is refused with a message.
    assert not panel.start()
    assert "already" in panel.last_error

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert c.state == "paused" and panel.pause_button.text() == "Resume"
    # Snapshots already in flight (one per model) may still arrive; after them nothing moves.
    for _ in range(20):
        with qtbot.waitSignal(c.snapshot_changed, timeout=600, raising=False) as blocker:
            pass
        if not blocker.signal_triggered:
            break
    paused_step = c.latest[0].step
    with qtbot.assertNotEmitted(c.snapshot_changed, wait=800):
        pass
    assert c.latest[0].step == paused_step
    assert "paused" in panel.progress.format()

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.latest[0].step > paused_step, timeout=20000)
    with qtbot.waitSignal(panel.finished, timeout=30000) as done:
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert done.args[0].stopped
    assert c.state == "idle" and panel.start_button.isEnabled()
    assert "stopped" in panel.progress.format()


def test_nan_run_ends_with_a_visible_message_and_usable_weights(window, qtbot, tmp_path):
    panel = window.train_panel
    out = _tiny(panel, tmp_path, epochs=20, lr="1e4")
    with qtbot.waitSignal(panel.failed, timeout=60000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.error_label.isVisible()
    assert "learning rate" in panel.error_label.text()
    assert "last good weights" in window.last_error
    assert window._message_box is not None and window._message_box.isVisible()
    assert "Traceback" not in window.last_error
    paths = sorted(out.glob("*.pt"))
    assert [p.name for p in paths] == ["ae.pt", "vae.pt"]
    for path in paths:
        with torch.no_grad():
            assert torch.isfinite(load_checkpoint(path).model.reconstruct(torch.rand(4, 784))).all()
    assert panel.start_button.isEnabled()


@pytest.mark.slow
def test_closing_the_window_mid_run_ends_cleanly(window, qtbot, tmp_path, capfd):
    panel = window.train_panel
    _tiny(panel, tmp_path, epochs=500)
    assert panel.start()
    qtbot.waitUntil(lambda: panel.controller.state == "running", timeout=30000)
    process = panel.controller._process
    window.close()
    assert not process.is_alive()
    assert multiprocessing.active_children() == []
    assert panel.controller.state == "idle"
    assert "Traceback" not in capfd.readouterr().err


class _Trickle(BaseHTTPRequestHandler):
    """Serves a large file slowly, so a download is still going when Cancel is pressed."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Length", str(20_000_000))
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"\0" * 16384)
                time.sleep(0.02)  # the server's pace, not the test's
        except OSError:
            pass

    def log_message(self, *args) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a cancelled download closes the connection mid-write


def test_a_folder_of_idx_files_is_recognised(panel, tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    x, labels = labelled_blobs(30)
    write_idx_dataset(folder, "mnist", x, labels, test=10)
    form = panel.form
    form.dataset_combo.setCurrentIndex(form.dataset_combo.findData("folder"))
    assert not form.folder_row.isHidden()
    form.folder_edit.setText(str(folder))
    form.folder_edit.editingFinished.emit()
    assert "Found" in form.dataset_status.text()
    job = form.build_job()
    assert job.dataset == "mnist" and job.data_dir == str(folder)


def test_download_shows_progress_and_cancel_stops_it(make_panel, qtbot, tmp_path):
    server = _QuietServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        panel = make_panel(mirrors=(f"http://127.0.0.1:{server.server_address[1]}/",))
        form, row = panel.form, panel.form.download_row
        panel.set_data_dir(tmp_path / "cache")
        form.dataset_combo.setCurrentIndex(form.dataset_combo.findData("kmnist"))
        assert "not on disk" in form.dataset_status.text()
        qtbot.mouseClick(row.button, Qt.MouseButton.LeftButton)
        assert not row.cancel_button.isHidden()
        qtbot.waitUntil(lambda: row.progress.value() > 0, timeout=10000)
        assert "MB" in row.progress.format()
        with qtbot.waitSignal(panel.status_changed, timeout=10000) as said:
            qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
        assert said.args[0] == "Download cancelled."
        assert not row.button.isHidden() and row.cancel_button.isHidden()
    finally:
        server.shutdown()
        server.server_close()


def test_closing_mid_download_stops_and_joins_it(make_panel, qtbot, tmp_path):
    server = _QuietServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        panel = make_panel(mirrors=(f"http://127.0.0.1:{server.server_address[1]}/",))
        row = panel.form.download_row
        panel.set_data_dir(tmp_path / "cache")
        panel.form.dataset_combo.setCurrentIndex(panel.form.dataset_combo.findData("kmnist"))
        panel.form.start_download()
        qtbot.waitUntil(lambda: row.progress.value() > 0, timeout=10000)
        started = time.monotonic()
        panel.shutdown(1.0)
        assert not row.is_busy
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_mirrors_explain_what_to_do_offline(make_panel, qtbot, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    panel = make_panel(mirrors=(f"http://127.0.0.1:{port}/",))
    panel.set_data_dir(tmp_path / "cache")
    panel.form.dataset_combo.setCurrentIndex(panel.form.dataset_combo.findData("kmnist"))
    with qtbot.waitSignal(panel.failed, timeout=20000) as failed:
        panel.form.start_download()
    title, message = failed.args
    assert "could not be downloaded" in title
    assert "--data-dir" in message and str(tmp_path / "cache") in message
    assert panel.error_label.isVisible()


@pytest.mark.slow
def test_train_for_screenshot_trains_on_the_bundled_subset_and_exits_0(tmp_path):
    out = tmp_path / "train.png"
    # An empty dataset cache (so the bundled subset is used) and a private runs folder.
    env = {**os.environ, "LATENT_EXPLORER_DATA": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    run = subprocess.run(
        [sys.executable, "main.py", "--panel", "train", "--train-for", "4", "--screenshot", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


def test_on_the_bundled_images_the_panel_says_the_test_curve_is_not_held_out(make_panel, qtbot, tmp_path):
    # No dataset on disk: the run trains on the bundled images, which are its test images too.
    job = {k: v for k, v in _tiny_job(tmp_path).items() if k != "data_source"}
    panel = make_panel(data_dir=tmp_path / "no-datasets", job_defaults=job)
    _tiny(panel, tmp_path, epochs=1)
    panel.form.models_combo.setCurrentIndex(panel.form.models_combo.findData("ae"))
    with qtbot.waitSignal(panel.controller.started, timeout=60000):
        assert panel.start()
    text = panel.run_label.text()
    assert "not held out" in text and "images the model trained on" in text
    with qtbot.waitSignal(panel.finished, timeout=60000):
        panel.stop()


def test_a_run_whose_loss_explodes_warns_in_the_panel_and_the_status_bar(window, qtbot, tmp_path):
    panel = window.train_panel
    _tiny(panel, tmp_path, epochs=3, lr="10")
    panel.form.models_combo.setCurrentIndex(panel.form.models_combo.findData("ae"))
    with qtbot.waitSignal(panel.finished, timeout=60000) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    warnings = done.args[0].warnings
    assert warnings and "diverged" in warnings[0]
    assert panel.warning_label.isVisible()
    assert "diverged" in panel.warning_label.text() and "learning rate" in panel.warning_label.text()
    assert "Warning:" in window.status_text() and "diverged" in window.status_text()
    # In the theme's warning colour, in either theme.
    for choice in ("dark", "light"):
        window.apply_theme(choice)
        colour = panel.warning_label.palette().color(panel.warning_label.foregroundRole()).name()
        assert colour != panel.run_label.palette().color(panel.run_label.foregroundRole()).name()
