"""A training job that runs in a child process and reports through a queue.

The GUI starts ``run_job`` with the spawn context of ``multiprocessing`` (a
child process trains at full speed while the GUI thread stays responsive; see
docs/architecture.md) and reads plain messages from the queue: numpy arrays and frozen
dataclasses, never live tensors. Qt-free, so it can be driven from a script.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from models import checkpoint, data, files
from models.data import as_float_images
from models.nets import NetConfig, build_model
from models.pacing import PaceControls, Pacer
from models.parent_watch import ParentWatch
from models.threads import ThreadTuner
from models.train import (
    EpochInfo,
    NonFiniteLossError,
    StepInfo,
    TrainConfig,
    Trainer,
    TrainingError,
    divergence_warning,
    flush_denormals,
    run_meta,
)

log = logging.getLogger(__name__)


class DataSource(Protocol):
    """Where a job's images come from: called in the training process with the job.
    A job travels to a spawned child, so a source must pickle: a top-level function
    or a small frozen dataclass (``ImageArrays``)."""

    def __call__(self, job: TrainJob, /) -> data.Dataset: ...


def dataset_on_disk(job: TrainJob) -> data.Dataset:
    """The default source: ``job.dataset`` from ``job.data_dir`` (else the cache), or its
    bundled test set when the full set is missing and ``job.allow_bundled``."""
    try:
        return data.load_dataset(job.dataset, data_dir=job.data_dir)
    except data.DatasetNotFoundError:
        if not (job.allow_bundled and job.dataset in data.BUNDLED_DATASETS):
            raise
        return data.load_bundled(job.dataset)


@dataclass(frozen=True, eq=False)
class ImageArrays:
    """A source of images already at hand (a lab's own set, a test's synthetic digits).
    Labels default to zeros; ``name`` is what the checkpoints record as the dataset."""

    train_images: np.ndarray = field(repr=False)
    test_images: np.ndarray = field(repr=False)
    test_labels: np.ndarray | None = field(default=None, repr=False)
    name: str = "synthetic"
    title: str = "synthetic"
    description: str = "images handed to the run"

    def __call__(self, job: TrainJob, /) -> data.Dataset:
        train, test = np.asarray(self.train_images), np.asarray(self.test_images)
        labels = np.zeros(len(test), dtype=np.int64) if self.test_labels is None else np.asarray(self.test_labels)
        return data.Dataset(
            name=self.name, title=self.title, class_names=tuple(str(d) for d in range(10)),
            train_images=train, train_labels=np.zeros(len(train), dtype=np.int64),
            test_images=test, test_labels=labels, source=self.description, is_subset=False,
        )


@dataclass(frozen=True, eq=False)
class GivenDataset:
    """A Dataset already read (a user's images, CIFAR-10): the run trains on it as it is,
    and its checkpoints keep its description, classes and labels."""

    dataset: data.Dataset = field(repr=False)

    def __call__(self, job: TrainJob, /) -> data.Dataset:
        return self.dataset


@dataclass(frozen=True)
class TrainJob:
    """What to train: one or more models on one dataset, in lockstep."""

    configs: tuple[NetConfig, ...]
    train: TrainConfig
    dataset: str = "mnist"
    data_dir: str | None = None
    # Train on the bundled 10,000 test images (MNIST, Fashion-MNIST) when no full set is found.
    allow_bundled: bool = True
    # Fixed images whose codes are sent while training (the moving scatter): 100 a
    # class show the classes separating; each snapshot encodes them all, so more
    # would cost training time every second.
    probe_count: int = 1000
    # The test loss after each epoch is taken on the probe images when the test set
    # is larger: on the bundled 10,000 images, the whole set after every 10,000-image
    # epoch cost a quarter of the run.
    test_on_probes: bool = True
    # At most this share of the run goes to those test figures: with short epochs
    # (the bundled images train an epoch a second) only every second or third epoch
    # is evaluated (see Trainer); None evaluates after every epoch.
    eval_share: float | None = 0.02
    snapshot_interval_s: float = 1.0
    threads: int | None = None
    # When given, the run keeps switching to whichever of these thread counts trains
    # fastest under the machine's current load (see models.threads.ThreadTuner).
    thread_choices: tuple[int, ...] = ()
    # Where to save the trained checkpoints (one file per model, named by kind).
    out_dir: str | None = None
    # Where the images come from; the default reads ``dataset`` as above.
    data_source: DataSource = dataset_on_disk


@dataclass(frozen=True)
class JobStarted:
    dataset_title: str
    dataset_source: str
    is_subset: bool
    train_count: int
    test_count: int
    total_steps: int
    device: str
    probe_indices: np.ndarray  # which test images are the probes
    probe_labels: np.ndarray


@dataclass(frozen=True)
class ModelSnapshot:
    """The latest state of one model, copied out of the training process."""

    index: int
    kind: str
    latent: int
    epoch: int
    step: int
    total_steps: int
    samples_per_s: float
    losses: dict[str, float]
    # (steps, means) of the losses since the previous snapshot, for the curves.
    curve_steps: np.ndarray
    curve_losses: dict[str, np.ndarray]
    probe_codes: np.ndarray  # (P, latent) deterministic codes of the probe images
    decoder_state: dict[str, np.ndarray]
    threads: int = 0  # torch threads the run uses at the moment
    # A paced run (slow motion, step by step) sends a snapshot after every step, with
    # the codes and labels of that step's training batch under the updated weights.
    batch_codes: np.ndarray | None = None
    batch_labels: np.ndarray | None = None
    # time.monotonic() in the child when the snapshot was made (one clock for every
    # process on the machine): how fast steps came, whatever the queue's delay.
    made_at: float = 0.0


@dataclass(frozen=True)
class EpochReport:
    index: int
    kind: str
    epoch: int
    epochs: int
    train: dict[str, float]
    test: dict[str, float]


@dataclass(frozen=True)
class JobFinished:
    stopped: bool
    checkpoints: tuple[str, ...]
    seconds: float
    # Sentences for the user about a run that finished but went wrong (a loss that
    # exploded without becoming NaN: models.train.divergence_warning), one per model.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobFailed:
    message: str
    # Checkpoints of the last good weights, when training itself failed.
    checkpoints: tuple[str, ...] = ()


def _decoder_state(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items() if k.startswith("decoder")}


class _Curve:
    """Loss means per reported step since the last snapshot (keeps messages small)."""

    def __init__(self, every: int):
        self.every = max(1, every)
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}
        self._acc: dict[str, float] = {}
        self._n = 0

    def add(self, info: StepInfo) -> None:
        for k, v in info.losses.items():
            self._acc[k] = self._acc.get(k, 0.0) + v
        self._n += 1
        if self._n >= self.every:
            self.steps.append(info.step)
            for k, v in self._acc.items():
                self.values.setdefault(k, []).append(v / self._n)
            self._acc, self._n = {}, 0

    def take(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        out = np.asarray(self.steps, dtype=np.int64), {k: np.asarray(v, dtype=np.float32) for k, v in self.values.items()}
        self.steps, self.values = [], {}
        return out


def run_job(job: TrainJob, queue, stop_event, pause_event, *, orphaned: threading.Event | None = None,
            pacing: PaceControls | None = None) -> None:
    """Child-process entry point: train, report, save; every outcome ends in one
    JobFinished or JobFailed message. ``orphaned`` is set when the parent has gone
    (models.training_child); by default run_job watches for itself. ``pacing``: the
    parent's single steps and slow-motion rate (models.pacing); while the run is paced
    a snapshot goes out after every step."""
    t0 = time.perf_counter()
    flush_denormals()  # first: before torch starts its worker threads
    if orphaned is None:
        # If the app is killed, stop after the batch, save, and exit (see models.parent_watch).
        orphaned = ParentWatch(on_gone=getattr(queue, "cancel_join_thread", None)).start().gone
    try:
        if job.out_dir is not None:
            # Before the data is read: an unwritable folder must not cost a whole run.
            files.check_writable_folder(job.out_dir)
        if job.threads:
            torch.set_num_threads(job.threads)
        tuner = ThreadTuner(job.thread_choices) if job.thread_choices else None
        ds = job.data_source(job)
        train_images, test_images = ds.train_images, ds.test_images
        train_x = as_float_images(train_images)
        mean = train_x.mean(dim=0)
        rng = np.random.default_rng(job.train.seed)
        probe_idx = np.sort(rng.choice(len(test_images), size=min(job.probe_count, len(test_images)), replace=False))
        probe_x = as_float_images(test_images[probe_idx])

        def stopping() -> bool:
            return stop_event.is_set() or orphaned.is_set()

        # Pausing, single steps and slow motion block in the pacer, between two
        # batches, so a paused run uses no CPU.
        pacer = Pacer(pacing, paused=pause_event.is_set, stopped=stopping,
                      on_hold=lambda: send_snapshots(unsent=True))

        def before_batch(step: int) -> None:
            if pacer.admit(step) and tuner is not None:
                tuner.interrupted()  # a pause or slow motion is not a slower machine

        trainers = []
        for i, config in enumerate(job.configs):
            model = build_model(config, data_mean=mean, seed=job.train.seed + i)
            test_x = test_images[probe_idx] if job.test_on_probes else test_images
            trainers.append(Trainer(model, config=job.train, train_x=train_x, test_x=test_x, should_stop=stopping,
                                    eval_share=job.eval_share, before_batch=before_batch))
        train_labels = np.asarray(ds.train_labels)
        total = trainers[0].total_steps
        queue.put(
            JobStarted(
                ds.title, ds.source, ds.is_subset, len(train_images), len(test_images), total,
                str(trainers[0].device), probe_idx, np.asarray(ds.test_labels)[probe_idx],
            )
        )

        curves = [_Curve(every=max(1, total // 2000)) for _ in trainers]
        last_info: list[StepInfo | None] = [None] * len(trainers)
        gens = [t.steps() for t in trainers]
        alive = [True] * len(trainers)
        # When each model's last snapshot went out: time-based snapshots keep their
        # cost (the probe codes, a few per cent of training each) near a fixed share
        # of training, and an epoch's snapshot counts as that second's.
        sent_at = [-math.inf] * len(trainers)
        sent_step = [0] * len(trainers)

        def send_snapshots(only: int | None = None, *, older_than: float | None = None, unsent: bool = False) -> None:
            paced = pacer.paced()
            for i, t in enumerate(trainers):
                info = last_info[i]
                if only is not None and i != only:
                    continue
                if info is None or (older_than is not None and sent_at[i] > older_than):
                    continue
                if unsent and sent_step[i] == info.step:
                    continue
                sent_at[i] = time.perf_counter()
                sent_step[i] = info.step
                was_training = t.model.training
                t.model.eval()
                batch_codes = batch_labels = None
                with torch.inference_mode():
                    codes = t.model.embed(probe_x.to(t.device)).cpu().numpy()
                    if paced and t.last_batch is not None:
                        batch_codes = t.model.embed(t.train_x[t.last_batch]).cpu().numpy()
                        batch_labels = train_labels[t.last_batch.cpu().numpy()]
                t.model.train(was_training)
                steps, values = curves[i].take()
                queue.put(
                    ModelSnapshot(
                        index=i,
                        kind=t.model.kind,
                        latent=t.model.latent,
                        epoch=info.epoch,
                        step=info.step,
                        total_steps=info.total_steps,
                        samples_per_s=info.samples_per_s,
                        losses=dict(info.losses),
                        curve_steps=steps,
                        curve_losses=values,
                        probe_codes=codes,
                        decoder_state=_decoder_state(t.model),
                        threads=torch.get_num_threads(),
                        batch_codes=batch_codes,
                        batch_labels=batch_labels,
                        made_at=time.monotonic(),
                    )
                )

        while any(alive):
            stepped = False
            for i, g in enumerate(gens):
                if not alive[i]:
                    continue
                try:
                    item = next(g)
                except StopIteration:
                    alive[i] = False
                    continue
                if isinstance(item, StepInfo):
                    stepped = True
                    last_info[i] = item
                    curves[i].add(item)
                    if tuner is not None:
                        tuner.step(job.train.batch_size)
                elif isinstance(item, EpochInfo):
                    # The epoch's codes and curve with its report, unless a snapshot
                    # went out moments ago (epochs of a second would double the rate).
                    send_snapshots(only=i, older_than=time.perf_counter() - job.snapshot_interval_s / 2)
                    queue.put(EpochReport(i, trainers[i].model.kind, item.epoch, item.epochs, item.train, item.test))
            if stepped and pacer.paced():
                # Slow motion and single steps are watched step by step.
                send_snapshots()
                continue
            due = time.perf_counter() - job.snapshot_interval_s
            if min(sent_at) <= due:
                send_snapshots(older_than=due)
        send_snapshots()
        stopped = any(t.result.stopped for t in trainers)
        paths = _save_all(job, trainers, ds, stopped=stopped)
        warnings = tuple(f"{t.model.config.title}: {w}" for t in trainers
                         if (w := divergence_warning(t.result, lr=job.train.lr)) is not None)
        queue.put(JobFinished(stopped=stopped, checkpoints=paths, seconds=time.perf_counter() - t0, warnings=warnings))
    except NonFiniteLossError as exc:
        paths = ()
        message = str(exc)
        try:
            paths = _save_all(job, trainers, ds, stopped=True, status="last good weights")
        except checkpoint.CheckpointError as save_exc:
            message = f"{message} Saving them failed, so nothing was saved: {save_exc}"
        except Exception as save_exc:  # the message must still reach the panel
            log.exception("saving the last good weights failed")
            message = f"{message} Saving them failed, so nothing was saved: {type(save_exc).__name__}: {save_exc}"
        queue.put(JobFailed(message, paths))
    except (data.DataError, TrainingError, checkpoint.CheckpointError, files.NotWritableError) as exc:
        queue.put(JobFailed(str(exc)))
    except Exception as exc:  # never let the child die silently
        log.error("training job failed:\n%s", traceback.format_exc())
        queue.put(JobFailed(f"training failed unexpectedly: {type(exc).__name__}: {exc}"))


def _save_all(job: TrainJob, trainers: list[Trainer], ds: data.Dataset, *, stopped: bool, status: str = "") -> tuple[str, ...]:
    if job.out_dir is None:
        return ()
    from models.sources import describe

    out = Path(job.out_dir)
    paths = []
    for t in trainers:
        meta = run_meta(
            dataset=ds.name, source=ds.source, config=job.train, result=t.result,
            status=status or ("stopped early" if stopped else "complete"), description=describe(ds),
        )
        paths.append(str(checkpoint.save_checkpoint(out / f"{t.model.kind}.pt", t.model.cpu(), meta=meta)))
    return tuple(paths)

