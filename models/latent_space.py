"""A trained model's latent space as a 2-D plane: the plot coordinates of test
codes, and decoding of plane points. Latent size 2 is the plane itself; other
sizes are seen through the PCA plane of their codes (dragging then decodes
points of that plane)."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models import metrics
from models.files import atomic_write_bytes
from models.nets import VAE, Model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    """What one model makes of one new image (a drawing): its code, where that lies
    in the plot's plane, its reconstruction and, for a VAE, the posterior q(z|x)."""

    code: np.ndarray  # (latent,): the AE's code or the VAE's posterior mean
    xy: tuple[float, float]  # the code in plane coordinates
    reconstruction: np.ndarray  # (H, W) in [0, 1]
    sigma: np.ndarray | None = None  # (latent,) posterior standard deviations (VAE only)
    kl: float | None = None  # KL(q(z|x) || N(0, I)) in nats (VAE only)

    def ellipse(self, space: "LatentSpace", k: float, points: int = 72) -> np.ndarray | None:
        """The posterior's k-sigma contour in the plane, (points, 2); None for an AE.

        For a 2-D latent this is exact; for larger latents it is the contour of the
        axis-aligned ellipsoid's slice through the plane's two directions."""
        if self.sigma is None:
            return None
        t = np.linspace(0.0, 2.0 * np.pi, points)
        if not space.is_projected:
            return np.stack([self.xy[0] + k * self.sigma[0] * np.cos(t), self.xy[1] + k * self.sigma[1] * np.sin(t)], axis=1)
        # The Gaussian seen along the plane's orthonormal axes A (2 x latent) has
        # covariance A diag(sigma^2) A^T; its k-sigma contour is xy + k L (cos, sin).
        axes = space.plane_axes()
        cov = (axes * self.sigma**2) @ axes.T
        chol = np.linalg.cholesky(cov + 1e-12 * np.eye(2))
        circle = np.stack([np.cos(t), np.sin(t)])
        return (np.asarray(self.xy)[:, None] + k * chol @ circle).T


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


