"""Start the GUI: QApplication set-up, the main window on start-up's dataset and models
(explorer.startup), and the offscreen screenshot mode used for the README's pictures."""
from __future__ import annotations

import ctypes
import importlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

ORGANIZATION = "latent-explorer"
APPLICATION = "latent-explorer"


STARTUP_PROBE_ENV = "LATENT_EXPLORER_STARTUP_PROBE"

# The system libraries Qt's X11 platform plugin (libqxcb.so, libQt6XcbQpa.so.6 and
# the Qt libraries they load) needs, with the Debian/Ubuntu package of each. A fresh
# desktop usually lacks only the xcb utility libraries (libxcb-cursor0 first), but Qt
# names one missing library per attempt, so the line installs them all at once.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
}
APT_INSTALL_LINE = "sudo apt-get install " + " ".join(dict.fromkeys(XCB_LIBRARIES.values()))

_MISSING_LIBRARY = re.compile(r"^(?P<name>[^:\s]+): cannot open shared object file")


def xcb_platform_selected(environ: Mapping[str, str] | None = None, *, system: str | None = None) -> bool:
    """Whether Qt will load its X11 (xcb) platform plugin first: on Linux with a
    DISPLAY, when QT_QPA_PLATFORM is unset or names xcb before any platform that can
    start (offscreen, or wayland with a WAYLAND_DISPLAY, skip the X11 libraries)."""
    environ = os.environ if environ is None else environ
    system = sys.platform if system is None else system
    if not system.startswith("linux") or not environ.get("DISPLAY"):
        return False
    names = environ.get("QT_QPA_PLATFORM", "")
    if not names:
        # Qt's own default: X11, except that a Wayland session tries Wayland first.
        names = "wayland;xcb" if environ.get("XDG_SESSION_TYPE") == "wayland" else "xcb"
    for entry in names.split(";"):
        name = entry.split(":", 1)[0].strip()
        if name == "xcb":
            return True
        if name.startswith("wayland") and not environ.get("WAYLAND_DISPLAY"):
            continue  # Qt falls through to the next platform in the list
        if name:
            return False
    return False


def xcb_plugin_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The libqxcb.so Qt will load: from QT_QPA_PLATFORM_PLUGIN_PATH (Qt looks there
    first), else from the installed Qt's plugins; None when there is none."""
    environ = os.environ if environ is None else environ
    folders = [Path(environ["QT_QPA_PLATFORM_PLUGIN_PATH"])] if environ.get("QT_QPA_PLATFORM_PLUGIN_PATH") else []
    from PySide6.QtCore import QLibraryInfo

    folders.append(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms")
    for folder in folders:
        if (folder / "libqxcb.so").is_file():
            return folder / "libqxcb.so"
    return None


def missing_platform_libraries(plugin: Path, libraries: Iterable[str] = tuple(XCB_LIBRARIES)) -> list[str]:
    """The shared libraries that keep ``plugin`` from loading, named by the system's
    loader; empty when it loads (or fails for a reason other than a missing library,
    which Qt's own message then explains)."""
    # Loading the plugin is what Qt does next anyway, so a working system pays only
    # for doing it a moment earlier; Qt reuses the loaded library.
    try:
        ctypes.CDLL(str(plugin))
        return []
    except OSError as exc:
        first = _missing_name(exc)
    if first is None:
        return []
    # The loader stops at the first missing library; try each known one so the user
    # learns them all in one go.
    missing = [first]
    for name in libraries:
        try:
            ctypes.CDLL(name)
        except OSError as exc:
            found = _missing_name(exc) or name
            if found not in missing:
                missing.append(found)
    return missing


def _missing_name(exc: OSError) -> str | None:
    match = _MISSING_LIBRARY.match(str(exc))
    return match.group("name") if match else None


def platform_error(missing: Iterable[str]) -> str:
    """The one line the app prints instead of Qt's abort when X11 libraries are missing."""
    missing = list(missing)
    packages = list(dict.fromkeys(XCB_LIBRARIES[m] for m in missing if m in XCB_LIBRARIES))
    named = f" (package{'s' if len(packages) > 1 else ''} {', '.join(packages)})" if packages else ""
    return (f"Qt cannot open a window on X11: this system lacks {', '.join(missing)}{named}. "
            f"On Debian or Ubuntu, install what Qt needs with: {APT_INSTALL_LINE}")


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


class CloseOnSignal:
    """SIGTERM, and SIGINT (Ctrl+C in a terminal), close the window as its close button
    does, so a running training process is stopped and joined.

    Python runs a signal handler only when the interpreter gets control, which it does
    not while Qt's event loop waits; the signal module's wake-up socket, watched by a
    QSocketNotifier, wakes the loop at once instead of a timer polling for signals.
    """

    SIGNALS = ("SIGTERM", "SIGINT")

    def __init__(self, app):
        import signal
        import socket

        from PySide6.QtCore import QSocketNotifier

        self.app = app
        self.window = None
        self.signum: int | None = None
        self._signal = signal
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        # The Python-level handler does nothing: the byte on the wake-up socket says which signal came.
        self._previous = {num: signal.signal(num, lambda *_: None)
                          for num in (getattr(signal, name) for name in self.SIGNALS if hasattr(signal, name))}
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._woken)

    @property
    def exit_code(self) -> int | None:
        """128 + the signal's number (143 for SIGTERM, 130 for SIGINT), as a shell
        reports a process a signal ended; None when no signal came."""
        return None if self.signum is None else 128 + self.signum

    def _woken(self, *_) -> None:
        try:
            data = self._read.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        came = [num for num in data if num in self._previous]
        if not came or self.signum is not None:
            return
        self.signum = came[0]
        log.info("signal %d: closing the window", self.signum)
        if self.window is not None:
            self.window.close()
        self.app.quit()

    def restore(self) -> None:
        """Put back the handlers that were there before."""
        self._notifier.setEnabled(False)
        for num, handler in self._previous.items():
            self._signal.signal(num, handler)
        self._signal.set_wakeup_fd(self._previous_fd)
        self._read.close()
        self._write.close()


