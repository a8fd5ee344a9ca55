"""Evaluation figures: PSNR, reconstruction error, ELBO, importance-sampled
log-likelihood, PCA and principal angles.

Images are float tensors in [0, 1]; MSE is per pixel; nats are per image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from models import data, losses
from models.nets import VAE, Model


def psnr(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB; a perfect copy is capped at 100 dB."""
    err = losses.mse(x_hat, x).clamp_min(data_range**2 * 1e-10)
    return 10.0 * torch.log10(data_range**2 / err)


def denoising_psnr(model: Model, noisy: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
    """Mean PSNR (dB) against the clean images of the damaged ones and of the model's
    restorations of them."""
    return float(psnr(noisy, clean).mean()), float(psnr(reconstruct(model, noisy), clean).mean())


def _batches(x: torch.Tensor, batch_size: int):
    for i in range(0, x.shape[0], batch_size):
        yield x[i : i + batch_size]


@torch.no_grad()
def embed(model: Model, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Deterministic codes (posterior means for the VAE) of all images."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model.embed(b.to(dev)).cpu() for b in _batches(x, batch_size)])


@torch.no_grad()
def reconstruct(model: Model, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """decode(embed(x)) for all images, on the CPU."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model.reconstruct(b.to(dev)).cpu() for b in _batches(x, batch_size)])


def reconstruction_mse(model: Model, x: torch.Tensor, *, x_in: torch.Tensor | None = None, batch_size: int = 2048) -> float:
    """Per-pixel MSE between the clean images and the reconstructions of x_in (default x)."""
    x_hat = reconstruct(model, x if x_in is None else x_in, batch_size)
    return float(losses.mse(x_hat, x.reshape(x.shape[0], -1)).mean())


@torch.no_grad()
def negative_elbo(model: VAE, x: torch.Tensor, *, samples: int = 1, seed: int = 0, batch_size: int = 1000) -> dict[str, float]:
    """-ELBO with a Bernoulli likelihood (nats per image), averaged over ``samples`` draws of z."""
    model.eval()
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    recon_sum = kl_sum = 0.0
    for b in _batches(x, batch_size):
        b = model.flatten(b.to(dev))
        mu, logvar = model.encode(b)
        kl_sum += float(losses.kl_normal(mu, logvar).sum())
        for _ in range(samples):
            z = model.reparameterize(mu, logvar, gen)
            recon_sum += float(losses.bce_with_logits(model.decode_logits(z), b).sum()) / samples
    n = x.shape[0]
    return {"nelbo": (recon_sum + kl_sum) / n, "recon": recon_sum / n, "kl": kl_sum / n}


def bits_per_dim(nats_per_image: float, pixels: int) -> float:
    """Nats per image (a -ELBO or -log p(x)) as bits per dimension: divided by
    ln 2 * pixels, where pixels counts every value (channels * height * width), so
    models of images of different sizes or colour can be set side by side."""
    if isinstance(pixels, bool) or int(pixels) != pixels or pixels < 1:
        raise ValueError(f"pixels must be a whole number >= 1, got {pixels!r}")
    return float(nats_per_image) / (math.log(2.0) * int(pixels))


@torch.no_grad()
def iwae_nll(model: VAE, x: torch.Tensor, *, k: int = 1000, seed: int = 0, chunk: int = 20000) -> float:
    """Importance-weighted estimate of -log p(x) with k samples of q(z|x) (nats per image).

    log p(x) >= log mean_k p(x|z_k) p(z_k) / q(z_k|x); it tightens as k grows and
    lies below the negative ELBO (k = 1).
    """
    model.eval()
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    total = 0.0
    per_batch = max(1, chunk // k)
    for b in _batches(x, per_batch):
        b = model.flatten(b.to(dev))
        mu, logvar = model.encode(b)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((k, *mu.shape), generator=gen, device=dev)
        z = mu + std * eps  # (k, B, latent)
        logits = model.decode_logits(z.reshape(-1, mu.shape[1])).reshape(k, b.shape[0], -1)
        log_px_z = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, b.expand(k, -1, -1), reduction="none"
        ).sum(-1)
        log_pz = (-0.5 * z.pow(2) - half_log_2pi).sum(-1)
        log_qz = (-0.5 * eps.pow(2) - 0.5 * logvar - half_log_2pi).sum(-1)
        log_w = log_px_z + log_pz - log_qz
        log_px = torch.logsumexp(log_w, dim=0) - math.log(k)
        total += float(-log_px.sum())
    return total / x.shape[0]


@dataclass(frozen=True)
class PCA:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D), orthonormal rows, by decreasing variance
    explained_variance: np.ndarray  # (k,)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.components.T

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        return codes @ self.components + self.mean

    def reconstruction_mse(self, x: np.ndarray) -> float:
        """Per-pixel MSE of projecting x onto the principal subspace."""
        x = np.asarray(x, dtype=np.float64)
        return float(np.mean((self.inverse_transform(self.transform(x)) - x) ** 2))


def pca_fit(x: np.ndarray | torch.Tensor, k: int) -> PCA:
    """Principal components of the rows of x (N, D) via the covariance eigen-decomposition.

    Computed with torch (in float64) so it honours torch.set_num_threads: numpy's own
    multi-threaded eigh took 2.5-5 s instead of 0.15 s on a busy 2-core machine."""
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    t = t.reshape(t.shape[0], -1).to(torch.float64)
    if not 1 <= k <= min(t.shape):
        raise ValueError(f"cannot fit {k} components to data of shape {tuple(t.shape)}")
    mean = t.mean(dim=0)
    centred = t - mean
    values, vectors = torch.linalg.eigh(centred.T @ centred / max(1, t.shape[0] - 1))
    order = torch.argsort(values, descending=True)[:k]
    return PCA(mean=mean.numpy(), components=vectors[:, order].T.contiguous().numpy(),
               explained_variance=values[order].numpy())


def principal_angles(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Principal angles in degrees between the column spaces of a (D, p) and b (D, q), ascending."""
    a = np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    b = np.asarray(b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else b, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("principal angles of a subspace with NaN or infinite entries are undefined")
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.degrees(np.arccos(np.clip(s, -1.0, 1.0)))


@torch.inference_mode()
def feed_back(model: Model, image: np.ndarray | torch.Tensor, passes: int) -> np.ndarray:
    """Pass one image (H, W), or colour (H, W, 3), through ``model`` ``passes`` times,
    each output the next input: (passes, *image.shape) float32 in [0, 1], the first
    pass first."""
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be a whole number >= 1, got {passes!r}")
    shape = tuple(np.shape(image))
    x = data.as_float_images(np.asarray(image, dtype=np.float32)[None])
    outputs = []
    for _ in range(passes):
        x = model.reconstruct(x).clamp_(0.0, 1.0)
        outputs.append(x)
    rows = torch.cat(outputs)
    if len(shape) == 3:  # channels-last colour: model rows are channels-first
        return data.to_display(rows, shape[:2], shape[2])
    return rows.reshape(passes, *shape).numpy()


def psnr_db(image: np.ndarray, clean: np.ndarray) -> float:
    """PSNR in dB of one image against the clean one (both in [0, 1], the same layout,
    grey or colour: the mean squared error runs over every value)."""
    a = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, -1)
    b = torch.as_tensor(np.asarray(clean, dtype=np.float32)).reshape(1, -1)
    return float(psnr(a, b)[0])


def knn_votes(ref_codes: np.ndarray, ref_labels: np.ndarray, codes: np.ndarray, *, k: int = 5,
              exclude: np.ndarray | None = None, chunk: int = 1000) -> np.ndarray:
    """The label most of each code's ``k`` nearest reference codes carry (Euclidean,
    in the full latent space; a tie goes to the smallest label). ``exclude[i]``: the
    index of a reference code query ``i`` may not count (itself, when the reference
    set holds the queries' own images)."""
    ref = np.asarray(ref_codes, dtype=np.float64)
    ref_labels = np.asarray(ref_labels, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.float64)
    sq = (ref**2).sum(axis=1)
    classes = int(ref_labels.max()) + 1
    out = np.empty(len(codes), dtype=np.int64)
    for start in range(0, len(codes), chunk):
        q = codes[start : start + chunk]
        d2 = sq[None, :] - 2.0 * q @ ref.T
        if exclude is not None:
            d2[np.arange(len(q)), exclude[start : start + chunk]] = np.inf
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        votes = np.zeros((len(q), classes), dtype=np.int64)
        np.add.at(votes, (np.repeat(np.arange(len(q)), k), ref_labels[nearest].ravel()), 1)
        out[start : start + len(q)] = votes.argmax(axis=1)
    return out
