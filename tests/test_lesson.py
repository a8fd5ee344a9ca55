"""The guided lesson as a learner and a teacher meet it: every step of the bundled
lesson opens its panel (or Lab tab) and sets it up as the file says; Back / Next and
their keys; the step remembered; closing leaves the app as it is; the dock beside
the plots in a small window and readable in both themes; a teacher's broken file
named step by step and field by field, and through the CLI as one `error:` line."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from explorer.lesson import steps as lesson_steps
from explorer.lesson.actions import resolve_image
from explorer.lesson.dock import LessonDock
from explorer.lesson.steps import DEFAULT_LESSON, LessonError, load_lesson, parse_lesson, to_html
from explorer.startup import load_startup
from explorer.widgets.plot_backgrounds import BACKGROUND_NAMES
from explorer.window import MainWindow
from models.corrupt import CORRUPTIONS, PRESET_MASKS, preset_mask
from models.data import load_bundled

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
BUNDLED = json.loads(DEFAULT_LESSON.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the file, without Qt


def test_the_bundled_lesson_has_about_ten_steps_each_with_one_question():
    lesson = load_lesson()
    assert 9 <= len(lesson) <= 12
    for step in lesson.steps:
        assert step.title and step.text and step.question
        assert step.question.count("?") <= 2  # one question (a second "?" only to try the other plot)
        assert 2 <= step.text.count(". ") + 1 <= 5  # two or three sentences, give or take


def test_the_lists_the_file_is_checked_against_are_the_apps():
    assert lesson_steps.DAMAGE_KINDS == tuple(CORRUPTIONS)
    assert lesson_steps.MASK_PRESETS == tuple(PRESET_MASKS)
    assert lesson_steps.BACKGROUND_NAMES == tuple(BACKGROUND_NAMES)


def _broken(edit) -> dict:
    data = copy.deepcopy(BUNDLED)
    edit(data)
    return data


BROKEN = [
    (lambda d: d["steps"][2].pop("question"), 'step 3 “Losses: MSE, L1 and cosine”: "question" is missing'),
    (lambda d: d["steps"][0].update(panel="explorer"), "step 1 “An autoencoder and its bottleneck”: unknown panel 'explorer'"),
    (lambda d: d["steps"][1].update(tab="pca"), "step 2 “A linear AE finds PCA's subspace”: unknown tab 'pca'"),
    (lambda d: d["steps"][4]["setup"].append({"do": "blur"}), "step 5 “Denoising”, set-up action 2: unknown action 'blur'"),
    (lambda d: d["steps"][4]["setup"][0].update(level="high"), "step 5 “Denoising”, set-up action 1 ('denoise'): \"level\" must be a number"),
    (lambda d: d["steps"][4]["setup"][0].update(kind="speckle"), "\"kind\": unknown 'speckle'; choose one of gaussian"),
    (lambda d: d["steps"][8]["setup"][2].update(count=3), "step 9 “Sampling and interpolation”, set-up action 3 ('sample'): unknown argument 'count'"),
    (lambda d: d["steps"][0]["setup"][2].update(image={"class": 4}), "\"image\" must be a test image's number, or {\"label\": k}"),
    (lambda d: d["steps"][0].update(qestion="?"), "step 1 “An autoencoder and its bottleneck”: unknown field 'qestion'"),
    (lambda d: d["steps"][0]["setup"].append({"do": "elbo_image", "image": 1}), "'elbo_image' works on the Lab's 'elbo' tab"),
    (lambda d: d["steps"][7]["fallback"].update(panel="nowhere"), "step 8 “The reparameterisation trick”, \"fallback\": unknown panel 'nowhere'"),
    (lambda d: d.update(steps=[]), '"steps" must be a non-empty list'),
]


@pytest.mark.parametrize(("edit", "message"), BROKEN)
def test_a_broken_lesson_names_the_step_and_the_field(edit, message):
    with pytest.raises(LessonError) as info:
        parse_lesson(_broken(edit))
    assert message in str(info.value)


def test_a_file_that_is_not_json_says_where(tmp_path):
    path = tmp_path / "lesson.json"
    path.write_text('{"title": "x", "steps": [\n  {"title": "a",}\n]}', encoding="utf-8")
    with pytest.raises(LessonError, match=r"lesson.json: not valid JSON: .* at line 2, column"):
        load_lesson(path)
    with pytest.raises(LessonError, match="no such file"):
        load_lesson(tmp_path / "missing.json")


def test_a_step_whose_panel_is_missing_takes_its_fallback_and_its_words():
    lesson = load_lesson()
    step = next(s for s in lesson.steps if s.target.panel == "computation")
    without = ("explore", "train", "draw", "denoise", "inpaint", "lab")
    target, text, question = step.resolve(without)
    assert (target.panel, target.tab) == ("lab", "elbo")
    assert text == step.fallback_text and question == step.fallback_question
    assert step.resolve((*without, "computation"))[0] is step.target
    # Checked against a window without the panel, a step with no fallback is refused.
    data = _broken(lambda d: d["steps"][7].pop("fallback"))
    with pytest.raises(LessonError, match="unknown panel 'computation'"):
        parse_lesson(data, panels=without)


def test_markup_is_rendered_and_anything_else_shown_as_typed():
    assert to_html("a *b* **c** `d` 2*3*4 <x>") == "a <i>b</i> <b>c</b> <code>d</code> 2*3*4 &lt;x&gt;"
    assert to_html("one\n\ntwo") == "one<br><br>two"


def test_an_image_by_class_is_the_first_of_that_class():
    labels = load_bundled("mnist").test_labels
    assert resolve_image({"label": 7}, labels, len(labels)) == int(np.flatnonzero(labels == 7)[0])
    assert resolve_image({"label": 7, "nth": 2}, labels, len(labels)) == int(np.flatnonzero(labels == 7)[1])
    with pytest.raises(LessonError, match="there is no test image 10000"):
        resolve_image(10_000, labels, len(labels))
    with pytest.raises(LessonError, match="of class 12"):
        resolve_image({"label": 12}, labels, len(labels))


# --------------------------------------------------------------------------- in the window


@pytest.fixture(scope="module")
def startup():
    s = load_startup()
    assert not s.errors, s.errors
    return s


def _settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, startup, tmp_path) -> MainWindow:
    w = MainWindow(startup=startup, settings=_settings(tmp_path), theme_choice="light")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def _check_setup(window: MainWindow, action) -> None:
    """What the learner sees after ``action``, compared with what the file asked for."""
    a = action.args
    explore = window.explore

    def image(ref):
        return resolve_image(ref, explore.labels, len(explore.images))

    if action.do == "select_image":
        assert explore.selected_image() == image(a["image"])
        assert explore.details.views["left"].image() is not None  # the AE's reconstruction is shown
    elif action.do == "sample":
        assert explore.sampling.values() == (a["n"], a.get("seed", explore.sampling.values()[1]))
        assert all(len(explore.sample_strips[s].images()) == a["n"] for s in ("left", "right"))
    elif action.do == "interpolate":
        assert explore.interpolation.values() == (image(a["a"]), image(a["b"]), a.get("steps", explore.interpolation.values()[2]))
    elif action.do == "backgrounds":
        assert {n for n, act in explore.background_actions.items() if act.isChecked()} == set(a["on"])
    elif action.do == "probe":
        assert explore.plots[a["side"]].crosshair() == pytest.approx((a["x"], a["y"]))
    elif action.do == "denoise":
        d = window.denoise
        assert d.kind_name() == a["kind"] and d.level_value() == pytest.approx(a["level"])
        if "image" in a:
            assert d.source.source() == "test" and d.source.index.value() == image(a["image"])
            assert np.array_equal(d.clean, window.workbench.image(image(a["image"])))
        if "passes" in a:
            assert d.passes.value() == a["passes"]
        assert d.noisy is not None and d.outputs["dae"] is not None
    elif action.do == "inpaint":
        p = window.inpaint
        assert np.array_equal(p.editor.mask(), preset_mask(a["preset"], seed=0).numpy())
        if "image" in a:
            assert p.source.index.value() == image(a["image"])
    elif action.do == "loss_vectors":
        losses = window.lab.experiment("losses")
        assert [float(v) for v in losses.x_edit.text().split()] == a["x"]
        assert [float(v) for v in losses.x_hat_edit.text().split()] == a["xhat"]
    elif action.do == "loss_digit":
        assert window.lab.experiment("losses").index_spin.value() == image(a["image"])
    elif action.do == "linear_latent":
        assert window.lab.experiment("linear").latent_spin.value() == a["k"]
    elif action.do == "elbo_image":
        terms = window.lab.experiment("elbo").terms_view
        assert terms.index == image(a["image"]) and terms.terms is not None
    elif action.do == "beta":
        assert window.lab.experiment("elbo").beta_study.current_beta() == pytest.approx(a["beta"], rel=0.05)
    elif action.do == "resample":
        computation = window.panel("computation")
        # The strips follow the image the step selected, with the ε the step drew.
        assert computation.eps_seed == a["seed"]
        focus = window.workbench.focus
        assert (focus.kind, focus.index) == ("image", explore.selected_image())
    elif action.do != "reset_view":
        raise AssertionError(f"no check for {action.do!r}")


def test_every_step_opens_its_panel_and_applies_its_setup(window, qtbot):
    dock = window.show_lesson(step=1)
    assert isinstance(dock, LessonDock) and dock.isVisible()
    lesson = dock.controller.lesson
    seen_panels = set()
    for i in range(len(lesson)):
        if i:
            qtbot.mouseClick(dock.next_button, Qt.MouseButton.LeftButton)
        shown = dock.shown()
        assert shown.index == i and not shown.problems, shown.problems
        target, text, question = lesson.steps[i].resolve(window.panel_names())
        assert shown.target == target
        assert window.current_panel_name() == target.panel
        if target.tab is not None:
            assert window.lab.current_experiment() == target.tab
        for action in target.setup:
            _check_setup(window, action)
        assert dock.counter.text() == f"Step {i + 1} of {len(lesson)}"
        assert dock.progress.value() == i + 1 and dock.progress.maximum() == len(lesson)
        assert dock.title.text() == lesson.steps[i].title
        assert dock.question.text() == to_html(question) and dock.text.text() == to_html(text)
        seen_panels.add(target.panel)
    assert {"explore", "lab", "denoise", "inpaint"} <= seen_panels
    assert not dock.next_button.isEnabled()


def test_the_window_has_the_panels_and_tabs_a_lesson_is_checked_against(window):
    assert set(window.panel_names()) <= set(lesson_steps.APP_PANELS)
    assert set(lesson_steps.APP_PANELS) - {"computation"} <= set(window.panel_names())
    assert window.lab.experiment_names() == lesson_steps.LAB_TABS


def test_back_next_and_their_keys(window, qtbot):
    dock = window.show_lesson(step=1)
    assert not dock.back_button.isEnabled() and dock.next_button.isEnabled()
    assert "Alt+Right" in dock.next_button.toolTip() and "Alt+Left" in dock.back_button.toolTip()
    QTest.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert dock.shown().index == 1 and window.current_panel_name() == "lab"
    QTest.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert dock.shown().index == 2
    qtbot.mouseClick(dock.back_button, Qt.MouseButton.LeftButton)
    QTest.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert dock.shown().index == 0 and window.current_panel_name() == "explore"
    QTest.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)  # nothing before the first
    assert dock.shown().index == 0
    # The step menu goes anywhere.
    dock.step_actions[5].trigger()
    assert dock.shown().index == 5 and dock.step_actions[5].isChecked() and not dock.step_actions[0].isChecked()


def test_set_up_again_puts_the_step_back(window, qtbot):
    dock = window.show_lesson(step=5)
    denoise = window.denoise
    denoise.set_level(0.9)
    denoise.set_kind("blur")
    qtbot.mouseClick(dock.again_button, Qt.MouseButton.LeftButton)
    assert denoise.kind_name() == "gaussian" and denoise.level_value() == pytest.approx(0.5)


def test_closing_leaves_the_app_as_it_is_and_the_step_is_remembered(window, qtbot, startup, tmp_path):
    dock = window.show_lesson(step=1)
    QTest.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    dock.step_actions[4].trigger()  # the Denoise step
    window.denoise.set_level(0.8)  # the learner tries something
    window.show_lesson(toggle=True)  # F1 again: closes it
    assert not dock.isVisible()
    assert window.current_panel_name() == "denoise" and window.denoise.level_value() == pytest.approx(0.8)
    QTest.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)  # the keys went with it
    assert dock.shown().index == 4 and window.current_panel_name() == "denoise"
    # Reopened in this session: as it was, nothing set up again.
    window.window_actions.lesson.trigger()
    assert dock.isVisible() and dock.shown().index == 4 and window.denoise.level_value() == pytest.approx(0.8)
    window.close()

    again = MainWindow(startup=startup, settings=_settings(tmp_path), theme_choice="light")
    qtbot.addWidget(again)
    again.show()
    again.resize(1400, 900)  # room beside the panels (a narrower window floats the lesson)
    reopened = again.show_lesson()
    assert reopened.shown().index == 4 and again.current_panel_name() == "denoise"
    assert again.denoise.level_value() == pytest.approx(0.5)  # the step's own set-up
    assert again.dockWidgetArea(reopened) == Qt.DockWidgetArea.RightDockWidgetArea


def test_the_dock_goes_back_where_the_learner_docked_it(window, qtbot, startup, tmp_path):
    dock = window.show_lesson(step=2)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)  # what dragging it there does
    window.close()
    again = MainWindow(startup=startup, settings=_settings(tmp_path), theme_choice="light")
    qtbot.addWidget(again)
    again.show()
    again.resize(1400, 900)  # room beside the panels (a narrower window floats the lesson)
    reopened = again.show_lesson()
    assert again.dockWidgetArea(reopened) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert reopened.shown().index == 1 and reopened.next_button.isVisible()


def test_the_help_menu_offers_the_lesson_with_a_shortcut(window):
    action = window.window_actions.lesson
    assert action.shortcut().toString() == "F1" and action.toolTip()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert action in help_menu.actions()
    # No other action of the window takes the lesson's keys.
    mine = {"F1", "Alt+Right", "Alt+Left"}
    window.show_lesson()
    window.build_all_panels()
    taken = [s.toString() for a in window.findChildren(type(action)) if a not in (
        action, window.findChild(LessonDock).next_action, window.findChild(LessonDock).back_action) for s in a.shortcuts()]
    assert not mine & set(taken)


def test_a_teachers_broken_file_is_said_in_the_window_not_raised(window, tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_broken(lambda d: d["steps"][0].pop("text"))), encoding="utf-8")
    assert window.show_lesson(path=path) is None
    assert 'step 1 “An autoencoder and its bottleneck”: "text" is missing' in window.last_error


def test_what_cannot_be_set_up_is_said_in_the_dock_and_the_rest_still_applies(window, tmp_path):
    data = _broken(lambda d: d["steps"][8]["setup"].insert(0, {"do": "select_image", "image": 123_456}))
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    dock = window.show_lesson(path=path, step=9)
    assert dock.problems.isVisible()
    assert "there is no test image 123456: the test set has 10000" in dock.problems.text()
    assert window.explore.sampling.values() == (16, 0)  # the actions after it were done


def test_a_teachers_translated_file_is_shown(window, tmp_path):
    data = copy.deepcopy(BUNDLED)
    data["title"] = "Autoencoder"
    data["steps"][0]["title"] = "Ein Autoencoder und sein Flaschenhals"
    data["steps"][0]["question"] = "Was bleibt *erhalten*?"
    path = tmp_path / "de.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    dock = window.show_lesson(path=path, step=1)
    assert dock.title.text() == "Ein Autoencoder und sein Flaschenhals"
    assert dock.question.text() == "Was bleibt <i>erhalten</i>?"


SIZES = [QSize(1000, 650), QSize(1600, 1000)]


# The offscreen platform cannot raise a top-level window (the floating lesson's).
@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints", "This plugin does not support raise")
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s.width()}x{s.height()}")
def test_the_dock_sits_beside_the_panels_without_covering_them(window, qtbot, size):
    """The dock never lies over a panel. A 1600 x 1000 window holds both; in a 1000 x 650
    one the panels' own minimum width (the widest page's, about 950 pixels) leaves no
    room, so the lesson floats in a window of its own beside it (the test's offscreen
    screen is only 800 pixels wide, so there at the screen's right edge) and the main
    window keeps its size."""
    window.resize(size)
    qtbot.waitUntil(lambda: window.size() == size)
    dock = window.show_lesson(step=1)
    if dock.isFloating():
        assert size.width() < 1200
        QTest.qWait(0)
        assert window.size() == size
        frame, screen = window.frameGeometry(), window.screen().availableGeometry()
        if frame.right() + dock.width() <= screen.right():
            assert dock.geometry().left() > frame.right()
        else:
            assert dock.geometry().right() == screen.right()
        assert "window of its own" in window.statusBar().currentMessage()
        return
    assert size.width() >= 1200
    for i in range(len(dock.controller.lesson)):
        dock.controller.go(i)
        QTest.qWait(0)
        central = window.centralWidget()
        need = central.minimumSizeHint().width() + dock.minimumSizeHint().width() + 40
        assert window.width() <= max(size.width(), need), (i, window.width(), need)
        assert window.height() <= max(size.height(), window.minimumSizeHint().height())
        if size.width() >= need:
            assert window.size() == size
        assert not dock.geometry().intersects(central.geometry()), (i, dock.geometry(), central.geometry())
        assert 240 <= dock.width() <= 420
        # The buttons stay in sight and the question fits the dock's width.
        for w in (dock.back_button, dock.next_button, dock.again_button):
            assert w.isVisible() and dock.rect().contains(QRect(w.mapTo(dock, QPoint(0, 0)), w.size()))
        assert dock.question.width() <= dock.scroll.viewport().width()


def _contrast(a: QColor, b: QColor) -> float:
    def lum(c: QColor) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_question_reads_in_both_themes_and_after_a_switch(window):
    dock = window.show_lesson(step=1)
    for choice in ("light", "dark", "light"):
        window.apply_theme(choice)
        tint = QColor(dock.question_box.styleSheet().split("background: ")[1].split(";")[0])
        text = dock.question.palette().color(QPalette.ColorRole.WindowText)
        muted = dock.counter.palette().color(QPalette.ColorRole.WindowText)
        assert _contrast(text, tint) >= 7, (choice, text.name(), tint.name())
        assert muted.name() == window.theme.muted
        assert _contrast(muted, QApplication.palette().color(QPalette.ColorRole.Window)) >= 3.5, choice


# --------------------------------------------------------------------------- the command line


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_DEVICE="cpu", OMP_NUM_THREADS="1",
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


@pytest.mark.slow
def test_a_broken_lesson_file_is_one_error_line_before_any_window(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_broken(lambda d: d["steps"][4]["setup"][0].update(level="high"))), encoding="utf-8")
    for args, message in (
        (("--lesson-file", str(path)), "error: --lesson-file: mine.json: step 5 “Denoising”, set-up action 1 ('denoise'): "
                                       "\"level\" must be a number"),
        (("--lesson", "--lesson-step", "11"), "error: --lesson-step must be between 1 and 10"),
        (("--lesson", "--panel", "draw"), "error: the lesson opens each step's own panel; leave out --panel"),
        (("--lesson-file", str(tmp_path / "none.json")), "no such file"),
    ):
        out = run_cli(*args, tmp_path=tmp_path)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and message in lines[0], out.stderr


@pytest.mark.slow
def test_the_lesson_screenshot_shows_the_chosen_step(tmp_path):
    png = tmp_path / "lesson.png"
    out = run_cli("--lesson", "--lesson-step", "9", "--screenshot", str(png), tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (1400, 900)
