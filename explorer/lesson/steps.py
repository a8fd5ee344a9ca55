"""The guided lesson's steps, read from a JSON file and checked (Qt-free, torch-free:
main.py validates a teacher's file before any window opens).

A lesson file is one object: ``{"title": ..., "steps": [step, ...]}``. A step is

    {"title": "...", "text": "...", "question": "...",
     "panel": "explore", "tab": "elbo",            # tab: a Lab experiment, with panel "lab"
     "setup": [{"do": "select_image", "image": 3}, ...],
     "fallback": {"panel": "lab", "tab": "elbo", "setup": [...]}}   # optional

``fallback`` is used when ``panel`` is not in this build of the app (a panel another
version adds); it may also replace ``text`` and ``question``. Texts may use *emphasis*,
**bold** and `code`. Every problem is a LessonError naming the step and the field.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_LESSON = Path(__file__).resolve().parent.parent.parent / "resources" / "lesson" / "lesson.json"

# The panels a lesson file may name when it is checked before the window exists
# (tests/test_lesson.py checks that the window has no other): the window's own list
# decides at run time, where a step whose panel is missing takes its fallback.
APP_PANELS = ("explore", "train", "draw", "denoise", "inpaint", "lab", "computation")
LAB_TABS = ("losses", "linear", "capacity", "elbo", "latent8")

# Choices the panels accept, spelled out here so that checking a file imports neither
# torch nor Qt (tests check them against models.corrupt and the Explore panel).
DAMAGE_KINDS = ("gaussian", "salt_and_pepper", "masking", "blur", "downsample", "grey", "old_photo")
MASK_PRESETS = ("top_half", "bottom_half", "left_half", "right_half", "center_square", "random_pixels")
BACKGROUND_NAMES = ("manifold", "prior", "density")
SIDES = ("left", "right")

STEP_FIELDS = {"title", "text", "question", "panel", "tab", "setup", "fallback"}
FALLBACK_FIELDS = {"panel", "tab", "setup", "text", "question"}


class LessonError(ValueError):
    """A lesson file that cannot be used, with a message naming the step and field."""


@dataclass(frozen=True)
class Param:
    """One argument of a set-up action: ``kind`` is int, number, bool, text, numbers
    (a list of numbers), names (a list of ``choices``) or image (a test image: its
    number, or ``{"label": k}`` for the first image of class k, ``"nth"`` for a later one)."""

    kind: str
    required: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ActionSpec:
    """A set-up action: the panel (and Lab tab) it works on, and its arguments."""

    panel: str
    params: Mapping[str, Param]
    tab: str | None = None
    help: str = ""


_IMAGE = Param("image", required=True)
ACTIONS: dict[str, ActionSpec] = {
    "select_image": ActionSpec("explore", {"image": _IMAGE}, help="click a test image in Explore"),
    "sample": ActionSpec("explore", {"n": Param("int", True, low=1, high=64), "seed": Param("int", low=0, high=99_999)},
                         help="draw n codes from the prior and decode them"),
    "interpolate": ActionSpec("explore", {"a": _IMAGE, "b": _IMAGE, "steps": Param("int", low=3, high=20)},
                              help="decode the straight path between test images a and b"),
    "probe": ActionSpec("explore", {"side": Param("text", True, SIDES), "x": Param("number", True),
                                    "y": Param("number", True)}, help="decode the point (x, y) of a plot"),
    "backgrounds": ActionSpec("explore", {"on": Param("names", True, BACKGROUND_NAMES)},
                              help="show exactly these plot backgrounds"),
    "reset_view": ActionSpec("explore", {}, help="show all codes again"),
    "denoise": ActionSpec("denoise", {"kind": Param("text", True, DAMAGE_KINDS), "level": Param("number", True),
                                      "image": Param("image"), "passes": Param("int", low=1, high=8)},
                          help="damage a test image and restore it"),
    "inpaint": ActionSpec("inpaint", {"preset": Param("text", True, MASK_PRESETS), "image": Param("image")},
                          help="hide part of a test image and fill it"),
    "loss_vectors": ActionSpec("lab", {"x": Param("numbers", True), "xhat": Param("numbers", True)}, tab="losses",
                               help="the two vectors of the Losses tab"),
    "loss_digit": ActionSpec("lab", {"image": _IMAGE}, tab="losses", help="the digit the Losses tab alters"),
    "linear_latent": ActionSpec("lab", {"k": Param("int", True, low=1, high=16)}, tab="linear",
                                help="the linear AE's latent size"),
    "elbo_image": ActionSpec("lab", {"image": _IMAGE}, tab="elbo", help="the image the ELBO tab takes apart"),
    "beta": ActionSpec("lab", {"beta": Param("number", True, low=0.0)}, tab="elbo", help="the ELBO tab's β slider"),
    "resample": ActionSpec("computation", {"seed": Param("int", low=0, high=99_999)},
                           help="draw the Computation panel's ε again (from this seed)"),
}


@dataclass(frozen=True)
class Action:
    """One set-up action of a step: its name (a key of ACTIONS) and arguments."""

    do: str
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> ActionSpec:
        return ACTIONS[self.do]


@dataclass(frozen=True)
class Target:
    """Where a step takes the learner: a panel, a Lab tab, and what to set up there."""

    panel: str
    tab: str | None
    setup: tuple[Action, ...]


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    question: str
    target: Target
    fallback: Target | None = None
    fallback_text: str | None = None
    fallback_question: str | None = None

    def resolve(self, panels: Iterable[str]) -> tuple[Target, str, str]:
        """The target to use when the window has ``panels``, with its text and question."""
        panels = tuple(panels)
        if self.target.panel in panels or self.fallback is None:
            return self.target, self.text, self.question
        return self.fallback, self.fallback_text or self.text, self.fallback_question or self.question


@dataclass(frozen=True)
class Lesson:
    title: str
    steps: tuple[Step, ...]
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.steps)


# ------------------------------------------------------------------ reading


def load_lesson(path: str | Path | None = None, *, panels: Iterable[str] = APP_PANELS,
                tabs: Iterable[str] = LAB_TABS) -> Lesson:
    """Read and check a lesson file (default: the bundled one). ``panels`` and ``tabs``
    are the names a step may open; LessonError says what is wrong and where."""
    path = Path(path) if path is not None else DEFAULT_LESSON
    if path.is_dir():
        raise LessonError(f"{path} is a folder; give the lesson's .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LessonError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LessonError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LessonError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    try:
        return parse_lesson(data, panels=panels, tabs=tabs, path=path)
    except LessonError as exc:
        raise LessonError(f"{path.name}: {exc}") from None


def parse_lesson(data: Any, *, panels: Iterable[str] = APP_PANELS, tabs: Iterable[str] = LAB_TABS,
                 path: Path | None = None) -> Lesson:
    """The lesson in ``data`` (the JSON file's object), checked."""
    panels, tabs = tuple(panels), tuple(tabs)
    if not isinstance(data, dict):
        raise LessonError("the file must hold one JSON object with \"title\" and \"steps\"")
    unknown = set(data) - {"title", "steps"}
    if unknown:
        raise LessonError(f"unknown field {_names(unknown)} at the top level; it has \"title\" and \"steps\"")
    title = data.get("title", "Lesson")
    if not isinstance(title, str) or not title.strip():
        raise LessonError("\"title\" must be a non-empty text")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise LessonError("\"steps\" must be a non-empty list of steps")
    return Lesson(title=title.strip(), path=path,
                  steps=tuple(_step(raw, i, panels, tabs) for i, raw in enumerate(steps, start=1)))


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in sorted(names))


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if value is None:
        raise LessonError(f"{where}: \"{key}\" is missing")
    if not isinstance(value, str) or not value.strip():
        raise LessonError(f"{where}: \"{key}\" must be a non-empty text")
    return value.strip()


