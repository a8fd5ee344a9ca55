"""Single steps and slow motion at the models level (no Qt): the Trainer's before_batch
hook, the Pacer that blocks in it, and a paced job's per-step snapshots with the
batch's codes. Training runs in a thread of this process here; the Train panel's
tests cover the child process."""
from __future__ import annotations

import dataclasses
import queue
import threading
import time

import numpy as np
import pytest
import torch

from models.jobs import ImageArrays, JobFinished, ModelSnapshot, TrainJob, run_job
from models.nets import NetConfig, build_model
from models.pacing import MAX_WAIT_S, PaceControls, Pacer
from models.train import TrainConfig, Trainer
from synthetic import labelled_blobs

X, LABELS = labelled_blobs(96)


def _trainer(**kwargs) -> Trainer:
    model = build_model(NetConfig(kind="ae", hidden=(16,)), seed=0)
    return Trainer(model, config=TrainConfig(epochs=2, batch_size=16, device="cpu"), train_x=X, **kwargs)


def test_before_batch_sees_every_step_once_and_last_batch_is_that_batch():
    seen: list[int] = []
    trainer = _trainer(before_batch=seen.append)
    sizes = []
    for item in trainer.steps():
        if hasattr(item, "step"):
            assert trainer.last_batch is not None
            sizes.append(len(trainer.last_batch))
            assert int(trainer.last_batch.max()) < len(X)
    assert seen == list(range(1, trainer.total_steps + 1))
    assert sizes == [16] * trainer.total_steps


def test_a_stop_asked_while_before_batch_waits_takes_no_further_batch():
    stop = threading.Event()
    steps: list[int] = []

    def hold(step: int) -> None:
        if step == 3:
            stop.set()  # the user pressed Stop during the wait

    result = _trainer(before_batch=hold, should_stop=stop.is_set, on_step=lambda s: steps.append(s.step)).fit()
    assert result.stopped and steps == [1, 2]


class _Run:
    """A Trainer in a thread, paced by a Pacer on real controls; counts its steps and holds."""

    def __init__(self, controls: PaceControls, paused: threading.Event, epochs: int = 50):
        self.stop = threading.Event()
        self.steps = 0
        self.holds = threading.Semaphore(0)
        self.pacer = Pacer(controls, paused=paused.is_set, stopped=self.stop.is_set, on_hold=self.holds.release)
        model = build_model(NetConfig(kind="ae", hidden=(16,)), seed=0)
        self.trainer = Trainer(model, config=TrainConfig(epochs=epochs, batch_size=16, device="cpu"), train_x=X,
                               should_stop=self.stop.is_set, before_batch=self.pacer.admit, on_step=self._count)
        self.thread = threading.Thread(target=self.trainer.fit, daemon=True)

    def _count(self, info) -> None:
        self.steps = info.step

    def wait_for(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.005)  # polling a counter, not timing

    def finish(self, controls: PaceControls) -> None:
        self.stop.set()
        controls.nudge()
        self.thread.join(5)
        assert not self.thread.is_alive()


def test_each_granted_step_is_exactly_one_batch_then_the_run_holds_again():
    controls = PaceControls.create()
    paused = threading.Event()
    paused.set()  # a run started in step mode
    run = _Run(controls, paused)
    run.thread.start()
    assert run.holds.acquire(timeout=10)  # it waits before its first batch
    assert run.steps == 0
    for n in range(1, 6):
        controls.grant_steps(1)
        assert run.holds.acquire(timeout=10), "the run took its step and holds again"
        assert run.steps == n
    controls.grant_steps(3)
    run.wait_for(lambda: run.steps == 8)
    assert run.holds.acquire(timeout=10)
    assert run.steps == 8
    run.finish(controls)


class _Clock:
    """Time that passes only while the Pacer waits: the rate is checked exactly, whatever
    the machine's load (a wall-clock rate test failed on a busy two-core machine)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.during_wait: list = []  # callables run inside the next waits, one each

    def __call__(self) -> float:
        return self.now


class _Wake:
    """The controls' event on the fake clock: a wait lets the time pass, or less of it
    when something sets the event during the wait."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.is_set = False

    def set(self) -> None:
        self.is_set = True

    def clear(self) -> None:
        self.is_set = False

    def wait(self, timeout: float) -> bool:
        if self.clock.during_wait:
            self.clock.now += timeout / 2
            self.clock.waits.append(timeout / 2)
            self.clock.during_wait.pop(0)()  # e.g. the user moves the rate slider mid-wait
            return self.is_set
        self.clock.now += timeout
        self.clock.waits.append(timeout)
        return self.is_set


def _paced(rate: float) -> tuple[PaceControls, Pacer, _Clock]:
    clock = _Clock()
    controls = dataclasses.replace(PaceControls.create(), wake=_Wake(clock))
    controls.set_rate(rate)
    return controls, Pacer(controls, paused=lambda: False, stopped=lambda: False, clock=clock), clock


