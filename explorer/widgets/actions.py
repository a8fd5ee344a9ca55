"""Panel actions with single-key shortcuts that are live only while their panel is shown.

Several panels use the same letters (B for brush, E for eraser, R for reset or
rectangle); Qt ignores a shortcut that two enabled actions share, so the
window switches each panel's keys on when the panel comes to the front."""
from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QPalette
from PySide6.QtWidgets import QStyle, QStyleOptionToolButton, QStylePainter, QToolButton, QWidget


def panel_action(
    panel: QWidget,
    text: str,
    tip: str,
    keys: str | QKeySequence.StandardKey | None = None,
    *,
    checkable: bool = False,
    group: QActionGroup | None = None,
) -> QAction:
    """An action owned by ``panel`` (and added to it), with its shortcut named in the tooltip."""
    a = QAction(text, panel, checkable=checkable)
    if keys is not None:
        seq = QKeySequence(keys)
        a.setShortcut(seq)
        tip = f"{tip} ({seq.toString(QKeySequence.SequenceFormat.NativeText)})"
    a.setToolTip(tip)
    if group is not None:
        group.addAction(a)
    panel.addAction(a)
    return a


class ToolButton(QToolButton):
    """A tool button whose checked state is drawn in the palette's highlight colour: the
    Fusion style draws a checked button only a shade darker than the others, which a
    dark palette all but hides. The colour is read at each paint, so it follows the theme."""

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if not self.isChecked():
            super().paintEvent(event)
            return
        opt = QStyleOptionToolButton()
        self.initStyleOption(opt)
        pal = QPalette(opt.palette)
        pal.setColor(QPalette.ColorRole.Button, pal.color(QPalette.ColorRole.Highlight))
        pal.setColor(QPalette.ColorRole.ButtonText, pal.color(QPalette.ColorRole.HighlightedText))
        opt.palette = pal
        QStylePainter(self).drawComplexControl(QStyle.ComplexControl.CC_ToolButton, opt)


def tool_button(action: QAction) -> QToolButton:
    """A button for ``action``; a checkable one shows clearly when it is on."""
    b = ToolButton()
    b.setDefaultAction(action)
    return b


def set_actions_active(actions, on: bool) -> None:
    """Enable (the panel is in front) or disable (it is hidden) the panel's shortcut actions."""
    for a in actions:
        a.setEnabled(on)
