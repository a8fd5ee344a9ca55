"""The explore panel: two latent plots side by side (left: AE, right: VAE by default),
decoding under the mouse, test-image details, prior samples and interpolation."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.widgets.actions import set_actions_active
from explorer.widgets.image_view import ImageStrip, ImageView
from explorer.widgets.latent_plot import LatentPlot
from explorer.widgets.theme import CLASS_COLORS, LIGHT, Theme
from explorer.startup import SIDES, code_cache, plot_title
from models.plane import CodeCache, CodePlane

if TYPE_CHECKING:  # torch-backed: imported when the first model is set, after the first paint
    from models.checkpoint import Checkpoint
    from models.latent_space import LatentSpace

log = logging.getLogger(__name__)

SHORT_NAMES = {"ae": "AE", "vae": "VAE", "dae": "Denoising AE", "linear": "Linear AE"}
DEFAULT_NAMES = {"left": "AE", "right": "VAE"}
BACKGROUNDS = (
    ("manifold", "Decoded manifold", "Tile images decoded on a lattice of the visible plane under the points"),
    ("prior", "Prior contours", "Circles of the VAE prior N(0, I) at 1, 2 and 3 standard deviations"),
    ("density", "Code density", "A 2-D histogram of where the test images' codes lie"),
)
DETAIL_HINT = "Click a point on either plot to see the test image, its reconstructions and codes."
PICK_RADIUS_FACTOR = 3  # picking interpolation ends is more forgiving than selecting


def model_name(ckpt: Checkpoint | None, side: str) -> str:
    """Short name of the model on a side ('AE', 'VAE', ...)."""
    return SHORT_NAMES.get(ckpt.config.kind, ckpt.config.kind) if ckpt is not None else DEFAULT_NAMES[side]


PROBE_HINT = "Left-drag on a plot"
LOADING = "Loading the model…"


def _fmt_xy(xy: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in xy) + ")"


def _fmt_code(code: np.ndarray, limit: int = 4) -> str:
    vals = ", ".join(f"{v:.2f}" for v in code[:limit])
    return f"({vals}{', …' if len(code) > limit else ''})"


class ClassLegend(QWidget):
    """A row of toggle buttons, one per class, in the plot colours: click to hide or
    show that class on both plots."""

    visibility_changed = Signal(int, bool)

    def __init__(self, parent: QWidget | None = None, *, class_names: Sequence[str] = tuple(str(k) for k in range(10))):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self._title = title = QLabel()
        layout.addWidget(title)
        self._buttons: list[QToolButton] = []
        for k, name in enumerate(class_names):
            b = QToolButton(self)
            b.setText(name)
            b.setCheckable(True)
            b.setChecked(True)
            b.setAutoRaise(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setIcon(self._icon(CLASS_COLORS[k % len(CLASS_COLORS)]))
            b.setIconSize(QSize(12, 12))
            b.toggled.connect(lambda on, k=k: self.visibility_changed.emit(k, on))
            layout.addWidget(b)
            self._buttons.append(b)
        show_all = QToolButton(self)
        show_all.setText("All")
        show_all.setAutoRaise(True)
        show_all.setToolTip("Show every class")
        show_all.clicked.connect(lambda: [b.setChecked(True) for b in self._buttons])
        layout.addWidget(show_all)
        self.set_class_names(class_names)

    def set_class_names(self, class_names: Sequence[str]) -> None:
        """Label the buttons with another dataset's classes (digits, clothes, characters)."""
        digits = all(name.isdigit() for name in class_names)
        self._title.setText("Digits:" if digits else "Classes:")
        self._title.setToolTip(f"Click a {'digit' if digits else 'class'} to hide or show its points on both plots")
        for k, b in enumerate(self._buttons):
            name = class_names[k] if k < len(class_names) else str(k)
            b.setText(name)
            b.setToolTip(f"Hide or show the {name}{'s' if digits else ''} (class {k})")
            b.setChecked(True)

    @staticmethod
    def _icon(color: str) -> QIcon:
        icon = QIcon()
        for state, filled in ((QIcon.State.On, True), (QIcon.State.Off, False)):
            pm = QPixmap(24, 24)
            pm.fill(Qt.GlobalColor.transparent)
            p = QPainter(pm)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QColor(color))
            p.setBrush(QColor(color) if filled else Qt.BrushStyle.NoBrush)
            p.drawEllipse(3, 3, 18, 18)
            p.end()
            icon.addPixmap(pm, QIcon.Mode.Normal, state)
        return icon

    def button(self, k: int) -> QToolButton:
        return self._buttons[k]

    def set_visible_class(self, k: int, on: bool) -> None:
        self._buttons[k].setChecked(on)


