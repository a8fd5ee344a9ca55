"""The small views of the Computation panel's strip: a layer's activations as a heat
map, the code on a small plot of the latent plane, and the numbers as text."""
from __future__ import annotations

import math
from functools import cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QWidget

from explorer.widgets.fitting import FittingImageView
from explorer.widgets.theme import LIGHT, Theme, qt_palette

ACTIVATION_MAP = "viridis"
GRADIENT_MAP = "inferno"
INSET_CODES = 1500  # test codes drawn faintly in the inset: enough for context, cheap to repaint


@cache
def lookup_table(name: str) -> np.ndarray:
    """The colour map ``name`` as 256 RGB rows (uint8)."""
    return pg.colormap.get(name).getLookupTable(nPts=256, alpha=False).astype(np.uint8)


def grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns of the near-square grid that holds n units (512 -> 23 x 23)."""
    rows = max(1, math.ceil(math.sqrt(n)))
    return rows, max(1, math.ceil(n / rows))


def colour_image(values: np.ndarray, name: str, pad: str, top: float | None = None) -> QImage:
    """Values (a vector laid out on grid_shape, or an (H, W) array) coloured by map
    ``name`` from 0 to ``top`` (their largest by default); the grid's spare cells in ``pad``."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        rows, cols = grid_shape(v.size)
        grid = np.full(rows * cols, np.nan)
        grid[: v.size] = v
        v = grid.reshape(rows, cols)
    top = float(np.nanmax(v)) if top is None and np.isfinite(v).any() else (top or 0.0)
    scaled = np.clip(np.nan_to_num(v, nan=0.0) / top, 0.0, 1.0) if top > 0 else np.zeros_like(v)
    rgb = lookup_table(name)[(scaled * 255).astype(np.uint8)]
    rgb[np.isnan(v)] = QColor(pad).getRgb()[:3]
    rgb = np.ascontiguousarray(rgb)
    h, w = v.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class HeatMapView(FittingImageView):
    """A layer's units (or a gradient) as a coloured grid, nearest-neighbour scaled,
    with a caption under it; an ImageView that paints a colour image."""

    def __init__(self, parent: QWidget | None = None, *, caption: str = "", placeholder: str = "", minimum: int = 56):
        super().__init__(parent, caption=caption, placeholder=placeholder, minimum=minimum, caption_lines=2)
        self._pad = self.palette().color(QPalette.ColorRole.Window).name()

    def set_values(self, values: np.ndarray | None, caption: str, *, colour_map: str = ACTIVATION_MAP) -> None:
        """Show ``values`` (None: the placeholder) coloured from 0 to their largest."""
        self._caption = caption
        if values is None:
            self._image, self._qimage = None, None
        else:
            self._image = np.array(values, dtype=np.float32, copy=True)
            self._qimage = colour_image(values, colour_map, self._pad)
        self._colour_map = colour_map
        self.update()

    def apply_theme(self, theme: Theme) -> None:
        # The grid's spare cells take the window's colour: they are no units.
        self._pad = qt_palette(theme).color(QPalette.ColorRole.Window).name()
        if self._image is not None:
            self.set_values(self._image, self._caption, colour_map=self._colour_map)


