"""The ELBO experiment's right half: a β slider that trains a 2-D VAE with that β (and
one with β = 1, trained the same way) in a child process, showing both latent spaces
and reconstructions side by side as they train, and what the KL term's weight did."""
from __future__ import annotations

import html
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from explorer.background.training import TrainingBusyError, TrainingController
from explorer.lab.elbo_terms import PLOT_MIN, rich_label, tip
from explorer.startup import DatasetContext, empty_context
from explorer.widgets.image_view import ImageStrip
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import LIGHT, Theme
from models import elbo
from models.data import unit_floats
from models.jobs import EpochReport, ImageArrays, JobFailed, JobFinished, JobStarted, ModelSnapshot, TrainJob
from models.latent_space import LatentSpace
from models.live_space import LiveSpace
from models.nets import VAE, NetConfig
from models.threads import training_thread_choices
from models.train import TrainConfig

SLIDER_STEPS = 40  # beta from 0.1 to 10 on a log scale: fine enough to land on 1 and on round values
DEFAULT_BETA = 4.0
BETA_EPOCHS = 10
SHOWN_RECONSTRUCTIONS = 8
REDRAW_MS = 200
SNAPSHOT_INTERVAL_S = 0.5  # more often than a Train-panel run: these runs are short, and their codes should be seen moving
PROBE_COUNT = 2000  # test images each beta run encodes for its scatter

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


def fmt_beta(beta: float) -> str:
    return f"{beta:g}"


def display_indices(candidates: np.ndarray, labels: np.ndarray) -> np.ndarray:
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


def comparison_html(rows: list[BetaRun]) -> str:
    """The finished runs side by side: their terms, sharpness, spread and used dimensions."""
    if not rows:
        return ""
    cells = "".join(
        f"<tr><td><b>β = {fmt_beta(r.beta)}</b></td><td align='right'>{r.recon:.1f}</td>"
        f"<td align='right'>{r.kl:.2f}</td><td align='right'>{100 * r.sharpness:.0f} %</td>"
        f"<td align='right'>{float(np.std(r.space.xy, axis=0).mean()):.2f}</td>"
        f"<td align='right'>{elbo.active_dimensions(r.space.codes)} of {r.space.latent}</td></tr>"
        for r in rows
    )
    collapsed = [r for r in rows if elbo.active_dimensions(r.space.codes) < r.space.latent]
    note = "".join(
        f" At β = {fmt_beta(r.beta)}, {r.space.latent - elbo.active_dimensions(r.space.codes)} latent dimension(s) "
        "no longer vary between images: the KL term pushed them onto the prior (posterior collapse)."
        for r in collapsed
    )
    return (
        "<table cellspacing='0' cellpadding='3'><tr><th align='left'></th><th>&nbsp;reconstruction&nbsp;</th>"
        "<th>&nbsp;KL&nbsp;</th><th>&nbsp;sharpness&nbsp;</th><th>&nbsp;spread of μ&nbsp;</th><th>&nbsp;dimensions used&nbsp;</th></tr>"
        + cells + "</table>"
        "<span>Nats per test image. Sharpness: edge strength of the reconstructions above, as a share of the "
        "originals'. Spread: standard deviation of the codes; a dimension is used when its codes vary "
        f"(variance above {elbo.ACTIVE_VARIANCE:g}).{note}</span>"
    )


