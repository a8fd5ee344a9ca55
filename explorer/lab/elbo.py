"""Lab experiment: the ELBO of one image, term by term, and what beta does to a VAE.

Left: a test image's reconstruction and KL terms, q(z|x) as 1- and 2-sigma
ellipses over the prior's circles, samples z ~ q(z|x) decoded, and the
importance-weighted bound beside -ELBO. Right: a beta slider that trains a 2-D
VAE with that beta (and one with beta = 1, trained the same way) in a child
process, showing both latent spaces and reconstructions side by side.
"""
from __future__ import annotations

import html
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.widgets.image_view import ImageStrip, ImageView
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import LIGHT, Theme
from models.live_space import LiveSpace
from models.threads import training_thread_choices
from explorer.background.training import TrainingBusyError, TrainingController
from models import data, elbo
from models.checkpoint import CheckpointError, bundled_models_dir, load_checkpoint
from models.jobs import EpochReport, JobFailed, JobFinished, JobStarted, ModelSnapshot, TrainJob
from models.latent_space import LatentSpace
from models.nets import VAE, NetConfig
from models.train import TrainConfig

log = logging.getLogger(__name__)

SAMPLE_COUNT = 8
SLIDER_STEPS = 40  # beta from 0.1 to 10 on a log scale, two steps per factor ~1.26
DEFAULT_BETA = 4.0
BETA_EPOCHS = 10
SHOWN_RECONSTRUCTIONS = 8
REDRAW_MS = 200
PROBE_COUNT = 2000  # test images each beta run encodes for its scatter

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
BETA_INTRO = (
    "β weighs the KL term: the loss becomes reconstruction + β·KL. With large β the posteriors are pulled "
    "onto the prior — codes crowd together and outputs blur into average shapes; with small β the VAE acts "
    "more like a plain autoencoder — sharper outputs, a less regular latent space."
)


@dataclass(frozen=True)
class BetaRun:
    """One finished short training run, kept for the session."""

    beta: float
    space: LatentSpace  # its codes of the probe images (decodes with the run's final decoder)
    labels: np.ndarray
    reconstructions: np.ndarray  # (SHOWN_RECONSTRUCTIONS, H, W)
    recon: float  # test reconstruction term, nats per image
    kl: float  # test KL term, nats per image
    sharpness: float  # edge strength of the reconstructions / the originals'
    note: str  # what it was trained on, for the plot title


def bundled_dataset_of(images: np.ndarray | None) -> str | None:
    """Which dataset ``images`` are the test set of (MNIST or Fashion-MNIST, whose test sets
    ship with the app), judged by their first images; None for any other images. Lets a
    tab made with just the window's images pick the models trained on them."""
    if images is None or len(images) == 0:
        return None
    head = np.asarray(images[:8])
    if head.dtype != np.uint8:
        head = np.clip(np.round(head * 255.0), 0, 255).astype(np.uint8)
    for name in data.BUNDLED_DATASETS:
        try:
            reference = data.load_bundled(name).test_images[:8]
        except data.DataError:
            continue
        if head.shape == reference.shape and np.array_equal(head, reference):
            return name
    return None


def _fmt_beta(beta: float) -> str:
    return f"{beta:g}"


def _tip(widget: QWidget, text: str) -> QWidget:
    widget.setToolTip(text)
    return widget


