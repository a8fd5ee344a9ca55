"""Pacing a training run from another process: single steps and slow motion.

The GUI owns a ``PaceControls`` (shared memory and an event from one ``multiprocessing``
context) and hands it to the training child, whose ``Pacer`` reads it before every
batch. A paused run takes one batch for each granted step and pauses again; a rate
(steps per second) spreads the batches out, the rest of each interval spent waiting on
the ``wake`` event, so a stop, a pause or a new rate takes effect at once rather than
after the interval.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The longest single wait: the orphan watch (models.parent_watch) sets its own event,
# not ``wake``, so a waiting child looks at it at least this often.
MAX_WAIT_S = 0.25
MAX_RATE = 1000.0  # steps per second; anything above it is full speed in all but name


@dataclass(frozen=True)
class PaceControls:
    """What the parent sets and the child reads: ``permits`` (steps granted while
    paused, a shared int), ``rate`` (steps per second, a shared double; 0 is full
    speed) and ``wake`` (an event set after every change). Made by ``create``; it
    travels to a spawned child as an argument of its Process."""

    permits: Any
    rate: Any
    wake: Any

    @classmethod
    def create(cls, ctx: Any = None) -> PaceControls:
        """Controls made from ``ctx`` (a multiprocessing context; None: the default one)."""
        if ctx is None:
            import multiprocessing

            ctx = multiprocessing.get_context()
        return cls(permits=ctx.Value("i", 0), rate=ctx.Value("d", 0.0), wake=ctx.Event())

    def grant_steps(self, n: int = 1) -> None:
        """Let a paused run take ``n`` more batches."""
        with self.permits.get_lock():
            self.permits.value += int(n)
        self.wake.set()

    def clear_steps(self) -> int:
        """Withdraw steps granted but not yet taken; returns how many there were."""
        with self.permits.get_lock():
            n, self.permits.value = self.permits.value, 0
        return n

    def set_rate(self, steps_per_second: float | None) -> None:
        """Slow motion at ``steps_per_second`` (at least 1e-3), or full speed for None or 0."""
        r = float(steps_per_second or 0.0)
        if r < 0:
            raise ValueError(f"a rate is a number of steps per second >= 0, not {steps_per_second}")
        self.rate.value = min(r, MAX_RATE) if r else 0.0
        self.wake.set()

    def get_rate(self) -> float | None:
        """Steps per second, or None at full speed."""
        return self.rate.value or None

    def nudge(self) -> None:
        """Wake a waiting child to look again (after a pause, resume or stop)."""
        self.wake.set()

    def take_step(self) -> bool:
        """The child takes one granted step, if there is one."""
        with self.permits.get_lock():
            if self.permits.value <= 0:
                return False
            self.permits.value -= 1
        return True


class Pacer:
    """The child's side: ``admit(step)`` before every batch blocks while the run is
    paused (unless a step was granted) and keeps batches 1/rate apart.

    Several models trained in lockstep share one Pacer: the first to reach a step
    waits for it, the others then take the same step without waiting, so one granted
    step is one batch of every model."""

    def __init__(self, controls: PaceControls | None = None, *, paused: Callable[[], bool],
                 stopped: Callable[[], bool], on_hold: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._controls = controls
        self._paused = paused
        self._stopped = stopped
        self._on_hold = on_hold
        self._clock = clock
        # Without controls nothing sets an event: a pause is polled.
        self._wake = controls.wake if controls is not None else threading.Event()
        self._admitted = 0  # the highest step let through
        self._last: float | None = None  # when it was let through

    def rate(self) -> float | None:
        """Steps per second, or None at full speed."""
        return self._controls.get_rate() if self._controls is not None else None

    def paced(self) -> bool:
        """Slow motion or step by step: every step is worth a snapshot."""
        return self.rate() is not None or self._paused()

    def admit(self, step: int) -> bool:
        """Wait until batch ``step`` (global, 1-based) may start or the run stops; True
        when it waited (the time since the last batch was not training time)."""
        if step <= self._admitted:
            return False
        held = False
        told = False
        poll = MAX_WAIT_S if self._controls is not None else 0.05
        while not self._stopped():
            # Cleared before the checks: a change made after them wakes the wait below.
            self._wake.clear()
            if self._paused():
                if self._controls is not None and self._controls.take_step():
                    break
                if not told and self._on_hold is not None:
                    told = True
                    self._on_hold()  # the state the run pauses in, for the GUI to show
                held = True
                self._wake.wait(poll)
                continue
            rate = self.rate()
            if rate is not None and self._last is not None:
                left = self._last + 1.0 / rate - self._clock()
                if left > 0:
                    held = True
                    self._wake.wait(min(left, MAX_WAIT_S))
                    continue
            break
        self._admitted = step
        self._last = self._clock()
        return held
