"""Panel actions with single-key shortcuts that are live only while their panel is shown.

Several panels use the same letters (B for brush, E for eraser, R for reset or
rectangle); Qt ignores a shortcut that two enabled actions share, so the
window switches each panel's keys on when the panel comes to the front."""
from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QToolButton, QWidget


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


def tool_button(action: QAction) -> QToolButton:
    b = QToolButton()
    b.setDefaultAction(action)
    return b


def set_actions_active(actions, on: bool) -> None:
    """Enable (the panel is in front) or disable (it is hidden) the panel's shortcut actions."""
    for a in actions:
        a.setEnabled(on)
