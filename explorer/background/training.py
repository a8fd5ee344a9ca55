"""Runs a training job in a child process and turns its queue into Qt signals.

The child trains at full speed on its own cores; the GUI thread only drains the
queue on a timer and keeps the latest snapshot per model, so nothing here ever
blocks the event loop for longer than unpickling one message. A run can also go
step by step (``step`` while paused) or in slow motion (``set_rate``): the child
reads both from shared memory before every batch (models.pacing).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import pickle
import queue as queue_module
import time

from PySide6.QtCore import QObject, QTimer, Signal

from models.jobs import (
    EpochReport,
    JobFailed,
    JobFinished,
    JobStarted,
    ModelSnapshot,
    TrainJob,
)
from models.pacing import PaceControls
from models.training_child import run_job_watched

log = logging.getLogger(__name__)


class TrainingBusyError(RuntimeError):
    """A run is already going; stop it before starting another."""


class TrainingController(QObject):
    """Start, pause, resume, step, pace and stop one background training run."""

    started = Signal(object)  # JobStarted
    snapshot_changed = Signal(object)  # ModelSnapshot (the latest for its model)
    epoch_finished = Signal(object)  # EpochReport
    finished = Signal(object)  # JobFinished
    failed = Signal(object)  # JobFailed
    state_changed = Signal(str)  # "idle", "starting", "running", "paused", "stopping"

    def __init__(self, parent: QObject | None = None, *, poll_ms: int = 30):
        super().__init__(parent)
        self._ctx = mp.get_context("spawn")
        self._process = None
        self._queue = None
        self._stop = None
        self._pause = None
        self._pace: PaceControls | None = None
        self._rate: float | None = None
        self._state = "idle"
        self.latest: dict[int, ModelSnapshot] = {}
        self.job_info: JobStarted | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._poll)

    @property
    def state(self) -> str:
        return self._state

    @property
    def is_active(self) -> bool:
        return self._state in ("starting", "running", "paused", "stopping")

    @property
    def is_running(self) -> bool:
        """The name every background run answers to (see explorer.background)."""
        return self.is_active

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    @property
    def rate(self) -> float | None:
        """Slow motion's steps per second, or None at full speed (kept for the next run)."""
        return self._rate

    def start(self, job: TrainJob, *, step_mode: bool = False) -> None:
        """Start a run (``step_mode``: paused before its first batch, for ``step``);
        raises TrainingBusyError while another is going."""
        if self.is_active:
            raise TrainingBusyError("a training run is already going: stop it first")
        self.latest.clear()
        self.job_info = None
        self._queue = self._ctx.Queue()
        self._stop = self._ctx.Event()
        self._pause = self._ctx.Event()
        if step_mode:
            self._pause.set()
        self._pace = PaceControls.create(self._ctx)
        self._pace.set_rate(self._rate)
        # The job goes pickled so that the child watches for this process's end before
        # unpickling it imports torch (see models.training_child).
        self._process = self._ctx.Process(
            target=run_job_watched, args=(pickle.dumps(job), self._queue, self._stop, self._pause, self._pace),
            name="latent-explorer-training", daemon=True,
        )
        self._process.start()
        self._set_state("starting")
        self._timer.start()

    def pause(self) -> None:
        if self._state == "running" and self._pause is not None:
            self._pause.set()
            self._nudge()
            self._set_state("paused")

    def resume(self) -> None:
        if self._state == "paused" and self._pause is not None:
            if self._pace is not None:
                self._pace.clear_steps()  # steps asked for and not taken mean nothing now
            self._pause.clear()
            self._nudge()
            self._set_state("running")

    def step(self, n: int = 1) -> bool:
        """A paused run (or one started in step mode) takes ``n`` more batches of every
        model and pauses again; False when the run is not paused."""
        if self._state not in ("paused", "starting") or self._pause is None or not self._pause.is_set():
            return False
        if self._pace is not None:
            self._pace.grant_steps(n)
        return True

    def set_rate(self, steps_per_second: float | None) -> None:
        """Slow motion at ``steps_per_second``, or full speed (None); applies at once to
        a run going on and to the runs started later."""
        r = float(steps_per_second) if steps_per_second else None
        if r is not None and r < 0:
            raise ValueError(f"a rate is a number of steps per second >= 0, not {steps_per_second}")
        self._rate = r
        if self._pace is not None:
            self._pace.set_rate(r)

    def _nudge(self) -> None:
        if self._pace is not None:
            self._pace.nudge()

    def stop(self) -> None:
        """Ask the run to stop after its current batch; it still saves what it has."""
        if self.is_active and self._stop is not None:
            self._stop.set()
            self._pause.clear()
            self._nudge()
            self._set_state("stopping")

    def _poll(self) -> None:
        messages = []
        while True:
            try:
                messages.append(self._queue.get_nowait())
            except queue_module.Empty:
                break
            except (EOFError, OSError):
                break
        for msg in messages:
            if isinstance(msg, JobStarted):
                self.job_info = msg
                if self._state == "starting":
                    paused = self._pause is not None and self._pause.is_set()
                    self._set_state("paused" if paused else "running")
                self.started.emit(msg)
            elif isinstance(msg, ModelSnapshot):
                # Every snapshot carries its part of the loss curves; receivers
                # redraw from ``latest`` on their own timer.
                self.latest[msg.index] = msg
                self.snapshot_changed.emit(msg)
            elif isinstance(msg, EpochReport):
                self.epoch_finished.emit(msg)
            elif isinstance(msg, (JobFinished, JobFailed)):
                self._end(msg)
                return
        if self._process is not None and not self._process.is_alive() and self.is_active:
            # The child died without a last word (killed, out of memory).
            self._end(JobFailed(f"the training process ended unexpectedly (exit code {self._process.exitcode})"))

    def _end(self, msg) -> None:
        self._timer.stop()
        self._join(timeout=2.0)
        self._set_state("idle")
        if isinstance(msg, JobFinished):
            self.finished.emit(msg)
        else:
            self.failed.emit(msg)

    def _join(self, timeout: float) -> None:
        p = self._process
        if p is None:
            return
        p.join(timeout)
        if p.is_alive():
            p.terminate()
            p.join(1.0)
        if self._queue is not None:
            self._queue.close()
            self._queue.join_thread()
        self._process = None

    def shutdown(self, timeout: float = 1.0) -> None:
        """Stop and join the child (window closing); leaves no process behind."""
        if self._process is None:
            return
        self._timer.stop()
        if self._stop is not None:
            self._stop.set()
        if self._pause is not None:
            self._pause.clear()
        self._nudge()
        deadline = time.monotonic() + timeout
        # Drain while waiting so a child blocked on a full pipe can exit.
        while self._process.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.get(timeout=0.05)
            except (queue_module.Empty, EOFError, OSError):
                pass
        self._join(timeout=0.1)
        self._set_state("idle")
