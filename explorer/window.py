"""The main window: a tab per panel (built lazily through a PanelRegistry), menus,
toolbar, status bar and settings."""
from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QEvent, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from explorer.background.model_loader import ModelLoader
from explorer.menus import WindowActions
from explorer.panels.checkpoints import ExploreCheckpoints
from explorer.panels.datasets import DatasetSwitch
from explorer.panels.explore import ExplorePanel, model_name
from explorer.panels.explore_exports import Exports
from explorer.panels.registry import PanelRegistry
from explorer.panels.session import Session
from explorer.panels.unavailable import unavailable_page
from explorer.panels.workbench import Workbench
from explorer.startup import (
    SIDES,
    DatasetContext,
    LoadedModels,
    StartupData,
    configure_torch,
)
from explorer.widgets.model_status import ModelStatus
from explorer.widgets.tabs import SteadyTabWidget
from explorer.widgets.theme import THEME_CHOICES, Theme, qt_palette, resolve_theme
from models.files import bundled_models_dir

# Nothing here imports torch: the window can paint before torch is loaded (see
# explorer.startup.load_startup with preview=True); models.checkpoint is imported where used.
if TYPE_CHECKING:  # imported where each panel is built: start-up need not load them
    from explorer.lab.panel import LabPanel
    from explorer.panels.denoise import DenoisePanel
    from explorer.panels.draw import DrawPanel
    from explorer.panels.inpaint import InpaintPanel
    from explorer.panels.train import RunResult, TrainPanel

log = logging.getLogger(__name__)

APP_NAME = "Latent Explorer"
DEFAULT_SIZE = QSize(1400, 900)
STATUS_MS = 8000
ABOUT_TEXT = (
    "<h3>Latent Explorer</h3>"
    "<p>An autoencoder squeezes each image through a small code z = f(x) and rebuilds it as x̂ = g(z); "
    "with a 2-D code you can see where every digit lands and decode any point by dragging over it.</p>"
    "<p>A plain autoencoder's codes have holes and an arbitrary scale, while a variational autoencoder "
    "is pulled towards the prior N(0, I), so its space is filled and points drawn from the prior "
    "decode to digits.</p>"
)
# The panels after Explore, built when first asked for: (name, tab title, module, class).
HANDS_ON_PANELS = (("draw", "Draw", "DrawPanel"), ("denoise", "Denoise", "DenoisePanel"), ("inpaint", "Inpaint", "InpaintPanel"),
                   ("computation", "Computation", "ComputationPanel"))


