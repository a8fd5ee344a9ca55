"""One image's trip through a model, with every number kept: the computation view.

``trace(model, image, eps=...)`` runs an image through the encoder, the sampling
step (a VAE's z = mu + sigma * eps for a given eps) and the decoder, and keeps each
layer's activations and the loss terms exactly as ``losses.model_loss`` computes
them for that image and that eps. ``trace(model, z=...)`` starts at a code (a point
dragged on a plot): only the decoder runs and there is no loss, as there is no image.

``gradient_magnitudes(model, image, eps)`` is what one training step on that image
would feel: the gradient of the same loss with respect to each layer's weights and
activations, computed with ``torch.autograd.grad`` so no ``.grad`` is filled and no
weight moves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models import losses
from models.nets import VAE, LinearAE, Model

# What each AE loss is called on the strip (the VAE's terms are named by likelihood).
RECON_NAMES = {"mse": "MSE", "l1": "L1", "bce": "BCE", "cosine": "1 − cosine"}
LIKELIHOOD_NAMES = {"bernoulli": "Bernoulli NLL", "gaussian": "Gaussian NLL"}


class TraceError(ValueError):
    """The trace cannot be made (no image and no code, or one of the wrong size)."""


@dataclass(frozen=True)
class Trace:
    """Every number of one pass: arrays are float64 copies, images (H, W).

    ``encoder`` and ``decoder`` hold the hidden layers' activations (after their ReLU)
    as (name, vector); the code layer and the output are the fields below. For the AE
    family ``mu`` is the code itself (``z``) and the sampling fields are None; when the
    trace starts at a code, ``input``, the encoder and the loss are None."""

    kind: str
    input: np.ndarray | None
    encoder: tuple[tuple[str, np.ndarray], ...]
    mu: np.ndarray | None
    logvar: np.ndarray | None
    sigma: np.ndarray | None
    eps: np.ndarray | None
    z: np.ndarray
    decoder: tuple[tuple[str, np.ndarray], ...]
    output: np.ndarray
    recon: float | None
    kl: float | None
    total: float | None
    beta: float = 1.0
    recon_name: str = ""

    @property
    def is_vae(self) -> bool:
        return self.kind == "vae"

    @property
    def starts_at_z(self) -> bool:
        return self.input is None


@dataclass(frozen=True)
class LayerGradient:
    """The gradient one training step would apply at one linear layer: ``weight`` is
    mean |dL/dW| over its weight matrix, ``activation`` is dL/da for its output (the
    same shape as that output; an image for the decoder's last layer)."""

    name: str
    weight: float
    activation: np.ndarray

    @property
    def norm(self) -> float:
        """The activation gradient's Euclidean norm."""
        return float(np.linalg.norm(self.activation))


@dataclass(frozen=True)
class Gradients:
    """The loss of one image and the gradients of one step on it, by layer name (the
    names of ``Trace.encoder`` / ``Trace.decoder``, then 'z' for an AE's code layer,
    'mu' and 'logvar' for a VAE's heads, 'output' for the decoder's last layer).
    ``dz``: dL/dz; ``dmu``/``dsigma``: what reaches mu and sigma through z = mu + sigma * eps."""

    loss: float
    layers: tuple[LayerGradient, ...]
    dz: np.ndarray
    dmu: np.ndarray | None = None
    dsigma: np.ndarray | None = None

    def layer(self, name: str) -> LayerGradient:
        for g in self.layers:
            if g.name == name:
                return g
        raise KeyError(f"no layer {name!r}; the layers are {', '.join(g.name for g in self.layers)}")


def draw_eps(latent: int, seed: int) -> np.ndarray:
    """eps ~ N(0, I) of size ``latent`` from a generator seeded with ``seed``: the very
    numbers ``VAE.reparameterize`` draws for a batch of one with that generator."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn((1, latent), generator=gen)[0].double().numpy()


def _steps(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return list(module)
    return [] if isinstance(module, nn.Identity) else [module]


def _run(module: nn.Module, h: torch.Tensor, prefix: str) -> tuple[torch.Tensor, list[tuple[str, nn.Linear, torch.Tensor]]]:
    """Run ``module`` keeping each linear layer's output (after the activation that follows it)."""
    kept: list[tuple[str, nn.Linear, torch.Tensor]] = []
    for step in _steps(module):
        h = step(h)
        if isinstance(step, nn.Linear):
            kept.append((f"{prefix} {len(kept) + 1}", step, h))
        elif kept:
            kept[-1] = (kept[-1][0], kept[-1][1], h)
    return h, kept


@dataclass
class _Pass:
    x: torch.Tensor | None
    encoder: list[tuple[str, nn.Linear, torch.Tensor]]
    heads: list[tuple[str, nn.Linear, torch.Tensor]]  # the code layer(s)
    mu: torch.Tensor | None
    logvar: torch.Tensor | None
    eps: torch.Tensor | None
    z: torch.Tensor
    decoder: list[tuple[str, nn.Linear, torch.Tensor]]  # hidden layers, then 'output'
    output: torch.Tensor
    terms: dict[str, torch.Tensor] | None


def _as_input(model: Model, image: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if x.numel() != model.config.pixels:
        h, w = model.config.image_shape
        raise TraceError(f"the model reads {h}x{w} images, got an image of shape {tuple(x.shape)}")
    return x.reshape(1, model.config.pixels)


def _as_vector(model: Model, v: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(v, dtype=np.float32)).reshape(-1)
    if t.numel() != model.latent:
        raise TraceError(f"{what} must have {model.latent} numbers (the model's latent size), got {t.numel()}")
    return t.reshape(1, model.latent)


def check_traceable(model: Model) -> None:
    """Refuse, with the reason, a model the computation view cannot lay out: it draws
    an MLP's layers as vectors and its images grey."""
    cfg = model.config
    if getattr(cfg, "arch", "mlp") != "mlp":
        raise TraceError(f"the computation view shows MLP models layer by layer; this {cfg.kind} is convolutional")
    if getattr(cfg, "channels", 1) != 1:
        raise TraceError(f"the computation view shows grey images; this {cfg.kind} reads colour ones")


def _forward(model: Model, image, z, eps) -> _Pass:
    check_traceable(model)
    if (image is None) == (z is None):
        raise TraceError("trace needs an image or a code z, not both and not neither")
    cfg = model.config
    x = mu = logvar = eps_t = None
    encoder: list[tuple[str, nn.Linear, torch.Tensor]] = []
    heads: list[tuple[str, nn.Linear, torch.Tensor]] = []
    if image is not None:
        x = _as_input(model, image)
        h, encoder = _run(model.encoder, x, "encoder")
        if isinstance(model, VAE):
            m, lv = model.mu_head(h), model.logvar_head(h)
            heads = [("mu", model.mu_head, m), ("logvar", model.logvar_head, lv)]
            eps_t = torch.zeros_like(m) if eps is None else _as_vector(model, eps, "epsilon")
            # The same expression as VAE.reparameterize, with eps drawn outside.
            z_t = m + torch.exp(0.5 * lv) * eps_t
            mu, logvar = m, lv
        else:
            name, layer, z_t = encoder.pop()
            heads = [("z", layer, z_t)]
            mu = z_t
    else:
        z_t = _as_vector(model, z, "z")
    logits, decoder = _run(model.decoder, z_t, "decoder")
    decoder[-1] = ("output", decoder[-1][1], decoder[-1][2])
    output = logits if isinstance(model, LinearAE) else torch.sigmoid(logits)
    terms = None
    if x is not None:
        if isinstance(model, VAE) and mu is not None and logvar is not None:
            terms = losses.vae_loss(logits, x, mu, logvar, beta=cfg.beta, likelihood=cfg.likelihood)
        else:
            recon = losses.RECON_LOSSES[cfg.loss](output, x, "mean")
            terms = {"loss": recon, "recon": recon}
    return _Pass(x, encoder, heads, mu, logvar, eps_t, z_t, decoder, output, terms)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach()[0].double().numpy().copy()


def _opt(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else _np(t)


def trace(
    model: Model,
    image: np.ndarray | torch.Tensor | None = None,
    *,
    z: np.ndarray | torch.Tensor | None = None,
    eps: np.ndarray | torch.Tensor | None = None,
) -> Trace:
    """The pass of one ``image`` (H, W) in [0, 1] through ``model``, or of a code ``z``
    through its decoder only. A VAE samples z = mu + sigma * ``eps`` (eps None: 0, the
    posterior mean). The loss terms are ``losses.model_loss``'s for this image as input
    and target (a denoising AE is traced on the clean image) and this eps."""
    with torch.no_grad():
        p = _forward(model, image, z, eps)
    shape = model.config.image_shape
    is_vae = isinstance(model, VAE)
    sigma = None if p.logvar is None else torch.exp(0.5 * p.logvar)
    terms = p.terms
    return Trace(
        kind=model.kind,
        input=None if p.x is None else p.x.reshape(shape).double().numpy().copy(),
        encoder=tuple((name, _np(a)) for name, _, a in p.encoder),
        mu=_opt(p.mu),
        logvar=_opt(p.logvar),
        sigma=_opt(sigma),
        eps=_opt(p.eps),
        z=_np(p.z),
        decoder=tuple((name, _np(a)) for name, _, a in p.decoder[:-1]),
        output=p.output.detach().reshape(shape).double().numpy().copy(),
        recon=None if terms is None else float(terms["recon"]),
        kl=None if terms is None or "kl" not in terms else float(terms["kl"]),
        total=None if terms is None else float(terms["loss"]),
        beta=float(model.config.beta) if is_vae else 1.0,
        recon_name=LIKELIHOOD_NAMES[model.config.likelihood] if is_vae else RECON_NAMES[model.config.loss],
    )


def gradient_magnitudes(
    model: Model, image: np.ndarray | torch.Tensor, eps: np.ndarray | torch.Tensor | None = None
) -> Gradients:
    """The gradients of one training step on ``image`` (with ``eps`` for a VAE), by
    layer; the model's weights, their ``.grad`` and their ``requires_grad`` are left as
    they were (no optimizer step, nothing accumulated)."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(True)
        with torch.enable_grad():
            run = _forward(model, image, None, eps)
            assert run.terms is not None
            layers = [*run.encoder, *run.heads, *run.decoder]
            wanted = [layer.weight for _, layer, _ in layers] + [a for _, _, a in layers] + [run.z]
            if run.mu is not None and run.logvar is not None and isinstance(model, VAE):
                wanted += [run.mu, run.logvar]
            grads = torch.autograd.grad(run.terms["loss"], wanted, allow_unused=True)
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)

    def arr(g: torch.Tensor | None, like: torch.Tensor) -> np.ndarray:
        return np.zeros(like.shape[1:]) if g is None else g.detach()[0].double().numpy().copy()

    n = len(layers)
    shape = model.config.image_shape
    out = []
    for i, (name, _layer, act) in enumerate(layers):
        gw = grads[i]
        activation = arr(grads[n + i], act)
        if name == "output":
            activation = activation.reshape(shape)
        out.append(LayerGradient(name, 0.0 if gw is None else float(gw.abs().mean()), activation))
    dz = arr(grads[2 * n], run.z)
    dmu = dsigma = None
    if isinstance(model, VAE) and run.logvar is not None:
        # The whole pull on mu and sigma: through z = mu + sigma * eps (dL/dz and
        # dL/dz * eps, since eps is a constant) plus the KL term's own.
        dmu = arr(grads[2 * n + 1], run.z)
        sigma = torch.exp(0.5 * run.logvar.detach())
        # logvar = 2 log sigma, so dL/dsigma = dL/dlogvar * 2 / sigma.
        dsigma = arr(grads[2 * n + 2], run.z) * 2.0 / sigma[0].double().numpy()
    return Gradients(loss=float(run.terms["loss"].detach()), layers=tuple(out), dz=dz, dmu=dmu, dsigma=dsigma)
