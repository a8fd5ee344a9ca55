"""Lab experiment: a latent space larger than 2-D, seen through the PCA plane of its codes.

Drag on the plane to decode its points; click a test point to compare its full
8-D reconstruction with the decoding of its shadow on the plane (what is lost
off the plane). The bars show how much of the codes' variance each principal
direction holds, and the plane's share of it.
"""
from __future__ import annotations

import html
import logging
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from explorer.panels.protocol import PanelDefaults
from explorer.startup import DatasetContext
from explorer.widgets.fitting import FittingImageView, WrappingLabel
from explorer.widgets.image_view import ImageStrip
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import LIGHT, Theme, style_plot
from models import metrics
from models.checkpoint import CheckpointError, load_checkpoint
from models.data import unit_floats
from models.kinds import KIND_SHORT_NAMES
from models.latent_space import LatentSpace

log = logging.getLogger(__name__)

# (file in resources/models/mnist, menu text)
MODEL_CHOICES = (
    ("vae8.pt", "VAE, latent size 8"),
    ("ae8.pt", "AE, latent size 8"),
)
ALONG_STEPS = 9
DECODED_MIN = 64  # the four decoded images side by side in the narrow column of a 1000 px window

INTRO = (
    "These models squeeze each digit into <b>{latent} numbers</b> instead of 2, so they reconstruct more detail. "
    "A screen has two axes, so the plot shows the <b>plane</b> through the codes' mean along the two directions in "
    "which the test codes vary most (PCA of the codes). Drag on it to decode points of that plane; click a test "
    "point to see what its full code decodes to, next to the decoding of its shadow on the plane."
)
OFF_PLANE_NOTE = (
    "Points off the plane are not shown: every code is drawn at its projection, so codes that differ only in "
    "the other {hidden} directions land on the same spot, and dragging only ever visits codes on the plane "
    "(the other {hidden} coordinates held at the codes' mean)."
)


def variance_shares(codes: np.ndarray) -> np.ndarray:
    """Fraction of the codes' total variance along each principal direction, largest first."""
    codes = np.asarray(codes, dtype=np.float64)
    pca = metrics.pca_fit(codes, codes.shape[1])
    total = float(np.sum(pca.explained_variance))
    return pca.explained_variance / total if total > 0 else np.zeros_like(pca.explained_variance)


