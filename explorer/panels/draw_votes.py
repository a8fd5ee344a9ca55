"""The Draw panel's judges: for each model, the nearest test codes' vote (models.knn),
set up off the GUI thread, since finding every test code's neighbours and rebuilding
every test image takes a second or two on a small CPU and the first stroke must not
wait for it."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Signal

from explorer.background.runs import BackgroundRun
from models.knn import CodeVotes

if TYPE_CHECKING:
    from models.latent_space import LatentSpace

KEEP = 4  # votes kept: both plots' models and the two before them


def test_errors(space: LatentSpace) -> np.ndarray:
    """The model's mean squared reconstruction error of every test image."""
    flat = space.images.reshape(len(space.images), -1).numpy()
    rebuilt = np.concatenate([space.reconstruct(np.arange(i, min(i + 2000, len(flat)))).reshape(-1, flat.shape[1])
                              for i in range(0, len(flat), 2000)])
    return ((rebuilt - flat) ** 2).mean(axis=1)


class VoteBoard(QObject):
    """One CodeVotes per latent space, built in the background when first asked for;
    ``ready`` fires when one is in."""

    ready = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._votes: dict[int, tuple[LatentSpace, CodeVotes]] = {}
        self._queue: list[tuple[LatentSpace, np.ndarray]] = []
        self._run = BackgroundRun(self, name="set-up of the nearest-code votes")
        self._run.item_ready.connect(self._take)
        self._run.finished.connect(self._next)

    def votes(self, space: LatentSpace, labels: np.ndarray) -> CodeVotes | None:
        """The votes among ``space``'s codes, or None while they are being set up."""
        held = self._votes.get(id(space))
        if held is not None and held[0] is space:
            return held[1]
        if not any(s is space for s, _ in self._queue):
            self._queue.append((space, labels))
            if not self._run.is_running:
                self._next("")
        return None

    def _next(self, _error: str) -> None:
        if self._run.is_running or not self._queue:
            return
        space, labels = self._queue[0]

        def build(should_stop):
            yield space, CodeVotes(space.codes, labels, errors=test_errors(space))

        self._run.start(build)

    def _take(self, item: tuple[LatentSpace, CodeVotes]) -> None:
        space, votes = item
        self._queue = [(s, lab) for s, lab in self._queue if s is not space]
        self._votes[id(space)] = (space, votes)
        while len(self._votes) > KEEP:  # models replaced since: the oldest go
            del self._votes[next(iter(self._votes))]
        self.ready.emit()

    def wait(self) -> None:
        """Finish the set-up now (tests, screenshots)."""
        while self._run.is_running or self._queue:
            if self._run.is_running:
                self._run.wait()
            QCoreApplication.processEvents()

    def shutdown(self, timeout: float = 1.0) -> None:
        self._queue.clear()
        self._run.shutdown(timeout)
