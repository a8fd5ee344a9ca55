"""Session files as a user meets them: File › Save session… writes what the window
shows, File › Open session… shows it again exactly (views, selection, path, samples,
classes, backgrounds, panel and its settings, the models), and a bad file says what
is wrong and changes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings

from explorer.startup import StartupData, load_startup
from explorer.window import MainWindow
from models.checkpoint import save_checkpoint
from models.nets import NetConfig, build_model

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def startup() -> StartupData:
    s = load_startup()
    assert not s.errors, s.errors
    return s


@pytest.fixture
def window(qtbot, startup, tmp_path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(startup=startup, settings=settings, theme_choice="light")
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def _tiny_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(path, build_model(NetConfig(kind="ae", latent=2, hidden=(16,))), meta={"dataset": "mnist"})


def _view(window: MainWindow) -> dict:
    """What a user sees, in numbers."""
    e = window.explore
    return {
        "views": {s: np.array(e.plots[s].view_range()) for s in ("left", "right")},
        "selected": e.selected_image(),
        "selection": e.plots["right"].selection(),
        "path": e.plots["right"].path(),
        "crosshair": (e.plots["left"].crosshair(), e.plots["right"].crosshair()),
        "samples": e.sample_strips["right"].count(),
        "classes": [e.legend.button(k).isChecked() for k in range(10)],
        "backgrounds": {n: a.isChecked() for n, a in e.background_actions.items()},
        "linked": e.linked_action.isChecked(),
        "panel": window.current_panel_name(),
        "left_model": e.checkpoint("left").path if e.checkpoint("left") else None,
    }


def _same(a: dict, b: dict) -> None:
    for side in ("left", "right"):
        assert np.allclose(a["views"][side], b["views"][side], rtol=1e-6, atol=1e-9), side
    for key in ("selected", "selection", "crosshair", "samples", "classes", "backgrounds", "linked", "panel", "left_model"):
        assert a[key] == b[key], key
    assert (a["path"] is None) == (b["path"] is None)
    if a["path"] is not None:
        assert np.allclose(a["path"], b["path"])


def _set_up(window: MainWindow) -> None:
    e = window.explore
    e.select_image(42)
    e.interpolate(3, 9, 7)
    e.sample(n=5, seed=11)
    e.linked_action.setChecked(False)
    e.probe("right", 0.3, -0.2)
    e.set_class_visible(4, False)
    e.set_background("prior", True)
    e.plots["left"].zoom_to((1.0, -2.0), 4.0)
    e.plots["right"].zoom_to((0.25, 0.5), 1.2)
    denoise = window.denoise
    denoise.set_kind("salt_and_pepper")
    denoise.set_level(0.2)
    denoise.seed.setValue(5)
    window.lab.show_experiment(window.lab.experiment_names()[-1])
    window.show_panel("denoise")


def _change_everything(window: MainWindow) -> None:
    e = window.explore
    window.show_panel("explore")
    e.reset_view()
    e.select_image(7)
    e.interpolate(0, 1, 4)
    e.linked_action.setChecked(True)
    e.set_class_visible(4, True)
    e.set_class_visible(2, False)
    e.set_background("prior", False)
    e.set_background("density", True)
    window.denoise.set_kind("gaussian")
    window.lab.show_experiment(window.lab.experiment_names()[0])
    window.show_panel("lab")


def test_a_saved_session_reopens_to_the_same_view(window, tmp_path):
    _set_up(window)
    saved = _view(window)
    path = tmp_path / "lecture.json"
    assert window.session.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "latent-explorer-session" and data["dataset"] == "mnist"
    assert data["models"] == {"left": "bundled", "right": "bundled"}
    assert data["panel"] == "denoise" and data["explore"]["selected"] == 42

    _change_everything(window)
    assert _view(window)["panel"] == "lab"
    assert window.session.open(path), window.last_error
    _same(_view(window), saved)
    assert window.denoise.kind_name() == "salt_and_pepper"
    assert abs(window.denoise.level_value() - 0.2) < 1e-9 and window.denoise.seed.value() == 5
    assert window.lab.current_experiment() == window.lab.experiment_names()[-1]
    assert window.explore.interpolation.values() == (3, 9, 7)
    assert window.explore.sampling.values() == (5, 11)
    assert "Opened the session" in window.statusBar().currentMessage()


def test_a_session_brings_back_a_checkpoint_the_user_opened(window, tmp_path):
    tiny = _tiny_checkpoint(tmp_path / "tiny-ae.pt")
    assert window.open_checkpoint("left", tiny)
    window.explore.plots["left"].zoom_to((0.0, 0.0), 0.5)
    saved = _view(window)
    path = tmp_path / "s.json"
    assert window.session.save(path)
    assert json.loads(path.read_text())["models"]["left"] == str(tiny.resolve())
    assert window.restore_bundled_models()
    assert window.explore.checkpoint("left").path.name == "ae.pt"
    assert window.session.open(path), window.last_error
    assert window.explore.checkpoint("left").path == tiny
    _same(_view(window), saved)


def test_a_session_without_selection_or_path_clears_them(window, tmp_path):
    path = tmp_path / "plain.json"
    assert window.session.save(path)
    saved = _view(window)
    _set_up(window)
    assert window.session.open(path), window.last_error
    now = _view(window)
    assert now["selected"] is None and now["selection"] is None and now["path"] is None and now["samples"] == 0
    _same(now, saved)


def _bad_files(tmp_path: Path, good: dict) -> list[tuple[str, str | dict, list[str]]]:
    def edit(**changes):
        d = json.loads(json.dumps(good))
        for key, value in changes.items():
            target = d
            *parents, last = key.split("__")
            for p in parents:
                target = target[p]
            target[last] = value
        return d

    return [
        ("not json", "{ this is not json", ["not valid JSON", "line 1"]),
        ("not a session", {"hello": 1}, ["not a Latent Explorer session"]),
        ("unknown dataset", edit(dataset="cifar"), ["dataset 'cifar' is unknown", "mnist"]),
        ("missing checkpoint", edit(models__left=str(tmp_path / "gone.pt")), ["left plot", "gone.pt", "does not exist"]),
        ("bad view", edit(explore__views__right=[[1, 0], [0, 1]]), ["explore.views.right"]),
        ("unknown panel", edit(panel="nowhere"), ["panel 'nowhere' is unknown"]),
        ("several problems", edit(panel=3, explore__selected=999_999, explore__linked="yes"),
         ["panel should be text", "explore.selected is test image 999999", "explore.linked should be true or false"]),
    ]


def test_a_bad_session_file_says_what_is_wrong_and_changes_nothing(window, tmp_path):
    good_path = tmp_path / "good.json"
    assert window.session.save(good_path)
    good = json.loads(good_path.read_text())
    _set_up(window)
    before = _view(window)
    for name, content, words in _bad_files(tmp_path, good):
        path = tmp_path / f"{name}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        window.last_error = None
        assert not window.session.open(path), name
        assert str(path) in window.last_error, name
        for w in words:
            assert w in window.last_error, (name, w, window.last_error)
        _same(_view(window), before)
    window.last_error = None
    assert not window.session.open(tmp_path / "nothing-here.json")
    assert "no such file" in window.last_error


def test_saving_into_a_missing_folder_says_why_and_writes_nothing(window, tmp_path):
    target = tmp_path / "gone" / "s.json"
    assert not window.session.save(target)
    assert "does not exist" in window.last_error and str(target.parent) in window.last_error
    assert not target.parent.exists()
    assert not window.session.save(tmp_path)
    assert "is a folder" in window.last_error


def test_file_menu_save_and_open_session(window, tmp_path):
    path = tmp_path / "via-menu"
    window.session.ask_path = lambda save, title, start: str(path)
    actions = window.window_actions
    assert actions.save_session.shortcut().toString() == "Ctrl+Shift+S"
    assert actions.save_session.toolTip() and actions.open_session.toolTip()
    window.explore.select_image(5)
    actions.save_session.trigger()
    saved = path.with_suffix(".json")
    assert saved.is_file()
    window.explore.select_image(6)
    window.session.ask_path = lambda save, title, start: str(saved)
    actions.open_session.trigger()
    assert window.explore.selected_image() == 5
    # Where the last session went is remembered for the next dialog.
    assert window._settings.value("session/last_dir") == str(tmp_path)
