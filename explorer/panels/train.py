"""The Train panel: settings, start / pause / stop, live loss curves and latent plots.

Training runs in a child process (``TrainingController``); this panel only reads
its messages. Snapshots are kept as they arrive and drawn by a timer at most ten
times a second, so a burst of messages never turns into a burst of redraws.
Dragging on a live plot decodes with a private copy of the latest decoder
weights, never with the model being trained.
"""
from __future__ import annotations

import html
import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRegularExpression, QSettings, QStandardPaths, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QDoubleValidator, QKeySequence, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.widgets.image_view import ImageView
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import LIGHT, Theme, style_plot
from explorer.background.training import TrainingBusyError, TrainingController
from models import corrupt, data
from models.jobs import EpochReport, JobFailed, JobFinished, JobStarted, ModelSnapshot, TrainJob
from models.live_space import LiveSpace
from models.threads import training_thread_choices
from models.nets import ConfigError, NetConfig
from models.train import TrainConfig, TrainingError

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 10  # a stalled mirror must not hold up closing the window for long
REDRAW_MS = 100  # <= 10 Hz: scatter redraws cost ~15 ms each
CURVE_REDRAW_S = 0.5
FOLDER = "folder"
DATASET_CHOICES = (("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST"), ("kmnist", "KMNIST"), (FOLDER, "IDX files in a folder…"))
MODEL_CHOICES = (
    ("ae+vae", "AE + VAE (compare)", ("ae", "vae")),
    ("dae+vae", "Denoising AE + VAE", ("dae", "vae")),
    ("ae", "AE only", ("ae",)),
    ("dae", "Denoising AE only", ("dae",)),
    ("vae", "VAE only", ("vae",)),
)
# About 20 s on a 2-core laptop for two 256-128 MLPs in lockstep: ~120k samples each.
AUTO_SAMPLES = 120_000
DEFAULTS: dict[str, Any] = {
    "dataset": "mnist",
    "folder": "",
    "models": "ae+vae",
    "latent": 2,
    "hidden": "256, 128",
    "epochs": 0,  # 0 = auto
    "batch": 128,
    "lr": "0.002",
    "beta": 1.0,
    "likelihood": "bernoulli",
    "noise": "gaussian",
    "noise_level": corrupt.CORRUPTIONS["gaussian"].default_level,
}
SIDE_OF_KIND = {"ae": "left", "dae": "left", "linear": "left", "vae": "right"}


class SettingsError(ValueError):
    """A training setting the user has to fix before starting."""


@dataclass(frozen=True)
class RunResult:
    """How a run ended, for the window: checkpoints to load and what to say."""

    checkpoints: tuple[str, ...]
    stopped: bool
    seconds: float


def default_runs_dir() -> Path:
    """Per-user folder for trained checkpoints (one sub-folder per run)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".latent-explorer") / "runs"


class _DownloadWorker(QObject):
    """Downloads one dataset on a QThread; talks only through signals."""

    progress_changed = Signal(int, int, str)  # done bytes, total bytes (0 unknown), text
    finished = Signal(bool, str)  # ok, message

    def __init__(self, name: str, data_dir: str | None, *, mirrors: tuple[str, ...] | None = None):
        super().__init__()
        self._name = name
        self._data_dir = data_dir
        self._mirrors = mirrors
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        def progress(p: data.DownloadProgress) -> None:
            text = f"{p.filename} ({p.file_index + 1}/{p.file_count})"
            self.progress_changed.emit(int(p.done_bytes), int(p.total_bytes or 0), text)

        try:
            data.download_dataset(
                self._name, data_dir=self._data_dir, progress=progress, should_cancel=self._cancel.is_set,
                mirrors=self._mirrors, timeout=DOWNLOAD_TIMEOUT_S,
            )
        except data.DownloadCancelled:
            self.finished.emit(False, "Download cancelled.")
        except data.DataError as exc:
            self.finished.emit(False, str(exc))
        except Exception as exc:  # a worker must always report back
            log.exception("download failed")
            self.finished.emit(False, f"The download failed unexpectedly: {type(exc).__name__}: {exc}")
        else:
            self.finished.emit(True, "Download complete.")


def _moving_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` values (shorter at the start), same length."""
    if window <= 1 or len(values) == 0:
        return values
    c = np.cumsum(np.concatenate([[0.0], values.astype(np.float64)]))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return ((c[idx] - c[lo]) / (idx - lo)).astype(np.float32)


def _tip(widget: QWidget, text: str) -> QWidget:
    widget.setToolTip(text)
    return widget


