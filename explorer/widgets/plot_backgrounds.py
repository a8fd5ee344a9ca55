"""What a latent plot can show under its points: the decoded manifold, the prior's
contours and the codes' density."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer

from explorer.widgets.theme import Theme

if TYPE_CHECKING:
    from models.plane import CodePlane

BACKGROUND_NAMES = ("manifold", "prior", "density")
MANIFOLD_CELL_PX = 34  # on-screen size of one decoded image of the manifold
MANIFOLD_MAX_CELLS = 32
DEBOUNCE_MS = 120
PRIOR_SIGMAS = (1, 2, 3)


class BackgroundHost(Protocol):
    """What the backgrounds read from the plot that owns them (a LatentPlot)."""

    space: CodePlane | None

    def getPlotItem(self) -> pg.PlotItem: ...  # noqa: N802 (pyqtgraph's name)

    def view_range(self) -> tuple[tuple[float, float], tuple[float, float]]: ...

    def data_range(self) -> tuple[tuple[float, float], tuple[float, float]]: ...

    def visible_mask(self) -> np.ndarray: ...


class PlotBackgrounds(QObject):
    """A LatentPlot's switchable backgrounds, each drawn from what the plot shows now
    (its codes, their range, the classes shown, the view). The manifold follows the
    view: it is decoded again once the view stops moving."""

    def __init__(self, plot: BackgroundHost):
        super().__init__(plot)
        self._plot = plot
        self._on = dict.fromkeys(BACKGROUND_NAMES, False)
        pi = plot.getPlotItem()
        self._vb = pi.getViewBox()
        # From the bottom up, all under the points.
        self._manifold = pg.ImageItem(axisOrder="row-major")
        self._manifold.setZValue(-30)
        self._density = pg.ImageItem(axisOrder="row-major")
        self._density.setZValue(-20)
        self._prior_curves = [pg.PlotCurveItem() for _ in PRIOR_SIGMAS]
        self._prior_labels = [pg.TextItem(f"{k}σ", anchor=(0, 1)) for k in PRIOR_SIGMAS]
        for item in self._items():
            item.setVisible(False)
            pi.addItem(item, ignoreBounds=True)
        for item in self._prior_curves:
            item.setZValue(-10)
        self._manifold_timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._manifold_timer.timeout.connect(self.update_manifold)
        self._vb.sigRangeChanged.connect(self._view_moved)

    def _items(self) -> list[pg.GraphicsObject]:
        return [self._manifold, self._density, *self._prior_curves, *self._prior_labels]

    def is_on(self, name: str) -> bool:
        return self._on[name]

    def set_on(self, name: str, on: bool) -> None:
        """Switch one background ('manifold', 'prior' or 'density') on or off."""
        if name not in self._on:
            raise ValueError(f"unknown background {name!r}; choose one of {', '.join(self._on)}")
        self._on[name] = on
        {"manifold": self.update_manifold, "prior": self.update_prior, "density": self.update_density}[name]()

    def covers_points(self) -> bool:
        """True when an image background is on, over which the points should fade."""
        return self._on["manifold"] or self._on["density"]

    def hide(self) -> None:
        """Nothing to draw from (no codes): every background is hidden, switched on or not."""
        for item in self._items():
            item.setVisible(False)

    def manifold_image(self) -> np.ndarray | None:
        """The tiled decoded images shown as the manifold (None when off)."""
        if not self._manifold.isVisible():
            return None
        return self._manifold.image

    def flush(self) -> None:
        """Decode the manifold now if it waits for the view to stop moving."""
        if self._manifold_timer.isActive():
            self._manifold_timer.stop()
            self.update_manifold()

    def _view_moved(self, *args) -> None:
        space = self._plot.space
        if self._on["manifold"] and space is not None and space.can_decode:
            self._manifold_timer.start()

    def update_manifold(self) -> None:
        space = self._plot.space
        if not self._on["manifold"] or space is None or not space.can_decode:
            self._manifold.setVisible(False)
            return
        (x0, x1), (y0, y1) = self._plot.view_range()
        px, _ = self._vb.viewPixelSize()
        cell = max(px * MANIFOLD_CELL_PX, 1e-9)
        nx = int(np.clip(round((x1 - x0) / cell), 2, MANIFOLD_MAX_CELLS))
        ny = int(np.clip(round((y1 - y0) / cell), 2, MANIFOLD_MAX_CELLS))
        cx, cy = (x1 - x0) / nx, (y1 - y0) / ny
        # Lattice points at cell centres, so every tile sits over the plane point it decodes.
        tiles = space.manifold(x_range=(x0 + cx / 2, x1 - cx / 2), y_range=(y0 + cy / 2, y1 - cy / 2), n=(nx, ny))
        # Row 0 of the tiles is the top; the plot's y axis points up, so flip rows.
        self._manifold.setImage(tiles[::-1], autoLevels=False, levels=(0.0, 1.0))
        self._manifold.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self._manifold.setVisible(True)

    def update_prior(self) -> None:
        space = self._plot.space
        show = self._on["prior"] and space is not None
        for curve, label in zip(self._prior_curves, self._prior_labels, strict=True):
            curve.setVisible(show)
            label.setVisible(show)
        if not show:
            return
        cx, cy = space.prior_center()
        t = np.linspace(0, 2 * np.pi, 181)
        for r, curve, label in zip(PRIOR_SIGMAS, self._prior_curves, self._prior_labels, strict=True):
            curve.setData(cx + r * np.cos(t), cy + r * np.sin(t))
            label.setPos(cx + r * math.cos(math.pi / 4), cy + r * math.sin(math.pi / 4))

    def update_density(self) -> None:
        space = self._plot.space
        if not self._on["density"] or space is None:
            self._density.setVisible(False)
            return
        (x0, x1), (y0, y1) = self._plot.data_range()
        hist = space.density(x_range=(x0, x1), y_range=(y0, y1), among=self._plot.visible_mask())
        self._density.setImage(hist, autoLevels=False, levels=(0.0, 1.0))
        self._density.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self._density.setVisible(True)

    def apply_theme(self, theme: Theme) -> None:
        for curve in self._prior_curves:
            curve.setPen(pg.mkPen(theme.prior, width=1.5, style=Qt.PenStyle.DashLine))
        for label in self._prior_labels:
            label.setColor(theme.prior)
        # Manifold: ink in the foreground colour on the plot's background.
        bg, fg = np.array(pg.mkColor(theme.background).getRgb()[:3]), np.array(pg.mkColor(theme.foreground).getRgb()[:3])
        t = np.linspace(0, 1, 256)[:, None]
        self._manifold.setLookupTable((bg * (1 - t) + fg * t).astype(np.uint8))
        # Density: transparent where there are no codes, a saturated hue where they crowd.
        hue = np.array(pg.mkColor("#e8590c" if not theme.is_dark else "#ffa94d").getRgb()[:3])
        lut = np.zeros((256, 4), dtype=np.uint8)
        lut[:, :3] = hue
        lut[:, 3] = (np.linspace(0, 1, 256) ** 0.8 * 210).astype(np.uint8)
        lut[0, 3] = 0
        self._density.setLookupTable(lut)