class CodeCache:
    """The codes of one image set under any model, kept on disk between runs.

    Encoding the 10,000 test images with the AE and the VAE is a sixth of the time
    to the window's first paint; the bundled models' codes never change. A file is
    named by a hash of the model (configuration and weights), the images and the
    torch version, so retrained weights or other images miss. A missing, damaged
    or unwritable cache only means encoding again."""

    MAX_FILES = 200

    def __init__(self, folder: str | os.PathLike, images: np.ndarray):
        self.folder = Path(folder)
        images = np.ascontiguousarray(images)
        h = hashlib.sha256()
        h.update(f"{images.dtype.str}{images.shape}".encode())
        h.update(memoryview(images).cast("B"))
        self._images_key = h.hexdigest()
        self.count = len(images)

    def path_for(self, model: Model) -> Path:
        h = hashlib.sha256()
        h.update(f"codes-v1 {torch.__version__} {self._images_key} {json.dumps(model.config.to_dict(), sort_keys=True)}".encode())
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            h.update(memoryview(tensor.detach().cpu().contiguous().numpy()).cast("B"))
        return self.folder / f"{h.hexdigest()}.npy"

    def codes(self, model: Model, float_images: torch.Tensor) -> np.ndarray:
        """The deterministic codes (N, latent), float32: from disk, else encoded and saved."""
        if len(float_images) != self.count:
            raise ValueError(f"the cache holds codes of {self.count} images, got {len(float_images)}")
        path = self.path_for(model)
        try:
            codes = np.load(path, allow_pickle=False)
            if codes.shape == (self.count, model.latent) and codes.dtype == np.float32 and np.isfinite(codes).all():
                return codes
            log.info("ignoring cached codes %s: shape %s, dtype %s", path.name, codes.shape, codes.dtype)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.info("ignoring unreadable cached codes %s: %s", path.name, exc)
        codes = metrics.embed(model, float_images).numpy().astype(np.float32)
        buf = io.BytesIO()
        np.save(buf, codes, allow_pickle=False)
        try:
            atomic_write_bytes(path, buf.getvalue())
            self._prune()
        except OSError as exc:
            log.info("could not cache codes in %s: %s", self.folder, exc)
        return codes

    def _prune(self) -> None:
        """Keep the newest MAX_FILES files (each is 80 kB for a 2-D latent)."""
        files = sorted(self.folder.glob("*.npy"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[self.MAX_FILES :]:
            old.unlink(missing_ok=True)


class LatentSpace:
    """Codes of a fixed image set under one model, and decoding of plane points."""

    def __init__(self, model: Model, images: np.ndarray | torch.Tensor, *, cache: CodeCache | None = None):
        from models.train import as_float_images

        self.model = model.to("cpu").eval()
        self.images = as_float_images(images)
        codes = cache.codes(self.model, self.images) if cache is not None else metrics.embed(self.model, self.images).numpy()
        self.codes = codes.astype(np.float64)
        self.latent = self.model.latent
        if self.latent == 2:
            self._pca = None
            self.xy = self.codes.astype(np.float32)
        else:
            # A 1-D latent has no second axis to show: pad the plane with zeros.
            self._pca = metrics.pca_fit(self.codes, min(2, self.latent))
            xy = self._pca.transform(self.codes)
            if xy.shape[1] == 1:
                xy = np.hstack([xy, np.zeros_like(xy)])
            self.xy = xy.astype(np.float32)

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

    @torch.inference_mode()
    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        """Latent codes (N, latent) -> images (N, H, W) float32 clipped to [0, 1]."""
        z = torch.as_tensor(np.asarray(codes, dtype=np.float32).reshape(-1, self.latent))
        out = self.model.decode(z).clamp_(0.0, 1.0)
        return out.reshape(-1, *self.model.config.image_shape).numpy()

    def decode_plane(self, xy: np.ndarray) -> np.ndarray:
        """Plane points (N, 2) -> decoded images (N, H, W) in [0, 1]."""
        return self.decode_codes(self.plane_to_codes(xy))

    @torch.inference_mode()
    def reconstruct(self, indices: np.ndarray | list[int]) -> np.ndarray:
        """Reconstructions (N, H, W) of the chosen images of the set."""
        x = self.images[torch.as_tensor(np.asarray(indices, dtype=np.int64))]
        return self.model.reconstruct(x).clamp_(0.0, 1.0).reshape(-1, *self.model.config.image_shape).numpy()

    def encode_images(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Plane coordinates (N, 2) of new images (e.g. a drawing)."""
        from models.train import as_float_images

        codes = metrics.embed(self.model, as_float_images(images)).numpy().astype(np.float64)
        return self.codes_to_plane(codes)

    def codes_to_plane(self, codes: np.ndarray) -> np.ndarray:
        """Latent codes (N, latent) -> plane coordinates (N, 2)."""
        codes = np.asarray(codes, dtype=np.float64).reshape(-1, self.latent)
        if self._pca is None:
            return codes.astype(np.float32)
        xy = self._pca.transform(codes)
        if xy.shape[1] == 1:
            xy = np.hstack([xy, np.zeros_like(xy)])
        return xy.astype(np.float32)

    def plane_axes(self) -> np.ndarray:
        """(2, latent) orthonormal directions of the plane in the latent space."""
        if self._pca is None:
            return np.eye(2)
        axes = np.zeros((2, self.latent))
        axes[: self._pca.components.shape[0]] = self._pca.components
        return axes

    @torch.inference_mode()
    def read(self, image: np.ndarray | torch.Tensor) -> Reading:
        """Encode one new image (H, W) and reconstruct it (the VAE from its posterior mean)."""
        from models.train import as_float_images

        x = as_float_images(np.asarray(image, dtype=np.float32)[None])
        if isinstance(self.model, VAE):
            mu, logvar = self.model.encode(x)
            code = mu[0].double().numpy()
            var = logvar[0].double().exp().numpy()
            sigma = np.sqrt(var)
            kl = float(0.5 * np.sum(var + code**2 - 1.0 - np.log(var)))
        else:
            code, sigma, kl = self.model.encode(x)[0].double().numpy(), None, None
        recon = self.decode_codes(code[None])[0]
        x_, y_ = self.codes_to_plane(code[None])[0]
        return Reading(code=code, xy=(float(x_), float(y_)), reconstruction=recon, sigma=sigma, kl=kl)

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

    def sample(self, n: int, *, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Codes drawn from the prior N(0, I) in the full latent space: (plane xy (n, 2), images (n, H, W))."""
        codes = sample_prior(n, self.latent, seed=seed)
        return self.codes_to_plane(codes), self.decode_codes(codes)

    def interpolate_images(self, i: int, j: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The straight path from test image i's code to test image j's, in the full latent
        space: (plane xy (steps, 2), decoded images (steps, H, W)). A straight line stays
        straight in the PCA plane, so the plotted path is exact."""
        n = len(self.codes)
        for k in (i, j):
            if not 0 <= k < n:
                raise IndexError(f"test image {k} does not exist; choose 0 to {n - 1}")
        codes = interpolate(self.codes[i], self.codes[j], steps)
        return self.codes_to_plane(codes), self.decode_codes(codes)

    def manifold(
        self, *, x_range: tuple[float, float], y_range: tuple[float, float], n: int | tuple[int, int] = 15
    ) -> np.ndarray:
        """Images decoded on a lattice of the plane (n x n, or nx x ny for n=(nx, ny)) from
        the first to the last value of each range, tiled into one (ny*H, nx*W) array;
        row 0 of the result is the top (largest y)."""
        nx, ny = (n, n) if isinstance(n, int) else (int(n[0]), int(n[1]))
        if nx < 1 or ny < 1:
            raise ValueError(f"the lattice needs at least one point per axis, got {nx} x {ny}")
        h, w = self.model.config.image_shape
        xs = np.linspace(x_range[0], x_range[1], nx)
        ys = np.linspace(y_range[1], y_range[0], ny)
        gx, gy = np.meshgrid(xs, ys)
        imgs = self.decode_plane(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(ny, nx, h, w)
        return imgs.transpose(0, 2, 1, 3).reshape(ny * h, nx * w)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` evenly spaced points on the straight line from a to b (inclusive)."""
    if steps < 2:
        raise ValueError("interpolation needs at least 2 steps")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (1 - t) * a + t * b


def sample_prior(n: int, latent: int, *, seed: int | None = None) -> np.ndarray:
    """n codes drawn from N(0, I) in ``latent`` dimensions."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, latent))
