"""Widgets the user draws on: a digit canvas (mouse or pen) and a mask editor."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPalette, QPen, QTabletEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from explorer.widgets.image_view import to_qimage
from models.corrupt import brush_mask, rect_mask

CANVAS_SIZE = 280  # ten canvas pixels per MNIST pixel
UNDO_LIMIT = 64
# The default brush width in canvas pixels: digits drawn with it have MNIST's stroke
# thickness after to_mnist (as many inked pixels as MNIST's test digits of their class;
# scripts/measure_brush.py, figures in docs/benchmarks.md).
MNIST_BRUSH_WIDTH = 34
PEN_MIN_WIDTH = 0.3  # a pen's lightest touch draws this fraction of the brush width


def _square(widget: QWidget) -> QRectF:
    """The largest centred square in the widget, a few pixels in from its edges."""
    side = max(1.0, min(widget.width(), widget.height()) - 4.0)
    return QRectF((widget.width() - side) / 2, (widget.height() - side) / 2, side, side)


class DrawingCanvas(QWidget):
    """White ink on black, like MNIST. Left button (or a pen) draws; with the eraser
    on it erases. Every stroke segment emits ``changed`` so listeners update live."""

    changed = Signal()
    stroke_finished = Signal()

    def __init__(self, parent: QWidget | None = None, *, size: int = CANVAS_SIZE):
        super().__init__(parent)
        self._image = QImage(size, size, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._undo: list[QImage] = []
        self._last: QPointF | None = None
        self._drawing = False
        self.brush_width = float(MNIST_BRUSH_WIDTH)
        self.eraser = False
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking, True)
        self.setToolTip("Draw a digit with the left mouse button or a pen (pressure sets the width)")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(360, 360)

    # ------------------------------------------------------------ content

    def array(self) -> np.ndarray:
        """The canvas as uint8 (H, W), 0 = background, 255 = full ink."""
        h, w = self._image.height(), self._image.width()
        buf = np.frombuffer(self._image.constBits(), dtype=np.uint8, count=self._image.sizeInBytes())
        return buf.reshape(h, self._image.bytesPerLine())[:, :w].copy()

    def is_empty(self) -> bool:
        return not bool(self.array().any())

    def clear(self) -> None:
        if self.is_empty():
            return
        self._push_undo()
        self._image.fill(0)
        self.update()
        self.changed.emit()
        self.stroke_finished.emit()

    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> None:
        if not self._undo:
            return
        self._image = self._undo.pop()
        self.update()
        self.changed.emit()
        self.stroke_finished.emit()

    def _push_undo(self) -> None:
        self._undo.append(self._image.copy())
        del self._undo[:-UNDO_LIMIT]

    def stroke(self, points: Sequence[tuple[float, float]], *, width: float | None = None) -> None:
        """Draw a stroke through canvas points (x, y) as one undoable step (demos, scripts)."""
        if not points:
            return
        self._push_undo()
        prev = QPointF(*points[0])
        self._segment(prev, prev, width or self.brush_width)
        for p in points[1:]:
            q = QPointF(*p)
            self._segment(prev, q, width or self.brush_width)
            prev = q
        self.changed.emit()
        self.stroke_finished.emit()

    # ------------------------------------------------------------ painting

    def _to_canvas(self, pos: QPointF) -> QPointF:
        box = _square(self)
        s = self._image.width() / box.width()
        return QPointF((pos.x() - box.x()) * s, (pos.y() - box.y()) * s)

    def _segment(self, a: QPointF, b: QPointF, width: float) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        colour = QColor(0, 0, 0) if self.eraser else QColor(255, 255, 255)
        if a == b:
            # A click is a dot: Qt draws nothing for a line of length zero, round caps or not.
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawEllipse(a, width / 2, width / 2)
        else:
            painter.setPen(QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
            painter.drawLine(a, b)
        painter.end()
        self.update()

    def _begin(self, pos: QPointF, width: float) -> None:
        self._push_undo()
        self._drawing = True
        self._last = self._to_canvas(pos)
        self._segment(self._last, self._last, width)
        self.changed.emit()

    def _continue(self, pos: QPointF, width: float) -> None:
        if not self._drawing or self._last is None:
            return
        p = self._to_canvas(pos)
        self._segment(self._last, p, width)
        self._last = p
        self.changed.emit()

    def _end(self) -> None:
        if not self._drawing:
            return
        self._drawing = False
        self._last = None
        self.stroke_finished.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position(), self.brush_width)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._continue(event.position(), self.brush_width)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._end()

    def tabletEvent(self, event: QTabletEvent) -> None:  # noqa: N802
        # Accepted, so Qt does not also synthesise mouse events for the pen.
        width = self.brush_width * (PEN_MIN_WIDTH + (1.0 - PEN_MIN_WIDTH) * max(0.0, min(1.0, event.pressure())))
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            self._begin(event.position(), width)
        elif kind == QTabletEvent.Type.TabletMove:
            self._continue(event.position(), width)
        elif kind == QTabletEvent.Type.TabletRelease:
            self._end()
        event.accept()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        box = _square(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(box, self._image)
        pal = self.palette()
        painter.setPen(pal.color(QPalette.ColorRole.Mid))
        painter.drawRect(box.adjusted(-0.5, -0.5, 0.5, 0.5))
        if self.is_empty():
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "Draw a digit here")
        painter.end()


MASK_TOOLS = ("brush", "rectangle", "eraser")


class MaskEditor(QWidget):
    """A 28 x 28 image shown large, with the mask (the missing pixels) painted over it
    in colour. Tools: brush, rectangle (drag a box) and eraser."""

    mask_changed = Signal()  # live, while painting
    mask_finished = Signal()  # a stroke or rectangle is complete

    def __init__(self, parent: QWidget | None = None, *, shape: tuple[int, int] = (28, 28)):
        super().__init__(parent)
        self._shape = shape
        self._image = np.zeros(shape, dtype=np.float32)
        self._qimage = to_qimage(self._image)
        self._mask = np.zeros(shape, dtype=bool)
        self._undo: list[np.ndarray] = []
        self._last: tuple[float, float] | None = None
        self._rect_start: tuple[float, float] | None = None
        self._rect_now: tuple[float, float] | None = None
        self.tool = "brush"
        self.radius = 1.5
        self.overlay = QColor(230, 80, 60, 150)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Paint the pixels to hide: brush, rectangle or eraser (the tools above)")

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(360, 360)

    # ------------------------------------------------------------ content

    def set_image(self, image: np.ndarray) -> None:
        self._image = np.array(image, dtype=np.float32, copy=True)
        self._qimage = to_qimage(self._image)
        self.update()

    def mask(self) -> np.ndarray:
        return self._mask.copy()

    def set_mask(self, mask: np.ndarray) -> None:
        """Replace the mask (bool (H, W), True = missing); undoable."""
        m = np.asarray(mask, dtype=bool)
        if m.shape != self._shape:
            raise ValueError(f"a mask for this image must have shape {self._shape}, got {m.shape}")
        self._push_undo()
        self._mask = m.copy()
        self.update()
        self.mask_changed.emit()
        self.mask_finished.emit()

    def clear(self) -> None:
        self.set_mask(np.zeros(self._shape, dtype=bool))

    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> None:
        if self._undo:
            self._mask = self._undo.pop()
            self.update()
            self.mask_changed.emit()
            self.mask_finished.emit()

    def _push_undo(self) -> None:
        self._undo.append(self._mask.copy())
        del self._undo[:-UNDO_LIMIT]

    def _overlay_image(self) -> QImage:
        """The mask as a transparent image in the overlay colour (cached per mask)."""
        key = self._mask.tobytes()
        if getattr(self, "_overlay_key", None) != key:
            h, w = self._shape
            rgba = np.zeros((h, w, 4), dtype=np.uint8)
            rgba[self._mask] = (self.overlay.red(), self.overlay.green(), self.overlay.blue(), self.overlay.alpha())
            self._overlay = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
            self._overlay_key = key
        return self._overlay

    # ------------------------------------------------------------ geometry

    def _to_pixel(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> (row, col) in image pixels (centres at whole numbers)."""
        box = _square(self)
        h, w = self._shape
        return (pos.y() - box.y()) / box.height() * h - 0.5, (pos.x() - box.x()) / box.width() * w - 0.5

    def pixel_to_widget(self, row: float, col: float) -> QPointF:
        """The widget position of pixel (row, col)'s centre (for tests and scripts)."""
        box = _square(self)
        h, w = self._shape
        return QPointF(box.x() + (col + 0.5) / w * box.width(), box.y() + (row + 0.5) / h * box.height())

    # ------------------------------------------------------------ painting

    def _paint(self, points: list[tuple[float, float]]) -> None:
        stroke = brush_mask(points, radius=self.radius, image_shape=self._shape)
        stroke = stroke.numpy() if hasattr(stroke, "numpy") else np.asarray(stroke)
        self._mask = (self._mask & ~stroke) if self.tool == "eraser" else (self._mask | stroke)
        self.update()
        self.mask_changed.emit()

    def _rect_mask(self) -> np.ndarray:
        (r0, c0), (r1, c1) = self._rect_start, self._rect_now
        top, left = int(np.floor(min(r0, r1) + 0.5)), int(np.floor(min(c0, c1) + 0.5))
        bottom, right = int(np.floor(max(r0, r1) + 0.5)), int(np.floor(max(c0, c1) + 0.5))
        return rect_mask(self._shape, top=top, left=left, height=bottom - top + 1, width=right - left + 1).numpy()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._push_undo()
        p = self._to_pixel(event.position())
        if self.tool == "rectangle":
            self._rect_start = self._rect_now = p
            self.update()
            return
        self._last = p
        self._paint([p])

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if not event.buttons() & Qt.MouseButton.LeftButton:
            return
        p = self._to_pixel(event.position())
        if self.tool == "rectangle" and self._rect_start is not None:
            self._rect_now = p
            self.update()
        elif self._last is not None:
            self._paint([self._last, p])
            self._last = p

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self.tool == "rectangle" and self._rect_start is not None:
            self._rect_now = self._to_pixel(event.position())
            self._mask = self._mask | self._rect_mask()
            self._rect_start = self._rect_now = None
            self.update()
            self.mask_changed.emit()
        self._last = None
        self.mask_finished.emit()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        box = _square(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(box, self._qimage)
        h, w = self._shape
        cell_w, cell_h = box.width() / w, box.height() / h
        painter.drawImage(box, self._overlay_image())
        if self._rect_start is not None and self._rect_now is not None:
            m = self._rect_mask()
            rows, cols = np.nonzero(m)
            if rows.size:
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.setPen(QPen(self.overlay.lighter(130), 2, Qt.PenStyle.DashLine))
                painter.drawRect(QRectF(box.x() + cols.min() * cell_w, box.y() + rows.min() * cell_h,
                                        (cols.max() - cols.min() + 1) * cell_w, (rows.max() - rows.min() + 1) * cell_h))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.drawRect(box.adjusted(-0.5, -0.5, 0.5, 0.5))
        painter.end()
