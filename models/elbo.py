"""The ELBO of one image, term by term, and what a beta-VAE's outputs look like.

-ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || p(z)): a reconstruction term
(Bernoulli likelihood, nats) plus the posterior's distance from the prior N(0, I).
The importance-weighted bound with k samples lies between -log p(x) and -ELBO.
Pure torch + numpy; the lab's ELBO tab draws what these return.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from models import metrics
from models.data import as_float_images
from models.nets import VAE

# Monte Carlo draws of z for the reconstruction term of one image: its standard
# error is then well under a nat for the bundled VAE, far below the IWAE gap.
RECON_SAMPLES = 64
IWAE_K = 1000
BETA_MIN, BETA_MAX = 0.1, 10.0
ACTIVE_VARIANCE = 0.01


@dataclass(frozen=True)
class ElboTerms:
    """-ELBO of one image in nats, split into its two terms, with q(z|x) itself."""

    recon: float  # E_q[-log p(x|z)], averaged over ``samples`` draws of z
    kl: float  # KL(q(z|x) || N(0, I)), exact
    mu: np.ndarray  # (latent,) posterior mean
    sigma: np.ndarray  # (latent,) posterior standard deviations
    samples: int

    @property
    def nelbo(self) -> float:
        return self.recon + self.kl


def _one(model: VAE, image: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = as_float_images(np.asarray(image)[None] if not isinstance(image, torch.Tensor) else image[None])
    return model.flatten(x)


def _check_vae(model) -> None:
    if not isinstance(model, VAE):
        raise TypeError(f"the ELBO needs a variational autoencoder, got a {model.config.title.lower()}")


@torch.inference_mode()
def elbo_terms(model: VAE, image: np.ndarray | torch.Tensor, *, samples: int = RECON_SAMPLES, seed: int = 0) -> ElboTerms:
    """The reconstruction and KL terms of -ELBO for one image (H, W), uint8 or [0, 1]."""
    _check_vae(model)
    model.eval()
    x = _one(model, image)
    figures = metrics.negative_elbo(model, x, samples=samples, seed=seed)
    mu, logvar = model.encode(x)
    return ElboTerms(
        recon=figures["recon"],
        kl=figures["kl"],
        mu=mu[0].double().numpy(),
        sigma=torch.exp(0.5 * logvar[0]).double().numpy(),
        samples=samples,
    )


def iwae_bound(model: VAE, image: np.ndarray | torch.Tensor, *, k: int = IWAE_K, seed: int = 0) -> float:
    """The importance-weighted bound on -log p(x) of one image with k samples (nats)."""
    _check_vae(model)
    if k < 1:
        raise ValueError(f"the importance-weighted bound needs at least one sample, got k = {k}")
    return metrics.iwae_nll(model, _one(model, image), k=k, seed=seed)


@torch.inference_mode()
def posterior_samples(model: VAE, image: np.ndarray | torch.Tensor, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n codes z ~ q(z|x) by the reparameterisation z = mu + sigma * eps, and their
    decoded images: ((n, latent), (n, H, W) in [0, 1])."""
    _check_vae(model)
    model.eval()
    mu, logvar = model.encode(_one(model, image))
    gen = torch.Generator().manual_seed(seed)
    z = model.reparameterize(mu.expand(n, -1), logvar.expand(n, -1), gen)
    images = model.decode(z).reshape(n, *model.config.image_shape)
    return z.double().numpy(), images.numpy()


def edge_strength(images: np.ndarray) -> float:
    """Root-mean-square difference between neighbouring pixels of images (N, H, W) in
    [0, 1]: blurred images have softer edges, so this falls as outputs blur."""
    a = np.asarray(images, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    dx = np.square(np.diff(a, axis=2)).mean()
    dy = np.square(np.diff(a, axis=1)).mean()
    return float(np.sqrt((dx + dy) / 2))


def sharpness(outputs: np.ndarray, inputs: np.ndarray) -> float:
    """Edge strength of the outputs as a fraction of the inputs' (1.0 = as sharp as the data)."""
    reference = edge_strength(inputs)
    return edge_strength(outputs) / reference if reference > 0 else math.nan


def active_dimensions(codes: np.ndarray, *, threshold: float = ACTIVE_VARIANCE) -> int:
    """How many latent dimensions the posterior means use: those whose variance across
    images exceeds ``threshold`` (Burda et al.'s active units). The rest have collapsed
    onto the prior and carry nothing about the image."""
    codes = np.asarray(codes, dtype=np.float64)
    return int(np.sum(codes.var(axis=0) > threshold))


def beta_from_position(position: int, steps: int) -> float:
    """A slider position 0..steps -> beta on a log scale from BETA_MIN to BETA_MAX,
    rounded to two significant figures (so runs can be cached by value)."""
    if steps < 1 or not 0 <= position <= steps:
        raise ValueError(f"slider position {position} is outside 0..{steps}")
    beta = BETA_MIN * (BETA_MAX / BETA_MIN) ** (position / steps)
    return float(f"{beta:.2g}")


def position_from_beta(beta: float, steps: int) -> int:
    """The slider position nearest to beta (clipped to the slider's range)."""
    beta = min(max(float(beta), BETA_MIN), BETA_MAX)
    return int(round(steps * math.log(beta / BETA_MIN) / math.log(BETA_MAX / BETA_MIN)))
