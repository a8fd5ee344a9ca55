"""Watching a run step by step: PaceBar, the Train panel's "Watch it learn" box (Step,
Slow motion at a chosen number of steps per second, Full speed, the trails' length,
Export animation), and StepPacing, what those do to the run and what the live plots
show for them (trails and the latest batch ringed, with a caption saying so).

The rate and the trails are remembered in QSettings; a run starts at full speed."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
)

from explorer.panels.train_history import TRAIL_MAX, RunHistory
from explorer.panels.train_progress import RunProgress
from explorer.widgets.actions import ToolButton, panel_action
from explorer.widgets.fitting import WrappingLabel
from explorer.widgets.theme import Theme

if TYPE_CHECKING:
    from explorer.background.training import TrainingController
    from explorer.panels.train import TrainPanel

MIN_RATE, MAX_RATE = 1, 50  # steps per second in slow motion
DEFAULT_RATE = 3
DEFAULT_TRAIL = 10
STEP_KEYS = ("S", "Right")


def pace_caption(*, batch: int | None, step: int, trail: int) -> str:
    """What the rings and trails on the live plots are, for the caption above them."""
    parts = []
    if batch:
        parts.append(f"<b>Rings</b>: the {batch:,} training images of step {step:,}'s batch, where the updated "
                     "model now puts them: the images this update learned from.")
    if trail:
        parts.append(f"<b>Faint lines</b>: where each dot was over the last {trail} steps.")
    return " ".join(parts)


def _choice(text: str, tip: str) -> ToolButton:
    b = ToolButton()
    b.setText(text)
    b.setToolTip(tip)
    b.setCheckable(True)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return b


class PaceBar(QGroupBox):
    """Controls for watching a run step by step; the panel does what they ask."""

    step_requested = Signal()
    rate_chosen = Signal(object)  # steps per second (float) or None for full speed
    trails_changed = Signal()
    export_requested = Signal()

    def __init__(self, parent=None, *, settings: QSettings | None = None):
        super().__init__("Watch it learn", parent)
        self._settings = settings
        self._restoring = True  # the widgets' first values are not the user's to remember
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(6)

        keys = " or ".join("→" if k == "Right" else k for k in STEP_KEYS)
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip(f"Train exactly one batch, then pause and show where it moved the points ({keys}). "
                                    "Before a run, starts one that waits for your steps")
        self.step_button.clicked.connect(self.step_requested)
        # Tool buttons: they show which of the two is on in the theme's highlight colour.
        self.slow_button = _choice("Slow motion", "Train at the number of steps per second set below, showing every "
                                                  "step with its batch ringed")
        self.full_button = _choice("Full speed", "Train as fast as the machine can (the plots then show about one "
                                                 "snapshot a second)")
        self.full_button.setChecked(True)
        group = QButtonGroup(self)
        group.setExclusive(True)
        for b in (self.slow_button, self.full_button):
            group.addButton(b)
        self.slow_button.clicked.connect(lambda: self.rate_chosen.emit(float(self.rate_spin.value())))
        self.full_button.clicked.connect(lambda: self.rate_chosen.emit(None))
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for b in (self.step_button, self.slow_button, self.full_button):
            buttons.addWidget(b)
        grid.addLayout(buttons, 0, 0, 1, 3)

        speed = QLabel("Speed")
        self.rate_slider = QSlider(Qt.Orientation.Horizontal)
        self.rate_slider.setRange(MIN_RATE, MAX_RATE)
        self.rate_slider.setToolTip("Slow motion's speed, in training steps (batches) per second")
        self.rate_spin = QSpinBox()
        self.rate_spin.setRange(MIN_RATE, MAX_RATE)
        self.rate_spin.setSuffix(" steps/s")
        self.rate_spin.setToolTip(self.rate_slider.toolTip())
        speed.setBuddy(self.rate_spin)
        self.rate_slider.valueChanged.connect(self.rate_spin.setValue)
        self.rate_spin.valueChanged.connect(self.rate_slider.setValue)
        self.rate_spin.valueChanged.connect(self._rate_edited)
        grid.addWidget(speed, 1, 0)
        grid.addWidget(self.rate_slider, 1, 1)
        grid.addWidget(self.rate_spin, 1, 2)

        self.trails_check = QCheckBox("Trails")
        self.trails_check.setToolTip("In slow motion and step by step, draw a faint line behind each dot "
                                     "through its last positions")
        self.trails_spin = QSpinBox()
        self.trails_spin.setRange(2, TRAIL_MAX)
        self.trails_spin.setPrefix("last ")
        self.trails_spin.setSuffix(" steps")
        self.trails_spin.setToolTip("How many of the latest steps each trail goes back")
        self.trails_check.toggled.connect(self._trails_edited)
        self.trails_spin.valueChanged.connect(self._trails_edited)
        grid.addWidget(self.trails_check, 2, 0)
        grid.addWidget(self.trails_spin, 2, 1, 1, 2)

        self.export_button = QPushButton("Export animation…")
        self.export_button.setToolTip("Save the run's latent space forming, with its loss curves, as an animated "
                                      "GIF (or MP4), one frame per snapshot the panel kept")
        self.export_button.clicked.connect(self.export_requested)
        grid.addWidget(self.export_button, 3, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        self._restore()

    # ------------------------------------------------------------ settings

    def _value(self, key: str, default):
        if self._settings is None:
            return default
        return self._settings.value(f"train/{key}", default, type=type(default))

    def _restore(self) -> None:
        self.rate_spin.setValue(max(MIN_RATE, min(MAX_RATE, int(self._value("pace_rate", DEFAULT_RATE)))))
        self.trails_spin.setValue(max(2, min(TRAIL_MAX, int(self._value("trail_length", DEFAULT_TRAIL)))))
        self.trails_check.setChecked(bool(self._value("trails", True)))
        self._restoring = False
        self.trails_spin.setEnabled(self.trails_check.isChecked())

    def _save(self) -> None:
        if self._settings is not None and not self._restoring:
            self._settings.setValue("train/pace_rate", self.rate_spin.value())
            self._settings.setValue("train/trails", self.trails_check.isChecked())
            self._settings.setValue("train/trail_length", self.trails_spin.value())

    def _rate_edited(self, value: int) -> None:
        self._save()
        if self.slow_button.isChecked():
            self.rate_chosen.emit(float(value))

    def _trails_edited(self, *args) -> None:
        self.trails_spin.setEnabled(self.trails_check.isChecked())
        self._save()
        self.trails_changed.emit()

    # ------------------------------------------------------------ reading and showing

    def trail_length(self) -> int:
        """Snapshots each trail goes back, 0 when trails are off."""
        return self.trails_spin.value() if self.trails_check.isChecked() else 0

    def show_rate(self, steps_per_second: float | None) -> None:
        """Show the pace chosen elsewhere (the panel's set_rate) without asking for it again."""
        if steps_per_second is None:
            self.full_button.setChecked(True)
            return
        self.rate_spin.blockSignals(True)
        self.rate_spin.setValue(max(MIN_RATE, min(MAX_RATE, round(steps_per_second))))
        self.rate_slider.setValue(self.rate_spin.value())
        self.rate_spin.blockSignals(False)
        self._save()
        self.slow_button.setChecked(True)


class StepPacing(QObject):
    """Step, Slow motion and Full speed for one Train panel's runs (the panel's
    ``step`` and ``set_rate`` come here), and the trails, rings and caption they show."""

    def __init__(self, panel: TrainPanel, controller: TrainingController, bar: PaceBar, history: RunHistory,
                 progress: RunProgress):
        super().__init__(panel)
        self._panel = panel
        self._controller = controller
        self._bar = bar
        self._history = history
        self._progress = progress
        self.caption = WrappingLabel(lines=2)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.setToolTip("What the rings and faint lines on the live plots show while the run goes "
                                "step by step or in slow motion")
        self.caption.setVisible(False)
        self.step_action = panel_action(panel, "Step", "Train one batch, then pause")
        self.step_action.setShortcuts([QKeySequence(k) for k in STEP_KEYS])
        self.step_action.triggered.connect(self.step)
        self.actions = [self.step_action]
        bar.step_requested.connect(self.step)
        bar.rate_chosen.connect(self.set_rate)
        bar.trails_changed.connect(lambda: panel.redraw(force=True))

    # ------------------------------------------------------------ what the user asks

    def step(self) -> bool:
        c = self._controller
        if not c.is_active:
            return self._panel.start(step_mode=True) and c.step()
        if c.state == "running":
            c.pause()  # it holds after the batch it is on: that is the step
            return True
        return c.step()

    def set_rate(self, steps_per_second: float | None) -> None:
        rate = float(steps_per_second) if steps_per_second else None
        self._controller.set_rate(rate)
        self._bar.show_rate(rate)
        self._history.restart_trails()
        self._progress.interrupted()
        if self._controller.state == "paused":
            self._controller.resume()
        self._panel.redraw(force=True)

    def state_changed(self, state: str) -> None:
        if state in ("paused", "running"):
            # Neither the pause nor the jump from single steps to a second's worth belongs in a trail or a rate.
            self._progress.interrupted()
            self._history.restart_trails()

    # ------------------------------------------------------------ what the panel shows

    def paced(self) -> bool:
        """Slow motion or step by step, with a run going: every step is shown."""
        c = self._controller
        return c.state in ("running", "paused") and (c.state == "paused" or c.rate is not None)

    def pace_text(self) -> str:
        c = self._controller
        if c.state == "paused":
            return "step by step: Step (S) takes one batch"
        if c.state == "running" and c.rate is not None:
            return f"slow motion, {c.rate:g} steps/s"
        return ""

    def draw(self) -> None:
        """Trails, rings and the caption for the latest snapshots (the panel's redraw)."""
        live = self._panel.live
        if not self.paced():
            live.draw_steps(None)
            self.caption.setVisible(False)
            return
        trail = self._bar.trail_length()
        live.draw_steps(self._history, trail=trail, batch=True)
        latest = self._controller.latest.get(0)
        batch = None if latest is None or latest.batch_codes is None else len(latest.batch_codes)
        text = pace_caption(batch=batch, step=latest.step if latest else 0, trail=trail)
        self.caption.setText(text)
        self.caption.setVisible(bool(text))

    def update_enabled(self) -> None:
        self._bar.step_button.setEnabled(self._controller.state != "stopping")

    def apply_theme(self, theme: Theme) -> None:
        self.caption.setStyleSheet(f"color: {theme.foreground};")
