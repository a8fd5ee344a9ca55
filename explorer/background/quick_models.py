"""QuickModels: a first AE and VAE with a 2-D code, trained on a QThread when the window
opens on images that have no models yet (a user's folder, CIFAR-10), so the Explore
panel shows their latent space within seconds instead of an empty plot. The Train
panel is there for real runs; these are small MLPs trained for a few seconds."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from explorer.background.runs import BackgroundRun, Report, ShouldStop
from models.kinds import KIND_TITLES

# Small enough that a 64 x 64 colour MLP trains a few epochs a second on one core.
QUICK_HIDDEN = (256, 64)
QUICK_SECONDS = 20.0  # the whole budget, both models
QUICK_EPOCHS = 60  # at most, for a small folder that trains an epoch in milliseconds
KINDS = (("left", "ae"), ("right", "vae"))


@dataclass(frozen=True)
class QuickProgress:
    """How far the quick models are: ``done`` of 1.0, and which model trains now."""

    done: float
    text: str


def train_quick_models(train: np.ndarray, *, name: str, report: Report, should_stop: ShouldStop,
                       seconds: float = QUICK_SECONDS) -> dict:
    """An AE and a VAE (latent 2) trained on ``train`` (uint8, (N, H, W) or (N, H, W, 3))
    for about ``seconds``; returns side -> Checkpoint (not saved: the user saves a
    real run from the Train panel)."""
    import torch

    from models.checkpoint import Checkpoint
    from models.data import as_float_images, image_channels
    from models.nets import NetConfig, build_model
    from models.train import TrainConfig, Trainer

    x = as_float_images(train)
    shape = tuple(int(v) for v in train.shape[1:3])
    channels = image_channels(tuple(train.shape))
    budget = seconds / len(KINDS)
    batch = 64 if len(x) < 5000 else 128
    epochs = max(1, min(QUICK_EPOCHS, math.ceil(200_000 / max(1, len(x)))))
    out = {}
    for index, (side, kind) in enumerate(KINDS):
        config = NetConfig(kind=kind, image_shape=shape, latent=2, hidden=QUICK_HIDDEN, channels=channels,
                           likelihood="gaussian" if channels == 3 else "bernoulli")
        model = build_model(config, data_mean=x.mean(0), seed=index)
        started = time.perf_counter()

        def stop(_started: float = started) -> bool:
            return should_stop() or time.perf_counter() - _started > budget

        trainer = Trainer(model, config=TrainConfig(epochs=epochs, batch_size=batch, seed=index), train_x=x,
                          should_stop=stop)
        for k, _ in enumerate(trainer.steps()):
            if k % 20 == 0:
                share = min(1.0, (time.perf_counter() - started) / budget, (k + 1) / max(1, trainer.total_steps))
                report(QuickProgress((index + share) / len(KINDS), f"Training a first {KIND_TITLES[kind]}"))
        if should_stop():
            return {}
        model.eval()
        with torch.no_grad():
            out[side] = Checkpoint(model=model, config=config, meta={"dataset": name, "quick": True})
    report(QuickProgress(1.0, "Done"))
    return out


class QuickModels(QObject):
    """Trains the first models once, off the GUI thread: ``progress`` (QuickProgress)
    while it goes, ``ready`` with side -> Checkpoint when done, ``failed`` with a message."""

    progress = Signal(object)
    ready = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, seconds: float | None = None):
        super().__init__(parent)
        self.seconds = QUICK_SECONDS if seconds is None else seconds
        self._result: dict = {}
        self._run = BackgroundRun(self, name="first models")
        self._run.item_ready.connect(self.progress)
        self._run.finished.connect(self._finished)

    @property
    def is_running(self) -> bool:
        return self._run.is_running

    def start(self, train: np.ndarray, *, name: str) -> None:
        self._result = {}

        def work(report: Report, should_stop: ShouldStop) -> None:
            self._result = train_quick_models(train, name=name, report=report, should_stop=should_stop,
                                              seconds=self.seconds)

        self._run.start_task(work)

    def _finished(self, error: str) -> None:
        if error:
            self.failed.emit(error)
        elif self._result:
            self.ready.emit(self._result)

    def stop(self) -> None:
        self._run.stop()

    def shutdown(self, timeout: float = 1.0) -> bool:
        return self._run.shutdown(timeout)
