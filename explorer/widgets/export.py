"""Pictures of plots and widgets for slides: PNG or SVG, chosen by the file's suffix.

A pyqtgraph plot is drawn in pyqtgraph's export mode, in which every point is a
vector shape (not a copy of a cached pixmap), into a PNG or an SVG; any other widget (an image strip, a whole panel) is grabbed as a
PNG or rendered into an SVG with QSvgGenerator. Every file is written atomically.
``ExportActions`` gives a widget right-click entries "Export as PNG…" and "Export
as SVG…"."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QPoint, QRect, QRectF, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from models.files import ExportError, atomic_write_bytes, check_folder

PICTURE_SUFFIXES = (".png", ".svg")
PNG_FILTER = "PNG images (*.png)"
SVG_FILTER = "SVG drawings (*.svg)"
CSV_FILTER = "CSV tables (*.csv)"
GIF_FILTER = "GIF animations (*.gif)"
PLOT_SCALE = 2.0  # plots are exported at twice their size on screen: sharp on a projector
LAST_DIR_KEY = "export/last_dir"

# ask(title, default file name, file filters) -> the chosen path, or None if cancelled
AskPath = Callable[[str, str, str], "Path | None"]


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buf, "PNG"):
        raise ExportError("Qt could not encode the picture as PNG")
    buf.close()
    return bytes(data.data())


def _write(path: Path, payload: bytes, what: str) -> Path:
    try:
        atomic_write_bytes(path, payload)
    except OSError as exc:
        raise ExportError(f"{path}: could not write the {what} ({exc.strerror or exc})") from exc
    return path


def _target(path: str | os.PathLike) -> Path:
    return check_folder(path, suffixes=PICTURE_SUFFIXES)


def export_plot(plot: pg.PlotWidget | pg.PlotItem, path: str | os.PathLike, *, scale: float = PLOT_SCALE) -> Path:
    """Write a plot (title, axes, points, overlays) as PNG (``scale`` times its size on
    screen) or SVG (vector shapes); ExportError, with nothing written, if it cannot be."""
    from pyqtgraph.exporters import ImageExporter

    path = _target(path)
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    if path.suffix.lower() == ".svg":
        return _write(path, plot_svg(item), "SVG")
    exporter = ImageExporter(item)
    width = max(1, round(item.sceneBoundingRect().width() * scale))
    exporter.parameters()["width"] = width  # the height follows, keeping the aspect ratio
    image = exporter.export(toBytes=True)
    return _write(path, png_bytes(image), "PNG")


def plot_svg(item: pg.PlotItem) -> bytes:
    """A plot drawn into an SVG in pyqtgraph's export mode: one vector shape per point.

    pyqtgraph's own SVGExporter (0.14) fails on the path data Qt 6.9+ writes (a
    closing "Z" it cannot parse; pyqtgraph issue 3485, fixed after 0.14), so the plot
    is rendered into QSvgGenerator here, as pyqtgraph's ImageExporter renders it
    into an image."""
    from pyqtgraph.exporters import ImageExporter

    helper = ImageExporter(item)  # for its source rectangle, background and export mode
    source = helper.getSourceRect()
    w, h = max(1, round(source.width())), max(1, round(source.height()))
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    gen = QSvgGenerator()
    gen.setOutputDevice(buf)
    gen.setSize(QSize(w, h))
    gen.setViewBox(QRect(0, 0, w, h))
    gen.setTitle("Latent Explorer plot")
    painter = QPainter(gen)
    background = helper.parameters()["background"]
    try:
        helper.setExportMode(True, {"antialias": True, "background": background, "painter": painter, "resolutionScale": 1.0})
        painter.fillRect(QRectF(0, 0, w, h), background)
        item.scene().render(painter, QRectF(0, 0, w, h), source)
    finally:
        helper.setExportMode(False)
        painter.end()
    buf.close()
    return bytes(data.data())


def widget_svg(widget: QWidget) -> bytes:
    """``widget`` (and its children) rendered into an SVG drawing."""
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    gen = QSvgGenerator()
    gen.setOutputDevice(buf)
    size = widget.size()
    gen.setSize(size)
    gen.setViewBox(QRect(0, 0, size.width(), size.height()))
    gen.setTitle(widget.windowTitle() or type(widget).__name__)
    gen.setDescription("Latent Explorer")
    painter = QPainter(gen)
    try:
        widget.render(painter, QPoint(0, 0))
    finally:
        painter.end()
    buf.close()
    return bytes(data.data())


def export_widget(widget: QWidget, path: str | os.PathLike) -> Path:
    """Write a widget as it looks (PNG, grabbed) or drawn into an SVG; ExportError if not."""
    path = _target(path)
    if widget.size().isEmpty():
        raise ExportError(f"{path}: the view has no size to draw (is it shown?)")
    if path.suffix.lower() == ".svg":
        return _write(path, widget_svg(widget), "SVG")
    return _write(path, png_bytes(widget.grab().toImage()), "PNG")


def export_picture(widget: QWidget, path: str | os.PathLike) -> Path:
    """``export_plot`` for a pyqtgraph plot, ``export_widget`` for anything else."""
    if isinstance(widget, pg.PlotWidget):
        return export_plot(widget, path)
    return export_widget(widget, path)


def with_suffix(path: str, chosen_filter: str, default: str) -> Path:
    """The file the user named, with the suffix of the filter chosen if they typed none."""
    p = Path(path)
    if p.suffix:
        return p
    for suffix in (".png", ".svg", ".csv", ".gif", ".json"):
        if f"*{suffix}" in chosen_filter:
            return p.with_suffix(suffix)
    return p.with_suffix(default)


def save_dialog(parent: QWidget, settings: QSettings | None = None) -> AskPath:
    """An AskPath that opens a save dialog in the last folder used (remembered)."""

    def ask(title: str, name: str, filters: str) -> Path | None:
        folder = settings.value(LAST_DIR_KEY, "", type=str) if settings is not None else ""
        start = str(Path(folder) / name) if folder else name
        path, chosen = QFileDialog.getSaveFileName(parent, title, start, filters)
        if not path:
            return None
        out = with_suffix(path, chosen, Path(name).suffix or ".png")
        if settings is not None:
            settings.setValue(LAST_DIR_KEY, str(out.parent))
        return out

    return ask


def add_context_action(widget: QWidget, action: QAction) -> None:
    """Put ``action`` in ``widget``'s right-click menu. A LatentPlot has a
    ``context_menu`` its view box opens on a right-click (a right-drag pans, so Qt's
    own context menu, which opens on the press, cannot be used there)."""
    widget.addAction(action)
    if hasattr(widget, "context_menu"):
        if widget.context_menu is None:
            widget.context_menu = QMenu(widget)
        widget.context_menu.addAction(action)
    else:
        widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)


def context_actions(widget: QWidget) -> list[str]:
    """The texts of ``widget``'s right-click entries (for tests)."""
    return [a.text() for a in widget.actions()]


