"""What the Lab's experiments share: TrainingExperiment (a training run in the
background with Train and Stop buttons, a progress bar and a redraw timer) and the
lab's plot style."""
from __future__ import annotations

import html
from collections.abc import Callable, Iterator

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from explorer.background.runs import BackgroundRun
from explorer.panels.protocol import PanelDefaults
from explorer.startup import DatasetContext, empty_context
from explorer.widgets.fitting import WrappingLabel
from explorer.widgets.theme import LIGHT, Theme, style_legend, style_plot
from models.train import TrainingError

# Low enough for two plots above each other in the Lab of a 1000 x 650 window.
PLOT_MIN_HEIGHT = 140


def lab_plot(title: str, left: str, *, bottom: str = "epoch", legend_offset: tuple[int, int] = (-10, 10)) -> pg.PlotWidget:
    """A plot for the lab's experiments: grid, legend, no context menu; colours come from theme_plot()."""
    w = pg.PlotWidget()
    pi = w.getPlotItem()
    pi.hideButtons()
    pi.setMenuEnabled(False)
    pi.showGrid(x=True, y=True, alpha=0.25)
    pi.setLabel("bottom", bottom)
    pi.setLabel("left", left)
    pi.addLegend(offset=legend_offset, labelTextSize="9pt")
    w.setMinimumHeight(PLOT_MIN_HEIGHT)
    w.setTitle(title)
    return w


def theme_plot(w: pg.PlotWidget, theme: Theme) -> None:
    """style_plot() plus the title and a legend readable over the curves."""
    style_plot(w, theme)
    pi = w.getPlotItem()
    w.setTitle(pi.titleLabel.text, color=theme.foreground, size="10pt")
    style_legend(pi.legend, theme)


class TrainingExperiment(QWidget, PanelDefaults):
    """What the lab's training experiments share: a BackgroundRun, Train and Stop
    buttons, a progress bar, a redraw timer, a message line, ``demo()`` that trains
    to the end and ``shutdown()``. Subclasses build their own layout and define
    ``start()``, ``_take(item)``, ``redraw()`` and ``_ended(error)``."""

    status_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        dataset: DatasetContext | None = None,
        theme: Theme = LIGHT,
    ):
        super().__init__(parent)
        self.dataset = dataset if dataset is not None else empty_context()
        self.images = self.dataset.images
        self.labels = self.dataset.labels
        self.theme = theme
        self.error = ""
        self._dirty = False
        self.runner = BackgroundRun(self, expected=(ValueError, TrainingError), name="lab run")
        self.runner.item_ready.connect(self._on_item)
        self.runner.finished.connect(self._on_finished)
        self._timer = QTimer(self)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self._redraw_if_dirty)
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("Not started")
        self.progress.setTextVisible(True)
        # Its findings run to several lines: a plain label would be given fewer and run
        # over the widgets below it in a small window.
        self.message = WrappingLabel(lines=1)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        # Settings that cannot change while a run is going.
        self.settings_widgets: list[QWidget] = []

    def _root_layout(self, intro: str) -> QVBoxLayout:
        """The experiment's layout, opened by its explanation."""
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        self.intro_label = WrappingLabel(intro, lines=2)
        root.addWidget(self.intro_label)
        return root

    def _add_run_controls(self, row: QHBoxLayout) -> None:
        row.addWidget(self.train_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.progress, 1)

    def start(self) -> bool:
        raise NotImplementedError

    def _launch(self, make: Callable[[Callable[[], bool]], Iterator[object]], status: str) -> None:
        self.error = ""
        self.runner.start(make)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.status_changed.emit(status)
        self._timer.start()
        self._update_buttons()

    def stop(self) -> None:
        """Stop after the current training step; what was learned stays shown."""
        self.runner.stop()

    def is_running(self) -> bool:
        return self.runner.is_running

    def _take(self, item: object) -> None:
        raise NotImplementedError

    def _ended(self, error: str) -> None:
        """The run ended (error is '' unless it failed)."""

    def redraw(self) -> None:
        raise NotImplementedError

    @Slot(object)
    def _on_item(self, item: object) -> None:
        self._take(item)
        self._dirty = True

    @Slot(str)
    def _on_finished(self, error: str) -> None:
        self._timer.stop()
        if error:
            self._set_error(f"Training failed: {error}")
        self._dirty = False
        self.redraw()
        self._update_buttons()
        self._ended(error)

    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self._dirty = False
            self.redraw()

    def _set_error(self, message: str) -> None:
        self.error = message
        color = "#ff6b6b" if self.theme.is_dark else "#c62828"
        self.message.setText(f"<span style='color:{color}'>{html.escape(message)}</span>")

    def _recolour_message(self, theme: Theme) -> None:
        """After a theme switch: an error shown takes the new theme's red (its colour is in its HTML)."""
        self.theme = theme
        if self.error:
            self._set_error(self.error)

    def _update_buttons(self) -> None:
        running = self.runner.is_running
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for w in self.settings_widgets:
            w.setEnabled(not running)

    def demo(self) -> None:
        """Train to the end with the current settings (for a screenshot; blocks until done)."""
        if self.runner.is_running or not self.start():
            return
        while self.runner.is_running:
            QThread.msleep(20)
            QCoreApplication.processEvents()

    def shutdown(self, timeout: float = 1.0) -> None:
        self._timer.stop()
        self.runner.shutdown(timeout)
