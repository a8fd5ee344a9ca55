"""Test-image codes seen in a plane, and the on-disk cache of codes: plain NumPy,
no torch, so the window can plot a model's codes before torch is imported.

``models.latent_space.LatentSpace`` builds on ``CodePlane`` and adds the model
(encoding, decoding, sampling)."""
from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np

from models.files import atomic_write_bytes

log = logging.getLogger(__name__)


def _quantiles(a: np.ndarray, qs: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """np.quantile's default (linear) quantiles of each column: np.quantile itself
    imports numpy.ma on first use, a fiftieth of a second before the first paint."""
    s = np.sort(np.asarray(a, dtype=np.float64), axis=0)
    if len(s) == 0:
        return np.zeros(s.shape[1:]), np.zeros(s.shape[1:])
    out = []
    for q in qs:
        pos = q * (len(s) - 1)
        i = int(np.floor(pos))
        j = min(i + 1, len(s) - 1)
        out.append(s[i] + (pos - i) * (s[j] - s[i]))
    return out[0], out[1]


class CodePlane:
    """Codes (N, latent) of a fixed image set and their plane coordinates ``xy`` (N, 2).

    A 2-D latent is the plane itself; other sizes are seen through a PCA plane
    (``pca``: any object with ``components`` (k, latent), ``transform`` and
    ``inverse_transform``). Without a model nothing can be decoded: ``can_decode``
    is False here and True in LatentSpace."""

    can_decode = False

    def __init__(self, codes: np.ndarray, *, pca=None):
        self.codes = np.asarray(codes, dtype=np.float64)
        if self.codes.ndim != 2:
            raise ValueError(f"codes must be (N, latent), got shape {self.codes.shape}")
        self.latent = self.codes.shape[1]
        if pca is None and self.latent != 2:
            raise ValueError(f"a {self.latent}-D latent space needs a PCA plane to be shown")
        self._pca = pca
        self.xy = self.codes_to_plane(self.codes)

    @property
    def is_projected(self) -> bool:
        """True when the plot shows a PCA plane of a latent space that is not 2-D."""
        return self._pca is not None

    @property
    def description(self) -> str:
        if not self.is_projected:
            return "latent space (2-D)"
        return f"PCA plane of the {self.latent}-D latent space"

    def plane_to_codes(self, xy: np.ndarray) -> np.ndarray:
        """Plane coordinates (N, 2) -> latent codes (N, latent)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self._pca is None:
            return xy
        k = self._pca.components.shape[0]
        return self._pca.inverse_transform(xy[:, :k])

    def codes_to_plane(self, codes: np.ndarray) -> np.ndarray:
        """Latent codes (N, latent) -> plane coordinates (N, 2), float32."""
        codes = np.asarray(codes, dtype=np.float64).reshape(-1, self.latent)
        if self._pca is None:
            return codes.astype(np.float32)
        xy = self._pca.transform(codes)
        if xy.shape[1] == 1:
            # A 1-D latent has no second axis to show: pad the plane with zeros.
            xy = np.hstack([xy, np.zeros_like(xy)])
        return xy.astype(np.float32)

    def plane_axes(self) -> np.ndarray:
        """(2, latent) orthonormal directions of the plane in the latent space."""
        if self._pca is None:
            return np.eye(2)
        axes = np.zeros((2, self.latent))
        axes[: self._pca.components.shape[0]] = self._pca.components
        return axes

    def nearest_codes(self, code: np.ndarray, k: int) -> np.ndarray:
        """Indices of the k test images whose codes are nearest to ``code`` in the full latent space."""
        d2 = ((self.codes - np.asarray(code, dtype=np.float64).reshape(1, -1)) ** 2).sum(axis=1)
        k = min(int(k), len(d2))
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.argpartition(d2, k - 1)[:k]
        return idx[np.argsort(d2[idx])]

    def nearest(
        self, xy: tuple[float, float], max_distance: float | None = None, *, among: np.ndarray | None = None
    ) -> int | None:
        """Index of the point nearest to xy in the plane (None if farther than max_distance).

        ``among`` is an optional boolean mask of the points that may be picked
        (e.g. the classes shown); None if it selects nothing."""
        d2 = ((self.xy - np.asarray(xy, dtype=np.float32)) ** 2).sum(axis=1)
        if among is not None:
            among = np.asarray(among, dtype=bool)
            if not among.any():
                return None
            d2 = np.where(among, d2, np.inf)
        i = int(np.argmin(d2))
        if max_distance is not None and d2[i] > max_distance**2:
            return None
        return i

    def bounds(self, *, quantile: float = 0.002, margin: float = 0.08) -> tuple[tuple[float, float], tuple[float, float]]:
        """(x_range, y_range) holding nearly all codes (outliers beyond ``quantile`` are
        cut so one stray code does not shrink the rest), padded by ``margin``."""
        lo, hi = _quantiles(self.xy, (quantile, 1 - quantile))
        span = np.maximum(hi - lo, 1e-6)
        lo, hi = lo - margin * span, hi + margin * span
        return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))

    def prior_center(self) -> tuple[float, float]:
        """Where the prior's mean (the origin of the latent space) lies in the plane.

        The PCA plane has orthonormal axes, so N(0, I) seen through it is still a
        unit Gaussian, centred on the projection of the origin."""
        x, y = self.codes_to_plane(np.zeros((1, self.latent)))[0]
        return float(x), float(y)

    def density(
        self,
        *,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        bins: int = 90,
        among: np.ndarray | None = None,
    ) -> np.ndarray:
        """Histogram of the codes on a bins x bins grid, (bins_y, bins_x) with row 0 at the
        smallest y, scaled by log1p and normalised to [0, 1]."""
        xy = self.xy if among is None else self.xy[np.asarray(among, dtype=bool)]
        hist, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=bins, range=[list(y_range), list(x_range)])
        hist = np.log1p(hist)
        top = hist.max()
        return (hist / top if top > 0 else hist).astype(np.float32)


class CodeCache:
    """The codes of one image set under any model, kept on disk between runs.

    Encoding the 10,000 test images with the AE and the VAE is a sixth of the time
    to the window's first paint, and with the codes on disk the window can plot
    them before torch is even imported; the bundled models' codes never change.
    A file is named by a hash of the images and a key naming the model: a
    checkpoint file's digest, or a hash of the weights (see LatentSpace), so
    retrained weights or other images miss. A missing, damaged or unwritable cache
    only means encoding again. ``shipped`` is a read-only folder looked in after
    ``folder``: the app ships its bundled models' codes there."""

    MAX_FILES = 200

    def __init__(self, folder: str | os.PathLike, images: np.ndarray, *, shipped: str | os.PathLike | None = None):
        self.folder = Path(folder)
        self.shipped = Path(shipped) if shipped is not None else None
        images = np.ascontiguousarray(images)
        h = hashlib.sha256()
        h.update(f"{images.dtype.str}{images.shape}".encode())
        h.update(images.data.cast("B"))
        self._images_key = h.hexdigest()
        self.count = len(images)

    def path_for(self, key: str, folder: Path | None = None) -> Path:
        digest = hashlib.sha256(f"codes-v2 {self._images_key} {key}".encode()).hexdigest()
        return (folder or self.folder) / f"{digest}.npy"

    def load(self, key: str, latent: int | None = None) -> np.ndarray | None:
        """The codes (N, latent) float32 saved under ``key`` (or shipped); None if there
        are none, or they are damaged or do not fit (another count or latent size)."""
        for folder in (self.folder, self.shipped):
            codes = self._read(self.path_for(key, folder), latent) if folder is not None else None
            if codes is not None:
                return codes
        return None

    def _read(self, path: Path, latent: int | None) -> np.ndarray | None:
        try:
            codes = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            log.info("ignoring unreadable cached codes %s: %s", path.name, exc)
            return None
        fits = (
            codes.ndim == 2 and len(codes) == self.count and (latent is None or codes.shape[1] == latent)
            and codes.dtype == np.float32 and np.isfinite(codes).all()
        )
        if not fits:
            log.info("ignoring cached codes %s: shape %s, dtype %s", path.name, codes.shape, codes.dtype)
            return None
        return codes

    def save(self, key: str, codes: np.ndarray) -> None:
        """Keep ``codes`` under ``key``; a cache that cannot be written is only logged."""
        buf = io.BytesIO()
        np.save(buf, np.asarray(codes, dtype=np.float32), allow_pickle=False)
        try:
            atomic_write_bytes(self.path_for(key), buf.getvalue())
            self._prune()
        except OSError as exc:
            log.info("could not cache codes in %s: %s", self.folder, exc)

    def _prune(self) -> None:
        """Keep the newest MAX_FILES files (each is 80 kB for a 2-D latent)."""
        files = sorted(self.folder.glob("*.npy"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[self.MAX_FILES :]:
            old.unlink(missing_ok=True)
