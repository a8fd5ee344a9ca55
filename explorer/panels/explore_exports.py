"""What the window and its Explore panel export for slides and notebooks: the current
panel as PNG or SVG (File › Export view), each latent plot and image strip as PNG or
SVG (right-click), each plot's decoded manifold as a PNG grid, the interpolation path
and a walk through the prior as GIFs, and each plot's codes as CSV.

The files are made by Qt-free code in models/ (``manifold``, ``sweeps``,
``codes_csv``, ``animation``) and explorer.widgets.export; this module asks where
to write them and says what happened. Every write is atomic, and a failure leaves
nothing behind and says why."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStatusBar,
    QTabWidget,
    QWidget,
)

from explorer.panels.explore import ExplorePanel, model_name
from explorer.startup import SIDES
from explorer.widgets.export import (
    CSV_FILTER,
    GIF_FILTER,
    PNG_FILTER,
    SVG_FILTER,
    AskPath,
    ExportActions,
    add_context_action,
    export_widget,
    save_dialog,
)
from models.files import ExportError

if TYPE_CHECKING:
    from models.latent_space import LatentSpace

MANIFOLD_N = (5, 40, 20)  # smallest, largest and default images a side
STATUS_MS = 8000
INTERP_FPS = 6.0
SWEEP_FPS = 12.0


@dataclass(frozen=True)
class ManifoldChoice:
    """How to export a plot's decoded manifold."""

    n: int = MANIFOLD_N[2]
    use_view: bool = True  # the plot's current view, else +-2 sigma of the codes
    gutter: bool = False  # one-pixel white lines between the images


class ManifoldDialog(QDialog):
    """The grid's size, range and gutters, asked before the file."""

    def __init__(self, parent: QWidget | None, *, model: str, tile: int, choice: ManifoldChoice):
        super().__init__(parent)
        self.setWindowTitle(f"Export the {model}'s decoded manifold")
        form = QFormLayout(self)
        self._tile = tile
        self.n = QSpinBox(minimum=MANIFOLD_N[0], maximum=MANIFOLD_N[1], value=choice.n)
        self.n.setToolTip("Images along each side of the grid (n x n in all)")
        self.range = QComboBox()
        self.range.addItem("The plot's current view", True)
        self.range.addItem("±2σ of the codes", False)
        self.range.setCurrentIndex(0 if choice.use_view else 1)
        self.range.setToolTip("Which part of the latent plane the grid covers")
        self.gutter = QCheckBox("1-pixel white lines between the images")
        self.gutter.setChecked(choice.gutter)
        self.gutter.setToolTip("Separate the decoded images with thin white lines")
        self.size_label = QLabel()
        form.addRow("Images a side (n)", self.n)
        form.addRow("Covers", self.range)
        form.addRow("", self.gutter)
        form.addRow("PNG size", self.size_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Choose file…")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.n.valueChanged.connect(self._update_size)
        self.gutter.toggled.connect(self._update_size)
        self._update_size()

    def choice(self) -> ManifoldChoice:
        return ManifoldChoice(n=self.n.value(), use_view=bool(self.range.currentData()), gutter=self.gutter.isChecked())

    def _update_size(self, *_args) -> None:
        c = self.choice()
        side = c.n * self._tile + (c.n - 1 if c.gutter else 0)
        self.size_label.setText(f"{side} x {side} pixels")


class ExportWindow(Protocol):
    """What the exports need of the window (MainWindow)."""

    explore: ExplorePanel
    tabs: QTabWidget

    def current_panel_name(self) -> str: ...

    def show_error(self, title: str, message: str) -> None: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)