class ExplorePanel(QWidget):
    """Compare two latent spaces point by point."""

    status_changed = Signal(str)  # a transient message for the status bar
    models_changed = Signal()  # a checkpoint was loaded or removed

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        images: np.ndarray | None,
        labels: np.ndarray | None,
        class_names: Sequence[str] = tuple(str(k) for k in range(10)),
        theme: Theme = LIGHT,
        code_cache: CodeCache | None = None,
    ):
        super().__init__(parent)
        self.images = images
        self.labels = labels
        self._float = None  # the images as a float tensor, shared by both models' LatentSpaces
        self._code_cache = code_cache  # else made when the first model is shown
        self._previews: set[str] = set()  # sides showing cached codes while their model loads
        self.class_names = tuple(class_names)
        self._theme = theme
        self._checkpoints: dict[str, Checkpoint | None] = {s: None for s in SIDES}
        self._spaces: dict[str, LatentSpace | None] = {s: None for s in SIDES}
        self._selected: int | None = None
        self._probe: tuple[str, float, float] | None = None
        self._pick: list[int] = []
        self._interp: tuple[int, int, int] | None = None
        self._sampled = False

        self._build_actions()
        self._build_ui()

    # ------------------------------------------------------------ construction

    def _build_actions(self) -> None:
        self.linked_action = QAction("&Linked decoding", self, checkable=True, checked=True)
        self.linked_action.setToolTip("Decode the probed point with both models and show the crosshair on both plots")
        self.linked_action.setShortcut(QKeySequence("L"))
        self.linked_action.toggled.connect(self._linked_toggled)
        self.background_actions: dict[str, QAction] = {}
        for i, (name, text, tip) in enumerate(BACKGROUNDS, start=1):
            a = QAction(text, self, checkable=True)
            a.setToolTip(tip)
            a.setShortcut(QKeySequence(f"Ctrl+{i}"))
            a.toggled.connect(lambda on, name=name: self.set_background(name, on))
            self.background_actions[name] = a
        self.reset_action = QAction("&Reset view", self)
        self.reset_action.setShortcuts([QKeySequence("Ctrl+0"), QKeySequence("R")])
        self.reset_action.setToolTip("Show all codes again (Ctrl+0 or R)")
        self.reset_action.triggered.connect(self.reset_view)
        self.panel_actions = (self.linked_action, self.reset_action)
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
        hint = QLabel("Left-drag: decode  ·  click a point: details  ·  wheel: zoom  ·  right/shift-drag: pan")
        hint.setEnabled(False)
        top.addWidget(hint)
        root.addLayout(top)

        self.plots: dict[str, LatentPlot] = {}
        plots_split = QSplitter(Qt.Orientation.Horizontal)
        plots_split.setChildrenCollapsible(False)
        for side in SIDES:
            plot = LatentPlot(role=side, theme=self._theme)
            plot.probe_changed.connect(lambda x, y, side=side: self.probe(side, x, y))
            # A drag moves the crosshair over both plots (linked decoding): both keep
            # their points as pixmaps meanwhile (see LatentPlot.cache_points).
            plot.dragging_changed.connect(lambda on: [p.cache_points(on) for p in self.plots.values()])
            plot.clicked.connect(lambda x, y, r, side=side: self._plot_clicked(side, x, y, r))
            plots_split.addWidget(plot)
            self.plots[side] = plot

        self._side = self._build_side_column()
        self._main_split = QSplitter(Qt.Orientation.Horizontal)
        self._main_split.setChildrenCollapsible(False)
        self._main_split.addWidget(plots_split)
        self._main_split.addWidget(self._side)
        self._main_split.setStretchFactor(0, 1)
        self._main_split.setStretchFactor(1, 0)

        bottom = QWidget()
        bl = QHBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self._build_sampling_box(), 1)
        bl.addWidget(self._build_interpolation_box(), 1)

        self._vertical_split = QSplitter(Qt.Orientation.Vertical)
        self._vertical_split.setChildrenCollapsible(False)
        self._vertical_split.addWidget(self._main_split)
        self._vertical_split.addWidget(bottom)
        self._vertical_split.setStretchFactor(0, 1)
        self._vertical_split.setStretchFactor(1, 0)
        root.addWidget(self._vertical_split, 1)
        self._main_split.setSizes([1060, 320])
        self._vertical_split.setSizes([600, 210])

    def _build_side_column(self) -> QWidget:
        side = QWidget()
        side.setMinimumWidth(280)
        side.setMaximumWidth(420)
        layout = QVBoxLayout(side)
        layout.setContentsMargins(4, 0, 0, 0)

        probe_box = QGroupBox("Decoded at the cursor")
        grid = QGridLayout(probe_box)
        self.probe_views: dict[str, ImageView] = {}
        for col, s in enumerate(SIDES):
            view = ImageView(caption=DEFAULT_NAMES[s], placeholder=PROBE_HINT, minimum=110)
            view.setToolTip("The image the decoder makes from the point under the crosshair")
            grid.addWidget(view, 0, col)
            self.probe_views[s] = view
        linked = QCheckBox("Linked: same point, both models")
        linked.setToolTip(self.linked_action.toolTip())
        linked.setChecked(self.linked_action.isChecked())
        linked.toggled.connect(self.linked_action.setChecked)
        self.linked_action.toggled.connect(linked.setChecked)
        grid.addWidget(linked, 1, 0, 1, 2)
        note = QLabel(
            "The AE decodes nonsense in the gaps between its clusters and far out; "
            "the VAE's space is filled around the origin, so nearly every point there decodes to a digit."
        )
        note.setWordWrap(True)
        note.setEnabled(False)  # a muted hint, not a control
        grid.addWidget(note, 2, 0, 1, 2)
        layout.addWidget(probe_box, 3)

        detail_box = QGroupBox("Test image")
        grid = QGridLayout(detail_box)
        self.detail_views: dict[str, ImageView] = {}
        for col, key in enumerate(("original", *SIDES)):
            caption = "Original" if key == "original" else f"{DEFAULT_NAMES[key]} recon."
            view = ImageView(caption=caption, placeholder="Click a point" if key == "original" else "", minimum=72)
            grid.addWidget(view, 0, col)
            self.detail_views[key] = view
        self.detail_label = QLabel(DETAIL_HINT)
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.detail_label, 1, 0, 1, 3)
        layout.addWidget(detail_box, 2)
        return side

    def _build_sampling_box(self) -> QGroupBox:
        box = QGroupBox("Samples from the prior N(0, I)")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.sample_button = QPushButton("Sample")
        self.sample_button.setToolTip("Draw codes from N(0, I) and decode them with both models (stars on the plots)")
        self.sample_button.clicked.connect(lambda: self.sample())
        row.addWidget(self.sample_button)
        row.addWidget(QLabel("n"))
        self.sample_n = QSpinBox(minimum=1, maximum=24, value=12)
        self.sample_n.setToolTip("How many codes to draw")
        row.addWidget(self.sample_n)
        row.addWidget(QLabel("seed"))
        self.sample_seed = QSpinBox(minimum=0, maximum=999_999, value=0)
        self.sample_seed.setToolTip("Random seed: the same seed draws the same codes")
        row.addWidget(self.sample_seed)
        row.addStretch(1)
        layout.addLayout(row)
        self.sample_n.valueChanged.connect(self._resample)
        self.sample_seed.valueChanged.connect(self._resample)
        self.sample_strips: dict[str, ImageStrip] = {}
        for s in SIDES:
            strip = ImageStrip(label=DEFAULT_NAMES[s], placeholder="Press Sample")
            layout.addWidget(strip, 1)
            self.sample_strips[s] = strip
        return box

    def _build_interpolation_box(self) -> QGroupBox:
        box = QGroupBox("Interpolation between two test images")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.pick_button = QPushButton("Pick two points")
        self.pick_button.setCheckable(True)
        self.pick_button.setToolTip("Then click two points on either plot: the path runs between their test images")
        self.pick_button.toggled.connect(self._pick_toggled)
        row.addWidget(self.pick_button)
        n = len(self.images) if self.images is not None else 1
        row.addWidget(QLabel("from #"))
        self.interp_a = QSpinBox(minimum=0, maximum=max(0, n - 1), value=0)
        row.addWidget(self.interp_a)
        row.addWidget(QLabel("to #"))
        self.interp_b = QSpinBox(minimum=0, maximum=max(0, n - 1), value=min(1, n - 1))
        row.addWidget(self.interp_b)
        row.addWidget(QLabel("steps"))
        self.interp_steps = QSpinBox(minimum=2, maximum=24, value=10)
        row.addWidget(self.interp_steps)
        for spin, tip in ((self.interp_a, "Index of the first test image"), (self.interp_b, "Index of the last test image"),
                          (self.interp_steps, "Images along the path, ends included")):
            spin.setToolTip(tip)
        self.interp_button = QPushButton("Interpolate")
        self.interp_button.setToolTip("Decode the straight path between the two images' codes with both models")
        self.interp_button.clicked.connect(lambda: self.interpolate())
        row.addWidget(self.interp_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.interp_steps.valueChanged.connect(self._reinterpolate)
        self.interp_strips: dict[str, ImageStrip] = {}
        for s in SIDES:
            strip = ImageStrip(label=DEFAULT_NAMES[s], placeholder="Pick two points or choose two test images")
            layout.addWidget(strip, 1)
            self.interp_strips[s] = strip
        return box

    def set_data(
        self, images: np.ndarray | None, labels: np.ndarray | None, class_names: Sequence[str],
        *, code_cache: CodeCache | None = None,
    ) -> None:
        """Explore another image set (another dataset): both plots are emptied until
        models for it are set with ``set_checkpoint``. ``code_cache``: one already made
        for these images (else made when a model is set)."""
        self.images, self.labels = images, labels
        self._float = None
        self._code_cache = code_cache
        self.class_names = tuple(class_names)
        self.legend.set_class_names(self.class_names)
        n = len(images) if images is not None else 1
        for spin in (self.interp_a, self.interp_b):
            spin.setMaximum(max(0, n - 1))
        self._selected, self._probe, self._pick, self._interp, self._sampled = None, None, [], None, False
        for side in SIDES:
            self.set_checkpoint(side, None, empty_message="No model for these images")
        for view in self.detail_views.values():
            view.set_image(None)
        self.detail_label.setText(DETAIL_HINT)
        for strips in (self.sample_strips, self.interp_strips):
            for strip in strips.values():
                strip.clear()

    # ------------------------------------------------------------ models

    def checkpoint(self, side: str) -> Checkpoint | None:
        return self._checkpoints[side]

    def space(self, side: str) -> LatentSpace | None:
        return self._spaces[side]

    @property
    def _float_images(self):
        """The images as float32 torch tensor (N, H*W), converted once when a model needs them."""
        if self._float is None and self.images is not None:
            from models.train import as_float_images

            self._float = as_float_images(self.images)
        return self._float

    @property
    def code_cache(self) -> CodeCache | None:
        if self._code_cache is None:
            self._code_cache = code_cache(self.images)
        return self._code_cache

    def set_preview(self, side: str, plane: CodePlane, title: str) -> None:
        """Plot cached codes on one side while its model loads (start-up does this before
        torch is imported): the points are there, decoding waits for ``set_checkpoint``."""
        self._previews.add(side)
        self._checkpoints[side] = self._spaces[side] = None
        self.plots[side].set_space(plane, labels=self.labels, title=title)
        name = DEFAULT_NAMES[side]
        self.probe_views[side].set_placeholder(LOADING)
        for views, fmt in ((self.probe_views, "{}"), (self.detail_views, "{} recon.")):
            views[side].set_image(None, fmt.format(name))

    def is_loading(self, side: str) -> bool:
        """True while ``side`` shows a preview of codes and waits for its model."""
        return side in self._previews

    def set_checkpoint(self, side: str, ckpt: Checkpoint | None, *, empty_message: str = "") -> None:
        """Show ckpt's latent space on one side; raise CheckpointError (keeping the old
        model) if it cannot be used with the loaded images."""
        from models.checkpoint import CheckpointError
        from models.latent_space import LatentSpace

        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        space = None
        if ckpt is not None:
            if self.images is None:
                raise CheckpointError("no test images are loaded, so there is nothing to encode")
            shape = tuple(self.images.shape[1:])
            if tuple(ckpt.config.image_shape) != shape:
                h, w = ckpt.config.image_shape
                raise CheckpointError(
                    f"{ckpt.name}: the model was trained on {h}x{w} images, the loaded images are {shape[0]}x{shape[1]}"
                )
            try:
                space = LatentSpace(ckpt.model, self._float_images, cache=self.code_cache, key=ckpt.digest)
            except (RuntimeError, ValueError) as exc:
                raise CheckpointError(f"{ckpt.name}: could not encode the test images: {exc}") from exc
        self._checkpoints[side] = ckpt
        self._spaces[side] = space
        name = model_name(ckpt, side)
        title = plot_title(ckpt.config.title, space) if space is not None else f"{name} · no model loaded"
        plot = self.plots[side]
        # A model replacing its preview keeps the view the user may have moved meanwhile.
        view = plot.view_range() if side in self._previews and space is not None else None
        self._previews.discard(side)
        self.probe_views[side].set_placeholder(PROBE_HINT)
        plot.set_space(space, labels=self.labels, title=title, empty_message=empty_message)
        if view is not None:
            plot.set_view_range(view)
        for views, fmt in ((self.probe_views, "{}"), (self.detail_views, "{} recon.")):
            views[side].set_image(None, fmt.format(name))
        for strips in (self.sample_strips, self.interp_strips):
            strips[side].set_label(name)
            width = max(strip.natural_label_width() for strip in strips.values())
            for strip in strips.values():
                strip.set_min_label_width(width)
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
            self.plots[s].set_crosshair((x, y) if show and (self._spaces[s] is not None or loading) else None)
            space = self._spaces[s]
            if show and loading:
                self.probe_views[s].set_caption(f"{DEFAULT_NAMES[s]} at {_fmt_xy((x, y))}")
            if not show or space is None:
                continue
            image = space.decode_plane(np.array([[x, y]]))[0]
            self.probe_views[s].set_image(image, f"{model_name(self._checkpoints[s], s)} at {_fmt_xy((x, y))}")

    def _linked_toggled(self, on: bool) -> None:
        if self._probe is not None:
            self.probe(*self._probe)

    def _plot_clicked(self, side: str, x: float, y: float, radius: float) -> None:
        space = self._spaces[side]
        if space is None:
            return
        among = self.plots[side].visible_mask()
        if self.pick_button.isChecked():
            i = space.nearest((x, y), radius * PICK_RADIUS_FACTOR, among=among)
            if i is None:
                self.status_changed.emit("No test image there: click on a point to pick an end of the path")
                return
            self._pick.append(i)
            (self.interp_a if len(self._pick) == 1 else self.interp_b).setValue(i)
            if len(self._pick) == 1:
                self.status_changed.emit(f"Path starts at test image #{i}; now click the second point")
                self.plots[side].set_selection(tuple(space.xy[i]))
                return
            a, b = self._pick
            self.pick_button.setChecked(False)  # clears the picks
            self.interpolate(a, b)
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
        self.detail_views["original"].set_image(self.images[index].astype(np.float32) / 255.0)
        label = self.class_names[self.labels[index]] if self.labels is not None else "?"
        what = "digit" if label.isdigit() else "class"
        lines = [f"<b>Test image #{index}</b> · {what} {label}"]
        for s in SIDES:
            space = self._spaces[s]
            name = model_name(self._checkpoints[s], s)
            if space is None:
                self.detail_views[s].set_image(None)
                self.plots[s].set_selection(None)
                if s in self._previews:
                    self.plots[s].set_selection(tuple(self.plots[s].space.xy[index]))
                    lines.append(f"{name}: {LOADING}")
                continue
            self.detail_views[s].set_image(space.reconstruct([index])[0])
            self.plots[s].set_selection(tuple(space.xy[index]))
            where = "" if not space.is_projected else f", plane {_fmt_xy(space.xy[index])}"
            lines.append(f"{name} z = {_fmt_code(space.codes[index])}{where}")
        self.detail_label.setText("<br>".join(lines))

    def selected_image(self) -> int | None:
        return self._selected

    # ------------------------------------------------------------ samples

    def sample(self, n: int | None = None, seed: int | None = None) -> None:
        """Draw n codes from N(0, I) (same seed for both models) and decode them."""
        if n is not None:
            self.sample_n.blockSignals(True)
            self.sample_n.setValue(n)
            self.sample_n.blockSignals(False)
        if seed is not None:
            self.sample_seed.blockSignals(True)
            self.sample_seed.setValue(seed)
            self.sample_seed.blockSignals(False)
        n, seed = self.sample_n.value(), self.sample_seed.value()
        self._sampled = True
        for s in SIDES:
            space = self._spaces[s]
            if space is None:
                self.sample_strips[s].clear()
                self.plots[s].set_samples(None)
                continue
            xy, images = space.sample(n, seed=seed)
            self.sample_strips[s].set_images(images)
            self.plots[s].set_samples(xy)
        if self._previews:
            self.status_changed.emit(f"{LOADING} the {n} samples appear as soon as it is in")
            return
        self.status_changed.emit(f"{n} codes drawn from N(0, I) with seed {seed} (stars on the plots)")

    def _resample(self) -> None:
        if self._sampled:
            self.sample()

    # ------------------------------------------------------------ interpolation

    def _pick_toggled(self, on: bool) -> None:
        self._pick = []
        if on:
            self.status_changed.emit("Click the first point of the path on either plot (Esc cancels)")

    def interpolate(self, a: int | None = None, b: int | None = None, steps: int | None = None) -> None:
        """Decode the straight path between test images a and b in each model's latent space."""
        for spin, value in ((self.interp_a, a), (self.interp_b, b), (self.interp_steps, steps)):
            if value is not None:
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)
        a, b, steps = self.interp_a.value(), self.interp_b.value(), self.interp_steps.value()
        self._interp = (a, b, steps)
        for s in SIDES:
            space = self._spaces[s]
            if space is None:
                self.interp_strips[s].clear()
                self.plots[s].set_path(None)
                continue
            xy, images = space.interpolate_images(a, b, steps)
            captions = [""] * steps
            captions[0], captions[-1] = f"#{a}", f"#{b}"
            self.interp_strips[s].set_images(images, captions)
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
        for plot in self.plots.values():
            plot.set_class_visible(k, visible)

    def set_background(self, name: str, on: bool) -> None:
        action = self.background_actions[name]
        if action.isChecked() != on:
            action.setChecked(on)  # re-enters through toggled
            return
        for plot in self.plots.values():
            plot.set_background(name, on)

    def set_active(self, on: bool) -> None:
        """R and L belong to this panel only while it is in front (other panels use the letters)."""
        set_actions_active(self.panel_actions, on)

    def reset_view(self) -> None:
        for plot in self.plots.values():
            plot.reset_view()

    def flush(self) -> None:
        """Finish debounced background work (the manifold) now."""
        for plot in self.plots.values():
            plot.flush()

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        for plot in self.plots.values():
            plot.apply_theme(theme)

    # ------------------------------------------------------------ settings

    def save_settings(self, settings: QSettings) -> None:
        settings.beginGroup("explore")
        settings.setValue("linked", self.linked_action.isChecked())
        for name, action in self.background_actions.items():
            settings.setValue(f"background/{name}", action.isChecked())
        settings.setValue("sample_n", self.sample_n.value())
        settings.setValue("sample_seed", self.sample_seed.value())
        settings.setValue("interp_steps", self.interp_steps.value())
        settings.setValue("main_split", self._main_split.saveState())
        settings.setValue("vertical_split", self._vertical_split.saveState())
        settings.endGroup()

    def restore_settings(self, settings: QSettings) -> None:
        settings.beginGroup("explore")
        try:
            self.linked_action.setChecked(settings.value("linked", True, type=bool))
            for name, action in self.background_actions.items():
                action.setChecked(settings.value(f"background/{name}", False, type=bool))
            self.sample_n.setValue(settings.value("sample_n", self.sample_n.value(), type=int))
            self.sample_seed.setValue(settings.value("sample_seed", self.sample_seed.value(), type=int))
            self.interp_steps.setValue(settings.value("interp_steps", self.interp_steps.value(), type=int))
            for key, split in (("main_split", self._main_split), ("vertical_split", self._vertical_split)):
                state = settings.value(key)
                if isinstance(state, QByteArray):
                    split.restoreState(state)
        finally:
            settings.endGroup()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1380, 800)

