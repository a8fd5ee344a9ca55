"""The main window: a tab per panel, menus, toolbar, status bar and settings."""
from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QEvent, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from explorer.panels.explore import ExplorePanel, model_name
from explorer.startup import SIDES, LoadedModels, StartupData, configure_torch, load_startup
from explorer.widgets.tabs import SteadyTabWidget
from explorer.widgets.theme import THEME_CHOICES, Theme, qt_palette, resolve_theme
from explorer.panels.workbench import Workbench
from models.data import BUNDLED_DATASETS, DATASETS
from models.files import bundled_models_dir

# Nothing here imports torch: the window can paint before torch is loaded (see
# explorer.startup.load_startup with preview=True); models.checkpoint is imported where used.
if TYPE_CHECKING:  # imported where each panel is built: start-up need not load them
    from models.checkpoint import Checkpoint
    from explorer.panels.denoise import DenoisePanel
    from explorer.panels.draw import DrawPanel
    from explorer.panels.inpaint import InpaintPanel
    from explorer.lab.panel import LabPanel
    from explorer.panels.train import RunResult, TrainPanel

log = logging.getLogger(__name__)

APP_NAME = "Latent Explorer"
DEFAULT_SIZE = QSize(1400, 900)
ABOUT_TEXT = (
    "<h3>Latent Explorer</h3>"
    "<p>An autoencoder squeezes each image through a small code z = f(x) and rebuilds it as x̂ = g(z); "
    "with a 2-D code you can see where every digit lands and decode any point by dragging over it.</p>"
    "<p>A plain autoencoder's codes have holes and an arbitrary scale, while a variational autoencoder "
    "is pulled towards the prior N(0, I), so its space is filled and points drawn from the prior "
    "decode to digits.</p>"
)


def _figures(meta: dict) -> str:
    test = meta.get("test") if isinstance(meta, dict) else None
    if not isinstance(test, dict):
        return ""
    parts = []
    for key, label in (("nelbo", "−ELBO"), ("mse", "MSE")):
        value = test.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.4g}")
    return ("test " + ", ".join(parts)) if parts else ""


