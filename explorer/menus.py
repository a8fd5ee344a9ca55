"""The window's actions, menus and toolbar: File (open a checkpoint into either plot,
open and save a session, exports, quit), View (dataset, the Explore panel's view actions, theme) and Help."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import QMenuBar, QStyle, QToolBar

from explorer.widgets.theme import THEME_CHOICES
from models.data import BUNDLED_DATASETS, DATASETS

if TYPE_CHECKING:
    from explorer.panels.datasets import DatasetSwitch
    from explorer.panels.explore import ExplorePanel
    from explorer.panels.explore_exports import Exports
    from explorer.panels.session import Session
    from explorer.startup import DatasetContext

THEME_TITLES = {"system": "Follow the &system", "light": "&Light", "dark": "&Dark"}


class MenuWindow(Protocol):
    """What the actions need of the window (MainWindow): its commands, its Explore
    panel's view actions, and the QMainWindow it is."""

    explore: ExplorePanel
    exports: Exports
    session: Session

    def ask_open_checkpoint(self, side: str) -> None: ...

    def show_about(self) -> None: ...

    def show_lesson(self, *, toggle: bool = False) -> object: ...

    def ask_export_training(self) -> None: ...

    def set_dataset(self, name: str) -> bool: ...

    def ask_open_images(self) -> None: ...

    datasets: DatasetSwitch
    context: DatasetContext

    def apply_theme(self, choice: str) -> None: ...

    def close(self) -> bool: ...

    def style(self) -> QStyle: ...

    def menuBar(self) -> QMenuBar: ...  # noqa: N802 (Qt's names)

    def addToolBar(self, toolbar: QToolBar) -> None: ...  # noqa: N802


def _std_icon(window: MenuWindow, theme_name: str, fallback: QStyle.StandardPixmap) -> QIcon:
    return QIcon.fromTheme(theme_name, window.style().standardIcon(fallback))


