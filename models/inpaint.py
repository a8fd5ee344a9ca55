"""Inpainting: fill the missing (masked) pixels of digits and keep the known ones.

Every method here returns known pixels bit-for-bit unchanged; only pixels
where the mask is True are filled. Each iterative method has a generator,
``iter_*``, that yields an ``InpaintResult`` per iteration (step 0 is the
starting fill) so a GUI can animate the hole filling in, and a function that
runs it to the end over a batch of any size, in chunks.

- ``project_ae``: iterative projection through an autoencoder: reconstruct,
  put the known pixels back, repeat. The image is pulled onto the decoder's
  manifold while agreeing with what is known.
- ``optimise_vae_latent``: a coarse search of the latent space, then gradient
  steps on the VAE's latent z, to maximise the likelihood of the known pixels
  under the prior N(0, I); the decoder then paints the hole.
- ``dae_fill``: the clamped iteration with a denoising autoencoder, ideally
  one trained with masking noise (it has learned to fill missing pixels).
- ``mean_fill``: the baseline every method must beat: the dataset's mean digit.

Images are float tensors in [0, 1] (numpy arrays are accepted), batched as
(B, H*W), (B, H, W) or (B, 1, H, W); results have the input's shape. Masks are
bool, True = missing pixel, shaped (H, W) for the whole batch, (B, H, W),
(B, H*W) or like the input. A fully masked image is valid: nothing is known,
so the method falls back to the mean image (or a prior sample for the VAE) and
says so in ``InpaintResult.fallback``.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.nets import VAE, Model

__all__ = [
    "METHODS",
    "METHOD_TITLES",
    "InpaintResult",
    "LatentCandidates",
    "dae_fill",
    "iter_dae_fill",
    "iter_optimise_vae_latent",
    "iter_project_ae",
    "latent_candidates",
    "masked_mse",
    "mean_fill",
    "optimise_vae_latent",
    "project_ae",
]

METHODS = ("ae_projection", "vae_latent", "dae", "mean_fill")
METHOD_TITLES = {
    "ae_projection": "AE projection",
    "vae_latent": "VAE latent optimisation",
    "dae": "Denoising AE fill",
    "dae_masking": "Masking-noise DAE fill",
    "mean_fill": "Mean image",
}
# Big enough to keep a CPU busy, small enough that 10,000 test images do not
# hold several copies of the whole set in activations at once.
CHUNK = 2048


@dataclass(frozen=True)
class InpaintResult:
    """One state of an inpainting run: the filled images after ``step`` iterations."""

    image: torch.Tensor  # the input's shape; known pixels are the input's own
    step: int
    method: str
    # Set when some images were fully masked: what they were filled with instead.
    fallback: str | None = None


def _flat_images(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected images as a torch.Tensor or numpy array, got {type(x).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"expected floating-point images in [0, 1], got dtype {t.dtype}")
    if t.dim() not in (2, 3, 4) or (t.dim() == 4 and t.shape[1] != 1):
        raise ValueError(f"expected a batch of images (B, H*W), (B, H, W) or (B, 1, H, W), got shape {tuple(t.shape)}")
    return t.detach().reshape(t.shape[0], -1)


def _flat_mask(mask: torch.Tensor | np.ndarray, batch: int, pixels: int) -> torch.Tensor:
    m = torch.from_numpy(np.array(mask)) if isinstance(mask, np.ndarray) else mask
    if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
        raise TypeError("a mask must be a bool tensor or array (True = missing pixel)")
    if m.numel() == pixels:
        return m.reshape(1, pixels).expand(batch, pixels)
    if m.numel() == batch * pixels and m.shape[0] == batch:
        return m.reshape(batch, pixels)
    raise ValueError(f"a mask of shape {tuple(m.shape)} does not fit {batch} images of {pixels} pixels")


def _prepare(x, mask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(flat images, flat mask, fully-masked rows)."""
    flat = _flat_images(x)
    m = _flat_mask(mask, flat.shape[0], flat.shape[1]).to(flat.device)
    return flat, m, m.all(dim=1)