def _step(raw: Any, number: int, panels: tuple[str, ...], tabs: tuple[str, ...]) -> Step:
    where = f"step {number}"
    if not isinstance(raw, dict):
        raise LessonError(f"{where} must be an object with \"title\", \"text\", \"question\" and \"panel\"")
    if isinstance(raw.get("title"), str) and raw["title"].strip():
        where = f"step {number} “{raw['title'].strip()}”"
    unknown = set(raw) - STEP_FIELDS
    if unknown:
        raise LessonError(f"{where}: unknown field {_names(unknown)}; a step has {_names(STEP_FIELDS)}")
    title, text, question = (_text(raw, key, where) for key in ("title", "text", "question"))
    fallback = None
    fallback_text = fallback_question = None
    if raw.get("fallback") is not None:
        fb = raw["fallback"]
        fb_where = f"{where}, \"fallback\""
        if not isinstance(fb, dict):
            raise LessonError(f"{fb_where} must be an object with \"panel\" (and \"tab\", \"setup\")")
        unknown = set(fb) - FALLBACK_FIELDS
        if unknown:
            raise LessonError(f"{fb_where}: unknown field {_names(unknown)}; a fallback has {_names(FALLBACK_FIELDS)}")
        fallback = _target(fb, fb_where, panels, tabs, strict=True)
        fallback_text = _text(fb, "text", fb_where, required=False)
        fallback_question = _text(fb, "question", fb_where, required=False)
    # A panel this version lacks is fine when the fallback is one it has.
    target = _target(raw, where, panels, tabs, strict=fallback is None)
    return Step(title=title, text=text, question=question, target=target, fallback=fallback,
                fallback_text=fallback_text, fallback_question=fallback_question)


