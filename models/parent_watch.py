"""Ends a child process whose parent has gone (the app was killed), so that no
training process outlives the app that started it.

Qt-free and torch-free, so that the training child can start watching before it
imports torch (see ``models.training_child``).
"""
from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# The exit status of an orphan: the parent that could read it is gone, so it only
# shows in a tracer or a debugger.
ORPHAN_EXIT_CODE = 3


class ParentWatch:
    """A daemon thread that waits for this process's multiprocessing parent to end.

    It waits on ``multiprocessing.parent_process().sentinel`` rather than polling
    ``os.getppid()``: on POSIX the sentinel is the read end of a pipe whose only write
    end the parent holds, so it reaches EOF the moment the parent dies, however it
    dies (SIGKILL included), and on Windows it is the parent's process handle; a ppid
    check works on POSIX only and has to wake up to poll.

    When the parent is gone, ``gone`` is set and ``on_gone`` runs (the training job
    cancels the flush of its queue at exit: nobody reads it, and a full pipe would
    block the exit for good). The trainer's stop check reads ``gone``, so a
    run stops after its current batch and still saves what it has, as the Stop
    button does: the save is atomic and quick, and the run's folder is where the user
    looks for the work the killed app was doing. The process then exits as soon as
    the interpreter begins to shut down, skipping the slow teardown of torch; if it is still alive ``grace_s`` after the parent
    ended (stuck reading a dataset, or in a save), it is ended where it stands.
    """

    def __init__(self, *, on_gone: Callable[[], None] | None = None, grace_s: float = 1.5):
        self.gone = threading.Event()
        self._on_gone = on_gone
        self._grace_s = grace_s
        self._thread: threading.Thread | None = None

    def start(self) -> ParentWatch:
        """Start watching; does nothing in a process that no multiprocessing parent
        started (a notebook, a test calling the job in-process)."""
        parent = multiprocessing.parent_process()
        if parent is None or self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._watch, args=(parent.sentinel,), name="parent-watch", daemon=True)
        self._thread.start()
        # Registered after multiprocessing's own exit hook, so it runs first.
        atexit.register(self._exit_if_orphaned)
        return self

    def _exit_if_orphaned(self) -> None:
        if self.gone.is_set():
            os._exit(ORPHAN_EXIT_CODE)

    def _watch(self, sentinel) -> None:
        multiprocessing.connection.wait([sentinel])
        self.gone.set()
        # In another thread: a write to a stderr that nobody reads any more, or a lock
        # the dead parent held, must not keep the backstop below from running.
        threading.Thread(target=self._clean_up, name="parent-watch-cleanup", daemon=True).start()
        # Returns only after the grace: if the process ends first, this thread ends with it.
        threading.Event().wait(self._grace_s)
        os._exit(ORPHAN_EXIT_CODE)

    def _clean_up(self) -> None:
        log.warning("the app that started this process is gone: stopping after the current batch")
        if self._on_gone is not None:
            try:
                self._on_gone()
            except Exception:  # the exit below still comes
                log.exception("cleaning up after the parent ended failed")

