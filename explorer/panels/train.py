"""The Train panel: settings, start / pause / stop, live loss curves and latent plots.

Training runs in a child process (``TrainingController``); this panel only reads
its messages. Snapshots are kept as they arrive and drawn by a timer at most ten
times a second, so a burst of messages never turns into a burst of redraws.
The pieces: the settings (TrainSettingsForm, train_form.py), the live latent plots
(TrainLiveView, train_live.py), the loss curves (LossCurves, widgets/loss_curves.py),
Step / Slow motion / Full speed and the trails (PaceBar and StepPacing, train_pace.py),
what is kept of the run (RunHistory, train_history.py), the animation export
(train_animation.py) and the words about the run (train_progress.py).
"""
from __future__ import annotations

import html
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from explorer.background.training import TrainingBusyError, TrainingController
from explorer.panels.train_animation import RunAnimation
from explorer.panels.train_form import SettingsError, TrainSettingsForm
from explorer.panels.train_history import RunHistory
from explorer.panels.train_live import TrainLiveView
from explorer.panels.train_pace import PaceBar, StepPacing
from explorer.panels.train_progress import RunProgress, loss_lines, loss_title, run_description
from explorer.widgets.actions import set_actions_active
from explorer.widgets.loss_curves import LossCurves
from explorer.widgets.theme import LIGHT, Theme
from models.jobs import (
    EpochReport,
    JobFailed,
    JobFinished,
    JobStarted,
    ModelSnapshot,
    TrainJob,
)
from models.kinds import KIND_SIDES

if TYPE_CHECKING:
    from explorer.startup import DatasetContext

REDRAW_MS = 100  # at most 10 Hz: a scatter redraw is the costliest thing the panel does
# Curves change slowly and cost the most to repaint (log transform, axis ticks): twice
# a second is enough, and keeps the GUI's event loop prompt.
CURVE_REDRAW_S = 0.5
WARNING_COLOURS = {"light": "#9a5b00", "dark": "#f0b429"}  # amber: a run that finished but went wrong
ERROR_COLOURS = {"light": "#c62828", "dark": "#ff6b6b"}


@dataclass(frozen=True)
class RunResult:
    """How a run ended, for the window: checkpoints to load and what to say."""

    checkpoints: tuple[str, ...]
    stopped: bool
    seconds: float
    warnings: tuple[str, ...] = ()  # a loss that exploded: JobFinished.warnings


