"""TrainLiveView: the Train panel's two live latent plots (the AE family left, the VAE
right), each with the image decoded under its crosshair.

Snapshots are kept as they arrive (the latest per model) and drawn when the panel's
timer calls ``draw``. Decoding under the mouse uses the snapshot's copy of the decoder
weights (LiveSpace), never the model being trained. While the run is paced (slow motion,
step by step) each plot also shows trails and the latest batch (``draw_steps``, a
StepOverlay from widgets/trails.py)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QVBoxLayout, QWidget

from explorer.widgets.image_view import ImageView
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import LIGHT, Theme
from explorer.widgets.trails import StepOverlay
from models.jobs import ModelSnapshot
from models.kinds import KIND_SHORT_NAMES, KIND_SIDES
from models.live_space import LiveSpace
from models.nets import NetConfig

if TYPE_CHECKING:
    from explorer.panels.train_history import RunHistory

SIDE_TITLES = {"left": "AE", "right": "VAE"}
PLOT_MIN_SIZE = 200


class TrainLiveView(QWidget):
    """The codes of the probe images under the models being trained, moving as they learn."""

    def __init__(self, parent: QWidget | None = None, *, theme: Theme = LIGHT):
        super().__init__(parent)
        self._configs: tuple[NetConfig, ...] = ()
        self._labels: np.ndarray | None = None  # the probe images' classes, once the run says
        self._latest: dict[int, ModelSnapshot] = {}
        self._drawn: dict[int, ModelSnapshot] = {}
        self._follow = {side: True for side in SIDE_TITLES}
        self.plots: dict[str, LatentPlot] = {}
        self.overlays: dict[str, StepOverlay] = {}
        self.decoded: dict[str, ImageView] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        for side, title in SIDE_TITLES.items():
            plot = LatentPlot(role=side, theme=theme)
            plot.setMinimumSize(PLOT_MIN_SIZE, PLOT_MIN_SIZE)  # both plots and the form fit a 1000 px window
            plot.set_space(None, title=f"{title} latent space (live)", empty_message="Starts moving when\ntraining starts")
            plot.setToolTip("Probe images encoded by the model being trained. Drag to decode with the latest weights; "
                            "the wheel zooms, right-drag pans (the view then stops following the codes).")
            plot.probe_changed.connect(lambda x, y, s=side: self.probe(s, x, y))
            plot.getViewBox().sigRangeChangedManually.connect(lambda *a, s=side: self._stop_following(s))
            self.plots[side] = plot
            self.overlays[side] = StepOverlay(plot, theme=theme)
            view = ImageView(caption=f"{title} decoded", placeholder="drag on the plot", minimum=80)
            view.setToolTip("The image the latest decoder weights produce at the crosshair")
            view.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
            # Wide enough for a caption of coordinates, e.g. "(-12.34, -5.67)".
            view.setFixedWidth(max(96, view.fontMetrics().horizontalAdvance("(-88.88, -88.88)") + 8))
            self.decoded[side] = view
            cell = QHBoxLayout()
            cell.setSpacing(4)
            cell.addWidget(plot, 1)
            column = QVBoxLayout()
            column.addWidget(view)
            column.addStretch(1)
            cell.addLayout(column)
            row.addLayout(cell)

    def _stop_following(self, side: str) -> None:
        self._follow[side] = False

    # ------------------------------------------------------------ a run

    def start_run(self, configs: Sequence[NetConfig]) -> None:
        """Empty both plots for a run of ``configs`` (a side no model trains on says so)."""
        self._configs = tuple(configs)
        self._labels = None
        self._latest.clear()
        self._drawn.clear()
        self._follow = {side: True for side in SIDE_TITLES}
        for side in SIDE_TITLES:
            msg = "Waiting for the\nfirst codes…" if self.config(side) is not None else "Not trained\nin this run"
            self.plots[side].set_space(None, title=self.plot_title(side), empty_message=msg)
            # The caption held the last run's crosshair coordinates: they mean nothing now.
            self.decoded[side].set_image(None, f"{SIDE_TITLES[side]} decoded")
            self.overlays[side].clear()

    def set_probe_labels(self, labels: np.ndarray) -> None:
        """The classes of the probe images whose codes the snapshots carry (the run started)."""
        self._labels = np.asarray(labels, dtype=np.int64)

    def config(self, side: str) -> NetConfig | None:
        """The config of the model shown on ``side`` in this run, if any."""
        return next((c for c in self._configs if KIND_SIDES[c.kind] == side), None)

    # What the plot titles say while snapshots come in; an exported animation says "training".
    state = "live"

    def plot_title(self, side: str, state: str | None = None) -> str:
        state = state or self.state
        config = self.config(side)
        if config is None:
            return f"{SIDE_TITLES[side]} latent space ({state})"
        space = "latent space" if config.latent == 2 else f"PCA plane of the {config.latent}-D latent space"
        return f"{KIND_SHORT_NAMES[config.kind]} · {space} ({state})"

    def take(self, snap: ModelSnapshot) -> None:
        """Keep the latest snapshot of its model; it is drawn at the next ``draw``."""
        self._latest[snap.index] = snap

    def draw(self) -> None:
        """Draw the snapshots that arrived since the last call."""
        for index, snap in list(self._latest.items()):
            if self._drawn.get(index) is not snap:
                self._draw_codes(index, snap)
                self._drawn[index] = snap

    def _draw_codes(self, index: int, snap: ModelSnapshot) -> None:
        if index >= len(self._configs) or self._labels is None:
            return
        config = self._configs[index]
        side = KIND_SIDES[config.kind]
        plot = self.plots[side]
        shown = plot.space if isinstance(plot.space, LiveSpace) else None
        space = LiveSpace(config, snap, previous=shown)
        if shown is None:
            plot.set_space(space, labels=self._labels, title=self.plot_title(side))
            return
        # Move the points in place: set_space would reset the view and the crosshair.
        crosshair = plot.crosshair()
        plot.move_codes(space)
        if self._follow[side]:
            plot.follow_codes()
        if crosshair is not None:
            # The image under a held crosshair evolves with the weights.
            self.probe(side, *crosshair)

    def draw_steps(self, history: RunHistory | None, *, trail: int = 0, batch: bool = False) -> None:
        """Trails through each probe point's last ``trail`` positions (0: none) and rings
        at the codes of the latest step's batch (when its snapshot carries them), both
        projected on the plane each plot shows now; None hides both."""
        for index, config in enumerate(self._configs):
            side = KIND_SIDES[config.kind]
            overlay, space = self.overlays[side], self.plots[side].space
            drawn = self._drawn.get(index)
            if history is None or not isinstance(space, LiveSpace) or drawn is None or self._labels is None:
                overlay.clear()
                continue
            paths = None
            if trail > 1:
                recent = [s for s in history.recent(index, trail) if s.step <= drawn.step]
                if len(recent) >= 2 and all(len(s.probe_codes) == len(self._labels) for s in recent):
                    paths = np.stack([space.codes_to_plane(s.probe_codes) for s in recent])
            overlay.set_trails(paths, self._labels)
            codes = drawn.batch_codes if batch else None
            overlay.set_batch(None if codes is None else space.codes_to_plane(codes), drawn.batch_labels)

    def show_decoded(self, on: bool) -> None:
        """Show or hide the decoded-image boxes (an animation frame has no crosshair)."""
        for view in self.decoded.values():
            view.setVisible(on)

    def mark(self, state: str) -> None:
        """Retitle the plots once the run is over (they stop being live)."""
        if self._labels is None:
            return
        for side, plot in self.plots.items():
            if plot.space is None:
                continue
            cross = plot.crosshair()
            plot.set_space(plot.space, labels=self._labels, title=self.plot_title(side, state))
            if cross is not None:
                self.probe(side, *cross)

    # ------------------------------------------------------------ probing

    def probe(self, side: str, x: float, y: float) -> None:
        """Decode plane point (x, y) of one live plot with the latest decoder weights."""
        plot = self.plots[side]
        space = plot.space
        plot.set_crosshair((x, y))
        if not isinstance(space, LiveSpace):
            return
        image = space.decode_plane(np.array([[x, y]]))[0]
        self.decoded[side].set_image(image, f"({x:.2f}, {y:.2f})")

    def probe_first_codes(self) -> None:
        """Probe each plot at its first probe image's code (a steady screenshot)."""
        for side, plot in self.plots.items():
            if plot.space is not None and len(plot.space.xy):
                x, y = plot.space.xy[0]
                self.probe(side, float(x), float(y))

    def apply_theme(self, theme: Theme) -> None:
        for plot in self.plots.values():
            plot.apply_theme(theme)
        for overlay in self.overlays.values():
            overlay.apply_theme(theme)