def _start_fill(flat: torch.Tensor, mean_image: torch.Tensor | np.ndarray | None) -> torch.Tensor:
    """(1, pixels) starting value for the missing pixels: the mean digit, else mid-grey."""
    if mean_image is None:
        return torch.full((1, flat.shape[1]), 0.5, dtype=flat.dtype, device=flat.device)
    mean = torch.as_tensor(np.asarray(mean_image) if isinstance(mean_image, np.ndarray) else mean_image)
    if mean.numel() != flat.shape[1]:
        raise ValueError(f"the mean image has {mean.numel()} pixels, the images have {flat.shape[1]}")
    return mean.reshape(1, -1).to(device=flat.device, dtype=flat.dtype)


def _fallback(full: torch.Tensor, what: str) -> str | None:
    n = int(full.sum())
    if n == 0:
        return None
    if full.numel() == 1:
        return f"the whole image is masked, so nothing is known: showing {what}"
    return f"{n} of {full.numel()} images are fully masked, so nothing is known: filled with {what}"


def _fill_name(mean_image) -> str:
    return "the mean image" if mean_image is not None else "flat grey (no mean image given)"


def _model_device(model: Model) -> torch.device:
    return next(model.parameters()).device


def _decode_images(model: Model, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.reconstruct(y.to(device=_model_device(model), dtype=torch.float32)).to(device=y.device, dtype=y.dtype)


def _iterate_clamped(
    model: Model,
    x,
    mask,
    *,
    steps: int,
    rate: float,
    mean_image,
    method: str,
    start_name: str | None = None,
) -> Iterator[InpaintResult]:
    flat, m, full = _prepare(x, mask)
    _check_steps(steps)
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"the step rate must be in (0, 1], got {rate}")
    start = _start_fill(flat, mean_image)
    fallback = _fallback(full, start_name or _fill_name(mean_image))
    # Fully masked rows have nothing to project onto; they keep the start fill.
    fill_rows = m & ~full[:, None]
    y = torch.where(m, start, flat)
    yield InpaintResult(y.reshape(np.shape(x)), 0, method, fallback)
    for step in range(1, steps + 1):
        r = _decode_images(model, y)
        # rate < 1 moves part of the way: a model that is not a projection
        # (a denoiser shrinks towards its training data) drifts less per step.
        y = torch.where(fill_rows, y + rate * (r - y) if rate < 1.0 else r, y)
        y = torch.where(m, y.clamp(0.0, 1.0), flat)
        yield InpaintResult(y.reshape(np.shape(x)), step, method, fallback)


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"the number of steps must be a whole number >= 0, got {steps!r}")


def iter_project_ae(model: Model, x, mask, *, steps: int = 20, mean_image=None) -> Iterator[InpaintResult]:
    """Yield the iterative projection through ``model``: known pixels clamped after every reconstruction."""
    return _iterate_clamped(model, x, mask, steps=steps, rate=1.0, mean_image=mean_image, method="ae_projection")


def _dae_start(model: Model, mean_image) -> tuple[torch.Tensor | np.ndarray | None, str]:
    """The DAE's starting fill for the hole and its name for a fallback message."""
    # A model trained with masking noise has only seen missing pixels as black:
    # started from the mean digit it takes the grey for ink and whitens the
    # hole (masked MSE 0.5 on the centre square instead of 0.13).
    if model.config.noise == "masking":
        return torch.zeros(model.config.pixels), "black (what masking noise leaves)"
    return mean_image, _fill_name(mean_image)


