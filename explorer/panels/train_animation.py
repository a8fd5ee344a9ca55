"""The Train panel's animation export: the run's latent space forming, with its loss
curves, as a GIF or MP4, one frame per snapshot the panel kept (RunHistory).

Frames are drawn on the GUI thread (grabbing a widget must happen there) into an
offscreen copy of the live view at a fixed size, a few per timer tick so the window
stays responsive, and handed through a small queue to models.animation's writer on a
BackgroundRun. Cancel stops both and leaves no file; the writer is atomic.
RunAnimation is what the panel's Export animation… does.
"""
from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QLabel, QProgressDialog, QVBoxLayout, QWidget

from explorer.background.runs import BackgroundRun
from explorer.panels.train_history import Frame, RunHistory
from explorer.panels.train_live import TrainLiveView
from explorer.panels.train_progress import loss_lines, loss_title
from explorer.widgets.grab import widget_array
from explorer.widgets.loss_curves import LossCurves
from explorer.widgets.theme import Theme
from models.animation import AnimationError, check_target, mp4_available, write_animation
from models.kinds import KIND_SIDES
from models.nets import NetConfig

if TYPE_CHECKING:
    from explorer.panels.train import TrainPanel

FRAME_SIZE = (960, 540)
TICK_S = 0.03  # drawing per timer tick, so input and repaints get their turn in between
_END = None


class ExportCancelled(AnimationError):
    """The user cancelled the export: nothing was written."""


def animation_filter() -> str:
    """The save dialog's file types: MP4 only where imageio's ffmpeg plugin is installed."""
    return "GIF animation (*.gif);;MP4 video (*.mp4)" if mp4_available() else "GIF animation (*.gif)"


def frame_rate(frames: int) -> float:
    """Frames a second that play a run in about 12 seconds, between 2 and 12."""
    return float(min(12.0, max(2.0, frames / 12.0)))


