"""Lab experiment: a linear autoencoder learns PCA's subspace (but not PCA's basis)."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.lab.base import TrainingExperiment, lab_plot, theme_plot
from explorer.startup import DatasetContext
from explorer.widgets.image_view import ImageStrip
from explorer.widgets.theme import LIGHT, Theme
from models import lab

log = logging.getLogger(__name__)

ANGLE_GOAL_DEG = 2.0
STRIP_HEIGHT = 86  # three strips under the plots in the Lab of a 1000 x 650 window

INTRO = (
    "A <b>linear autoencoder</b> <i>x̂</i> = <i>W</i><sub>dec</sub>(<i>W</i><sub>enc</sub><i>x</i> + <i>b</i>) + <i>c</i> "
    "trained with MSE ends up reconstructing exactly as well as <b>PCA</b> with the same number of components: "
    "its decoder spans the top-<i>k</i> principal subspace. Press <b>Train</b> and watch its error fall onto PCA's "
    "line while the principal angles between the two subspaces fall towards 0°."
)

WHY = (
    "<b>Why the weights are not the principal components.</b> Any invertible <i>k</i>×<i>k</i> matrix <i>A</i> "
    "can be put between encoder and decoder (<i>W</i><sub>dec</sub><i>A</i> and <i>A</i><sup>−1</sup><i>W</i>"
    "<sub>enc</sub>) without changing a single reconstruction, so the loss cannot prefer one basis: only the "
    "<i>subspace</i> is determined. The decoder's columns (middle row) are mixtures of the components; projected "
    "onto that subspace, the components (bottom row) come back unchanged once the angles are near 0°."
)


class LinearPcaExperiment(TrainingExperiment):
    """Train a linear AE live; compare its error, subspace and basis with PCA's."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        dataset: DatasetContext | None = None,
        theme: Theme = LIGHT,
    ):
        super().__init__(parent, dataset=dataset, theme=theme)
        self.points: list[lab.LinearPcaPoint] = []
        self.pca_mse: float | None = None
        self.variances: np.ndarray | None = None
        self.pc_images: np.ndarray | None = None
        self._epochs = 0
        self._mse_range: tuple[float, float] | None = None
        self._build_ui()
        self.apply_theme(theme)
        self._update_buttons()

    # ------------------------------------------------------------ layout

    def _build_ui(self) -> None:
        root = self._root_layout(INTRO)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Latent size k"))
        self.latent_spin = QSpinBox()
        self.latent_spin.setRange(1, 16)
        self.latent_spin.setValue(2)
        self.latent_spin.setToolTip("How many dimensions the code has, and how many principal components PCA keeps")
        controls.addWidget(self.latent_spin)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Epochs"))
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 200)
        self.epochs_spin.setValue(20)
        self.epochs_spin.setToolTip("Passes over the 10,000 images (Adam, learning rate 0.01, cosine decay); "
                                    "larger k needs more")
        controls.addWidget(self.epochs_spin)
        controls.addSpacing(12)
        self.settings_widgets = [self.latent_spin, self.epochs_spin]
        self.train_button.setToolTip("Train a fresh linear AE in the background and compare it with PCA as it learns")
        self.stop_button.setToolTip("Stop after the current step; the plots keep what was learned")
        self.progress.setToolTip("Training steps done")
        self._add_run_controls(controls)
        root.addLayout(controls)
        self.summary = self.message
        self.summary.setText("Press <b>Train</b>: a linear AE with k = 2 trains in a few seconds.")

        plots = QHBoxLayout()
        self.mse_plot = lab_plot("Reconstruction error", "MSE per pixel")
        self.mse_plot.setToolTip("Per-pixel MSE of the linear AE on the images it trains on, and PCA's "
                                 "error with the same k (dashed): the best any k-dimensional linear code can do")
        self.mse_curve = self.mse_plot.plot([], [], name="linear AE")
        self.pca_line = pg.InfiniteLine(angle=0, movable=False)
        self.pca_line.setVisible(False)  # until PCA is fitted
        self.mse_plot.addItem(self.pca_line)
        self.pca_legend = self.mse_plot.plot([], [], name="PCA")
        # Before the first run: the range digit reconstructions live in, not +-400.
        self.mse_plot.setYRange(0.0, 0.1, padding=0)
        self.mse_plot.setXRange(0.0, 1.0, padding=0)
        plots.addWidget(self.mse_plot, 1)
        self.angle_plot = lab_plot("Principal angles to PCA's subspace", "degrees")
        self.angle_plot.setToolTip("The principal angles between the decoder's column space and the top-k principal "
                                   "components: the largest in bold, the others thin; 0° means the same subspace")
        self.angle_plot.setYRange(0, 90, padding=0.02)
        self.max_curve = self.angle_plot.plot([], [], name="largest angle")
        self.angle_curves: list[pg.PlotDataItem] = []
        self.goal_line = pg.InfiniteLine(pos=ANGLE_GOAL_DEG, angle=0, movable=False)
        self.angle_plot.addItem(self.goal_line)
        plots.addWidget(self.angle_plot, 1)
        root.addLayout(plots, 3)

        bases = QHBoxLayout()
        strips = QVBoxLayout()
        strips.setSpacing(4)
        self.pc_strip = ImageStrip(label="Principal components", placeholder="computed when training starts")
        self.pc_strip.setToolTip("The top-k principal components of the images (grey = 0, light = positive, dark = negative)")
        self.decoder_strip = ImageStrip(label="Decoder columns", placeholder="the AE's decoder weights appear here")
        self.decoder_strip.setToolTip("The linear AE's decoder columns, each scaled to its own range: "
                                      "a basis of its subspace, but not the principal components")
        self.projected_strip = ImageStrip(label="PCs projected on its span", placeholder="")
        self.projected_strip.setToolTip("Each principal component projected onto the decoder's column space: "
                                        "equal to the component when the subspaces agree")
        self.strips = (self.pc_strip, self.decoder_strip, self.projected_strip)
        self._label_width = max(s.natural_label_width() for s in self.strips) + 8
        for strip in self.strips:
            strip.set_min_label_width(self._label_width)
            strip.setFixedHeight(STRIP_HEIGHT)
            strips.addWidget(strip)
        bases.addLayout(strips, 2)
        why = QLabel(WHY)
        why.setWordWrap(True)
        why.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # The explanation is longer than the strips are high in a small window: it scrolls
        # there rather than pushing the summary over the window's edge.
        self.why_area = QScrollArea()
        self.why_area.setWidget(why)
        self.why_area.setWidgetResizable(True)
        self.why_area.setFrameShape(QFrame.Shape.NoFrame)
        self.why_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.why_area.setMinimumWidth(360)
        self.why_area.setMinimumHeight(4 * self.fontMetrics().lineSpacing())
        side = QVBoxLayout()
        side.addWidget(self.why_area, 1)
        side.addSpacing(6)
        font = self.summary.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.summary.setFont(font)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        side.addWidget(self.summary)
        bases.addLayout(side, 1)
        root.addLayout(bases, 0)

    def _fit_strips(self, k: int) -> None:
        """Strips as wide as k images need, so the explanation sits right beside them."""
        side = STRIP_HEIGHT - self.fontMetrics().height() - 6
        for strip in self.strips:
            strip.setMaximumWidth(self._label_width + k * (side + 4) + 4)

    # ------------------------------------------------------------ running

    def start(self) -> bool:
        """Train a fresh linear AE with the chosen k and epochs; False if it cannot start."""
        if self.runner.is_running:
            return False
        if self.images is None or len(self.images) < 20:
            self._set_error("No images are loaded, so there is nothing to train on.")
            return False
        images, k, epochs = self.images, self.latent_spin.value(), self.epochs_spin.value()
        self._epochs = epochs
        self._mse_range = None
        for plot in (self.mse_plot, self.angle_plot):
            plot.setXRange(0, epochs, padding=0.02)
        self.points = []
        self.pca_mse = None
        self.pc_images = None
        self._clear_plots()

        def make(should_stop):
            run = lab.LinearPcaRun(images, latent=k, epochs=epochs, record_every=40, should_stop=should_stop)
            yield ("pca", run.pca_mse, run.variances, run.pc_images())
            yield from run.points()

        self._launch(make, f"Lab: training a linear AE with k = {k}")
        self.progress.setFormat("Fitting PCA…")
        self.summary.setText(f"Fitting PCA with k = {k} and training a linear AE for {epochs} epochs…")
        return True

    def _take(self, item) -> None:
        if isinstance(item, tuple) and item[0] == "pca":
            _, self.pca_mse, self.variances, self.pc_images = item
        else:
            if self.points:
                # Only the latest look's bases are drawn; older looks keep just their figures,
                # so a long run with k = 16 does not pile up weight copies.
                empty = np.empty((0, 0))
                self.points[-1] = dataclasses.replace(self.points[-1], decoder=empty, projected_pcs=empty)
            self.points.append(item)

    def _ended(self, error: str) -> None:
        if self.points and not error:
            p = self.points[-1]
            self.status_changed.emit(f"Lab: linear AE {'trained' if p.step == p.total_steps else 'stopped'}; "
                                     f"largest principal angle to PCA {p.max_angle:.2f}°")

    # ------------------------------------------------------------ drawing

    def _clear_plots(self) -> None:
        self.mse_curve.setData([], [])
        self.max_curve.setData([], [])
        for curve in self.angle_curves:
            self.angle_plot.removeItem(curve)
            self.angle_plot.getPlotItem().legend.removeItem(curve)
        self.angle_curves = []
        self.pca_line.setVisible(False)
        for strip in (self.pc_strip, self.decoder_strip, self.projected_strip):
            strip.clear()

    def redraw(self) -> None:
        """Draw the latest state (called on a timer while training)."""
        if self.pca_mse is not None:
            self.pca_line.setPos(self.pca_mse)
            self.pca_line.setVisible(True)
            k = len(self.pc_images)
            self._fit_strips(k)
            self.pc_strip.set_images(self.pc_images, [f"PC {i + 1}" for i in range(k)])
        if not self.points:
            return
        epochs = np.array([p.epoch for p in self.points])
        mse = np.array([p.mse for p in self.points])
        angles = np.stack([p.angles for p in self.points])  # (n, k) ascending
        self.mse_curve.setData(epochs, mse)
        if self._mse_range is None and self.pca_mse is not None:
            # Set once: a plot whose range moves repaints its axes, the costliest part of a redraw.
            top, low = float(mse[0]), self.pca_mse
            self._mse_range = (low - 0.1 * (top - low), top + 0.05 * (top - low) + 1e-6)
            self.mse_plot.setYRange(*self._mse_range, padding=0)
        while len(self.angle_curves) < angles.shape[1] - 1:
            name = None if self.angle_curves else "the other angles"
            curve = self.angle_plot.plot([], [], pen=pg.mkPen(self.theme.muted, width=1), name=name)
            if name:
                self.apply_theme(self.theme)
            self.angle_curves.append(curve)
        for i, curve in enumerate(self.angle_curves):
            curve.setData(epochs, angles[:, i])
        self.max_curve.setData(epochs, angles[:, -1])
        last = self.points[-1]
        k = len(last.angles)
        self.decoder_strip.set_images(lab.basis_images(last.decoder), [f"column {i + 1}" for i in range(k)])
        self.projected_strip.set_images(lab.basis_images(last.projected_pcs), [f"PC {i + 1}" for i in range(k)])
        self.progress.setValue(int(1000 * last.step / max(1, last.total_steps)))
        self.progress.setFormat(f"epoch {last.epoch:.1f} of {self._epochs}")
        if not self.error:
            self.summary.setText(self._summary(last))

    def _summary(self, p: lab.LinearPcaPoint) -> str:
        k = len(p.angles)
        text = (f"After {p.epoch:.1f} epochs: AE error <b>{p.mse:.5f}</b>, PCA's <b>{self.pca_mse:.5f}</b> "
                f"({100 * (p.mse / self.pca_mse - 1):+.2f} %); largest principal angle <b>{p.max_angle:.2f}°</b>")
        if k > 1:
            text += f", the others ≤ {float(p.angles[-2]):.2f}°"
        text += "."
        if self.variances is not None and len(self.variances) > k and p.max_angle > ANGLE_GOAL_DEG:
            v = self.variances
            text += (f" Components {k} and {k + 1} have variances {v[k - 1]:.3f} and {v[k]:.3f}: the closer they are, "
                     "the less the error cares which of the two the AE keeps, and the slower the last angle falls.")
        return text

    # ------------------------------------------------------------ lab hooks

    def apply_theme(self, theme: Theme) -> None:
        self._recolour_message(theme)
        for w in (self.mse_plot, self.angle_plot):
            theme_plot(w, theme)
        self.mse_curve.setPen(pg.mkPen(theme.foreground, width=2))
        dashed = pg.mkPen(theme.crosshair, width=2, style=Qt.PenStyle.DashLine)
        self.pca_line.setPen(dashed)
        self.pca_legend.setPen(dashed)
        self.max_curve.setPen(pg.mkPen(theme.foreground, width=2))
        self.goal_line.setPen(pg.mkPen(theme.crosshair, width=1, style=Qt.PenStyle.DotLine))
        for curve in self.angle_curves:
            curve.setPen(pg.mkPen(theme.muted, width=1))