class LargerLatentExperiment(QWidget, PanelDefaults):
    """A latent-size-8 model of the dataset's bundled ones (only MNIST has them),
    explored through the PCA plane of its codes."""

    status_changed = Signal(str)

    def __init__(self, *, dataset: DatasetContext, theme: Theme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.theme = theme
        self._take(dataset)
        self.space: LatentSpace | None = None
        self.shares = np.zeros(0)
        self.selected: int | None = None
        self.last_error = ""
        self._loaded_file = ""
        self._build_ui()
        self.apply_theme(theme)

    # ------------------------------------------------------------ layout

    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.setSpacing(6)
        # Across the whole panel: in the side column its sentences took too many lines
        # for a small window.
        self.intro_label = WrappingLabel(lines=2)
        outer.addWidget(self.intro_label)
        root = QHBoxLayout()
        root.setSpacing(10)
        outer.addLayout(root, 1)

        left = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(QLabel("Model"))
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Which bundled latent-size-8 model to explore (trained on MNIST)")
        self._fill_models()
        self.model_combo.currentIndexChanged.connect(self._model_chosen)
        row.addWidget(self.model_combo)
        row.addStretch(1)
        left.addLayout(row)
        self.plot = LatentPlot(role="vae", theme=self.theme)
        self.plot.setToolTip("The test codes projected onto the PCA plane of the 8-D latent space. "
                             "Drag to decode plane points; click a point to compare its full and projected code.")
        self.plot.probe_changed.connect(self.probe)
        self.plot.clicked.connect(self._click)
        left.addWidget(self.plot, 1)
        root.addLayout(left, 3)

        side = QVBoxLayout()
        side.setSpacing(6)

        decode_box = QGroupBox("Decoded")
        grid = QHBoxLayout(decode_box)
        self.decoded_view = FittingImageView(caption="plane point", placeholder="Drag on the plane", minimum=DECODED_MIN)
        self.decoded_view.setToolTip("The image the decoder makes of the plane point under the cross")
        self.original_view = FittingImageView(caption="test image", placeholder="Click a point", minimum=DECODED_MIN)
        self.full_view = FittingImageView(caption="full 8-D code", placeholder="", minimum=DECODED_MIN)
        self.full_view.setToolTip("Decoded from the test image's full code: everything the model keeps")
        self.shadow_view = FittingImageView(caption="shadow on plane", placeholder="", minimum=DECODED_MIN)
        self.shadow_view.setToolTip("Decoded from the code's projection onto the plane: what the plot can show")
        # Each as wide as its longest caption, so none is cut in a small window.
        wide = max(self.fontMetrics().horizontalAdvance(c) for c in ("shadow on plane", "full 8-D code", "test image 9999"))
        for view in (self.decoded_view, self.original_view, self.full_view, self.shadow_view):
            view.setMinimumWidth(max(DECODED_MIN, wide + 8))
            grid.addWidget(view, 1)
        side.addWidget(decode_box, 1)

        self.variance_box = QGroupBox("How much of the codes the plane shows")
        vbox = QVBoxLayout(self.variance_box)
        self.variance_plot = pg.PlotWidget()
        self.variance_plot.setMinimumHeight(80)
        self.variance_plot.setMouseEnabled(False, False)
        self.variance_plot.hideButtons()
        self.variance_plot.setMenuEnabled(False)
        self.variance_plot.setLabel("left", "%")  # a longer name would not fit the short axis of a small window
        self.variance_plot.getAxis("left").enableAutoSIPrefix(False)
        # Room above the plot for the top tick's label: in a small window the chart is short
        # and that label sits at its very edge, half cut off.
        self.variance_plot.getPlotItem().setContentsMargins(0, 8, 0, 0)
        self.variance_plot.setLabel("bottom", "principal direction of the codes")
        self.variance_plot.setToolTip("The variance of the test codes along each principal direction, as a share of "
                                      "the total; the two drawn darker span the plane")
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.variance_plot.addItem(self._bars)
        vbox.addWidget(self.variance_plot)
        # Its sentence takes several lines in the narrow column: a plain label there would
        # be given fewer and run over the bar chart.
        self.variance_label = WrappingLabel(lines=3)
        vbox.addWidget(self.variance_label)
        side.addWidget(self.variance_box, 2)

        self.along_strip = ImageStrip(label="along PC1", placeholder="")
        self.along_strip.setToolTip("Decoded along the plane's first axis, from −2 to +2 standard deviations of the codes")
        self.along_strip.setMaximumHeight(70)
        self.along_strip2 = ImageStrip(label="along PC2", placeholder="")
        self.along_strip2.setToolTip("Decoded along the plane's second axis, from −2 to +2 standard deviations")
        self.along_strip2.setMaximumHeight(70)
        for strip in (self.along_strip, self.along_strip2):
            strip.set_min_label_width(80)
            strip.setMinimumHeight(44)
            side.addWidget(strip)
        root.addLayout(side, 2)

    # ------------------------------------------------------------ loading

    def _fill_models(self) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for filename, text in MODEL_CHOICES:
            if (self.models_dir / filename).is_file():
                self.model_combo.addItem(text, filename)
        self.model_combo.blockSignals(False)

    def _take(self, dataset: DatasetContext) -> None:
        self.dataset = dataset
        self.images, self.labels = dataset.images, dataset.labels
        self.models_dir = dataset.models_folder

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """Show another dataset and its bundled models (only MNIST has latent-size-8
        ones; elsewhere the tab says so)."""
        self._take(dataset)
        self._loaded_file = ""
        self.space = None
        self._fill_models()
        if self.isVisible():
            self.ensure_loaded()
        return True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        QTimer.singleShot(0, self.ensure_loaded)

    def ensure_loaded(self) -> bool:
        filename = self.model_combo.currentData()
        if filename is None:
            if self.dataset.name != "mnist":
                self._unavailable("The latent-size-8 models are trained on MNIST only: show MNIST "
                                  "(View › Dataset) to explore them.")
            else:
                self._unavailable(f"No latent-size-8 model in {self.models_dir} (scripts/train_lab_latent.sh makes them).")
            return False
        if filename == self._loaded_file:
            return self.space is not None
        self._loaded_file = filename
        return self.load(self.models_dir / filename)

    def _model_chosen(self, *args) -> None:
        if self.isVisible() or self.space is not None:
            self.ensure_loaded()

    def _unavailable(self, message: str) -> None:
        self.last_error = message
        self.space = None
        self.plot.set_space(None, empty_message="Not available")
        self.intro_label.setText(html.escape(message))
        self.shares = np.zeros(0)
        self._bars.setOpts(x=[], height=[])
        self.variance_label.setText("")
        for view in (self.decoded_view, self.original_view, self.full_view, self.shadow_view):
            view.set_image(None)
        for strip in (self.along_strip, self.along_strip2):
            strip.clear()
        self.status_changed.emit(message)

    def load(self, path: Path) -> bool:
        """Show the model in ``path`` through the PCA plane of its test codes."""
        if self.images is None or len(self.images) == 0:
            self._unavailable("No test images are loaded, so there are no codes to show.")
            return False
        try:
            ck = load_checkpoint(path)
        except CheckpointError as exc:
            self._unavailable(f"The model could not be loaded: {exc}")
            return False
        if ck.config.pixels != int(np.prod(self.images.shape[1:])):
            self._unavailable(f"{ck.name} was trained on {ck.config.image_shape} images; these are {self.images.shape[1:]}")
            return False
        self.space = LatentSpace(ck.model, self.images)
        self.last_error = ""
        latent = ck.config.latent
        name = KIND_SHORT_NAMES.get(ck.config.kind, ck.config.kind)
        self.plot.set_space(self.space, labels=self.labels, title=f"{name}: {self.space.description}")
        self.plot.set_background("prior", ck.config.kind == "vae" and self.space.is_projected)
        self.shares = variance_shares(self.space.codes)
        self._draw_variance(latent)
        intro = INTRO.format(latent=latent)
        if self.space.is_projected:
            intro += "<br><br>" + OFF_PLANE_NOTE.format(hidden=latent - 2)
        self.intro_label.setText(intro)
        self._draw_axes_strips()
        self.selected = None
        for view in (self.original_view, self.full_view, self.shadow_view):
            view.set_image(None)
        self.decoded_view.set_image(None)
        self.status_changed.emit(
            f"{name} with latent size {latent}: the plane holds {100 * self.plane_share():.0f} % of the codes' variance"
        )
        return True

    def plane_share(self) -> float:
        """The fraction of the codes' variance that lies in the plotted plane."""
        return float(np.sum(self.shares[:2])) if len(self.shares) else 0.0

    def _draw_variance(self, latent: int) -> None:
        n = len(self.shares)
        x = np.arange(1, n + 1)
        brushes = [pg.mkBrush(self.theme.crosshair if i < 2 else self.theme.muted) for i in range(n)]
        self._bars.setOpts(x=x, height=100 * self.shares, width=0.7, brushes=brushes, pens=[pg.mkPen(None)] * n)
        self.variance_plot.setXRange(0.4, n + 0.6, padding=0)
        self.variance_plot.setYRange(0, max(5.0, 100 * float(self.shares.max()) * 1.15), padding=0)
        self.variance_plot.getAxis("bottom").setTicks([[(int(i), f"PC{i}") for i in x]])
        rest = 1.0 - self.plane_share()
        self.variance_label.setText(
            f"The plane (PC1 and PC2) holds <b>{100 * self.plane_share():.0f} %</b> of the variance of the "
            f"{len(self.space.codes):,} test codes; the other {latent - 2} directions hold {100 * rest:.0f} %, "
            "which the plot cannot show."
        )

    def _draw_axes_strips(self) -> None:
        """Decoded images along each axis of the plane, through the mean of the codes."""
        xy = self.space.xy.astype(np.float64)
        centre, spread = xy.mean(axis=0), xy.std(axis=0)
        t = np.linspace(-2.0, 2.0, ALONG_STEPS)
        for k, strip in enumerate((self.along_strip, self.along_strip2)):
            points = np.repeat(centre[None], ALONG_STEPS, axis=0)
            points[:, k] += t * spread[k]
            strip.set_images(self.space.decode_plane(points))

    # ------------------------------------------------------------ interaction

    def probe(self, x: float, y: float) -> None:
        """Decode the plane point (x, y) and show it."""
        if self.space is None:
            return
        self.plot.set_crosshair((x, y))
        self.decoded_view.set_image(self.space.decode_plane(np.array([[x, y]]))[0])
        self.decoded_view.setToolTip(f"Decoded at the plane point ({x:.2f}, {y:.2f})")

    def _click(self, x: float, y: float, radius: float) -> None:
        if self.space is None:
            return
        i = self.space.nearest((x, y), radius, among=self.plot.visible_mask())
        if i is not None:
            self.select(i)

    def select(self, index: int) -> None:
        """Compare test image ``index``, its full-code reconstruction and its shadow's decoding."""
        if self.space is None:
            return
        self.selected = index
        x = unit_floats(self.images[index])
        xy = self.space.xy[index]
        full = self.space.reconstruct([index])[0]
        shadow = self.space.decode_plane(xy[None])[0]
        self.plot.set_selection((float(xy[0]), float(xy[1])))
        self.original_view.set_image(x, caption=f"test image {index}")
        self.full_view.set_image(full)
        self.shadow_view.set_image(shadow)
        err_full = float(np.mean((full - x) ** 2))
        err_shadow = float(np.mean((shadow - x) ** 2))
        self.status_changed.emit(
            f"Test image {index}: MSE {err_full:.4f} from the full code, {err_shadow:.4f} from its shadow on the plane"
        )

    # ------------------------------------------------------------ lab hooks

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.plot.apply_theme(theme)
        style_plot(self.variance_plot, theme)
        if self.space is not None:
            self._draw_variance(self.space.latent)

    def demo(self) -> None:
        """A test digit selected and a plane point decoded."""
        if not self.ensure_loaded():
            return
        self.select(0)
        xy = self.space.xy
        centre = xy.mean(axis=0)
        self.probe(float(centre[0] + xy[:, 0].std()), float(centre[1]))

