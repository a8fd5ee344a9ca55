"""What a model thinks a new image is, from where its code lands among the test
images' codes: a vote of the nearest codes, and whether the image is unlike the test
images (a scribble, a letter, a digit unlike any the model knows): its code lies
unusually far from all of theirs, or the model rebuilds it unusually badly. A 2-D
encoder squeezes almost anything into the crowd of test codes, so there the second
sign is the one that tells."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

K = 5
# The bars are set where this share of the test images stay below: their distance to
# their neighbours (times FAR_FACTOR) and their reconstruction error.
UNUSUAL_QUANTILE = 0.99
SAMPLE = 2000  # test codes whose neighbour distances set the bar (a seeded sample)
# A code is far when it lies this many times farther from its neighbours than that: a
# clearly drawn 2 sits at the fringe of the 2-D VAE's 2s, past the 99 % bar itself.
FAR_FACTOR = 2.0


@dataclass(frozen=True)
class Verdict:
    """The vote for one code: the winning label, how many of the k nearest codes have
    it, the mean distance to those k, and whether that distance is unusual."""

    label: int
    votes: int
    k: int
    distance: float
    limit: float
    error: float | None = None  # the model's reconstruction error of the image (mean squared)
    error_limit: float | None = None

    @property
    def far(self) -> bool:
        return self.distance > self.limit

    @property
    def badly_rebuilt(self) -> bool:
        return self.error is not None and self.error_limit is not None and self.error > self.error_limit

    @property
    def unusual(self) -> bool:
        return self.far or self.badly_rebuilt


class CodeVotes:
    """The k-nearest-neighbour vote among ``codes`` (N, latent) with ``labels`` (N,);
    ``errors`` (N,), the model's reconstruction errors of the same images, if given, set
    the bar for an image rebuilt unusually badly."""

    def __init__(self, codes: np.ndarray, labels: np.ndarray, *, errors: np.ndarray | None = None, k: int = K,
                 quantile: float = UNUSUAL_QUANTILE, sample: int = SAMPLE, seed: int = 0):
        self.codes = np.asarray(codes, dtype=np.float64)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.codes.ndim != 2 or len(self.codes) != len(self.labels):
            raise ValueError(f"need codes (N, latent) and N labels, got {self.codes.shape} and {self.labels.shape}")
        if len(self.codes) <= k:
            raise ValueError(f"a {k}-nearest-neighbour vote needs more than {k} codes, got {len(self.codes)}")
        self.k = k
        self._sq = (self.codes**2).sum(axis=1)
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(self.codes), size=min(sample, len(self.codes)), replace=False)
        # Each sampled test code's own distance to its k nearest others (itself left out).
        d = self._distances(self.codes[chosen])
        d[np.arange(len(chosen)), chosen] = np.inf
        near = np.sort(np.partition(d, k, axis=1)[:, :k], axis=1)
        self.limit = FAR_FACTOR * float(np.quantile(np.sqrt(near).mean(axis=1), quantile))
        self.error_limit = None if errors is None else float(np.quantile(np.asarray(errors, dtype=np.float64), quantile))

    def _distances(self, points: np.ndarray) -> np.ndarray:
        d2 = (points**2).sum(axis=1)[:, None] - 2.0 * points @ self.codes.T + self._sq[None, :]
        return np.maximum(d2, 0.0)

    def judge(self, code: np.ndarray, error: float | None = None) -> Verdict:
        """The vote for one code (latent,); ``error``: the image's reconstruction error."""
        d2 = self._distances(np.asarray(code, dtype=np.float64).reshape(1, -1))[0]
        idx = np.argpartition(d2, self.k - 1)[: self.k]
        counts = np.bincount(self.labels[idx], minlength=int(self.labels.max()) + 1)
        # A tie goes to the label of the nearest code among the tied ones.
        tied = np.flatnonzero(counts == counts.max())
        order = idx[np.argsort(d2[idx])]
        label = next(int(self.labels[i]) for i in order if self.labels[i] in tied)
        return Verdict(label=label, votes=int(counts[label]), k=self.k, distance=float(np.sqrt(d2[idx]).mean()),
                       limit=self.limit, error=error, error_limit=self.error_limit)
