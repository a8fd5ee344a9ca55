"""The explore panel: two latent plots side by side (left: AE, right: VAE by default),
decoding under the mouse, test-image details, prior samples and interpolation."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from explorer.panels.explore_controls import InterpolationBox, SamplingBox, bottom_row
from explorer.panels.explore_plots import PlotPair
from explorer.panels.explore_views import (
    DEFAULT_NAMES,
    LOADING,
    ProbeBox,
    SelectedImageBox,
    code_line,
    side_column,
)
from explorer.startup import SIDES, DatasetContext, code_cache, plot_title
from explorer.widgets.actions import set_actions_active
from explorer.widgets.class_legend import ClassLegend
from explorer.widgets.theme import LIGHT, Theme
from models.kinds import KIND_SHORT_NAMES
from models.plane import CodeCache, CodePlane

if TYPE_CHECKING:  # torch-backed: imported when the first model is set, after the first paint
    from torch import Tensor

    from models.checkpoint import Checkpoint
    from models.latent_space import LatentSpace

log = logging.getLogger(__name__)

PICK_RADIUS_FACTOR = 3  # picking interpolation ends is more forgiving than selecting


def model_name(ckpt: Checkpoint | None, side: str) -> str:
    """Short name of the model on a side ('AE', 'VAE', ...)."""
    return KIND_SHORT_NAMES.get(ckpt.config.kind, ckpt.config.kind) if ckpt is not None else DEFAULT_NAMES[side]


class ImageEncoder:
    """A dataset's test images as the models need them: one float tensor for every
    model, made when the first one is shown, and the cache of their codes."""

    def __init__(self, images: np.ndarray | None, cache: CodeCache | None = None):
        self.images = images
        self._float: Tensor | None = None
        self._cache = cache  # else made when the first model is shown

    @property
    def cache(self) -> CodeCache | None:
        if self._cache is None:
            self._cache = code_cache(self.images)
        return self._cache

    def encode(self, ckpt: Checkpoint) -> LatentSpace:
        """``ckpt``'s latent space of the images; CheckpointError if it cannot encode them."""
        from models.checkpoint import CheckpointError
        from models.data import as_float_images
        from models.latent_space import LatentSpace

        if self.images is None:
            raise CheckpointError("no test images are loaded, so there is nothing to encode")
        shape = tuple(self.images.shape[1:])
        channels = getattr(ckpt.config, "channels", 1)
        if (*ckpt.config.image_shape, *((3,) if channels == 3 else ())) != shape:
            h, w = ckpt.config.image_shape
            kind, here = ("colour" if channels == 3 else "grey"), ("colour" if len(shape) == 3 else "grey")
            raise CheckpointError(f"{ckpt.name}: the model was trained on {h}x{w} {kind} images, "
                                  f"the loaded images are {shape[0]}x{shape[1]} {here}")
        if self._float is None:
            self._float = as_float_images(self.images)
        try:
            return LatentSpace(ckpt.model, self._float, cache=self.cache, key=ckpt.digest)
        except (RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{ckpt.name}: could not encode the test images: {exc}") from exc


class ExplorePanel(QWidget):
    """Compare two latent spaces point by point."""

    status_changed = Signal(str)  # a transient message for the status bar
    models_changed = Signal()  # a checkpoint was loaded or removed
    image_selected = Signal(int)  # select_image(index) showed test image index
    probed = Signal(str, float, float)  # probe(side, x, y) decoded that plane point

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        dataset: DatasetContext,
        theme: Theme = LIGHT,
        code_cache: CodeCache | None = None,
    ):
        super().__init__(parent)
        self._dataset = dataset
        self._encoder = ImageEncoder(dataset.images, code_cache)
        self._previews: set[str] = set()  # sides showing cached codes while their model loads
        self._theme = theme
        self._checkpoints: dict[str, Checkpoint | None] = {s: None for s in SIDES}
        self._spaces: dict[str, LatentSpace | None] = {s: None for s in SIDES}
        self._selected: int | None = None
        self._probe: tuple[str, float, float] | None = None
        self._interp: tuple[int, int, int] | None = None
        self._sampled = False

        self._build_actions()
        self._build_ui()

    @property
    def dataset(self) -> DatasetContext:
        return self._dataset

    @property
    def images(self) -> np.ndarray | None:
        return self._dataset.images

    @property
    def labels(self) -> np.ndarray | None:
        return self._dataset.labels

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._dataset.class_names

    # ------------------------------------------------------------ construction

    def _build_actions(self) -> None:
        self.linked_action = QAction("&Linked decoding", self, checkable=True, checked=True)
        self.linked_action.setToolTip("Decode the probed point with both models and show the crosshair on both plots")
        self.linked_action.setShortcut(QKeySequence("L"))
        self.linked_action.toggled.connect(self._linked_toggled)
        cancel = QAction("Cancel picking", self)
        cancel.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        cancel.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        cancel.triggered.connect(lambda: self.pick_button.setChecked(False))
        self.addAction(cancel)

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(4)

        top = QHBoxLayout()
        self.legend = ClassLegend(self, class_names=self.class_names)
        self.legend.visibility_changed.connect(self.set_class_visible)
        top.addWidget(self.legend)
        top.addStretch(1)
        hint = self.hint = QLabel("Drag: decode · click: details · wheel: zoom · right-drag: pan")
        hint.setToolTip("Left-drag decodes the point under the mouse; click a point for its test image; "
                        "the wheel zooms; right-drag or shift-drag pans")
        hint.setEnabled(False)
        top.addWidget(hint)
        root.addLayout(top)

        self.pair = PlotPair(theme=self._theme)
        self.pair.probe_changed.connect(self.probe)
        self.pair.clicked.connect(self._plot_clicked)
        self.plots, self.background_actions, self.reset_action = self.pair.plots, self.pair.background_actions, self.pair.reset_action
        self.panel_actions = (self.linked_action, self.reset_action)

        self.probe_box = ProbeBox(linked=self.linked_action)
        self.details = SelectedImageBox()
        self._main_split = QSplitter(Qt.Orientation.Horizontal)
        self._main_split.setChildrenCollapsible(False)
        self._main_split.addWidget(self.pair)
        self._main_split.addWidget(side_column(self.probe_box, self.details))
        self._main_split.setStretchFactor(0, 1)
        self._main_split.setStretchFactor(1, 0)

        self.sampling = SamplingBox()
        self.sampling.button.clicked.connect(lambda: self.sample())
        self.sampling.values_changed.connect(self._resample)
        self.interpolation = InterpolationBox(count=len(self.images) if self.images is not None else 1)
        self.interpolation.button.clicked.connect(lambda: self.interpolate())
        self.interpolation.steps_changed.connect(self._reinterpolate)
        self.interpolation.status_changed.connect(self.status_changed)

        self._vertical_split = QSplitter(Qt.Orientation.Vertical)
        self._vertical_split.setChildrenCollapsible(False)
        self._vertical_split.addWidget(self._main_split)
        self._vertical_split.addWidget(bottom_row(self.sampling, self.interpolation))
        self._vertical_split.setStretchFactor(0, 1)
        self._vertical_split.setStretchFactor(1, 0)
        root.addWidget(self._vertical_split, 1)
        self._main_split.setSizes([1060, 320])
        self._vertical_split.setSizes([600, 210])

        # The side column's and bottom row's widgets, under the names tests and scripts use.
        self.probe_views, self.detail_views, self.detail_label = self.probe_box.views, self.details.views, self.details.label
        s, i = self.sampling, self.interpolation
        self.sample_button, self.sample_n, self.sample_seed, self.sample_strips = s.button, s.n, s.seed, s.strips
        self.pick_button, self.interp_button, self.interp_strips = i.pick_button, i.button, i.strips
        self.interp_a, self.interp_b, self.interp_steps = i.a, i.b, i.steps

    # ------------------------------------------------------------ Panel protocol

    def set_dataset(self, dataset: DatasetContext, code_cache: CodeCache | None = None) -> bool:
        """Explore another image set (another dataset): both plots are emptied until
        models for it are set with ``set_checkpoint``. ``code_cache``: one already made
        for these images (else made when a model is set)."""
        self._dataset = dataset
        self._encoder = ImageEncoder(dataset.images, code_cache)
        self.legend.set_class_names(self.class_names)
        self.interpolation.set_count(len(self.images) if self.images is not None else 1)
        self.clear_overlays()
        for side in SIDES:
            self.set_checkpoint(side, None, empty_message="No model for these images")
        return True

    def demo(self) -> None:
        """What a user sees after a few clicks (for screenshots): the prior's circles, a
        selected 4, prior samples, a path from a 1 to a 7 and a probed point."""
        self.set_background("prior", True)
        labels = self.labels
        if labels is None or self._spaces["right"] is None:
            return
        first = {k: int(np.flatnonzero(labels == k)[0]) for k in (1, 4, 7) if (labels == k).any()}
        if 4 in first:
            self.select_image(first[4])
        self.sample(n=12, seed=0)
        if 1 in first and 7 in first:
            self.interpolate(first[1], first[7], 10)
        self.probe("right", 0.6, -0.8)

    def shutdown(self, timeout: float = 1.0) -> None:
        """Nothing runs in the background: every decode happens on the GUI thread."""

    # ------------------------------------------------------------ models

    def checkpoint(self, side: str) -> Checkpoint | None:
        return self._checkpoints[side]

    def space(self, side: str) -> LatentSpace | None:
        return self._spaces[side]

    @property
    def code_cache(self) -> CodeCache | None:
        """The cache of the test images' codes (made when first asked for)."""
        return self._encoder.cache

    def set_preview(self, side: str, plane: CodePlane, title: str) -> None:
        """Plot cached codes on one side while its model loads (start-up does this before
        torch is imported): the points are there, decoding waits for ``set_checkpoint``."""
        self._previews.add(side)
        self._checkpoints[side] = self._spaces[side] = None
        self.plots[side].set_space(plane, labels=self.labels, title=title)
        self.probe_box.set_model(side, DEFAULT_NAMES[side], loading=True)
        self.details.set_model(side, DEFAULT_NAMES[side])

    def is_loading(self, side: str) -> bool:
        """True while ``side`` shows a preview of codes and waits for its model."""
        return side in self._previews

    def set_checkpoint(self, side: str, ckpt: Checkpoint | None, *, empty_message: str = "") -> None:
        """Show ckpt's latent space on one side; raise CheckpointError (keeping the old
        model) if it cannot be used with the loaded images."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        space = self._encoder.encode(ckpt) if ckpt is not None else None
        self._checkpoints[side] = ckpt
        self._spaces[side] = space
        name = model_name(ckpt, side)
        title = plot_title(ckpt.config.title, space) if space is not None else f"{name} · no model loaded"
        plot = self.plots[side]
        # A model replacing its preview keeps the view the user may have moved meanwhile.
        view = plot.view_range() if side in self._previews and space is not None else None
        self._previews.discard(side)
        plot.set_space(space, labels=self.labels, title=title, empty_message=empty_message)
        if view is not None:
            plot.set_view_range(view)
        self.probe_box.set_model(side, name)
        self.details.set_model(side, name)
        self.sampling.set_model_name(side, name)
        self.interpolation.set_model_name(side, name)
        self._refresh_overlays()
        self.models_changed.emit()

    def _refresh_overlays(self) -> None:
        """Redo what the user had on screen (probe, selection, samples, path) with the current models."""
        if self._probe is not None:
            self.probe(*self._probe)
        if self._selected is not None:
            self.select_image(self._selected)
        if self._sampled:
            self.sample()
        if self._interp is not None:
            self.interpolate(*self._interp)

    # ------------------------------------------------------------ probing

    def probe(self, side: str, x: float, y: float) -> None:
        """Decode the plane point (x, y) of one plot (and of the other one too when linked)."""
        self._probe = (side, x, y)
        linked = self.linked_action.isChecked()
        for s in SIDES:
            show = s == side or linked
            loading = s in self._previews
            space = self._spaces[s]
            self.plots[s].set_crosshair((x, y) if show and (space is not None or loading) else None)
            if show and loading:
                self.probe_box.show_point(s, DEFAULT_NAMES[s], (x, y))
            if show and space is not None:
                image = space.decode_plane(np.array([[x, y]]))[0]
                self.probe_box.show_point(s, model_name(self._checkpoints[s], s), (x, y), image)
        self.probed.emit(side, x, y)

    def _linked_toggled(self, on: bool) -> None:
        if self._probe is not None:
            self.probe(*self._probe)

    def _plot_clicked(self, side: str, x: float, y: float, radius: float) -> None:
        space = self._spaces[side]
        if space is None:
            return
        among = self.plots[side].visible_mask()
        if self.interpolation.picking():
            i = space.nearest((x, y), radius * PICK_RADIUS_FACTOR, among=among)
            if i is None:
                self.status_changed.emit("No test image there: click on a point to pick an end of the path")
                return
            ends = self.interpolation.add_pick(i)
            if ends is None:
                self.status_changed.emit(f"Path starts at test image #{i}; now click the second point")
                self.plots[side].set_selection(tuple(space.xy[i]))
            else:
                self.interpolate(*ends)
            return
        i = space.nearest((x, y), radius, among=among)
        if i is None:
            self.probe(side, x, y)
        else:
            self.select_image(i)

    # ------------------------------------------------------------ test images

    def select_image(self, index: int) -> None:
        """Show test image ``index``, its reconstructions, label and codes; ring it on both plots."""
        if self.images is None:
            return
        self._selected = index
        lines = []
        for s in SIDES:
            space, plot = self._spaces[s], self.plots[s]
            name = model_name(self._checkpoints[s], s)
            if space is not None:
                self.details.show_reconstruction(s, space.reconstruct([index])[0])
                plot.set_selection(tuple(space.xy[index]))
                lines.append(code_line(name, space, index))
                continue
            self.details.show_reconstruction(s, None)
            loading = s in self._previews
            plot.set_selection(tuple(plot.space.xy[index]) if loading else None)
            if loading:
                lines.append(f"{name}: {LOADING}")
        label = self.class_names[self.labels[index]] if self.labels is not None else "?"
        self.details.show_image(index, self.images[index], label, lines)
        self.image_selected.emit(index)

    def selected_image(self) -> int | None:
        return self._selected

    def overlays(self) -> tuple[tuple[str, float, float] | None, tuple[int, int, int] | None, bool]:
        """What is on screen: the probe (side, x, y), the path (a, b, steps), whether samples are drawn."""
        return self._probe, self._interp, self._sampled

    def clear_overlays(self) -> None:
        """No probe, selection, samples or path (a new dataset, a session opening)."""
        self._selected, self._probe, self._interp, self._sampled = None, None, None, False
        for plot in self.plots.values():
            plot.clear_overlays()
        for box in (self.details, self.sampling, self.interpolation):
            box.clear()

    # ------------------------------------------------------------ samples

    def sample(self, n: int | None = None, seed: int | None = None) -> None:
        """Draw n codes from N(0, I) (same seed for both models) and decode them."""
        self.sampling.set_values(n, seed)
        n, seed = self.sampling.values()
        self._sampled = True
        for s in SIDES:
            space = self._spaces[s]
            xy, images = space.sample(n, seed=seed) if space is not None else (None, None)
            self.sampling.show_images(s, images)
            self.plots[s].set_samples(xy)
        if self._previews:
            self.status_changed.emit(f"{LOADING} the {n} samples appear as soon as it is in")
            return
        self.status_changed.emit(f"{n} codes drawn from N(0, I) with seed {seed} (stars on the plots)")

    def _resample(self) -> None:
        if self._sampled:
            self.sample()

    # ------------------------------------------------------------ interpolation

    def interpolate(self, a: int | None = None, b: int | None = None, steps: int | None = None) -> None:
        """Decode the straight path between test images a and b in each model's latent space."""
        self.interpolation.set_values(a, b, steps)
        a, b, steps = self.interpolation.values()
        self._interp = (a, b, steps)
        captions = [""] * steps
        captions[0], captions[-1] = f"#{a}", f"#{b}"
        for s in SIDES:
            space = self._spaces[s]
            xy, images = space.interpolate_images(a, b, steps) if space is not None else (None, None)
            self.interpolation.show_images(s, images, captions)
            self.plots[s].set_path(xy)
        if self._previews:
            self.status_changed.emit(f"{LOADING} the path appears as soon as it is in")
            return
        if self.labels is not None:
            la, lb = self.class_names[self.labels[a]], self.class_names[self.labels[b]]
            self.status_changed.emit(f"Path from test image #{a} (a {la}) to #{b} (a {lb}) in {steps} steps")

    def _reinterpolate(self) -> None:
        if self._interp is not None:
            self.interpolate()

    # ------------------------------------------------------------ view options

    def set_class_visible(self, k: int, visible: bool) -> None:
        """Hide or show class k's points on both plots."""
        if self.legend.button(k).isChecked() != visible:
            self.legend.set_visible_class(k, visible)  # re-enters through the legend's signal
            return
        self.pair.set_class_visible(k, visible)

    def set_background(self, name: str, on: bool) -> None:
        """Switch background ``name`` ('manifold', 'prior' or 'density') on both plots."""
        self.pair.set_background(name, on)

    def set_active(self, on: bool) -> None:
        """R and L belong to this panel only while it is in front (other panels use the letters)."""
        set_actions_active(self.panel_actions, on)

    def reset_view(self) -> None:
        self.pair.reset_view()

    def flush(self) -> None:
        """Finish debounced background work (the manifold) now."""
        self.pair.flush()

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.pair.apply_theme(theme)

    # ------------------------------------------------------------ settings

    def save_settings(self, settings: QSettings) -> None:
        settings.beginGroup("explore")
        settings.setValue("linked", self.linked_action.isChecked())
        self.pair.save_settings(settings)
        self.sampling.save_settings(settings)
        self.interpolation.save_settings(settings)
        settings.setValue("main_split", self._main_split.saveState())
        settings.setValue("vertical_split", self._vertical_split.saveState())
        settings.endGroup()

    def restore_settings(self, settings: QSettings) -> None:
        settings.beginGroup("explore")
        try:
            self.linked_action.setChecked(settings.value("linked", True, type=bool))
            self.pair.restore_settings(settings)
            self.sampling.restore_settings(settings)
            self.interpolation.restore_settings(settings)
            for key, split in (("main_split", self._main_split), ("vertical_split", self._vertical_split)):
                state = settings.value(key)
                if isinstance(state, QByteArray):
                    split.restoreState(state)
        finally:
            settings.endGroup()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1380, 800)