class LatentInset(pg.PlotWidget):
    """The first two dimensions of the code on a small plot: faint test codes for
    context, the code (or the VAE's mu with its 1- and 2-sigma ellipses, the sampled
    z and the step sigma * eps from mu to z). Its items are made once and moved."""

    def __init__(self, parent: QWidget | None = None, *, theme: Theme = LIGHT):
        super().__init__(parent, background=theme.background)
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(False, False)
        item.getViewBox().setAspectLocked(True)
        for axis in ("left", "bottom"):
            ax = item.getAxis(axis)
            ax.setStyle(tickLength=-3, tickTextOffset=2)
            font = ax.font() if hasattr(ax, "font") else self.font()
            font.setPointSizeF(max(6.5, self.font().pointSizeF() * 0.75))
            ax.setTickFont(font)
        item.getAxis("left").setWidth(30)
        item.getAxis("bottom").setHeight(18)
        self.codes = pg.ScatterPlotItem(size=2, pen=None, pxMode=True)
        self.codes.setAcceptHoverEvents(False)
        self.ellipses = [pg.PlotDataItem() for _ in range(2)]
        self.step = pg.PlotDataItem()
        self.mu = pg.ScatterPlotItem(size=7, symbol="o")
        self.z = pg.ScatterPlotItem(size=11, symbol="x")
        for it in (self.codes, *self.ellipses, self.step, self.mu, self.z):
            item.addItem(it)
        self._theme = theme
        self.apply_theme(theme)

    def set_codes(self, codes: np.ndarray | None) -> None:
        """Faint context: (some of) the test codes' first two dimensions."""
        if codes is None or len(codes) == 0:
            self.codes.setData([], [])
            return
        take = np.random.default_rng(0).permutation(len(codes))[:INSET_CODES]
        xy = np.asarray(codes)[take, :2]
        self.codes.setData(xy[:, 0], xy[:, 1] if xy.shape[1] > 1 else np.zeros(len(xy)))

    def show_code(self, z: np.ndarray | None, *, mu: np.ndarray | None = None, sigma: np.ndarray | None = None,
                  span: float = 1.0) -> None:
        """Mark z (and, for a VAE, mu, its ellipses and the step to z); the view is
        ``span`` wide around it (the VAE's: a few sigma, so the ellipse shows)."""
        visible = z is not None
        for it in (self.z, self.mu, self.step, *self.ellipses):
            it.setVisible(visible)
        if z is None:
            return
        z2 = _two(z)
        self.z.setData([z2[0]], [z2[1]])
        centre = z2
        if mu is not None and sigma is not None:
            m2, s2 = _two(mu), _two(sigma)
            t = np.linspace(0.0, 2.0 * np.pi, 73)
            for k, curve in zip((1, 2), self.ellipses, strict=True):
                curve.setData(m2[0] + k * s2[0] * np.cos(t), m2[1] + k * s2[1] * np.sin(t))
            self.mu.setData([m2[0]], [m2[1]])
            self.step.setData([m2[0], z2[0]], [m2[1], z2[1]])
            centre = m2
            span = max(span, 6.0 * float(max(s2)), float(np.abs(z2 - m2).max()) * 2.6)
        else:
            for it in (self.mu, self.step, *self.ellipses):
                it.setVisible(False)
        half = span / 2
        item = self.getPlotItem()
        item.getViewBox().setRange(
            xRange=(centre[0] - half, centre[0] + half), yRange=(centre[1] - half, centre[1] + half), padding=0
        )
        # Two or three ticks an axis, none at an edge (its label would be cut):
        # pyqtgraph's own crowd a plot this small.
        # The bottom axis has room for two or three labels side by side, the left for more.
        for axis, c, parts, margin in (("bottom", centre[0], 2.5, 0.15), ("left", centre[1], 4.0, 0.06)):
            item.getAxis(axis).setTicks([inner_ticks(c - half, c + half, parts=parts, margin=margin), []])

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.setBackground(theme.background)
        item = self.getPlotItem()
        for axis in ("left", "bottom"):
            ax = item.getAxis(axis)
            ax.setPen(theme.muted)
            ax.setTextPen(theme.muted)
        faint = QColor(theme.muted)
        faint.setAlpha(90)
        self.codes.setBrush(pg.mkBrush(faint))
        pens = (pg.mkPen(theme.crosshair, width=1.5), pg.mkPen(theme.crosshair, width=1, style=Qt.PenStyle.DashLine))
        for curve, pen in zip(self.ellipses, pens, strict=True):
            curve.setPen(pen)
        self.step.setPen(pg.mkPen(theme.prior, width=1.5))
        self.mu.setPen(pg.mkPen(theme.crosshair))
        self.mu.setBrush(pg.mkBrush(theme.crosshair))
        self.z.setPen(pg.mkPen(theme.prior, width=2))
        self.z.setBrush(pg.mkBrush(theme.prior))


def nice_step(x: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten that is at least x."""
    if not x > 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= x)


def inner_ticks(lo: float, hi: float, *, parts: float = 3.0, margin: float = 0.1) -> list[tuple[float, str]]:
    """Round tick values about (hi - lo) / parts apart, at least ``margin`` of the span
    away from either end (a label there would be cut), with their labels."""
    span = hi - lo
    step = nice_step(span / parts)
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    first = math.ceil((lo + margin * span) / step)
    ticks = []
    for k in range(first, first + 8):
        v = k * step
        if v > hi - margin * span:
            break
        ticks.append((v, num(v + 0.0, digits)))
    return ticks


def _two(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return v[:2] if v.size >= 2 else np.array([v[0], 0.0])


def num(v: float, digits: int = 3) -> str:
    """A number as the strip prints it: fixed decimals, a true minus sign."""
    text = f"{v:.{digits}f}"
    return text.replace("-", "−")


def paren(v: float, digits: int = 3) -> str:
    """A number in brackets when negative, as in '0.12 × (−1.30)'."""
    return f"({num(v, digits)})" if v < 0 else num(v, digits)


def vector(v: np.ndarray | None, limit: int = 4, digits: int = 2, fmt=None) -> str:
    """'(0.41, −1.20)' with at most ``limit`` numbers shown (each by ``fmt`` if given)."""
    if v is None:
        return "—"
    parts = [fmt(float(x)) if fmt else num(float(x), digits) for x in np.asarray(v).reshape(-1)[:limit]]
    more = ", …" if np.asarray(v).size > limit else ""
    return f"({', '.join(parts)}{more})"


def short(v: float) -> str:
    """A gradient's size in a narrow column: '183', '0.0362', '2.3e−3'."""
    if v == 0 or 0.01 <= abs(v) < 1000:
        return f"{v:.3g}".replace("-", "−")
    mantissa, exponent = f"{v:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}".replace("-", "−")
