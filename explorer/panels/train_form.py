"""TrainSettingsForm: the Train panel's settings (data, models, training), remembered
in QSettings, and the TrainJob they describe (``build_job``)."""
from __future__ import annotations

import html
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import (
    QRegularExpression,
    QSettings,
    QStandardPaths,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QDoubleValidator, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.panels.train_download import DownloadRow
from explorer.panels.train_images import OWN, ArchChoice, own_source, own_status
from explorer.startup import DatasetContext
from models import corrupt, data
from models.jobs import TrainJob
from models.nets import ConfigError, NetConfig, default_hidden
from models.threads import training_thread_choices
from models.train import TrainConfig, TrainingError

FOLDER = "folder"
DATASET_CHOICES = (("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST"), ("kmnist", "KMNIST"), (FOLDER, "IDX files in a folder…"))
MODEL_CHOICES = (
    ("ae+vae", "AE + VAE (compare)", ("ae", "vae")),
    ("dae+vae", "Denoising AE + VAE", ("dae", "vae")),
    ("ae", "AE only", ("ae",)),
    ("dae", "Denoising AE only", ("dae",)),
    ("vae", "VAE only", ("vae",)),
)
# Samples per model that 'auto' epochs trains: enough for the classes to separate,
# short enough to watch (the form promises about 20 s).
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


class SettingsError(ValueError):
    """A training setting the user has to fix before starting."""


def default_runs_dir() -> Path:
    """Per-user folder for trained checkpoints (one sub-folder per run)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".latent-explorer") / "runs"


W = TypeVar("W", bound=QWidget)


def _tip(widget: W, text: str) -> W:
    widget.setToolTip(text)
    return widget


def _choose(combo: QComboBox, key: str) -> None:
    i = combo.findData(key)
    if i >= 0:
        combo.setCurrentIndex(i)


class TrainSettingsForm(QWidget):
    """The settings of the next run: which images, which models, how long.

    ``job_defaults`` replaces fields of every job built (dataclasses.replace); when it
    brings the images (``data_source``) the dataset on disk is not checked. ``mirrors``:
    where downloads come from (None: the dataset registry's public mirrors)."""

    status_changed = Signal(str)  # one line for the status bar (a download ended)
    failed = Signal(str, str)  # title, message: a download could not do its job

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        settings: QSettings | None = None,
        data_dir: str | Path | None = None,
        runs_dir: str | Path | None = None,
        mirrors: tuple[str, ...] | None = None,
        job_defaults: Mapping[str, Any] | None = None,
    ):
        super().__init__(parent)
        self._settings = settings
        self.data_dir: str | None = str(data_dir) if data_dir is not None else None
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None
        self._job_defaults = dict(job_defaults or {})
        self._own: DatasetContext | None = None  # the window's own images, when it shows some
        self.download_row = DownloadRow(mirrors=mirrors)
        self.download_row.button.clicked.connect(self.start_download)
        self.download_row.finished.connect(self._download_finished)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.addWidget(self._build_data_box())
        layout.addWidget(self._build_model_box())
        layout.addWidget(self._build_training_box())
        layout.addWidget(self._build_hint_box())
        layout.addStretch(1)
        self._restore_settings()
        self._update_dataset_status()
        self._update_enabled()

    # ------------------------------------------------------------ UI

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
        self.arch_combo = ArchChoice()
        self.arch_combo.currentIndexChanged.connect(self._arch_changed)
        form.addRow("Architecture", self.arch_combo)

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

    # ------------------------------------------------------------ settings

    def _restore_settings(self) -> None:
        v = dict(DEFAULTS)
        if self._settings is not None:
            for key, default in DEFAULTS.items():
                v[key] = self._settings.value(f"train/{key}", default, type=type(default))
        _choose(self.dataset_combo, v["dataset"])
        self.folder_edit.setText(v["folder"])
        _choose(self.models_combo, v["models"])
        self.latent_spin.setValue(int(v["latent"]))
        self.hidden_edit.setText(v["hidden"])
        self.epochs_spin.setValue(int(v["epochs"]))
        self.batch_spin.setValue(int(v["batch"]))
        self.lr_edit.setText(v["lr"])
        self.beta_spin.setValue(float(v["beta"]))
        _choose(self.likelihood_combo, v["likelihood"])
        _choose(self.noise_combo, v["noise"])
        self._noise_changed()
        self.noise_level.setValue(float(v["noise_level"]))

    def save_settings(self) -> None:
        """Remember the form for the next start (called when a run starts)."""
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

    def kinds(self) -> tuple[str, ...]:
        """The model kinds the form trains, in plot order."""
        return next(k for key, _, k in MODEL_CHOICES if key == self.models_combo.currentData())

    def _update_enabled(self, *args) -> None:
        kinds = self.kinds()
        for w in (self.beta_spin, self.likelihood_combo):
            w.setEnabled("vae" in kinds)
        for w in (self.noise_combo, self.noise_level):
            w.setEnabled("dae" in kinds)

    # ------------------------------------------------------------ dataset

    def set_dataset(self, ctx: DatasetContext | str) -> None:
        """Choose the window's dataset (when it switches datasets): a registered one by
        name, or its own images (a user's, CIFAR-10) as the first entry."""
        own = ctx if isinstance(ctx, DatasetContext) and ctx.data is not None else None
        self._own = own
        index = self.dataset_combo.findData(OWN)
        if index >= 0:
            self.dataset_combo.removeItem(index)
        if own is not None:
            self.dataset_combo.insertItem(0, own.title, OWN)
        name = OWN if own is not None else (ctx.name if isinstance(ctx, DatasetContext) else ctx)
        if self.dataset_combo.findData(name) >= 0:
            _choose(self.dataset_combo, name)
        self.arch_combo.follow(own.image_shape if own is not None else (28, 28))
        self._update_dataset_status()

    def _arch_changed(self) -> None:
        # Conv hidden sizes are channel widths: an MLP's 256, 128 would not fit them.
        conv = self.arch_combo.arch() == "conv"
        self.hidden_edit.setText(", ".join(map(str, default_hidden(self.arch_combo.arch(), self._shape()))) if conv
                                 else DEFAULTS["hidden"])

    def _shape(self) -> tuple[int, int]:
        return tuple(self._own.image_shape[:2]) if self._own is not None else (28, 28)  # type: ignore[return-value]

    def set_data_dir(self, data_dir: str | Path | None) -> None:
        """Look for (and download) datasets under data_dir instead of the user cache (--data-dir)."""
        self.data_dir = str(data_dir) if data_dir is not None else None
        self._update_dataset_status()

    def _root(self) -> str:
        return self.data_dir if self.data_dir is not None else str(data.default_data_dir())

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with IDX files", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            _choose(self.dataset_combo, FOLDER)
            self._update_dataset_status()

    def _resolve_dataset(self) -> tuple[str, str | None, bool]:
        """(dataset name, data_dir for the job, found on disk)."""
        key = self.dataset_combo.currentData()
        if key == OWN and self._own is not None:
            return self._own.name, None, True
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
        return key, self.data_dir, data.find_dataset_files(key, self._root()) is not None

    def _update_dataset_status(self, *args) -> None:
        key = self.dataset_combo.currentData()
        self.folder_row.setVisible(key == FOLDER)
        busy = self.download_row.is_busy
        name, _, found = self._resolve_dataset()
        if key == OWN and self._own is not None:
            text = html.escape(own_status(self._own))
            self.download_row.setVisible(False)
        elif key == FOLDER:
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
            text = f"{data.DATASETS[key].title} is on disk ({html.escape(str(Path(self._root())))})."
            self.download_row.setVisible(busy)
        else:
            title = data.DATASETS[key].title
            target = html.escape(str(data.dataset_dir(key, self._root())))
            text = (f"{title} is not on disk. Download it (about 30 MB) into {target}. "
                    f"Offline: copy its four IDX files there, or start the app with <nobr>--data-dir DIR</nobr>.")
            if key in data.BUNDLED_DATASETS:
                text += f" Until then, Start trains on the 10,000 {title} images bundled with the app."
            self.download_row.setVisible(True)
        self.dataset_status.setText(text)

    def start_download(self) -> None:
        """Download the chosen dataset in the background, with progress and Cancel."""
        key = self.dataset_combo.currentData()
        if key in (FOLDER, OWN) or self.download_row.is_busy:
            return
        self.download_row.start(key, self._root())
        self._update_dataset_status()

    def cancel_download(self) -> None:
        self.download_row.cancel()

    def shutdown(self, timeout: float = 1.0) -> None:
        """Stop and join a download (the window is closing)."""
        self.download_row.shutdown(timeout)

    @Slot(str, str)
    def _download_finished(self, outcome: str, message: str) -> None:
        self._update_dataset_status()
        if outcome == "failed":
            self.failed.emit("The dataset could not be downloaded", message)
        else:
            self.status_changed.emit(message)

    # ------------------------------------------------------------ the job

    def build_job(self) -> TrainJob:
        """The TrainJob the form describes; SettingsError says which setting to fix."""
        name, data_dir, found = self._resolve_dataset()
        key = self.dataset_combo.currentData()
        own = self._own if key == OWN else None
        own_images = "data_source" in self._job_defaults or own is not None
        if key == FOLDER and not found and not own_images:
            raise SettingsError("Choose a folder that holds the four IDX files (Data › Browse…).")
        if not found and name not in data.BUNDLED_DATASETS and not own_images:
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
            train_count = len(own.data.train_images) if own is not None and own.data is not None else 60_000 if found else 10_000
            epochs = max(1, round(AUTO_SAMPLES / train_count))
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
                    **self.arch_combo.fields(own),
                )
                for kind in self.kinds()
            )
            train = TrainConfig(epochs=epochs, batch_size=self.batch_spin.value(), lr=lr)
        except (ConfigError, TrainingError) as exc:
            raise SettingsError(str(exc)) from None
        job = TrainJob(
            configs=configs,
            train=train,
            dataset=name,
            data_dir=data_dir,
            allow_bundled=True,
            thread_choices=training_thread_choices(),
            out_dir=str(self._new_run_dir()),
        )
        if own is not None:
            job = replace(job, data_source=own_source(own), allow_bundled=False)
        return replace(job, **self._job_defaults)

    def _new_run_dir(self) -> Path:
        runs = self.runs_dir if self.runs_dir is not None else default_runs_dir()
        out_dir = runs / time.strftime("%Y%m%d-%H%M%S")
        n = 1
        while out_dir.exists():  # two runs in one second must not overwrite each other
            n += 1
            out_dir = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{n}"
        return out_dir