def test_slow_motion_keeps_batches_one_interval_apart():
    controls, pacer, clock = _paced(20.0)
    starts = []
    for step in range(1, 12):
        pacer.admit(step)
        starts.append(clock.now)
    gaps = np.diff(starts)
    assert np.allclose(gaps, 1 / 20), gaps
    # No wait is longer than MAX_WAIT_S, so a stop or a new rate is seen within it.
    controls.set_rate(0.5)
    pacer.admit(12)
    assert clock.now - starts[-1] == pytest.approx(2.0)
    assert max(clock.waits) <= MAX_WAIT_S


def test_full_speed_cuts_the_remaining_wait_short_and_then_never_waits():
    controls, pacer, clock = _paced(0.5)  # two seconds between batches
    pacer.admit(1)
    t1 = clock.now
    clock.during_wait.append(lambda: controls.set_rate(None))
    assert pacer.admit(2)  # it waited, but only until the rate changed
    assert clock.now - t1 == pytest.approx(MAX_WAIT_S / 2)
    assert controls.get_rate() is None
    t2 = clock.now
    for step in range(3, 103):
        assert not pacer.admit(step)
    assert clock.now == t2


def test_slow_motion_in_a_real_thread_spreads_the_batches_out():
    controls = PaceControls.create()
    controls.set_rate(8.0)
    run = _Run(controls, threading.Event())
    run.thread.start()
    run.wait_for(lambda: run.steps >= 1)
    s0, t0 = run.steps, time.monotonic()
    run.wait_for(lambda: run.steps >= s0 + 10)
    # Only a lower bound on the time holds on a loaded machine: a thread can be late, never early.
    assert time.monotonic() - t0 >= 9 / 8
    controls.set_rate(None)
    s1 = run.steps
    # Full speed again: 100 more batches within wait_for's 10 s (at 8 a second they would take 12.5 s).
    run.wait_for(lambda: run.steps >= s1 + 100)
    run.finish(controls)


def test_a_stop_during_a_slow_interval_ends_the_wait_at_once():
    controls = PaceControls.create()
    controls.set_rate(0.2)  # five seconds between batches
    run = _Run(controls, threading.Event())
    run.thread.start()
    run.wait_for(lambda: run.steps >= 1)
    t0 = time.monotonic()
    run.finish(controls)
    assert time.monotonic() - t0 < 1.0
    assert run.steps == 1 and run.trainer.result.stopped


def test_rates_are_checked():
    controls = PaceControls.create()
    with pytest.raises(ValueError, match="steps per second"):
        controls.set_rate(-1)
    controls.set_rate(0)
    assert controls.get_rate() is None


def test_a_paced_job_sends_a_snapshot_per_step_with_the_batch_codes():
    x, labels = labelled_blobs(128)
    job = TrainJob(configs=(NetConfig(kind="ae", hidden=(16,)), NetConfig(kind="vae", latent=3, hidden=(16,))),
                   train=TrainConfig(epochs=20, batch_size=16), probe_count=20, snapshot_interval_s=60.0, threads=1,
                   data_source=ImageArrays(x, x[:40], labels[:40]))
    q: queue.Queue = queue.Queue()
    stop, pause = threading.Event(), threading.Event()
    pause.set()
    controls = PaceControls.create()
    before = torch.get_num_threads()
    thread = threading.Thread(target=run_job, args=(job, q, stop, pause), kwargs={"pacing": controls}, daemon=True)
    thread.start()
    snaps: list[ModelSnapshot] = []

    def take_until(n: int) -> None:
        deadline = time.monotonic() + 20
        while len(snaps) < n:
            msg = q.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(msg, ModelSnapshot):
                snaps.append(msg)

    try:
        controls.grant_steps(3)
        take_until(6)  # one per model and step, though the interval is a minute
        assert [(s.index, s.step) for s in snaps] == [(0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3)]
        for s in snaps:
            assert s.batch_codes is not None and s.batch_codes.shape == (16, s.latent)
            assert s.batch_labels is not None and s.batch_labels.shape == (16,)
            assert set(s.batch_labels) <= set(labels)
        # The batch's codes are the model's codes of those images: step 3's batch differs from step 1's.
        assert not np.allclose(snaps[0].batch_codes, snaps[4].batch_codes)
        with pytest.raises(queue.Empty):
            q.get(timeout=0.3)  # nothing more without another step
    finally:
        stop.set()
        controls.nudge()
        thread.join(10)
        torch.set_num_threads(before)
    assert not thread.is_alive()
    rest = []
    while not q.empty():
        rest.append(q.get())
    assert isinstance(rest[-1], JobFinished) and rest[-1].stopped