class Exports(QObject):
    """The window's and the Explore panel's exports. ``ask_path`` (a save dialog by
    default) and ``ask_manifold`` (ManifoldDialog) can be replaced, e.g. in tests."""

    def __init__(self, window: ExportWindow, *, settings: QSettings | None = None,
                 ask_path: AskPath | None = None, ask_manifold: Callable[[str], ManifoldChoice | None] | None = None):
        super().__init__(window)  # type: ignore[arg-type]
        self._window = window
        self._settings = settings
        self.explore = explore = window.explore
        self.ask_path: AskPath = ask_path or save_dialog(window, settings)  # type: ignore[arg-type]
        self.ask_manifold = ask_manifold or self._manifold_dialog
        self.plot_exports: dict[str, ExportActions] = {}
        self.strip_exports: list[ExportActions] = []
        self.manifold_actions: dict[str, QAction] = {}
        self.codes_actions: dict[str, QAction] = {}
        for side in SIDES:
            plot = explore.plots[side]
            self.plot_exports[side] = ExportActions(plot, name=f"{side}-latent", what=f"the {side} plot", ask_path=self.ask_path,
                                                    saved=self._saved, failed=window.show_error)
            self.manifold_actions[side] = self._action(
                f"Export the {side} plot's decoded manifold…", lambda _=False, s=side: self.ask_export_manifold(s),
                f"Save a grid of images decoded across the {side} plot as one PNG", plot)
            self.codes_actions[side] = self._action(
                f"Export the {side} plot's codes as CSV…", lambda _=False, s=side: self.ask_export_codes(s),
                f"Save the codes of the test images under the {side} plot's model (index, label, z1, z2, …)", plot)
            for box, what in ((explore.sampling, "prior samples"), (explore.interpolation, "interpolation")):
                self.strip_exports.append(ExportActions(
                    box.strips[side], name=f"{side}-{what.replace(' ', '-')}", what=f"the {side} {what} strip",
                    ask_path=self.ask_path, saved=self._saved, failed=window.show_error))
        self.interpolation_gif_action = self._action(
            "Export the interpolation as GIF…", lambda: self.ask_export_interpolation_gif(),
            "Save the path between the two test images as an animated GIF, one frame per step, both models side by side")
        self.sweep_gif_action = self._action(
            "Export a walk through the prior as GIF…", lambda: self.ask_export_sweep_gif(),
            "Save an animated GIF of the images decoded around a circle of radius 1.5σ in N(0, I), both models side by side")
        for side in SIDES:
            add_context_action(explore.interpolation.strips[side], self.interpolation_gif_action)
            add_context_action(explore.sampling.strips[side], self.sweep_gif_action)
        self.interpolation_gif_button = self._button(explore.interpolation, "GIF…", self.interpolation_gif_action)
        self.sweep_gif_button = self._button(explore.sampling, "Sweep GIF…", self.sweep_gif_action)

    def _action(self, text: str, slot, tip: str, widget: QWidget | None = None) -> QAction:
        a = QAction(text, self)
        a.setToolTip(tip)
        a.setStatusTip(tip)
        a.triggered.connect(slot)
        if widget is not None:
            add_context_action(widget, a)
        return a

    @staticmethod
    def _button(box, text: str, action: QAction) -> QPushButton:
        """A button at the end of a box's row of controls, before its stretch."""
        button = QPushButton(text)
        button.setToolTip(action.toolTip())
        button.clicked.connect(action.trigger)
        box.row.insertWidget(box.row.count() - 1, button)
        return button

    def _saved(self, path: Path) -> None:
        self._window.statusBar().showMessage(f"Saved {path}", STATUS_MS)

    def _model(self, side: str) -> str:
        return model_name(self.explore.checkpoint(side), side)

    # ------------------------------------------------------------ the current panel

    def export_view(self, path: str | Path) -> bool:
        """Save a picture (PNG, or SVG by the suffix) of the current panel."""
        widget = self._window.tabs.currentWidget() or self._window
        try:
            out = export_widget(widget, path)  # type: ignore[arg-type]
        except ExportError as exc:
            self._window.show_error("Could not export the view", str(exc))
            return False
        self._saved(out)
        return True

    def ask_export_view(self) -> None:
        path = self.ask_path("Export view as PNG or SVG", f"{self._window.current_panel_name()}.png",
                             f"{PNG_FILTER};;{SVG_FILTER}")
        if path is not None:
            self.export_view(path)

    # ------------------------------------------------------------ decoded manifold

    def _decoding_space(self, side: str, what: str) -> LatentSpace | None:
        space = self.explore.space(side)
        if space is None:
            self._window.show_error(f"Cannot export {what}",
                                    f"The {side} plot has no model to decode with yet (File › Open checkpoint…, or wait for it to load).")
        return space

    def export_manifold(self, side: str, path: str | Path, choice: ManifoldChoice = ManifoldChoice()) -> bool:
        """Write the ``side`` plot's decoded manifold: ``choice.n`` x ``choice.n`` images
        over the plot's view (or +-2 sigma of its codes) as one PNG."""
        from models.manifold import manifold_grid, spread_range, write_png

        space = self._decoding_space(side, "the decoded manifold")
        if space is None:
            return False
        x_range, y_range = self.explore.plots[side].view_range() if choice.use_view else spread_range(space.xy)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            shape = tuple(space.model.config.image_shape)
            grid = manifold_grid(space, x_range, y_range, choice.n, gutter=1 if choice.gutter else 0, tile=(shape[0], shape[1]))
            out = write_png(path, grid)
        except (ExportError, ValueError) as exc:
            self._window.show_error("Could not export the decoded manifold", str(exc))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self._saved(out)
        return True

    def _manifold_dialog(self, side: str) -> ManifoldChoice | None:
        s = self._settings
        last = ManifoldChoice(
            n=s.value("export/manifold_n", MANIFOLD_N[2], type=int) if s is not None else MANIFOLD_N[2],
            use_view=s.value("export/manifold_view", True, type=bool) if s is not None else True,
            gutter=s.value("export/manifold_gutter", False, type=bool) if s is not None else False,
        )
        space = self.explore.space(side)
        tile = space.model.config.image_shape[0] if space is not None else 28
        dialog = ManifoldDialog(self._window, model=self._model(side), tile=tile, choice=last)  # type: ignore[arg-type]
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        choice = dialog.choice()
        if s is not None:
            s.setValue("export/manifold_n", choice.n)
            s.setValue("export/manifold_view", choice.use_view)
            s.setValue("export/manifold_gutter", choice.gutter)
        return choice

    def ask_export_manifold(self, side: str) -> None:
        if self._decoding_space(side, "the decoded manifold") is None:
            return
        choice = self.ask_manifold(side)
        if choice is None:
            return
        path = self.ask_path(f"Export the {self._model(side)}'s decoded manifold", f"{side}-manifold-{choice.n}x{choice.n}.png",
                             PNG_FILTER)
        if path is not None:
            self.export_manifold(side, path, choice)

    # ------------------------------------------------------------ codes

    def export_codes(self, side: str, path: str | Path) -> bool:
        """Write the codes of the test images under the ``side`` plot's model as CSV."""
        from models.codes_csv import write_codes_csv

        space = self.explore.plots[side].space  # the codes are there while the model loads, too
        if space is None:
            self._window.show_error("Cannot export the codes", f"The {side} plot shows no codes (no model is loaded there).")
            return False
        try:
            rows = write_codes_csv(path, space.codes, self.explore.labels)
        except ExportError as exc:
            self._window.show_error("Could not export the codes", str(exc))
            return False
        self._window.statusBar().showMessage(f"Saved the {self._model(side)}'s codes of {rows} test images to {path}", STATUS_MS)
        return True

    def ask_export_codes(self, side: str) -> None:
        path = self.ask_path(f"Export the {self._model(side)}'s codes as CSV", f"{side}-{self._model(side).lower()}-codes.csv",
                             CSV_FILTER)
        if path is not None:
            self.export_codes(side, path)

    # ------------------------------------------------------------ GIFs

    def _spaces(self, what: str) -> list[LatentSpace] | None:
        spaces = [s for s in (self.explore.space(side) for side in SIDES) if s is not None]
        if not spaces:
            self._window.show_error(f"Cannot export {what}", "No plot has a model to decode with yet.")
            return None
        return spaces

    def _write_gif(self, path: str | Path, make_frames, fps: float, what: str) -> bool:
        from models.animation import AnimationError, write_animation

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            count = write_animation(path, make_frames(), fps=fps)
        except (AnimationError, ValueError, IndexError, OSError) as exc:
            self._window.show_error(f"Could not export {what}", str(exc))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self._window.statusBar().showMessage(f"Saved {what} ({count} frames) to {path}", STATUS_MS)
        return True

    def export_interpolation_gif(self, path: str | Path) -> bool:
        """The path the interpolation box shows, one frame per step, both models side by side."""
        from models.sweeps import interpolation_frames

        shown = self.explore.overlays()[1]
        if shown is None:
            self._window.show_error("Cannot export the interpolation", "There is no path yet: press Interpolate (or pick two points) first.")
            return False
        spaces = self._spaces("the interpolation")
        if spaces is None:
            return False
        a, b, steps = shown
        return self._write_gif(path, lambda: interpolation_frames(spaces, a, b, steps), INTERP_FPS, "the interpolation")

    def ask_export_interpolation_gif(self) -> None:
        a, b, _steps = self.explore.interpolation.values()
        path = self.ask_path("Export the interpolation as GIF", f"interpolation-{a}-to-{b}.gif", GIF_FILTER)
        if path is not None:
            self.export_interpolation_gif(path)

    def export_sweep_gif(self, path: str | Path) -> bool:
        """A circle walked through the prior N(0, I), decoded by both models."""
        from models.sweeps import sweep_frames

        spaces = self._spaces("the walk through the prior")
        if spaces is None:
            return False
        return self._write_gif(path, lambda: sweep_frames(spaces), SWEEP_FPS, "the walk through the prior")

    def ask_export_sweep_gif(self) -> None:
        path = self.ask_path("Export a walk through the prior as GIF", "prior-sweep.gif", GIF_FILTER)
        if path is not None:
            self.export_sweep_gif(path)
