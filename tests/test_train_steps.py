"""Training step by step, as a learner meets it in the Train panel: Step takes exactly
one batch, slow motion keeps its rate, full speed is fast again, trails and the
step's batch (ringed) show while paced, and the run exports as an animated GIF with
one frame per kept snapshot. Runs train tiny models in a real child process."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from explorer.panels.train import TrainPanel
from explorer.panels.train_history import RunHistory
from explorer.panels.train_pace import PaceBar
from models.animation import read_frames
from models.jobs import ImageArrays, ModelSnapshot
from synthetic import labelled_blobs

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def _job(tmp_path: Path, *, bundled: bool = False) -> dict:
    x, labels = labelled_blobs(512)
    job = dict(probe_count=100, snapshot_interval_s=0.05, threads=1, thread_choices=(), out_dir=str(tmp_path / "run"),
               eval_share=None)
    if not bundled:
        job["data_source"] = ImageArrays(x, x[:200], labels[:200])
    return job


@pytest.fixture
def make_panel(qtbot, tmp_path):
    made = []

    def make(**kwargs) -> TrainPanel:
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        p = TrainPanel(runs_dir=tmp_path / "runs", settings=settings, **kwargs)
        qtbot.addWidget(p)
        p.resize(1200, 800)
        p.show()
        qtbot.waitExposed(p)
        p.form.hidden_edit.setText("64")
        p.form.batch_spin.setValue(32)
        p.form.lr_edit.setText("0.003")
        made.append(p)
        return p

    yield make
    for p in made:
        p.shutdown(2.0)


def _points(panel: TrainPanel, side: str) -> np.ndarray:
    parts = [np.column_stack(item.getData()) for item in panel.live.plots[side].scatter_items() if len(item.data)]
    return np.concatenate(parts) if parts else np.zeros((0, 2))


def _steps(panel: TrainPanel) -> tuple[int, ...]:
    latest = panel.controller.latest
    return tuple(latest[i].step for i in sorted(latest))


def test_new_controls_have_tooltips_keys_and_remember_their_settings(make_panel, tmp_path):
    panel = make_panel(job_defaults=_job(tmp_path))
    bar = panel.pace_bar
    for w in (bar.step_button, bar.slow_button, bar.full_button, bar.rate_spin, bar.rate_slider, bar.trails_check,
              bar.trails_spin, bar.export_button, panel.pacing.caption):
        assert w.toolTip(), w
    keys = {k.toString() for k in panel.pacing.step_action.shortcuts()}
    assert keys == {"S", "Right"}
    assert "S or →" in bar.step_button.toolTip()
    # The single keys are the panel's only while it is in front.
    panel.set_active(False)
    assert not panel.pacing.step_action.isEnabled()
    panel.set_active(True)
    assert panel.pacing.step_action.isEnabled()

    bar.rate_spin.setValue(7)
    assert bar.rate_slider.value() == 7
    bar.trails_spin.setValue(15)
    bar.trails_check.setChecked(False)
    assert bar.trail_length() == 0 and not bar.trails_spin.isEnabled()
    again = PaceBar(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert again.rate_spin.value() == 7 and again.trails_spin.value() == 15 and not again.trails_check.isChecked()
    assert again.full_button.isChecked()  # a new session starts at full speed


def test_set_rate_before_a_run_chooses_slow_motion_and_none_full_speed(make_panel, tmp_path):
    panel = make_panel(job_defaults=_job(tmp_path))
    panel.set_rate(4)
    assert panel.controller.rate == 4.0
    assert panel.pace_bar.slow_button.isChecked() and panel.pace_bar.rate_spin.value() == 4
    panel.set_rate(None)
    assert panel.controller.rate is None and panel.pace_bar.full_button.isChecked()


def test_exporting_before_any_run_says_why_and_writes_nothing(make_panel, tmp_path):
    panel = make_panel(job_defaults=_job(tmp_path))
    target = tmp_path / "out.gif"
    assert not panel.export_animation(target)
    assert "no snapshots" in panel.last_error and panel.error_label.isVisible()
    assert not target.exists()
    panel.ask_export_animation()  # the button says the same without asking for a file
    assert "no snapshots" in panel.last_error


def _snap(index: int, step: int, codes: np.ndarray) -> ModelSnapshot:
    return ModelSnapshot(index=index, kind="ae", latent=2, epoch=0, step=step, total_steps=10_000, samples_per_s=1.0,
                         losses={}, curve_steps=np.array([step]), curve_losses={"loss": np.array([1.0 / step])},
                         probe_codes=codes, decoder_state={"w": np.zeros(1000)})


def test_the_history_keeps_evenly_thinned_light_frames_and_the_latest():
    history = RunHistory(max_frames=10, trail_max=5)
    codes = np.zeros((4, 2))
    for step in range(1, 101):
        for index in (0, 1):
            history.take(_snap(index, step, codes + step))
    frames = history.frames()
    assert len(frames) <= 11 and frames[-1].step == 100 and frames[0].step == 1
    gaps = np.diff([f.step for f in frames[:-1]])
    assert len(set(gaps)) == 1  # evenly spaced
    assert all(set(f.snaps) == {0, 1} and f.snaps[0].decoder_state == {} for f in frames)
    assert [s.step for s in history.recent(0, 3)] == [98, 99, 100]
    assert sum(len(steps) for steps, _ in history.curves[0]) == 100  # every loss point, for the curves
    history.restart_trails()
    assert history.recent(0, 3) == []


@pytest.mark.slow
def test_step_takes_exactly_one_batch_and_shows_its_batch(make_panel, qtbot, tmp_path):
    panel = make_panel(job_defaults=_job(tmp_path))
    panel.form.epochs_spin.setValue(50)
    c = panel.controller
    # Before a run, Step starts one in step mode and takes its first batch.
    qtbot.mouseClick(panel.pace_bar.step_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _steps(panel) == (1, 1), timeout=30000)
    assert c.state == "paused" and panel.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: len(_points(panel, "left")) == 100, timeout=5000)
    first = _points(panel, "left")
    panel.activateWindow()
    for n in range(2, 5):
        qtbot.keyClick(panel, Qt.Key.Key_S if n % 2 else Qt.Key.Key_Right)
        qtbot.waitUntil(lambda n=n: _steps(panel) == (n, n), timeout=10000)
    # Exactly one batch per press: nothing more arrives.
    with qtbot.assertNotEmitted(c.snapshot_changed, wait=600):
        pass
    assert _steps(panel) == (4, 4)
    assert "step by step" in panel.progress.format() and "step 4/" in panel.progress.format()
    qtbot.waitUntil(lambda: not np.allclose(_points(panel, "left"), first), timeout=5000)
    # The step's batch is ringed (32 images, the batch size) and the caption says what the rings are.
    for side in ("left", "right"):
        rings = panel.live.overlays[side].batch_shown()
        assert rings is not None and rings.shape == (32, 2)
        np.testing.assert_allclose(rings, c.latest[0 if side == "left" else 1].batch_codes, atol=1e-5)
        assert panel.live.overlays[side].trails_shown()
    caption = panel.pacing.caption
    assert caption.isVisible() and "Rings" in caption.text() and "32 training images of step 4" in caption.text()
    # Each trail runs through the last positions of its point: its vertices are past codes.
    xs = np.concatenate([item.getData()[0] for item in panel.live.overlays["left"].trails if item.isVisible()])
    assert len(xs) == 100 * 4  # the four steps taken in step mode, for each of 100 points
    with qtbot.waitSignal(panel.finished, timeout=30000) as done:
        panel.stop()
    assert done.args[0].stopped


@pytest.mark.slow
def test_slow_motion_keeps_its_rate_and_full_speed_is_fast_again(make_panel, qtbot, tmp_path):
    panel = make_panel(job_defaults=_job(tmp_path))
    panel.form.epochs_spin.setValue(300)
    c = panel.controller
    rate = 4
    panel.set_rate(rate)
    assert panel.start()
    qtbot.waitUntil(lambda: 0 in c.latest and c.state == "running", timeout=30000)
    # Measured by the child's own clock (the snapshots' made_at): on a loaded machine the
    # GUI may drain a backlog of snapshots faster than they were made.
    first = c.latest[0]
    qtbot.waitUntil(lambda: c.latest[0].step >= first.step + 10, timeout=20000)
    last = c.latest[0]
    measured = (last.step - first.step) / (last.made_at - first.made_at)
    assert rate * 0.65 < measured < rate * 1.35, measured
    assert "slow motion, 4 steps/s" in panel.progress.format()
    # Every step is shown, with trails and its batch ringed.
    qtbot.waitUntil(lambda: panel.live.overlays["left"].trails_shown(), timeout=5000)
    assert panel.live.overlays["left"].batch_shown() is not None and panel.pacing.caption.isVisible()
    # Trails off: they go, the rings stay.
    panel.pace_bar.trails_check.setChecked(False)
    assert not panel.live.overlays["left"].trails_shown() and not panel.live.overlays["right"].trails_shown()
    assert panel.live.overlays["left"].batch_shown() is not None

    qtbot.mouseClick(panel.pace_bar.full_button, Qt.MouseButton.LeftButton)
    assert c.rate is None
    start = c.latest[0]
    qtbot.waitUntil(lambda: c.latest[0].step >= start.step + 200, timeout=20000)
    end = c.latest[0]
    assert (end.step - start.step) / (end.made_at - start.made_at) > 10 * rate
    qtbot.waitUntil(lambda: panel.live.overlays["left"].batch_shown() is None, timeout=5000)
    assert not panel.pacing.caption.isVisible() and "slow motion" not in panel.progress.format()
    with qtbot.waitSignal(panel.finished, timeout=30000):
        panel.stop()


@pytest.mark.slow
def test_a_short_run_exports_one_gif_frame_per_kept_snapshot(make_panel, qtbot, tmp_path):
    # The bundled MNIST images (no dataset on disk), a tiny model, one epoch. At most 16
    # frames are kept (thinned as the run goes on): each GIF and MP4 frame is a 960 x 540
    # rendering, and 16 show the space forming as well as 200.
    panel = make_panel(data_dir=tmp_path / "no-datasets", job_defaults=_job(tmp_path, bundled=True))
    panel.history.max_frames = 16
    panel.form.epochs_spin.setValue(1)
    with qtbot.waitSignal(panel.finished, timeout=90000):
        assert panel.start()
    kept = panel.history.frames()
    assert 5 <= len(kept) <= 17  # the 16 kept and the latest

    # A target that cannot be written says why and leaves nothing behind.
    for bad in (tmp_path / "missing" / "run.gif", tmp_path / "run.png"):
        assert not panel.export_animation(bad)
        assert str(bad) in panel.last_error
    assert not (tmp_path / "missing").exists() and not (tmp_path / "run.png").exists()

    # Cancelled: no file either.
    target = tmp_path / "run.gif"
    with qtbot.waitSignal(panel.animation_finished, timeout=30000) as ended:
        assert panel.export_animation(target)
        panel.animation.exporter.cancel()
    assert ended.args[0] == "cancelled"
    assert list(tmp_path.glob("*.gif")) == [] and list(tmp_path.glob(".run.gif*")) == []

    with qtbot.waitSignal(panel.animation_finished, timeout=120000) as ended:
        assert panel.export_animation(target)
        assert not panel.pace_bar.export_button.isEnabled()
    assert ended.args[0] == "written", ended.args
    assert panel.pace_bar.export_button.isEnabled()
    frames = read_frames(target)
    assert len(frames) == len(kept)
    assert frames[0].shape == (540, 960, 3)
    for a, b in zip(frames[:-1], frames[1:], strict=True):
        assert np.any(a != b)
    # The latent space forms: the first and last frames differ a lot, not by a caption.
    assert np.mean(np.any(frames[0] != frames[-1], axis=2)) > 0.02
    # The same run as an MP4 (imageio's ffmpeg plugin is part of the test extras).
    video = tmp_path / "run.mp4"
    with qtbot.waitSignal(panel.animation_finished, timeout=120000) as ended:
        assert panel.export_animation(video)
    assert ended.args[0] == "written", ended.args
    movie = read_frames(video)
    assert len(movie) == len(kept) and movie[0].shape == (540, 960, 3)
    assert np.abs(movie[-1].astype(int) - frames[-1].astype(int)).mean() < 12  # the same picture, lossy


def test_the_file_menu_exports_the_training_run_from_the_train_panel(qtbot, tmp_path):
    """File › Export training… brings the Train panel forward and asks it to export; with
    no run yet it says why, as its button does."""
    from explorer.startup import load_startup
    from explorer.window import MainWindow

    window = MainWindow(startup=load_startup(None, "mnist", preview=False))
    qtbot.addWidget(window)
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    assert window.window_actions.export_training in file_menu.actions()
    window.window_actions.export_training.trigger()
    assert window.current_panel_name() == "train"
    assert "no snapshots" in window.train_panel.last_error
