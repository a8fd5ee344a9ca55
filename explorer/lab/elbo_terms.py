"""The ELBO experiment's left half: one test image's -ELBO term by term, its posterior
q(z|x) over the prior, samples of q(z|x) decoded, and the importance-weighted bound."""
from __future__ import annotations

import html
from typing import TypeVar

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.startup import DatasetContext
from explorer.widgets.fitting import WrappingLabel
from explorer.widgets.image_view import ImageStrip, ImageView
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import LIGHT, Theme
from models import elbo
from models.latent_space import LatentSpace
from models.nets import VAE

SAMPLE_COUNT = 8
# Both halves of the tab side by side, every row of them, in the Lab of a 1000 x 650 window.
PLOT_MIN = 120
IMAGE_MIN = 72

INTRO = (
    "A VAE is trained to minimise <b>−ELBO = reconstruction + KL</b>: the reconstruction term "
    "E<sub>q</sub>[−log p(x|z)] is small when codes drawn from the posterior q(z|x) decode back to the image; "
    "the KL term KL(q(z|x) ‖ p(z)) is small when that posterior stays close to the prior N(0, I). "
    "Pick a test image to see both terms, and the posterior itself."
)
IWAE_NOTE = (
    "The importance-weighted bound averages the {k:,} weights p(x, z)/q(z|x) <i>before</i> taking the log; "
    "the ELBO averages their logs. The log of an average is at least the average of the logs, so this bound "
    "on −log p(x) is tighter: {gap:.2f} nats lower for this image."
)


W = TypeVar("W", bound=QWidget)


def tip(widget: W, text: str) -> W:
    """``widget`` with a tooltip, for building layouts in one expression."""
    widget.setToolTip(text)
    return widget


def rich_label(text: str) -> QLabel:
    """A word-wrapped label that renders its text as HTML and keeps the lines its text
    takes (a plain one is given fewer in a small window and runs over what lies below)."""
    label = WrappingLabel(text)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


