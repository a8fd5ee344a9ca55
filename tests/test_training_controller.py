"""Background training in a child process, seen through the controller's signals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.background.training import TrainingBusyError, TrainingController
from models.checkpoint import load_checkpoint
from models.jobs import ImageArrays, TrainJob
from models.nets import NetConfig
from models.train import TrainConfig
from synthetic import labelled_blobs

# Every test here starts a process (the CLI, a training run or the app).
pytestmark = pytest.mark.slow


def _job(tmp_path, *, epochs=4, lr=3e-3, n=512, interval=0.05) -> TrainJob:
    x, labels = labelled_blobs(n)
    return TrainJob(
        configs=(NetConfig(kind="ae", hidden=(64,)), NetConfig(kind="vae", hidden=(64,))),
        train=TrainConfig(epochs=epochs, batch_size=32, lr=lr),
        data_source=ImageArrays(x, x[:200], labels[:200]),
        probe_count=100,
        snapshot_interval_s=interval,
        threads=1,
        out_dir=str(tmp_path / "out"),
    )


@pytest.fixture
def controller(qtbot):
    c = TrainingController()
    yield c
    c.shutdown()


def test_run_reports_progress_loss_falls_and_saves(controller, qtbot, tmp_path):
    snapshots, epochs = [], []
    controller.snapshot_changed.connect(snapshots.append)
    controller.epoch_finished.connect(epochs.append)
    with qtbot.waitSignal(controller.finished, timeout=60000) as done:
        controller.start(_job(tmp_path))
    assert controller.state == "idle"
    assert {s.index for s in snapshots} == {0, 1}
    ae = [s for s in snapshots if s.index == 0]
    assert ae[-1].step > ae[0].step
    # The probe codes move while the model learns.
    assert not np.allclose(ae[0].probe_codes, ae[-1].probe_codes)
    assert ae[-1].probe_codes.shape == (100, 2)
    ae_epochs = [e for e in epochs if e.index == 0]
    assert [e.epoch for e in ae_epochs] == [1, 2, 3, 4]
    assert ae_epochs[-1].train["loss"] < ae_epochs[0].train["loss"]
    vae_epochs = [e for e in epochs if e.index == 1]
    assert vae_epochs[-1].test["nelbo"] < vae_epochs[0].test["nelbo"]
    paths = done.args[0].checkpoints
    assert len(paths) == 2
    ck = load_checkpoint(paths[1], expect_kind="vae")
    assert ck.meta["epochs_done"] == 4


def test_second_start_is_refused(controller, qtbot, tmp_path):
    controller.start(_job(tmp_path, epochs=50))
    with pytest.raises(TrainingBusyError, match="already"):
        controller.start(_job(tmp_path))
    with qtbot.waitSignal(controller.finished, timeout=30000) as done:
        controller.stop()
    assert done.args[0].stopped


def test_pause_really_pauses_and_resume_continues(controller, qtbot, tmp_path):
    controller.start(_job(tmp_path, epochs=200))
    qtbot.waitUntil(lambda: 0 in controller.latest, timeout=30000)
    controller.pause()
    # Messages already in flight may still arrive, and the run sends where it paused
    # (one snapshot per model); after them nothing moves.
    qtbot.waitUntil(lambda: controller.state == "paused")
    for _ in range(20):
        with qtbot.waitSignal(controller.snapshot_changed, timeout=600, raising=False) as blocker:
            pass
        if not blocker.signal_triggered:
            break
    paused_step = controller.latest[0].step
    with qtbot.assertNotEmitted(controller.epoch_finished, wait=800):
        pass
    assert controller.latest[0].step == paused_step
    controller.resume()
    qtbot.waitUntil(lambda: controller.latest[0].step > paused_step, timeout=20000)
    with qtbot.waitSignal(controller.finished, timeout=30000):
        controller.stop()


def test_nan_loss_ends_with_message_and_usable_weights(controller, qtbot, tmp_path):
    job = _job(tmp_path, lr=1e4, epochs=20)
    with qtbot.waitSignal(controller.failed, timeout=60000) as failed:
        controller.start(job)
    msg = failed.args[0]
    assert "learning rate" in msg.message
    assert msg.checkpoints, "the last good weights are saved"
    for path in msg.checkpoints:
        model = load_checkpoint(path).model
        with torch.no_grad():
            out = model.reconstruct(torch.rand(4, 784))
        assert torch.isfinite(out).all()


def test_shutdown_mid_run_leaves_no_process(controller, qtbot, tmp_path):
    controller.start(_job(tmp_path, epochs=500))
    qtbot.waitUntil(lambda: controller.state == "running", timeout=30000)
    process = controller._process
    controller.shutdown(timeout=1.0)
    assert not process.is_alive()
    assert controller.state == "idle"
