"""Widgets that show small images (28 x 28 grey digits, 32 x 32 colour photos) large, with crisp pixels."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget


def to_qimage(image: np.ndarray) -> QImage:
    """A float image in [0, 1], grey (H, W) or colour (H, W, 3), -> a QImage (stored as
    premultiplied ARGB) that owns its pixels."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"expected one grey (H, W) or colour (H, W, 3) image, got shape {arr.shape}")
    buf = np.ascontiguousarray(np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5, dtype=np.float32).astype(np.uint8)
    h, w = buf.shape[:2]
    # QImage only borrows the numpy buffer; the conversion makes it own its pixels.
    # Premultiplied ARGB is what the raster painter draws natively: a grey or RGB image
    # would be converted again on every drawImage.
    fmt, stride = (QImage.Format.Format_Grayscale8, w) if buf.ndim == 2 else (QImage.Format.Format_RGB888, 3 * w)
    return QImage(buf.data, w, h, stride, fmt).convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def _fit(image_size: QSize, box: QRectF) -> QRectF:
    """The largest rectangle of the image's aspect ratio centred in box."""
    if image_size.isEmpty() or box.isEmpty():
        return QRectF()
    scale = min(box.width() / image_size.width(), box.height() / image_size.height())
    w, h = image_size.width() * scale, image_size.height() * scale
    return QRectF(box.x() + (box.width() - w) / 2, box.y() + (box.height() - h) / 2, w, h)


def _paint_image(painter: QPainter, qimage: QImage | None, box: QRectF, *, frame: QColor) -> QRectF:
    target = _fit(qimage.size(), box) if qimage is not None else QRectF()
    if not target.isEmpty():
        # Nearest-neighbour scaling: a 28x28 digit must show its pixels, not a blur.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(target, qimage)
        painter.setPen(frame)
        painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
    return target


def _paint_opaque(widget: QWidget) -> None:
    """The widget fills its own background (as its paintEvent starts with
    _begin_paint): a new image then repaints only the widget, not every parent under
    it. Live panels update several images per slider step or drag move, and the
    parents' repainting cost as much again as the images themselves."""
    widget.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)


def _begin_paint(widget: QWidget, event) -> QPainter:
    painter = QPainter(widget)
    painter.fillRect(event.rect(), widget.palette().color(widget.backgroundRole()))
    return painter