def _target(raw: Mapping[str, Any], where: str, panels: tuple[str, ...], tabs: tuple[str, ...], *, strict: bool) -> Target:
    panel = _text(raw, "panel", where)
    known = panel in panels
    if strict and not known:
        raise LessonError(f"{where}: unknown panel {panel!r}; choose one of {', '.join(panels)} "
                          "(or give a \"fallback\" with one of them)")
    tab = raw.get("tab")
    if tab is not None:
        if not isinstance(tab, str):
            raise LessonError(f"{where}: \"tab\" must be the name of a Lab experiment")
        if panel != "lab" and known:
            raise LessonError(f"{where}: \"tab\" {tab!r} belongs to the \"lab\" panel, not {panel!r}")
        if panel == "lab" and tab not in tabs:
            raise LessonError(f"{where}: unknown tab {tab!r}; the Lab has {', '.join(tabs)}")
    setup = raw.get("setup", [])
    if not isinstance(setup, list):
        raise LessonError(f"{where}: \"setup\" must be a list of actions like {{\"do\": \"select_image\", \"image\": 3}}")
    # A target that may be missing (it has a fallback) may use its own panel's actions.
    usable = panels if strict else (*panels, panel)
    actions = tuple(_action(a, f"{where}, set-up action {i}", usable) for i, a in enumerate(setup, start=1))
    for action in actions:
        # An action works on its own panel, which need not be in front, but a Lab
        # action needs its tab: the one the step opens.
        spec = action.spec
        if spec.tab is not None and (panel != "lab" or tab != spec.tab):
            raise LessonError(f"{where}: {action.do!r} works on the Lab's {spec.tab!r} tab; "
                              f"give the step \"panel\": \"lab\", \"tab\": \"{spec.tab}\"")
    return Target(panel=panel, tab=tab, setup=actions)


def _action(raw: Any, where: str, panels: tuple[str, ...]) -> Action:
    if not isinstance(raw, dict) or not isinstance(raw.get("do"), str):
        raise LessonError(f"{where} must be an object with \"do\" naming the action, e.g. {{\"do\": \"sample\", \"n\": 16}}")
    name = raw["do"]
    spec = ACTIONS.get(name)
    if spec is None:
        raise LessonError(f"{where}: unknown action {name!r}; actions: {', '.join(ACTIONS)}")
    where = f"{where} ({name!r})"
    if spec.panel not in panels:
        raise LessonError(f"{where} works on the {spec.panel!r} panel, which this version does not have")
    args = {k: v for k, v in raw.items() if k != "do"}
    unknown = set(args) - set(spec.params)
    if unknown:
        takes = _names(spec.params) if spec.params else "no arguments"
        raise LessonError(f"{where}: unknown argument {_names(unknown)}; it takes {takes}")
    for key, param in spec.params.items():
        if key not in args:
            if param.required:
                raise LessonError(f"{where}: \"{key}\" is missing")
            continue
        _check(args[key], param, f"{where}: \"{key}\"")
    return Action(do=name, args=args)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def _check(value: Any, param: Param, where: str) -> None:
    kind = param.kind
    if kind == "image":
        if _is_int(value):
            if value < 0:
                raise LessonError(f"{where} must be a test image's number (0 or more), got {value}")
            return
        if isinstance(value, dict) and set(value) <= {"label", "nth"} and _is_int(value.get("label")):
            nth = value.get("nth", 1)
            if value["label"] >= 0 and _is_int(nth) and nth >= 1:
                return
        raise LessonError(f"{where} must be a test image's number, or {{\"label\": k}} for the first image of "
                          f"class k ({{\"label\": k, \"nth\": 2}} for the second), got {json.dumps(value)}")
    if kind == "int" and not _is_int(value):
        raise LessonError(f"{where} must be a whole number, got {json.dumps(value)}")
    if kind == "number" and not _is_number(value):
        raise LessonError(f"{where} must be a number, got {json.dumps(value)}")
    if kind == "bool" and not isinstance(value, bool):
        raise LessonError(f"{where} must be true or false, got {json.dumps(value)}")
    if kind == "text" and not isinstance(value, str):
        raise LessonError(f"{where} must be a text, got {json.dumps(value)}")
    if kind == "numbers" and not (isinstance(value, list) and value and all(_is_number(v) for v in value)):
        raise LessonError(f"{where} must be a list of numbers, got {json.dumps(value)}")
    if kind == "names":
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise LessonError(f"{where} must be a list of names from {', '.join(param.choices)}, got {json.dumps(value)}")
        wrong = [v for v in value if v not in param.choices]
        if wrong:
            raise LessonError(f"{where}: unknown {_names(wrong)}; choose from {', '.join(param.choices)}")
        return
    if param.choices and value not in param.choices:
        raise LessonError(f"{where}: unknown {value!r}; choose one of {', '.join(param.choices)}")
    if param.low is not None and value < param.low:
        raise LessonError(f"{where} must be at least {param.low:g}, got {value}")
    if param.high is not None and value > param.high:
        raise LessonError(f"{where} must be at most {param.high:g}, got {value}")


# ------------------------------------------------------------------ markup

_MARKUP = (
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*(.+?)\*\*"), r"<b>\1</b>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<i>\1</i>"),
)


def to_html(text: str) -> str:
    """A step's text as the rich text Qt labels show: *emphasis*, **bold**, `code`,
    and a blank line between paragraphs; anything else is shown as typed."""
    paragraphs = []
    for part in re.split(r"\n\s*\n", text.strip()):
        out = html.escape(" ".join(part.split()), quote=False)
        for pattern, replacement in _MARKUP:
            out = pattern.sub(replacement, out)
        paragraphs.append(out)
    return "<br><br>".join(paragraphs)
