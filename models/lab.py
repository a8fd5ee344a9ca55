"""The concept lab's computations: plain numpy / torch, usable from a notebook.

- Losses: MSE, L1 and cosine similarity between two vectors, and between a
  digit and altered copies of it (brighter, dimmer, shifted, noisy, inverted),
  ranked by each loss.
- A linear autoencoder learns PCA: train a linear AE and follow its
  reconstruction error and the principal angles between its decoder's column
  space and the top principal components.
- Undercomplete against overcomplete: autoencoders and denoising autoencoders
  of several latent sizes, and how much of the noise in their input reaches
  their output.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from models import corrupt, losses, metrics
from models.data import as_float_images
from models.nets import LinearAE, Model, NetConfig, build_model, init_output_bias, make_network
from models.train import EpochInfo, TrainConfig, Trainer

# --------------------------------------------------------------------------- losses


class VectorError(ValueError):
    """Two vectors whose losses cannot be computed; the message says why."""


@dataclass(frozen=True)
class LossInfo:
    name: str
    title: str
    range_text: str
    better: str  # "lower" or "higher": which way means "closer"
    description: str


LOSSES: tuple[LossInfo, ...] = (
    LossInfo("mse", "MSE", "[0, ∞)", "lower",
             "Mean squared error: the average of the squared differences. Large errors count quadratically."),
    LossInfo("l1", "L1", "[0, ∞)", "lower",
             "Mean absolute error: the average of the absolute differences. Every unit of error counts the same."),
    LossInfo("cosine", "Cosine similarity", "[−1, 1]", "higher",
             "The cosine of the angle between the two vectors: 1 same direction, 0 orthogonal, −1 opposite. "
             "It ignores their lengths."),
)


@dataclass(frozen=True)
class LossValues:
    mse: float
    l1: float
    cosine: float  # NaN when either vector is zero (no direction)

    def as_dict(self) -> dict[str, float]:
        return {"mse": self.mse, "l1": self.l1, "cosine": self.cosine}


_NUMBER_SPLIT = re.compile(r"[\s,;]+")


def parse_vector(text: str) -> np.ndarray:
    """'3, 4' or '3 4' or '(3; 4)' -> float array; raises VectorError naming the bad entry."""
    stripped = text.strip().strip("()[]").strip()
    if not stripped:
        raise VectorError("the vector is empty; type numbers separated by spaces or commas, e.g. 3, 4")
    values = []
    for part in _NUMBER_SPLIT.split(stripped):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise VectorError(f"{part!r} is not a number") from None
        if not math.isfinite(value):
            raise VectorError(f"{part!r} is not a finite number")
        values.append(value)
    if not values:
        raise VectorError("the vector is empty; type numbers separated by spaces or commas, e.g. 3, 4")
    return np.array(values, dtype=np.float64)


def vector_losses(x: np.ndarray | list[float], x_hat: np.ndarray | list[float]) -> LossValues:
    """MSE, L1 and cosine similarity between x and x_hat (equal, non-zero lengths)."""
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(x_hat, dtype=np.float64).reshape(-1)
    if a.size == 0 or b.size == 0:
        raise VectorError("a vector is empty; both need at least one number")
    if a.size != b.size:
        raise VectorError(f"x has {a.size} numbers and x̂ has {b.size}; the losses compare them entry by entry, "
                          "so they need the same length")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise VectorError("the vectors must hold finite numbers")
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    cosine = float(losses.cosine_similarity(tb, ta)[0]) if (a.any() and b.any()) else math.nan
    return LossValues(mse=float(losses.mse(tb, ta)[0]), l1=float(losses.l1(tb, ta)[0]), cosine=cosine)


def format_loss(value: float) -> str:
    """A loss value as the lab and the CLI print it."""
    if math.isnan(value):
        return "undefined (a zero vector has no direction)"
    return f"{value:.4g}"


@dataclass(frozen=True)
class Alteration:
    name: str
    title: str
    description: str


ALTERATIONS: tuple[Alteration, ...] = (
    Alteration("brighter", "Brighter", "every pixel × 1.5, clipped at white"),
    Alteration("dimmer", "Dimmer", "every pixel × 0.5: the same direction, half the length"),
    Alteration("shifted", "Shifted", "moved one pixel to the right"),
    Alteration("noisy", "Noisy", "Gaussian noise of σ = 0.2 added, clipped to [0, 1]"),
    Alteration("inverted", "Inverted", "1 − x: black and white swapped"),
)


def altered_copies(image: np.ndarray, *, seed: int = 0) -> dict[str, np.ndarray]:
    """The ALTERATIONS of one image (H, W) in [0, 1], as float32 arrays of the same shape."""
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected one image (H, W), got shape {x.shape}")
    noisy = corrupt.corrupt(x[None], "gaussian", 0.2, seed=seed)[0]
    return {
        "brighter": np.clip(1.5 * x, 0.0, 1.0),
        "dimmer": 0.5 * x,
        # Digits have an empty border, so rolling never wraps ink around.
        "shifted": np.roll(x, 1, axis=1),
        "noisy": noisy.astype(np.float32),
        "inverted": 1.0 - x,
    }


@dataclass(frozen=True)
class AlterationTable:
    """The three losses between one digit (x) and each altered copy (x̂)."""

    original: np.ndarray  # (H, W)
    names: tuple[str, ...]
    images: np.ndarray  # (n, H, W)
    values: tuple[LossValues, ...]

    def value(self, name: str, loss: str) -> float:
        return self.values[self.names.index(name)].as_dict()[loss]

    def ranking(self, loss: str) -> list[str]:
        """The copies from the most to the least similar to the original by ``loss``."""
        info = next(i for i in LOSSES if i.name == loss)
        sign = -1.0 if info.better == "higher" else 1.0
        return sorted(self.names, key=lambda n: (sign * self.value(n, loss), self.names.index(n)))


def alteration_table(image: np.ndarray, *, seed: int = 0) -> AlterationTable:
    """Altered copies of ``image`` and their MSE, L1 and cosine similarity to it."""
    copies = altered_copies(image, seed=seed)
    names = tuple(a.name for a in ALTERATIONS)
    values = tuple(vector_losses(image, copies[n]) for n in names)
    return AlterationTable(np.asarray(image, dtype=np.float32).copy(), names, np.stack([copies[n] for n in names]), values)


# --------------------------------------------------------------------------- linear AE = PCA

PIXELS = 784


def _digit_rows(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Float rows (N, 784) of 28x28 images; a clear error for anything else."""
    x = as_float_images(images)
    if x.shape[1] != PIXELS:
        raise ValueError(f"the lab's models take 28x28 images ({PIXELS} pixels); these have "
                         f"{'x'.join(map(str, images.shape[1:]))} ({x.shape[1]} pixels)")
    return x



