"""The Train panel: settings, start / pause / stop, live loss curves and latent plots.

Training runs in a child process (``TrainingController``); this panel only reads
its messages. Snapshots are kept as they arrive and drawn by a timer at most ten
times a second, so a burst of messages never turns into a burst of redraws.
The pieces: the settings (TrainSettingsForm, train_form.py), the live latent plots
(TrainLiveView, train_live.py) and the loss curves (LossCurves, widgets/loss_curves.py).
"""
from __future__ import annotations

import html
import math
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
from explorer.panels.train_form import SettingsError, TrainSettingsForm
from explorer.panels.train_live import TrainLiveView
from explorer.widgets.loss_curves import Line, LossCurves, Markers
from explorer.widgets.theme import LIGHT, Theme
from models.jobs import (
    EpochReport,
    JobFailed,
    JobFinished,
    JobStarted,
    ModelSnapshot,
    TrainJob,
)
from models.kinds import KIND_SHORT_NAMES, KIND_SIDES
from models.nets import NetConfig

if TYPE_CHECKING:
    from explorer.startup import DatasetContext

REDRAW_MS = 100  # at most 10 Hz: a scatter redraw is the costliest thing the panel does
# Curves change slowly and cost the most to repaint (log transform, axis ticks): twice
# a second is enough, and keeps the GUI's event loop prompt.
CURVE_REDRAW_S = 0.5
RECON_COLOUR = "#1f77b4"
KL_COLOUR = "#d62728"
WARNING_COLOURS = {"light": "#9a5b00", "dark": "#f0b429"}  # amber: a run that finished but went wrong
ERROR_COLOURS = {"light": "#c62828", "dark": "#ff6b6b"}


@dataclass(frozen=True)
class RunResult:
    """How a run ended, for the window: checkpoints to load and what to say."""

    checkpoints: tuple[str, ...]
    stopped: bool
    seconds: float
    warnings: tuple[str, ...] = ()  # a loss that exploded: JobFinished.warnings


def loss_title(config: NetConfig | None, side: str) -> str:
    """The title of a side's loss plot."""
    if config is None:
        return "AE loss" if side == "left" else "VAE loss"
    if config.kind == "vae":
        return f"VAE: −ELBO = reconstruction + {'β·' if config.beta != 1 else ''}KL (per image)"
    return f"{KIND_SHORT_NAMES[config.kind]}: reconstruction loss ({config.loss.upper()})"


def loss_lines(config: NetConfig) -> tuple[tuple[Line, ...], tuple[Markers, ...]]:
    """What a model's loss plot shows: its training curves and its test figures."""
    if config.kind == "vae":
        return (
            (Line("loss", "−ELBO (train)"), Line("recon", "reconstruction", RECON_COLOUR), Line("kl", "KL", KL_COLOUR)),
            (Markers("nelbo", "−ELBO (test)"), Markers("recon", None, RECON_COLOUR), Markers("kl", None, KL_COLOUR)),
        )
    return (Line("loss", "train"),), (Markers("mse", "test (MSE)"),)


