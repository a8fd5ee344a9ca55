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
# The bars are set where this share of the test images stay below: their remoteness
# from their neighbours and their reconstruction error.
UNUSUAL_QUANTILE = 0.99
SAMPLE = 2000  # test codes whose neighbour distances set the bar (a seeded sample)

@dataclass(frozen=True)
class Verdict:
    """The vote for one code: the winning label, how many of the k nearest codes have
    it, its remoteness (its mean distance to those k over their own mean distance to
    their neighbours), and whether that, or its reconstruction error, is unusual."""

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
        # Each code's own reach: its mean distance to its k nearest others. A code's
        # remoteness is its distance to its k nearest codes over their mean reach, so a
        # code in the sparse fringe of a class (where test codes lie far apart too) is
        # not called far for that (the local outlier factor's idea).
        self._reach = np.empty(len(self.codes))
        self._nearest = np.empty((len(self.codes), k), dtype=np.int64)
        for start in range(0, len(self.codes), 1000):
            d = self._distances(self.codes[start : start + 1000])
            rows = np.arange(len(d))
            d[rows, start + rows] = np.inf  # itself left out
            idx = np.argpartition(d, k - 1, axis=1)[:, :k]
            self._nearest[start : start + len(d)] = idx
            self._reach[start : start + len(d)] = np.sqrt(np.take_along_axis(d, idx, axis=1)).mean(axis=1)
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(self.codes), size=min(sample, len(self.codes)), replace=False)
        remoteness = self._reach[chosen] / np.maximum(self._reach[self._nearest[chosen]].mean(axis=1), 1e-12)
        self.limit = float(np.quantile(remoteness, quantile))
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
        remoteness = float(np.sqrt(d2[idx]).mean() / max(self._reach[idx].mean(), 1e-12))
        return Verdict(label=label, votes=int(counts[label]), k=self.k, distance=remoteness,
                       limit=self.limit, error=error, error_limit=self.error_limit)
