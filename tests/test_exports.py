"""Exports for slides and notebooks, as a user gets them: pictures of plots, strips and
the whole view (PNG and SVG), the decoded manifold as a PNG grid, the interpolation
and a walk through the prior as GIFs, and each plot's codes as CSV; the menus that
offer them; and what a failed export says and leaves behind."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from explorer.panels.explore_exports import ManifoldChoice
from explorer.startup import StartupData, load_startup
from explorer.widgets.export import context_actions
from explorer.window import MainWindow
from models.animation import read_frames
from models.codes_csv import read_codes_csv
from models.data import as_float_images
from models.manifold import grid_tile, lattice, manifold_grid, spread_range, to_uint8
from models.nets import VAE
from models.sweeps import SCALE, prior_circle, side_by_side

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
SVG = "{http://www.w3.org/2000/svg}"


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


def _png(path: Path) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(imageio.imread(path))


def _not_blank(a: np.ndarray) -> None:
    # Many distinct colours and a real spread: points, axes and text, not one flat fill.
    flat = a.reshape(-1, a.shape[-1]) if a.ndim == 3 else a.reshape(-1, 1)
    assert len(np.unique(flat, axis=0)) > 20
    assert a.std() > 10


def _svg_elements(path: Path, tag: str) -> list[ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return list(root.iter(f"{SVG}{tag}"))


# ---------------------------------------------------------------- pictures


def test_a_plot_exports_as_png_twice_its_size_and_as_svg_with_a_shape_per_point(window, tmp_path):
    plot = window.explore.plots["left"]
    exports = window.exports.plot_exports["left"]
    png = tmp_path / "left.png"
    assert exports.export(png)
    image = _png(png)
    item = plot.getPlotItem().sceneBoundingRect()
    assert image.shape[1] == round(item.width() * 2)
    assert abs(image.shape[0] - item.height() * 2) <= 2
    _not_blank(image)

    svg = tmp_path / "left.svg"
    assert exports.export(svg)
    (x0, x1), (y0, y1) = plot.view_range()
    xy = plot.space.xy
    in_view = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    assert in_view.sum() > 9_900  # the view leaves out a few outliers, which are not drawn
    paths = len(_svg_elements(svg, "path"))
    assert paths >= in_view.sum()
    # Hiding a class takes its points out of the drawing: one shape per point.
    window.explore.set_class_visible(1, False)
    assert exports.export(svg)
    hidden = int((in_view & (window.explore.labels == 1)).sum())
    assert hidden > 500
    assert abs(len(_svg_elements(svg, "path")) - (paths - hidden)) <= 3  # points on the view's edge
    assert window.statusBar().currentMessage() == f"Saved {svg}"


def test_image_strips_export_as_png_and_svg(window, tmp_path):
    window.explore.interpolate(0, 1, 9)
    strip = window.explore.interp_strips["right"]
    exports = next(e for e in window.exports.strip_exports if e.widget is strip)
    png, svg = tmp_path / "strip.png", tmp_path / "strip.svg"
    assert exports.export(png) and exports.export(svg)
    image = _png(png)
    assert image.shape[:2] == (strip.height(), strip.width())
    _not_blank(image)
    # One embedded picture per decoded image along the path.
    assert len(_svg_elements(svg, "image")) == 9


def test_the_view_exports_as_png_or_svg_by_its_suffix(window, tmp_path):
    png, svg = tmp_path / "view.png", tmp_path / "view.svg"
    assert window.export_png(png)
    panel = window.tabs.currentWidget()
    image = _png(png)
    assert image.shape[:2] == (panel.height(), panel.width())
    _not_blank(image)
    assert window.exports.export_view(svg)
    root = ET.parse(svg).getroot()
    assert root.get("viewBox") == f"0 0 {panel.width()} {panel.height()}"
    assert len(list(root.iter())) > 100
    # Another panel in front is what gets exported then.
    window.show_panel("denoise")
    assert window.exports.export_view(png)
    denoise = window.tabs.currentWidget()
    assert _png(png).shape[:2] == (denoise.height(), denoise.width())


def test_the_file_dialog_filter_gives_the_suffix(window, tmp_path, monkeypatch):
    from explorer.widgets import export

    picked = str(tmp_path / "typed-without-suffix")
    monkeypatch.setattr(export.QFileDialog, "getSaveFileName", lambda *a, **k: (picked, export.SVG_FILTER))
    window.exports.ask_path = export.save_dialog(window, None)
    window.window_actions.export.trigger()
    svg = tmp_path / "typed-without-suffix.svg"
    assert svg.is_file() and ET.parse(svg).getroot().tag == f"{SVG}svg"


# ---------------------------------------------------------------- menus


def test_menus_and_right_click_entries_offer_every_export(window, qtbot):
    file_menu = window.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    assert "&Export view as PNG or SVG…" in texts
    assert "&Save session…" in texts and "Open sess&ion…" in texts
    sub = next(a.menu() for a in file_menu.actions() if a.menu() is not None)
    sub_texts = [a.text() for a in sub.actions() if not a.isSeparator()]
    assert sub_texts == [
        "Export the left plot's codes as CSV…", "Export the right plot's codes as CSV…",
        "Export the left plot's decoded manifold…", "Export the right plot's decoded manifold…",
        "Export the interpolation as GIF…", "Export a walk through the prior as GIF…",
    ]
    assert all(a.toolTip() for a in sub.actions() if not a.isSeparator())
    for side in ("left", "right"):
        assert context_actions(window.explore.plots[side]) == [
            "Export as PNG…", "Export as SVG…",
            f"Export the {side} plot's decoded manifold…", f"Export the {side} plot's codes as CSV…"]
        assert context_actions(window.explore.interp_strips[side]) == [
            "Export as PNG…", "Export as SVG…", "Export the interpolation as GIF…"]
        assert context_actions(window.explore.sample_strips[side]) == [
            "Export as PNG…", "Export as SVG…", "Export a walk through the prior as GIF…"]
    assert window.exports.interpolation_gif_button.isVisible() and window.exports.sweep_gif_button.isVisible()


# The offscreen platform cannot raise a popup menu or let it grab the keyboard; it shows it all the same.
@pytest.mark.qt_log_ignore("This plugin does not support raise", "This plugin does not support grabbing the keyboard",
                           "This plugin does not support propagateSizeHints")
def test_a_right_click_on_a_plot_opens_its_menu_and_a_right_drag_still_pans(window, qtbot):
    plot = window.explore.plots["left"]
    centre = plot.viewport().rect().center()
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, centre)
    qtbot.waitUntil(lambda: plot.context_menu.isVisible())
    assert [a.text() for a in plot.context_menu.actions()][:2] == ["Export as PNG…", "Export as SVG…"]
    plot.context_menu.hide()
    before = plot.view_range()
    vp, right, none = plot.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier
    QTest.mousePress(vp, right, none, centre)
    for dx in (10, 30, 60):
        QTest.mouseMove(vp, centre + QPoint(dx, 0))
    QTest.mouseRelease(vp, right, none, centre + QPoint(60, 0))
    assert plot.view_range()[0][0] < before[0][0]
    assert not plot.context_menu.isVisible()


# ---------------------------------------------------------------- decoded manifold


def test_the_manifold_png_is_n_tiles_a_side_each_the_models_decoding(window, tmp_path):
    space = window.explore.space("right")
    out = tmp_path / "manifold.png"
    assert window.exports.export_manifold("right", out, ManifoldChoice(n=7, use_view=True))
    grid = _png(out)
    assert grid.shape == (7 * 28, 7 * 28)
    (x0, x1), (y0, y1) = window.explore.plots["right"].view_range()
    points = lattice((x0, x1), (y0, y1), 7)
    for row, col in ((0, 0), (0, 6), (3, 4), (6, 0), (6, 6)):
        expected = to_uint8(space.decode_plane(points[row, col][None]))[0]
        assert np.abs(grid_tile(grid, row, col).astype(int) - expected).max() <= 1
    assert len({grid_tile(grid, r, c).tobytes() for r in range(7) for c in range(7)}) == 49


def test_the_manifold_dialog_choice_spread_and_gutters(window, tmp_path):
    space = window.explore.space("left")
    out = tmp_path / "grid.png"
    window.exports.ask_manifold = lambda side: ManifoldChoice(n=5, use_view=False, gutter=True)
    window.exports.ask_path = lambda title, name, filters: out
    window.exports.manifold_actions["left"].trigger()
    grid = _png(out)
    assert grid.shape == (5 * 28 + 4, 5 * 28 + 4)
    assert (grid[28, :] == 255).all() and (grid[:, 28] == 255).all()
    x_range, y_range = spread_range(space.xy)
    points = lattice(x_range, y_range, 5)
    expected = to_uint8(space.decode_plane(points[2, 3][None]))[0]
    assert np.abs(grid_tile(grid, 2, 3, gutter=1).astype(int) - expected).max() <= 1
    assert np.array_equal(grid, manifold_grid(space, x_range, y_range, 5, gutter=1))


def test_manifold_dialog_offers_size_range_and_gutters(window, qtbot):
    from explorer.panels.explore_exports import ManifoldDialog

    dialog = ManifoldDialog(window, model="VAE", tile=28, choice=ManifoldChoice())
    qtbot.addWidget(dialog)
    assert (dialog.n.minimum(), dialog.n.maximum(), dialog.n.value()) == (5, 40, 20)
    assert dialog.size_label.text() == "560 x 560 pixels"
    dialog.gutter.setChecked(True)
    dialog.n.setValue(10)
    dialog.range.setCurrentIndex(1)
    assert dialog.size_label.text() == "289 x 289 pixels"
    assert dialog.choice() == ManifoldChoice(n=10, use_view=False, gutter=True)
    assert all(w.toolTip() for w in (dialog.n, dialog.range, dialog.gutter))


# ---------------------------------------------------------------- GIFs


def test_the_interpolation_gif_has_a_frame_per_step_of_both_models_decodings(window, tmp_path):
    explore = window.explore
    explore.interpolate(3, 8, 7)
    explore.interpolation.set_values(a=0, b=1, steps=12)  # typed, not yet applied: the path shown counts
    out = tmp_path / "path.gif"
    assert window.exports.export_interpolation_gif(out)
    frames = read_frames(out)
    assert len(frames) == 7
    assert all(not np.array_equal(frames[k], frames[k + 1]) for k in range(6))
    left = explore.space("left").interpolate_images(3, 8, 7)[1]
    right = explore.space("right").interpolate_images(3, 8, 7)[1]
    assert frames[0].shape == (28 * SCALE, 2 * 28 * SCALE + SCALE, 3)
    for k in (0, 3, 6):
        expected = side_by_side([left[k], right[k]])
        assert np.abs(frames[k][:, :, 0].astype(int) - expected).max() <= 2


def test_the_prior_sweep_gif_walks_a_circle(window, tmp_path):
    out = tmp_path / "sweep.gif"
    window.exports.ask_path = lambda title, name, filters: out
    window.exports.sweep_gif_button.click()
    frames = read_frames(out)
    assert len(frames) == 36
    assert len({f.tobytes() for f in frames}) == 36
    vae = window.explore.space("right")
    codes = prior_circle(vae)
    assert np.allclose(np.linalg.norm(codes, axis=1), 1.5)
    expected = side_by_side([window.explore.space("left").decode_codes(prior_circle(window.explore.space("left")))[9],
                             vae.decode_codes(codes)[9]])
    assert np.abs(frames[9][:, :, 0].astype(int) - expected).max() <= 2


def test_no_path_yet_says_so_and_writes_nothing(window, tmp_path):
    out = tmp_path / "path.gif"
    assert not window.exports.export_interpolation_gif(out)
    assert "Interpolate" in window.last_error
    assert not out.exists()


# ---------------------------------------------------------------- codes


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_codes_csv_has_a_row_per_test_image_with_the_models_codes(window, tmp_path, side):
    explore = window.explore
    out = tmp_path / f"{side}.csv"
    window.exports.ask_path = lambda title, name, filters: out
    window.exports.codes_actions[side].trigger()
    assert out.read_text().splitlines()[0] == "index,label,z1,z2"
    indices, labels, codes = read_codes_csv(out)
    images = explore.images
    assert len(codes) == len(images) == 10_000
    assert np.array_equal(indices, np.arange(len(images)))
    assert np.array_equal(labels, explore.labels)
    model = explore.checkpoint(side).model
    with torch.no_grad():
        encoded = model.encode(as_float_images(images))
    means = encoded[0] if isinstance(model, VAE) else encoded
    assert isinstance(model, VAE) == (side == "right")
    assert np.allclose(codes, means.numpy(), atol=1e-5)


# ---------------------------------------------------------------- faults


def test_exports_into_a_missing_folder_or_onto_a_folder_say_why_and_write_nothing(window, tmp_path):
    missing = tmp_path / "gone" / "x"
    exports = window.exports
    cases = [
        (lambda: exports.export_codes("left", missing.with_suffix(".csv")), "does not exist"),
        (lambda: exports.export_manifold("left", missing.with_suffix(".png")), "does not exist"),
        (lambda: exports.export_sweep_gif(missing.with_suffix(".gif")), "does not exist"),
        (lambda: exports.export_view(missing.with_suffix(".svg")), "does not exist"),
        (lambda: exports.plot_exports["left"].export(missing.with_suffix(".png")), "does not exist"),
        (lambda: exports.export_codes("left", tmp_path), "is a folder"),
        (lambda: exports.export_view(tmp_path / "view.jpg"), ".png or .svg"),
    ]
    for run, words in cases:
        window.last_error = None
        assert not run()
        assert words in window.last_error and str(tmp_path) in window.last_error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.ini"]


def test_a_failing_write_leaves_the_old_file(window, tmp_path, monkeypatch):
    import models.codes_csv

    out = tmp_path / "codes.csv"
    out.write_text("old\n")

    def full(path, payload):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(models.codes_csv, "atomic_write_bytes", full)
    assert not window.exports.export_codes("right", out)
    assert "No space left on device" in window.last_error
    assert out.read_text() == "old\n"
