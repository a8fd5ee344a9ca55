"""Going to a lesson step: bring its panel (and Lab tab) to the front, do its set-up,
remember where the learner is."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, QSettings, Signal

from explorer.lesson.actions import LessonWindow, SetUp
from explorer.lesson.steps import Lesson, LessonError, Step, Target

log = logging.getLogger(__name__)

STEP_KEY = "lesson/step"  # 1-based, as the learner counts
TITLE_KEY = "lesson/title"  # whose lesson the step belongs to (a teacher's file has its own)


@dataclass(frozen=True)
class Shown:
    """The step on screen: its number (from 0), what it says, where it went, and
    what of its set-up could not be done (empty when all of it was)."""

    index: int
    step: Step
    target: Target
    text: str
    question: str
    problems: tuple[str, ...] = ()


class LessonController(QObject):
    """Steps through ``lesson`` on ``window``'s panels; ``shown`` after each step."""

    shown = Signal(object)  # Shown

    def __init__(self, window: LessonWindow, lesson: Lesson, *, settings: QSettings | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.window = window
        self.lesson = lesson
        self.settings = settings
        self.setup = SetUp(window)
        self.index = -1
        self.current: Shown | None = None

    def remembered(self) -> int:
        """The step (from 0) the learner was at when the lesson was last open, else 0."""
        s = self.settings
        if s is None or s.value(TITLE_KEY, "", type=str) != self.lesson.title:
            return 0
        step = s.value(STEP_KEY, 1, type=int)
        return min(max(step - 1, 0), len(self.lesson) - 1)

    def go(self, index: int) -> Shown:
        """Show step ``index`` (from 0, clamped to the lesson) with its set-up."""
        index = min(max(index, 0), len(self.lesson) - 1)
        step = self.lesson.steps[index]
        target, text, question = step.resolve(self.window.panel_names())
        problems = []
        try:
            self.window.show_panel(target.panel)
            if target.tab is not None:
                self.window.panel("lab").show_experiment(target.tab)
        except KeyError as exc:
            problems.append(f"cannot open {target.panel!r}: {exc.args[0] if exc.args else exc}")
        for action in target.setup:
            try:
                self.setup.run(action)
            except (LessonError, ValueError, KeyError) as exc:
                # The rest of the step still helps: say what is missing and go on.
                log.info("lesson step %d: %s failed: %s", index + 1, action.do, exc)
                problems.append(f"{action.do}: {exc}")
        self.index = index
        if self.settings is not None:
            self.settings.setValue(TITLE_KEY, self.lesson.title)
            self.settings.setValue(STEP_KEY, index + 1)
        self.current = Shown(index, step, target, text, question, tuple(problems))
        self.shown.emit(self.current)
        return self.current

    def next(self) -> None:
        if self.index < len(self.lesson) - 1:
            self.go(self.index + 1)

    def back(self) -> None:
        if self.index > 0:
            self.go(self.index - 1)

    def again(self) -> None:
        """The current step's set-up once more (after the learner changed things)."""
        self.go(max(self.index, 0))
