"""RunHistory: what the Train panel keeps of a run besides the latest snapshot, for the
trails (each probe point's last positions) and the animation export (the latent
space forming, frame by frame, with the loss curves up to each frame).

Qt-free. A frame holds light copies of the snapshots (codes only: a decoder's
weights are about a megabyte, and a frame never decodes), at most ``max_frames`` of
them, thinned evenly as the run goes on: when full, every second frame goes and
from then on only every second new one is kept, so a long run keeps frames spread
over all of it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from models.jobs import ModelSnapshot

MAX_FRAMES = 200  # each becomes a 960 x 540 frame: Pillow holds a GIF's frames until it writes them
TRAIL_MAX = 50  # the longest trail, in snapshots
_EMPTY_STEPS = np.zeros(0, dtype=np.int64)


def light(snap: ModelSnapshot) -> ModelSnapshot:
    """``snap`` without its decoder weights and curve segment (what a frame needs)."""
    return replace(snap, decoder_state={}, curve_steps=_EMPTY_STEPS, curve_losses={})


@dataclass
class Frame:
    """The run at one step: the latest light snapshot of each model."""

    seq: int  # the how-many-th frame of the run
    step: int
    snaps: dict[int, ModelSnapshot] = field(default_factory=dict)


class RunHistory:
    """Kept frames, recent snapshots per model, and every loss point and test figure."""

    def __init__(self, *, max_frames: int = MAX_FRAMES, trail_max: int = TRAIL_MAX):
        if max_frames < 2:
            raise ValueError("max_frames must be at least 2")
        self.max_frames = max_frames
        self.trail_max = trail_max
        self.clear()

    def clear(self) -> None:
        self._kept: list[Frame] = []
        self._latest: Frame | None = None
        self._stride = 1
        self._seq = 0
        self._recent: dict[int, deque[ModelSnapshot]] = {}
        self.curves: dict[int, list[tuple[np.ndarray, dict[str, np.ndarray]]]] = {}
        self.tests: dict[int, list[tuple[float, dict[str, float]]]] = {}

    # ------------------------------------------------------------ collecting

    def take(self, snap: ModelSnapshot) -> None:
        """Keep a snapshot that arrived (snapshots of one step make one frame)."""
        self.curves.setdefault(snap.index, []).append((snap.curve_steps, snap.curve_losses))
        lite = light(snap)
        self._recent.setdefault(snap.index, deque(maxlen=self.trail_max)).append(lite)
        latest = self._latest
        if latest is not None and latest.step == snap.step:
            latest.snaps[snap.index] = lite
            return
        frame = Frame(self._seq, snap.step, dict(latest.snaps) if latest is not None else {})
        frame.snaps[snap.index] = lite
        self._seq += 1
        self._latest = frame
        if frame.seq % self._stride == 0:
            self._kept.append(frame)
            if len(self._kept) > self.max_frames:
                self._stride *= 2
                self._kept = [f for f in self._kept if f.seq % self._stride == 0]

    def add_test(self, index: int, x: float, values: dict[str, float]) -> None:
        """Test figures of model ``index`` at step ``x`` (an epoch's end)."""
        self.tests.setdefault(index, []).append((x, dict(values)))

    def restart_trails(self) -> None:
        """Forget the recent snapshots (the pace changed: a trail must not join a
        second-long jump at full speed to single steps)."""
        for recent in self._recent.values():
            recent.clear()

    # ------------------------------------------------------------ reading

    def frames(self) -> list[Frame]:
        """The kept frames in order, always ending with the latest."""
        if self._latest is None:
            return []
        if self._kept and self._kept[-1] is self._latest:
            return list(self._kept)
        return [*self._kept, self._latest]

    def __len__(self) -> int:
        return len(self.frames())

    def recent(self, index: int, n: int) -> list[ModelSnapshot]:
        """The last ``n`` snapshots of model ``index``, oldest first."""
        snaps = list(self._recent.get(index, ()))
        return snaps[-n:] if n > 0 else []