class ExportActions(QObject):
    """"Export as PNG…" and "Export as SVG…" in a widget's right-click menu: ask for a
    file, write the picture, then ``saved(path)`` or ``failed(title, message)``."""

    def __init__(self, widget: QWidget, *, name: str, what: str, ask_path: AskPath,
                 saved: Callable[[Path], None], failed: Callable[[str, str], None]):
        super().__init__(widget)
        self.widget = widget
        self._name, self._what, self._ask = name, what, ask_path
        self._saved, self._failed = saved, failed
        self.png = QAction("Export as PNG…", widget)
        self.png.setToolTip(f"Save {what} as a PNG picture")
        self.png.triggered.connect(lambda: self.ask(".png"))
        self.svg = QAction("Export as SVG…", widget)
        self.svg.setToolTip(f"Save {what} as an SVG drawing (scales without blur on a slide)")
        self.svg.triggered.connect(lambda: self.ask(".svg"))
        for a in (self.png, self.svg):
            add_context_action(widget, a)

    def ask(self, suffix: str) -> None:
        path = self._ask(f"Export {self._what} as {suffix[1:].upper()}", self._name + suffix,
                         PNG_FILTER if suffix == ".png" else SVG_FILTER)
        if path is not None:
            self.export(path)

    def export(self, path: str | os.PathLike) -> bool:
        try:
            out = export_picture(self.widget, path)
        except ExportError as exc:
            self._failed(f"Could not export {self._what}", str(exc))
            return False
        self._saved(out)
        return True