def iter_dae_fill(
    model: Model, x, mask, *, steps: int = 4, rate: float = 0.5, mean_image=None
) -> Iterator[InpaintResult]:
    """Yield the clamped iteration with a denoising AE, moving ``rate`` of the way per step.

    The hole starts as the mean image, or black for a model trained with masking noise.
    """
    # Defaults measured over the 12x12 centre hole: the bundled Gaussian-noise
    # DAE is best after a few half steps and then slowly erodes the strokes;
    # masking-noise DAEs are best after 3-5 and then grow ink into the hole.
    start, name = _dae_start(model, mean_image)
    return _iterate_clamped(
        model, x, mask, steps=steps, rate=rate, mean_image=start, method="dae", start_name=name
    )


# Latent search: a grid over [-3, 3] per axis (99.7 % of the prior) for 1-D and
# 2-D latents, prior samples otherwise.
SEARCH_CANDIDATES = 1600
SEARCH_RANGE = 3.0
VAE_INITS = ("search", "encoder")


def _known_nll(logits: torch.Tensor, target: torch.Tensor, known: torch.Tensor, likelihood: str) -> torch.Tensor:
    """-log p(known pixels | z) per image, for logits (B, P) of each image's own z."""
    if likelihood == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        per_pixel = 0.5 * (torch.sigmoid(logits) - target) ** 2
    return (per_pixel * known).sum(dim=1)


def _known_nll_table(logits: torch.Tensor, target: torch.Tensor, known: torch.Tensor, likelihood: str) -> torch.Tensor:
    """(B, G): the same for every image against every one of G candidate decodings (G, P)."""
    # As two matrix products instead of a (B, G, P) tensor: BCE with logits is
    # softplus(l) - x * l, and 0.5 (s - x)^2 expands the same way.
    if likelihood == "bernoulli":
        return known @ F.softplus(logits).T - (target * known) @ logits.T
    s = torch.sigmoid(logits)
    return 0.5 * (known @ (s * s).T - 2.0 * (target * known) @ s.T + (target * target * known).sum(1, keepdim=True))


@dataclass(frozen=True)
class LatentCandidates:
    """Codes searched before VAE latent optimisation, with their decoder logits."""

    codes: torch.Tensor  # (G, latent)
    logits: torch.Tensor  # (G, pixels)


def latent_candidates(model: VAE, *, seed: int | None = 0) -> LatentCandidates:
    """The candidate codes for ``model`` decoded once; reuse them while the model is unchanged."""
    # Decoding them is most of the cost of starting an optimisation; a GUI that
    # inpaints again after every brush stroke builds this once per model.
    latent, dev = model.latent, _model_device(model)
    if latent <= 2:
        side = max(2, round(SEARCH_CANDIDATES ** (1.0 / latent)))
        axis = torch.linspace(-SEARCH_RANGE, SEARCH_RANGE, side, device=dev)
        codes = axis.reshape(-1, 1) if latent == 1 else torch.cartesian_prod(axis, axis)
    else:
        gen = torch.Generator(device=dev).manual_seed(0 if seed is None else seed)
        codes = torch.randn((SEARCH_CANDIDATES, latent), generator=gen, device=dev)
    with torch.no_grad():
        return LatentCandidates(codes, model.decode_logits(codes))


def _search_start(
    model: VAE,
    z_enc: torch.Tensor,
    target: torch.Tensor,
    known: torch.Tensor,
    *,
    prior_weight: float,
    candidates: LatentCandidates,
) -> torch.Tensor:
    """Per image, the best of the encoder's guess and the candidate codes.

    Gradient steps from the encoder's guess for a mean-filled image stall in a
    local minimum far from the digit more often than not; a coarse search of
    the latent space first finds the right basin.
    """
    if candidates.codes.shape[1] != z_enc.shape[1] or candidates.logits.shape[1] != target.shape[1]:
        raise ValueError(
            f"the latent candidates are for codes of {candidates.codes.shape[1]} and images of "
            f"{candidates.logits.shape[1]} pixels, this VAE has {z_enc.shape[1]} and {target.shape[1]}; "
            "make them again with latent_candidates(model)"
        )
    likelihood = model.config.likelihood
    codes = candidates.codes.to(z_enc.device)
    table = _known_nll_table(candidates.logits.to(z_enc.device), target, known, likelihood)
    table += prior_weight * 0.5 * codes.pow(2).sum(dim=1)[None, :]
    best_cost, best = table.min(dim=1)
    enc_cost = _known_nll(model.decode_logits(z_enc), target, known, likelihood) + prior_weight * 0.5 * z_enc.pow(2).sum(1)
    return torch.where((enc_cost <= best_cost)[:, None], z_enc, codes[best])


