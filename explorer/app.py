"""Start the GUI: QApplication set-up, the main window on start-up's dataset and models
(explorer.startup), and the offscreen screenshot mode used for the README's pictures."""
from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

ORGANIZATION = "latent-explorer"
APPLICATION = "latent-explorer"


STARTUP_PROBE_ENV = "LATENT_EXPLORER_STARTUP_PROBE"


def configure_pyqtgraph() -> None:
    """Plot options the whole app relies on."""
    import pyqtgraph as pg

    # Decoding a point is cheap, so every mouse move is worth handling: pyqtgraph's
    # default 100 Hz limit drops moves outright, which can leave the
    # crosshair and the decoded image short of where the mouse stopped.
    pg.setConfigOptions(antialias=False, mouseRateLimit=-1)


def _report_first_paint(app, window) -> None:
    """For the benchmark: print the wall-clock times of the window's first paint and of
    the models being ready to decode (the same moment when they loaded before the
    window was built), then quit."""
    import time

    from PySide6.QtCore import QEvent, QObject

    def report(what: str) -> None:
        sys.stdout.write(f"{what}-wallclock {time.time():.6f}\n")
        sys.stdout.flush()

    def ready() -> None:
        report("models-ready")
        app.quit()

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
            if event.type() == QEvent.Type.Paint:
                obj.removeEventFilter(self)
                report("first-paint")
                if window.models_pending():
                    window.models_ready.connect(ready)
                else:
                    ready()
            return False

    window._first_paint_probe = FirstPaint(window)
    window.installEventFilter(window._first_paint_probe)


def run_app(args) -> int:
    """Open the window (or, with args.screenshot, save a PNG of it and exit)."""
    screenshot: Path | None = getattr(args, "screenshot", None)
    if screenshot is not None:
        # Must be set before the QApplication exists.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    panel = getattr(args, "panel", None)
    # The window paints before torch is imported when it opens on the Explore panel
    # and the bundled models' codes are cached or shipped (see load_startup): torch and the
    # models, most of a cold start, load in a thread meanwhile.
    preview = screenshot is None and panel in (None, "explore")
    if not preview:
        # torch before PySide6: once PySide6 is imported, its import hook reads the
        # source of every module imported after it (to look for ``from __feature__``),
        # which slows the import of torch's thousand modules.
        importlib.import_module("torch")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Latent Explorer")
    app.setStyle("Fusion")
    configure_pyqtgraph()

    from explorer.startup import configure_torch, load_startup
    from explorer.window import MainWindow

    # Screenshots use the defaults, not whatever the user last left in their settings.
    settings = None if screenshot is not None else QSettings()
    from models.data import DATASETS

    dataset = getattr(args, "dataset", None) or (settings.value("dataset", "mnist", type=str) if settings is not None else "mnist")
    if dataset not in DATASETS:
        dataset = "mnist"
    data_dir = getattr(args, "data_dir", None)
    last_panel = settings.value("window/panel", "", type=str) if settings is not None else ""
    preview = preview and last_panel in ("", "explore")
    startup = load_startup(data_dir, dataset, preview=preview)
    if startup.dataset.images is None and dataset != "mnist":
        # The dataset last shown is gone (a cache cleared): start on MNIST rather than empty.
        startup = load_startup(data_dir, "mnist", preview=preview)
    # Building the window with models encodes the test images with each one shown
    # unless their codes are cached (matrix products over every image): nothing else
    # runs yet, so with all cores; one thread after (see MainWindow._models_arrived).
    if startup.load_models is None:
        configure_torch(threads=None)  # denormals flushed before the window encodes with torch's threads
    window = MainWindow(startup=startup, settings=settings)
    if not window.models_pending():
        configure_torch()
    window.set_data_dir(data_dir)
    if panel is not None and panel not in window.panel_names():
        sys.stderr.write(f"error: unknown panel {panel!r}; valid panels: {', '.join(window.panel_names())}\n")
        window.deleteLater()
        return 2
    if panel is not None:
        window.show_panel(panel)
    train_for = getattr(args, "train_for", None) if screenshot is not None else None
    if train_for is not None and panel is None:
        window.show_panel("train")
    if train_for is not None and train_for < 0:
        sys.stderr.write("error: --train-for needs a number of seconds >= 0\n")
        window.deleteLater()
        return 2

    if screenshot is None:
        window.show()
        if os.environ.get(STARTUP_PROBE_ENV):
            _report_first_paint(app, window)
        return app.exec()

    window.resize(1400, 900)
    # What a user sees after a few clicks (every panel has a demo state, see Panel).
    window.panel(panel or "explore").demo()
    window.show()
    result = {"code": 1}

    def grab() -> None:
        app.processEvents()
        window.explore.flush()
        app.processEvents()
        path = Path(screenshot)
        path.parent.mkdir(parents=True, exist_ok=True)
        if window.grab().save(str(path), "PNG"):
            result["code"] = 0
        else:
            sys.stderr.write(f"error: could not write {path}\n")
        app.quit()

    if train_for is not None:
        # The run goes on in its child process while the event loop draws it; the
        # picture is taken at the deadline, before the run is stopped.
        if not window.train_panel.start():
            sys.stderr.write(f"error: could not start training: {window.train_panel.last_error}\n")
            window.close()
            return 1
        # Freeze the live view a moment before the grab so the plots have been laid out
        # and painted at their final ranges.
        QTimer.singleShot(max(0, int(train_for * 1000) - 300), window.train_panel.demo_probe)
        QTimer.singleShot(int(train_for * 1000), grab)
    else:
        # One pass of the event loop lays the window out and paints it before the grab.
        QTimer.singleShot(0, grab)
    app.exec()
    window.close()
    return result["code"]