class TrainPanel(QWidget):
    """Train an AE and a VAE side by side and watch their latent spaces form.

    ``mirrors``: where downloads come from (None: the datasets' public mirrors);
    ``job_defaults``: fields every job built from the form takes (see TrainSettingsForm).
    """

    status_changed = Signal(str)  # one line for the status bar
    finished = Signal(object)  # RunResult: the run ended and saved its checkpoints
    failed = Signal(str, str)  # title, message: a run or a download could not do its job
    restore_bundled_requested = Signal()  # the user wants the bundled models back in every panel

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
        self._rate: tuple[float, int] | None = None  # (time, step) of the last rate sample
        self._steps_per_s = 0.0
        self._run_summary = ""

        self.form = TrainSettingsForm(settings=settings, data_dir=data_dir, runs_dir=runs_dir, mirrors=mirrors,
                                      job_defaults=job_defaults)
        self.form.status_changed.connect(self.status_changed)
        self.form.failed.connect(self._report_error)
        self.live = TrainLiveView(theme=theme)
        self.losses = LossCurves(theme=theme, legend_columns={"right": 4})  # the VAE's four entries in a row
        self._build_ui()
        if dataset is not None:
            self.form.set_dataset(dataset.name)
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
        self.run_label = QLabel("Press Start (Ctrl+R) to train with the settings on the left.")
        self.run_label.setWordWrap(True)
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right.addWidget(self.run_label)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning_label.setVisible(False)
        right.addWidget(self.warning_label)
        self.bundled_button = QPushButton("Back to the bundled models")
        self.bundled_button.setToolTip("Show the models bundled with the app again in every panel, instead of this run's")
        self.bundled_button.clicked.connect(self._restore_bundled)
        self.bundled_button.setVisible(False)
        bundled_row = QHBoxLayout()
        bundled_row.addWidget(self.bundled_button)
        bundled_row.addStretch(1)
        right.addLayout(bundled_row)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        right.addWidget(self.error_label)
        plots = QVBoxLayout()
        plots.setSpacing(8)
        plots.addWidget(self.live, 3)
        plots.addWidget(self.losses, 2)
        right.addLayout(plots, 1)
        root.addLayout(right, 1)

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setShortcut(QKeySequence("Ctrl+R"))
        self.start_button.setToolTip("Start training with these settings (Ctrl+R)")
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setShortcut(QKeySequence("Ctrl+P"))
        self.pause_button.setToolTip("Pause or resume the run (Ctrl+P); a paused run uses no CPU")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setShortcut(QKeySequence("Ctrl+."))
        self.stop_button.setToolTip("Stop after the current batch and keep what was learned (Ctrl+.)")
        self.stop_button.clicked.connect(self.stop)
        for b in (self.start_button, self.pause_button, self.stop_button):
            row.addWidget(b)
        return row

    # ------------------------------------------------------------ the Panel protocol

    def set_active(self, on: bool) -> None:
        """Out of sight the live view is not redrawn; back in front it shows the latest."""
        self._active = on
        if not on:
            self._redraw_timer.stop()
        elif self.controller.is_active:
            self._redraw_timer.start()
            self.redraw(force=True)

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """Choose the window's dataset in the form (a run going on keeps its own)."""
        self.form.set_dataset(dataset.name)
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
        self.controller.shutdown(timeout)
        self.form.shutdown(timeout)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.live.apply_theme(theme)
        self.losses.apply_theme(theme)
        for side in ("left", "right"):
            self.losses.set_title(side, loss_title(self.live.config(side), side))
        self.error_label.setStyleSheet(f"color: {ERROR_COLOURS[theme.name]};")
        self.warning_label.setStyleSheet(f"color: {WARNING_COLOURS[theme.name]};")

    # ------------------------------------------------------------ running

    def start(self) -> bool:
        """Start a run from the form; refuse (with a message) while one is going."""
        if self.controller.is_active:
            self._report_error("Cannot start training", "A training run is already going: stop it before starting another.")
            return False
        try:
            job = self.form.build_job()
        except SettingsError as exc:
            self._report_error("Cannot start training", str(exc))
            return False
        try:
            self.controller.start(job)
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

    def _reset_live(self) -> None:
        self._info = None
        self._rate = None
        self._steps_per_s = 0.0
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
        where = f"{info.dataset_title}, {info.train_count:,} training and {info.test_count:,} test images"
        if len(info.probe_indices) < info.test_count:
            where += f" (the test loss on {len(info.probe_indices):,} of them: the dots on the plots)"
        held_out = ""
        if info.is_subset:
            where = (f"{info.dataset_title}: the {info.train_count:,} images bundled with the app, because the full "
                     f"{info.dataset_title} set is not on disk (download it above, or start with --data-dir DIR)")
            held_out = (" The test curve is not held out: the bundled images are the training images too, so the test "
                        "figures are computed on images the model trained on.")
        else:
            where += f" ({info.dataset_source})"
        self.run_label.setText(f"Training on {where}.{held_out} Device: {info.device}. "
                               "Drag on a plot to decode with the latest weights.")
        self.status_changed.emit(f"Training started on {info.dataset_title}" + (" (bundled subset)" if info.is_subset else ""))

    def _side_of(self, index: int) -> str | None:
        if self._job is None or index >= len(self._job.configs):
            return None
        return KIND_SIDES[self._job.configs[index].kind]

    @Slot(object)
    def _on_snapshot(self, snap: ModelSnapshot) -> None:
        # Only collect here; drawing happens on the timer.
        self.live.take(snap)
        side = self._side_of(snap.index)
        if side is not None:
            self.losses.add_points(side, snap.curve_steps, snap.curve_losses)
        if snap.index == 0:
            now = time.monotonic()
            if self._rate is not None and self.controller.state == "running":
                t0, s0 = self._rate
                if now > t0 and snap.step > s0:
                    rate = (snap.step - s0) / (now - t0)
                    self._steps_per_s = rate if self._steps_per_s == 0 else 0.7 * self._steps_per_s + 0.3 * rate
            self._rate = (now, snap.step)
        self._dirty = True

    @Slot(object)
    def _on_epoch(self, report: EpochReport) -> None:
        side = self._side_of(report.index)
        if side is not None and self._info is not None:
            per_epoch = self._info.total_steps / max(1, report.epochs)
            self.losses.add_test(side, report.epoch * per_epoch, report.test)
        self._dirty = True

    @Slot(str)
    def _on_state(self, state: str) -> None:
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        if state == "paused":
            self.progress.setFormat(self.progress.format().split(" · paused")[0] + " · paused")
            self._rate = None  # the pause must not count as slow training
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
        snaps = list(latest.values())
        step = min(s.step for s in snaps)
        total = max(1, snaps[0].total_steps)
        epochs = self._job.train.epochs if self._job else 1
        per_epoch = max(1, math.ceil(total / epochs))
        epoch = min(epochs, step // per_epoch + 1)
        self.progress.setValue(int(self.progress.maximum() * step / total))
        # The trainer's own figure averages since the start, pauses included; the rate
        # measured between snapshots follows the current speed.
        batch = self._job.train.batch_size if self._job else 1
        rate = self._steps_per_s * batch if self._steps_per_s > 0 else sum(s.samples_per_s for s in snaps) / len(snaps)
        threads = max(s.threads for s in snaps)
        speed = f"{rate:,.0f} samples/s" + (f" ({threads} thread{'s' if threads > 1 else ''})" if threads else "")
        parts = [f"Epoch {epoch}/{epochs}", f"step {step:,}/{total:,}", speed]
        if self._steps_per_s > 0:
            left = (total - step) / self._steps_per_s
            parts.append(f"{int(left // 60)}:{int(left % 60):02d} left")
        text = " · ".join(parts)
        if self.controller.state == "paused":
            text += " · paused"
        elif self.controller.state == "stopping":
            text += " · stopping…"
        self.progress.setFormat(text)