class TrainPanel(QWidget):
    """Train an AE and a VAE side by side and watch their latent spaces form."""

    status_changed = Signal(str)  # one line for the status bar
    finished = Signal(object)  # RunResult: the run ended and saved its checkpoints
    failed = Signal(str, str)  # title, message: a run or a download could not do its job

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        theme: Theme = LIGHT,
        settings: QSettings | None = None,
        data_dir: str | Path | None = None,
        runs_dir: str | Path | None = None,
        controller: TrainingController | None = None,
    ):
        super().__init__(parent)
        self._theme = theme
        self._settings = settings
        self.data_dir: str | None = str(data_dir) if data_dir is not None else None
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None
        # Tests replace parts of the job (a tiny synthetic dataset, fewer probes).
        self.job_overrides: dict[str, Any] = {}
        # None: the dataset registry's public mirrors (tests use a loopback server).
        self.download_mirrors: tuple[str, ...] | None = None
        self.controller = controller or TrainingController(self)
        self.last_error: str | None = None
        self._job: TrainJob | None = None
        self._info: JobStarted | None = None
        self._curves: dict[int, dict[str, list[np.ndarray]]] = {}
        self._curve_steps: dict[int, list[np.ndarray]] = {}
        self._tests: dict[int, list[EpochReport]] = {}
        self._drawn: dict[int, ModelSnapshot] = {}
        self._dirty = False
        self._curves_drawn_at = 0.0
        self._follow = {"left": True, "right": True}
        self._loss_follow = {"left": True, "right": True}
        self._rate: tuple[float, int] | None = None  # (time, step) of the last rate sample
        self._steps_per_s = 0.0
        self._download_thread: QThread | None = None
        self._download_worker: _DownloadWorker | None = None

        self._build_ui()
        self.apply_theme(theme)
        self._restore_settings()
        self._update_dataset_status()
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
        form_host = QWidget()
        form_layout = QVBoxLayout(form_host)
        form_layout.setContentsMargins(0, 0, 4, 0)
        form_layout.addWidget(self._build_data_box())
        form_layout.addWidget(self._build_model_box())
        form_layout.addWidget(self._build_training_box())
        form_layout.addWidget(self._build_hint_box())
        form_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(form_host)
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
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        right.addWidget(self.error_label)

        plots = QGridLayout()
        plots.setSpacing(8)
        self.plots: dict[str, LatentPlot] = {}
        self.decoded: dict[str, ImageView] = {}
        for col, (side_name, title) in enumerate((("left", "AE"), ("right", "VAE"))):
            plot = LatentPlot(role=side_name, theme=self._theme)
            plot.set_space(None, title=f"{title} latent space (live)", empty_message="Starts moving when training starts")
            plot.setToolTip("Probe images encoded by the model being trained. Drag to decode with the latest weights; "
                            "the wheel zooms, right-drag pans (the view then stops following the codes).")
            plot.probe_changed.connect(lambda x, y, s=side_name: self.probe(s, x, y))
            plot.getViewBox().sigRangeChangedManually.connect(lambda *a, s=side_name: self._follow.__setitem__(s, False))
            self.plots[side_name] = plot
            view = ImageView(caption=f"{title} decoded", placeholder="drag on the plot", minimum=96)
            view.setToolTip("The image the latest decoder weights produce at the crosshair")
            view.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
            view.setFixedWidth(112)
            self.decoded[side_name] = view
            cell = QHBoxLayout()
            cell.setSpacing(4)
            cell.addWidget(plot, 1)
            col_box = QVBoxLayout()
            col_box.addWidget(view)
            col_box.addStretch(1)
            cell.addLayout(col_box)
            plots.addLayout(cell, 0, col)

        self.loss_plots: dict[str, pg.PlotWidget] = {}
        self.loss_curves: dict[str, dict[str, pg.PlotDataItem]] = {"left": {}, "right": {}}
        self.test_markers: dict[str, dict[str, pg.PlotDataItem]] = {"left": {}, "right": {}}
        for col, side_name in enumerate(("left", "right")):
            w = pg.PlotWidget()
            w.setMinimumHeight(170)
            pi = w.getPlotItem()
            pi.hideButtons()
            pi.setMenuEnabled(False)
            pi.showGrid(x=True, y=True, alpha=0.25)
            pi.setLogMode(x=False, y=True)
            pi.setLabel("bottom", "step")
            # The VAE's four entries in one row fit in the empty decade above the -ELBO
            # curve; stacked, they covered the curves.
            pi.addLegend(offset=(-10, 4), labelTextSize="8pt", colCount=4 if side_name == "right" else 1)
            # An empty log axis over less than a decade labels every minor tick.
            w.setYRange(-2, 3, padding=0)
            w.getViewBox().sigRangeChangedManually.connect(lambda *a, s=side_name: self._loss_follow.__setitem__(s, False))
            w.setToolTip("Training loss (lines, averaged over a few steps) and the test set's figures after each epoch (markers); "
                         "the y axis is logarithmic")
            self.loss_plots[side_name] = w
            plots.addWidget(w, 1, col)
        plots.setRowStretch(0, 3)
        plots.setRowStretch(1, 2)
        right.addLayout(plots, 1)
        root.addLayout(right, 1)

    def _build_data_box(self) -> QGroupBox:
        box = QGroupBox("Data")
        form = QFormLayout(box)
        self.dataset_combo = QComboBox()
        for key, title in DATASET_CHOICES:
            self.dataset_combo.addItem(title, key)
        self.dataset_combo.setToolTip("Which images to train on. MNIST ships with the app as 10,000 test images; "
                                      "the full sets are downloaded once and cached.")
        self.dataset_combo.currentIndexChanged.connect(self._update_dataset_status)
        form.addRow("Dataset", self.dataset_combo)

        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder with the 4 IDX files")
        self.folder_edit.setToolTip("A folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                                    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (gzipped or not)")
        self.folder_edit.editingFinished.connect(self._update_dataset_status)
        browse = _tip(QPushButton("Browse…"), "Choose the folder of IDX files")
        browse.clicked.connect(self._ask_folder)
        self.folder_row = QWidget()
        row = QHBoxLayout(self.folder_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        form.addRow(self.folder_row)

        self.dataset_status = QLabel()
        self.dataset_status.setTextFormat(Qt.TextFormat.RichText)
        self.dataset_status.setWordWrap(True)
        self.dataset_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.dataset_status)

        self.download_button = _tip(QPushButton("Download"), "Download the dataset from its public mirrors into the cache folder")
        self.download_button.clicked.connect(self.start_download)
        self.download_progress = QProgressBar()
        self.download_progress.setToolTip("Download progress")
        self.download_cancel = _tip(QPushButton("Cancel"), "Stop the download (what is downloaded so far is kept and resumed later)")
        self.download_cancel.clicked.connect(self.cancel_download)
        self.download_row = QWidget()
        drow = QHBoxLayout(self.download_row)
        drow.setContentsMargins(0, 0, 0, 0)
        drow.addWidget(self.download_button)
        drow.addWidget(self.download_progress, 1)
        drow.addWidget(self.download_cancel)
        form.addRow(self.download_row)
        return box

    def _build_model_box(self) -> QGroupBox:
        box = QGroupBox("Models")
        form = QFormLayout(box)
        self.models_combo = QComboBox()
        for key, title, _ in MODEL_CHOICES:
            self.models_combo.addItem(title, key)
        self.models_combo.setToolTip("Train an autoencoder (left plot) and a variational autoencoder (right plot) together, "
                                     "so you can watch the two latent spaces form side by side")
        self.models_combo.currentIndexChanged.connect(self._update_enabled)
        form.addRow("Train", self.models_combo)

        self.latent_spin = _tip(QSpinBox(), "Size of the code z. With 2 the plots show the latent space itself; "
                                            "larger codes are shown through their PCA plane")
        self.latent_spin.setRange(1, 64)
        form.addRow("Latent size", self.latent_spin)
        self.hidden_edit = _tip(QLineEdit(), "Hidden layer sizes of the encoder, comma separated "
                                             "(the decoder mirrors them). Smaller trains faster")
        self.hidden_edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"^\s*(\d+\s*(,\s*)?)*$")))
        form.addRow("Hidden sizes", self.hidden_edit)

        self.beta_spin = _tip(QDoubleSpinBox(), "VAE: weight of the KL term. Larger pulls the codes harder towards "
                                                "the prior N(0, I): a smoother but blurrier space")
        self.beta_spin.setRange(0.0, 50.0)
        self.beta_spin.setDecimals(2)
        self.beta_spin.setSingleStep(0.25)
        form.addRow("VAE β (KL weight)", self.beta_spin)
        self.likelihood_combo = QComboBox()
        self.likelihood_combo.addItem("Bernoulli (cross-entropy)", "bernoulli")
        self.likelihood_combo.addItem("Gaussian (squared error)", "gaussian")
        self.likelihood_combo.setToolTip("VAE: the decoder's likelihood, which sets the reconstruction term of the loss")
        form.addRow("VAE likelihood", self.likelihood_combo)

        self.noise_combo = QComboBox()
        for name, spec in corrupt.CORRUPTIONS.items():
            self.noise_combo.addItem(spec.title, name)
        self.noise_combo.setToolTip("Denoising AE: the damage done to each training input (the target stays clean)")
        self.noise_combo.currentIndexChanged.connect(self._noise_changed)
        form.addRow("DAE noise", self.noise_combo)
        self.noise_level = _tip(QDoubleSpinBox(), "Denoising AE: how strong the damage is (sigma, fraction or factor)")
        self.noise_level.setDecimals(2)
        form.addRow("Noise level", self.noise_level)
        return box

    def _build_training_box(self) -> QGroupBox:
        box = QGroupBox("Training")
        form = QFormLayout(box)
        self.epochs_spin = _tip(QSpinBox(), "Passes over the training set. 'auto' picks about 20 seconds of training: "
                                            "2 epochs of a full 60,000-image set, 12 of the bundled 10,000")
        self.epochs_spin.setRange(0, 1000)
        self.epochs_spin.setSpecialValueText("auto (~20 s)")
        form.addRow("Epochs", self.epochs_spin)
        self.batch_spin = _tip(QSpinBox(), "Images per optimisation step")
        self.batch_spin.setRange(1, 4096)
        form.addRow("Batch size", self.batch_spin)
        self.lr_edit = _tip(QLineEdit(), "Adam learning rate (decayed along a cosine). Too large (try 10) "
                                         "and the loss becomes NaN: the run stops and keeps the last good weights")
        validator = QDoubleValidator(1e-7, 1e6, 8)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lr_edit.setValidator(validator)
        form.addRow("Learning rate", self.lr_edit)
        return box

    def _build_hint_box(self) -> QGroupBox:
        box = QGroupBox("What to watch")
        layout = QVBoxLayout(box)
        hint = QLabel(
            "Each dot is a test image's code, coloured by its class. Watch the classes separate. "
            "The AE's codes spread over an arbitrary scale and leave holes; the VAE's KL term pulls its "
            "codes towards the prior N(0, I), so its space stays near ±3 and filled. Drag on a plot: "
            "points between clusters decode to a digit on the VAE side, often to a blur on the AE side."
        )
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.hint_label = hint
        return box

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

    # ------------------------------------------------------------ settings

    def _choice(self, combo: QComboBox, key: str) -> None:
        i = combo.findData(key)
        if i >= 0:
            combo.setCurrentIndex(i)

    def _restore_settings(self) -> None:
        v = dict(DEFAULTS)
        if self._settings is not None:
            for key, default in DEFAULTS.items():
                stored = self._settings.value(f"train/{key}", default, type=type(default))
                v[key] = stored
        self._choice(self.dataset_combo, v["dataset"])
        self.folder_edit.setText(v["folder"])
        self._choice(self.models_combo, v["models"])
        self.latent_spin.setValue(int(v["latent"]))
        self.hidden_edit.setText(v["hidden"])
        self.epochs_spin.setValue(int(v["epochs"]))
        self.batch_spin.setValue(int(v["batch"]))
        self.lr_edit.setText(v["lr"])
        self.beta_spin.setValue(float(v["beta"]))
        self._choice(self.likelihood_combo, v["likelihood"])
        self._choice(self.noise_combo, v["noise"])
        self._noise_changed()
        self.noise_level.setValue(float(v["noise_level"]))

    def _save_settings(self) -> None:
        if self._settings is None:
            return
        values = {
            "dataset": self.dataset_combo.currentData(),
            "folder": self.folder_edit.text(),
            "models": self.models_combo.currentData(),
            "latent": self.latent_spin.value(),
            "hidden": self.hidden_edit.text(),
            "epochs": self.epochs_spin.value(),
            "batch": self.batch_spin.value(),
            "lr": self.lr_edit.text(),
            "beta": self.beta_spin.value(),
            "likelihood": self.likelihood_combo.currentData(),
            "noise": self.noise_combo.currentData(),
            "noise_level": self.noise_level.value(),
        }
        for key, value in values.items():
            self._settings.setValue(f"train/{key}", value)

    def _noise_changed(self) -> None:
        spec = corrupt.CORRUPTIONS[self.noise_combo.currentData()]
        self.noise_level.setRange(spec.level_min, spec.level_max)
        self.noise_level.setSingleStep(getattr(spec, "step", None) or 0.05)
        self.noise_level.setValue(spec.default_level)

    # ------------------------------------------------------------ dataset

    def set_dataset(self, name: str) -> None:
        """Choose dataset ``name`` in the form (when the window switches datasets)."""
        if self.dataset_combo.findData(name) >= 0:
            self._choice(self.dataset_combo, name)
            self._update_dataset_status()

    def set_data_dir(self, data_dir: str | Path | None) -> None:
        """Look for (and download) datasets under data_dir instead of the user cache (--data-dir)."""
        self.data_dir = str(data_dir) if data_dir is not None else None
        self._update_dataset_status()

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with IDX files", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            self._choice(self.dataset_combo, FOLDER)
            self._update_dataset_status()

    def _resolve_dataset(self) -> tuple[str, str | None, bool]:
        """(dataset name, data_dir for the job, found on disk)."""
        key = self.dataset_combo.currentData()
        if key == FOLDER:
            folder = self.folder_edit.text().strip()
            if not folder:
                return "mnist", None, False
            # The folder does not say what it holds; the four files' names find it, and the
            # job refuses another dataset's files by checksum with a clear message.
            for name in data.DATASETS:
                if data.find_dataset_files(name, folder) is not None:
                    return name, folder, True
            return "mnist", folder, False
        root = self.data_dir if self.data_dir is not None else str(data.default_data_dir())
        return key, self.data_dir, data.find_dataset_files(key, root) is not None

    def _update_dataset_status(self, *args) -> None:
        key = self.dataset_combo.currentData()
        self.folder_row.setVisible(key == FOLDER)
        busy = self._download_thread is not None
        name, _, found = self._resolve_dataset()
        root = Path(self.data_dir) if self.data_dir is not None else data.default_data_dir()
        if key == FOLDER:
            folder = self.folder_edit.text().strip()
            if not folder:
                text = "Choose a folder that holds the four IDX files."
            elif found:
                text = f"Found {data.DATASETS[name].title}-style IDX files in {html.escape(folder)}."
            else:
                text = (f"{html.escape(folder)} does not hold the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped or not).")
            self.download_row.setVisible(False)
        elif found:
            text = f"{data.DATASETS[key].title} is on disk ({html.escape(str(root))})."
            self.download_row.setVisible(busy)
        else:
            title = data.DATASETS[key].title
            target = html.escape(str(data.dataset_dir(key, root)))
            text = (f"{title} is not on disk. Download it (about 30 MB) into {target}. "
                    f"Offline: copy its four IDX files there, or start the app with <nobr>--data-dir DIR</nobr>.")
            if key in data.BUNDLED_DATASETS:
                text += f" Until then, Start trains on the 10,000 {title} images bundled with the app."
            self.download_row.setVisible(True)
        self.dataset_status.setText(text)
        self.download_button.setVisible(not busy)
        self.download_progress.setVisible(busy)
        self.download_cancel.setVisible(busy)

    def start_download(self) -> None:
        """Download the chosen dataset on a worker thread, with progress and Cancel."""
        key = self.dataset_combo.currentData()
        if key == FOLDER or self._download_thread is not None:
            return
        root = self.data_dir if self.data_dir is not None else str(data.default_data_dir())
        thread = QThread(self)
        worker = _DownloadWorker(key, root, mirrors=self.download_mirrors)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Queued into the GUI thread: these are slots of this panel, not lambdas.
        worker.progress_changed.connect(self._download_progress)
        worker.finished.connect(self._download_finished)
        worker.finished.connect(thread.quit)
        self._download_thread, self._download_worker = thread, worker
        self.download_progress.setRange(0, 0)
        self.download_progress.setFormat("connecting…")
        self._update_dataset_status()
        thread.start()

    def cancel_download(self) -> None:
        if self._download_worker is not None:
            self._download_worker.cancel()
            self.download_progress.setFormat("cancelling…")

    @Slot(int, int, str)
    def _download_progress(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.download_progress.setRange(0, 1000)
            self.download_progress.setValue(int(1000 * done / total))
            self.download_progress.setFormat(f"{text}: {done / 1e6:.1f}/{total / 1e6:.1f} MB")
        else:
            self.download_progress.setRange(0, 0)
            self.download_progress.setFormat(f"{text}: {done / 1e6:.1f} MB")

    @Slot(bool, str)
    def _download_finished(self, ok: bool, message: str) -> None:
        thread = self._download_thread
        self._download_thread = self._download_worker = None
        if thread is not None:
            # The worker is done; its thread's event loop still runs until quit() (the
            # queued quit from `finished` may not have arrived yet). A QThread deleted
            # while running aborts the whole app, so delete it only once it has finished.
            thread.quit()
            if thread.wait(2000):
                thread.deleteLater()
            else:
                thread.finished.connect(thread.deleteLater)
        self._update_dataset_status()
        if ok:
            self.status_changed.emit(message)
        elif message == "Download cancelled.":
            self.status_changed.emit(message)
        else:
            self._report_error("The dataset could not be downloaded", message)

    # ------------------------------------------------------------ the job

    def make_job(self) -> TrainJob:
        """A TrainJob from the form; SettingsError says which setting is wrong."""
        name, data_dir, found = self._resolve_dataset()
        key = self.dataset_combo.currentData()
        if key == FOLDER and not found and "arrays" not in self.job_overrides:
            raise SettingsError("Choose a folder that holds the four IDX files (Data › Browse…).")
        if not found and name not in data.BUNDLED_DATASETS and "arrays" not in self.job_overrides:
            raise SettingsError(f"{data.DATASETS[name].title} is not on disk: download it first (Data › Download).")
        try:
            hidden = tuple(int(v) for v in self.hidden_edit.text().replace(" ", "").split(",") if v)
        except ValueError:
            raise SettingsError("Hidden sizes must be whole numbers separated by commas, e.g. 256, 128.") from None
        if not hidden:
            raise SettingsError("Give at least one hidden layer size, e.g. 256, 128.")
        try:
            lr = float(self.lr_edit.text())
        except ValueError:
            raise SettingsError(f"The learning rate {self.lr_edit.text()!r} is not a number (e.g. 0.001 or 1e-3).") from None
        epochs = self.epochs_spin.value()
        if epochs == 0:
            train_count = 60_000 if found else 10_000
            epochs = max(1, round(AUTO_SAMPLES / train_count))
        kinds = next(k for key, _, k in MODEL_CHOICES if key == self.models_combo.currentData())
        try:
            configs = tuple(
                NetConfig(
                    kind=kind,
                    latent=self.latent_spin.value(),
                    hidden=hidden,
                    beta=self.beta_spin.value(),
                    likelihood=self.likelihood_combo.currentData(),
                    noise=self.noise_combo.currentData(),
                    noise_level=self.noise_level.value(),
                )
                for kind in kinds
            )
            train = TrainConfig(epochs=epochs, batch_size=self.batch_spin.value(), lr=lr)
        except (ConfigError, TrainingError) as exc:
            raise SettingsError(str(exc)) from None
        runs = self.runs_dir if self.runs_dir is not None else default_runs_dir()
        out_dir = runs / time.strftime("%Y%m%d-%H%M%S")
        n = 1
        while out_dir.exists():  # two runs in one second must not overwrite each other
            n += 1
            out_dir = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{n}"
        job = TrainJob(
            configs=configs,
            train=train,
            dataset=name,
            data_dir=data_dir,
            allow_bundled=True,
            thread_choices=training_thread_choices(),
            out_dir=str(out_dir),
        )
        return replace(job, **self.job_overrides)

    def start(self) -> bool:
        """Start a run from the form; refuse (with a message) while one is going."""
        if self.controller.is_active:
            self._report_error("Cannot start training", "A training run is already going: stop it before starting another.")
            return False
        try:
            job = self.make_job()
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
        self._save_settings()
        self._job = job
        self._reset_live()
        self.error_label.setVisible(False)
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

    def shutdown(self, timeout: float = 1.0) -> None:
        """Window closing: stop and join the run and any download; nothing keeps running."""
        self._redraw_timer.stop()
        self.controller.shutdown(timeout)
        if self._download_worker is not None:
            self._download_worker.cancel()
        if self._download_thread is not None:
            self._download_thread.quit()
            # The download checks its cancel flag between chunks, so this is short; only a
            # stalled mirror takes longer, up to the socket timeout, and a QThread must not
            # be destroyed while it runs.
            if not self._download_thread.wait(int(timeout * 1000)):
                self._download_thread.wait((DOWNLOAD_TIMEOUT_S + 1) * 1000)

    def _reset_live(self) -> None:
        self._info = None
        self._curves.clear()
        self._curve_steps.clear()
        self._tests.clear()
        self._drawn.clear()
        self._follow = {"left": True, "right": True}
        self._loss_follow = {"left": True, "right": True}
        self._rate = None
        self._steps_per_s = 0.0
        kinds = [c.kind for c in self._job.configs] if self._job else []
        for side_name, title in (("left", "AE"), ("right", "VAE")):
            used = [k for k in kinds if SIDE_OF_KIND[k] == side_name]
            msg = "Waiting for the first codes…" if used else "Not trained in this run"
            self.plots[side_name].set_space(None, title=self._plot_title(side_name), empty_message=msg)
            self.decoded[side_name].set_image(None)
            w = self.loss_plots[side_name]
            for item in (*self.loss_curves[side_name].values(), *self.test_markers[side_name].values()):
                w.getPlotItem().removeItem(item)
            self.loss_curves[side_name].clear()
            self.test_markers[side_name].clear()
            w.getPlotItem().legend.clear()
            w.setYRange(-2, 3, padding=0)
            w.setTitle(self._loss_title(side_name), color=self._theme.foreground, size="10pt")

    def _config(self, index: int) -> NetConfig | None:
        if self._job is None or index >= len(self._job.configs):
            return None
        return self._job.configs[index]

    def _side_index(self, side: str) -> int | None:
        if self._job is None:
            return None
        return next((i for i, c in enumerate(self._job.configs) if SIDE_OF_KIND[c.kind] == side), None)

    def _plot_title(self, side: str, state: str = "live") -> str:
        i = self._side_index(side)
        if i is None:
            return f"{'AE' if side == 'left' else 'VAE'} latent space ({state})"
        config = self._job.configs[i]
        name = {"ae": "AE", "dae": "Denoising AE", "vae": "VAE", "linear": "Linear AE"}[config.kind]
        space = "latent space" if config.latent == 2 else f"PCA plane of the {config.latent}-D latent space"
        return f"{name} · {space} ({state})"

    def _loss_title(self, side: str) -> str:
        i = self._side_index(side)
        if i is None:
            return "AE loss" if side == "left" else "VAE loss"
        c = self._job.configs[i]
        if c.kind == "vae":
            return f"VAE: −ELBO = reconstruction + {'β·' if c.beta != 1 else ''}KL (per image)"
        return f"{'Denoising AE' if c.kind == 'dae' else 'AE'}: reconstruction loss ({c.loss.upper()})"

    # ------------------------------------------------------------ controller messages

    @Slot(object)
    def _on_started(self, info: JobStarted) -> None:
        self._info = info
        where = f"{info.dataset_title}, {info.train_count:,} training and {info.test_count:,} test images"
        if len(info.probe_indices) < info.test_count:
            where += f" (the test loss on {len(info.probe_indices):,} of them: the dots on the plots)"
        if info.is_subset:
            where += (f" — the 10,000 images bundled with the app, because the full {info.dataset_title} set is not "
                      "on disk (download it above, or start with --data-dir DIR, for all 60,000)")
        else:
            where += f" ({info.dataset_source})"
        self.run_label.setText(f"Training on {where}. Device: {info.device}. Drag on a plot to decode with the latest weights.")
        self.status_changed.emit(f"Training started on {info.dataset_title}" + (" (bundled subset)" if info.is_subset else ""))

    @Slot(object)
    def _on_snapshot(self, snap: ModelSnapshot) -> None:
        # Only collect here; drawing happens on the timer.
        self._curve_steps.setdefault(snap.index, []).append(np.asarray(snap.curve_steps))
        curves = self._curves.setdefault(snap.index, {})
        for key, values in snap.curve_losses.items():
            curves.setdefault(key, []).append(np.asarray(values))
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
        self._tests.setdefault(report.index, []).append(report)
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
        self.run_label.setText(f"Training {how} after {msg.seconds:.0f} s.{where} The trained models are now the Explore panel's models.")
        self._mark_plots("after training" if not msg.stopped else "stopped")
        self.finished.emit(RunResult(checkpoints=tuple(msg.checkpoints), stopped=msg.stopped, seconds=msg.seconds))

    @Slot(object)
    def _on_failed(self, msg: JobFailed) -> None:
        self._redraw_timer.stop()
        self.redraw(force=True)
        self.progress.setFormat("Training failed")
        text = msg.message
        if msg.checkpoints:
            text += f"\n\nThe last good weights were saved to {Path(msg.checkpoints[0]).parent} (open them with File › Open checkpoint)."
        self.run_label.setText("Training failed; see the message below.")
        self._mark_plots("before the failure")
        self._report_error("Training stopped", text)

    def _mark_plots(self, state: str) -> None:
        """Retitle the plots once the run is over (they stop being live)."""
        for side, plot in self.plots.items():
            if plot.space is None or self._info is None:
                continue
            cross = plot.crosshair()
            plot.set_space(plot.space, labels=np.asarray(self._info.probe_labels, dtype=np.int64), title=self._plot_title(side, state))
            if cross is not None:
                self.probe(side, *cross)

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
        kinds = next(k for key, _, k in MODEL_CHOICES if key == self.models_combo.currentData())
        for w in (self.beta_spin, self.likelihood_combo):
            w.setEnabled("vae" in kinds)
        for w in (self.noise_combo, self.noise_level):
            w.setEnabled("dae" in kinds)

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
        latest = dict(self.controller.latest)
        for index, snap in latest.items():
            if self._drawn.get(index) is not snap:
                self._draw_codes(index, snap)
                self._drawn[index] = snap
        # Curves change slowly and cost the most to repaint (log transform, axis ticks):
        # twice a second is enough, and keeps the GUI's event loop prompt.
        now = time.monotonic()
        if now - self._curves_drawn_at >= CURVE_REDRAW_S or not self.controller.is_active:
            self._curves_drawn_at = now
            for index in self._curves:
                self._draw_curves(index)
        self._draw_progress(latest)

    def _draw_codes(self, index: int, snap: ModelSnapshot) -> None:
        config = self._config(index)
        if config is None or self._info is None:
            return
        side = SIDE_OF_KIND[config.kind]
        plot = self.plots[side]
        space = LiveSpace(config, snap, previous=plot.space)
        labels = np.asarray(self._info.probe_labels, dtype=np.int64)
        if plot.space is None:
            plot.set_space(space, labels=labels, title=self._plot_title(side))
        else:
            # Move the points in place: set_space would reset the view and the crosshair.
            crosshair = plot.crosshair()
            plot.move_codes(space)
            if self._follow[side]:
                plot.follow_codes()
            if crosshair is not None:
                # The image under a held crosshair evolves with the weights.
                self.probe(side, *crosshair)

    def _draw_curves(self, index: int) -> None:
        config = self._config(index)
        if config is None:
            return
        side = SIDE_OF_KIND[config.kind]
        w = self.loss_plots[side]
        steps = np.concatenate(self._curve_steps.get(index, [np.zeros(0, np.int64)]))
        keys = ("loss", "recon", "kl") if config.kind == "vae" else ("loss",)
        shown: list[np.ndarray] = []
        top = 0.0
        names = {"loss": "−ELBO (train)" if config.kind == "vae" else "train", "recon": "reconstruction", "kl": "KL"}
        colors = {"loss": self._theme.foreground, "recon": "#1f77b4", "kl": "#d62728"}
        for key in keys:
            parts = self._curves[index].get(key)
            if not parts:
                continue
            values = np.concatenate(parts)
            n = min(len(values), len(steps))
            # The step that went NaN / inf is reported too; it has no place on the curve.
            finite = np.isfinite(values[:n])
            x = steps[:n][finite]
            # Minibatch losses are noisy: a moving mean over ~1 % of the run shows the trend.
            y = _moving_mean(values[:n][finite], max(1, (self._info.total_steps if self._info else 100) // 100))
            # Log axis: a zero or negative value would break the curve.
            y = np.maximum(y, 1e-8)
            # The first 5 % of a run (KL starting near 0, the loss near its initial value)
            # would squash the rest of the curve on a log axis; the y range skips it.
            total = self._info.total_steps if self._info else 0
            top = max(top, float(y.max())) if len(y) else top
            late = x > total // 20
            shown.append(y[late] if late.any() else y)
            item = self.loss_curves[side].get(key)
            if item is None:
                # The total is drawn last and solid so it stays visible over its parts.
                pen = pg.mkPen(colors[key], width=2 if key == "loss" else 1.2,
                               style=Qt.PenStyle.SolidLine if key == "loss" else Qt.PenStyle.DashLine)
                item = w.plot(pen=pen, name=names[key])
                item.setZValue(2 if key == "loss" else 1)
                self.loss_curves[side][key] = item
            item.setData(x, y)
        if shown and self._loss_follow[side] and any(len(v) for v in shown):
            lo = min(float(v.min()) for v in shown if len(v))
            hi = top
            if math.isfinite(hi) and hi > lo > 0:
                a, b = math.log10(lo), math.log10(hi)
                if b - a > 0.8:
                    # Over more than a decade pyqtgraph labels every minor tick unless the
                    # range runs from one power of ten to another.
                    a, b = math.floor(a), math.ceil(b)
                (_, _), (c0, c1) = w.getViewBox().viewRange()
                # Re-lay out the axis only when the curve leaves the view or the view is
                # clearly too loose.
                outside = a < c0 or b > c1
                loose = c0 < a - 0.25 * (b - a) - 0.02 or c1 > b + 0.25 * (b - a) + 0.02
                if outside or loose:
                    w.getPlotItem().setYRange(a, b, padding=0.1)
        reports = self._tests.get(index, [])
        if reports and self._info is not None:
            per_epoch = self._info.total_steps / max(1, reports[0].epochs)
            test_keys = {"nelbo": ("loss", "−ELBO (test)"), "recon": ("recon", None), "kl": ("kl", None)} \
                if config.kind == "vae" else {"mse": ("loss", "test (MSE)")}
            for tkey, (ckey, label) in test_keys.items():
                xs = [r.epoch * per_epoch for r in reports if tkey in r.test]
                ys = [max(r.test[tkey], 1e-8) for r in reports if tkey in r.test]
                if not xs:
                    continue
                item = self.test_markers[side].get(tkey)
                if item is None:
                    # A PlotDataItem (not a bare scatter) so the plot's log axis applies to it too.
                    item = w.plot(pen=None, symbol="o", symbolSize=8, symbolPen=pg.mkPen(self._theme.background),
                                  symbolBrush=pg.mkBrush(colors[ckey]), name=label)
                    self.test_markers[side][tkey] = item
                item.setData(xs, ys)

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

    def demo_probe(self) -> None:
        """Freeze the live view and probe each plot at one test image's code (for
        screenshots: the picture must not change between layout and grab)."""
        self._redraw_timer.stop()
        self.redraw(force=True)
        for side, plot in self.plots.items():
            if plot.space is not None and len(plot.space.xy):
                x, y = plot.space.xy[0]
                self.probe(side, float(x), float(y))

    def probe(self, side: str, x: float, y: float) -> None:
        """Decode plane point (x, y) of one live plot with the latest decoder weights."""
        plot = self.plots[side]
        space = plot.space
        plot.set_crosshair((x, y))
        if space is None:
            return
        image = space.decode_plane(np.array([[x, y]]))[0]
        self.decoded[side].set_image(image, f"({x:.2f}, {y:.2f})")

    # ------------------------------------------------------------ theme

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        for plot in self.plots.values():
            plot.apply_theme(theme)
        for side, w in self.loss_plots.items():
            style_plot(w, theme)
            pi = w.getPlotItem()
            w.setTitle(self._loss_title(side), color=theme.foreground, size="10pt")
            legend_bg = pg.mkColor(theme.background)
            legend_bg.setAlpha(210)
            pi.legend.setBrush(pg.mkBrush(legend_bg))
            pi.legend.setLabelTextColor(theme.foreground)
            if "loss" in self.loss_curves[side]:
                self.loss_curves[side]["loss"].setPen(pg.mkPen(theme.foreground, width=2))
        self.error_label.setStyleSheet(f"color: {'#ff6b6b' if theme.is_dark else '#c62828'};")
