"""A trained model's latent space as a 2-D plane: the plot coordinates of test
codes, and decoding of plane points. Latent size 2 is the plane itself; other
sizes are seen through the PCA plane of their codes (dragging then decodes
points of that plane)."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import numpy as np
import torch

from models import metrics
from models.data import as_float_images, to_display
from models.nets import VAE, Model
from models.plane import CodeCache, CodePlane

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

    def ellipse(self, space: LatentSpace, k: float, points: int = 72) -> np.ndarray | None:
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


def model_key(model: Model) -> str:
    """A CodeCache key naming a model by its configuration and weights (and the torch
    version that will encode with it), for models that come from no file."""
    h = hashlib.sha256()
    h.update(f"weights {torch.__version__} {json.dumps(model.config.to_dict(), sort_keys=True)}".encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(memoryview(tensor.detach().cpu().contiguous().numpy()).cast("B"))
    return h.hexdigest()


class LatentSpace(CodePlane):
    """Codes of a fixed image set under one model, and decoding of plane points."""

    can_decode = True

    def __init__(
        self, model: Model, images: np.ndarray | torch.Tensor, *, cache: CodeCache | None = None, key: str | None = None
    ):
        """``cache`` keeps the codes between runs under ``key`` (a checkpoint file's
        digest; by default a hash of the model's weights)."""
        self._model = model.to("cpu").eval()
        images = as_float_images(images)
        self.images: torch.Tensor | None = images
        if cache is None:
            codes = metrics.embed(self.model, images).numpy().astype(np.float32)
        else:
            if len(images) != cache.count:
                raise ValueError(f"the cache holds codes of {cache.count} images, got {len(images)}")
            key = key or model_key(self.model)
            cached = cache.load(key, self.model.latent)
            if cached is None:
                cached = metrics.embed(self.model, images).numpy().astype(np.float32)
                cache.save(key, cached)
            codes = cached
        latent = self.model.latent
        super().__init__(codes, pca=None if latent == 2 else metrics.pca_fit(codes.astype(np.float64), min(2, latent)))

    @property
    def model(self) -> Model:
        return self._model

    def _shown(self, rows: torch.Tensor) -> np.ndarray:
        """Model output rows -> images as every view shows them, (N, H, W) or (N, H, W, 3)."""
        c = self.model.config
        return to_display(rows.reshape(len(rows), -1), c.image_shape, c.channels)

    @torch.inference_mode()
    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        """Latent codes (N, latent) -> images (N, H, W) or (N, H, W, 3) float32 clipped to [0, 1]."""
        z = torch.as_tensor(np.asarray(codes, dtype=np.float32).reshape(-1, self.latent))
        return self._shown(self.model.decode(z).clamp_(0.0, 1.0))

    def decode_plane(self, xy: np.ndarray) -> np.ndarray:
        """Plane points (N, 2) -> decoded images (N, H, W) in [0, 1]."""
        return self.decode_codes(self.plane_to_codes(xy))

    @torch.inference_mode()
    def reconstruct(self, indices: np.ndarray | list[int]) -> np.ndarray:
        """Reconstructions (N, H, W) of the chosen images of the set."""
        if self.images is None:
            raise ValueError("this latent space holds codes only, no images to reconstruct")
        x = self.images[torch.as_tensor(np.asarray(indices, dtype=np.int64))]
        return self._shown(self.model.reconstruct(x).clamp_(0.0, 1.0))

    @torch.inference_mode()
    def read(self, image: np.ndarray | torch.Tensor) -> Reading:
        """Encode one new image (H, W) and reconstruct it (the VAE from its posterior mean)."""
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
        the first to the last value of each range, tiled into one (ny*H, nx*W) array ((ny*H, nx*W, 3) in colour);
        row 0 of the result is the top (largest y)."""
        nx, ny = (n, n) if isinstance(n, int) else (int(n[0]), int(n[1]))
        if nx < 1 or ny < 1:
            raise ValueError(f"the lattice needs at least one point per axis, got {nx} x {ny}")
        h, w = self.model.config.image_shape
        xs = np.linspace(x_range[0], x_range[1], nx)
        ys = np.linspace(y_range[1], y_range[0], ny)
        gx, gy = np.meshgrid(xs, ys)
        imgs = self.decode_plane(np.stack([gx.ravel(), gy.ravel()], axis=1))
        rest = imgs.shape[3:]  # () grey, (3,) colour
        imgs = imgs.reshape(ny, nx, h, w, *rest)
        return imgs.transpose(0, 2, 1, 3, *range(4, imgs.ndim)).reshape(ny * h, nx * w, *rest)


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