def basis_images(vectors: np.ndarray, shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """Rows of ``vectors`` (k, D) as images in [0, 1] for display: 0 is mid-grey and each
    row is scaled by its own largest magnitude (their scale and sign are arbitrary)."""
    v = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    peak = np.abs(v).max(axis=1, keepdims=True)
    v = v / np.where(peak > 0, peak, 1.0)
    return (0.5 + 0.5 * v).reshape(len(v), *shape).astype(np.float32)


@dataclass(frozen=True)
class LinearPcaPoint:
    """One look at a linear AE while it trains (numpy copies; safe to hand to another thread)."""

    step: int
    total_steps: int
    epoch: float  # fractional epochs done
    mse: float  # per-pixel reconstruction MSE on all images
    angles: np.ndarray  # (k,) principal angles in degrees, ascending
    decoder: np.ndarray  # (k, D) decoder columns as rows
    projected_pcs: np.ndarray  # (k, D) the principal components projected onto the decoder's span

    @property
    def max_angle(self) -> float:
        return float(self.angles.max())


class LinearPcaRun:
    """Train a linear AE on images and compare it with PCA as it goes.

    ``points()`` trains and yields a LinearPcaPoint every ``record_every`` steps
    and at the end. Errors are measured on the training images (PCA's error there is
    the least any k-dimensional affine code can reach): ``pca_mse`` is the line the
    AE's error approaches from above.
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        *,
        latent: int = 2,
        epochs: int = 20,
        lr: float = 1e-2,
        batch_size: int = 128,
        seed: int = 0,
        record_every: int = 20,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.x = _digit_rows(images)
        if not 1 <= latent < self.x.shape[1]:
            raise ValueError(f"latent size must be between 1 and {self.x.shape[1] - 1}, got {latent}")
        self.latent = latent
        # One more component than the AE has: the gap to it says how well the subspace is determined.
        self.pca = metrics.pca_fit(self.x, latent + 1)
        self.pcs = self.pca.components[:latent]
        top_k = metrics.PCA(mean=self.pca.mean, components=self.pcs, explained_variance=self.pca.explained_variance[:latent])
        self.pca_mse = top_k.reconstruction_mse(self.x.numpy())
        self.model = make_network(LinearAE, NetConfig(kind="linear", latent=latent), seed=seed)
        init_output_bias(self.model, self.x.mean(dim=0))
        config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device="cpu")
        self.trainer = Trainer(self.model, config=config, train_x=self.x, should_stop=should_stop)
        self.record_every = max(1, record_every)

    @property
    def variances(self) -> np.ndarray:
        """Variance along principal components 1 .. latent + 1."""
        return self.pca.explained_variance

    def pc_images(self) -> np.ndarray:
        return basis_images(self.pcs)

    @torch.no_grad()
    def look(self, step: int = 0) -> LinearPcaPoint:
        """The model as it is now, compared with PCA."""
        decoder = self.model.subspace().cpu().numpy().astype(np.float64)  # (D, k)
        pcs = self.pcs.T  # (D, k), orthonormal
        q, _ = np.linalg.qr(decoder)
        projected = (q @ (q.T @ pcs)).T
        total = self.trainer.total_steps
        steps_per_epoch = max(1, total // self.trainer.config.epochs)
        return LinearPcaPoint(
            step=step,
            total_steps=total,
            epoch=step / steps_per_epoch,
            mse=metrics.reconstruction_mse(self.model, self.x),
            angles=metrics.principal_angles(decoder, pcs),
            decoder=decoder.T.copy(),
            projected_pcs=projected,
        )

    def points(self) -> Iterator[LinearPcaPoint]:
        yield self.look(0)
        last = 0
        for info in self.trainer.steps():
            if isinstance(info, EpochInfo):
                continue
            if info.step % self.record_every == 0:
                last = info.step
                yield self.look(info.step)
                self.model.train()
        if self.trainer.result.stopped:
            return
        final = self.trainer.total_steps
        if last != final:
            yield self.look(final)


# --------------------------------------------------------------------------- under/overcomplete

CAPACITY_SIZES = (2, 32, 128, 1024)
CAPACITY_NOISE = 0.3  # sigma of the Gaussian noise of the test inputs and the DAE's training inputs


CAPACITY_OUTPUTS = ("linear", "sigmoid")


def capacity_config(kind: str, latent: int, *, noise_level: float = CAPACITY_NOISE) -> NetConfig:
    """A one-layer encoder x -> z and decoder z -> Wz + b (no hidden layers, so the
    latent size alone sets the capacity); ``kind`` is "ae" or "dae"."""
    if kind not in ("ae", "dae"):
        raise ValueError(f"kind must be 'ae' or 'dae', got {kind!r}")
    return NetConfig(kind=kind, latent=latent, hidden=(), noise="gaussian", noise_level=noise_level)


def capacity_model(kind: str, latent: int, *, output: str = "linear", noise_level: float = CAPACITY_NOISE,
                   data_mean: torch.Tensor | None = None, seed: int | None = None) -> Model:
    """An untrained capacity model. ``output="linear"``: decoder output Wz + b, which can
    be exactly the identity once latent >= 784; ``"sigmoid"``: the project's AE / DAE
    with sigmoid(Wz + b), whose saturated black and white pixels barely pass noise."""
    config = capacity_config(kind, latent, noise_level=noise_level)
    if output == "sigmoid":
        return build_model(config, data_mean=data_mean, seed=seed)
    if output != "linear":
        raise ValueError(f"output must be one of {', '.join(CAPACITY_OUTPUTS)}, got {output!r}")
    # The linear AE class with the config's kind: the Trainer corrupts the inputs of a "dae".
    model = make_network(LinearAE, config, seed=seed)
    if data_mean is not None:
        with torch.no_grad():
            model.decoder.bias.copy_(data_mean.reshape(-1))
    return model


@torch.no_grad()
def noise_kept(model: Model, clean: torch.Tensor, noisy: torch.Tensor) -> float:
    """The fraction of the added noise that reaches the output: the least-squares slope of
    f(noisy) − f(clean) on noisy − clean. 1: copied (the identity); 0: removed."""
    eps = (noisy - clean).reshape(clean.shape[0], -1)
    moved = metrics.reconstruct(model, noisy) - metrics.reconstruct(model, clean)
    return float((moved * eps).sum() / (eps * eps).sum().clamp_min(1e-12))


@dataclass(frozen=True)
class CapacityResult:
    """How one trained model treats noisy test digits (numpy and floats only)."""

    kind: str  # "ae" or "dae"
    latent: int
    clean_mse: float  # reconstructing clean digits
    denoised_mse: float  # output for the noisy digits against the clean ones
    noisy_mse: float  # the noisy inputs against the clean ones: what doing nothing scores
    noise_kept: float
    outputs: np.ndarray  # (n, H, W) outputs for the shown noisy examples


@dataclass(frozen=True)
class CapacityProgress:
    """Training progress of one AE + DAE pair (sent while training)."""

    latent: int
    step: int
    total_steps: int
    losses: dict[str, float]  # "ae", "dae": latest training loss


def capacity_split(images: np.ndarray | torch.Tensor, *, test_count: int = 500, noise_level: float = CAPACITY_NOISE,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train, clean_test, noisy_test) float tensors (N, D): the last ``test_count`` images
    are held out and get fixed Gaussian noise; the models never train on them."""
    x = _digit_rows(images)
    if x.shape[0] < 2 * test_count:
        test_count = x.shape[0] // 4
    if test_count < 1:
        raise ValueError(f"need at least 4 images to train and test, got {x.shape[0]}")
    clean = x[-test_count:]
    return x[:-test_count], clean, corrupt.corrupt(clean, "gaussian", noise_level, seed=seed)


def evaluate_capacity(model: Model, clean: torch.Tensor, noisy: torch.Tensor, *, show: int = 6) -> CapacityResult:
    """The figures of one capacity model on a fixed noisy test set."""
    side = int(math.isqrt(clean.shape[1]))
    return CapacityResult(
        kind=model.kind,
        latent=model.latent,
        clean_mse=metrics.reconstruction_mse(model, clean),
        denoised_mse=metrics.reconstruction_mse(model, clean, x_in=noisy),
        noisy_mse=float(losses.mse(noisy, clean).mean()),
        noise_kept=noise_kept(model, clean, noisy),
        outputs=metrics.reconstruct(model, noisy[:show]).reshape(-1, side, side).numpy(),
    )


def train_capacity_pair(
    images: np.ndarray | torch.Tensor,
    latent: int,
    *,
    epochs: int = 5,
    lr: float = 3e-3,
    noise_level: float = CAPACITY_NOISE,
    output: str = "linear",
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
    report_every: int = 10,
) -> Iterator[CapacityProgress | tuple[Model, Model]]:
    """Train an AE (clean -> clean) and a DAE (x + noise -> x) of one latent size in
    lockstep; yields CapacityProgress now and then and finally the (ae, dae) pair,
    unless stopped. (At lr 1e-2 a wide sigmoid DAE's outputs can die: all black.)"""
    x = as_float_images(images)
    mean = x.mean(dim=0)
    config = TrainConfig(epochs=epochs, lr=lr, seed=seed, device="cpu")
    trainers = {}
    for kind in ("ae", "dae"):
        model = capacity_model(kind, latent, output=output, noise_level=noise_level, data_mean=mean, seed=seed)
        trainers[kind] = Trainer(model, config=config, train_x=x, should_stop=should_stop)
    loops = {k: t.steps() for k, t in trainers.items()}
    latest: dict[str, float] = {}
    while True:
        infos = {k: next(loop, None) for k, loop in loops.items()}
        if all(i is None for i in infos.values()):
            break
        for k, info in infos.items():
            if info is not None and not isinstance(info, EpochInfo):
                latest[k] = info.losses["loss"]
                step, total = info.step, info.total_steps
                if k == "dae" and (step % report_every == 0 or step == total):
                    yield CapacityProgress(latent, step, total, dict(latest))
    if any(t.result.stopped for t in trainers.values()):
        return
    yield trainers["ae"].model, trainers["dae"].model
