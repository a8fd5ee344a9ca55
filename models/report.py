"""The evaluation figures printed by ``main.py eval``, one flat dict per model."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from models import corrupt, inpaint, metrics
from models.nets import VAE, LinearAE, Model

# The denoising benchmark every report uses: Gaussian noise, sigma 0.5, clipped.
DENOISE_SIGMA = 0.5
ELBO_SAMPLES = 10
# The inpainting benchmark: a 12x12 square hole in the centre of every test image.
INPAINT_HOLE = 12
# Iterations per method in the report: each has converged (or, for the DAE,
# reached its best) by then on the bundled models, and the whole set stays a
# few seconds of CPU.
INPAINT_STEPS = {"ae_projection": 10, "vae_latent": 10, "dae": 4}


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
    if model.kind == "linear" and isinstance(model, LinearAE):
        fit_x = test_x if train_x is None else train_x
        pca = metrics.pca_fit(fit_x.numpy(), model.latent)
        out["pca_mse"] = pca.reconstruction_mse(test_x.numpy())
        angles = metrics.principal_angles(model.subspace(), pca.components.T)
        out["max_principal_angle_deg"] = float(np.max(angles))
    if model.kind in ("dae", "ae", "vae"):
        noisy = corrupt.gaussian_noise(test_x, DENOISE_SIGMA, seed=seed)
        psnr_noisy, psnr_out = metrics.denoising_psnr(model, noisy, test_x)
        out.update(psnr_noisy=psnr_noisy, psnr_out=psnr_out, psnr_gain_db=psnr_out - psnr_noisy)
    return out


def inpainting_figures(
    models_by_kind: Mapping[str, Model],
    test_x: torch.Tensor,
    mean_image: torch.Tensor,
    *,
    seed: int = 0,
) -> dict[str, float | str]:
    """Masked-region MSE per pixel of each inpainting method on the centre-square hole.

    ``models_by_kind`` maps "ae", "vae", "dae" and "dae_masking" (a DAE
    trained with masking noise) to models (any may be missing); ``mean_image`` is the training set's mean digit, the baseline
    fill. ``method`` names the method with the lowest error and ``masked_mse``
    is its error.
    """
    side = int(round(test_x[0].numel() ** 0.5))
    mask = corrupt.center_square_mask(INPAINT_HOLE, (side, side))
    fills = {"mean_fill": inpaint.mean_fill(test_x, mask, mean_image)}
    if "ae" in models_by_kind:
        fills["ae_projection"] = inpaint.project_ae(
            models_by_kind["ae"].eval(), test_x, mask, steps=INPAINT_STEPS["ae_projection"], mean_image=mean_image
        )
    vae = models_by_kind.get("vae")
    if isinstance(vae, VAE):
        fills["vae_latent"] = inpaint.optimise_vae_latent(
            vae.eval(), test_x, mask, steps=INPAINT_STEPS["vae_latent"], mean_image=mean_image, seed=seed
        )
    for name in ("dae", "dae_masking"):
        if name in models_by_kind:
            fills[name] = inpaint.dae_fill(
                models_by_kind[name].eval(), test_x, mask, steps=INPAINT_STEPS["dae"], mean_image=mean_image
            )
    errors = {name: inpaint.masked_mse(r.image, test_x, mask) for name, r in fills.items()}
    out: dict[str, float | str] = {"mean_fill_mse": errors["mean_fill"]}
    out.update({f"{name}_mse": err for name, err in errors.items() if name != "mean_fill"})
    # The baseline is not a contender: "best" is the best of the models.
    contenders = [name for name in errors if name != "mean_fill"] or ["mean_fill"]
    best = min(contenders, key=errors.__getitem__)
    out["masked_mse"] = errors[best]
    out["method"] = best
    return out


# The stand-in for other people's handwriting (models/foreign.py) is made from every
# fifth test digit: 2,000 digits, a few seconds, every class.
ROBUST_EVERY = 5
KNN_K = 5


def handwriting_figures(
    models_by_prefix: Mapping[str, Model],
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    train_images: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
) -> dict[str, float]:
    """How often a 5-nearest-neighbour vote among the reference codes names a digit's
    class: ``<prefix>.knn_accuracy`` for the clean test digits and
    ``robust.<prefix>.knn_accuracy`` for the stand-in for foreign handwriting. The
    reference codes are the training images' when given, else the test images' own
    (each digit's own code, and for the stand-in its source digit's, left out)."""
    from models.data import as_float_images
    from models.foreign import foreign_digits

    chosen = np.arange(0, len(test_images), ROBUST_EVERY)
    foreign = torch.from_numpy(foreign_digits(test_images[chosen])).flatten(1)
    test_x = as_float_images(test_images)
    own = train_images is None
    ref_x = test_x if train_images is None else as_float_images(train_images)
    ref_y = np.asarray(test_labels if own else train_labels)
    labels = np.asarray(test_labels)
    out: dict[str, float] = {}
    for prefix, model in models_by_prefix.items():
        model = model.to("cpu").eval()
        ref = metrics.embed(model, ref_x).numpy()
        clean = ref if own else metrics.embed(model, test_x).numpy()
        votes = metrics.knn_votes(ref, ref_y, clean, k=KNN_K, exclude=np.arange(len(clean)) if own else None)
        out[f"{prefix}.knn_accuracy"] = float((votes == labels).mean())
        votes = metrics.knn_votes(ref, ref_y, metrics.embed(model, foreign).numpy(), k=KNN_K, exclude=chosen if own else None)
        out[f"robust.{prefix}.knn_accuracy"] = float((votes == labels[chosen]).mean())
    return out


def binarized_figures(model: VAE, test_x: torch.Tensor, *, iwae_k: int = 0, seed: int = 0) -> dict[str, float]:
    """A VAE's figures by the literature's protocol: on the test set stochastically
    binarised once (seed 0), the negative ELBO and, with ``iwae_k``, the
    importance-weighted bound on the negative log-likelihood, in nats per image."""
    from models.data import binarized

    model = model.to("cpu").eval()
    x = binarized(test_x, seed=0)
    out = {k: v for k, v in metrics.negative_elbo(model, x, samples=ELBO_SAMPLES, seed=seed).items() if k == "nelbo"}
    if iwae_k:
        out["iwae_nll"] = metrics.iwae_nll(model, x, k=iwae_k, seed=seed)
    return out