class BetaStudy(QGroupBox):
    """Train 2-D VAEs with the slider's β and with β = 1 in the background and compare
    them; finished runs are kept for the session. ``set_dataset`` hands it the test
    images (a run going is stopped, the finished ones forgotten) and ``show_bundled``
    the bundled VAE, which stands in for β = 1 until a run exists.

    The runs train on the dataset's test images. ``decoded(image, caption)``: a point
    dragged on a plot, decoded.
    """

    status_changed = Signal(str)
    decoded = Signal(object, str)

    def __init__(
        self,
        *,
        theme: Theme = LIGHT,
        epochs: int = BETA_EPOCHS,
        hidden: tuple[int, ...] = (512, 256),
        snapshot_interval_s: float = SNAPSHOT_INTERVAL_S,
        parent: QWidget | None = None,
    ):
        super().__init__("β: how much the KL term weighs", parent)
        self.theme = theme
        self.epochs = epochs
        self.hidden = tuple(hidden)
        self.snapshot_interval_s = snapshot_interval_s
        self.dataset = empty_context()
        self.images: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.runs: dict[float, BetaRun] = {}
        self.last_error = ""
        self.probe_indices = np.zeros(0, dtype=np.int64)
        self.shown_count = 0
        self._job: TrainJob | None = None
        self._job_betas: tuple[float, ...] = ()
        self._info: JobStarted | None = None
        self._reports: dict[int, EpochReport] = {}
        self._started_at = 0.0
        self._drawn: dict[int, ModelSnapshot] = {}
        self._side_beta: dict[str, float] = {}  # which beta each plot shows, for the decoded image's caption
        self._bundled: VAE | None = None

        self.controller = TrainingController(self)
        self.controller.started.connect(self._on_started)
        self.controller.epoch_finished.connect(self._on_epoch)
        self.controller.finished.connect(self._on_finished)
        self.controller.failed.connect(self._on_failed)
        self.controller.state_changed.connect(self._update_enabled)
        self._redraw_timer = QTimer(self, interval=REDRAW_MS)
        self._redraw_timer.timeout.connect(self.redraw)
        self._build_ui()
        self._update_enabled()

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addWidget(rich_label(BETA_INTRO))

        row = QHBoxLayout()
        row.addWidget(QLabel("β"))
        self.beta_slider = tip(QSlider(Qt.Orientation.Horizontal),
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
        self.cancel_button = tip(QPushButton("Cancel"), "Stop the training run (nothing is kept)")
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
        self.run_label = rich_label("")
        layout.addWidget(self.run_label)

        plots = QHBoxLayout()
        self.beta_plots: dict[str, LatentPlot] = {}
        for side in ("reference", "chosen"):
            plot = LatentPlot(role="vae", theme=self.theme)
            plot.setMinimumSize(PLOT_MIN, PLOT_MIN)
            plot.setToolTip("The codes (posterior means μ) of 2,000 test images under this run's VAE, "
                            "over the prior's circles. Drag to decode a point (shown top left, under the input).")
            plot.set_background("prior", True)
            plot.probe_changed.connect(lambda x, y, s=side: self._probe(s, x, y))
            self.beta_plots[side] = plot
            plots.addWidget(plot, 1)
        layout.addLayout(plots, 1)

        self.beta_strips: dict[str, ImageStrip] = {}
        for side, label in (("input", "test images"), ("reference", "β = 1"), ("chosen", "β = ?")):
            strip = ImageStrip(label=label, placeholder="Reconstructions appear when a run finishes")
            strip.setMinimumHeight(40)
            strip.setMaximumHeight(84)
            self.beta_strips[side] = strip
            layout.addWidget(strip)
        width = max(s.natural_label_width() for s in self.beta_strips.values()) + 30
        for strip in self.beta_strips.values():
            strip.set_min_label_width(width)
        self.compare_label = rich_label("")
        layout.addWidget(self.compare_label)
        self._beta_moved()

    # ------------------------------------------------------------ images and the bundled VAE

    def count(self) -> int:
        return 0 if self.images is None else len(self.images)

    def set_dataset(self, dataset: DatasetContext) -> None:
        """Another dataset's test images: stop a run going and forget the finished ones,
        which were trained on the old images."""
        self.controller.shutdown(1.0)
        self._redraw_timer.stop()
        self.dataset = dataset
        self.images, self.labels = dataset.images, dataset.labels
        self.runs.clear()
        self._drawn.clear()
        self._bundled = None
        self._choose_probes()
        self.progress.setValue(0)
        self.progress.setFormat("Not started")
        self._update_enabled()
        self._beta_moved()

    def _choose_probes(self) -> None:
        """The test images every run encodes: one per class for the strips, then random ones."""
        n = self.count()
        shown = display_indices(np.arange(n), self._labels_or_zeros())
        rest = np.setdiff1d(np.arange(n), shown)
        rest = np.random.default_rng(0).permutation(rest)[: max(0, PROBE_COUNT - len(shown))]
        self.probe_indices = np.concatenate([shown, np.sort(rest)])
        self.shown_count = len(shown)

    def show_bundled(self, model: VAE) -> None:
        """Before any run: the bundled VAE (beta = 1, trained longer on more images) as the reference."""
        self._bundled = model
        if 1.0 in self.runs:
            return
        probes = self.probe_indices
        space = LatentSpace(model, self.images[probes])
        plot = self.beta_plots["reference"]
        plot.set_space(space, labels=self._labels_or_zeros()[probes], title="β = 1 (the bundled VAE)")
        plot.set_background("prior", True)
        self._side_beta["reference"] = 1.0
        self.beta_strips["reference"].set_images(space.reconstruct(np.arange(self.shown_count)))
        self.beta_strips["reference"].set_label("β = 1 (bundled)")
        self.beta_plots["chosen"].set_space(None, title="β = ?", empty_message="Pick β, then Train")
        self.beta_strips["input"].set_images(self._float_images(probes[: self.shown_count]))
        self.run_label.setText(
            f"Train runs {self.epochs} epochs on the {self.count():,} test images in a separate process "
            "(about a minute on two CPU cores), together with a β = 1 model trained the same way so the two compare fairly. "
            "Finished runs are kept until the app closes."
        )

    def _labels_or_zeros(self) -> np.ndarray:
        return np.asarray(self.labels) if self.labels is not None else np.zeros(self.count(), dtype=np.int64)

    def _float_images(self, indices: np.ndarray) -> np.ndarray:
        return unit_floats(np.asarray(self.images)[indices])

    # ------------------------------------------------------------ the slider

    def current_beta(self) -> float:
        return elbo.beta_from_position(self.beta_slider.value(), SLIDER_STEPS)

    def set_beta(self, beta: float) -> None:
        self.beta_slider.setValue(elbo.position_from_beta(beta, SLIDER_STEPS))

    def _beta_moved(self, *args) -> None:
        beta = self.current_beta()
        self.beta_label.setText(f"β = {fmt_beta(beta)}")
        cached = beta in self.runs
        self.train_button.setText(f"Show β = {fmt_beta(beta)}" if cached else f"Train β = {fmt_beta(beta)}")
        self.train_button.setToolTip(
            "This β was trained earlier in this session: show it again" if cached else
            f"Train a 2-D VAE with β = {fmt_beta(beta)} for {self.epochs} epochs on the {self.count():,} test images "
            "in the background" + ("" if 1.0 in self.runs else ", together with one with β = 1 for comparison")
        )
        if cached and not self.controller.is_active:
            self._show_run("chosen", self.runs[beta])

    # ------------------------------------------------------------ training

    def make_job(self, betas: tuple[float, ...]) -> TrainJob:
        """The run that trains a 2-D VAE for each of ``betas`` on the test images."""
        images = np.asarray(self.images)
        labels = self._labels_or_zeros()
        configs = tuple(NetConfig(kind="vae", latent=2, hidden=self.hidden, beta=b) for b in betas)
        # The "test" set is the fixed probe set, so every snapshot encodes exactly it.
        probes = self.probe_indices
        source = ImageArrays(images, images[probes], labels[probes], name=self.dataset.name,
                             title=self.dataset.title, description=f"{self.dataset.title} test images")
        return TrainJob(
            configs=configs, train=TrainConfig(epochs=self.epochs, seed=0),
            data_source=source, probe_count=len(probes), snapshot_interval_s=self.snapshot_interval_s,
            thread_choices=training_thread_choices(),
        )

    def train_beta(self) -> bool:
        """Train the slider's beta (and beta = 1 if not yet trained), or show the cached run."""
        beta = self.current_beta()
        if beta in self.runs:
            self._show_run("chosen", self.runs[beta])
            if 1.0 in self.runs:
                self._show_run("reference", self.runs[1.0])
            return True
        if self._bundled is None:
            return False  # the images could not be encoded; the other half says why
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
        self.run_label.setText(f"Training β = {fmt_beta(beta)}{both} in the background; the plots follow the training.")
        self.progress.setValue(0)
        self.progress.setFormat("Starting the training process…")
        self._redraw_timer.start()
        self.status_changed.emit(f"Training a VAE with β = {fmt_beta(beta)}{both}")
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
            beta = self._job_betas[index]
            title = f"β = {fmt_beta(beta)} (training, epoch {snap.epoch + 1}/{self.epochs})"
            self._show_space(self.beta_plots[side], space, title)
            self.beta_strips[side].set_images(space.decode_codes(snap.probe_codes[: self.shown_count]))
            self.beta_strips[side].set_label(f"β = {fmt_beta(beta)}")
            self._side_beta[side] = beta
        snap = latest.get(0)
        if snap is not None:
            frac = snap.step / max(1, snap.total_steps)
            elapsed = time.monotonic() - self._started_at
            left = elapsed * (1 - frac) / frac if frac > 0.02 else None
            self.progress.setValue(int(1000 * frac))
            eta = f" · about {left:.0f} s left" if left is not None else ""
            self.progress.setFormat(f"Epoch {min(snap.epoch + 1, self.epochs)}/{self.epochs} · "
                                    f"{snap.samples_per_s:,.0f} samples/s{eta}")

    def _show_space(self, plot: LatentPlot, space: LatentSpace, title: str) -> None:
        if plot.space is None:
            plot.set_space(space, labels=self._labels_or_zeros()[self.probe_indices], title=title)
            return
        # The points move in place; the view follows only when the codes leave it or shrink in it.
        plot.move_codes(space)
        plot.setTitle(title, color=self.theme.foreground, size="11pt")
        plot.follow_codes()

    @Slot(object)
    def _on_finished(self, msg: JobFinished) -> None:
        self._redraw_timer.stop()
        self.redraw()
        if msg.stopped:
            self._cancelled()
            return
        originals = self._float_images(self.probe_indices[: self.shown_count])
        for index, beta in enumerate(self._job_betas):
            snap = self.controller.latest.get(index)
            if snap is None:
                continue
            space = LiveSpace(self._job.configs[index], snap)
            recon_images = space.decode_codes(snap.probe_codes[: self.shown_count])
            test = self._reports[index].test if index in self._reports else {}
            self.runs[beta] = BetaRun(
                beta=beta, space=space, labels=self._labels_or_zeros()[self.probe_indices],
                reconstructions=recon_images, recon=float(test.get("recon", float("nan"))),
                kl=float(test.get("kl", float("nan"))), sharpness=elbo.sharpness(recon_images, originals),
                note=f"{self.epochs} epochs",
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
        self.status_changed.emit(f"β = {fmt_beta(chosen)} trained in {msg.seconds:.0f} s")

    def _cancelled(self) -> None:
        self.progress.setFormat("Cancelled")
        self.progress.setValue(0)
        self._drawn.clear()
        if 1.0 in self.runs:
            self._show_run("reference", self.runs[1.0])
        elif self._bundled is not None:
            self.show_bundled(self._bundled)
        self.beta_plots["chosen"].set_space(None, title="β = ?", empty_message="Cancelled")
        self.beta_strips["chosen"].clear()
        self.run_label.setText("Training was cancelled; nothing was kept. Press Train to start again.")
        self.status_changed.emit("β training cancelled")

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
        plot.set_space(run.space, labels=run.labels, title=f"β = {fmt_beta(run.beta)} ({run.note})")
        plot.set_background("prior", True)
        self.beta_strips[side].set_images(run.reconstructions)
        self.beta_strips[side].set_label(f"β = {fmt_beta(run.beta)}")
        ref, chosen = self.runs.get(1.0), self.runs.get(self.current_beta())
        self.compare_label.setText(comparison_html([r for r in (ref, chosen if chosen is not ref else None) if r]))

    def _probe(self, side: str, x: float, y: float) -> None:
        plot = self.beta_plots[side]
        if plot.space is None:
            return
        plot.set_crosshair((x, y))
        image = plot.space.decode_plane(np.array([[x, y]]))[0]
        beta = self._side_beta.get(side)
        self.decoded.emit(image, f"decoded, β = {fmt_beta(beta)}" if beta is not None else "decoded")

    def _update_enabled(self, *args) -> None:
        active = self.controller.is_active
        self.train_button.setEnabled(not active)
        self.cancel_button.setEnabled(self.controller.state in ("starting", "running", "paused"))
        self.beta_slider.setEnabled(not active)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for plot in self.beta_plots.values():
            plot.apply_theme(theme)

    def shutdown(self, timeout: float = 1.0) -> None:
        self._redraw_timer.stop()
        self.controller.shutdown(timeout)