class _Adam:
    """Adam on one tensor, updated in place (torch.optim.Adam's defaults).

    torch.optim's first use imports torch._dynamo, 1.6 s on a laptop CPU: the
    window would freeze that long the first time it inpaints."""

    def __init__(self, param: torch.Tensor, *, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        self.param.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))


def iter_optimise_vae_latent(
    model: VAE,
    x,
    mask,
    *,
    steps: int = 15,
    lr: float = 0.05,
    prior_weight: float = 1.0,
    init: str = "search",
    seed: int | None = 0,
    mean_image=None,
    generator: torch.Generator | None = None,
    candidates: LatentCandidates | None = None,
) -> Iterator[InpaintResult]:
    """Yield Adam steps on z minimising -log p(known pixels | z) + prior_weight * ||z||^2 / 2.

    z starts at the encoder's mean for the start-filled image, or with
    ``init="search"`` at the best of that and a coarse search of the latent
    space (``candidates`` from ``latent_candidates``, made here if not given);
    fully masked images get a sample from the prior instead.
    """
    if not isinstance(model, VAE):
        raise TypeError(f"latent optimisation needs a VAE, got a {model.config.title.lower()}")
    if init not in VAE_INITS:
        raise ValueError(f"unknown start {init!r}; choose one of {', '.join(VAE_INITS)}")
    flat, m, full = _prepare(x, mask)
    _check_steps(steps)
    if not lr > 0 or not prior_weight >= 0:
        raise ValueError(f"need lr > 0 and prior_weight >= 0, got lr={lr}, prior_weight={prior_weight}")
    dev = _model_device(model)
    gen = generator
    if gen is None:
        gen = torch.Generator(device=dev).manual_seed(0 if seed is None else seed)
    shape = np.shape(x)
    likelihood = model.config.likelihood
    target = flat.to(device=dev, dtype=torch.float32)
    known = (~m).to(device=dev, dtype=torch.float32)
    full_d = full.to(dev)
    start = torch.where(m, _start_fill(flat, mean_image), flat)
    with torch.no_grad():
        z0 = model.encode(start.to(device=dev, dtype=torch.float32))[0]
        if init == "search" and flat.shape[0] > 0:
            if candidates is None:
                candidates = latent_candidates(model, seed=seed)
            z0 = _search_start(model, z0, target, known, prior_weight=prior_weight, candidates=candidates)
        if bool(full_d.any()):
            sample = torch.randn(z0.shape, generator=gen, device=dev, dtype=z0.dtype)
            z0 = torch.where(full_d[:, None], sample, z0)
    fallback = _fallback(full, "a sample from the prior")
    z = z0.clone().requires_grad_(True)
    opt = _Adam(z, lr=lr)
    # Fully masked rows keep their prior sample: their only gradient would pull them to z = 0.
    active = (~full_d).to(torch.float32)

    def output(logits: torch.Tensor) -> torch.Tensor:
        filled = torch.sigmoid(logits.detach()).to(device=flat.device, dtype=flat.dtype)
        return torch.where(m, filled, flat).reshape(shape)

    for step in range(steps + 1):
        if step == steps:
            with torch.no_grad():
                final = output(model.decode_logits(z))
            yield InpaintResult(final, step, "vae_latent", fallback)
            return
        # Grad mode is switched on per step, not across a yield, so the caller's
        # mode (eval runs with grad disabled) is never changed behind its back.
        with torch.enable_grad():
            logits = model.decode_logits(z)
            per_image = _known_nll(logits, target, known, likelihood) + prior_weight * 0.5 * z.pow(2).sum(dim=1)
            (grad,) = torch.autograd.grad((per_image * active).sum(), z)
        yield InpaintResult(output(logits), step, "vae_latent", fallback)
        opt.step(grad)


