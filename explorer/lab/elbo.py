"""Lab experiment: the ELBO of one image, term by term, and what beta does to a VAE.

Left (ElboTermsView, elbo_terms.py): a test image's reconstruction and KL terms,
q(z|x) as 1- and 2-sigma ellipses over the prior's circles, samples z ~ q(z|x)
decoded, and the importance-weighted bound beside -ELBO. Right (BetaStudy, beta.py):
a beta slider that trains a 2-D VAE with that beta (and one with beta = 1, trained the
same way) in a child process, showing both latent spaces and reconstructions side by
side.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QWidget

from explorer.lab.beta import BETA_EPOCHS, SNAPSHOT_INTERVAL_S, BetaStudy
from explorer.lab.elbo_terms import ElboTermsView
from explorer.panels.protocol import PanelDefaults
from explorer.startup import DatasetContext
from explorer.widgets.theme import LIGHT, Theme
from models.checkpoint import CheckpointError, load_checkpoint
from models.latent_space import LatentSpace
from models.nets import VAE

log = logging.getLogger(__name__)


class ElboExperiment(QWidget, PanelDefaults):
    """The ELBO of one test image, term by term (``terms_view``), and a beta slider
    that retrains a VAE (``beta_study``), on the dataset it is handed.

    The VAE is ``model_path`` if given, else the dataset's bundled one; it is loaded
    when the tab is first shown. The beta runs train ``beta_hidden`` VAEs for
    ``beta_epochs`` on the dataset's test images and send a snapshot every
    ``snapshot_interval_s`` seconds."""

    status_changed = Signal(str)

    def __init__(
        self,
        *,
        dataset: DatasetContext,
        theme: Theme = LIGHT,
        model_path: str | Path | None = None,
        beta_epochs: int = BETA_EPOCHS,
        beta_hidden: tuple[int, ...] = (512, 256),
        snapshot_interval_s: float = SNAPSHOT_INTERVAL_S,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.theme = theme
        self.dataset = dataset
        self.model_path = Path(model_path) if model_path is not None else dataset.models_folder / "vae.pt"
        self.model: VAE | None = None
        self.space: LatentSpace | None = None
        self.last_error = ""
        self._loaded = False

        self.terms_view = ElboTermsView(theme=theme)
        self.beta_study = BetaStudy(theme=theme, epochs=beta_epochs, hidden=beta_hidden,
                                    snapshot_interval_s=snapshot_interval_s)
        for part in (self.terms_view, self.beta_study):
            part.status_changed.connect(self.status_changed)
        # Dragging on a beta run's plot decodes into the view under the input image.
        self.beta_study.decoded.connect(self.terms_view.show_decoded)
        root = QHBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.terms_view)
        splitter.addWidget(self.beta_study)
        splitter.setSizes([700, 700])
        root.addWidget(splitter)
        self._take_images(dataset)
        self.apply_theme(theme)

    def _take_images(self, dataset: DatasetContext) -> None:
        self.terms_view.set_dataset(dataset)
        self.beta_study.set_dataset(dataset)

    @property
    def images(self) -> np.ndarray | None:
        return self.dataset.images

    def _count(self) -> int:
        return 0 if self.images is None else len(self.images)

    # ------------------------------------------------------------ the model

    def ensure_loaded(self) -> bool:
        """Load the VAE and encode the test images (once, when first shown)."""
        if self._loaded:
            return self.model is not None
        self._loaded = True
        images = self.images
        if images is None or len(images) == 0:
            self._set_unavailable("No test images are loaded, so there is nothing to encode.")
            return False
        if not self.model_path.is_file():
            self._set_unavailable("No VAE is bundled for these images: the ELBO tab has one for MNIST and for "
                                  "Fashion-MNIST (View › Dataset).")
            return False
        try:
            ck = load_checkpoint(self.model_path, expect_kind="vae")
        except CheckpointError as exc:
            self._set_unavailable(f"The VAE could not be loaded: {exc}")
            return False
        if ck.config.pixels != int(np.prod(images.shape[1:])):
            self._set_unavailable(f"{ck.name} was trained on {ck.config.image_shape} images; these are {images.shape[1:]}")
            return False
        model = ck.model
        assert isinstance(model, VAE)  # expect_kind="vae" refused anything else
        self.model = model
        self.space = LatentSpace(model, images)
        self.last_error = ""
        self.beta_study.show_bundled(model)
        self.terms_view.set_model(model, self.space)
        return True

    def _set_unavailable(self, message: str) -> None:
        self.last_error = message
        self.terms_view.set_unavailable(message)
        self.status_changed.emit(message)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        # Loading waits for the tab to be opened, so the window starts fast.
        QTimer.singleShot(0, self.ensure_loaded)

    def show_image(self, index: int) -> None:
        """Encode test image ``index`` and show its terms, posterior and samples."""
        if self.ensure_loaded():
            self.terms_view.show_image(index)

    # ------------------------------------------------------------ the Panel protocol

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """Show another dataset with its bundled VAE. A beta run going is stopped and the
        finished ones are forgotten: they were trained on the old images."""
        self.dataset = dataset
        self.model_path = dataset.models_folder / "vae.pt"
        self.model, self.space, self._loaded = None, None, False
        self._take_images(dataset)
        if self.isVisible():
            self.ensure_loaded()
        return True

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.terms_view.apply_theme(theme)
        self.beta_study.apply_theme(theme)

    def demo(self) -> None:
        """A digit whose posterior and samples are easy to see."""
        self.ensure_loaded()
        if self._count():
            self.show_image(0)

    def shutdown(self, timeout: float = 1.0) -> None:
        self.beta_study.shutdown(timeout)
