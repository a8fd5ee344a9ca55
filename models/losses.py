"""Loss functions as plain functions of tensors.

Reductions: the ``*_loss`` image losses return one value per example (B,)
unless ``reduction="mean"``; the VAE terms are in nats per image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.nets import VAE, Model, NetConfig


def _reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return per_example
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    raise ValueError(f"unknown reduction {reduction!r}; use 'none', 'mean' or 'sum'")


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(1, -1)


def mse(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Mean squared error per example (mean over coordinates); in [0, inf)."""
    return _reduce(((_flat(x_hat) - _flat(x)) ** 2).mean(dim=1), reduction)


def l1(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Mean absolute error per example; in [0, inf)."""
    return _reduce((_flat(x_hat) - _flat(x)).abs().mean(dim=1), reduction)


def cosine_similarity(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Cosine of the angle between the two vectors per example; in [-1, 1]."""
    return _reduce(F.cosine_similarity(_flat(x_hat), _flat(x), dim=1, eps=1e-8), reduction)


def cosine_loss(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """1 - cosine similarity, so that lower is better like the others; in [0, 2]."""
    return _reduce(1.0 - cosine_similarity(x_hat, x), reduction)


def bce(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Binary cross-entropy summed over pixels (nats per image), x_hat in (0, 1)."""
    per = F.binary_cross_entropy(_flat(x_hat).clamp(1e-7, 1 - 1e-7), _flat(x), reduction="none")
    return _reduce(per.sum(dim=1), reduction)


def bce_with_logits(logits: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Bernoulli negative log-likelihood of grayscale targets, nats per image."""
    per = F.binary_cross_entropy_with_logits(_flat(logits), _flat(x), reduction="none")
    return _reduce(per.sum(dim=1), reduction)


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Unit-variance Gaussian negative log-likelihood (constant dropped): 0.5 * sum of squares."""
    return _reduce(0.5 * ((_flat(mean) - _flat(x)) ** 2).sum(dim=1), reduction)


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per example, in nats; always >= 0."""
    per = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
    return _reduce(per, reduction)


def kl_gaussians(mu_q, logvar_q, mu_p, logvar_p, reduction: str = "none") -> torch.Tensor:
    """KL(q || p) between diagonal Gaussians; asymmetric: swap q and p to see it change."""
    var_q, var_p = logvar_q.exp(), logvar_p.exp()
    per = 0.5 * (logvar_p - logvar_q + (var_q + (mu_q - mu_p) ** 2) / var_p - 1.0).sum(dim=-1)
    return _reduce(per, reduction)


RECON_LOSSES = {"mse": mse, "l1": l1, "bce": bce, "cosine": cosine_loss}


def vae_loss(
    logits: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float = 1.0,
    likelihood: str = "bernoulli",
) -> dict[str, torch.Tensor]:
    """Negative ELBO averaged over the batch: {"loss", "recon", "kl"} in nats per image."""
    if likelihood == "bernoulli":
        recon = bce_with_logits(logits, x, "mean")
    elif likelihood == "gaussian":
        recon = gaussian_nll(torch.sigmoid(logits), x, "mean")
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}")
    kl = kl_normal(mu, logvar, "mean")
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def model_loss(
    model: Model,
    x_in: torch.Tensor,
    target: torch.Tensor,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The training loss of any model: {"loss", "recon"} (+ "kl" for the VAE)."""
    config: NetConfig = model.config
    if isinstance(model, VAE):
        out = model(x_in, generator)
        return vae_loss(out.logits, target, out.mu, out.logvar, beta=config.beta, likelihood=config.likelihood)
    x_hat = model(x_in)
    recon = RECON_LOSSES[config.loss](x_hat, target, "mean")
    return {"loss": recon, "recon": recon}


def nearest_code_loss(
    z_moved: torch.Tensor, z_clean: torch.Tensor, rows: torch.Tensor, *, temperature: float = 0.025
) -> torch.Tensor:
    """How far each distorted digit's code is from being nearest to its own original's,
    among the batch's clean codes: the mean over ``z_moved`` (the codes of the rows
    ``rows`` of the batch, seen distorted) of the cross-entropy of softmax(-d^2 / T)
    over ``z_clean`` (every row's clean code), the target being its own row (InfoNCE
    on squared distances). The nearest-code vote asks exactly this of a code; the
    reconstruction loss alone lets an elastic wobble move a code into the next class.

    T is ``temperature`` times the batch's mean squared distance between clean codes,
    differentiated with the rest, so the term is blind to the latent space's scale: with
    T held constant it pays to shrink every code while the pairs are still wrong, and
    the next batch's T shrinks with them, down to a collapsed code. In nats, >= 0."""
    if len(rows) == 0:
        return z_clean.new_zeros(())
    d2 = torch.cdist(z_moved, z_clean).pow(2)
    scale = torch.cdist(z_clean, z_clean).pow(2).mean().clamp_min(1e-12)
    return F.cross_entropy(-d2 / (temperature * scale), rows)


def neighbour_loss(z: torch.Tensor, z_near: torch.Tensor, *, width: float = 1e-3) -> torch.Tensor:
    """How far each code in ``z`` is from being nearest its own partner's code (the same
    row of ``z_near``, one of its pixel-space neighbours, models.neighbours) among all
    the partners': InfoNCE on a Cauchy kernel 1 / (1 + d^2 / s), the contrastive form of
    t-SNE (Damrich et al. 2023). Its heavy tail is what lets classes part in a plane: a
    Gaussian kernel (nearest_code_loss) crowds them together, as SNE does.

    s is ``width`` times the batch's mean squared distance between partners' codes,
    differentiated with the rest, so that the term is blind to the latent space's scale
    (see nearest_code_loss). In nats, >= 0."""
    d2 = torch.cdist(z, z_near).pow(2)
    scale = torch.cdist(z_near, z_near).pow(2).mean().clamp_min(1e-12)
    own = torch.arange(len(z), device=z.device)
    return F.cross_entropy(-torch.log1p(d2 / (width * scale)), own)