def _run(
    make: Callable[[torch.Tensor, torch.Tensor], Iterator[InpaintResult]], x, mask, *, chunk: int, what: str
) -> InpaintResult:
    """Run a generator to its end over chunks of the batch and join the final images."""
    flat, m, full = _prepare(x, mask)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    images: list[torch.Tensor] = []
    last: InpaintResult | None = None
    for i in range(0, flat.shape[0], chunk):
        # Only each chunk's final result counts; the deque keeps just that one.
        last = deque(make(flat[i : i + chunk], m[i : i + chunk]), maxlen=1)[0]
        images.append(last.image)
    if last is None:  # an empty batch: nothing to fill
        return InpaintResult(flat.reshape(np.shape(x)).clone(), 0, "", None)
    # Each chunk's message counts only its own images; say it for the whole batch.
    return InpaintResult(torch.cat(images).reshape(np.shape(x)), last.step, last.method, _fallback(full, what))


def project_ae(model: Model, x, mask, *, steps: int = 20, mean_image=None, chunk: int = CHUNK) -> InpaintResult:
    """Iterative projection through an AE, run to the end (see ``iter_project_ae``)."""
    return _run(
        lambda xb, mb: iter_project_ae(model, xb, mb, steps=steps, mean_image=mean_image),
        x, mask, chunk=chunk, what=_fill_name(mean_image),
    )


def dae_fill(
    model: Model, x, mask, *, steps: int = 4, rate: float = 0.5, mean_image=None, chunk: int = CHUNK
) -> InpaintResult:
    """Clamped iteration with a denoising AE, run to the end (see ``iter_dae_fill``)."""
    return _run(
        lambda xb, mb: iter_dae_fill(model, xb, mb, steps=steps, rate=rate, mean_image=mean_image),
        x, mask, chunk=chunk, what=_dae_start(model, mean_image)[1],
    )


def optimise_vae_latent(
    model: VAE,
    x,
    mask,
    *,
    steps: int = 15,
    lr: float = 0.05,
    prior_weight: float = 1.0,
    init: str = "search",
    seed: int | None = 0,
    mean_image=None,
    chunk: int = CHUNK,
) -> InpaintResult:
    """VAE latent optimisation run to the end (see ``iter_optimise_vae_latent``)."""
    # One generator across chunks, so the prior samples do not repeat per chunk.
    gen = torch.Generator(device=_model_device(model)).manual_seed(0 if seed is None else seed)
    candidates = latent_candidates(model, seed=seed) if init == "search" else None
    return _run(
        lambda xb, mb: iter_optimise_vae_latent(
            model, xb, mb, steps=steps, lr=lr, prior_weight=prior_weight, init=init, mean_image=mean_image,
            generator=gen, candidates=candidates,
        ),
        x, mask, chunk=chunk, what="a sample from the prior",
    )


def mean_fill(x, mask, mean_image) -> InpaintResult:
    """The baseline: masked pixels from the mean image, known pixels kept."""
    flat, m, _ = _prepare(x, mask)
    return InpaintResult(torch.where(m, _start_fill(flat, mean_image), flat).reshape(np.shape(x)), 0, "mean_fill")


def masked_mse(filled, x, mask) -> float:
    """Per-pixel MSE over the masked pixels only (0.0 when nothing is masked)."""
    a, m, _ = _prepare(filled, mask)
    b = _flat_images(x)
    if a.shape != b.shape:
        raise ValueError(f"filled images {tuple(a.shape)} and originals {tuple(b.shape)} differ in shape")
    if not bool(m.any()):
        return 0.0
    return float(((a - b.to(a.dtype)) ** 2)[m].double().mean())