class AnimationCanvas(QWidget):
    """An offscreen copy of the live view (both latent plots and the loss curves)
    that draws one kept frame at a time, at FRAME_SIZE."""

    def __init__(self, *, theme: Theme, configs: Sequence[NetConfig], labels: np.ndarray, history: RunHistory,
                 losses: Callable[[NetConfig | None, str], tuple[str, Sequence[Any], Sequence[Any]]],
                 total_steps: int, title: str = ""):
        super().__init__()
        self.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        self.setFixedSize(*FRAME_SIZE)
        self._configs = tuple(configs)
        self._total = max(1, total_steps)
        self._history = history
        self._title = title
        self._drawn_to = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.caption)
        self.live = TrainLiveView(theme=theme)
        self.live.state = "training"  # a replay, not the live run
        self.live.show_decoded(False)
        self.losses = LossCurves(theme=theme, legend_columns={"right": 4})
        layout.addWidget(self.live, 3)
        layout.addWidget(self.losses, 2)
        self.live.start_run(self._configs)
        self.live.set_probe_labels(labels)
        for side in ("left", "right"):
            title_text, lines, markers = losses(self.live.config(side), side)
            self.losses.reset(side, title=title_text, lines=lines, markers=markers)
            self.losses.plots[side].setXRange(0, self._total, padding=0.02)
            self.losses.plots[side].getViewBox().disableAutoRange(axis="x")
        self.setStyleSheet(f"background: {theme.background}; color: {theme.foreground};")
        # Each model's loss points and test figures, in step order, fed up to each frame's step.
        self._curves: dict[int, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
        for index, parts in history.curves.items():
            steps = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
            keys = {k for p in parts for k in p[1]}
            values = {k: np.concatenate([p[1].get(k, np.full(len(p[0]), np.nan, np.float32)) for p in parts]) for k in keys}
            self._curves[index] = (steps, values)
        self.show()

    def _side(self, index: int) -> str | None:
        return KIND_SIDES[self._configs[index].kind] if index < len(self._configs) else None

    def draw(self, frame: Frame) -> np.ndarray:
        """Frame ``frame`` as H x W x 3 uint8 (frames must come in step order)."""
        for snap in frame.snaps.values():
            self.live.take(snap)
        self.live.draw()
        lo, hi = self._drawn_to, frame.step
        for index, (steps, values) in self._curves.items():
            side = self._side(index)
            if side is None:
                continue
            mine = (steps > lo) & (steps <= hi)
            self.losses.add_points(side, steps[mine], {k: v[mine] for k, v in values.items()})
            for x, test in self._history.tests.get(index, ()):
                if lo < x <= hi:
                    self.losses.add_test(side, x, test)
        self._drawn_to = hi
        self.losses.draw(smooth=max(1, self._total // 100), skip_before=self._total // 20)
        self.caption.setText(f"{self._title}step {frame.step:,} of {self._total:,}")
        return widget_array(self)


class AnimationExport(QObject):
    """One export at a time: ``start(path, canvas, frames)``; ``finished(outcome,
    message)`` ends it, outcome "written", "cancelled" or "failed"."""

    finished = Signal(str, str)

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self._parent = parent
        self._run = BackgroundRun(self, expected=(AnimationError, OSError), threads=None, name="animation export")
        self._run.item_ready.connect(self._count)
        self._run.finished.connect(self._written)
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._tick)
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._canvas: AnimationCanvas | None = None
        self._frames: list[Frame] = []
        self._next = 0
        self._pending: np.ndarray | None = None
        self._path = Path()
        self._cancelled = False
        self._written_count = 0
        self._busy = False
        self.dialog: QProgressDialog | None = None

    @property
    def is_running(self) -> bool:
        return self._run.is_running

    def start(self, path: str | Path, canvas: AnimationCanvas, frames: Sequence[Frame]) -> None:
        """Draw ``frames`` on ``canvas`` and write them to ``path``; AnimationError at
        once for a target that cannot be written (nothing is drawn then)."""
        if self._run.is_running:
            raise AnimationError("an animation is already being written; wait for it or cancel it")
        self._path = check_target(path)
        self._canvas, self._frames, self._next, self._pending = canvas, list(frames), 0, None
        self._cancelled = False
        self._written_count = 0
        self._queue = queue.Queue(maxsize=4)
        fps = frame_rate(len(self._frames))
        q, target = self._queue, self._path

        def work(report, should_stop) -> None:
            def frames() -> Iterator[np.ndarray]:
                while True:
                    try:
                        item = q.get(timeout=0.1)
                    except queue.Empty:
                        if should_stop():
                            raise ExportCancelled("cancelled") from None
                        continue
                    if item is _END:
                        return
                    if should_stop():
                        raise ExportCancelled("cancelled")
                    yield item

            report(write_animation(target, frames(), fps=fps))

        self.dialog = QProgressDialog(f"Drawing the frames of {self._path.name}…", "Cancel", 0, len(self._frames) + 1,
                                      self._parent)
        self.dialog.setWindowTitle("Export animation")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(300)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self.cancel)
        self._run.start_task(work)
        self._timer.start()

    def cancel(self) -> None:
        """Stop drawing and writing; the target is left as it was. Too late once every
        frame has gone to the writer (it is then saving the file)."""
        if not self._run.is_running or self._next > len(self._frames):
            return
        self._cancelled = True
        self._timer.stop()
        self._run.stop()

    def _tick(self) -> None:
        # A modal progress dialog's setValue processes events, this timer's included.
        if self._busy:
            return
        self._busy = True
        try:
            self._draw_some()
        finally:
            self._busy = False

    def _draw_some(self) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < TICK_S:
            if self._pending is None:
                if self._next > len(self._frames):
                    self._timer.stop()
                    return
                if self._next == len(self._frames):
                    self._pending = _END  # type: ignore[assignment]
                else:
                    assert self._canvas is not None
                    self._pending = self._canvas.draw(self._frames[self._next])
            try:
                self._queue.put_nowait(self._pending)
            except queue.Full:
                return  # the writer is behind: this tick gives it the time
            self._pending = None
            self._next += 1
            if self.dialog is not None:
                self.dialog.setValue(min(self._next, len(self._frames)))
                if self._next > len(self._frames):
                    self.dialog.setLabelText(f"Writing {self._path.name}…")
                    self.dialog.setCancelButton(None)  # the writer cannot stop mid-save

    def _count(self, n: object) -> None:
        self._written_count = int(n)  # type: ignore[call-overload]

    def _written(self, error: str) -> None:
        self._timer.stop()
        if self.dialog is not None:
            self.dialog.canceled.disconnect(self.cancel)
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None
        if self._canvas is not None:
            self._canvas.close()
            self._canvas.deleteLater()
            self._canvas = None
        if self._cancelled:
            self.finished.emit("cancelled", f"The animation was not written ({self._path.name}): cancelled.")
        elif error:
            self.finished.emit("failed", error)
        else:
            self.finished.emit("written", f"Wrote {self._written_count} frames to {self._path}")

    def shutdown(self, timeout: float = 1.0) -> None:
        self.cancel()
        self._run.shutdown(timeout)


NO_FRAMES = ("there are no snapshots to animate yet: start a run (or take a Step) and the panel keeps "
             "the latent space as it forms")


def _loss_setup(config: NetConfig | None, side: str) -> tuple[str, Sequence[Any], Sequence[Any]]:
    lines, markers = loss_lines(config) if config is not None else ((), ())
    return loss_title(config, side), lines, markers


class RunAnimation(QObject):
    """Export animation… for a Train panel: ask where, draw its kept snapshots on an
    AnimationCanvas and write them; ``failed`` and ``status_changed`` go to the panel's
    error line and status bar, ``finished(outcome, message)`` ends every export."""

    finished = Signal(str, str)
    failed = Signal(str, str)  # title, message
    status_changed = Signal(str)

    def __init__(self, panel: TrainPanel):
        super().__init__(panel)
        self._panel = panel
        self.exporter = AnimationExport(panel)
        self.exporter.finished.connect(self._done)

    def ask(self) -> None:
        if not len(self._panel.history):
            self.failed.emit("Cannot export the animation", NO_FRAMES)
            return
        path, _ = QFileDialog.getSaveFileName(self._panel, "Export the training animation",
                                              str(Path.home() / "training.gif"), animation_filter())
        if path:
            self.export(path)

    def export(self, path: str | Path) -> bool:
        panel = self._panel
        info, job = panel.controller.job_info, panel.job
        try:
            if not len(panel.history) or info is None or job is None:
                raise AnimationError(NO_FRAMES)
            canvas = AnimationCanvas(theme=panel.theme, configs=job.configs, labels=info.probe_labels,
                                     history=panel.history, losses=_loss_setup, total_steps=info.total_steps,
                                     title=f"{info.dataset_title} · ")
            try:
                self.exporter.start(path, canvas, panel.history.frames())
            except BaseException:
                canvas.close()
                canvas.deleteLater()
                raise
        except AnimationError as exc:
            self.failed.emit("Cannot export the animation", str(exc))
            return False
        panel.pace_bar.export_button.setEnabled(False)
        return True

    @Slot(str, str)
    def _done(self, outcome: str, message: str) -> None:
        self._panel.pace_bar.export_button.setEnabled(True)
        if outcome == "failed":
            self.failed.emit("Cannot export the animation", message)
        else:
            self.status_changed.emit(message)
        self.finished.emit(outcome, message)

    def shutdown(self, timeout: float = 1.0) -> None:
        self.exporter.shutdown(timeout)