class MainWindow(QMainWindow):
    """Latent Explorer's window; panels are tabs registered by name."""

    panel_changed = Signal(str)
    theme_changed = Signal(str)
    models_ready = Signal()  # the models that loaded after the first paint are in place
    _models_loaded = Signal()  # from the loading thread

    def __init__(self, *, startup: StartupData, settings: QSettings | None = None, theme_choice: str | None = None):
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self._settings = settings
        self.last_error: str | None = None
        self._message_box: QMessageBox | None = None
        self.context = startup.dataset
        self.dataset = startup.dataset.name
        self.data_dir: Path | None = None  # --data-dir, where other datasets are looked for too
        saved_theme = settings.value("theme", "system", type=str) if settings is not None else "system"
        self._theme_choice = theme_choice or (saved_theme if saved_theme in THEME_CHOICES else "system")
        self.theme: Theme = resolve_theme(self._theme_choice)

        self.tabs = SteadyTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.currentChanged.connect(self._panel_shown)
        self.setCentralWidget(self.tabs)
        self._panels: dict[str, QWidget] = {}  # the panels built so far, by name
        self._pages: dict[str, QWidget] = {}  # each panel's tab page (its own widget, or its holder)
        self._factories: dict[str, object] = {}  # how to build a panel not built yet

        self.explore = ExplorePanel(
            images=self.context.images, labels=self.context.labels, class_names=self.context.class_names,
            theme=self.theme, code_cache=startup.code_cache,
        )
        self.explore.status_changed.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.explore.models_changed.connect(self._update_status)
        self.add_panel("explore", "Explore", self.explore)

        self.workbench = Workbench(
            images=self.context.images, labels=self.context.labels, class_names=self.context.class_names,
            dae=startup.dae, dae_masking=startup.dae_masking, parent=self
        )
        self.explore.models_changed.connect(self._share_models)
        # The other panels are built when first asked for (shown, or used through
        # their property), and otherwise one by one once the window has painted: they
        # cost about 0.3 s that start-up need not wait for.
        self.add_lazy_panel("train", "Train", self._make_train_panel)
        self.add_lazy_panel("draw", "Draw", lambda: self._make_hands_on_panel("draw", "DrawPanel"))
        self.add_lazy_panel("denoise", "Denoise", lambda: self._make_hands_on_panel("denoise", "DenoisePanel"))
        self.add_lazy_panel("inpaint", "Inpaint", lambda: self._make_hands_on_panel("inpaint", "InpaintPanel"))
        self.add_lazy_panel("lab", "Lab", self._make_lab_panel)
        self._build_queued = False
        self._closing = False
        # Models that load after the first paint: what loads them, the thread doing it
        # and what it returned (LoadedModels, or the exception it raised).
        self._load_models = startup.load_models
        self._loader: threading.Thread | None = None
        self._loaded: object = None
        self._models_loaded.connect(self._models_arrived, Qt.ConnectionType.QueuedConnection)

        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.apply_theme(self._theme_choice)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_scheme_changed)

        errors = list(startup.errors)
        for side in SIDES:
            if side in startup.previews and self._load_models is not None:
                self.explore.set_preview(side, *startup.previews[side])
        if self._load_models is None:
            errors += self._show_checkpoints(startup.checkpoints)
        self._update_status()

        self.resize(DEFAULT_SIZE)
        if settings is not None:
            self._restore_settings(settings)
        self._panel_shown()
        if errors:
            self.show_error("Latent Explorer could not load everything", "\n\n".join(errors))

    def _show_checkpoints(self, checkpoints: dict[str, Checkpoint | None]) -> list[str]:
        """Put start-up's models in the Explore panel; what could not be shown, as messages."""
        from models.checkpoint import CheckpointError

        errors = []
        empty = "No model loaded\nFile › Open checkpoint…" if self.explore.images is not None else "No test images loaded"
        for side in SIDES:
            try:
                self.explore.set_checkpoint(side, checkpoints.get(side), empty_message=empty)
            except CheckpointError as exc:
                self.explore.set_checkpoint(side, None, empty_message=empty)
                errors.append(str(exc))
        return errors

    # ------------------------------------------------------------ models loading after the first paint

    def models_pending(self) -> bool:
        """True while start-up's models are still to load (the plots show cached codes)."""
        return self._load_models is not None

    def _start_loading(self) -> None:
        if self._load_models is None or self._loader is not None:
            return
        load = self._load_models

        def run() -> None:
            try:
                self._loaded = load()
            except BaseException as exc:  # reported in the window, not lost in a thread
                self._loaded = exc
            self._models_loaded.emit()

        self._loader = threading.Thread(target=run, name="load-models", daemon=True)
        self._loader.start()

    def wait_for_models(self) -> None:
        """Finish loading start-up's models now (loading them here if the thread has not
        started): what needs a model (another panel, another dataset, File › Open)
        calls this first. Returns at once when nothing is pending."""
        if self._load_models is None:
            return
        if self._loader is None:
            self._start_loading()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self._loader.join()
        finally:
            QApplication.restoreOverrideCursor()
        self._models_arrived()

    def _models_arrived(self) -> None:
        if self._load_models is None or self._loaded is None:
            return  # already in place (wait_for_models got there first)
        loaded, self._loaded, self._load_models = self._loaded, None, None
        # Torch's thread count is per thread: the window's own, set here on its thread.
        configure_torch()
        if isinstance(loaded, BaseException):
            log.error("loading the models failed", exc_info=loaded)
            errors = [f"The bundled models could not be loaded: {loaded}. Open checkpoints with File › Open."]
            loaded = LoadedModels()
        else:
            errors = list(loaded.errors)
        errors += self._show_checkpoints(loaded.checkpoints)
        self.workbench.set_denoisers(dae=loaded.dae, dae_masking=loaded.dae_masking)
        self._update_status()
        if self.isVisible():
            self._queue_panel_building()
        self.models_ready.emit()
        if errors:
            self.show_error("Latent Explorer could not load everything", "\n\n".join(errors))

    # ------------------------------------------------------------ panels

    def add_panel(self, name: str, title: str, widget: QWidget) -> None:
        """Register a panel under ``name`` (for --panel and show_panel) as a tab."""
        if name in self._pages:
            raise ValueError(f"a panel named {name!r} already exists")
        self._panels[name] = widget
        self._pages[name] = widget
        self.tabs.addTab(widget, title)

    def add_lazy_panel(self, name: str, title: str, factory) -> None:
        """Register a tab whose panel ``factory()`` builds when it is first needed."""
        if name in self._pages:
            raise ValueError(f"a panel named {name!r} already exists")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self._pages[name] = page
        self._factories[name] = factory
        self.tabs.addTab(page, title)

    def panel_names(self) -> tuple[str, ...]:
        return tuple(self._pages)

    def panel(self, name: str) -> QWidget:
        """Panel ``name``, built now if it was not yet."""
        if name not in self._panels:
            if name not in self._factories:
                raise KeyError(f"unknown panel {name!r}; choose one of: {', '.join(self._pages)}")
            self.wait_for_models()  # every other panel works with the models
            widget = self._factories.pop(name)()
            self._pages[name].layout().addWidget(widget)
            self._panels[name] = widget
            if hasattr(widget, "set_active"):
                widget.set_active(self.tabs.currentWidget() is self._pages[name])
        return self._panels[name]

    def panel_built(self, name: str) -> bool:
        return name in self._panels

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

    def _make_hands_on_panel(self, module: str, cls: str) -> QWidget:
        """A Draw, Denoise or Inpaint panel on the shared workbench."""
        panel_class = getattr(importlib.import_module(f"explorer.panels.{module}"), cls)
        return panel_class(workbench=self.workbench, theme=self.theme, settings=self._settings)

    def _make_train_panel(self) -> TrainPanel:
        from explorer.panels.train import TrainPanel

        panel = TrainPanel(theme=self.theme, settings=self._settings)
        panel.status_changed.connect(lambda text: self.statusBar().showMessage(text, 8000))
        panel.finished.connect(self._training_finished)
        panel.failed.connect(self.show_error)
        if self.data_dir is not None:
            panel.set_data_dir(self.data_dir)
        if self.dataset != "mnist":
            panel.set_dataset(self.dataset)
        return panel

    def _make_lab_panel(self) -> LabPanel:
        from explorer.lab.panel import LabPanel

        panel = LabPanel(images=self.workbench.images, labels=self.workbench.labels, theme=self.theme, settings=self._settings)
        panel.status_changed.connect(lambda text: self.statusBar().showMessage(text, 8000))
        return panel

    def set_data_dir(self, data_dir: Path | str | None) -> None:
        """--data-dir: where datasets are looked for (the Train panel downloads there too)."""
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if self.panel_built("train"):
            self.train_panel.set_data_dir(self.data_dir)

    def build_all_panels(self) -> None:
        """Build every panel not built yet (the window does this by itself once shown)."""
        for name in list(self._factories):
            self.panel(name)

    def _build_next_panel(self) -> None:
        # One panel per pass of the event loop, so the window stays responsive meanwhile.
        if self._closing:
            return
        if self._factories:
            self.panel(next(iter(self._factories)))
        if self._factories:
            QTimer.singleShot(0, self._build_next_panel)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._load_models is not None and self._loader is None:
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
        if not self._build_queued and self._factories:
            self._build_queued = True
            QTimer.singleShot(300, self._build_next_panel)

    def show_panel(self, name: str) -> None:
        """Bring panel ``name`` to the front; KeyError naming the valid panels if unknown."""
        if name not in self._pages:
            raise KeyError(f"unknown panel {name!r}; choose one of: {', '.join(self._pages)}")
        self.panel(name)
        self.tabs.setCurrentWidget(self._pages[name])

    def _panel_shown(self, _index: int = -1) -> None:
        """Only the panel in front has its single-key shortcuts (B, E, R, Z...) switched on."""
        name = self.current_panel_name()
        if name and name not in self._panels:
            self.panel(name)  # a tab clicked before its panel was built
        current = self.tabs.currentWidget()
        for key, panel in self._panels.items():
            if hasattr(panel, "set_active"):
                panel.set_active(self._pages[key] is current)
        self.panel_changed.emit(name)

    def current_panel_name(self) -> str:
        current = self.tabs.currentWidget()
        return next((n for n, w in self._pages.items() if w is current), "")

    # ------------------------------------------------------------ actions and menus

    def _std_icon(self, theme_name: str, fallback: QStyle.StandardPixmap) -> QIcon:
        return QIcon.fromTheme(theme_name, self.style().standardIcon(fallback))

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.open_actions: dict[str, QAction] = {}
        for side, keys in (("left", "Ctrl+O"), ("right", "Ctrl+Shift+O")):
            name = "left (AE)" if side == "left" else "right (VAE)"
            a = QAction(self._std_icon("document-open", sp.SP_DialogOpenButton), f"Open checkpoint for the {name} plot…", self)
            a.setShortcut(QKeySequence(keys))
            a.setIconText(f"Open {'left' if side == 'left' else 'right'}…")
            a.setToolTip(f"Load a model checkpoint (.pt) into the {side} plot ({keys})")
            a.triggered.connect(lambda _=False, side=side: self._ask_open_checkpoint(side))
            self.open_actions[side] = a
        self.export_action = QAction(self._std_icon("document-save-as", sp.SP_DialogSaveButton), "&Export view as PNG…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setIconText("Export PNG…")
        self.export_action.setToolTip("Save a picture of the current panel (Ctrl+E)")
        self.export_action.triggered.connect(self._ask_export)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        self.about_action = QAction("&About Latent Explorer", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self._show_about)

        self.dataset_actions: dict[str, QAction] = {}
        datasets = QActionGroup(self)
        for name, spec in DATASETS.items():
            a = QAction(spec.title, self, checkable=True)
            a.setChecked(name == self.dataset)
            a.setToolTip(
                f"Explore {spec.title} in every panel"
                + (" (ships with the app)" if name in BUNDLED_DATASETS else " (download it in the Train panel first)")
            )
            a.triggered.connect(lambda _=False, name=name: self.set_dataset(name))
            datasets.addAction(a)
            self.dataset_actions[name] = a
        self.theme_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for choice in THEME_CHOICES:
            a = QAction({"system": "Follow the &system", "light": "&Light", "dark": "&Dark"}[choice], self, checkable=True)
            a.setChecked(choice == self._theme_choice)
            a.triggered.connect(lambda _=False, choice=choice: self.apply_theme(choice))
            group.addAction(a)
            self.theme_actions[choice] = a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        for a in self.open_actions.values():
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view = mb.addMenu("&View")
        dataset_menu = view.addMenu("&Dataset")
        for a in self.dataset_actions.values():
            dataset_menu.addAction(a)
        view.addSeparator()
        view.addAction(self.explore.reset_action)
        view.addSeparator()
        backgrounds = view.addMenu("&Backgrounds")
        for a in self.explore.background_actions.values():
            backgrounds.addAction(a)
        view.addAction(self.explore.linked_action)
        view.addSeparator()
        theme = view.addMenu("&Theme")
        for a in self.theme_actions.values():
            theme.addAction(a)

        help_menu = mb.addMenu("&Help")
        help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main toolbar", self)
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setIconSize(QSize(16, 16))
        for a in self.open_actions.values():
            tb.addAction(a)
        tb.addAction(self.export_action)
        tb.addSeparator()
        tb.addAction(self.explore.reset_action)
        tb.addSeparator()
        for a in self.explore.background_actions.values():
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.explore.linked_action)
        self.addToolBar(tb)
        self.toolbar = tb

    # ------------------------------------------------------------ status bar

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.model_labels: dict[str, QLabel] = {}
        for side in SIDES:
            label = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            sb.addPermanentWidget(label)
            sb.addPermanentWidget(self._separator())
            self.model_labels[side] = label
        self.data_label = QLabel()
        sb.addPermanentWidget(self.data_label)

    @staticmethod
    def _separator() -> QFrame:
        line = QFrame()
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        return line

    def _model_text(self, side: str) -> str:
        ckpt = self.explore.checkpoint(side)
        if self.explore.is_loading(side):
            return f"{model_name(None, side)}: loading…"
        if ckpt is None:
            return f"{model_name(None, side)}: no model"
        space = self.explore.space(side)
        parts = [f"{model_name(ckpt, side)}: {ckpt.name}", f"latent {ckpt.config.latent}"]
        if space is not None and space.is_projected:
            parts[-1] += " (PCA plane)"
        figs = _figures(ckpt.meta)
        if figs:
            parts.append(figs)
        return " · ".join(parts)

    def set_dataset(self, name: str) -> bool:
        """Show another dataset's test images and bundled models in every panel; on
        failure (not on disk, unreadable) say why and keep the current one."""
        from models.checkpoint import CheckpointError

        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
        if name == self.dataset:
            return True
        self.wait_for_models()  # else start-up's models would land on the new dataset
        title = DATASETS[name].title
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            startup = load_startup(self.data_dir, name)
            if startup.dataset.images is None:
                self.dataset_actions[self.dataset].setChecked(True)
                self.show_error(f"Cannot show {title}", "\n\n".join(startup.errors))
                return False
            self.dataset = name
            self.dataset_actions[name].setChecked(True)
            self.context = ctx = startup.dataset
            self.explore.set_data(ctx.images, ctx.labels, ctx.class_names, code_cache=startup.code_cache)
            self.workbench.set_data(images=ctx.images, labels=ctx.labels, class_names=ctx.class_names,
                                    dae=startup.dae, dae_masking=startup.dae_masking)
            errors = list(startup.errors)
            for side in SIDES:
                try:
                    self.explore.set_checkpoint(side, startup.checkpoints.get(side),
                                                empty_message=f"No {title} model\nTrain one in the Train panel")
                except CheckpointError as exc:
                    errors.append(str(exc))
            if self.panel_built("lab"):
                self.lab.set_data(ctx.images, ctx.labels)
            if self.panel_built("train"):
                self.train_panel.set_dataset(name)
        finally:
            QApplication.restoreOverrideCursor()
        self._update_status()
        if self._settings is not None:
            self._settings.setValue("dataset", name)
        self.statusBar().showMessage(f"Now showing {title} in every panel", 8000)
        if errors:
            self.show_error(f"{title}: not everything could be loaded", "\n\n".join(errors))
        return True

    def _share_models(self) -> None:
        """The Explore panel's models are the Draw, Denoise and Inpaint panels' models too."""
        self.workbench.set_models([(self.explore.checkpoint(s), self.explore.space(s), model_name(self.explore.checkpoint(s), s)) for s in SIDES])

    def _update_status(self) -> None:
        for side in SIDES:
            self.model_labels[side].setText(self._model_text(side))
            ckpt = self.explore.checkpoint(side)
            self.model_labels[side].setToolTip(str(ckpt.path) if ckpt is not None and ckpt.path else "")
        self.data_label.setText(f"Data: {self.context.source}")

    def status_text(self) -> str:
        """Everything the status bar shows, for tests and logs."""
        return " | ".join([self.statusBar().currentMessage(), *(lb.text() for lb in (*self.model_labels.values(), self.data_label))])

    # ------------------------------------------------------------ checkpoints

    def open_checkpoint(self, side: str, path: str | Path) -> bool:
        """Load a checkpoint into one plot; on failure show why and keep the old model."""
        from models.checkpoint import CheckpointError, load_checkpoint

        self.wait_for_models()  # else start-up's model would replace this one
        path = Path(path)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            ckpt = load_checkpoint(path)
            self.explore.set_checkpoint(side, ckpt)
        except CheckpointError as exc:
            self.show_error("Could not open the checkpoint", str(exc))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        if self._settings is not None:
            self._settings.setValue("last_dir", str(path.parent))
        self.statusBar().showMessage(f"Loaded {path.name} into the {side} plot", 8000)
        return True

    def _ask_open_checkpoint(self, side: str) -> None:
        start = self._settings.value("last_dir", "", type=str) if self._settings is not None else ""
        start = start or str(bundled_models_dir(self.dataset))
        path, _ = QFileDialog.getOpenFileName(
            self, f"Open a checkpoint for the {side} plot", start, "Checkpoints (*.pt *.pth);;All files (*)"
        )
        if path:
            self.open_checkpoint(side, path)

    def _training_finished(self, result: RunResult) -> None:
        """Make the freshly trained models the explore panel's (AE left, VAE right)."""
        from models.checkpoint import CheckpointError, load_checkpoint

        loaded = []
        errors = []
        for path in result.checkpoints:
            try:
                ckpt = load_checkpoint(path)
                side = "right" if ckpt.config.kind == "vae" else "left"
                self.explore.set_checkpoint(side, ckpt)
                loaded.append(f"{model_name(ckpt, side)} ({side})")
            except CheckpointError as exc:
                errors.append(str(exc))
        if errors:
            self.show_error("Could not load the trained models", "\n\n".join(errors))
        if loaded:
            how = "stopped early" if result.stopped else "finished"
            datasets = {self.explore.checkpoint(s).meta.get("dataset") for s in SIDES if self.explore.checkpoint(s)}
            # The explorer's points are the current dataset's test images; say so rather
            # than let a model of another dataset look broken.
            shown = DATASETS[self.dataset].title
            note = "" if datasets <= {self.dataset, "synthetic", None} else f" (on the {shown} test images: View › Dataset)"
            # Short: the permanent model labels share the status bar; the Train panel names the folder.
            self.statusBar().showMessage(f"Training {how}: now exploring the new {' and '.join(loaded)}{note}", 15000)

    # ------------------------------------------------------------ export

    def export_png(self, path: str | Path) -> bool:
        """Save a picture of the current panel; report failures like any other error."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        widget = self.tabs.currentWidget() or self
        if not widget.grab().save(str(path), "PNG"):
            self.show_error("Could not export the view", f"{path}: could not write the PNG (check the folder and its permissions)")
            return False
        self.statusBar().showMessage(f"Saved {path}", 8000)
        return True

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view as PNG", f"{self.current_panel_name()}.png", "PNG images (*.png)")
        if path:
            self.export_png(path)

    # ------------------------------------------------------------ messages

    def show_error(self, title: str, message: str) -> None:
        """A non-blocking dialog and a status-bar message; the window stays usable."""
        log.warning("%s: %s", title, message)
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}", 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._message_box = box  # keep it alive while it is open
        box.open()

    def _show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, f"About {APP_NAME}", ABOUT_TEXT, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        self._message_box = box
        box.open()

    # ------------------------------------------------------------ theme

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
        for panel in self._panels.values():
            if hasattr(panel, "apply_theme"):
                panel.apply_theme(self.theme)
        if self._settings is not None:
            self._settings.setValue("theme", choice)
        self.theme_changed.emit(self.theme.name)

    def _system_scheme_changed(self, *args) -> None:
        if self._theme_choice == "system":
            self.apply_theme("system")

    # ------------------------------------------------------------ settings

    def _restore_settings(self, settings: QSettings) -> None:
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.explore.restore_settings(settings)
        panel = settings.value("window/panel", "", type=str)
        if panel in self._pages:
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
        # A run in progress is stopped and joined; no training process outlives the window.
        self._closing = True  # build no more panels in the background
        if self._loader is not None and self._loader.is_alive():
            # torch cannot be interrupted mid-import, and Python must not exit under it:
            # the window goes at once, the process when the import is done.
            self.hide()
            self._loader.join()
        train = self._panels.get("train")
        if train is not None:
            train.shutdown(1.0)
        for panel in self._panels.values():
            if panel is not train and hasattr(panel, "shutdown"):
                panel.shutdown(1.0)
        self.save_settings()
        super().closeEvent(event)