class WindowActions(QObject):
    """Every action of the window's menus and toolbar, connected to the window."""

    def __init__(self, window: MenuWindow, *, dataset: str, theme_choice: str):
        super().__init__(window)
        sp = QStyle.StandardPixmap
        self.open_actions: dict[str, QAction] = {}
        for side, keys in (("left", "Ctrl+O"), ("right", "Ctrl+Shift+O")):
            name = "left (AE)" if side == "left" else "right (VAE)"
            a = QAction(_std_icon(window, "document-open", sp.SP_DialogOpenButton), f"Open checkpoint for the {name} plot…", window)
            a.setShortcut(QKeySequence(keys))
            a.setIconText(f"Open {side}…")
            a.setToolTip(f"Load a model checkpoint (.pt) into the {side} plot ({keys})")
            a.triggered.connect(lambda _=False, side=side: window.ask_open_checkpoint(side))
            self.open_actions[side] = a
        self.export = QAction(_std_icon(window, "document-save-as", sp.SP_DialogSaveButton), "&Export view as PNG or SVG…", window)
        self.export.setShortcut(QKeySequence("Ctrl+E"))
        self.export.setIconText("Export…")
        self.export.setToolTip("Save a picture of the current panel as PNG or SVG, chosen in the dialog (Ctrl+E)")
        self.export.triggered.connect(window.exports.ask_export_view)
        self.export_training = QAction("Export training as GIF or MP4…", window)
        self.export_training.setToolTip("The Train panel's last run, its latent spaces forming and its loss curves, "
                                        "one frame per kept snapshot")
        self.export_training.triggered.connect(window.ask_export_training)
        self.save_session = QAction("&Save session…", window)
        self.save_session.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.save_session.setToolTip("Save the models, dataset, views, selection and panel settings as a JSON file (Ctrl+Shift+S)")
        self.save_session.triggered.connect(window.session.ask_save)
        self.open_session = QAction("Open sess&ion…", window)
        self.open_session.setToolTip("Show a saved session again: the same models, views, selection and panel")
        self.open_session.triggered.connect(window.session.ask_open)
        self.quit = QAction("&Quit", window)
        self.quit.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit.triggered.connect(window.close)
        self.lesson = QAction("&Lesson…", window)
        self.lesson.setShortcut(QKeySequence("F1"))
        self.lesson.setToolTip("A guided lesson through the lecture, step by step beside the panels (F1 opens or closes it)")
        self.lesson.triggered.connect(lambda: window.show_lesson(toggle=True))
        self.about = QAction("&About Latent Explorer", window)
        self.about.setMenuRole(QAction.MenuRole.AboutRole)
        self.about.triggered.connect(window.show_about)

        self.open_images = QAction("Open &images…", window)
        self.open_images.setShortcut(QKeySequence("Ctrl+I"))
        self.open_images.setToolTip("Explore your own images: a folder (one sub-folder per class, or flat), "
                                    "a label,pixel... CSV or a .npz / .npy file (Ctrl+I)")
        self.open_images.triggered.connect(window.ask_open_images)
        self.dataset_actions: dict[str, QAction] = {}
        datasets = QActionGroup(window)
        # With a user's images shown, no registered dataset is checked.
        datasets.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        titles = {**{name: spec.title for name, spec in DATASETS.items()}, "cifar10": "CIFAR-10"}
        for name, title in titles.items():
            a = QAction(title, window, checkable=True)
            a.setChecked(name == dataset)
            a.setToolTip(
                f"Explore {title} in every panel"
                + (" (ships with the app)" if name in BUNDLED_DATASETS else " (download it in the Train panel first)")
            )
            a.triggered.connect(lambda _=False, name=name: window.set_dataset(name))
            datasets.addAction(a)
            self.dataset_actions[name] = a
        self.theme_actions: dict[str, QAction] = {}
        themes = QActionGroup(window)
        for choice in THEME_CHOICES:
            a = QAction(THEME_TITLES[choice], window, checkable=True)
            a.setChecked(choice == theme_choice)
            a.triggered.connect(lambda _=False, choice=choice: window.apply_theme(choice))
            themes.addAction(a)
            self.theme_actions[choice] = a

    def fill_dataset_menu(self) -> None:
        """The registered datasets, then the images opened before (most recent first;
        one whose path is gone is shown disabled), then Open images…."""
        menu, window = self.dataset_menu, self._window
        menu.clear()
        for a in self.dataset_actions.values():
            menu.addAction(a)
        recent = window.datasets.recent()
        if recent:
            menu.addSection("Opened before")
        self.recent_actions = []
        for item in recent:
            a = menu.addAction(item.title)
            a.setToolTip(item.path if item.exists else f"{item.path} is no longer there")
            a.setEnabled(item.exists)
            shown = window.context.data
            a.setCheckable(True)
            a.setChecked(shown is not None and str(Path(shown.source).resolve()) == item.path)  # shown now
            a.triggered.connect(lambda _=False, item=item: window.datasets.open_recent(item))
            self.recent_actions.append(a)
        menu.addSeparator()
        menu.addAction(self.open_images)

    def build_menus(self, window: MenuWindow) -> None:
        explore = window.explore
        mb = window.menuBar()
        file_menu = mb.addMenu("&File")
        for a in self.open_actions.values():
            file_menu.addAction(a)
        file_menu.addAction(self.open_images)
        file_menu.addSeparator()
        file_menu.addAction(self.open_session)
        file_menu.addAction(self.save_session)
        file_menu.addSeparator()
        file_menu.addAction(self.export)
        exports = window.exports
        more = file_menu.addMenu("Export from E&xplore")
        more.setToolTipsVisible(True)
        for group in (exports.codes_actions.values(), exports.manifold_actions.values(),
                      (exports.interpolation_gif_action, exports.sweep_gif_action)):
            for a in group:
                more.addAction(a)
            more.addSeparator()
        file_menu.addAction(self.export_training)
        file_menu.addSeparator()
        file_menu.addAction(self.quit)

        view = mb.addMenu("&View")
        self.dataset_menu = dataset_menu = view.addMenu("&Dataset")
        dataset_menu.setToolTipsVisible(True)
        self._window = window
        dataset_menu.aboutToShow.connect(self.fill_dataset_menu)
        self.fill_dataset_menu()
        view.addSeparator()
        view.addAction(explore.reset_action)
        view.addSeparator()
        backgrounds = view.addMenu("&Backgrounds")
        for a in explore.background_actions.values():
            backgrounds.addAction(a)
        view.addAction(explore.linked_action)
        view.addSeparator()
        theme = view.addMenu("&Theme")
        for a in self.theme_actions.values():
            theme.addAction(a)

        help_menu = mb.addMenu("&Help")
        help_menu.setToolTipsVisible(True)
        help_menu.addAction(self.lesson)
        help_menu.addSeparator()
        help_menu.addAction(self.about)

    def build_toolbar(self, window: MenuWindow) -> QToolBar:
        explore = window.explore
        tb = QToolBar("Main toolbar", window)
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setIconSize(QSize(16, 16))
        for a in self.open_actions.values():
            tb.addAction(a)
        tb.addAction(self.export)
        tb.addSeparator()
        tb.addAction(explore.reset_action)
        tb.addSeparator()
        for a in explore.background_actions.values():
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(explore.linked_action)
        window.addToolBar(tb)
        return tb
