"""A value label changing inside a panel repaints that label, not the whole window."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from explorer.widgets.tabs import SteadyTabWidget

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


class PaintCounter(QObject):
    def __init__(self, *widgets):
        super().__init__()
        self.counts = {w: 0 for w in widgets}
        for w in widgets:
            w.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802
        if event.type() == QEvent.Type.Paint and obj in self.counts:
            self.counts[obj] += 1
        return False


def _panel():
    page = QWidget()
    layout = QVBoxLayout(page)
    value = QLabel("level 0.10")
    other = QLabel("a label that does not change")
    layout.addWidget(value)
    layout.addWidget(other)
    layout.addStretch(1)
    return page, value, other


def test_a_label_changing_in_a_tab_repaints_neither_the_tab_bar_nor_its_neighbours(qtbot):
    tabs = SteadyTabWidget()
    page, value, other = _panel()
    tabs.addTab(page, "One")
    tabs.addTab(QWidget(), "Two")
    qtbot.addWidget(tabs)
    tabs.resize(500, 300)
    tabs.show()
    qtbot.waitExposed(tabs)
    for _ in range(3):
        QApplication.processEvents()  # the first paint, all of it
    counter = PaintCounter(tabs.tabBar(), other, value)
    for k in range(5):
        value.setText(f"level 0.{k + 20}")
        QApplication.processEvents()  # the layout request, then the paint
        QApplication.processEvents()
    assert counter.counts[value] >= 5
    assert counter.counts[tabs.tabBar()] == 0 and counter.counts[other] == 0


def test_the_tabs_still_follow_a_page_that_grows(qtbot):
    tabs = SteadyTabWidget()
    page, value, _ = _panel()
    tabs.addTab(page, "One")
    qtbot.addWidget(tabs)
    tabs.show()
    qtbot.waitExposed(tabs)
    before = tabs.minimumSizeHint().height()
    value.setMinimumHeight(400)
    qtbot.waitUntil(lambda: tabs.minimumSizeHint().height() > before + 300)
