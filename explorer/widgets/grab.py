"""Pictures of widgets as NumPy arrays, for the animations and exports written from
what the app shows."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget


def image_array(image: QImage) -> np.ndarray:
    """``image`` as an H x W x 3 uint8 RGB array (a copy: Qt may reuse its memory)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = rgb.height(), rgb.width(), rgb.bytesPerLine()
    buf = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def widget_array(widget: QWidget) -> np.ndarray:
    """What ``widget`` shows now, rendered at its size (device pixels) as RGB uint8."""
    return image_array(widget.grab().toImage())
