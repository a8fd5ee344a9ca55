"""Choosing torch's thread count for a training run while it runs.

On a 2-core machine two threads train faster than one when nothing else wants
the CPU, but when another process does (the app's own window, a second program),
OpenMP's two threads wait on each other at every operation and the run falls far
below the one-thread speed (docs/benchmarks.md, "Thread counts"). No fixed choice
is right, so ``ThreadTuner`` times each candidate for a moment and keeps the
fastest. It times them again when the load changes, which it notices as the chosen
count's speed drifting from what the trial measured, and otherwise only once a
minute, because each trial spends half a second on a slower choice.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import torch

__all__ = ["ThreadTuner"]


class ThreadTuner:
    """Call ``step(samples)`` after every training step; it switches ``torch.set_num_threads``.

    A trial times each candidate over ``window_s`` seconds (after ``settle_steps``
    steps that warm it up), then the fastest runs. Its speed is watched over
    windows of ``2 * window_s``: the next trial starts when that speed is more than
    ``drift`` (a fraction) away from the trial's figure and ``recheck_s`` seconds
    have passed since the last trial, or after ``max_recheck_s`` seconds in any case.
    Fewer threads are chosen only when they train more than ``margin`` (a fraction)
    faster than the most threads.
    """

    def __init__(
        self,
        candidates: Sequence[int],
        *,
        window_s: float = 0.5,
        settle_steps: int = 2,
        recheck_s: float = 10.0,
        max_recheck_s: float = 60.0,
        drift: float = 0.2,
        margin: float = 0.15,
        clock: Callable[[], float] = time.perf_counter,
        apply: Callable[[int], None] = torch.set_num_threads,
    ):
        choices = sorted({int(c) for c in candidates})
        if not choices or choices[0] < 1:
            raise ValueError(f"thread candidates must be whole numbers >= 1, got {list(candidates)}")
        self.candidates = tuple(choices)
        self.window_s = window_s
        self.settle_steps = settle_steps
        self.recheck_s = recheck_s
        self.max_recheck_s = max(recheck_s, max_recheck_s)
        self.drift = drift
        self.margin = margin
        self._clock = clock
        self._apply = apply
        self.rates: dict[int, float] = {}  # samples/s of each candidate in the latest trial
        self.trials = 0
        self.current = self.candidates[-1]
        self._trial: list[int] = []
        self._last_trial = 0.0  # when the latest trial ended
        self._watch: tuple[float, int] | None = None  # (start, samples) of the speed window
        if len(self.candidates) == 1:
            self._apply(self.current)
        else:
            self._start_trial()

    @property
    def tuning(self) -> bool:
        """True while candidates are being timed."""
        return bool(self._trial)

    def _start_trial(self) -> None:
        # The current choice goes last so that a trial ends on it when it is still the best.
        self._trial = [c for c in self.candidates if c != self.current] + [self.current]
        self.rates = {}
        self._begin(self._trial[0])

    def _begin(self, threads: int) -> None:
        self.current = threads
        self._apply(threads)
        self._settle = self.settle_steps
        self._t0: float | None = None
        self._samples = 0

    def step(self, samples: int) -> None:
        """One training step of ``samples`` images has finished."""
        if len(self.candidates) == 1:
            return
        now = self._clock()
        if not self._trial:
            self._watch_speed(now, samples)
            return
        if self._settle > 0:
            self._settle -= 1
            if self._settle == 0:
                self._t0 = now
            return
        if self._t0 is None:
            self._t0 = now
            return
        self._samples += samples
        elapsed = now - self._t0
        if elapsed < self.window_s:
            return
        self.rates[self.current] = self._samples / elapsed
        self._trial.pop(0)
        if self._trial:
            self._begin(self._trial[0])
            return
        most = self.candidates[-1]
        best = max(self.rates, key=self.rates.__getitem__)
        if self.rates[best] < (1.0 + self.margin) * self.rates[most]:
            # Half-second timings on a shared machine scatter: fewer threads must win
            # clearly (under load they win by far).
            best = most
        self.trials += 1
        if best != self.current:
            self.current = best
            self._apply(best)
        self._last_trial = now
        self._watch = None

    def interrupted(self) -> None:
        """The run was held (paused): the time since the last step is not training time."""
        if len(self.candidates) == 1:
            return
        if self._trial:
            self._begin(self.current)
        else:
            self._watch = None

    def _watch_speed(self, now: float, samples: int) -> None:
        """Between trials: start one when the load seems to have changed, or it is time."""
        if self._watch is None:
            self._watch = (now, 0)  # from the end of this step
            return
        t0, n = self._watch
        n += samples
        elapsed = now - t0
        if elapsed < 2 * self.window_s:
            self._watch = (t0, n)
            return
        self._watch = (now, 0)
        since = now - self._last_trial
        expected = self.rates.get(self.current, 0.0)
        drifted = expected <= 0 or abs(n / elapsed / expected - 1.0) > self.drift
        if since >= self.max_recheck_s or (drifted and since >= self.recheck_s):
            self._start_trial()


def training_thread_choices() -> tuple[int, ...]:
    """Torch thread counts the training process picks from as it runs: all cores, or all
    but one (the GUI's), since which is faster depends on the machine's load (see
    ThreadTuner); the run times both as it goes and keeps the faster."""
    cores = os.cpu_count() or 2
    return tuple(sorted({max(1, cores - 1), cores}))
