"""One latent plot: the test codes as points (one scatter item per class), a probe
crosshair driven by left-drag, and switchable backgrounds (decoded manifold, prior
contours, code density). Every graphics item is created once and only updated."""
from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QGraphicsTextItem, QWidget

from explorer.widgets.plot_backgrounds import PlotBackgrounds
from explorer.widgets.theme import CLASS_COLORS, LIGHT, Theme, style_plot
from models.kinds import KIND_SHORT_NAMES, KIND_TITLES
from models.plane import CodePlane

log = logging.getLogger(__name__)

POINT_SIZE = 4
POINT_ALPHA = 170
CLICK_RADIUS_PX = 6
LOOSE_FIT = 0.8  # follow_codes: refit when the codes fill less of the view than this


TITLE_POINT_SIZES = (11, 10, 9)
TITLE_MARGIN = 16  # pixels the title keeps free of the plot's edges


class _PassiveScatter(pg.ScatterPlotItem):
    """Points that let clicks through to the view box, which picks the nearest shown
    point itself (pyqtgraph's scatter would swallow a click that lands on a point)."""

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph API)
        ev.ignore()


class _ProbeViewBox(pg.ViewBox):
    """Left-drag probes instead of panning; shift+left, middle and right drag pan; the
    wheel zooms. Clicks are handed to the plot."""

    def __init__(self, plot: LatentPlot):
        super().__init__(enableMenu=False)
        self._plot = plot

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph API)
        left = ev.button() == Qt.MouseButton.LeftButton
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if axis is None and left and not shift:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self._plot._drag_probe(p.x(), p.y(), finished=ev.isFinish())
            return
        if axis is None and ev.button() == Qt.MouseButton.RightButton:
            # pyqtgraph zooms on right-drag; here it pans like the middle button.
            ev.accept()
            tr = pg.functions.invertQTransform(self.childGroup.transform())
            d = tr.map(ev.lastPos() - ev.pos()) - tr.map(QPointF(0, 0))
            self._resetTarget()
            self.translateBy(x=d.x(), y=d.y())
            self.sigRangeChangedManually.emit(self.state["mouseEnabled"])
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self._plot._click(p.x(), p.y())
            return
        ev.accept()  # right-drag pans; a right-click opens the plot's menu if it has one
        if ev.button() == Qt.MouseButton.RightButton and self._plot.context_menu is not None:
            self._plot.context_menu.popup(ev.screenPos().toPoint())