class ImageView(QWidget):
    """One image (grey or colour) scaled up with nearest-neighbour pixels, keeping its aspect
    ratio, with a caption underneath."""

    def __init__(self, parent: QWidget | None = None, *, caption: str = "", placeholder: str = "", minimum: int = 84,
                 caption_lines: int = 1):
        """``caption_lines``: the caption's room, in lines; a caption of several lines
        puts each of its '\n'-separated parts on a line of its own (each elided if too wide)."""
        super().__init__(parent)
        self._image: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._caption = caption
        self._caption_lines = max(1, caption_lines)
        self._placeholder = placeholder
        self.setMinimumSize(minimum, minimum + self._caption_height())
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        _paint_opaque(self)

    def _caption_height(self) -> int:
        return self.fontMetrics().lineSpacing() * self._caption_lines + 6

    def caption_lines_shown(self) -> list[str]:
        """The caption's lines as painted at the current width (elided with '…' where too wide)."""
        if not self._caption:
            return []
        lines = self._caption.split("\n") if self._caption_lines > 1 else [self._caption.replace("\n", " ")]
        if len(lines) > self._caption_lines:
            lines = [*lines[: self._caption_lines - 1], " ".join(lines[self._caption_lines - 1:])]
        fm = self.fontMetrics()
        return [fm.elidedText(line, Qt.TextElideMode.ElideRight, self.width()) for line in lines]

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(160, 160 + self._caption_height())

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return width + self._caption_height()

    def set_image(self, image: np.ndarray | None, caption: str | None = None) -> None:
        """Show image (H, W) or (H, W, 3) in [0, 1], or nothing for None."""
        if image is None:
            self._image, self._qimage = None, None
        else:
            self._image = np.array(image, dtype=np.float32, copy=True)
            self._qimage = to_qimage(self._image)
        if caption is not None:
            self._caption = caption
        self.update()

    def set_caption(self, caption: str) -> None:
        self._caption = caption
        self.update()

    def set_placeholder(self, text: str) -> None:
        """What the empty view says."""
        self._placeholder = text
        self.update()

    def placeholder(self) -> str:
        return self._placeholder

    def image(self) -> np.ndarray | None:
        """The image shown (a copy), or None."""
        return None if self._image is None else self._image.copy()

    def caption(self) -> str:
        return self._caption

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = _begin_paint(self, event)
        pal = self.palette()
        ch = self._caption_height()
        box = QRectF(2, 2, self.width() - 4, self.height() - ch - 4)
        frame = pal.color(QPalette.ColorRole.Mid)
        target = _paint_image(painter, self._qimage, box, frame=frame)
        if self._qimage is None and self._placeholder:
            side = min(box.width(), box.height())
            empty = QRectF(box.center().x() - side / 2, box.center().y() - side / 2, side, side)
            painter.setPen(frame)
            painter.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
            painter.drawRect(empty)
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(empty.adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            target = empty
        if self._caption:
            painter.setPen(pal.color(QPalette.ColorRole.WindowText))
            top = (target.bottom() if not target.isEmpty() else box.bottom()) + 3
            rect = QRectF(0, top, self.width(), ch)
            text = "\n".join(self.caption_lines_shown())
            painter.drawText(rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)
        painter.end()


class ImageStrip(QWidget):
    """A row of images of equal size (samples, interpolation steps) with a label on the
    left and optional captions under each image; painted in one widget."""

    def __init__(self, parent: QWidget | None = None, *, label: str = "", placeholder: str = ""):
        super().__init__(parent)
        self._label = label
        self._placeholder = placeholder
        self._images: list[np.ndarray] = []
        self._qimages: list[QImage] = []
        self._captions: list[str] = []
        self._min_label_width = 0
        self.setMinimumHeight(56)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        _paint_opaque(self)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, 84)

    def set_label(self, label: str) -> None:
        self._label = label
        self.update()

    def label(self) -> str:
        return self._label

    def set_min_label_width(self, pixels: int) -> None:
        """Reserve at least this width for the label, so stacked strips line up."""
        self._min_label_width = pixels
        self.update()

    def natural_label_width(self) -> int:
        return self.fontMetrics().horizontalAdvance(self._label) + 12 if self._label else 0

    def set_images(self, images: Sequence[np.ndarray] | np.ndarray, captions: Sequence[str] | None = None) -> None:
        """Show the images (N, H, W) or (N, H, W, 3) in [0, 1] left to right."""
        self._images = [np.array(im, dtype=np.float32, copy=True) for im in images]
        self._qimages = [to_qimage(im) for im in self._images]
        self._captions = list(captions) if captions is not None else []
        self.update()

    def clear(self) -> None:
        self.set_images([])

    def count(self) -> int:
        return len(self._images)

    def images(self) -> list[np.ndarray]:
        return [im.copy() for im in self._images]

    def _label_width(self) -> int:
        return max(self.natural_label_width(), self._min_label_width)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = _begin_paint(self, event)
        pal = self.palette()
        fm = self.fontMetrics()
        lw = self._label_width()
        if self._label:
            painter.setPen(pal.color(QPalette.ColorRole.WindowText))
            painter.drawText(QRectF(0, 0, lw, self.height()), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self._label)
        n = len(self._qimages)
        area = QRectF(lw, 2, self.width() - lw - 2, self.height() - 4)
        if n == 0:
            if self._placeholder:
                painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(area, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self._placeholder)
            painter.end()
            return
        cap_h = fm.height() + 2 if self._captions else 0
        gap = 4.0
        side = min(area.height() - cap_h, (area.width() - gap * (n - 1)) / n)
        side = max(side, 4.0)
        frame = pal.color(QPalette.ColorRole.Mid)
        for k, qimage in enumerate(self._qimages):
            cell = QRectF(area.x() + k * (side + gap), area.y(), side, side)
            _paint_image(painter, qimage, cell, frame=frame)
            if k < len(self._captions) and self._captions[k]:
                painter.setPen(pal.color(QPalette.ColorRole.WindowText))
                text = fm.elidedText(self._captions[k], Qt.TextElideMode.ElideRight, int(side + gap))
                painter.drawText(QRectF(cell.x() - gap / 2, cell.bottom() + 1, side + gap, cap_h), Qt.AlignmentFlag.AlignHCenter, text)
        painter.end()
