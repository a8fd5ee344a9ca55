"""BackgroundRun: short work on a QThread (a lab experiment's training, a download),
reported to the GUI thread through signals. See explorer/background/__init__.py."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

ShouldStop = Callable[[], bool]
Report = Callable[[object], None]


class _Worker(QObject):
    """Runs one piece of work on a worker thread and emits what it reports."""

    item_ready = Signal(object)
    finished = Signal(str)  # "" when it ran to the end or was stopped, else an error message

    def __init__(self, work: Callable[[Report, ShouldStop], None], stop: threading.Event, *,
                 expected: tuple[type[BaseException], ...], threads: int | None):
        super().__init__()
        self._work = work
        self._stop = stop
        self._expected = expected
        self._threads = threads
        self.done = threading.Event()  # set once the work has returned or raised

    def _report(self, item: object) -> None:
        if not self._stop.is_set():
            self.item_ready.emit(item)

    @Slot()
    def run(self) -> None:
        if self._threads is not None:
            import torch

            # Torch's thread count is per thread: the GUI thread keeps the other core.
            torch.set_num_threads(self._threads)
        error = ""
        try:
            self._work(self._report, self._stop.is_set)
        except self._expected as exc:  # the message says what to change
            error = str(exc)
        except Exception as exc:  # a worker must always report back
            log.exception("background work failed")
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()
        self.finished.emit(error)


class BackgroundRun(QObject):
    """Run work off the GUI thread, one run at a time.

    ``start(make)`` calls ``make(should_stop)`` on a QThread and reports every item the
    generator yields; ``start_task(work)`` calls ``work(report, should_stop)`` for work
    that reports through a callback (a download's progress). Items arrive through
    ``item_ready`` in the GUI thread, and ``finished(error)`` ends every run exactly
    once (error is "" when it ran to the end or was stopped). ``stop()`` asks the work
    to stop at its next check; ``shutdown(timeout)`` stops it and joins the thread.

    ``expected``: exceptions whose message is meant for the user (shown as it is);
    anything else is logged with its traceback and reported by type and message.
    ``threads``: torch threads for the worker (None: not set, for work without torch).
    """

    item_ready = Signal(object)
    finished = Signal(str)

    def __init__(self, parent: QObject | None = None, *, expected: tuple[type[BaseException], ...] = (ValueError,),
                 threads: int | None = 1, name: str = "background run"):
        super().__init__(parent)
        self._expected = expected
        self._threads = threads
        self._name = name
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._stop = threading.Event()

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def start(self, make: Callable[[ShouldStop], Iterator[object]]) -> None:
        """Run a generator function: each item it yields is reported."""

        def work(report: Report, should_stop: ShouldStop) -> None:
            for item in make(should_stop):
                if should_stop():
                    break
                report(item)

        self.start_task(work)

    def start_task(self, work: Callable[[Report, ShouldStop], None]) -> None:
        """Run ``work(report, should_stop)``; RuntimeError while another run is going."""
        if self._thread is not None:
            raise RuntimeError(f"a {self._name} is already going; stop it first")
        self._stop = threading.Event()
        self._thread = QThread()
        self._worker = _Worker(work, self._stop, expected=self._expected, threads=self._threads)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        # Both connections are queued: the slots belong to this object, in the GUI thread.
        self._worker.item_ready.connect(self._on_item)
        self._worker.finished.connect(self._on_finished)
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to stop at its next check (a training step, a downloaded block)."""
        self._stop.set()

    @Slot(object)
    def _on_item(self, item: object) -> None:
        if self._thread is not None and not self._stop.is_set():
            self.item_ready.emit(item)

    @Slot(str)
    def _on_finished(self, error: str) -> None:
        self._join(5.0)
        self.finished.emit(error)

    def _join(self, timeout: float) -> bool:
        thread = self._thread
        if thread is None:
            return True
        thread.quit()
        done = thread.wait(int(timeout * 1000))
        if done:
            self._thread = None
            self._worker = None
        return done

    def wait(self) -> None:
        """Block until the work has ended (for work whose result the GUI cannot go on
        without, such as start-up's models); ``finished`` is still emitted later."""
        worker = self._worker
        if worker is not None:
            worker.done.wait()

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Stop and join; True when nothing is left running. A thread still busy after
        ``timeout`` (a step cannot be interrupted) is handed to the application, which
        deletes it once it ends, so this object can go away safely."""
        self.stop()
        if self._join(timeout):
            return True
        thread, worker = self._thread, self._worker
        assert thread is not None and worker is not None
        thread.finished.connect(thread.deleteLater)
        thread.setParent(QCoreApplication.instance())
        worker.finished.disconnect(self._on_finished)
        worker.item_ready.disconnect(self._on_item)
        self._thread = self._worker = None
        log.warning("a %s was still busy after %.1f s; it ends on its own", self._name, timeout)
        return False
