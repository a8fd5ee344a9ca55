"""The evaluation figures printed by ``main.py eval``, one flat dict per model."""
from __future__ import annotations

import numpy as np
import torch

from models import corrupt, metrics
from models.nets import VAE, Model

# The denoising benchmark every report uses: Gaussian noise, sigma 0.5, clipped.
DENOISE_SIGMA = 0.5
ELBO_SAMPLES = 10


def model_figures(
    model: Model,
    test_x: torch.Tensor,
    *,
    train_x: torch.Tensor | None = None,
    seed: int = 0,
    iwae_k: int = 0,
) -> dict[str, float]:
    """Test-set figures for one model (keys without the model prefix).

    MSE is per pixel; NELBO terms are nats per image (Bernoulli likelihood on
    grayscale pixels, KL included); PSNR is the mean over images in dB.
    """
    model = model.to("cpu").eval()
    out: dict[str, float] = {"mse": metrics.reconstruction_mse(model, test_x)}
    if isinstance(model, VAE):
        out.update(metrics.negative_elbo(model, test_x, samples=ELBO_SAMPLES, seed=seed))
        if iwae_k:
            out["iwae_nll"] = metrics.iwae_nll(model, test_x, k=iwae_k, seed=seed)
    if model.kind == "linear":
        fit_x = test_x if train_x is None else train_x
        pca = metrics.pca_fit(fit_x.numpy(), model.latent)
        out["pca_mse"] = pca.reconstruction_mse(test_x.numpy())
        angles = metrics.principal_angles(model.subspace(), pca.components.T)
        out["max_principal_angle_deg"] = float(np.max(angles))
    if model.kind in ("dae", "ae", "vae"):
        noisy = corrupt.gaussian_noise(test_x, DENOISE_SIGMA, seed=seed)
        denoised = metrics.reconstruct(model, noisy)
        psnr_noisy = float(metrics.psnr(noisy, test_x).mean())
        psnr_out = float(metrics.psnr(denoised, test_x).mean())
        out.update(psnr_noisy=psnr_noisy, psnr_out=psnr_out, psnr_gain_db=psnr_out - psnr_noisy)
    return out
