"""Where the Denoise and Inpaint panels get their clean digit: the user's drawing,
a test image (picked by number or at random), or a sample from the VAE's prior."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from explorer.panels.workbench import Workbench
from models.latent_space import sample_prior

SOURCES = ("test", "drawing", "vae_sample")
SOURCE_TITLES = {"test": "Test image", "drawing": "Your drawing", "vae_sample": "Sample from the VAE"}


class SourcePicker(QWidget):
    """A source combo box and its options on one row; ``changed`` when the digit changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, workbench: Workbench, settings: QSettings | None = None, key: str = ""):
        super().__init__(parent)
        self.workbench = workbench
        self._settings = settings
        self._key = key
        self.combo = QComboBox()
        for name in SOURCES:
            self.combo.addItem(SOURCE_TITLES[name], name)
        self.combo.setToolTip("The clean image to work on")
        self.index = QSpinBox()
        self.index.setRange(0, max(0, workbench.count - 1))
        self.index.setToolTip("Number of the test image")
        self.index.setKeyboardTracking(False)
        self.random_button = QPushButton("Random")
        self.random_button.setToolTip("Pick a test image at random")
        self.sample_seed = QSpinBox()
        self.sample_seed.setRange(0, 99_999)
        self.sample_seed.setPrefix("seed ")
        self.sample_seed.setToolTip("Seed of the prior sample z ~ N(0, I) the VAE decodes")
        self.sample_button = QPushButton("New sample")
        self.sample_button.setToolTip("Decode a fresh draw from the prior")
        self.label = QLabel()

        test_page = QWidget()
        lay = QHBoxLayout(test_page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.index)
        lay.addWidget(self.random_button)
        lay.addWidget(self.label, 1)
        drawing_page = QLabel("the digit from the Draw panel")
        sample_page = QWidget()
        lay = QHBoxLayout(sample_page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.sample_seed)
        lay.addWidget(self.sample_button)
        lay.addStretch(1)
        self.pages = QStackedWidget()
        for page in (test_page, drawing_page, sample_page):
            self.pages.addWidget(page)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Image"))
        row.addWidget(self.combo)
        row.addWidget(self.pages, 1)

        self._rng = np.random.default_rng()
        if settings is not None and key:
            saved = settings.value(f"{key}/source", "test", type=str)
            if saved in SOURCES:
                self.combo.setCurrentIndex(SOURCES.index(saved))
            self.index.setValue(int(settings.value(f"{key}/index", 0, type=int)))
        self.pages.setCurrentIndex(self.combo.currentIndex())
        self._update_label()
        self.combo.currentIndexChanged.connect(self._source_changed)
        self.index.valueChanged.connect(self._index_changed)
        self.random_button.clicked.connect(lambda: self.index.setValue(int(self._rng.integers(0, max(1, workbench.count)))))
        self.sample_seed.valueChanged.connect(lambda _v: self.changed.emit())
        self.sample_button.clicked.connect(lambda: self.sample_seed.setValue((self.sample_seed.value() + 1) % 100_000))
        workbench.drawing_changed.connect(self._drawing_changed)
        workbench.data_changed.connect(self._data_changed)
        workbench.models_changed.connect(self._models_changed)

    # ------------------------------------------------------------ state

    def source(self) -> str:
        return self.combo.currentData()

    def set_source(self, name: str) -> None:
        if name not in SOURCES:
            raise ValueError(f"unknown source {name!r}; choose one of {', '.join(SOURCES)}")
        self.combo.setCurrentIndex(SOURCES.index(name))

    def image(self) -> np.ndarray | None:
        """The clean digit (H, W) float32 in [0, 1], or None when there is none (say why: ``why_none``)."""
        source = self.source()
        if source == "drawing":
            return self.workbench.drawing
        if source == "test":
            return self.workbench.image(self.index.value()) if self.workbench.count else None
        vae = self.workbench.vae
        if vae is None:
            return None
        code = sample_prior(1, vae.space.latent, seed=self.sample_seed.value())
        return vae.space.decode_codes(code)[0]

    def why_none(self) -> str:
        source = self.source()
        if source == "drawing":
            return "Nothing is drawn yet: draw a digit in the Draw panel."
        if source == "test":
            return "No test images are loaded."
        return "No VAE is loaded: open one in the Explore panel."

    def description(self) -> str:
        source = self.source()
        if source == "test":
            i = self.index.value()
            return f"test image {i} ({self.workbench.label_name(i)})" if self.workbench.count else "no test image"
        if source == "drawing":
            return "your drawing"
        return f"a VAE sample (seed {self.sample_seed.value()})"

    # ------------------------------------------------------------ reactions

    def _update_label(self) -> None:
        if self.workbench.count:
            self.label.setText(f"of {self.workbench.count - 1}: {self.workbench.label_name(self.index.value())}")

    def _remember(self) -> None:
        if self._settings is not None and self._key:
            self._settings.setValue(f"{self._key}/source", self.source())
            self._settings.setValue(f"{self._key}/index", self.index.value())

    def _source_changed(self, _index: int) -> None:
        self.pages.setCurrentIndex(self.combo.currentIndex())
        self._remember()
        self.changed.emit()

    def _index_changed(self, _value: int) -> None:
        self._update_label()
        self._remember()
        self.changed.emit()

    def _drawing_changed(self) -> None:
        if self.source() == "drawing":
            self.changed.emit()

    def _data_changed(self) -> None:
        self.index.blockSignals(True)
        self.index.setRange(0, max(0, self.workbench.count - 1))
        self.index.blockSignals(False)
        self._update_label()
        self.changed.emit()

    def _models_changed(self) -> None:
        if self.source() == "vae_sample":
            self.changed.emit()