class ElboTermsView(QGroupBox):
    """One test image at a time: its reconstruction and KL terms (numbers and a bar),
    q(z|x) as 1- and 2-sigma ellipses over the prior, samples of q(z|x) decoded, and
    the IWAE bound beside -ELBO. ``set_model`` hands it the VAE and its codes of the
    test images; until then it shows nothing (or ``set_unavailable``'s reason)."""

    status_changed = Signal(str)

    def __init__(self, *, theme: Theme = LIGHT, parent: QWidget | None = None):
        super().__init__("One image, term by term", parent)
        self.theme = theme
        self.images: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.class_names: tuple[str, ...] | None = None
        self.model: VAE | None = None
        self.space: LatentSpace | None = None
        self.index = -1
        self.terms: elbo.ElboTerms | None = None
        self.iwae: float | None = None
        self._rng = np.random.default_rng()
        self._build_ui()

    # ------------------------------------------------------------ layout

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addWidget(rich_label(INTRO))

        pick = QHBoxLayout()
        pick.addWidget(QLabel("Test image"))
        self.index_spin = tip(QSpinBox(), "Which test image to encode (its index in the test set)")
        self.index_spin.setRange(0, 0)
        self.index_spin.valueChanged.connect(self.show_image)
        pick.addWidget(self.index_spin)
        self.random_button = tip(QPushButton("Random"), "A random test image")
        self.random_button.clicked.connect(self.random_image)
        self.next_button = tip(QPushButton("Next"), "The next test image")
        self.next_button.clicked.connect(self.next_image)
        pick.addWidget(self.random_button)
        pick.addWidget(self.next_button)
        self.class_label = QLabel("")
        pick.addWidget(self.class_label)
        pick.addStretch(1)
        layout.addLayout(pick)

        top = QHBoxLayout()
        self.input_view = tip(ImageView(caption="x (input)", placeholder="No image", minimum=IMAGE_MIN),
                              "The test image x being encoded")
        self.mean_view = tip(ImageView(caption="decoded μ", placeholder="", minimum=IMAGE_MIN),
                             "The decoder's output at the posterior mean μ: the VAE's usual reconstruction")
        for view in (self.input_view, self.mean_view):
            view.setMaximumWidth(150)
            top.addWidget(view, 0)
        top.addLayout(self._build_terms_grid(), 1)
        layout.addLayout(top)

        plots = QHBoxLayout()
        self.prior_plot = LatentPlot(role="vae", theme=self.theme)
        self.prior_plot.setToolTip("The prior p(z) = N(0, I) as circles at 1, 2 and 3σ, the test images' codes (μ) as "
                                   "points, and this image's posterior q(z|x) as ellipses. Click a point to pick its image.")
        self.prior_plot.clicked.connect(self._pick_point)
        self.close_plot = LatentPlot(role="vae", theme=self.theme)
        self.close_plot.setToolTip("Close-up of q(z|x): its 1σ (solid) and 2σ (dashed) ellipses and the samples "
                                   "z = μ + σ·ε (stars) decoded below. Drag to decode any point.")
        self.close_plot.probe_changed.connect(self._probe_close)
        for plot in (self.prior_plot, self.close_plot):
            plot.setMinimumSize(PLOT_MIN, PLOT_MIN)
            plots.addWidget(plot, 1)
        layout.addLayout(plots, 1)

        self.samples_strip = tip(ImageStrip(label="z ~ q(z|x)", placeholder="Samples appear here"),
                                 "Codes drawn from the posterior, decoded: the variety the VAE allows for this image")
        self.samples_strip.setMinimumHeight(48)
        self.samples_strip.setMaximumHeight(110)
        layout.addWidget(self.samples_strip)
        self.iwae_label = rich_label("")
        layout.addWidget(self.iwae_label)

    def _build_terms_grid(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(3)
        rows = (
            ("recon", "Reconstruction", "E<sub>q</sub>[−log p(x|z)]",
             f"Bernoulli negative log-likelihood of x, averaged over {elbo.RECON_SAMPLES} codes z ~ q(z|x)"),
            ("kl", "+ KL term", "KL(q(z|x) ‖ p(z))", "How far the posterior is from the prior N(0, I); exact, always ≥ 0"),
            ("nelbo", "= −ELBO", "the VAE's loss", "The negative evidence lower bound: an upper bound on −log p(x)"),
            ("iwae", "IWAE bound", f"k = {elbo.IWAE_K:,} samples",
             "The importance-weighted bound on −log p(x): also an upper bound, and tighter than −ELBO"),
        )
        self.term_values: dict[str, QLabel] = {}
        for r, (key, name, detail, tip_text) in enumerate(rows):
            name_label = QLabel(f"<b>{name}</b>" if key in ("nelbo", "iwae") else name)
            detail_label = QLabel(detail)
            value = QLabel("–")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setMinimumWidth(90)
            for w in (name_label, detail_label, value):
                w.setToolTip(tip_text)
            grid.addWidget(name_label, r, 0)
            grid.addWidget(detail_label, r, 1)
            grid.addWidget(value, r, 2)
            self.term_values[key] = value
        self.bar = TermBar()
        self.bar.setToolTip("−ELBO split into its two terms (reconstruction, KL)")
        grid.addWidget(self.bar, len(rows), 0, 1, 3)
        grid.setRowStretch(len(rows) + 1, 1)
        return grid

    # ------------------------------------------------------------ data and model

    def count(self) -> int:
        return 0 if self.images is None else len(self.images)

    def set_dataset(self, dataset: DatasetContext) -> None:
        """Another dataset's test images: forget the model and the image shown, pick image 0."""
        self.images, self.labels, self.class_names = dataset.images, dataset.labels, dataset.class_names
        self.model, self.space, self.terms, self.iwae, self.index = None, None, None, None, -1
        self.index_spin.blockSignals(True)
        self.index_spin.setRange(0, max(0, self.count() - 1))
        self.index_spin.setValue(0)
        self.index_spin.blockSignals(False)

    def set_model(self, model: VAE, space: LatentSpace) -> None:
        """Show the test images' codes under ``model`` and encode the chosen image."""
        self.model, self.space = model, space
        title = "q(z|x) over the prior p(z)" if not space.is_projected else "q(z|x) over the prior (PCA plane)"
        self.prior_plot.set_space(space, labels=self.labels, title=title)
        self.prior_plot.set_background("prior", True)
        self.close_plot.set_space(space, labels=self.labels, title="Close-up: samples z ~ q(z|x)")
        self.show_image(self.index_spin.value())

    def set_unavailable(self, message: str) -> None:
        """Nothing to show, and why."""
        for plot in (self.prior_plot, self.close_plot):
            plot.set_space(None, empty_message="Not available")
        self.iwae_label.setText(html.escape(message))

    # ------------------------------------------------------------ one image

    def random_image(self) -> None:
        if self.count():
            self.index_spin.setValue(int(self._rng.integers(self.count())))

    def next_image(self) -> None:
        if self.count():
            self.index_spin.setValue((self.index_spin.value() + 1) % self.count())

    def _pick_point(self, x: float, y: float, radius: float) -> None:
        if self.space is None:
            return
        i = self.space.nearest((x, y), radius)
        if i is not None:
            self.index_spin.setValue(i)

    def show_image(self, index: int) -> None:
        """Encode test image ``index`` and show its terms, posterior and samples."""
        if self.model is None or self.space is None or not 0 <= index < self.count():
            return
        if self.index_spin.value() != index:
            self.index_spin.setValue(index)  # comes back here through valueChanged
            return
        self.index = index
        image = self.images[index]
        x = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
        self.terms = elbo.elbo_terms(self.model, image, seed=index)
        self.iwae = elbo.iwae_bound(self.model, image, k=elbo.IWAE_K, seed=index)
        z, samples = elbo.posterior_samples(self.model, image, SAMPLE_COUNT, seed=index)
        reading = self.space.read(x)

        if self.labels is not None:
            label = int(self.labels[index])
            names = self.class_names
            self.class_label.setText(f"class {label}" + (f": {names[label]}" if names and label < len(names) else ""))
        self.input_view.set_image(x)
        self.mean_view.set_image(reading.reconstruction, caption="decoded μ")
        t = self.terms
        for key, value in (("recon", t.recon), ("kl", t.kl), ("nelbo", t.nelbo), ("iwae", self.iwae)):
            self.term_values[key].setText(f"<b>{value:.2f}</b> nats" if key in ("nelbo", "iwae") else f"{value:.2f} nats")
        self.bar.set_terms(t.recon, t.kl)
        gap = t.nelbo - self.iwae
        self.iwae_label.setText(IWAE_NOTE.format(k=elbo.IWAE_K, gap=gap))

        ellipses = [reading.ellipse(self.space, k) for k in (1, 2)]
        sample_xy = self.space.codes_to_plane(z)
        for plot in (self.prior_plot, self.close_plot):
            plot.set_marker(reading.xy, ellipses)
        self.close_plot.set_samples(sample_xy)
        self.prior_plot.set_selection(None)
        half = 1.5 * float(np.max(np.abs(ellipses[1] - np.asarray(reading.xy)))) if ellipses[1] is not None else 0.5
        self.close_plot.zoom_to(reading.xy, max(half, 0.05))
        self.samples_strip.set_images(samples)
        sigma = ", ".join(f"{s:.3f}" for s in t.sigma[:4])
        self.status_changed.emit(
            f"Test image {index}: −ELBO {t.nelbo:.1f} = {t.recon:.1f} + {t.kl:.1f} nats; "
            f"IWAE {self.iwae:.1f}; posterior σ = ({sigma})"
        )

    def _probe_close(self, x: float, y: float) -> None:
        if self.space is None:
            return
        self.close_plot.set_crosshair((x, y))
        self.show_decoded(self.space.decode_plane(np.array([[x, y]]))[0], "decoded at the cross")

    def show_decoded(self, image: np.ndarray, caption: str) -> None:
        """Show a decoded point beside the input (the β study's plots decode here too)."""
        self.mean_view.set_image(image, caption=caption)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for plot in (self.prior_plot, self.close_plot):
            plot.apply_theme(theme)
        self.bar.apply_theme(theme)


class TermBar(QWidget):
    """One horizontal bar: the reconstruction and KL terms to scale, labelled."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._recon = 0.0
        self._kl = 0.0
        self._colors = ("#4c78a8", "#f58518")
        self.setMinimumHeight(26)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_terms(self, recon: float, kl: float) -> None:
        self._recon, self._kl = max(0.0, recon), max(0.0, kl)
        self.update()

    def terms(self) -> tuple[float, float]:
        return self._recon, self._kl

    def apply_theme(self, theme: Theme) -> None:
        self._colors = ("#4c78a8", "#f58518") if not theme.is_dark else ("#6a9fd8", "#ffa94d")
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        total = self._recon + self._kl
        if total <= 0:
            return
        painter = QPainter(self)
        w, h = self.width() - 2, self.height() - 2
        split = w * self._recon / total
        for (x0, x1), color, text in (
            ((1, 1 + split), self._colors[0], "reconstruction"),
            ((1 + split, 1 + w), self._colors[1], "KL"),
        ):
            rect = QRectF(x0, 1, max(0.0, x1 - x0), h)
            painter.fillRect(rect, QColor(color))
            if rect.width() > painter.fontMetrics().horizontalAdvance(text) + 8:
                painter.setPen(QColor("white"))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