def fit_to_screen(window: QWidget) -> None:
    """Shrink and move a top-level window into its screen before it is first shown
    (app.main): the default size, or a size saved on a larger monitor, would otherwise
    run off a small screen's edges. Not done on construction, so tests lay windows out
    at the sizes they choose whatever the offscreen screen's size."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return
    avail = screen.availableGeometry()
    # Once shown, the window manager's title bar and borders count too.
    extra = window.frameGeometry().size() - window.size()
    w = min(window.width(), avail.width() - max(0, extra.width()))
    h = min(window.height(), avail.height() - max(0, extra.height()))
    if (w, h) != (window.width(), window.height()):
        window.resize(w, h)
        window.move(max(avail.left(), min(window.x(), avail.right() - w - extra.width())),
                    max(avail.top(), min(window.y(), avail.bottom() - h - extra.height())))


class MainWindow(QMainWindow):
    """Latent Explorer's window; panels are tabs registered by name."""

    panel_changed = Signal(str)
    theme_changed = Signal(str)
    models_ready = Signal()  # the models that loaded after the first paint are in place

    def __init__(self, *, startup: StartupData, settings: QSettings | None = None, theme_choice: str | None = None,
                 train_job_defaults: Mapping[str, Any] | None = None):
        """``train_job_defaults``: fields every job of the Train panel takes (see TrainPanel)."""
        super().__init__()
        self._train_job_defaults = train_job_defaults
        self.setWindowTitle(APP_NAME)
        self._settings = settings
        self.last_error: str | None = None
        self._message_box: QMessageBox | None = None
        self.context: DatasetContext = startup.dataset
        self.data_dir: Path | None = None  # --data-dir, where other datasets are looked for too
        saved_theme = settings.value("theme", "system", type=str) if settings is not None else "system"
        self._theme_choice = theme_choice or (saved_theme if saved_theme in THEME_CHOICES else "system")
        self.theme: Theme = resolve_theme(self._theme_choice)

        self.tabs = SteadyTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        # Every panel but Explore needs the models: building one waits for them.
        self.registry = PanelRegistry(self.tabs, before_build=self.wait_for_models)
        self.registry.built.connect(self._panel_built)
        self.registry.current_changed.connect(self.panel_changed)

        self.explore = ExplorePanel(dataset=self.context, theme=self.theme, code_cache=startup.code_cache)
        self.explore.models_changed.connect(self._update_status)
        self.checkpoints = ExploreCheckpoints(
            self.explore, parent=self, settings=settings, show_error=self.show_error,
            show_status=lambda text, ms: self.statusBar().showMessage(text, ms),
        )
        self.workbench = Workbench(dataset=self.context, dae=startup.dae, dae_masking=startup.dae_masking, parent=self)
        self.explore.models_changed.connect(self._share_models)
        self.explore.image_selected.connect(self.workbench.set_focus_image)  # what the Computation panel follows
        self.explore.probed.connect(self.workbench.set_focus_code)
        self.registry.add_built("explore", "Explore", self.explore)
        # The other panels are built when first asked for (shown, or used through
        # their property), and otherwise one by one once the window has painted, so
        # start-up does not wait for them.
        self.registry.add("train", "Train", self._make_train_panel)
        for name, title, cls in HANDS_ON_PANELS:
            self.registry.add(name, title, lambda name=name, cls=cls: self._make_hands_on_panel(name, cls))
        self.registry.add("lab", "Lab", self._make_lab_panel)
        self._build_queued = False
        self._closing = False
        # Models that load after the first paint (start-up plotted their cached codes).
        self.loader: ModelLoader | None = None
        if startup.load_models is not None:
            self.loader = ModelLoader(startup.load_models, self)
            self.loader.loaded.connect(self._models_arrived)

        self.status = ModelStatus(self.statusBar(), sides=SIDES, model_name=model_name)
        self.exports, self.session = Exports(self, settings=settings), Session(self, settings=settings)
        self.datasets = DatasetSwitch(self, settings=settings)
        self.window_actions = WindowActions(self, dataset=self.dataset, theme_choice=self._theme_choice)
        self.window_actions.build_menus(self)
        self.toolbar = self.window_actions.build_toolbar(self)
        self.apply_theme(self._theme_choice)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_scheme_changed)

        errors = list(startup.errors)
        if self.loader is not None:
            for side, preview in startup.previews.items():
                self.explore.set_preview(side, *preview)
        elif self.datasets.wants_quick(startup):
            errors += self.datasets.show(startup)
        else:
            errors += self.checkpoints.show(startup.checkpoints)
        self._update_status()

        self.resize(DEFAULT_SIZE)
        if settings is not None:
            self._restore_settings(settings)
        self.registry.refresh_active()
        self.panel_changed.emit(self.current_panel_name())
        if errors:
            self.show_error("Latent Explorer could not load everything", "\n\n".join(errors))

    @property
    def dataset(self) -> str:
        """The name of the dataset every panel shows."""
        return self.context.name

    @property
    def theme_actions(self):
        return self.window_actions.theme_actions

    @property
    def dataset_actions(self):
        return self.window_actions.dataset_actions

    @property
    def about_action(self):
        return self.window_actions.about

    # ------------------------------------------------------------ models loading after the first paint

    def models_pending(self) -> bool:
        """True while start-up's models are still to load (the plots show cached codes)."""
        return self.loader is not None and self.loader.pending

    def _start_loading(self) -> None:
        if self.loader is not None:
            self.loader.start()

    def wait_for_models(self) -> None:
        """Finish loading start-up's models now (loading them here if the thread has not
        started): what needs a model (another panel, another dataset, File › Open)
        calls this first. Returns at once when nothing is pending."""
        if not self.models_pending():
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.loader.wait()
        finally:
            QApplication.restoreOverrideCursor()

    def _models_arrived(self, loaded: object) -> None:
        # Torch's thread count is per thread: the window's own, set here on its thread.
        configure_torch()
        if isinstance(loaded, BaseException):
            log.error("loading the models failed", exc_info=loaded)
            errors = [f"The bundled models could not be loaded: {loaded}. Open checkpoints with File › Open."]
            loaded = LoadedModels()
        else:
            errors = list(loaded.errors)
        errors += self.checkpoints.show(loaded.checkpoints)
        self.workbench.set_denoisers(dae=loaded.dae, dae_masking=loaded.dae_masking)
        self._update_status()
        if self.isVisible():
            self._queue_panel_building()
        self.models_ready.emit()
        if errors:
            self.show_error("Latent Explorer could not load everything", "\n\n".join(errors))

    # ------------------------------------------------------------ panels

    def panel_names(self) -> tuple[str, ...]:
        return self.registry.names()

    def panel(self, name: str) -> QWidget:
        """Panel ``name``, built now if it was not yet."""
        return self.registry.panel(name)

    def panel_built(self, name: str) -> bool:
        return self.registry.is_built(name)

    @property
    def train_panel(self) -> TrainPanel:
        return self.panel("train")

    @property
    def draw(self) -> DrawPanel:
        return self.panel("draw")

    @property
    def denoise(self) -> DenoisePanel:
        return self.panel("denoise")

    @property
    def inpaint(self) -> InpaintPanel:
        return self.panel("inpaint")

    @property
    def lab(self) -> LabPanel:
        return self.panel("lab")

    def _panel_built(self, _name: str, panel: QWidget) -> None:
        panel.status_changed.connect(lambda text: self.statusBar().showMessage(text, STATUS_MS))

    def _make_hands_on_panel(self, module: str, cls: str) -> QWidget:
        """A Draw, Denoise or Inpaint panel on the shared workbench (the Draw panel's
        'unavailable' page on images it cannot draw for)."""
        page = unavailable_page(module, self.context)
        if page is not None:
            return page
        panel_class = getattr(importlib.import_module(f"explorer.panels.{module}"), cls)
        return panel_class(workbench=self.workbench, theme=self.theme, settings=self._settings)

    def _make_train_panel(self) -> TrainPanel:
        from explorer.panels.train import TrainPanel

        panel = TrainPanel(dataset=self.context, theme=self.theme, settings=self._settings, data_dir=self.data_dir,
                           job_defaults=self._train_job_defaults)
        panel.finished.connect(self._training_finished)
        panel.restore_bundled_requested.connect(self.restore_bundled_models)
        panel.failed.connect(self.show_error)
        return panel

    def _make_lab_panel(self) -> QWidget:
        page = unavailable_page("lab", self.context)  # the Lab's experiments are built on 28 x 28 grey digits
        if page is not None:
            return page
        from explorer.lab.panel import LabPanel

        return LabPanel(dataset=self.context, theme=self.theme, settings=self._settings)

    def set_data_dir(self, data_dir: Path | str | None) -> None:
        """--data-dir: where datasets are looked for (the Train panel downloads there too)."""
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if self.panel_built("train"):
            self.train_panel.set_data_dir(self.data_dir)

    def build_all_panels(self) -> None:
        """Build every panel not built yet (the window does this by itself once shown)."""
        for name in self.registry.unbuilt():
            self.panel(name)

    def _build_next_panel(self) -> None:
        # One panel per pass of the event loop, so the window stays responsive meanwhile.
        if self._closing:
            return
        unbuilt = self.registry.unbuilt()
        if unbuilt:
            self.panel(unbuilt[0])
        if self.registry.unbuilt():
            QTimer.singleShot(0, self._build_next_panel)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self.loader is not None and not self.loader.started and self.loader.pending:
            # The models load once the window has painted (the loading thread would
            # take turns with the first paint for Python's lock), then the panels are
            # built; a window that is not painted soon (minimised) loads them anyway.
            self.installEventFilter(self)
            QTimer.singleShot(1000, self._start_loading)
        else:
            self._queue_panel_building()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self and event.type() == QEvent.Type.Paint:
            self.removeEventFilter(self)
            QTimer.singleShot(0, self._start_loading)
        return False

    def _queue_panel_building(self) -> None:
        if not self._build_queued and self.registry.unbuilt():
            self._build_queued = True
            QTimer.singleShot(300, self._build_next_panel)

    def show_panel(self, name: str) -> None:
        """Bring panel ``name`` to the front; KeyError naming the valid panels if unknown."""
        self.registry.show(name)

    def current_panel_name(self) -> str:
        return self.registry.current_name()

    # ------------------------------------------------------------ datasets

    def set_dataset(self, name: str) -> bool:
        """Show another registered dataset in every panel; on failure say why and keep
        the current one (see DatasetSwitch.switch)."""
        return self.datasets.switch(name)

    def ask_open_images(self) -> None:
        self.datasets.ask_open()  # File › Open images…

    def _share_models(self) -> None:
        """The Explore panel's models are the Draw, Denoise and Inpaint panels' models too."""
        explore = self.explore
        self.workbench.set_models([(explore.checkpoint(s), explore.space(s), model_name(explore.checkpoint(s), s)) for s in SIDES])

    def _update_status(self) -> None:
        self.status.update(self.explore, self.context.source)

    def status_text(self) -> str:
        """Everything the status bar shows, for tests and logs."""
        return self.status.text()

    # ------------------------------------------------------------ checkpoints

    def open_checkpoint(self, side: str, path: str | Path) -> bool:
        """Load a checkpoint into one plot; on failure show why and keep the old model."""
        self.wait_for_models()  # else start-up's model would replace this one
        return self.checkpoints.open(side, path)

    def ask_open_checkpoint(self, side: str) -> None:
        folder = bundled_models_dir(self.dataset)  # a user's images have none: start beside the bundled ones
        path = self.checkpoints.ask_path(side, folder if folder.is_dir() else folder.parent)
        if path:
            self.open_checkpoint(side, path)

    def _training_finished(self, result: RunResult) -> None:
        self.checkpoints.load_trained(result, dataset=self.dataset, title=self.context.title)
        left = self.explore.checkpoint("left")
        if left is not None and left.config.kind == "dae" and str(left.path) in map(str, result.checkpoints):
            # The DAE just trained (a colorizing one on the grey damage) restores in Denoise and Inpaint too.
            self.workbench.set_denoisers(dae=left, dae_masking=self.workbench.dae_masking)
            self._share_models()

    def restore_bundled_models(self) -> bool:
        """Put the dataset's bundled models back in every panel (after a run replaced them)."""
        self.wait_for_models()
        ok = not self.checkpoints.restore_bundled(self.dataset)
        self._update_status()
        return ok

    # ------------------------------------------------------------ export and messages

    def export_png(self, path: str | Path) -> bool:  # the exports live in panels/explore_exports.py, sessions in session.py
        return self.exports.export_view(path)

    def show_error(self, title: str, message: str) -> None:
        """A non-blocking dialog and a status-bar message; the window stays usable."""
        log.warning("%s: %s", title, message)
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}", 15000)
        self._open_box(QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self))
        self._message_box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def ask_export_training(self) -> None:
        self.show_panel("train")  # File › Export training…: the panel that keeps the run's snapshots
        self.train_panel.ask_export_animation()

    def show_lesson(self, **options) -> QWidget | None:
        from explorer.lesson import open_lesson  # Help › Lesson; options: step, path, toggle
        return open_lesson(self, self._settings, **options)

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, f"About {APP_NAME}", ABOUT_TEXT, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        self._open_box(box)

    def _open_box(self, box: QMessageBox) -> None:
        self._message_box = box  # keep it alive while it is open
        box.open()

    # ------------------------------------------------------------ theme and settings

    def apply_theme(self, choice: str) -> None:
        """'system', 'light' or 'dark': Qt palette, plot colours and pyqtgraph defaults."""
        if choice not in THEME_CHOICES:
            raise ValueError(f"unknown theme {choice!r}; choose one of {', '.join(THEME_CHOICES)}")
        self._theme_choice = choice
        self.theme = resolve_theme(choice)
        self.theme_actions[choice].setChecked(True)
        QApplication.setPalette(qt_palette(self.theme))
        # Plots made later (other panels) start in the same colours.
        pg.setConfigOptions(background=self.theme.background, foreground=self.theme.foreground)
        self.registry.apply_theme(self.theme)
        if self._settings is not None:
            self._settings.setValue("theme", choice)
        self.theme_changed.emit(self.theme.name)

    def _system_scheme_changed(self, *args) -> None:
        if self._theme_choice == "system":
            self.apply_theme("system")

    def _restore_settings(self, settings: QSettings) -> None:
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.explore.restore_settings(settings)
        panel = settings.value("window/panel", "", type=str)
        if panel in self.panel_names():
            self.show_panel(panel)

    def save_settings(self) -> None:
        if self._settings is None:
            return
        s = self._settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/panel", self.current_panel_name())
        self.explore.save_settings(s)
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        # Every panel's background work is stopped and joined; no training process outlives the window.
        self._closing = True  # build no more panels in the background
        if self.loader is not None and self.loader.is_running:
            # The window goes at once, the process when the models' import is done.
            self.hide()
            self.loader.shutdown()
        self.registry.shutdown(1.0, first="train")
        self.datasets.shutdown(1.0)
        self.save_settings()
        super().closeEvent(event)
