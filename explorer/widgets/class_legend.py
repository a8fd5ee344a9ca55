"""A row of toggle buttons, one per class, in the latent plots' colours."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from explorer.startup import DIGIT_NAMES
from explorer.widgets.theme import CLASS_COLORS


class ClassLegend(QWidget):
    """A row of toggle buttons, one per class, in the plot colours: click to hide or
    show that class on both plots."""

    visibility_changed = Signal(int, bool)

    def __init__(self, parent: QWidget | None = None, *, class_names: Sequence[str] = DIGIT_NAMES):
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
