"""A training loop with callbacks; it knows nothing of threads or widgets."""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from models import data, losses, metrics
from models.distributed import Group
from models.nets import VAE, Model

T = TypeVar("T")
log = logging.getLogger(__name__)

DEVICE_ENV = "LATENT_EXPLORER_DEVICE"
# How many pixel-space neighbours of each image the neighbour term draws its partner
# from: near enough to be the same digit nearly always, enough not to pin one pair.
NEIGHBOUR_K = 10


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what to change."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; the model holds the last good weights."""


def flush_denormals() -> None:
    """Treat denormal floats (below 1.2e-38) as zero in this thread and in every thread
    it starts afterwards; call it when a process starts, before torch's first parallel
    operation creates the worker threads (they keep the setting they were born with).

    As a run goes on, some weights, gradients and Adam moments drift into the denormal
    range, where x86 CPUs compute many times slower: the 2-D VAE on 2 cores fell from
    9,000 to 6,500 samples/s within 24 epochs, and held 9,000 with them flushed.
    Values that small are far below anything a loss can feel.
    """
    torch.set_flush_denormal(True)


def select_device(preference: str | None = None) -> torch.device:
    """CUDA, then MPS, then CPU; ``preference`` or $LATENT_EXPLORER_DEVICE overrides."""
    pref = (preference or os.environ.get(DEVICE_ENV) or "auto").lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError("CUDA was requested but torch sees no CUDA GPU; use --device cpu or install a CUDA build of torch")
    index = pref.partition(":")[2]
    if pref.startswith("cuda:") and index.isdigit() and int(index) >= torch.cuda.device_count():
        raise TrainingError(
            f"{pref} was requested but torch sees {torch.cuda.device_count()} CUDA GPU(s), numbered from 0; use --device cuda"
        )
    if pref == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TrainingError("MPS was requested but is not available on this machine; use --device cpu")
    try:
        return torch.device(pref)
    except RuntimeError as exc:
        raise TrainingError(f"unknown device {pref!r}: use auto, cpu, cuda or mps") from exc


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    # Cosine decay to lr * min_lr_ratio over the run; "constant" keeps lr.
    schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    # How often (in steps) to keep a copy of the weights to fall back to on NaN.
    keep_every: int = 50
    # Dynamic binarisation: every batch's pixels drawn anew as Bernoulli(grey level), and
    # the test figures on the test set binarised once (seed 0); the standard protocol for
    # likelihoods on MNIST.
    binarize: bool = False
    # Writer augmentation (models.augment): the expected share of each batch the encoder
    # sees as another writer and scanner would have made it (0: off), drawn from this
    # many distorted copies of the training set made before the first step.
    augment: float = 0.0
    augment_copies: int = 2
    # Train the encoder alone, the decoder kept as it is (from a warm start). A VAE's
    # density p(x) is its decoder and prior: an encoder taught other writers' digits
    # this way leaves the model's likelihood as it was and moves only its inference.
    freeze_decoder: bool = False
    # With augmentation: the weight of the nearest-code term (models.losses.nearest_code_loss,
    # in the loss's own units: per-pixel error for an AE, nats for a VAE) that asks every
    # distorted digit's code to lie nearest its own original's among the batch's (0: off).
    invariance: float = 0.0
    # The weight of the neighbour term (models.losses.neighbour_loss, in the loss's own
    # units): every image's code is asked to lie nearest the code of one of its
    # NEIGHBOUR_K nearest training images in pixel space (models.neighbours) among the
    # batch's partners (0: off). It keeps classes apart in a 2-D plane.
    neighbours: float = 0.0
    # The Cauchy kernel's width for that term, as a share of the mean squared distance
    # between codes (models.losses.neighbour_loss; docs/benchmarks.md has the trials).
    neighbour_width: float = 1e-3

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise TrainingError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise TrainingError(f"batch size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"learning rate must be a positive number, got {self.lr}")
        if self.schedule not in ("cosine", "constant"):
            raise TrainingError(f"unknown schedule {self.schedule!r}; use cosine or constant")
        if isinstance(self.keep_every, bool) or not isinstance(self.keep_every, int) or self.keep_every < 1:
            raise TrainingError(f"keep_every must be a whole number of steps >= 1, got {self.keep_every!r}")
        if not 0 <= self.augment <= 1:
            raise TrainingError(f"the augmented share must be between 0 and 1, got {self.augment}")
        if self.augment_copies < 1:
            raise TrainingError(f"augmentation needs at least one distorted copy, got {self.augment_copies}")
        if not (math.isfinite(self.invariance) and self.invariance >= 0):
            raise TrainingError(f"the invariance weight must be a number >= 0, got {self.invariance}")
        if self.invariance > 0 and self.augment == 0:
            raise TrainingError("the invariance term pairs distorted digits with their originals: it needs augmentation")
        if not (math.isfinite(self.neighbours) and self.neighbours >= 0):
            raise TrainingError(f"the neighbour weight must be a number >= 0, got {self.neighbours}")
        if not (math.isfinite(self.neighbour_width) and self.neighbour_width > 0):
            raise TrainingError(f"the neighbour kernel's width must be a positive number, got {self.neighbour_width}")


@dataclass(frozen=True)
class StepInfo:
    epoch: int  # 0-based
    step: int  # global, 1-based
    total_steps: int
    samples: int  # seen so far
    losses: dict[str, float]
    samples_per_s: float
    lr: float


@dataclass(frozen=True)
class EpochInfo:
    epoch: int  # 1-based count of finished epochs
    epochs: int
    train: dict[str, float]
    test: dict[str, float]
    seconds: float


@dataclass
class TrainResult:
    epochs_done: int = 0
    stopped: bool = False
    history: list[EpochInfo] = field(default_factory=list)
    # The loss of the very first batch: the untrained model's, what divergence is measured against.
    first_loss: float | None = None

    @property
    def final_test(self) -> dict[str, float]:
        """The latest epoch's test figures (epochs skipped by an evaluation budget have none)."""
        return next((h.test for h in reversed(self.history) if h.test), {})


@torch.no_grad()
def evaluate(model: Model, x: torch.Tensor, *, seed: int = 0) -> dict[str, float]:
    """Test figures shown after each epoch: MSE for every model, plus NELBO terms for the VAE
    and the denoised MSE for a denoising AE."""
    was_training = model.training
    model.eval()
    out: dict[str, float] = {"mse": metrics.reconstruction_mse(model, x)}
    if isinstance(model, VAE):
        out.update(metrics.negative_elbo(model, x, seed=seed))
    elif model.kind == "dae":
        from models import corrupt  # only denoising models need it

        noisy = corrupt.corrupt(x, model.config.noise, model.config.noise_level, seed=seed)
        out["denoise_mse"] = metrics.reconstruction_mse(model, x, x_in=noisy)
        out["psnr_noisy"], out["psnr_out"] = metrics.denoising_psnr(model, noisy, x)
    model.train(was_training)
    return out


class Trainer:
    """Trains one model on float images; reports through callbacks.

    on_step(StepInfo) runs after every optimiser step, on_epoch(EpochInfo) after
    every epoch, should_stop() is checked before every batch. before_batch(step) is
    called with each batch's global 1-based step number before it starts and may
    block (a paced run: models.pacing); should_stop is asked again after it.
    ``last_batch`` holds the indices into the training images of the latest step's
    batch (a paced run shows where those images are now). A stop leaves the
    model with its latest weights; a non-finite loss restores the last good
    weights and raises NonFiniteLossError.

    The test figures are taken after every epoch, or, with eval_share, only as often
    as keeps them under that share of the run's time: short epochs (the bundled
    10,000 images) then skip some, whose EpochInfo.test is empty. The first and the
    last epoch are always evaluated.

    With a ``group`` (models/distributed.py, under torchrun) each epoch trains on this
    rank's shard of the permutation, the loss runs through DistributedDataParallel so
    gradients are averaged over the ranks, and the reported losses are the ranks' mean;
    ``self.model`` stays the plain module (what a checkpoint saves).
    """

    def __init__(
        self,
        model: Model,
        *,
        config: TrainConfig,
        train_x: np.ndarray | torch.Tensor,
        test_x: np.ndarray | torch.Tensor | None = None,
        on_step: Callable[[StepInfo], None] | None = None,
        on_epoch: Callable[[EpochInfo], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        eval_share: float | None = None,
        before_batch: Callable[[int], None] | None = None,
        on_prepare: Callable[[int, int], None] | None = None,
        group: Group | None = None,
    ):
        if eval_share is not None and not 0 < eval_share <= 1:
            raise TrainingError(f"eval_share must be in (0, 1], got {eval_share}")
        self.config = config
        self.eval_share = eval_share
        self.device = select_device(config.device)
        self.model = model.to(self.device)
        self.train_x = data.as_float_images(train_x).to(self.device)
        self.test_x = None if test_x is None else data.as_float_images(test_x)
        if self.test_x is not None and config.binarize:
            self.test_x = data.binarized(self.test_x, seed=0)
        if self.train_x.shape[0] == 0:
            raise TrainingError("the training set is empty")
        self.on_step = on_step
        self.on_epoch = on_epoch
        self.should_stop = should_stop
        self.before_batch = before_batch
        # Progress of the work before the first step (the augmented copies): (done, total).
        self.on_prepare = on_prepare
        self.last_batch: torch.Tensor | None = None
        self._stop_requested = False
        if config.freeze_decoder:
            decoder = getattr(self.model, "decoder", None)
            if not isinstance(decoder, torch.nn.Module):
                raise TrainingError(f"{type(self.model).__name__} has no separate decoder to keep")
            decoder.requires_grad_(False)
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=config.lr)
        self.result = TrainResult()
        self.group = group
        if group is not None and (config.invariance > 0 or config.neighbours > 0):
            # The terms run the encoder outside DistributedDataParallel's forward, whose
            # gradient averaging would then not be what it expects.
            raise TrainingError("the invariance and neighbour terms are not available under torchrun; train in one process")
        # What the loss calls: the model itself, or its view through DDP.
        self._net = self.model if group is None else group.wrap(self.model)
        self.total_steps = math.ceil(self._local_count() / config.batch_size) * config.epochs

    def _local_count(self) -> int:
        """How many training images this process sees an epoch (its shard under torchrun)."""
        n = self.train_x.shape[0]
        return n if self.group is None else self.group.shard_size(n)

    def _evaluation_due(self, epoch: int, trained_s: float, last_eval_s: float) -> bool:
        """Evaluate after this epoch? Always without a budget, and for the first and
        last epoch; otherwise once the training since the last evaluation (trained_s)
        is long enough for that evaluation's cost (last_eval_s) to be within the share."""
        if self.eval_share is None or epoch == 0 or epoch == self.config.epochs - 1:
            return True
        return last_eval_s <= self.eval_share * trained_s

    def request_stop(self) -> None:
        """Ask the loop to stop before its next batch (safe from another thread)."""
        self._stop_requested = True

    def _stopping(self) -> bool:
        return self._stop_requested or (self.should_stop is not None and self.should_stop())

    def _lr_at(self, step: int, total: int) -> float:
        c = self.config
        if c.schedule == "constant" or total <= 1:
            return c.lr
        floor = c.lr * c.min_lr_ratio
        return floor + 0.5 * (c.lr - floor) * (1 + math.cos(math.pi * step / total))

    def _prepared(self, make: Callable[[], T], refused: type[Exception]) -> T | None:
        """What ``make`` prepares before the first step (augmented copies, the neighbour
        table), its ``refused`` errors as a TrainingError; None when the user stopped it
        meanwhile (the result then says stopped)."""
        try:
            return make()
        except refused as exc:
            raise TrainingError(str(exc)) from None
        except InterruptedError:
            self.result = TrainResult(stopped=True)
            self._stop_requested = False
            return None

    def fit(self) -> TrainResult:
        """Run the configured number of epochs (or until stopped)."""
        for _ in self.steps():
            pass
        return self.result

    def steps(self):
        """The training loop as a generator: yields a StepInfo after every optimiser
        step (and an EpochInfo after every epoch), so that several models can be
        trained in lockstep by one caller. ``self.result`` holds the outcome."""
        c = self.config
        model, x = self.model, self.train_x
        n = x.shape[0]
        steps_per_epoch = math.ceil(self._local_count() / c.batch_size)
        total = steps_per_epoch * c.epochs
        self.total_steps = total
        # The run's own generators, never the global RNG: trainers run side by side in
        # the GUI's threads, and one must not reseed (or be reseeded by) another.
        gen = torch.Generator().manual_seed(c.seed)  # batch order: the same permutation on every rank
        # Each rank its own noise (its images differ, their noise should not repeat); rank 0 a plain run's.
        rank_offset = 0 if self.group is None else self.group.rank << 32
        noise_gen = torch.Generator(device=self.device).manual_seed(c.seed + 1 + rank_offset)  # DAE corruption, VAE epsilon
        denoising = model.kind == "dae"
        if denoising:
            from models import corrupt
        augment = None
        if c.augment > 0:
            from models.augment import AugmentError, WriterAugment

            augment = self._prepared(lambda: WriterAugment(
                x, share=c.augment, copies=c.augment_copies, seed=c.seed,
                progress=self.on_prepare, should_stop=self._stopping,
            ), AugmentError)
            if augment is None:
                return
            aug_gen = torch.Generator().manual_seed(c.seed + 2 + rank_offset)
        table = None
        if c.neighbours > 0:
            from models.neighbours import pixel_neighbours

            table = self._prepared(lambda: pixel_neighbours(
                x, NEIGHBOUR_K, progress=self.on_prepare, should_stop=self._stopping
            ), ValueError)
            if table is None:
                return
            table = table.to(self.device)
            nb_gen = torch.Generator(device=self.device).manual_seed(c.seed + 3 + rank_offset)
        good = {k: v.detach().clone() for k, v in model.state_dict().items()}
        result = self.result = TrainResult()
        step = samples = 0
        t_start = time.perf_counter()
        # Seconds trained since the last evaluation, and what that evaluation took.
        trained_s = last_eval_s = 0.0
        model.train()
        for epoch in range(c.epochs):
            t_epoch = time.perf_counter()
            sums: dict[str, float] = {}
            count = 0
            order = torch.randperm(n, generator=gen)
            if self.group is not None:
                order = self.group.shard(order)
            order = order.to(self.device)
            for i in range(steps_per_epoch):
                if self.before_batch is not None and not self._stopping():
                    self.before_batch(step + 1)
                if self._stopping():
                    result.stopped = True
                    # The request is used up: a later fit() on this Trainer runs again.
                    self._stop_requested = False
                    model.eval()
                    return
                lr = self._lr_at(step, total)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.last_batch = order[i * c.batch_size : (i + 1) * c.batch_size]
                batch = x[self.last_batch]
                # With augmentation the encoder may see a distorted copy, while the loss
                # always asks for the original image (models/augment.py says why).
                rows = None
                if augment is not None:
                    x_in, rows = augment.replaced(batch, self.last_batch, aug_gen)
                else:
                    x_in = batch
                if c.binarize:
                    distorted = x_in is not batch
                    batch = data.binarized(batch, generator=noise_gen)
                    x_in = data.binarized(x_in, generator=noise_gen) if distorted else batch
                moved = x_in  # the distorted rows as the term sees them: before any corruption
                if denoising:
                    x_in = corrupt.corrupt(x_in, model.config.noise, model.config.noise_level, generator=noise_gen)
                out = losses.model_loss(self._net, x_in, batch, noise_gen)
                if c.invariance > 0 and rows is not None:
                    out["invariance"] = losses.nearest_code_loss(model.embed(moved[rows]), model.embed(batch), rows)
                    out["loss"] = out["loss"] + c.invariance * out["invariance"]
                if table is not None:
                    pick = torch.randint(0, table.shape[1], (len(batch),), generator=nb_gen, device=self.device)
                    near = x[table[self.last_batch, pick]]
                    if c.binarize:
                        near = data.binarized(near, generator=noise_gen)
                    z, z_near = model.embed(batch), model.embed(near)
                    out["neighbours"] = losses.neighbour_loss(z, z_near, width=c.neighbour_width)
                    out["loss"] = out["loss"] + c.neighbours * out["neighbours"]
                loss = out["loss"]
                if self.group is None:
                    values = {k: v.item() for k, v in out.items()}
                else:
                    means = self.group.mean(torch.stack([v.detach() for v in out.values()]))
                    values = {k: float(v) for k, v in zip(out, means, strict=True)}
                if not all(math.isfinite(v) for v in values.values()):
                    model.load_state_dict(good)
                    model.eval()
                    raise NonFiniteLossError(
                        f"the loss became {values['loss']} at epoch {epoch + 1}, step {step + 1}; "
                        f"the learning rate ({c.lr:g}) is probably too high. "
                        "The model keeps its last good weights."
                    )
                if result.first_loss is None:
                    result.first_loss = values["loss"]
                if step % c.keep_every == 0:
                    for k, v in model.state_dict().items():
                        good[k].copy_(v)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                step += 1
                bs = batch.shape[0]
                samples += bs
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v * bs
                count += bs
                elapsed = time.perf_counter() - t_start
                info = StepInfo(epoch, step, total, samples, values, samples / max(elapsed, 1e-9), lr)
                if self.on_step is not None:
                    self.on_step(info)
                yield info
            # A finite loss can still come with NaN gradients (overflow in the backward
            # pass); such weights must neither be reported as trained nor kept below.
            if not all(bool(torch.isfinite(v).all()) for v in model.state_dict().values()):
                model.load_state_dict(good)
                model.eval()
                raise NonFiniteLossError(
                    f"the weights became NaN or infinite in epoch {epoch + 1}; "
                    f"the learning rate ({c.lr:g}) is probably too high. "
                    "The model keeps its last good weights."
                )
            train_avg = {k: v / count for k, v in sums.items()}
            trained_s += time.perf_counter() - t_epoch
            test: dict[str, float] = {}
            if self.test_x is not None and self._evaluation_due(epoch, trained_s, last_eval_s):
                t_eval = time.perf_counter()
                test = evaluate(model, self.test_x.to(self.device), seed=c.seed)
                last_eval_s = time.perf_counter() - t_eval
                trained_s = 0.0
            model.train()
            einfo = EpochInfo(epoch + 1, c.epochs, train_avg, test, time.perf_counter() - t_epoch)
            result.history.append(einfo)
            result.epochs_done = epoch + 1
            # An epoch that ended with finite losses is a safe fallback.
            for k, v in model.state_dict().items():
                good[k].copy_(v)
            if self.on_epoch is not None:
                self.on_epoch(einfo)
            yield einfo
        model.eval()


# How far above its first batch's loss a run may end before it counts as diverged.
# Every model starts with its output at the training set's mean image, so the first
# loss is a blank guess's: a working run ends below it and a barely trained one near
# it (one batch's noise is far less than 2x), while ending at twice it means the model
# got worse than that guess. Not more: a sigmoid AE's MSE is bounded, and a collapsed
# one ends only a few times above its start, so a larger factor would miss it.
DIVERGENCE_FACTOR = 2.0


def divergence_warning(result: TrainResult, *, lr: float) -> str | None:
    """A sentence for the user when the loss stayed finite but exploded (the last epoch's
    mean training loss over DIVERGENCE_FACTOR times the first batch's), else None."""
    if result.first_loss is None or not result.history or result.first_loss <= 0:
        return None
    last = result.history[-1].train.get("loss")
    if last is None or not last > DIVERGENCE_FACTOR * result.first_loss:
        return None
    return (
        f"the training loss ended at {last:.4g}, {last / result.first_loss:.3g} times its first value "
        f"({result.first_loss:.4g}): training diverged and the model is probably useless; "
        f"the learning rate ({lr:g}) is probably too high, try 1e-3"
    )


# The TrainConfig settings a checkpoint records (device and the schedule's details are
# the machine's and the loop's, not the run's).
RECORDED_SETTINGS = ("epochs", "batch_size", "lr", "seed", "schedule", "binarize", "augment", "augment_copies",
                     "freeze_decoder", "invariance", "neighbours")


def run_meta(
    *, dataset: str, source: str, config: TrainConfig, result: TrainResult | None = None, status: str = "",
    description: Mapping[str, Any] | None = None, **extra
) -> dict:
    """What a checkpoint records about the run that made it: data (``description``: what
    the images are, models.sources.describe), settings, outcome."""
    meta = {
        "dataset": dataset,
        "dataset_source": source,
        **({"dataset_description": dict(description)} if description is not None else {}),
        "train": {k: getattr(config, k) for k in RECORDED_SETTINGS},
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "torch": torch.__version__,
        **extra,
    }
    if result is not None:
        meta.update(epochs_done=result.epochs_done, test=result.final_test)
    if status:
        meta["status"] = status
    return meta