def check_platform_libraries() -> str | None:
    """The error line for missing X11 libraries, or None: checked before the
    QApplication exists, since Qt aborts the process inside its constructor."""
    if not xcb_platform_selected():
        return None
    plugin = xcb_plugin_path()
    missing = missing_platform_libraries(plugin) if plugin is not None else []
    return platform_error(missing) if missing else None


def run_app(args) -> int:
    """Open the window (or, with args.screenshot, save a PNG of it and exit).

    Returns the exit status: 0, 2 for a problem the user can fix (printed as one
    ``error:`` line: an unknown panel, missing X11 libraries), 1 for a screenshot that
    could not be taken, and 128 + the signal's number when SIGTERM or SIGINT closed
    the window (see CloseOnSignal).
    """
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
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        problem = check_platform_libraries()
        if problem is not None:
            sys.stderr.write(f"error: {problem}\n")
            return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    closer = CloseOnSignal(app)
    try:
        code = _run_window(app, args, screenshot=screenshot, panel=panel, preview=preview, closer=closer)
    finally:
        closer.restore()
    return code if closer.exit_code is None else closer.exit_code


def _startup_on_images(args, data_dir):
    """(StartupData, None) for --images (A2's settled ``args.source``, else the path
    inspected here) or CIFAR-10, or (None, the one-line problem)."""
    from explorer.startup import startup_on
    from models import sources
    from models.data import DataError

    try:
        if getattr(args, "images", None) is None:
            from models import cifar

            return startup_on(cifar.load_cifar10(data_dir=data_dir)), None
        source = getattr(args, "source", None) or sources.inspect_images(
            args.images, size=getattr(args, "size", None), colour=getattr(args, "colour", None),
            fit=getattr(args, "fit", None))
        return startup_on(sources.read_images(source).dataset), None
    except (ValueError, DataError) as exc:  # SourceError and UserImagesError are ValueErrors
        return None, str(exc)


def _run_window(app, args, *, screenshot: Path | None, panel: str | None, preview: bool, closer: CloseOnSignal) -> int:
    from PySide6.QtCore import QSettings, QTimer

    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Latent Explorer")
    app.setStyle("Fusion")
    configure_pyqtgraph()

    from explorer.startup import configure_torch, load_startup
    from explorer.window import MainWindow, fit_to_screen

    # Screenshots use the defaults, not whatever the user last left in their settings.
    settings = None if screenshot is not None else QSettings()
    from models.data import DATASETS

    dataset = getattr(args, "dataset", None) or (settings.value("dataset", "mnist", type=str) if settings is not None else "mnist")
    if dataset not in (*DATASETS, "cifar10"):
        dataset = "mnist"
    data_dir = getattr(args, "data_dir", None)
    last_panel = settings.value("window/panel", "", type=str) if settings is not None else ""
    preview = preview and last_panel in ("", "explore")
    offer_cifar = False
    if getattr(args, "images", None) is not None or dataset == "cifar10":
        startup, problem = _startup_on_images(args, data_dir)
        if startup is None and getattr(args, "images", None) is None and screenshot is None:
            # CIFAR-10 asked for (or last shown) but not on disk: open on MNIST and offer its download.
            startup, offer_cifar = load_startup(data_dir, "mnist", preview=preview), bool(getattr(args, "dataset", None))
        elif startup is None:
            sys.stderr.write(f"error: {problem}\n")
            return 2
    else:
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
    closer.window = window
    if not window.models_pending():
        configure_torch()
    window.set_data_dir(data_dir)
    if getattr(args, "images", None) is not None and settings is not None:
        from explorer.panels.datasets import Recent

        # Images opened from the command line are listed under View › Dataset next time too.
        window.datasets.remember(Recent(str(Path(args.images).expanduser().resolve()), getattr(args, "size", None),
                                        getattr(args, "colour", None), getattr(args, "fit", None)))
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

    lesson = {"step": getattr(args, "lesson_step", None), "path": getattr(args, "lesson_file", None)}
    if screenshot is None:
        fit_to_screen(window)
        window.show()
        # Again once the window manager has framed it: its title bar adds to the height.
        QTimer.singleShot(200, lambda: fit_to_screen(window))
        if offer_cifar:
            QTimer.singleShot(0, lambda: window.set_dataset("cifar10"))
        if getattr(args, "lesson", False):
            window.show_lesson(**lesson)
        if os.environ.get(STARTUP_PROBE_ENV):
            _report_first_paint(app, window)
        return app.exec()

    window.resize(1400, 900)
    # What a user sees after a few clicks (every panel has a demo state, see Panel), or the lesson's step.
    if getattr(args, "lesson", False):
        window.show_lesson(**lesson)
    else:
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

    if window.datasets.quick.is_running and train_for is None:
        # Images with no models: the picture waits for the first AE and VAE (QuickModels).
        def demo_then_grab() -> None:
            window.panel(panel or "explore").demo()  # the demo state again, now with models to decode
            QTimer.singleShot(0, grab)

        window.datasets.quick_ready.connect(demo_then_grab)
        window.datasets.quick.failed.connect(lambda _error: QTimer.singleShot(0, grab))
    elif train_for is not None:
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
    if window.isVisible():  # unless a signal closed it already
        window.close()
    return result["code"]
