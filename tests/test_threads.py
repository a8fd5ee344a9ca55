"""The training run's thread choice: it keeps the thread count that trains fastest now."""
from __future__ import annotations

import pytest

from models.jobs import ImageArrays, JobFinished, ModelSnapshot, TrainJob
from models.nets import NetConfig
from models.threads import ThreadTuner
from models.train import TrainConfig
from synthetic import labelled_blobs, run_job_here


class FakeMachine:
    """A clock and a training speed per thread count that the test can change (the load)."""

    def __init__(self, speeds: dict[int, float]):
        self.speeds = dict(speeds)
        self.now = 0.0
        self.threads = None
        self.applied: list[int] = []

    def apply(self, n: int) -> None:
        self.threads = n
        self.applied.append(n)

    def run(self, tuner: ThreadTuner, seconds: float, batch: int = 128) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now += batch / self.speeds[self.threads]
            tuner.step(batch)


def _tuner(machine: FakeMachine, **kw) -> ThreadTuner:
    return ThreadTuner((1, 2), clock=lambda: machine.now, apply=machine.apply, **kw)


def test_an_idle_machine_trains_on_two_threads():
    m = FakeMachine({1: 9000.0, 2: 13000.0})
    tuner = _tuner(m)
    m.run(tuner, 3.0)
    assert tuner.trials == 1 and not tuner.tuning
    assert m.threads == 2 and tuner.current == 2
    assert tuner.rates[2] == pytest.approx(13000, rel=0.05) and tuner.rates[1] == pytest.approx(9000, rel=0.05)


def test_a_busy_machine_trains_on_one_thread_and_goes_back_when_the_load_ends():
    m = FakeMachine({1: 5300.0, 2: 1200.0})  # measured with another busy process beside the run
    tuner = _tuner(m, recheck_s=5.0)
    m.run(tuner, 3.0)
    assert m.threads == 1
    m.run(tuner, 2.0)
    assert m.threads == 1 and not tuner.tuning  # no trial before the recheck time
    m.speeds = {1: 9000.0, 2: 13000.0}  # the other process finished
    m.run(tuner, 8.0)
    assert m.threads == 2 and tuner.trials == 2


def test_a_steady_load_is_not_timed_again_until_the_longest_interval():
    m = FakeMachine({1: 9000.0, 2: 13000.0})
    tuner = _tuner(m, recheck_s=5.0, max_recheck_s=40.0)
    m.run(tuner, 35.0)
    assert tuner.trials == 1  # the speed did not change: no second trial yet
    m.run(tuner, 10.0)
    assert tuner.trials == 2 and m.threads == 2


def test_a_load_change_is_timed_again_soon_after_the_last_trial():
    m = FakeMachine({1: 9000.0, 2: 13000.0})
    tuner = _tuner(m, recheck_s=5.0, max_recheck_s=60.0)
    m.run(tuner, 2.0)
    assert m.threads == 2
    m.speeds = {1: 5300.0, 2: 1200.0}  # another program starts
    m.run(tuner, 3.0)
    assert m.threads == 2 and tuner.trials == 1  # too soon after the first trial
    m.run(tuner, 4.0)
    assert m.threads == 1 and tuner.trials == 2


def test_a_near_tie_keeps_the_most_threads():
    m = FakeMachine({1: 10500.0, 2: 10000.0})  # one thread 5 % faster: within timing noise
    tuner = _tuner(m)
    m.run(tuner, 3.0)
    assert tuner.trials == 1 and m.threads == 2
    m2 = FakeMachine({1: 12500.0, 2: 10000.0})  # 25 % faster: a real difference
    tuner2 = _tuner(m2)
    m2.run(tuner2, 3.0)
    assert m2.threads == 1


def test_a_pause_is_not_taken_for_a_slower_machine():
    m = FakeMachine({1: 9000.0, 2: 13000.0})
    tuner = _tuner(m, recheck_s=5.0, max_recheck_s=60.0)
    m.run(tuner, 12.0)
    assert tuner.trials == 1
    m.now += 30.0  # paused for half a minute, then resumed
    tuner.interrupted()
    m.run(tuner, 5.0)
    assert tuner.trials == 1 and m.threads == 2