def _text_label(text: str = "", *, visible: bool = True) -> QLabel:
    """A wrapped line of the panel's text that can be selected and copied."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setVisible(visible)
    return label


def _button(text: str, keys: str, tip: str, slot) -> QPushButton:
    b = QPushButton(text)
    b.setShortcut(QKeySequence(keys))
    b.setToolTip(f"{tip} ({keys})")
    b.clicked.connect(slot)
    return b


class TrainPanel(QWidget):
    """Train an AE and a VAE side by side and watch their latent spaces form.

    ``mirrors``: where downloads come from (None: the datasets' public mirrors);
    ``job_defaults``: fields every job built from the form takes (see TrainSettingsForm).
    """

    status_changed = Signal(str)  # one line for the status bar
    finished = Signal(object)  # RunResult: the run ended and saved its checkpoints
    failed = Signal(str, str)  # title, message: a run or a download could not do its job
    restore_bundled_requested = Signal()  # the user wants the bundled models back in every panel
    animation_finished = Signal(str, str)  # "written", "cancelled" or "failed", and what to say

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        dataset: DatasetContext | None = None,
        theme: Theme = LIGHT,
        settings: QSettings | None = None,
        data_dir: str | Path | None = None,
        runs_dir: str | Path | None = None,
        controller: TrainingController | None = None,
        mirrors: tuple[str, ...] | None = None,
        job_defaults: Mapping[str, Any] | None = None,
    ):
        super().__init__(parent)
        self._theme = theme
        self._active = True
        self.controller = controller or TrainingController(self)
        self.last_error: str | None = None
        self._job: TrainJob | None = None
        self._info: JobStarted | None = None
        self._dirty = False
        self._curves_drawn_at = 0.0
        self._run_summary = ""
        self.history = RunHistory()
        self.run_progress = RunProgress()

        self.form = TrainSettingsForm(settings=settings, data_dir=data_dir, runs_dir=runs_dir, mirrors=mirrors,
                                      job_defaults=job_defaults)
        self.form.status_changed.connect(self.status_changed)
        self.form.failed.connect(self._report_error)
        self.live = TrainLiveView(theme=theme)
        self.losses = LossCurves(theme=theme, legend_columns={"right": 4})  # the VAE's four entries in a row
        self.pace_bar = PaceBar(settings=settings)
        self.pacing = StepPacing(self, self.controller, self.pace_bar, self.history, self.run_progress)
        self.animation = RunAnimation(self)
        self.animation.finished.connect(self.animation_finished)
        self.animation.failed.connect(self._report_error)
        self.animation.status_changed.connect(self.status_changed)
        self.pace_bar.export_requested.connect(self.ask_export_animation)
        self._build_ui()
        if dataset is not None:
            self.form.set_dataset(dataset)
        self.apply_theme(theme)
        self._update_enabled()

        c = self.controller
        c.started.connect(self._on_started)
        c.snapshot_changed.connect(self._on_snapshot)
        c.epoch_finished.connect(self._on_epoch)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.state_changed.connect(self._on_state)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self.redraw)

    # ------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(10)

        # Left: the settings form (scrolls on small screens) and the run buttons.
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_layout.addWidget(scroll, 1)
        side_layout.addLayout(self._build_buttons())
        side_layout.addWidget(self.pace_bar)
        side.setFixedWidth(330)
        root.addWidget(side)

        # Right: progress, the two live latent plots, the loss curves.
        right = QVBoxLayout()
        right.setSpacing(6)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not started")
        self.progress.setToolTip("Epoch, step, training speed and the estimated time left")
        right.addWidget(self.progress)
        self.run_label = _text_label("Press Start (Ctrl+R) to train with the settings on the left.")
        right.addWidget(self.run_label)
        self.warning_label = _text_label(visible=False)
        right.addWidget(self.warning_label)
        self.bundled_button = QPushButton("Back to the bundled models")
        self.bundled_button.setToolTip("Show the models bundled with the app again in every panel, instead of this run's")
        self.bundled_button.clicked.connect(self._restore_bundled)
        self.bundled_button.setVisible(False)
        bundled_row = QHBoxLayout()
        bundled_row.addWidget(self.bundled_button)
        bundled_row.addStretch(1)
        right.addLayout(bundled_row)
        self.error_label = _text_label(visible=False)
        right.addWidget(self.error_label)
        right.addWidget(self.pacing.caption)
        plots = QVBoxLayout()
        plots.setSpacing(8)
        plots.addWidget(self.live, 3)
        plots.addWidget(self.losses, 2)
        right.addLayout(plots, 1)
        root.addLayout(right, 1)

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.start_button = _button("Start", "Ctrl+R", "Start training with these settings", lambda: self.start())
        self.pause_button = _button("Pause", "Ctrl+P", "Pause or resume the run; a paused run uses no CPU",
                                    self.toggle_pause)
        self.stop_button = _button("Stop", "Ctrl+.", "Stop after the current batch and keep what was learned", self.stop)
        for b in (self.start_button, self.pause_button, self.stop_button):
            row.addWidget(b)
        return row

    @property
    def job(self) -> TrainJob | None:
        """The latest run's job (None before the first)."""
        return self._job

    @property
    def theme(self) -> Theme:
        return self._theme

    # ------------------------------------------------------------ the Panel protocol

    def set_active(self, on: bool) -> None:
        """Out of sight the live view is not redrawn; back in front it shows the latest.
        Step's single keys (S, Right) belong to this panel only while it is in front."""
        self._active = on
        set_actions_active(self.pacing.actions, on)
        if not on:
            self._redraw_timer.stop()
        elif self.controller.is_active:
            self._redraw_timer.start()
            self.redraw(force=True)

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """Choose the window's dataset in the form (a run going on keeps its own)."""
        self.form.set_dataset(dataset)
        return True

    def set_data_dir(self, data_dir: str | Path | None) -> None:
        """Look for (and download) datasets under data_dir instead of the user cache (--data-dir)."""
        self.form.set_data_dir(data_dir)

    def demo(self) -> None:
        """Nothing to stage: untrained, the panel shows its form and empty plots
        (``--train-for`` trains and then calls demo_probe)."""

    def demo_probe(self) -> None:
        """Freeze the live view and probe each plot at one test image's code (for
        screenshots: the picture must not change between layout and grab)."""
        self._redraw_timer.stop()
        self.redraw(force=True)
        self.live.probe_first_codes()

    def shutdown(self, timeout: float = 1.0) -> None:
        """Window closing: stop and join the run and any download; nothing keeps running."""
        self._redraw_timer.stop()
        self.animation.shutdown(timeout)
        self.controller.shutdown(timeout)
        self.form.shutdown(timeout)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.live.apply_theme(theme)
        self.losses.apply_theme(theme)
        for side in ("left", "right"):
            self.losses.set_title(side, loss_title(self.live.config(side), side))
        self.pacing.apply_theme(theme)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOURS[theme.name]};")
        self.warning_label.setStyleSheet(f"color: {WARNING_COLOURS[theme.name]};")

    # ------------------------------------------------------------ running

    def start(self, *, step_mode: bool = False) -> bool:
        """Start a run from the form (``step_mode``: paused before its first batch, for
        ``step``); refuse (with a message) while one is going."""
        if self.controller.is_active:
            self._report_error("Cannot start training", "A training run is already going: stop it before starting another.")
            return False
        try:
            job = self.form.build_job()
        except SettingsError as exc:
            self._report_error("Cannot start training", str(exc))
            return False
        try:
            self.controller.start(job, step_mode=step_mode)
        except TrainingBusyError as exc:
            self._report_error("Cannot start training", str(exc))
            return False
        except OSError as exc:
            self._report_error("Cannot start training", f"the training process could not be started: {exc}")
            return False
        self.form.save_settings()
        self._job = job
        self._reset_live()
        self.error_label.setVisible(False)
        self.warning_label.setVisible(False)
        self.bundled_button.setVisible(False)
        self.last_error = None
        self.run_label.setText("Starting the training process…")
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self._redraw_timer.start()
        return True

    def toggle_pause(self) -> None:
        if self.controller.state == "running":
            self.controller.pause()
        elif self.controller.state == "paused":
            self.controller.resume()

    def stop(self) -> None:
        self.controller.stop()

    def step(self) -> bool:
        """Train exactly one batch of every model, then pause and show it: a paused run
        takes it, a running one pauses, and with no run one starts in step mode and
        takes its first batch. False when that cannot be done now (the run is stopping)."""
        return self.pacing.step()

    def set_rate(self, steps_per_second: float | None) -> None:
        """Slow motion at ``steps_per_second`` (every step shown, its batch ringed), or
        full speed for None; a paused run goes on at that pace, and later runs start at it."""
        self.pacing.set_rate(steps_per_second)

    def _reset_live(self) -> None:
        self._info = None
        self.run_progress.reset()
        self.history.clear()
        self.live.start_run(self._job.configs if self._job else ())
        for side in ("left", "right"):
            config = self.live.config(side)
            lines, markers = loss_lines(config) if config is not None else ((), ())
            self.losses.reset(side, title=loss_title(config, side), lines=lines, markers=markers)

    # ------------------------------------------------------------ controller messages

    @Slot(object)
    def _on_started(self, info: JobStarted) -> None:
        self._info = info
        self.live.set_probe_labels(info.probe_labels)
        self.run_label.setText(run_description(info))
        self.status_changed.emit(f"Training started on {info.dataset_title}" + (" (bundled subset)" if info.is_subset else ""))

    def _side_of(self, index: int) -> str | None:
        if self._job is None or index >= len(self._job.configs):
            return None
        return KIND_SIDES[self._job.configs[index].kind]

    @Slot(object)
    def _on_snapshot(self, snap: ModelSnapshot) -> None:
        # Only collect here; drawing happens on the timer.
        self.live.take(snap)
        self.history.take(snap)
        side = self._side_of(snap.index)
        if side is not None:
            self.losses.add_points(side, snap.curve_steps, snap.curve_losses)
        if snap.index == 0:
            self.run_progress.take(snap, running=self.controller.state == "running")
        self._dirty = True

    @Slot(object)
    def _on_epoch(self, report: EpochReport) -> None:
        side = self._side_of(report.index)
        if side is not None and self._info is not None:
            per_epoch = self._info.total_steps / max(1, report.epochs)
            self.losses.add_test(side, report.epoch * per_epoch, report.test)
            self.history.add_test(report.index, report.epoch * per_epoch, report.test)
        self._dirty = True

    @Slot(str)
    def _on_state(self, state: str) -> None:
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        if state == "paused":
            self.progress.setFormat(self.progress.format().split(" · paused")[0] + " · paused")
        self.pacing.state_changed(state)
        self._update_enabled()

    @Slot(object)
    def _on_finished(self, msg: JobFinished) -> None:
        self._redraw_timer.stop()
        self.redraw(force=True)
        how = "stopped" if msg.stopped else "finished"
        self.progress.setFormat(f"Training {how} after {msg.seconds:.0f} s")
        if not msg.stopped:
            self.progress.setValue(self.progress.maximum())
        where = f" Saved to {Path(msg.checkpoints[0]).parent}." if msg.checkpoints else ""
        replaced = (" The trained models now replace the bundled ones in every panel (Explore, Draw, Denoise, Inpaint)."
                    if msg.checkpoints else "")
        self._run_summary = f"Training {how} after {msg.seconds:.0f} s.{where}"
        self.run_label.setText(self._run_summary + replaced)
        # getattr: a JobFinished from before the field existed (an older pickled message) has none.
        warnings = tuple(getattr(msg, "warnings", ()))
        self.warning_label.setText("<br>".join(f"<b>Warning:</b> {html.escape(w)}" for w in warnings))
        self.warning_label.setVisible(bool(warnings))
        self.bundled_button.setVisible(bool(msg.checkpoints))
        self.live.mark("after training" if not msg.stopped else "stopped")
        self.finished.emit(RunResult(checkpoints=tuple(msg.checkpoints), stopped=msg.stopped, seconds=msg.seconds,
                                     warnings=warnings))

    def _restore_bundled(self) -> None:
        self.bundled_button.setVisible(False)
        self.run_label.setText(self._run_summary + " The bundled models are back in every panel; File › Open "
                               "checkpoint opens this run's again.")
        self.restore_bundled_requested.emit()

    @Slot(object)
    def _on_failed(self, msg: JobFailed) -> None:
        self._redraw_timer.stop()
        self.redraw(force=True)
        self.progress.setFormat("Training failed")
        text = msg.message
        if msg.checkpoints:
            text += f"\n\nThe last good weights were saved to {Path(msg.checkpoints[0]).parent} (open them with File › Open checkpoint)."
        self.run_label.setText("Training failed; see the message below.")
        self.live.mark("before the failure")
        self._report_error("Training stopped", text)

    @Slot(str, str)
    def _report_error(self, title: str, message: str) -> None:
        self.last_error = message
        text = html.escape(message[:1].upper() + message[1:]).replace("\n\n", "<br>").replace("\n", "<br>")
        self.error_label.setText(f"<b>{html.escape(title)}:</b> {text}")
        self.error_label.setVisible(True)
        self.failed.emit(title, message)

    def _update_enabled(self, *args) -> None:
        active = self.controller.is_active
        state = self.controller.state
        self.start_button.setEnabled(not active)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.stop_button.setEnabled(state in ("starting", "running", "paused"))
        self.pacing.update_enabled()

    # ------------------------------------------------------------ drawing

    def redraw(self, *, force: bool = False) -> None:
        """Draw the latest snapshots and curves (called by the timer, at most 10 Hz;
        ``force`` draws everything now, e.g. when the run ends)."""
        if force:
            self._dirty = True
            self._curves_drawn_at = 0.0
        if not self._dirty:
            return
        self._dirty = False
        self.live.draw()
        self.pacing.draw()
        now = time.monotonic()
        if now - self._curves_drawn_at >= CURVE_REDRAW_S or not self.controller.is_active:
            self._curves_drawn_at = now
            total = self._info.total_steps if self._info else 0
            # Minibatch losses are noisy: the mean over about 1 % of the run shows the
            # trend; the first 5 % (KL near 0, the loss at its start) is left out of the y range.
            self.losses.draw(smooth=max(1, (total or 100) // 100), skip_before=total // 20)
        self._draw_progress(dict(self.controller.latest))

    def _draw_progress(self, latest: dict[int, ModelSnapshot]) -> None:
        if not latest:
            return
        done, text = self.run_progress.line(latest, self._job, self.controller.state, self.pacing.pace_text())
        self.progress.setValue(int(self.progress.maximum() * done))
        self.progress.setFormat(text)

    # ------------------------------------------------------------ the animation

    def ask_export_animation(self) -> None:
        """Export animation…: ask where, then write the kept snapshots as a GIF or MP4."""
        self.animation.ask()

    def export_animation(self, path: str | Path) -> bool:
        """Write the kept snapshots to ``path`` (.gif, or .mp4 with imageio-ffmpeg), one
        frame each, behind a progress dialog; ``animation_finished`` says how it ended.
        False (with a message) when nothing can be written."""
        return self.animation.export(path)
