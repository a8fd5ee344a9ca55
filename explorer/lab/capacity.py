"""Lab experiment: undercomplete against overcomplete autoencoders, and what a denoising AE does instead."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.lab.base import TrainingExperiment, lab_plot, theme_plot
from explorer.startup import DatasetContext
from explorer.widgets.image_view import ImageStrip
from explorer.widgets.theme import LIGHT, Theme
from models import lab

SHOWN = 6  # noisy test digits shown as images

INTRO = (
    "An autoencoder whose code is smaller than its 784 pixels (<b>undercomplete</b>) has to summarise; one whose "
    "code is larger (<b>overcomplete</b>) has room to copy its input, the identity. For each latent size <i>k</i>, "
    "two one-layer models (<i>z</i> = <i>Wx</i> + <i>b</i>, <i>x̂</i> = <i>Vz</i> + <i>c</i>) train side by side "
    "on 9,500 digits: an <b>AE</b> (clean digit → clean digit) and a "
    f"<b>denoising AE</b> (digit + Gaussian noise of σ = {lab.CAPACITY_NOISE:g} → clean digit). Both are then "
    "given 500 other digits with such noise: how much of it comes out?"
)


def _percent(fraction: float) -> str:
    return f"{round(100 * fraction) + 0:d} %"


def _size_ticks() -> list[tuple[float, str]]:
    return [(math.log2(k), str(k)) for k in lab.CAPACITY_SIZES]


def _plot(title: str, left: str, *, legend_offset: tuple[int, int] = (10, 10)) -> pg.PlotWidget:
    w = lab_plot(title, left, bottom="latent size (log scale)", legend_offset=legend_offset)
    w.getPlotItem().showGrid(x=False, y=True, alpha=0.25)
    w.getPlotItem().getAxis("bottom").setTicks([_size_ticks()])
    w.setMouseEnabled(False, False)
    w.setXRange(math.log2(lab.CAPACITY_SIZES[0]) - 0.5, math.log2(lab.CAPACITY_SIZES[-1]) + 0.5, padding=0)
    return w


class CapacityExperiment(TrainingExperiment):
    """Train AE / DAE pairs of several latent sizes and compare how much noise they pass."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        dataset: DatasetContext | None = None,
        theme: Theme = LIGHT,
        sizes: tuple[int, ...] = lab.CAPACITY_SIZES,
        test_count: int = 500,
    ):
        super().__init__(parent, dataset=dataset, theme=theme)
        self.sizes = tuple(sizes)
        self.test_count = test_count
        self.results: dict[int, dict[str, lab.CapacityResult]] = {}
        self.progress_item: lab.CapacityProgress | None = None
        self._clean_shown: np.ndarray | None = None
        self._noisy_shown: np.ndarray | None = None
        self._run_text = ""
        self._build_ui()
        self.apply_theme(theme)
        self._update_buttons()

    # ------------------------------------------------------------ layout

    def _build_ui(self) -> None:
        root = self._root_layout(INTRO)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Epochs"))
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 100)
        self.epochs_spin.setValue(5)
        self.epochs_spin.setToolTip("Passes over the 9,500 training digits for every model. More epochs let the "
                                    "overcomplete AE get closer to the identity (and copy more of the noise)")
        controls.addWidget(self.epochs_spin)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Decoder output"))
        self.output_combo = QComboBox()
        self.output_combo.addItem("linear", "linear")
        self.output_combo.addItem("sigmoid", "sigmoid")
        self.output_combo.setToolTip(
            "linear: x̂ = Vz + c, which can be exactly the identity once k ≥ 784.\n"
            "sigmoid: x̂ = sigmoid(Vz + c), the app's AE and DAE; black and white pixels sit where the sigmoid is "
            "flat, so far less noise gets through either model")
        controls.addWidget(self.output_combo)
        controls.addSpacing(12)
        self.settings_widgets = [self.epochs_spin, self.output_combo]
        self.train_button.setText(f"Train sizes {', '.join(map(str, self.sizes))}")
        self.train_button.setToolTip("Train an AE and a denoising AE of every latent size in the background "
                                     "(about half a minute on one core at 5 epochs; the largest size takes longest)")
        self.stop_button.setToolTip("Stop after the current step; sizes already trained stay shown")
        self.progress.setToolTip("Training progress over all sizes")
        self._add_run_controls(controls)
        root.addLayout(controls)

        body = QHBoxLayout()
        plots = QVBoxLayout()
        self.kept_plot = _plot("Noise passed through to the output", "% of the added noise")
        self.kept_plot.setToolTip(
            "The least-squares slope of f(noisy) − f(clean) on the added noise, in percent: 100 % is the identity "
            "(the noise is copied), 0 % means the noise is removed; below 0 the output even moves against the noise")
        self.kept_curves = {k: self.kept_plot.plot([], [], name=n) for k, n in (("ae", "AE"), ("dae", "denoising AE"))}
        self.input_line = pg.InfiniteLine(pos=math.log2(784), angle=90, movable=False,
                                          label="input size", labelOpts={"position": 0.55})
        self.kept_plot.addItem(self.input_line)
        plots.addWidget(self.kept_plot, 1)
        self.mse_plot = _plot("Error against the clean digits", "MSE per pixel", legend_offset=(10, -10))
        self.mse_plot.setToolTip("Per-pixel MSE between the outputs and the clean held-out digits; the dashed line is "
                                 "the noisy input itself, what doing nothing scores")
        self.mse_curves = {
            key: self.mse_plot.plot([], [], name=name)
            for key, name in (("ae_clean", "AE, clean input"), ("ae_noisy", "AE, noisy input"), ("dae_noisy", "DAE, noisy input"))
        }
        self.noisy_line = pg.InfiniteLine(angle=0, movable=False, label="noisy input", labelOpts={"position": 0.75})
        self.noisy_line.setVisible(False)
        self.mse_plot.addItem(self.noisy_line)
        plots.addWidget(self.mse_plot, 1)
        body.addLayout(plots, 1)

        images = QGroupBox("Held-out digits and what each model makes of them")
        images_layout = QVBoxLayout(images)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Outputs of the models with latent size"))
        self.size_combo = QComboBox()
        self.size_combo.setToolTip("Whose outputs to show (sizes appear as they finish training)")
        self.size_combo.currentIndexChanged.connect(self._show_images)
        pick.addWidget(self.size_combo)
        pick.addStretch(1)
        images_layout.addLayout(pick)
        self.strips = {
            "clean": ImageStrip(label="Clean", placeholder="the clean held-out digits"),
            "noisy": ImageStrip(label="Noisy input", placeholder="the same digits with noise: the models' input"),
            "ae": ImageStrip(label="AE output", placeholder="trained sizes appear here"),
            "dae": ImageStrip(label="DAE output", placeholder=""),
        }
        tips = {
            "clean": "Digits neither model trained on",
            "noisy": f"The same digits with Gaussian noise of σ = {lab.CAPACITY_NOISE:g}, clipped to [0, 1]",
            "ae": "What the AE (trained on clean digits) makes of the noisy digits; the caption is the MSE to the clean digit",
            "dae": "What the denoising AE makes of the noisy digits; the caption is the MSE to the clean digit",
        }
        width = max(s.natural_label_width() for s in self.strips.values())
        for key, strip in self.strips.items():
            strip.setToolTip(tips[key])
            strip.set_min_label_width(width + 8)
            images_layout.addWidget(strip, 1)
        self.findings = self.message
        self.findings.setText("Press Train: the figures and images fill in size by size.")
        self.findings.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.findings.setMinimumHeight(self.fontMetrics().height() * 5)
        images_layout.addWidget(self.findings)
        body.addWidget(images, 1)
        root.addLayout(body, 1)

    # ------------------------------------------------------------ running

    def start(self) -> bool:
        """Train every size in the background; False if it cannot start."""
        if self.runner.is_running:
            return False
        if self.images is None or len(self.images) < 40:
            self._set_error("No images are loaded, so there is nothing to train on.")
            return False
        train, clean, noisy = lab.capacity_split(self.images, test_count=self.test_count)
        self._clean_shown = clean[:SHOWN].reshape(-1, 28, 28).numpy()
        self._noisy_shown = noisy[:SHOWN].reshape(-1, 28, 28).numpy()
        sizes, epochs, output = self.sizes, self.epochs_spin.value(), self.output_combo.currentData()
        self._run_text = f"{output} decoder output, {epochs} epoch{'s' if epochs != 1 else ''}"
        self.results = {}
        self.progress_item = None
        self.size_combo.blockSignals(True)
        self.size_combo.clear()
        self.size_combo.blockSignals(False)

        def make(should_stop):
            for latent in sizes:
                for item in lab.train_capacity_pair(train, latent, epochs=epochs, output=output, should_stop=should_stop):
                    if isinstance(item, lab.CapacityProgress):
                        yield item
                    else:
                        ae, dae = item
                        yield {"ae": lab.evaluate_capacity(ae, clean, noisy, show=SHOWN),
                               "dae": lab.evaluate_capacity(dae, clean, noisy, show=SHOWN)}
                if should_stop():
                    return

        self._launch(make, f"Lab: training AEs and denoising AEs of sizes {', '.join(map(str, sizes))}")
        self.findings.setText("Training… the figures and images fill in size by size.")
        self.redraw()
        return True

    def _take(self, item) -> None:
        if isinstance(item, lab.CapacityProgress):
            self.progress_item = item
        else:
            latent = item["ae"].latent
            self.results[latent] = item
            self.size_combo.addItem(str(latent), latent)
            self.size_combo.setCurrentIndex(self.size_combo.count() - 1)

    def _ended(self, error: str) -> None:
        done = len(self.results)
        self.progress.setFormat(f"{done} of {len(self.sizes)} sizes trained" if done < len(self.sizes) else "Done")
        if done == len(self.sizes):
            self.progress.setValue(1000)
        if not error:
            self.status_changed.emit(f"Lab: {done} of {len(self.sizes)} latent sizes trained")

    # ------------------------------------------------------------ drawing

    def redraw(self) -> None:
        p = self.progress_item
        if p is not None and self.runner.is_running:
            index = self.sizes.index(p.latent)
            # Bigger models take longer: weight each size by its parameter count for the bar.
            cost = np.array([s + 1 for s in self.sizes], dtype=float)
            done = cost[:index].sum() + cost[index] * p.step / max(1, p.total_steps)
            self.progress.setValue(int(1000 * done / cost.sum()))
            self.progress.setFormat(f"latent size {p.latent}: step {p.step} of {p.total_steps}   "
                                    f"AE loss {p.losses.get('ae', math.nan):.4f}, DAE loss {p.losses.get('dae', math.nan):.4f}")
        sizes = sorted(self.results)
        x = np.log2(np.array(sizes, dtype=float))
        for kind, curve in self.kept_curves.items():
            curve.setData(x, [100 * self.results[s][kind].noise_kept for s in sizes])
        self.mse_curves["ae_clean"].setData(x, [self.results[s]["ae"].clean_mse for s in sizes])
        self.mse_curves["ae_noisy"].setData(x, [self.results[s]["ae"].denoised_mse for s in sizes])
        self.mse_curves["dae_noisy"].setData(x, [self.results[s]["dae"].denoised_mse for s in sizes])
        if sizes:
            self.noisy_line.setPos(self.results[sizes[0]]["ae"].noisy_mse)
            self.noisy_line.setVisible(True)
            kept = [100 * r[k].noise_kept for r in self.results.values() for k in ("ae", "dae")]
            self.kept_plot.setYRange(min(-5.0, min(kept) - 2), max(25.0, max(kept) + 5), padding=0)
            top = max(max(r["ae"].noisy_mse, r["ae"].denoised_mse, r["dae"].denoised_mse) for r in self.results.values())
            self.mse_plot.setYRange(0, top * 1.1, padding=0)
            if not self.error:
                self.findings.setText(self._findings())
        self._show_images()

    def _show_images(self, *args) -> None:
        if self._clean_shown is None:
            for strip in self.strips.values():
                strip.clear()
            return
        self.strips["clean"].set_images(self._clean_shown)
        noise = [float(np.mean((n - c) ** 2)) for n, c in zip(self._noisy_shown, self._clean_shown, strict=True)]
        self.strips["noisy"].set_images(self._noisy_shown, [f"{e:.4f}" for e in noise])
        latent = self.size_combo.currentData()
        if latent is None or latent not in self.results:
            self.strips["ae"].clear()
            self.strips["dae"].clear()
            return
        for kind in ("ae", "dae"):
            out = self.results[latent][kind].outputs
            errors = [float(np.mean((o - c) ** 2)) for o, c in zip(out, self._clean_shown, strict=True)]
            self.strips[kind].set_images(out, [f"{e:.4f}" for e in errors])

    def _findings(self) -> str:
        sizes = sorted(self.results)
        small, big = sizes[0], sizes[-1]
        ae_small, ae_big = self.results[small]["ae"], self.results[big]["ae"]
        dae_big = self.results[big]["dae"]
        parts = [
            f"<i>{self._run_text[0].upper()}{self._run_text[1:]}.</i> On clean digits the AE's error falls from {ae_small.clean_mse:.4f} at k = {small} to "
            f"{ae_big.clean_mse:.4f} at k = {big}: with room enough it copies its input.",
            f"It copies the noise too: at k = {big} it passes <b>{_percent(ae_big.noise_kept)}</b> of the added "
            f"noise, against {_percent(ae_small.noise_kept)} at k = {small}.",
            f"The denoising AE of the same size passes <b>{_percent(dae_big.noise_kept)}</b>; its output is "
            f"{dae_big.denoised_mse:.4f} from the clean digits where the AE's is {ae_big.denoised_mse:.4f} "
            f"and the noisy input's {ae_big.noisy_mse:.4f}.",
            "Where the training digits never vary (the border is always black) the AE has learned nothing, so it "
            "passes no noise there; it copies more of the rest the longer it trains (try more epochs).",
        ]
        return " ".join(parts)

    # ------------------------------------------------------------ lab hooks

    def apply_theme(self, theme: Theme) -> None:
        self._recolour_message(theme)
        colors = {"ae": theme.crosshair, "dae": theme.foreground}
        for w in (self.kept_plot, self.mse_plot):
            theme_plot(w, theme)
        for kind, curve in self.kept_curves.items():
            curve.setPen(pg.mkPen(colors[kind], width=2))
            curve.setSymbol("o")
            curve.setSymbolBrush(pg.mkBrush(colors[kind]))
            curve.setSymbolPen(pg.mkPen(colors[kind]))
        styles = {"ae_clean": (theme.crosshair, Qt.PenStyle.DotLine), "ae_noisy": (theme.crosshair, Qt.PenStyle.SolidLine),
                  "dae_noisy": (theme.foreground, Qt.PenStyle.SolidLine)}
        for key, curve in self.mse_curves.items():
            color, style = styles[key]
            curve.setPen(pg.mkPen(color, width=2, style=style))
            curve.setSymbol("o")
            curve.setSymbolBrush(pg.mkBrush(color))
            curve.setSymbolPen(pg.mkPen(color))
        muted = pg.mkPen(theme.muted, width=1, style=Qt.PenStyle.DashLine)
        for line in (self.input_line, self.noisy_line):
            line.setPen(muted)
            line.label.setColor(theme.muted)
