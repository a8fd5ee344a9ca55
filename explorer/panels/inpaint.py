"""The Inpaint panel: hide part of a digit and watch three methods fill the hole,
iteration by iteration, each scored on the hidden pixels against a mean-image fill."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.panels.digit_source import SourcePicker
from explorer.panels.protocol import PanelDefaults
from explorer.panels.workbench import Workbench
from explorer.startup import DatasetContext
from explorer.widgets.actions import panel_action, set_actions_active, tool_button
from explorer.widgets.canvas import MASK_TOOLS, MaskEditor
from explorer.widgets.image_view import ImageView
from explorer.widgets.theme import LIGHT, Theme, style_plot
from models.corrupt import PRESET_MASKS, preset_mask
from models.data import as_float_images, to_display
from models.inpaint import (
    METHOD_TITLES,
    InpaintResult,
    LatentCandidates,
    iter_dae_fill,
    iter_optimise_vae_latent,
    iter_project_ae,
    latent_candidates,
    masked_mse,
    mean_fill,
)

METHODS = ("ae_projection", "vae_latent", "dae", "dae_masking")
METHOD_COLORS = {
    "ae_projection": "#1f77b4", "vae_latent": "#d62728", "dae": "#2ca02c", "dae_masking": "#ff7f0e", "mean_fill": "#7f7f7f",
}
PRESET_TITLES = {
    "top_half": "Top half",
    "bottom_half": "Bottom half",
    "left_half": "Left half",
    "right_half": "Right half",
    "center_square": "Centre square",
    "random_pixels": "Random pixels (50 %)",
}
SHORT_TITLES = {
    "ae_projection": "AE projection", "vae_latent": "VAE latent", "dae": "DAE (Gaussian)", "dae_masking": "DAE (masking)",
}
BRIEF = {
    "ae_projection": "reconstruct, put the known pixels back, repeat.",
    "vae_latent": "fit z to the known pixels under the prior, decode.",
    "dae": "clamp the known pixels, denoise the rest, in half steps.",
    "dae_masking": "the same with a DAE trained to fill missing pixels.",
}
STEPS = {"ae_projection": 20, "vae_latent": 30, "dae": 4, "dae_masking": 4}
DEFAULT_INTERVAL_MS = 80
FILLING_MESSAGE = "Filling the hole: the best method is named when every method is done."
METHOD_HELP = {
    "ae_projection": "Reconstruct with the AE, put the known pixels back, repeat: the image is pulled onto "
    "the decoder's manifold while it keeps what is known.",
    "vae_latent": "Search the VAE's latent space, then take gradient steps on z so the decoded image fits the "
    "known pixels under the prior N(0, I); the decoder paints the hole.",
    "dae": "Clamp the known pixels and let the denoising AE (trained on Gaussian noise) clean up the rest, a half "
    "step at a time: it has learned to turn damaged images into clean ones.",
    "dae_masking": "The same with a DAE trained on masking noise (half the pixels set to black): it has learned to "
    "fill in missing pixels. The hole starts black, as missing pixels were in its training.",
}


class InpaintPanel(QWidget, PanelDefaults):
    """Mask editor, then an animated fill by each method with its masked-region error."""

    status_changed = Signal(str)
    stepped = Signal()  # one displayed iteration

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        workbench: Workbench,
        theme: Theme = LIGHT,
        settings: QSettings | None = None,
    ):
        super().__init__(parent)
        self.workbench = workbench
        self._theme = theme
        self._settings = settings
        self.clean: np.ndarray | None = None
        self.results: dict[str, InpaintResult | None] = {}
        self.errors: dict[str, list[float]] = {}
        self.fallbacks: dict[str, str] = {}
        self._runs: dict[str, Iterator[InpaintResult]] = {}
        self._candidates: tuple[object, LatentCandidates] | None = None
        self._timer = QTimer(self, interval=DEFAULT_INTERVAL_MS)
        self._timer.timeout.connect(self.step)
        self._restart = QTimer(self, singleShot=True, interval=0)
        self._restart.timeout.connect(self._auto_start)
        self._stale = False
        # The images' size and colour: masks are (H, W) and hide a pixel's three channels together.
        self._shape = tuple(workbench.dataset.image_shape[:2])
        self._channels = 3 if workbench.dataset.colour else 1
        self._build_ui()
        self.source.changed.connect(self._source_changed)
        workbench.models_changed.connect(self._models_changed)
        self.editor.mask_changed.connect(self._restart.start)
        self._source_changed()
        if not self.editor.mask().any():
            self.editor.set_mask(preset_mask("center_square", self._shape).numpy())

    # ------------------------------------------------------------ construction

    def _build_ui(self) -> None:
        self.source = SourcePicker(workbench=self.workbench, settings=self._settings, key="inpaint")
        self.editor = MaskEditor(shape=self._shape)

        tools = QHBoxLayout()
        self.tool_actions: dict[str, QAction] = {}
        tips = {"brush": "Paint pixels to hide", "rectangle": "Drag a rectangle to hide", "eraser": "Unhide pixels"}
        group = QActionGroup(self)
        for name, key in zip(MASK_TOOLS, ("B", "R", "E"), strict=True):
            a = panel_action(self, name.capitalize(), tips[name], key, checkable=True, group=group)
            a.toggled.connect(lambda on, name=name: on and self.set_tool(name))
            tools.addWidget(tool_button(a))
            self.tool_actions[name] = a
        self.tool_actions["brush"].setChecked(True)
        self.radius = QSlider(Qt.Orientation.Horizontal)
        self.radius.setRange(1, 8)
        self.radius.setValue(3)
        self.radius.setMinimumWidth(70)
        self.radius.setToolTip("Brush radius, in half pixels of the 28 x 28 image")
        self.radius.valueChanged.connect(lambda v: setattr(self.editor, "radius", v / 2.0))
        self.editor.radius = self.radius.value() / 2.0
        tools.addWidget(self.radius)
        self.preset = QComboBox()
        self.preset.addItem("Preset…", "")
        for name in PRESET_MASKS:
            self.preset.addItem(PRESET_TITLES.get(name, name), name)
        self.preset.setToolTip("Replace the mask with a ready-made one")
        self.preset.activated.connect(self._preset_chosen)
        tools.addWidget(self.preset)
        self.undo_action = panel_action(self, "Undo", "Undo the last change to the mask", QKeySequence.StandardKey.Undo)
        self.undo_action.triggered.connect(self.editor.undo)
        self.clear_action = panel_action(self, "Clear", "Hide nothing", "Ctrl+Backspace")
        self.clear_action.triggered.connect(self.editor.clear)
        self.fill_action = panel_action(self, "Fill again", "Run every method again from the start", "F5")
        self.fill_action.triggered.connect(self.start)
        self.panel_actions = (*self.tool_actions.values(), self.undo_action, self.clear_action, self.fill_action)
        for a in (self.undo_action, self.clear_action):
            tools.addWidget(tool_button(a))
        tools.addStretch(1)

        left = QVBoxLayout()
        left.addWidget(self.source)
        left.addLayout(tools)
        left.addWidget(self.editor, 1)
        self.mask_label = QLabel()
        left.addWidget(self.mask_label)

        play = QHBoxLayout()
        fill = tool_button(self.fill_action)
        self.animate = QCheckBox("Animate")
        self.animate.setChecked(True)
        self.animate.setToolTip("Show every iteration (off: jump straight to the result)")
        self.interval = QSpinBox()
        self.interval.setRange(0, 1000)
        self.interval.setSingleStep(20)
        self.interval.setValue(DEFAULT_INTERVAL_MS)
        self.interval.setSuffix(" ms per step")
        self.interval.setToolTip("Pause between displayed iterations")
        self.interval.valueChanged.connect(self._timer.setInterval)
        self.progress = QLabel()
        play.addWidget(fill)
        play.addWidget(self.animate)
        play.addWidget(self.interval)
        play.addWidget(self.progress, 1)

        # Two caption lines (the method, then its figures): on one they were cut at narrow widths.
        self.views = {m: ImageView(caption=METHOD_TITLES[m], placeholder="Model not loaded", caption_lines=2)
                      for m in (*METHODS, "mean_fill")}
        for m, view in self.views.items():
            view.setToolTip(METHOD_HELP.get(m, "The hole filled with the mean image: the baseline every method must beat"))
        grid = QGridLayout()
        for k, m in enumerate((*METHODS, "mean_fill")):
            grid.addWidget(self.views[m], k // 3, k % 3)
        legend = QLabel(
            "<b>How each fills the hole</b><br>Under each image: step / steps · MSE on the hidden pixels "
            "(lower is better).<br><br>"
            + "<br>".join(f"<b>{SHORT_TITLES[m]}</b>: {BRIEF[m]}" for m in METHODS)
            + "<br><b>Mean image</b>: the average image, the baseline to beat.<br>(Hover an image for more.)"
        )
        legend.setWordWrap(True)
        legend.setAlignment(Qt.AlignmentFlag.AlignTop)
        # A smaller font, not a style sheet: a widget with a style sheet keeps the
        # palette it was polished with and would stay in the old theme's text colour.
        font = legend.font()
        font.setPixelSize(11)
        legend.setFont(font)
        legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        grid.addWidget(legend, 1, 2)
        for col in range(3):
            grid.setColumnStretch(col, 1)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(170)
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "masked MSE")
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.plot.getPlotItem().hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(128, 128, 128, 40))
        self.curves = {
            m: self.plot.plot([], [], pen=pg.mkPen(METHOD_COLORS[m], width=2), name=METHOD_TITLES[m]) for m in METHODS
        }
        self.mean_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(METHOD_COLORS["mean_fill"], width=2, style=Qt.PenStyle.DashLine))
        self.plot.addItem(self.mean_line)
        self.plot.plot([], [], pen=pg.mkPen(METHOD_COLORS["mean_fill"], width=2, style=Qt.PenStyle.DashLine), name="Mean image")
        # Fixed ranges, set per run: an auto-ranging plot rebuilds its axes every step.
        self.plot.getPlotItem().vb.disableAutoRange()
        self.plot.setXRange(0, max(STEPS.values()), padding=0.02)
        style_plot(self.plot, self._theme)

        self.message = QLabel()
        self.message.setWordWrap(True)

        right = QVBoxLayout()
        right.addLayout(play)
        right.addLayout(grid, 3)
        right.addWidget(self.plot, 2)
        right.addWidget(self.message)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 4)
        layout.addLayout(right, 5)

    # ------------------------------------------------------------ mask tools

    def set_tool(self, name: str) -> None:
        if name not in MASK_TOOLS:
            raise ValueError(f"unknown tool {name!r}; choose one of {', '.join(MASK_TOOLS)}")
        self.editor.tool = name
        self.tool_actions[name].setChecked(True)

    def set_preset(self, name: str, *, seed: int | None = 0) -> None:
        self.editor.set_mask(preset_mask(name, self._shape, seed=seed).numpy())

    def _preset_chosen(self, index: int) -> None:
        name = self.preset.itemData(index)
        if name:
            # Random pixels differ on every pick, like the noise seed in the Denoise panel.
            self.set_preset(name, seed=None)
        self.preset.setCurrentIndex(0)

    # ------------------------------------------------------------ runs

    def _source_changed(self) -> None:
        self.clean = self.source.image()
        self.editor.set_image(self.clean if self.clean is not None else np.zeros((*self._shape, 3) if self._channels == 3 else self._shape, np.float32))
        self._restart.start()

    def _models_changed(self) -> None:
        self._candidates = None
        if self.source.source() != "vae_sample":  # the source picker restarts for that one
            self._restart.start()

    def _vae_candidates(self, model) -> LatentCandidates:
        """The VAE's coarse search grid, decoded once per model."""
        if self._candidates is None or self._candidates[0] is not model:
            self._candidates = (model, latent_candidates(model))
        return self._candidates[1]

    def start(self) -> None:
        """Start every method from the beginning with the current digit and mask."""
        self._restart.stop()
        self._timer.stop()
        self._stale = False
        self._runs = {}
        self.results = {m: None for m in (*METHODS, "mean_fill")}
        self.errors = {m: [] for m in METHODS}
        self.fallbacks = {}
        # The last fill's "Best:" figures belong to the old mask: gone until the new fill has its own.
        self.message.setText(FILLING_MESSAGE)
        for curve in self.curves.values():
            curve.setData([], [])
        mask = self.editor.mask()
        hidden = int(mask.sum())
        self.mask_label.setText(f"{hidden} of {mask.size} pixels hidden ({100 * hidden / mask.size:.0f} %)")
        if self.clean is None:
            for view in self.views.values():
                view.set_image(None, "")
            self.message.setText(self.source.why_none())
            self.progress.setText("")
            return
        x = as_float_images(self.clean[None].astype(np.float32))  # model rows, channels first
        mask = np.tile(mask.reshape(-1), self._channels)
        mean = self.workbench.mean_image
        mean = as_float_images(mean[None])[0].numpy() if mean is not None else None
        wb = self.workbench
        models = {"ae_projection": wb.ae, "vae_latent": wb.vae, "dae": wb.dae, "dae_masking": wb.dae_masking}
        missing = []
        for m in METHODS:
            slot = models[m]
            if slot is None:
                self.views[m].set_image(None, f"{METHOD_TITLES[m]}: not loaded")
                missing.append(METHOD_TITLES[m])
                continue
            model = slot.model
            if m == "ae_projection":
                run = iter_project_ae(model, x, mask, steps=STEPS[m], mean_image=mean)
            elif m == "vae_latent":
                run = iter_optimise_vae_latent(model, x, mask, steps=STEPS[m], mean_image=mean, candidates=self._vae_candidates(model))
            else:  # either DAE; one trained with masking noise starts the hole black
                run = iter_dae_fill(model, x, mask, steps=STEPS[m], mean_image=mean)
            self._runs[m] = run
        baseline = mean_fill(x, mask, mean if mean is not None else np.full(x.shape[1], 0.5, np.float32))
        self.results["mean_fill"] = baseline
        self.mean_error = masked_mse(baseline.image, x, mask)
        self.views["mean_fill"].set_image(self._picture(baseline.image), f"Mean image\n{self.mean_error:.4f}")
        self.mean_line.setValue(self.mean_error)
        self._y_top = max(self.mean_error, 1e-4) * 1.6
        self.plot.setYRange(0, self._y_top, padding=0)
        self._x, self._mask = x, mask
        self._missing = missing
        self.step()
        if self.animate.isChecked():
            self._timer.start()
        else:
            while self.step():
                pass

    def _auto_start(self) -> None:
        """Fill again after a change, if the panel is on screen; a hidden panel waits
        until it is shown (nothing runs for a tab the user is not looking at)."""
        if self.isVisible():
            self.start()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if self._stale:
            self._restart.start()

    def pause(self) -> None:
        """Stop the animation where it is (``step`` goes on from there)."""
        self._restart.stop()
        self._timer.stop()

    def running(self) -> bool:
        return bool(self._runs)

    def step(self) -> bool:
        """Advance every unfinished method by one iteration and show it; False when all are done."""
        for m, run in list(self._runs.items()):
            result = next(run, None)
            if result is None:
                del self._runs[m]
                continue
            self.results[m] = result
            error = masked_mse(result.image, self._x, self._mask)
            self.errors[m].append(error)
            if result.fallback:
                self.fallbacks[m] = result.fallback
            image = self._picture(result.image)
            done = result.step == STEPS[m]
            self.views[m].set_image(image, f"{SHORT_TITLES[m]}\n{result.step}/{STEPS[m]} · {error:.4f}{'' if done else ' …'}")
            self.curves[m].setData(np.arange(len(self.errors[m])), self.errors[m])
            if error > self._y_top:
                self._y_top = error * 1.15
                self.plot.setYRange(0, self._y_top, padding=0)
            if done:
                del self._runs[m]
        if not self._runs:
            self._timer.stop()
            self._finished()
        else:
            self.progress.setText("filling…")
        self.stepped.emit()
        return bool(self._runs)

    def final_errors(self) -> dict[str, float]:
        """Masked-region MSE of each method's latest fill and of the mean fill."""
        out = {m: errs[-1] for m, errs in self.errors.items() if errs}
        if self.results.get("mean_fill") is not None:
            out["mean_fill"] = self.mean_error
        return out

    def _finished(self) -> None:
        self.progress.setText("done")
        if not self._mask.any():
            self.message.setText("Nothing is hidden: paint over the image, drag a rectangle or pick a preset.")
            return
        errors = self.final_errors()
        methods = {m: e for m, e in errors.items() if m != "mean_fill"}
        parts = []
        if methods:
            best = min(methods, key=methods.get)
            ratio = methods[best] / self.mean_error if self.mean_error > 0 else float("nan")
            parts.append(f"Best: {METHOD_TITLES[best]}, MSE {methods[best]:.4f} on the hidden pixels, "
                         f"{ratio:.2f}× the mean image's {self.mean_error:.4f}.")
        if self.fallbacks:
            said = "; ".join(f"{METHOD_TITLES[m]}: {text.split(': ', 1)[-1]}" for m, text in self.fallbacks.items())
            parts.append(f"Every pixel is hidden, so nothing is known and each method falls back ({said}).")
        if self._missing:
            parts.append(f"Not loaded: {', '.join(self._missing)}.")
        self.message.setText(" ".join(parts))

    # ------------------------------------------------------------ window hooks

    def set_active(self, on: bool) -> None:
        """The panel came to the front (its keys work) or went behind another."""
        set_actions_active(self.panel_actions, on)
        if on:
            self.editor.setFocus()

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        style_plot(self.plot, theme)

    def shutdown(self, timeout: float = 1.0) -> None:
        self._timer.stop()
        self._runs = {}

    def demo(self) -> None:
        """A test digit with its centre hidden, filled to the end (for screenshots)."""
        self.source.set_source("test")
        self.source.index.setValue(3)
        self.animate.setChecked(False)
        self.set_preset("center_square")
        self.start()
        self.animate.setChecked(True)

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """The workbench brings the new dataset (its data_changed signal); images of
        another size or colour build the panel again, with a mask editor of their size."""
        return (tuple(dataset.image_shape[:2]), 3 if dataset.colour else 1) == (self._shape, self._channels)

    def _picture(self, rows: torch.Tensor) -> np.ndarray:
        """A fill's model rows as the image the views show, (H, W) or (H, W, 3)."""
        return to_display(rows.reshape(1, -1), self._shape, self._channels)[0]
