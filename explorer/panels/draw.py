"""The Draw panel: draw a digit and watch both models read it, stroke by stroke."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from explorer.panels.draw_votes import VoteBoard
from explorer.panels.protocol import PanelDefaults
from explorer.panels.workbench import ModelSlot, Workbench
from explorer.startup import DatasetContext
from explorer.widgets.actions import panel_action, set_actions_active, tool_button
from explorer.widgets.canvas import MNIST_BRUSH_WIDTH, DrawingCanvas
from explorer.widgets.fitting import WrappingLabel
from explorer.widgets.image_view import ImageStrip, ImageView
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import LIGHT, Theme
from models.drawing import to_mnist
from models.knn import Verdict
from models.latent_space import Reading

NEAREST = 8
K = 5  # the nearest test codes that vote on what a drawing is
ROLES = ("ae", "vae")
READOUT_LINES = 6


def _fmt(v: np.ndarray, limit: int = 4) -> str:
    parts = ", ".join(f"{x:+.2f}" for x in v[:limit])
    return f"({parts}{', …' if len(v) > limit else ''})"


def demo_digit_stroke(size: int = 280) -> list[tuple[float, float]]:
    """The points of a hand-drawn-looking '2' on a size x size canvas (for screenshots)."""
    s = size / 280.0
    t = np.linspace(np.pi * 1.05, np.pi * 2.25, 30)
    arc = [(140 + 52 * np.cos(a), 112 + 46 * np.sin(a)) for a in t]
    end = arc[-1]
    diagonal = [(end[0] + (92 - end[0]) * u, end[1] + (212 - end[1]) * u) for u in np.linspace(0.05, 1, 14)]
    base = [(92 + 104 * u, 212 - 4 * u) for u in np.linspace(0.05, 1, 10)]
    return [(x * s, y * s) for x, y in arc + diagonal + base]


class DrawPanel(QWidget, PanelDefaults):
    """Canvas, the 28 x 28 image the models see, their reconstructions, the drawing's
    place on both latent plots (with the VAE's posterior) and its nearest test images."""

    status_changed = Signal(str)

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
        self.readings: dict[str, Reading | None] = {r: None for r in ROLES}
        self.verdicts: dict[str, Verdict | None] = {r: None for r in ROLES}
        self.vote_board = VoteBoard(self)
        self.vote_board.ready.connect(self.refresh)
        self._plots_stale = True
        self._pending = QTimer(self, singleShot=True, interval=0)
        self._pending.timeout.connect(self.refresh)
        self._build_ui()
        if settings is not None:
            self.size_slider.setValue(int(settings.value("draw/brush", self.size_slider.value(), type=int)))
        workbench.models_changed.connect(self._models_changed)
        self._models_changed()

    # ------------------------------------------------------------ construction

    def _build_ui(self) -> None:
        self.canvas = DrawingCanvas(self)
        self.canvas.changed.connect(self._pending.start)

        tools = QHBoxLayout()
        group = QActionGroup(self)
        self.brush_action = panel_action(self, "Brush", "Draw ink", "B", checkable=True, group=group)
        self.eraser_action = panel_action(self, "Eraser", "Erase ink", "E", checkable=True, group=group)
        self.brush_action.setChecked(True)
        self.brush_action.toggled.connect(lambda on: on and self.set_eraser(False))
        self.eraser_action.toggled.connect(lambda on: on and self.set_eraser(True))
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(6, 48)
        self.size_slider.setValue(MNIST_BRUSH_WIDTH)
        self.size_slider.setToolTip(
            "Brush width in canvas pixels (the canvas is 280 x 280: ten per MNIST pixel). "
            f"The default, {MNIST_BRUSH_WIDTH}, draws MNIST's stroke thickness: after scaling, a digit "
            "has as many inked pixels as MNIST's own digits of its class"
        )
        self.size_slider.valueChanged.connect(self._size_changed)
        self.size_label = QLabel()
        self.size_label.setMinimumWidth(28)
        self.undo_action = panel_action(self, "Undo", "Undo the last stroke", QKeySequence.StandardKey.Undo)
        self.undo_action.triggered.connect(self.canvas.undo)
        self.clear_action = panel_action(self, "Clear", "Clear the canvas (undo brings it back)", "Ctrl+Backspace")
        self.clear_action.triggered.connect(self.canvas.clear)
        self.follow_action = panel_action(
            self, "Zoom to drawing", "Keep both plots zoomed on the drawing's code, close enough to see the VAE's "
            "posterior ellipses", "Z", checkable=True,
        )
        self.follow_action.toggled.connect(self._follow_toggled)
        self.panel_actions = (self.brush_action, self.eraser_action, self.undo_action, self.clear_action, self.follow_action)
        # Two rows: the tools, then the brush width, so the canvas column stays narrow
        # enough for a small window (1000 x 650).
        for a in (self.brush_action, self.eraser_action):
            tools.addWidget(tool_button(a))
        tools.addStretch(1)
        for a in (self.undo_action, self.clear_action):
            tools.addWidget(tool_button(a))
        width_row = QHBoxLayout()
        width_row.addWidget(QLabel("Brush width"))
        width_row.addWidget(self.size_slider, 1)
        width_row.addWidget(self.size_label)
        self.size_slider.setMinimumWidth(100)
        self._size_changed(self.size_slider.value())

        left = QVBoxLayout()
        left.addLayout(tools)
        left.addLayout(width_row)
        left.addWidget(self.canvas, 1)
        self.readout = QLabel()
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The VAE's posterior line wraps to several lines in the narrow column: room for
        # all of them, else the text would run under the canvas.
        self.readout.setMinimumHeight(READOUT_LINES * self.fontMetrics().lineSpacing() + 8)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        left.addWidget(self.readout)

        middle = QVBoxLayout()
        self.preview = ImageView(caption="What the models see", placeholder="Nothing drawn yet")
        self.preview.setToolTip(
            "Your drawing as MNIST digits were made: cropped to the ink, scaled to fit 20 x 20, "
            "placed in 28 x 28 with its centre of mass in the middle"
        )
        self.recon_views = {r: ImageView(caption=f"{r.upper()} reconstruction", placeholder="") for r in ROLES}
        middle.addWidget(self.preview)
        for view in self.recon_views.values():
            middle.addWidget(view)
        # As wide as the longest caption, so none is cut with an ellipsis.
        captions = ["What the models see", *(f"{r.upper()} reconstruction" for r in ROLES)]
        wide = max(self.fontMetrics().horizontalAdvance(c) for c in captions) + 12
        for view in (self.preview, *self.recon_views.values()):
            view.setMinimumWidth(wide)

        self.plots = {r: LatentPlot(role=r, theme=self._theme) for r in ROLES}
        self.verdict_labels: dict[str, WrappingLabel] = {}
        self.nearest = {r: ImageStrip(label="", placeholder="Draw to see the nearest test images") for r in ROLES}
        grid = QGridLayout()
        plot_tools = QHBoxLayout()
        follow = tool_button(self.follow_action)
        # One line when there is room; in a small window the row grows with its lines.
        where = WrappingLabel("Where the drawing lands in each latent space (+), with the VAE's posterior")
        where.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        plot_tools.addWidget(where, 1)
        plot_tools.addWidget(follow, 0, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(plot_tools, 0, 0, 1, len(ROLES))
        for col, role in enumerate(ROLES):
            self.plots[role].setMinimumSize(240, 240)
            grid.addWidget(self.plots[role], 1, col)
            box = QGroupBox(f"Nearest test images ({role.upper()} codes)")
            box.setToolTip("The test images whose codes lie closest to the drawing's code in the full latent space")
            lay = QVBoxLayout(box)
            lay.setContentsMargins(6, 4, 6, 4)
            self.nearest[role].setMinimumHeight(70)
            self.nearest[role].setMaximumHeight(96)
            lay.addWidget(self.nearest[role])
            self.verdict_labels[role] = verdict = WrappingLabel("")
            verdict.setToolTip(
                f"What the {role.upper()} thinks the drawing is: the vote of the {K} test images whose codes lie "
                "nearest to its code, and whether that code lies unusually far from all of them"
            )
            lay.addWidget(verdict)
            box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
            grid.addWidget(box, 2, col)
        grid.setRowStretch(1, 1)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 5)
        layout.addLayout(middle, 2)
        layout.addLayout(grid, 8)

    # ------------------------------------------------------------ tools

    def set_eraser(self, on: bool) -> None:
        self.canvas.eraser = on
        (self.eraser_action if on else self.brush_action).setChecked(True)

    def _size_changed(self, value: int) -> None:
        self.canvas.brush_width = float(value)
        self.size_label.setText(str(value))
        if self._settings is not None:
            self._settings.setValue("draw/brush", value)

    # ------------------------------------------------------------ models

    def _slot(self, role: str) -> ModelSlot | None:
        return self.workbench.ae if role == "ae" else self.workbench.vae

    def _models_changed(self) -> None:
        # Plotting 10,000 codes twice is left until the panel is first shown (or
        # something is drawn): it need not slow the window's start.
        self._plots_stale = True
        self.refresh()

    def _sync_plots(self) -> None:
        self._plots_stale = False
        for role in ROLES:
            slot = self._slot(role)
            name = slot.name if slot else role.upper()
            space = slot.space if slot else None
            title = f"{name} · {space.description}" if space else f"{name} · no model loaded"
            self.plots[role].set_space(space, labels=self.workbench.labels, title=title, empty_message=f"No {role.upper()} loaded")
            self.recon_views[role].set_caption(f"{name} reconstruction")
            self.nearest[role].set_label("")

    # ------------------------------------------------------------ the live reading

    def image(self) -> np.ndarray | None:
        """The 28 x 28 image the models see (None for an empty canvas)."""
        return to_mnist(self.canvas.array())

    def refresh(self) -> None:
        """Re-read the canvas: preview, reconstructions, markers, nearest images."""
        self._pending.stop()
        img = self.image()
        if self._plots_stale and (img is not None or self.isVisible()):
            self._sync_plots()
        self.preview.set_image(img)
        lines = []
        for role in ROLES:
            slot = self._slot(role)
            reading = slot.space.read(img) if (slot is not None and img is not None) else None
            self.readings[role] = reading
            if reading is None:
                self.verdicts[role] = None
                self.verdict_labels[role].setText("")
                self.recon_views[role].set_image(None)
                self.plots[role].set_marker(None)
                self.nearest[role].clear()
                continue
            self.recon_views[role].set_image(reading.reconstruction)
            ellipses = [reading.ellipse(slot.space, k) for k in (1, 2)] if reading.sigma is not None else None
            self.plots[role].set_marker(reading.xy, ellipses)
            if self.follow_action.isChecked():
                self._zoom(role, reading)
            self._show_verdict(role, slot, reading)
            idx = slot.space.nearest_codes(reading.code, NEAREST)
            self.nearest[role].set_images(slot.space.images[idx].reshape(len(idx), *slot.model.config.image_shape).numpy(),
                                          [self.workbench.label_name(int(i)) for i in idx])
            if reading.sigma is None:
                lines.append(f"<b>{slot.name}</b> code z = {_fmt(reading.code)}")
            else:
                lines.append(
                    f"<b>{slot.name}</b> posterior q(z|x): μ = {_fmt(reading.code)}, σ = {_fmt(reading.sigma)}, "
                    f"KL to the prior {reading.kl:.2f} nats "
                    f"(ellipses: 1σ and 2σ{'' if self.follow_action.isChecked() else '; press Z to zoom in on them'})"
                )
        if img is None:
            self.readout.setText("Draw a digit on the canvas: every stroke is encoded by both models as you draw.")
        else:
            self.readout.setText("<br>".join(lines) if lines else "No models loaded: open checkpoints in the Explore panel.")
        self.workbench.set_drawing(img)

    def _show_verdict(self, role: str, slot: ModelSlot, reading: Reading) -> None:
        """The nearest test codes' vote on what the drawing is, or that it is unlike them all."""
        labels = self.workbench.labels
        if labels is None or len(labels) <= K:
            self.verdicts[role] = None
            self.verdict_labels[role].setText("")
            return
        votes = self.vote_board.votes(slot.space, labels)
        if votes is None:  # set up in the background; refreshed when it is in
            self.verdicts[role] = None
            self.verdict_labels[role].setText(f"Weighing the {slot.name}'s nearest test codes…")
            return
        error = float(np.mean((np.asarray(reading.reconstruction) - np.asarray(self.preview.image())) ** 2))
        verdict = self.verdicts[role] = votes.judge(reading.code, error)
        guess = self.workbench.class_names[verdict.label]
        if verdict.unusual:
            why = ("it rebuilds it worse than 99 % of the test digits" if verdict.badly_rebuilt
                   else "its code lies farther from the nearest test codes, for how close they lie to each other, "
                   "than 99 % of test digits do")
            text = f"<b>Not like any digit</b> the {slot.name} knows: {why} (closest guess {guess})"
        else:
            text = f"Looks like a <b>{guess}</b> to the {slot.name}: {verdict.votes} of the {verdict.k} nearest test codes"
        self.verdict_labels[role].setText(text)

    def _zoom(self, role: str, reading: Reading) -> None:
        plot = self.plots[role]
        # Wide enough for the 2-sigma ellipse with room around it and a few neighbours.
        half = 0.04 * plot.data_span()
        if reading.sigma is not None:
            half = max(6.0 * float(reading.sigma.max()), 0.01 * plot.data_span())
        plot.zoom_to(reading.xy, half)

    def _follow_toggled(self, on: bool) -> None:
        for role in ROLES:
            reading = self.readings[role]
            if on and reading is not None:
                self._zoom(role, reading)
            else:
                self.plots[role].reset_view()

    # ------------------------------------------------------------ window hooks

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._plots_stale:
            self.refresh()
        super().showEvent(event)

    def set_active(self, on: bool) -> None:
        """The panel came to the front (its keys work) or went behind another."""
        set_actions_active(self.panel_actions, on)
        if on:
            self.canvas.setFocus()

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        for plot in self.plots.values():
            plot.apply_theme(theme)

    def demo(self) -> None:
        """A drawn '2', for screenshots."""
        self.canvas.stroke(demo_digit_stroke(self.canvas.array().shape[0]))
        self.follow_action.setChecked(True)
        self.refresh()
        self.vote_board.wait()  # the picture shows what the models think

    def shutdown(self, timeout: float = 1.0) -> None:
        self.vote_board.shutdown(timeout)

    def set_dataset(self, dataset: DatasetContext) -> bool:
        """The workbench brings the new dataset (its data_changed signal); on one the
        panel cannot draw for, the window builds the 'unavailable' page instead."""
        return dataset.drawable
