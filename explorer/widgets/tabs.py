"""A tab widget that does not repaint all its pages whenever a widget in one of them
asks for a new layout."""
from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QTabWidget, QWidget


class SteadyTabWidget(QTabWidget):
    """QTabWidget answers every layout request by laying out its tab bar and page area
    again and repainting all of itself, with every widget in the page shown. A label
    anywhere in a page sends one each time its text changes (QLabel.setText always
    calls updateGeometry), so a slider that updates a value label repainted the whole
    panel on every step (docs/benchmarks.md, denoise_update_ms).

    Here a request goes on to QTabWidget only when something its layout depends on
    has changed: its size, the tab bar's size hints, or the size hints of the page in front."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._laid_out_for: tuple | None = None

    def _layout_inputs(self) -> tuple:
        # The page in front stands for the page stack: the stack's own size hint asks
        # every page each time (it is not cached), and a hidden page's hints are read
        # again when it comes to the front (a tab change lays the widget out anyway).
        bar, page = self.tabBar(), self.currentWidget()
        pages = (page, page.sizeHint(), page.minimumSizeHint()) if page is not None else (None, None, None)
        return (self.size(), bar.isVisible(), bar.sizeHint(), bar.minimumSizeHint(), *pages)

    def event(self, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.LayoutRequest:
            inputs = self._layout_inputs()
            if inputs == self._laid_out_for:
                return True  # laid out for exactly this already
            self._laid_out_for = inputs
        handled = super().event(event)
        if kind in (QEvent.Type.Show, QEvent.Type.Resize):
            self._laid_out_for = self._layout_inputs()  # QTabWidget lays out on these too
        return handled
