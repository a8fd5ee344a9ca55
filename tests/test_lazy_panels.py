"""Start-up builds only the panel in front; the others are built when first needed,
or by themselves soon after the window is shown, and behave as if built at start."""
from __future__ import annotations

import pytest

from explorer.startup import load_startup
from explorer.window import MainWindow

# The offscreen platform says this whenever a window is shown.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def startup():
    return load_startup(None, "mnist")


def test_only_explore_is_built_at_start_and_a_tab_click_builds_its_panel(qtbot, startup):
    w = MainWindow(startup=startup, settings=None)
    qtbot.addWidget(w)
    assert w.panel_built("explore")
    assert not any(w.panel_built(n) for n in ("train", "draw", "denoise", "inpaint", "computation", "lab"))
    assert w.panel_names() == ("explore", "train", "draw", "denoise", "inpaint", "computation", "lab")
    w.tabs.setCurrentIndex(w.panel_names().index("denoise"))  # what a click on the tab does
    assert w.panel_built("denoise") and w.current_panel_name() == "denoise"
    # Built late, it still has the Explore panel's models and a digit in it.
    assert w.denoise.outputs["vae"] is not None and w.denoise.psnr["vae"] > 0


def test_the_other_panels_are_built_soon_after_the_window_shows(qtbot, startup):
    w = MainWindow(startup=startup, settings=None)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: all(w.panel_built(n) for n in w.panel_names()), timeout=20000)
    assert w.lab.parent() is not None and w.lab.isVisibleTo(w) is False  # built, not in front


def test_a_panel_built_after_a_dataset_switch_shows_that_dataset(qtbot, startup):
    w = MainWindow(startup=startup, settings=None)
    qtbot.addWidget(w)
    assert w.set_dataset("fashion-mnist")
    assert not w.panel_built("train")
    assert w.train_panel.form.dataset_combo.currentData() == "fashion-mnist"
    assert w.workbench.class_names[0] == "T-shirt/top"


def test_closing_before_the_panels_are_built_builds_none_and_leaves_them_reachable(qtbot, startup):
    w = MainWindow(startup=startup, settings=None)
    qtbot.addWidget(w)
    w.show()
    w.close()
    w._build_next_panel()  # what the background timer would run after the close
    assert not any(w.panel_built(n) for n in ("train", "draw", "denoise", "inpaint", "computation", "lab"))
    assert w.lab is not None and w.panel_built("lab")  # still there when asked for
