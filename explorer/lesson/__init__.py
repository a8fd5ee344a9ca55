"""The guided lesson: about ten steps through the lecture, each opening a panel or Lab
tab, setting it up and asking one question (Help › Lesson, ``main.py --lesson``).

The text lives in resources/lesson/lesson.json (``steps.py`` reads and checks it,
without Qt); ``actions.py`` does a step's set-up through the panels' public methods;
``controller.py`` goes to a step and remembers it; ``dock.py`` is what the learner sees.
Nothing Qt is imported here at module level: main.py checks a lesson file through
``explorer.lesson.steps`` before the window exists.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from explorer.lesson.dock import LessonDock


def open_lesson(window: Any, settings: QSettings | None = None, *, step: int | None = None,
                path: str | Path | None = None, toggle: bool = False) -> LessonDock | None:
    """Open the lesson in a dock beside ``window``'s panels (the MainWindow), at
    ``step`` (from 1), else where the learner left it; with ``toggle``, close it when
    it is open. A lesson file that cannot be used is reported by the window's
    ``show_error``, and None is returned."""
    from PySide6.QtCore import Qt

    from explorer.lesson.controller import LessonController
    from explorer.lesson.dock import MIN_WIDTH, LessonDock
    from explorer.lesson.steps import DEFAULT_LESSON, LAB_TABS, LessonError, load_lesson

    dock = window.findChild(LessonDock)
    wanted = Path(path).resolve() if path is not None else None
    if dock is not None and wanted is not None and dock.controller.lesson.path != wanted:
        dock.close()
        dock.deleteLater()  # another lesson file replaces this one
        dock = None
    if dock is not None:
        if toggle and dock.isVisible():
            dock.close()
            return dock
        dock.show()
        dock.raise_()
        if step is not None:
            dock.controller.go(step - 1)
        return dock
    try:
        lesson = load_lesson((wanted or DEFAULT_LESSON).resolve(), panels=window.panel_names(), tabs=LAB_TABS)
    except LessonError as exc:
        window.show_error("The lesson could not be opened", str(exc))
        return None
    controller = LessonController(window, lesson, settings=settings)
    dock = LessonDock(window, controller, theme=window.theme)
    # Where the learner last put it, as wide as they left it, but in a small window no
    # wider than the panels leave room for (the window grows only by what it must).
    area, width = dock.remembered_place(settings)
    if area == Qt.DockWidgetArea.BottomDockWidgetArea:
        window.addDockWidget(area, dock)
        dock.show()
        window.resizeDocks([dock], [width], Qt.Orientation.Vertical)
    else:
        room = window.width() - window.centralWidget().minimumSizeHint().width() - 12
        size = window.size()
        window.addDockWidget(area, dock)
        if room < MIN_WIDTH and window.isVisible():
            _float_beside(window, dock, width)
            dock.show()
            window.resize(size)  # docked for a moment, it had widened the window
        else:
            dock.show()
            window.resizeDocks([dock], [min(max(room, MIN_WIDTH), width)], Qt.Orientation.Horizontal)
    controller.go(step - 1 if step is not None else controller.remembered())
    return dock


def _float_beside(window: Any, dock: LessonDock, width: int) -> None:
    """A window too narrow for the dock beside its panels (1000 x 650) would have to grow
    past the screen: the lesson floats in its own small window instead, right of the main
    window where the screen has room, else over its right edge. Double-clicking its title
    docks it again."""
    from PySide6.QtCore import QRect

    dock.setFloating(True)
    frame = window.frameGeometry()
    screen = window.screen().availableGeometry()
    w = max(dock.minimumWidth(), min(width, 340))
    h = min(frame.height(), screen.height())
    x = frame.right() + 1 if frame.right() + w <= screen.right() else screen.right() + 1 - w
    dock.setGeometry(QRect(x, max(frame.top(), screen.top()), w, h))
    window.statusBar().showMessage(
        "The lesson opened in a window of its own: this window is too narrow to hold it beside the panels "
        "(widen the window and double-click the lesson's title to dock it)", 12000)
