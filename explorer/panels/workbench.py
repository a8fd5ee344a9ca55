"""What the Draw, Denoise and Inpaint panels share: the models, the test images,
the mean image and the user's latest drawing.

The AE and VAE are the Explore panel's (whatever the user has loaded there), so a
freshly trained or opened model shows up in every panel; the denoising AE is the
bundled one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from models.data import unit_floats

if TYPE_CHECKING:  # torch-backed; the window is built before torch is imported
    from explorer.startup import DatasetContext
    from models.checkpoint import Checkpoint
    from models.latent_space import LatentSpace


@dataclass(frozen=True)
class Focus:
    """What the user looks at now (the Computation panel follows it): a test image
    ('image', index), a point of an Explore plot ('code', side, xy) or the drawing."""

    kind: str = "none"
    index: int = 0
    side: str = ""
    xy: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class ModelSlot:
    """One model as the panels show it: a short name and its latent space."""

    name: str
    space: LatentSpace

    @property
    def model(self):
        return self.space.model


class Workbench(QObject):
    """Shared state of the hands-on panels; emits ``models_changed`` and ``drawing_changed``."""

    models_changed = Signal()
    drawing_changed = Signal()
    data_changed = Signal()  # another image set (another dataset)
    focus_changed = Signal()  # another image or point is current (see Focus)

    def __init__(
        self,
        *,
        dataset: DatasetContext,
        dae: Checkpoint | None = None,
        dae_masking: Checkpoint | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.ae: ModelSlot | None = None
        self.vae: ModelSlot | None = None
        self._drawing: np.ndarray | None = None
        self.focus = Focus()
        self._set(dataset, dae, dae_masking)

    def _set(self, dataset: DatasetContext, dae: Checkpoint | None, dae_masking: Checkpoint | None) -> None:
        self.dataset = dataset
        self.images = None if dataset.images is None else np.asarray(dataset.images)
        self.labels = dataset.labels
        self.class_names = tuple(dataset.class_names)
        self._scale = 255.0 if self.images is not None and self.images.dtype == np.uint8 else 1.0
        self._mean_image: np.ndarray | None = None
        self.dae = dae
        self.dae_masking = dae_masking
        self.focus = Focus()  # an index of the old images means nothing here

    def set_dataset(
        self, dataset: DatasetContext, *, dae: Checkpoint | None = None, dae_masking: Checkpoint | None = None
    ) -> None:
        """Another dataset's images and denoising models (the AE and VAE follow with ``set_models``)."""
        self._set(dataset, dae, dae_masking)
        self.data_changed.emit()

    def set_denoisers(self, *, dae: Checkpoint | None, dae_masking: Checkpoint | None) -> None:
        """The denoising AEs, when they load after the window was built."""
        self.dae, self.dae_masking = dae, dae_masking

    # ------------------------------------------------------------ images

    @property
    def count(self) -> int:
        return 0 if self.images is None else len(self.images)

    @property
    def mean_image(self) -> np.ndarray | None:
        """The mean of the images shown, float32 (H, W): it stands in for the training
        set's mean digit (the bundled subset is 10,000 test images; the two differ by
        < 0.01 per pixel). Worked out when first asked for, not before the first paint."""
        if self._mean_image is None and self.images is not None:
            self._mean_image = (self.images.mean(axis=0, dtype=np.float64) / self._scale).astype(np.float32)
        return self._mean_image

    def image(self, index: int) -> np.ndarray:
        """Test image ``index`` as float32 (H, W) in [0, 1]."""
        if self.images is None:
            raise IndexError("no test images are loaded")
        if not 0 <= index < len(self.images):
            raise IndexError(f"test image {index} does not exist; choose 0 to {len(self.images) - 1}")
        return unit_floats(self.images[index])

    def label_name(self, index: int) -> str:
        if self.labels is None:
            return ""
        return self.class_names[int(self.labels[index])]

    # ------------------------------------------------------------ models

    def set_models(self, slots: list[tuple[Checkpoint | None, LatentSpace | None, str]]) -> None:
        """The Explore panel's models as (checkpoint, space, name): the first VAE is the
        VAE, the first other model the AE."""
        self.ae = self.vae = None
        for ckpt, space, name in slots:
            if ckpt is None or space is None:
                continue
            if ckpt.config.kind == "vae":
                self.vae = self.vae or ModelSlot(name, space)
            else:
                self.ae = self.ae or ModelSlot(name, space)
        self.models_changed.emit()

    # ------------------------------------------------------------ the drawing

    @property
    def drawing(self) -> np.ndarray | None:
        """The Draw panel's digit as a 28 x 28 MNIST-like image, None when the canvas is empty."""
        return None if self._drawing is None else self._drawing.copy()

    def set_drawing(self, image: np.ndarray | None) -> None:
        old = self._drawing
        self._drawing = None if image is None else np.array(image, dtype=np.float32, copy=True)
        # The Draw panel re-sends an unchanged drawing (new models): only a new stroke makes it current.
        changed = (old is None) != (image is None) or (old is not None and not np.array_equal(old, self._drawing))
        self.drawing_changed.emit()
        if changed:
            self._set_focus(Focus("drawing"))

    # ------------------------------------------------------------ what is current

    def set_focus_image(self, index: int) -> None:
        """Test image ``index`` is current (clicked in Explore)."""
        self._set_focus(Focus("image", index=int(index)))

    def set_focus_code(self, side: str, x: float, y: float) -> None:
        """The point (x, y) of the plot on ``side`` is current (dragged or probed in Explore)."""
        self._set_focus(Focus("code", side=side, xy=(float(x), float(y))))

    def _set_focus(self, focus: Focus) -> None:
        self.focus = focus
        self.focus_changed.emit()