def move_points(item: pg.ScatterPlotItem, x, y) -> None:
    """New positions for a scatter item's points, keeping their number and style.

    ``setData`` rebuilds every point and looks each one up in the symbol atlas
    again, a Python loop over all points that dominates a large redraw. When only
    the positions change they are written in place, and what depends on them is
    invalidated as ``ScatterPlotItem.addPoints`` does.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(x) != len(y) or len(item.data) != len(x):
        item.setData(x=x, y=y)
        return
    item.data["x"] = x
    item.data["y"] = y
    item.prepareGeometryChange()
    item.informViewBoundsChanged()
    item.bounds = [None, None]
    item.invalidate()
    item.sigPlotChanged.emit(item)


class LatentPlot(pg.PlotWidget):
    """A model's test codes in its latent plane, with probe crosshair and backgrounds."""

    probe_changed = Signal(float, float)  # plane point under a left-drag
    dragging_changed = Signal(bool)  # a left-drag started (True) or ended (False)
    clicked = Signal(float, float, float)  # plane point and the click radius in plane units
    context_menu = None  # a QMenu for right-clicks (explorer.widgets.export.add_context_action)

    def __init__(self, parent: QWidget | None = None, *, role: str, theme: Theme = LIGHT):
        self._vb = _ProbeViewBox(self)
        super().__init__(parent, viewBox=self._vb)
        self.role = role
        self._theme = theme
        self.space: CodePlane | None = None
        self._labels = np.zeros(0, dtype=np.int64)
        self._class_visible = [True] * len(CLASS_COLORS)
        self._title = ""
        self._shown_title = ("", TITLE_POINT_SIZES[0])
        self._vb.sigResized.connect(self._refit_title)
        self._data_range: tuple[tuple[float, float], tuple[float, float]] = ((-1.0, 1.0), (-1.0, 1.0))

        pi = self.getPlotItem()
        pi.hideButtons()
        pi.setMenuEnabled(False)
        pi.showGrid(x=True, y=True, alpha=0.25)
        # Plain numbers: a zoomed view would otherwise read "z2 (x0.001)" with rescaled ticks.
        for axis in ("left", "bottom"):
            pi.getAxis(axis).enableAutoSIPrefix(False)
        self._vb.setAspectLocked(True, ratio=1.0)
        self.setMinimumSize(260, 240)

        self.backgrounds = PlotBackgrounds(self)

        # One scatter item per class with one shared brush: pyqtgraph loops over
        # per-point brushes in Python, which makes a per-point brush list slow.
        self._scatter: list[pg.ScatterPlotItem] = []
        for k, color in enumerate(CLASS_COLORS):
            c = pg.mkColor(color)
            c.setAlpha(POINT_ALPHA)
            item = _PassiveScatter(size=POINT_SIZE, pen=None, brush=pg.mkBrush(c), hoverable=False, name=str(k))
            pi.addItem(item)
            self._scatter.append(item)
        self._points_cached = False  # see cache_points

        # Overlays: interpolation path, prior samples, selected test image, crosshair.
        self._path = pg.PlotDataItem(symbol="o", symbolSize=6)
        self._path.setZValue(20)
        self._samples = _PassiveScatter(symbol="star", size=15, hoverable=False)
        self._samples.setZValue(21)
        self._selection = _PassiveScatter(symbol="o", size=16, brush=None, hoverable=False)
        self._selection.setZValue(22)
        # A new image's code (a drawing) and its posterior's 1- and 2-sigma ellipses.
        self._marker = _PassiveScatter(symbol="+", size=20, hoverable=False)
        self._marker.setZValue(24)
        self._ellipses = [pg.PlotCurveItem() for _ in range(2)]
        for item in self._ellipses:
            item.setZValue(23)
        self._vline = pg.InfiniteLine(angle=90, movable=False)
        self._hline = pg.InfiniteLine(angle=0, movable=False)
        for item in (self._path, self._samples, self._selection, self._marker, *self._ellipses, self._vline, self._hline):
            item.setVisible(False)
            pi.addItem(item, ignoreBounds=True)
        self._vline.setZValue(30)
        self._hline.setZValue(30)

        self._message = pg.TextItem("", anchor=(0.5, 0.5))
        self._message.setVisible(False)
        pi.addItem(self._message, ignoreBounds=True)

        self.apply_theme(theme)
        self._show_empty("No model loaded")

    # ------------------------------------------------------------ content

    def set_space(self, space: CodePlane | None, *, labels: np.ndarray | None = None, title: str = "", empty_message: str = "") -> None:
        """Show the codes of space (coloured by labels), or an empty plot with a message."""
        self.space = space
        self._title = title
        self.clear_overlays()
        if space is None:
            self._labels = np.zeros(0, dtype=np.int64)
            for item in self._scatter:
                item.setData(x=[], y=[])
            self._show_empty(empty_message or "No model loaded")
            self._set_title()
            return
        self._message.setVisible(False)
        self._labels = np.asarray(labels, dtype=np.int64) if labels is not None else np.zeros(len(space.xy), np.int64)
        for k, item in enumerate(self._scatter):
            xy = space.xy[self._labels == k]
            item.setData(x=xy[:, 0], y=xy[:, 1])
            item.setVisible(self._class_visible[k])
        self._data_range = space.bounds()
        axis = "PC{} of z" if space.is_projected else "z{}"
        self.setLabel("bottom", axis.format(1))
        self.setLabel("left", axis.format(2))
        self._set_title()
        self.backgrounds.update_prior()
        self.backgrounds.update_density()
        self.reset_view()
        self.backgrounds.update_manifold()

    def _fitted_title(self) -> tuple[str, int]:
        """The title as it fits the plot's width on one line (pyqtgraph's title row has
        room for one): a smaller size first, then the model's short name ('VAE' for
        'Variational autoencoder'), then cut with '…'; the whole title is the plot's
        tooltip whenever it is shortened, so a small window never loses it."""
        # The title is centred over the plot area (right of the left axis, whose width follows the ticks).
        centre = self.getPlotItem().vb.sceneBoundingRect().center().x()
        width = 2 * min(centre, self.width() - centre) - TITLE_MARGIN
        for text in self.title_forms():
            for pt in TITLE_POINT_SIZES:
                if self._title_width(text, pt) <= width:
                    return text, pt
        pt = TITLE_POINT_SIZES[-1]
        text = self.title_forms()[-1]
        while len(text) > 1 and self._title_width(text + "…", pt) > width:
            text = text[:-1]
        return text.rstrip() + "…", pt

    def title_forms(self) -> list[str]:
        """The title, then (if it names a model kind) the same with the kind's short name."""
        forms = [self._title]
        for kind, title in KIND_TITLES.items():
            if self._title.startswith(title):
                forms.append(KIND_SHORT_NAMES[kind] + self._title[len(title):])
                break
        return forms

    def _title_width(self, text: str, pt: int) -> float:
        """How wide the title item draws ``text`` at ``pt`` points: measured with a text
        item like pyqtgraph's own, since its rich text is laid out wider than QFontMetrics
        of the widget's font says (the title was cut on a real X11 display)."""
        item = getattr(self, "_title_probe", None)
        if item is None:
            item = self._title_probe = QGraphicsTextItem()
            item.setFont(self.getPlotItem().titleLabel.item.font())
        item.setHtml(f"<span style='font-size: {pt}pt'>{text}</span>")  # as pyqtgraph's LabelItem
        return item.boundingRect().width()

    def shown_title(self) -> tuple[str, int]:
        """The title as shown and its size in points."""
        return self._shown_title

    def _set_title(self) -> None:
        self._shown_title = self._fitted_title() if self._title else ("", TITLE_POINT_SIZES[0])
        text, pt = self._shown_title
        self.setTitle(text, color=self._theme.foreground, size=f"{pt}pt")
        self.getPlotItem().titleLabel.setToolTip(self._title if text != self._title else "")

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._refit_title()

    def _refit_title(self, *_) -> None:
        # Also when only the plot area moved (the left axis widened for longer tick labels).
        # pyqtgraph's constructor resizes the view before this class's fields exist.
        if getattr(self, "_title", "") and self._fitted_title() != self._shown_title:
            self._set_title()

    def _show_empty(self, message: str) -> None:
        self._message.setText(message, color=self._theme.muted)
        self._message.setPos(0, 0)
        self._message.setVisible(True)
        self.setLabel("bottom", "z1")
        self.setLabel("left", "z2")
        self.backgrounds.hide()
        self._vb.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0)

    def reset_view(self) -> None:
        """Show all codes (ignoring a few outliers)."""
        if self.space is None:
            self._vb.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0)
            return
        (x0, x1), (y0, y1) = self._data_range
        self._vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def follow_codes(self) -> bool:
        """After ``move_codes`` (a model that trains on): refit the view to the codes when
        they have left it or fill less than LOOSE_FIT of it along both axes, else keep
        it, since every new range lays both axes out again, the costliest part of a
        redraw. True when the view changed."""
        if self.space is None:
            return False
        (x0, x1), (y0, y1) = self._data_range
        (v0, v1), (w0, w1) = self.view_range()
        outside = x0 < v0 or x1 > v1 or y0 < w0 or y1 > w1
        loose = (x1 - x0) < LOOSE_FIT * (v1 - v0) and (y1 - y0) < LOOSE_FIT * (w1 - w0)
        if outside or loose:
            self._vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        return outside or loose

    def zoom_to(self, xy: tuple[float, float], half_width: float) -> None:
        """Centre the view on xy, showing half_width plane units either side."""
        h = max(float(half_width), 1e-6)
        self._vb.setRange(xRange=(xy[0] - h, xy[0] + h), yRange=(xy[1] - h, xy[1] + h), padding=0)

    def data_range(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(x_range, y_range) holding nearly all codes (CodePlane.bounds)."""
        return self._data_range

    def data_span(self) -> float:
        """The larger side of the range that holds nearly all codes."""
        (x0, x1), (y0, y1) = self._data_range
        return max(x1 - x0, y1 - y0)

    def view_range(self) -> tuple[tuple[float, float], tuple[float, float]]:
        (x0, x1), (y0, y1) = self._vb.viewRange()
        return (x0, x1), (y0, y1)

    def set_view_range(self, view: tuple[tuple[float, float], tuple[float, float]]) -> None:
        (x0, x1), (y0, y1) = view
        self._vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    # ------------------------------------------------------------ classes

    def set_class_visible(self, k: int, visible: bool) -> None:
        self._class_visible[k] = visible
        self._scatter[k].setVisible(visible)
        if self.backgrounds.is_on("density"):
            self.backgrounds.update_density()

    def visible_mask(self) -> np.ndarray:
        """Boolean mask of the test points whose class is shown."""
        shown = np.flatnonzero(self._class_visible)
        return np.isin(self._labels, shown)

    def scatter_items(self) -> list[pg.ScatterPlotItem]:
        return list(self._scatter)

    def move_codes(self, space: CodePlane) -> None:
        """Show ``space``'s codes of the same images as now (a model that trained on):
        the points move in place, the view, overlays and crosshair stay."""
        if self.space is None or len(space.xy) != len(self._labels):
            raise ValueError("move_codes needs the codes of the images shown; use set_space for others")
        self.space = space
        for k, item in enumerate(self._scatter):
            xy = space.xy[self._labels == k]
            move_points(item, xy[:, 0], xy[:, 1])
        self._data_range = space.bounds()

    def visible_point_count(self) -> int:
        return sum(len(item.data) for item in self._scatter if item.isVisible())

    # ------------------------------------------------------------ probing

    def _drag_probe(self, x: float, y: float, *, finished: bool) -> None:
        dragging = not finished
        if dragging != self._points_cached:
            self.cache_points(dragging)
            self.dragging_changed.emit(dragging)
        self.probe_changed.emit(x, y)

    def cache_points(self, on: bool) -> None:
        """While the user drags, the points are kept as pixmaps: every step moves the
        crosshair over them, and Qt would otherwise draw again every point under the
        strip it repaints. Not kept otherwise: a full redraw (points moved, view
        changed) costs more cached, drawn into the pixmaps and then blended from them
        (docs/benchmarks.md)."""
        if on == self._points_cached:
            return
        self._points_cached = on
        mode = QGraphicsItem.CacheMode.DeviceCoordinateCache if on else QGraphicsItem.CacheMode.NoCache
        for item in self._scatter:
            item.setCacheMode(mode)

    def _click(self, x: float, y: float) -> None:
        px, _ = self._vb.viewPixelSize()
        self.clicked.emit(x, y, CLICK_RADIUS_PX * px)

    def set_crosshair(self, xy: tuple[float, float] | None) -> None:
        """Move the crosshair to xy (plane coordinates), or hide it."""
        if xy is None:
            self._vline.setVisible(False)
            self._hline.setVisible(False)
            return
        self._vline.setValue(xy[0])
        self._hline.setValue(xy[1])
        self._vline.setVisible(True)
        self._hline.setVisible(True)

    def crosshair(self) -> tuple[float, float] | None:
        if not self._vline.isVisible():
            return None
        return float(self._vline.value()), float(self._hline.value())

    def view_to_widget(self, x: float, y: float) -> QPointF:
        """Plane coordinates -> this widget's pixel coordinates (for synthetic mouse events)."""
        scene = self._vb.mapViewToScene(QPointF(x, y))
        return QPointF(self.mapFromScene(scene))

    # ------------------------------------------------------------ overlays

    def set_samples(self, xy: np.ndarray | None) -> None:
        if xy is None or len(xy) == 0:
            self._samples.setVisible(False)
            return
        self._samples.setData(x=xy[:, 0], y=xy[:, 1])
        self._samples.setVisible(True)

    def set_path(self, xy: np.ndarray | None) -> None:
        if xy is None or len(xy) == 0:
            self._path.setVisible(False)
            return
        self._path.setData(x=xy[:, 0], y=xy[:, 1])
        self._path.setVisible(True)

    def path(self) -> np.ndarray | None:
        if not self._path.isVisible():
            return None
        x, y = self._path.getData()
        return np.stack([x, y], axis=1)

    def set_selection(self, xy: tuple[float, float] | None) -> None:
        if xy is None:
            self._selection.setVisible(False)
            return
        self._selection.setData(x=[xy[0]], y=[xy[1]])
        self._selection.setVisible(True)

    def selection(self) -> tuple[float, float] | None:
        """Where the ring of the selected test image is, or None."""
        if not self._selection.isVisible() or len(self._selection.data) == 0:
            return None
        return float(self._selection.data["x"][0]), float(self._selection.data["y"][0])

    def set_marker(self, xy: tuple[float, float] | None, ellipses: list[np.ndarray | None] | None = None) -> None:
        """Mark a new image's code (a drawing), with up to two posterior contours (N, 2)."""
        contours = list(ellipses or [])
        for k, item in enumerate(self._ellipses):
            curve = contours[k] if k < len(contours) else None
            if xy is None or curve is None:
                item.setVisible(False)
                continue
            item.setData(x=curve[:, 0], y=curve[:, 1])
            item.setVisible(True)
        if xy is None:
            self._marker.setVisible(False)
            return
        self._marker.setData(x=[xy[0]], y=[xy[1]])
        self._marker.setVisible(True)

    def marker(self) -> tuple[float, float] | None:
        if not self._marker.isVisible():
            return None
        x, y = self._marker.getData()
        return float(x[0]), float(y[0])

    def ellipse_curves(self) -> list[np.ndarray]:
        """The posterior contours shown, innermost first."""
        return [np.stack(item.getData(), axis=1) for item in self._ellipses if item.isVisible()]

    def clear_overlays(self) -> None:
        for setter in (self.set_samples, self.set_path):
            setter(None)
        self.set_marker(None)
        self.set_selection(None)
        self.set_crosshair(None)

    # ------------------------------------------------------------ backgrounds

    def set_background(self, name: str, on: bool) -> None:
        """Switch one background ('manifold', 'prior' or 'density') on or off."""
        self.backgrounds.set_on(name, on)
        # Points fade over an image background so it stays readable.
        for item in self._scatter:
            item.setOpacity(0.35 if self.backgrounds.covers_points() else 1.0)

    def background(self, name: str) -> bool:
        return self.backgrounds.is_on(name)

    def manifold_image(self) -> np.ndarray | None:
        """The tiled decoded images shown as the manifold background (None when off)."""
        return self.backgrounds.manifold_image()

    def flush(self) -> None:
        """Do pending debounced work now (before a grab or a test assertion)."""
        self.backgrounds.flush()

    # ------------------------------------------------------------ theme

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        style_plot(self, theme)
        self._set_title()
        cross = pg.mkPen(theme.crosshair, width=1.5, style=Qt.PenStyle.DashLine)
        self._vline.setPen(cross)
        self._hline.setPen(cross)
        self._selection.setPen(pg.mkPen(theme.crosshair, width=2.5))
        self._marker.setPen(pg.mkPen(theme.accent, width=3.5))
        self._marker.setBrush(pg.mkBrush(theme.accent))
        for k, item in enumerate(self._ellipses):
            item.setPen(pg.mkPen(theme.accent, width=2.0 if k == 0 else 1.5, style=Qt.PenStyle.SolidLine if k == 0 else Qt.PenStyle.DashLine))
        self._samples.setBrush(pg.mkBrush(theme.accent))
        self._samples.setPen(pg.mkPen(theme.background, width=1))
        self._path.setPen(pg.mkPen(theme.accent, width=2))
        self._path.setSymbolBrush(pg.mkBrush(theme.accent))
        self._path.setSymbolPen(pg.mkPen(theme.background))
        self._message.setColor(theme.muted)
        self.backgrounds.apply_theme(theme)
