"""A tab widget that does not repaint all its pages whenever a widget in one of them
asks for a new layout."""
from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QStackedWidget, QTabWidget, QWidget


class SteadyTabWidget(QTabWidget):
    """QTabWidget answers every layout request by laying out its tab bar and page area
    again and repainting all of itself, with every widget in the page shown. A label
    anywhere in a page sends one each time its text changes (QLabel.setText always
    calls updateGeometry), so a slider that updates a value label repainted the whole
    panel on every step: 5 to 7 ms of a 15 ms update in the Denoise panel.

    Here a request goes on to QTabWidget only when something its layout depends on
    has changed: its size, the tab bar's size hints, or the size hints of the pages."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._laid_out_for: tuple | None = None
        self._pages = self.findChild(QStackedWidget, "qt_tabwidget_stackedwidget")  # QTabWidget's own

    def _layout_inputs(self) -> tuple:
        bar, stack = self.tabBar(), self._pages
        pages = (stack.sizeHint(), stack.minimumSizeHint()) if stack is not None else (None, None)
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