def _wrap(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


class ElboExperiment(QWidget):
    """The ELBO of one test image, term by term, and a beta slider that retrains a VAE."""

    status_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        images: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        theme: Theme = LIGHT,
        dataset: str | None = None,
        model_path: str | Path | None = None,
        class_names: tuple[str, ...] | None = None,
        beta_epochs: int = BETA_EPOCHS,
        beta_hidden: tuple[int, ...] = (512, 256),
        job_overrides: dict | None = None,
    ):
        super().__init__(parent)
        self.images = images
        self.labels = labels
        self.theme = theme
        # Without a model: the bundled VAE of the dataset these images come from.
        if model_path is None and images is not None:
            dataset = dataset or bundled_dataset_of(images)
            model_path = bundled_models_dir(dataset) / "vae.pt" if dataset else None
            if class_names is None and dataset:
                class_names = data.get_spec(dataset).class_names
        self.model_path = Path(model_path) if model_path is not None else None
        self.class_names = tuple(class_names) if class_names is not None else None
        self.beta_epochs = beta_epochs
        self.beta_hidden = tuple(beta_hidden)
        # Tests point the runs at tiny data and fast snapshots.
        self.job_overrides = dict(job_overrides or {})
        self.model: VAE | None = None
        self.space: LatentSpace | None = None
        self.index = -1
        self.terms: elbo.ElboTerms | None = None
        self.iwae: float | None = None
        self.runs: dict[float, BetaRun] = {}
        self.last_error = ""
        self._loaded = False
        self._rng = np.random.default_rng()
        self._job: TrainJob | None = None
        self._job_betas: tuple[float, ...] = ()
        self._info: JobStarted | None = None
        self._reports: dict[int, EpochReport] = {}
        self.probe_indices = np.zeros(0, dtype=np.int64)
        self.shown_count = 0
        self._started_at = 0.0
        self._drawn: dict[int, ModelSnapshot] = {}
        self._side_beta: dict[str, float] = {}

        self.controller = TrainingController(self)
        self.controller.started.connect(self._on_started)
        self.controller.epoch_finished.connect(self._on_epoch)
        self.controller.finished.connect(self._on_finished)
        self.controller.failed.connect(self._on_failed)
        self.controller.state_changed.connect(self._update_enabled)
        self._redraw_timer = QTimer(self, interval=REDRAW_MS)
        self._redraw_timer.timeout.connect(self.redraw)

        self._build_ui()
        self.apply_theme(theme)
        self._update_enabled()

    # ------------------------------------------------------------ layout

    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_image_box())
        splitter.addWidget(self._build_beta_box())
        splitter.setSizes([700, 700])
        root.addWidget(splitter)

    def _build_image_box(self) -> QGroupBox:
        box = QGroupBox("One image, term by term")
        layout = QVBoxLayout(box)
        layout.setSpacing(6)
        layout.addWidget(_wrap(INTRO))

        pick = QHBoxLayout()
        pick.addWidget(QLabel("Test image"))
        self.index_spin = _tip(QSpinBox(), "Which test image to encode (its index in the test set)")
        self.index_spin.setRange(0, max(0, self._count() - 1))
        self.index_spin.valueChanged.connect(self.show_image)
        pick.addWidget(self.index_spin)
        self.random_button = _tip(QPushButton("Random"), "A random test image")
        self.random_button.clicked.connect(self.random_image)
        self.next_button = _tip(QPushButton("Next"), "The next test image")
        self.next_button.clicked.connect(self.next_image)
        pick.addWidget(self.random_button)
        pick.addWidget(self.next_button)
        self.class_label = QLabel("")
        pick.addWidget(self.class_label)
        pick.addStretch(1)
        layout.addLayout(pick)

        top = QHBoxLayout()
        self.input_view = _tip(ImageView(caption="x (input)", placeholder="No image", minimum=96),
                               "The test image x being encoded")
        self.mean_view = _tip(ImageView(caption="decoded μ", placeholder="", minimum=96),
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
            plot.setMinimumSize(220, 220)
            plots.addWidget(plot, 1)
        layout.addLayout(plots, 1)

        self.samples_strip = _tip(ImageStrip(label="z ~ q(z|x)", placeholder="Samples appear here"),
                                  "Codes drawn from the posterior, decoded: the variety the VAE allows for this image")
        self.samples_strip.setMinimumHeight(80)
        self.samples_strip.setMaximumHeight(110)
        layout.addWidget(self.samples_strip)
        self.iwae_label = _wrap("")
        layout.addWidget(self.iwae_label)
        return box

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
        for r, (key, name, detail, tip) in enumerate(rows):
            name_label = QLabel(f"<b>{name}</b>" if key in ("nelbo", "iwae") else name)
            detail_label = QLabel(detail)
            value = QLabel("–")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setMinimumWidth(90)
            for w in (name_label, detail_label, value):
                w.setToolTip(tip)
            grid.addWidget(name_label, r, 0)
            grid.addWidget(detail_label, r, 1)
            grid.addWidget(value, r, 2)
            self.term_values[key] = value
        self.bar = _TermBar()
        self.bar.setToolTip("−ELBO split into its two terms (reconstruction, KL)")
        grid.addWidget(self.bar, len(rows), 0, 1, 3)
        grid.setRowStretch(len(rows) + 1, 1)
        return grid

    def _build_beta_box(self) -> QGroupBox:
        box = QGroupBox("β: how much the KL term weighs")
        layout = QVBoxLayout(box)
        layout.setSpacing(6)
        layout.addWidget(_wrap(BETA_INTRO))

        row = QHBoxLayout()
        row.addWidget(QLabel("β"))
        self.beta_slider = _tip(QSlider(Qt.Orientation.Horizontal),
                                f"The weight of the KL term, {elbo.BETA_MIN:g} to {elbo.BETA_MAX:g} on a log scale")
        self.beta_slider.setRange(0, SLIDER_STEPS)
        self.beta_slider.setPageStep(5)
        self.beta_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.beta_slider.setTickInterval(SLIDER_STEPS // 4)
        self.beta_slider.setValue(elbo.position_from_beta(DEFAULT_BETA, SLIDER_STEPS))
        self.beta_slider.valueChanged.connect(self._beta_moved)
        row.addWidget(self.beta_slider, 1)
        self.beta_label = QLabel("")
        self.beta_label.setMinimumWidth(64)
        row.addWidget(self.beta_label)
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.train_beta)
        self.cancel_button = _tip(QPushButton("Cancel"), "Stop the training run (nothing is kept)")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.train_button)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not started")
        layout.addWidget(self.progress)
        self.run_label = _wrap("")
        layout.addWidget(self.run_label)

        plots = QHBoxLayout()
        self.beta_plots: dict[str, LatentPlot] = {}
        for side in ("reference", "chosen"):
            plot = LatentPlot(role="vae", theme=self.theme)
            plot.setMinimumSize(220, 220)
            plot.setToolTip("The codes (posterior means μ) of 2,000 test images under this run's VAE, "
                            "over the prior's circles. Drag to decode a point (shown top left, under the input).")
            plot.set_background("prior", True)
            plot.probe_changed.connect(lambda x, y, s=side: self._probe_beta(s, x, y))
            self.beta_plots[side] = plot
            plots.addWidget(plot, 1)
        layout.addLayout(plots, 1)

        self.beta_strips: dict[str, ImageStrip] = {}
        for side, label in (("input", "test images"), ("reference", "β = 1"), ("chosen", "β = ?")):
            strip = ImageStrip(label=label, placeholder="Reconstructions appear when a run finishes")
            strip.setMinimumHeight(56)
            strip.setMaximumHeight(84)
            self.beta_strips[side] = strip
            layout.addWidget(strip)
        width = max(s.natural_label_width() for s in self.beta_strips.values()) + 30
        for strip in self.beta_strips.values():
            strip.set_min_label_width(width)
        self.compare_label = _wrap("")
        layout.addWidget(self.compare_label)
        self._beta_moved()
        return box

    # ------------------------------------------------------------ data and model

    def _count(self) -> int:
        return 0 if self.images is None else len(self.images)

    def ensure_loaded(self) -> bool:
        """Load the bundled VAE and encode the test images (once, when first shown)."""
        if self._loaded:
            return self.model is not None
        self._loaded = True
        if self._count() == 0:
            self._set_unavailable("No test images are loaded, so there is nothing to encode.")
            return False
        if self.model_path is None or not self.model_path.is_file():
            self._set_unavailable("No VAE is bundled for these images: the ELBO tab has one for MNIST and for "
                                  "Fashion-MNIST (View › Dataset).")
            return False
        try:
            ck = load_checkpoint(self.model_path, expect_kind="vae")
        except CheckpointError as exc:
            self._set_unavailable(f"The VAE could not be loaded: {exc}")
            return False
        if ck.config.pixels != int(np.prod(self.images.shape[1:])):
            self._set_unavailable(f"{ck.name} was trained on {ck.config.image_shape} images; these are {self.images.shape[1:]}")
            return False
        self.model = ck.model
        self.space = LatentSpace(ck.model, self.images)
        title = "q(z|x) over the prior p(z)" if not self.space.is_projected else "q(z|x) over the prior (PCA plane)"
        self.prior_plot.set_space(self.space, labels=self.labels, title=title)
        self.prior_plot.set_background("prior", True)
        self.close_plot.set_space(self.space, labels=self.labels, title="Close-up: samples z ~ q(z|x)")
        self._choose_probes()
        self._show_bundled_reference()
        self.show_image(self.index_spin.value())
        return True

    def set_dataset(
        self, images: np.ndarray | None, labels: np.ndarray | None, *, model_path: str | Path,
        class_names: tuple[str, ...] | None = None,
    ) -> None:
        """Another dataset: its test images and the VAE trained on it (e.g.
        ``bundled_models_dir("fashion-mnist") / "vae.pt"``). A beta run going is
        stopped and the finished ones are forgotten: they were trained on the old images."""
        self.controller.shutdown(1.0)
        self._redraw_timer.stop()
        self.images, self.labels = images, labels
        self.model_path = Path(model_path)
        self.class_names = tuple(class_names) if class_names is not None else None
        self.runs.clear()
        self.model, self.space, self.terms, self.iwae, self.index = None, None, None, None, -1
        self._loaded = False
        self.index_spin.blockSignals(True)
        self.index_spin.setRange(0, max(0, self._count() - 1))
        self.index_spin.setValue(0)
        self.index_spin.blockSignals(False)
        self.progress.setValue(0)
        self.progress.setFormat("Not started")
        self._update_enabled()
        self._beta_moved()
        if self.isVisible():
            self.ensure_loaded()

    def _set_unavailable(self, message: str) -> None:
        self.last_error = message
        for plot in (self.prior_plot, self.close_plot):
            plot.set_space(None, empty_message="Not available")
        self.iwae_label.setText(html.escape(message))
        self.status_changed.emit(message)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        # Loading waits for the tab to be opened, so the window starts fast.
        QTimer.singleShot(0, self.ensure_loaded)

    # ------------------------------------------------------------ one image

    def random_image(self) -> None:
        if self._count():
            self.index_spin.setValue(int(self._rng.integers(self._count())))

    def next_image(self) -> None:
        if self._count():
            self.index_spin.setValue((self.index_spin.value() + 1) % self._count())

    def _pick_point(self, x: float, y: float, radius: float) -> None:
        if self.space is None:
            return
        i = self.space.nearest((x, y), radius)
        if i is not None:
            self.index_spin.setValue(i)

    def show_image(self, index: int) -> None:
        """Encode test image ``index`` and show its terms, posterior and samples."""
        if not self.ensure_loaded() or not 0 <= index < self._count():
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
        self.mean_view.set_image(self.space.decode_plane(np.array([[x, y]]))[0], caption="decoded at the cross")

    # ------------------------------------------------------------ beta runs

    def current_beta(self) -> float:
        return elbo.beta_from_position(self.beta_slider.value(), SLIDER_STEPS)

    def set_beta(self, beta: float) -> None:
        self.beta_slider.setValue(elbo.position_from_beta(beta, SLIDER_STEPS))

    def _beta_moved(self, *args) -> None:
        beta = self.current_beta()
        self.beta_label.setText(f"β = {_fmt_beta(beta)}")
        cached = beta in self.runs
        self.train_button.setText(f"Show β = {_fmt_beta(beta)}" if cached else f"Train β = {_fmt_beta(beta)}")
        self.train_button.setToolTip(
            "This β was trained earlier in this session: show it again" if cached else
            f"Train a 2-D VAE with β = {_fmt_beta(beta)} for {self.beta_epochs} epochs on the {self._count():,} test images "
            "in the background" + ("" if 1.0 in self.runs else ", together with one with β = 1 for comparison")
        )
        if cached and not self.controller.is_active:
            self._show_run("chosen", self.runs[beta])

    def _choose_probes(self) -> None:
        """The test images every run encodes: one per class for the strips, then random ones."""
        n = self._count()
        shown = self._display_indices(np.arange(n), self._labels_or_zeros())
        rest = np.setdiff1d(np.arange(n), shown)
        rest = np.random.default_rng(0).permutation(rest)[: max(0, PROBE_COUNT - len(shown))]
        self.probe_indices = np.concatenate([shown, np.sort(rest)])
        self.shown_count = len(shown)

    def _show_bundled_reference(self) -> None:
        """Before any run: the bundled VAE (beta = 1, trained longer on more images) as the reference."""
        if 1.0 in self.runs or self.model is None:
            return
        probes = self.probe_indices
        space = LatentSpace(self.model, self.images[probes])
        plot = self.beta_plots["reference"]
        plot.set_space(space, labels=self._labels_or_zeros()[probes], title="β = 1 (the bundled VAE)")
        plot.set_background("prior", True)
        self._side_beta["reference"] = 1.0
        self.beta_strips["reference"].set_images(space.reconstruct(np.arange(self.shown_count)))
        self.beta_strips["reference"].set_label("β = 1 (bundled)")
        self.beta_plots["chosen"].set_space(None, title="β = ?", empty_message="Pick β, then Train")
        self.beta_strips["input"].set_images(self._float_images(probes[: self.shown_count]))
        self.run_label.setText(
            f"Train runs {self.beta_epochs} epochs on the {self._count():,} test images in a separate process "
            "(about a minute on two CPU cores), together with a β = 1 model trained the same way so the two compare fairly. "
            "Finished runs are kept until the app closes."
        )

    def _labels_or_zeros(self) -> np.ndarray:
        return np.asarray(self.labels) if self.labels is not None else np.zeros(self._count(), dtype=np.int64)

    def _float_images(self, indices: np.ndarray) -> np.ndarray:
        x = np.asarray(self.images)[indices]
        return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)

    @staticmethod
    def _display_indices(candidates: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """One image of each of the first classes among the candidates (else the first few)."""
        picked = []
        for c in range(SHOWN_RECONSTRUCTIONS):
            hits = np.flatnonzero(labels == c)
            if len(hits):
                picked.append(int(candidates[hits[0]]))
        if len(picked) < SHOWN_RECONSTRUCTIONS:
            rest = [int(i) for i in candidates if int(i) not in picked]
            picked += rest[: SHOWN_RECONSTRUCTIONS - len(picked)]
        return np.asarray(picked, dtype=np.int64)

    def make_job(self, betas: tuple[float, ...]) -> TrainJob:
        images = np.asarray(self.images)
        labels = self._labels_or_zeros()
        configs = tuple(NetConfig(kind="vae", latent=2, hidden=self.beta_hidden, beta=b) for b in betas)
        # The "test" set is the fixed probe set, so every snapshot encodes exactly it.
        probes = self.probe_indices
        options = dict(
            arrays=(images, images[probes], labels[probes]),
            probe_count=len(probes),
            snapshot_interval_s=0.5,
            thread_choices=training_thread_choices(),
        )
        options.update(self.job_overrides)
        return TrainJob(configs=configs, train=TrainConfig(epochs=self.beta_epochs, seed=0), **options)

    def train_beta(self) -> bool:
        """Train the slider's beta (and beta = 1 if not yet trained), or show the cached run."""
        beta = self.current_beta()
        if beta in self.runs:
            self._show_run("chosen", self.runs[beta])
            if 1.0 in self.runs:
                self._show_run("reference", self.runs[1.0])
            return True
        if not self.ensure_loaded():
            return False
        if self.controller.is_active:
            self.run_label.setText("A run is already going: cancel it first.")
            return False
        betas = (beta,) if beta == 1.0 or 1.0 in self.runs else (1.0, beta)
        job = self.make_job(betas)
        try:
            self.controller.start(job)
        except (TrainingBusyError, OSError) as exc:
            self._fail(f"The training process could not be started: {exc}")
            return False
        self._job, self._job_betas = job, betas
        self._info = None
        self._reports.clear()
        self._drawn.clear()
        self._started_at = time.monotonic()
        self.last_error = ""
        both = " and β = 1" if len(betas) > 1 else ""
        self.run_label.setText(f"Training β = {_fmt_beta(beta)}{both} in the background; the plots follow the training.")
        self.progress.setValue(0)
        self.progress.setFormat("Starting the training process…")
        self._redraw_timer.start()
        self.status_changed.emit(f"Training a VAE with β = {_fmt_beta(beta)}{both}")
        return True

    def cancel(self) -> None:
        self.controller.stop()

    def _side_of(self, index: int) -> str:
        return "reference" if self._job_betas[index] == 1.0 else "chosen"

    @Slot(object)
    def _on_started(self, info: JobStarted) -> None:
        self._info = info

    @Slot(object)
    def _on_epoch(self, report: EpochReport) -> None:
        self._reports[report.index] = report

    def redraw(self) -> None:
        """Draw the latest snapshot of each model being trained (timer-driven)."""
        if self._info is None or self._job is None:
            return
        latest = dict(self.controller.latest)
        for index, snap in latest.items():
            if self._drawn.get(index) is snap:
                continue
            self._drawn[index] = snap
            side = self._side_of(index)
            space = LiveSpace(self._job.configs[index], snap)
            plot = self.beta_plots[side]
            beta = self._job_betas[index]
            title = f"β = {_fmt_beta(beta)} (training, epoch {snap.epoch + 1}/{self.beta_epochs})"
            self._show_space(plot, space, title)
            recon = space.decode_codes(snap.probe_codes[: self.shown_count])
            self.beta_strips[side].set_images(recon)
            self.beta_strips[side].set_label(f"β = {_fmt_beta(beta)}")
            self._side_beta[side] = beta
        snap = latest.get(0)
        if snap is not None:
            frac = snap.step / max(1, snap.total_steps)
            elapsed = time.monotonic() - self._started_at
            left = elapsed * (1 - frac) / frac if frac > 0.02 else None
            self.progress.setValue(int(1000 * frac))
            eta = f" · about {left:.0f} s left" if left is not None else ""
            self.progress.setFormat(f"Epoch {min(snap.epoch + 1, self.beta_epochs)}/{self.beta_epochs} · "
                                    f"{snap.samples_per_s:,.0f} samples/s{eta}")

    def _show_space(self, plot: LatentPlot, space: LatentSpace, title: str) -> None:
        labels = self._labels_or_zeros()[self.probe_indices]
        if plot.space is None:
            plot.set_space(space, labels=labels, title=title)
            return
        # Move the points in place, keeping the view unless the codes left it (or shrank in it).
        plot.move_codes(space)
        plot.setTitle(title, color=self.theme.foreground, size="11pt")
        plot.follow_codes()

    @Slot(object)
    def _on_finished(self, msg: JobFinished) -> None:
        self._redraw_timer.stop()
        self.redraw()
        if msg.stopped:
            self.progress.setFormat("Cancelled")
            self.progress.setValue(0)
            self._drawn.clear()
            if 1.0 in self.runs:
                self._show_run("reference", self.runs[1.0])
            else:
                self._show_bundled_reference()
            self.beta_plots["chosen"].set_space(None, title="β = ?", empty_message="Cancelled")
            self.beta_strips["chosen"].clear()
            self.run_label.setText("Training was cancelled; nothing was kept. Press Train to start again.")
            self.status_changed.emit("β training cancelled")
            return
        originals = self._float_images(self.probe_indices[: self.shown_count])
        for index, beta in enumerate(self._job_betas):
            snap = self.controller.latest.get(index)
            if snap is None:
                continue
            space = LiveSpace(self._job.configs[index], snap)
            recon_images = space.decode_codes(snap.probe_codes[: self.shown_count])
            test = self._reports.get(index).test if index in self._reports else {}
            self.runs[beta] = BetaRun(
                beta=beta,
                space=space,
                labels=self._labels_or_zeros()[self.probe_indices],
                reconstructions=recon_images,
                recon=float(test.get("recon", float("nan"))),
                kl=float(test.get("kl", float("nan"))),
                sharpness=elbo.sharpness(recon_images, originals),
                note=f"{self.beta_epochs} epochs",
            )
        self.progress.setValue(1000)
        self.progress.setFormat(f"Finished in {msg.seconds:.0f} s")
        chosen = self._job_betas[-1]
        if 1.0 in self.runs:
            self._show_run("reference", self.runs[1.0])
        self._show_run("chosen", self.runs[chosen])
        self.run_label.setText(f"Finished in {msg.seconds:.0f} s. Move the slider to another β and press Train to compare; "
                               "runs already trained show at once.")
        self._beta_moved()
        self.status_changed.emit(f"β = {_fmt_beta(chosen)} trained in {msg.seconds:.0f} s")

    @Slot(object)
    def _on_failed(self, msg: JobFailed) -> None:
        self._redraw_timer.stop()
        self.progress.setFormat("Training failed")
        self._fail(msg.message)

    def _fail(self, message: str) -> None:
        self.last_error = message
        text = message[:1].upper() + message[1:]
        self.run_label.setText(f"<b>Training stopped:</b> {html.escape(text)}")
        self.status_changed.emit(f"β training failed: {message}")

    def _show_run(self, side: str, run: BetaRun) -> None:
        plot = self.beta_plots[side]
        self._side_beta[side] = run.beta
        title = f"β = {_fmt_beta(run.beta)} ({run.note})"
        plot.set_space(run.space, labels=run.labels, title=title)
        plot.set_background("prior", True)
        self.beta_strips[side].set_images(run.reconstructions)
        self.beta_strips[side].set_label(f"β = {_fmt_beta(run.beta)}")
        self._update_comparison()

    def _update_comparison(self) -> None:
        ref, chosen = self.runs.get(1.0), self.runs.get(self.current_beta())
        rows = [r for r in (ref, chosen if chosen is not ref else None) if r is not None]
        if not rows:
            self.compare_label.setText("")
            return
        cells = "".join(
            f"<tr><td><b>β = {_fmt_beta(r.beta)}</b></td><td align='right'>{r.recon:.1f}</td>"
            f"<td align='right'>{r.kl:.2f}</td><td align='right'>{100 * r.sharpness:.0f} %</td>"
            f"<td align='right'>{float(np.std(r.space.xy, axis=0).mean()):.2f}</td>"
            f"<td align='right'>{elbo.active_dimensions(r.space.codes)} of {r.space.latent}</td></tr>"
            for r in rows
        )
        collapsed = [r for r in rows if elbo.active_dimensions(r.space.codes) < r.space.latent]
        note = "".join(
            f" At β = {_fmt_beta(r.beta)}, {r.space.latent - elbo.active_dimensions(r.space.codes)} latent dimension(s) "
            "no longer vary between images: the KL term pushed them onto the prior (posterior collapse)."
            for r in collapsed
        )
        self.compare_label.setText(
            "<table cellspacing='0' cellpadding='3'><tr><th align='left'></th><th>&nbsp;reconstruction&nbsp;</th>"
            "<th>&nbsp;KL&nbsp;</th><th>&nbsp;sharpness&nbsp;</th><th>&nbsp;spread of μ&nbsp;</th><th>&nbsp;dimensions used&nbsp;</th></tr>"
            + cells + "</table>"
            "<span>Nats per test image. Sharpness: edge strength of the reconstructions above, as a share of the "
            "originals'. Spread: standard deviation of the codes; a dimension is used when its codes vary "
            f"(variance above {elbo.ACTIVE_VARIANCE:g}).{note}</span>"
        )

    def _probe_beta(self, side: str, x: float, y: float) -> None:
        plot = self.beta_plots[side]
        if plot.space is None:
            return
        plot.set_crosshair((x, y))
        image = plot.space.decode_plane(np.array([[x, y]]))[0]
        beta = self._side_beta.get(side)
        self.mean_view.set_image(image, caption=f"decoded, β = {_fmt_beta(beta)}" if beta is not None else "decoded")

    def _update_enabled(self, *args) -> None:
        active = self.controller.is_active
        self.train_button.setEnabled(not active)
        self.cancel_button.setEnabled(self.controller.state in ("starting", "running", "paused"))
        self.beta_slider.setEnabled(not active)

    # ------------------------------------------------------------ lab hooks

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for plot in (self.prior_plot, self.close_plot, *self.beta_plots.values()):
            plot.apply_theme(theme)
        self.bar.apply_theme(theme)

    def demo(self) -> None:
        """A digit whose posterior and samples are easy to see."""
        self.ensure_loaded()
        if self._count():
            self.show_image(0)

    def shutdown(self, timeout: float = 1.0) -> None:
        self._redraw_timer.stop()
        self.controller.shutdown(timeout)


class _TermBar(QWidget):
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
        from PySide6.QtCore import QRectF
        from PySide6.QtGui import QColor, QPainter

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
