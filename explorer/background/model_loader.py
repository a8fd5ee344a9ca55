"""ModelLoader: start-up's models (and torch with them), loaded on a thread after the
window's first paint, so the window opens on the cached codes without waiting."""
from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from explorer.background.runs import BackgroundRun
from explorer.startup import LoadedModels

log = logging.getLogger(__name__)


class ModelLoader(QObject):
    """Runs ``load()`` once on a BackgroundRun; ``loaded`` delivers its LoadedModels
    (or the exception it raised) in the GUI thread, exactly once, whether it arrives by
    the signal or because someone could not wait (``wait``)."""

    loaded = Signal(object)  # LoadedModels, or the exception load() raised

    def __init__(self, load: Callable[[], LoadedModels], parent: QObject | None = None):
        super().__init__(parent)
        self._load = load
        self._result: object = None
        self._delivered = False
        # No torch settings for this thread: the import itself is the work.
        self._run = BackgroundRun(self, threads=None, name="model loading")
        self._run.finished.connect(self._deliver)

    @property
    def started(self) -> bool:
        return self._run.is_running or self._result is not None

    @property
    def is_running(self) -> bool:
        return self._run.is_running

    @property
    def pending(self) -> bool:
        """True until the models have been handed over."""
        return not self._delivered

    def start(self) -> None:
        if self.started or self._delivered:
            return

        def work(_report, _should_stop) -> None:
            try:
                self._result = self._load()
            except BaseException as exc:  # reported in the window, not lost in a thread
                self._result = exc

        self._run.start_task(work)

    def wait(self) -> None:
        """Load now (starting if need be) and hand the models over before returning."""
        if self._delivered:
            return
        self.start()
        self._run.wait()
        self._deliver()

    def _deliver(self, _error: str = "") -> None:
        if self._delivered or self._result is None:
            return
        self._delivered = True
        self.loaded.emit(self._result)

    def shutdown(self, timeout: float | None = None) -> None:
        """Let a load in progress finish: torch cannot be interrupted mid-import, and
        Python must not exit under it."""
        if self._run.is_running:
            self._run.wait()
            self._run.shutdown(5.0 if timeout is None else timeout)
