"""What the Train panel says about a run in words: where it trains (``run_description``)
the progress bar's line (``RunProgress``: epoch, step, speed, time left, pace) and
the loss plots' titles and lines (``loss_title``, ``loss_lines``)."""
from __future__ import annotations

import math
import time

from explorer.widgets.loss_curves import Line, Markers
from models.jobs import JobStarted, ModelSnapshot, TrainJob
from models.kinds import KIND_SHORT_NAMES
from models.nets import NetConfig

RATE_WINDOW_S = 0.5  # the shortest interval the speed is measured over
RECON_COLOUR = "#1f77b4"
KL_COLOUR = "#d62728"


def run_description(info: JobStarted) -> str:
    """The sentence under the progress bar once the run has started."""
    where = f"{info.dataset_title}, {info.train_count:,} training and {info.test_count:,} test images"
    if len(info.probe_indices) < info.test_count:
        where += f" (the test loss on {len(info.probe_indices):,} of them: the dots on the plots)"
    held_out = ""
    if info.is_subset:
        where = (f"{info.dataset_title}: the {info.train_count:,} images bundled with the app, because the full "
                 f"{info.dataset_title} set is not on disk (download it above, or start with --data-dir DIR)")
        held_out = (" The test curve is not held out: the bundled images are the training images too, so the test "
                    "figures are computed on images the model trained on.")
    else:
        where += f" ({info.dataset_source})"
    return (f"Training on {where}.{held_out} Device: {info.device}. "
            "Drag on a plot to decode with the latest weights.")


class RunProgress:
    """The current speed, measured between snapshots, and the progress bar's text."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._sample: tuple[float, int] | None = None  # (time, step) of the last rate sample
        self.steps_per_s = 0.0

    def interrupted(self) -> None:
        """A pause or a change of pace: the time until the next snapshot says nothing of the speed."""
        self._sample = None

    def take(self, snap: ModelSnapshot, *, running: bool) -> None:
        """A snapshot of the first model arrived (the others train in lockstep)."""
        now = time.monotonic()
        if self._sample is not None and running:
            t0, s0 = self._sample
            if now - t0 < RATE_WINDOW_S:
                return  # snapshots of single steps can come two in one poll: a rate needs a longer look
            if snap.step > s0:
                rate = (snap.step - s0) / (now - t0)
                self.steps_per_s = rate if self.steps_per_s == 0 else 0.7 * self.steps_per_s + 0.3 * rate
        self._sample = (now, snap.step)

    def line(self, latest: dict[int, ModelSnapshot], job: TrainJob | None, state: str,
             pace: str = "") -> tuple[float, str]:
        """(fraction done, text) for the progress bar."""
        snaps = list(latest.values())
        step = min(s.step for s in snaps)
        total = max(1, snaps[0].total_steps)
        epochs = job.train.epochs if job else 1
        per_epoch = max(1, math.ceil(total / epochs))
        epoch = min(epochs, step // per_epoch + 1)
        # The trainer's own figure averages since the start, pauses included; the rate
        # measured between snapshots follows the current speed.
        batch = job.train.batch_size if job else 1
        rate = self.steps_per_s * batch if self.steps_per_s > 0 else sum(s.samples_per_s for s in snaps) / len(snaps)
        threads = max(s.threads for s in snaps)
        speed = f"{rate:,.0f} samples/s" + (f" ({threads} thread{'s' if threads > 1 else ''})" if threads else "")
        parts = [f"Epoch {epoch}/{epochs}", f"step {step:,}/{total:,}", speed]
        if self.steps_per_s > 0 and state == "running":
            left = (total - step) / self.steps_per_s
            parts.append(f"{int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d} left" if left >= 3600
                         else f"{int(left // 60)}:{int(left % 60):02d} left")
        if pace:
            parts.append(pace)
        text = " · ".join(parts)
        if state == "paused":
            text += " · paused"
        elif state == "stopping":
            text += " · stopping…"
        return step / total, text


def loss_title(config: NetConfig | None, side: str) -> str:
    """The title of a side's loss plot."""
    if config is None:
        return "AE loss" if side == "left" else "VAE loss"
    if config.kind == "vae":
        return f"VAE: −ELBO = reconstruction + {'β·' if config.beta != 1 else ''}KL (per image)"
    return f"{KIND_SHORT_NAMES[config.kind]}: reconstruction loss ({config.loss.upper()})"


def loss_lines(config: NetConfig) -> tuple[tuple[Line, ...], tuple[Markers, ...]]:
    """What a model's loss plot shows: its training curves and its test figures."""
    if config.kind == "vae":
        return (
            (Line("loss", "−ELBO (train)"), Line("recon", "reconstruction", RECON_COLOUR), Line("kl", "KL", KL_COLOUR)),
            (Markers("nelbo", "−ELBO (test)"), Markers("recon", None, RECON_COLOUR), Markers("kl", None, KL_COLOUR)),
        )
    return (Line("loss", "train"),), (Markers("mse", "test (MSE)"),)