def test_trials_cost_little_of_the_run():
    m = FakeMachine({1: 9000.0, 2: 13000.0})
    tuner = _tuner(m)
    steps = 0
    start = m.now
    while m.now - start < 60.0:
        m.now += 128 / m.speeds[m.threads]
        tuner.step(128)
        steps += 1
    # Within 5 % of running on two threads all the time.
    assert steps * 128 / 60.0 > 0.95 * 13000


def test_one_candidate_is_applied_once_and_kept():
    m = FakeMachine({3: 1000.0})
    tuner = ThreadTuner((3,), clock=lambda: m.now, apply=m.apply)
    m.run(tuner, 30.0)
    assert m.applied == [3]


@pytest.mark.parametrize("bad", [(), (0, 2), (-1,)])
def test_bad_candidates_are_refused(bad):
    with pytest.raises(ValueError, match="thread candidates"):
        ThreadTuner(bad, apply=lambda n: None)


def test_a_job_with_thread_choices_reports_the_threads_it_uses(tmp_path):
    x, labels = labelled_blobs(256)
    job = TrainJob(
        configs=(NetConfig(kind="ae", hidden=(32,)),),
        train=TrainConfig(epochs=3, batch_size=32),
        data_source=ImageArrays(x, x[:64], labels[:64]),
        probe_count=32,
        snapshot_interval_s=0.0,
        thread_choices=(1, 2),
    )
    messages = run_job_here(job)
    assert isinstance(messages[-1], JobFinished), messages[-1]
    threads = {m.threads for m in messages if isinstance(m, ModelSnapshot)}
    assert threads and threads <= {1, 2}


def test_the_test_loss_after_each_epoch_is_taken_on_the_probe_images(tmp_path):
    from models.checkpoint import load_checkpoint
    from models.data import as_float_images
    from models.jobs import EpochReport, JobStarted
    from models.train import evaluate

    x, labels = labelled_blobs(256)
    test, test_labels = labelled_blobs(200, seed=1)
    job = TrainJob(
        configs=(NetConfig(kind="ae", hidden=(32,)),),
        train=TrainConfig(epochs=2, batch_size=32),
        data_source=ImageArrays(x, test, test_labels),
        probe_count=40,
        snapshot_interval_s=0.0,
        threads=1,
        out_dir=str(tmp_path),
    )
    messages = run_job_here(job)
    assert isinstance(messages[-1], JobFinished), messages[-1]
    started = next(m for m in messages if isinstance(m, JobStarted))
    assert started.test_count == 200 and len(started.probe_indices) == 40
    last = [m for m in messages if isinstance(m, EpochReport)][-1]
    model = load_checkpoint(tmp_path / "ae.pt").model
    on_probes = evaluate(model, as_float_images(test[started.probe_indices]))["mse"]
    on_all = evaluate(model, as_float_images(test))["mse"]
    assert last.test["mse"] == pytest.approx(on_probes, rel=1e-5)
    assert on_probes != pytest.approx(on_all, rel=1e-5)


@pytest.mark.parametrize("interval", [0.0, 1000.0])
def test_epoch_ends_do_not_add_snapshots_beyond_the_interval(interval):
    # Each snapshot encodes the probe images: short epochs must not multiply them.
    from models.jobs import EpochReport

    x, labels = labelled_blobs(256)
    job = TrainJob(
        configs=(NetConfig(kind="ae", hidden=(32,)), NetConfig(kind="vae", hidden=(32,))),
        train=TrainConfig(epochs=4, batch_size=32),
        data_source=ImageArrays(x, x[:64], labels[:64]),
        probe_count=32,
        snapshot_interval_s=interval,
        threads=1,
    )
    messages = run_job_here(job)
    assert isinstance(messages[-1], JobFinished), messages[-1]
    for index in (0, 1):
        snaps = [m for m in messages if isinstance(m, ModelSnapshot) and m.index == index]
        assert [m.epoch for m in messages if isinstance(m, EpochReport) and m.index == index] == [1, 2, 3, 4]
        assert snaps[-1].step == snaps[-1].total_steps  # the final weights are always sent
        if interval:
            # One when the run starts, one at its end: no epoch was half an interval
            # after the last snapshot.
            assert len(snaps) == 2
        else:
            assert len(snaps) > 4 * 8  # every step and every epoch
