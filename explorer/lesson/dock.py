"""The lesson's dock beside the panels: the step's title, what to look at, one
question to answer by trying something, Back / Next, a step counter and progress."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QColor, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.lesson.controller import LessonController, Shown
from explorer.lesson.steps import to_html
from explorer.widgets.theme import LIGHT, Theme

DOCK_WIDTH = 320
DOCK_HEIGHT = 220  # docked at the bottom
MIN_WIDTH = 240
AREA_KEY = "lesson/area"
SIZE_KEY = "lesson/size"
AREAS = {"right": Qt.DockWidgetArea.RightDockWidgetArea, "left": Qt.DockWidgetArea.LeftDockWidgetArea,
         "bottom": Qt.DockWidgetArea.BottomDockWidgetArea}
NEXT_KEYS = "Alt+Right"
BACK_KEYS = "Alt+Left"


def _mix(a: str, b: str, share: float) -> str:
    """Colour ``a`` with ``share`` of ``b`` mixed in, as #rrggbb."""
    ca, cb = QColor(a), QColor(b)
    return QColor(round(ca.red() * (1 - share) + cb.red() * share), round(ca.green() * (1 - share) + cb.green() * share),
                  round(ca.blue() * (1 - share) + cb.blue() * share)).name()


def _wrapping() -> QLabel:
    """A word-wrapped label: the scroll area it sits in gives it the height its text
    takes at the dock's width (it asks the layout for height-for-width)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _keys(seq: str) -> str:
    return QKeySequence(seq).toString(QKeySequence.SequenceFormat.NativeText)


class LessonDock(QDockWidget):
    """Shows the controller's step; its Back / Next actions live on the window (so
    their keys work wherever the focus is) and only while the dock is open."""

    def __init__(self, window: QWidget, controller: LessonController, *, theme: Theme = LIGHT):
        super().__init__("Lesson", window)
        self.setObjectName("lesson_dock")  # the window's saved state knows it by this name
        self.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea | Qt.DockWidgetArea.LeftDockWidgetArea
                             | Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setMinimumWidth(MIN_WIDTH)
        self._settings: QSettings | None = None
        self.dockLocationChanged.connect(self._moved)
        self.controller = controller
        controller.setParent(self)
        self._build_actions(window)
        self._build_ui()
        self.apply_theme(theme)
        controller.shown.connect(self._show)
        self._window = window
        theme_changed = getattr(window, "theme_changed", None)
        if theme_changed is not None:  # a method slot: the connection goes with the dock
            theme_changed.connect(self._theme_changed)

    # ------------------------------------------------------------ construction

    def _build_actions(self, window: QWidget) -> None:
        # Owned by the dock (they go with it), added to the window (their keys work anywhere in it).
        self.next_action = QAction("Next step", self)
        self.next_action.setShortcut(QKeySequence(NEXT_KEYS))
        self.next_action.triggered.connect(self.controller.next)
        self.back_action = QAction("Previous step", self)
        self.back_action.setShortcut(QKeySequence(BACK_KEYS))
        self.back_action.triggered.connect(self.controller.back)
        for a in (self.next_action, self.back_action):
            window.addAction(a)

    def _build_ui(self) -> None:
        lesson = self.controller.lesson
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)

        head = QHBoxLayout()
        self.counter = QLabel()
        self.counter.setToolTip(lesson.title)
        head.addWidget(self.counter, 1)
        self.steps_button = QToolButton()
        self.steps_button.setText("All steps")
        self.steps_button.setToolTip("Go to any step of the lesson")
        self.steps_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.steps_button)
        self.step_actions = []
        for i, step in enumerate(lesson.steps):
            a = menu.addAction(f"{i + 1}. {step.title}")
            a.setCheckable(True)
            a.triggered.connect(lambda _=False, i=i: self.controller.go(i))
            self.step_actions.append(a)
        self.steps_button.setMenu(menu)
        head.addWidget(self.steps_button)
        lay.addLayout(head)

        self.progress = QProgressBar()
        self.progress.setRange(0, len(lesson))
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress.setToolTip("How far through the lesson you are")
        lay.addWidget(self.progress)

        self.title = _wrapping()
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        lay.addWidget(self.title)
        self.text = _wrapping()
        self.text.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.text)

        self.question_box = QFrame()
        self.question_box.setObjectName("lesson_question")
        q = QVBoxLayout(self.question_box)
        q.setContentsMargins(10, 6, 8, 8)
        q.setSpacing(2)
        self.try_label = QLabel("Try it")
        font = self.try_label.font()
        font.setBold(True)
        self.try_label.setFont(font)
        q.addWidget(self.try_label)
        self.question = _wrapping()
        self.question.setTextFormat(Qt.TextFormat.RichText)
        q.addWidget(self.question)
        lay.addWidget(self.question_box)

        self.problems = _wrapping()
        self.problems.setVisible(False)
        lay.addWidget(self.problems)
        lay.addStretch(1)

        # The text scrolls in a short window; the buttons stay in sight under it.
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = scroll

        self.back_button = QPushButton("◀ Back")
        self.back_button.setToolTip(f"The previous step ({_keys(BACK_KEYS)})")
        self.back_button.clicked.connect(self.controller.back)
        self.again_button = QPushButton("Set up again")
        self.again_button.setToolTip("Put this step's panel and settings back as the step set them")
        self.again_button.clicked.connect(self.controller.again)
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip(f"The next step ({_keys(NEXT_KEYS)})")
        self.next_button.clicked.connect(self.controller.next)
        self.next_button.setDefault(True)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(10, 4, 10, 8)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.again_button)
        buttons.addStretch(1)
        buttons.addWidget(self.next_button)

        holder = QWidget()
        outer = QVBoxLayout(holder)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(scroll, 1)
        outer.addLayout(buttons)
        holder.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.setWidget(holder)

    # ------------------------------------------------------------ showing a step

    def _show(self, shown: Shown) -> None:
        n = len(self.controller.lesson)
        self.counter.setText(f"Step {shown.index + 1} of {n}")
        self.progress.setValue(shown.index + 1)
        self.title.setText(shown.step.title)
        self.text.setText(to_html(shown.text))
        self.question.setText(to_html(shown.question))
        self.problems.setText("Not everything could be set up: " + "; ".join(shown.problems) if shown.problems else "")
        self.problems.setVisible(bool(shown.problems))
        self.back_button.setEnabled(shown.index > 0)
        self.next_button.setEnabled(shown.index < n - 1)
        self.next_button.setText("Next ▶" if shown.index < n - 1 else "Last step")
        for i, a in enumerate(self.step_actions):
            a.setChecked(i == shown.index)
        self.scroll.verticalScrollBar().setValue(0)

    # ------------------------------------------------------------ its place

    def remembered_place(self, settings: QSettings | None) -> tuple[Qt.DockWidgetArea, int]:
        """The side the learner last docked it at and its size across (else the right, DOCK_WIDTH)."""
        self._settings = settings
        area, size = Qt.DockWidgetArea.RightDockWidgetArea, DOCK_WIDTH
        if settings is not None:
            name = settings.value(AREA_KEY, "right", type=str)
            area = AREAS.get(name, area)
            size = settings.value(SIZE_KEY, DOCK_WIDTH if area != AREAS["bottom"] else DOCK_HEIGHT, type=int)
        return area, max(size, MIN_WIDTH if area != AREAS["bottom"] else 120)

    def _moved(self, area: Qt.DockWidgetArea) -> None:
        name = next((k for k, v in AREAS.items() if v == area), None)
        if self._settings is not None and name is not None:
            self._settings.setValue(AREA_KEY, name)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._settings is not None and self.isVisible() and not self.isFloating():
            bottom = self.parent() is not None and self.parent().dockWidgetArea(self) == AREAS["bottom"]
            self._settings.setValue(SIZE_KEY, self.height() if bottom else self.width())

    def shown(self) -> Shown | None:
        return self.controller.current

    # ------------------------------------------------------------ theme and keys

    def apply_theme(self, theme: Theme) -> None:
        """Colours from the theme (not a palette() style sheet, which would keep the
        colours of the theme it was first polished in)."""
        self._theme = theme
        for label in (self.counter, self.problems):
            pal = label.palette()
            color = theme.muted if label is self.counter else ("#ff6b6b" if theme.is_dark else "#c62828")
            pal.setColor(QPalette.ColorRole.WindowText, QColor(color))
            label.setPalette(pal)
        tint = _mix(theme.background, theme.prior, 0.14 if theme.is_dark else 0.08)
        self.question_box.setStyleSheet(
            f"QFrame#lesson_question {{ background: {tint}; border: none; border-left: 3px solid {theme.prior}; "
            "border-radius: 2px; }")
        pal = self.try_label.palette()
        pal.setColor(QPalette.ColorRole.WindowText, QColor(theme.prior))
        self.try_label.setPalette(pal)

    def _theme_changed(self, _name: str) -> None:
        self.apply_theme(self._window.theme)

    def _set_keys(self, on: bool) -> None:
        self.next_action.setEnabled(on)
        self.back_action.setEnabled(on)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._set_keys(True)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        # Closing leaves every panel as the learner has it; only the keys go.
        self._set_keys(False)
        super().closeEvent(event)
