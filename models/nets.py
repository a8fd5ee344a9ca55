"""Autoencoder networks built from one frozen config each.

Contract shared by every model (inputs are float tensors in [0, 1]):

- ``encode(x)``: ``x`` of shape (B, 784) or (B, 1, 28, 28) (any image shape
  matching the config). The AE family returns codes ``z`` (B, latent); the VAE
  returns ``(mu, logvar)``, each (B, latent).
- ``embed(x)``: the deterministic code used for plotting, (B, latent): ``z``
  for the AE family, the posterior mean ``mu`` for the VAE.
- ``decode(z)``: images (B, pixels). Sigmoid outputs in [0, 1] except the
  linear AE, whose outputs are unbounded (it is PCA, not an image model).
- ``forward(x)``: AE family: the reconstruction ``x_hat`` (B, pixels);
  VAE: ``VAEOutput(logits, mu, logvar, z)`` with one reparameterised sample.
- ``reconstruct(x)``: ``decode(embed(x))`` for every kind.
"""
from __future__ import annotations

import itertools
import math
import numbers
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, TypeVar

import torch
from torch import nn

from models.kinds import KIND_TITLES, KINDS

LIKELIHOODS = ("bernoulli", "gaussian")
RECON_LOSSES = ("mse", "l1", "bce", "cosine")


class ConfigError(ValueError):
    """A model configuration that cannot be built."""


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to rebuild a network; stored in every checkpoint."""

    kind: str = "ae"
    image_shape: tuple[int, int] = (28, 28)
    latent: int = 2
    hidden: tuple[int, ...] = (512, 256)
    # VAE only: the decoder's likelihood and the weight of the KL term.
    likelihood: str = "bernoulli"
    beta: float = 1.0
    # AE family: reconstruction loss.
    loss: str = "mse"
    # Denoising AE only: the corruption applied to inputs while training.
    noise: str = "gaussian"
    noise_level: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
        object.__setattr__(self, "hidden", tuple(int(v) for v in self.hidden))
        if self.kind not in KINDS:
            raise ConfigError(f"unknown model kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if len(self.image_shape) != 2 or min(self.image_shape) < 1:
            raise ConfigError(f"image_shape must be (height, width), got {self.image_shape}")
        # A float latent (hand-edited checkpoint config) would otherwise fail deep inside nn.Linear.
        if isinstance(self.latent, bool) or not isinstance(self.latent, numbers.Integral):
            raise ConfigError(f"latent size must be a whole number, got {self.latent!r}")
        object.__setattr__(self, "latent", int(self.latent))
        if self.latent < 1:
            raise ConfigError(f"latent size must be at least 1, got {self.latent}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden sizes must be positive, got {self.hidden}")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"unknown likelihood {self.likelihood!r}; choose {' or '.join(LIKELIHOODS)}")
        if self.loss not in RECON_LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {', '.join(RECON_LOSSES)}")
        if not self.beta >= 0:
            raise ConfigError(f"beta must be >= 0, got {self.beta}")

    @property
    def pixels(self) -> int:
        return self.image_shape[0] * self.image_shape[1]

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_shape"] = list(self.image_shape)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config fields: {', '.join(sorted(unknown))}")
        return cls(**d)


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _Base(nn.Module):
    config: NetConfig

    # Declared here so reconstruct() type-checks; every kind defines both.
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def flatten(self, x: torch.Tensor) -> torch.Tensor:
        """Accept (B, pixels), (B, H, W) or (B, 1, H, W) and return (B, pixels)."""
        # Everything after the batch axis must hold one image, so (B, 3, 28, 28)
        # is refused here instead of failing inside reshape.
        if (
            x.dim() >= 2
            and x.shape[-1] * (x.shape[-2] if x.dim() >= 3 else 1) == self.config.pixels
            and math.prod(x.shape[1:]) == self.config.pixels
        ):
            return x.reshape(x.shape[0], self.config.pixels)
        raise ValueError(
            f"expected images with {self.config.pixels} pixels "
            f"({self.config.image_shape[0]}x{self.config.image_shape[1]}), got shape {tuple(x.shape)}"
        )

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def latent(self) -> int:
        return self.config.latent

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.embed(x))


class AE(_Base):
    """MLP autoencoder: z = f(x), x_hat = sigmoid(g(z))."""

    encoder: nn.Sequential | nn.Linear
    decoder: nn.Sequential | nn.Linear

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        sizes = [config.pixels, *config.hidden, config.latent]
        self.encoder = _mlp(sizes)
        self.decoder = _mlp(sizes[::-1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.flatten(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class DenoisingAE(AE):
    """An AE whose trainer corrupts the inputs (config.noise) and targets the clean image."""


class LinearAE(AE):
    """No nonlinearity: trained with MSE it spans the top principal subspace."""

    encoder: nn.Linear
    decoder: nn.Linear

    def __init__(self, config: NetConfig):
        _Base.__init__(self)
        self.config = config
        self.encoder = nn.Linear(config.pixels, config.latent)
        self.decoder = nn.Linear(config.latent, config.pixels)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        # Unbounded on purpose: PCA reconstructions are not confined to [0, 1].
        return self.decoder(z)

    def subspace(self) -> torch.Tensor:
        """The decoder's column space, (pixels, latent): what PCA is compared with."""
        return self.decoder.weight.detach()


class VAEOutput(NamedTuple):
    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


class VAE(_Base):
    """Gaussian encoder q(z|x) = N(mu, diag(sigma^2)), prior N(0, I), MLP decoder."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        sizes = [config.pixels, *config.hidden]
        trunk = _mlp(sizes)
        # The trunk ends in a ReLU because two heads read from it.
        self.encoder = nn.Sequential(*trunk, nn.ReLU()) if config.hidden else nn.Identity()
        width = config.hidden[-1] if config.hidden else config.pixels
        self.mu_head = nn.Linear(width, config.latent)
        self.logvar_head = nn.Linear(width, config.latent)
        self.decoder = _mlp([config.latent, *config.hidden[::-1], config.pixels])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(self.flatten(x))
        return self.mu_head(h), self.logvar_head(h)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)[0]

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I), differentiable in mu and sigma."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return VAEOutput(self.decode_logits(z), mu, logvar, z)


Model = AE | LinearAE | VAE

_CLASSES: dict[str, Callable[[NetConfig], Model]] = {"ae": AE, "dae": DenoisingAE, "linear": LinearAE, "vae": VAE}


def _output_layer(model: Model) -> nn.Linear:
    layer = model.decoder if isinstance(model.decoder, nn.Linear) else model.decoder[-1]
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"the decoder of a {model.kind} model does not end in a linear layer")
    return layer


@torch.no_grad()
def init_output_bias(model: Model, mean_image: torch.Tensor) -> None:
    """Start the decoder's output at the data's mean image.

    A linear AE then only has to find the principal subspace instead of also
    chasing the (large) mean through it, which makes it converge to PCA in a
    few epochs instead of hundreds; sigmoid decoders start at logit(mean).
    """
    mean = mean_image.reshape(-1).to(torch.float32)
    if model.kind != "linear":
        mean = torch.logit(mean.clamp(1e-3, 1 - 1e-3))
    _output_layer(model).bias.copy_(mean)


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """Draw every linear layer's weights and bias from ``generator`` exactly as
    ``nn.Linear`` does from the global RNG (uniform in +-1/sqrt(fan_in)), so a
    generator seeded with s gives the weights ``torch.manual_seed(s)`` would."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.in_features) if module.in_features > 0 else 0.0
            module.weight.uniform_(-bound, bound, generator=generator)
            if module.bias is not None:
                module.bias.uniform_(-bound, bound, generator=generator)


_M = TypeVar("_M", bound=nn.Module)


def make_network(
    cls: Callable[[NetConfig], _M], config: NetConfig, *, seed: int | None = None, generator: torch.Generator | None = None
) -> _M:
    """``cls(config)`` on the CPU with its weights drawn from ``seed`` or ``generator``
    (not both), never from or changing the global RNG, so threads can build models
    side by side; with neither, torch's default initialisation from the global RNG."""
    if generator is None:
        if seed is None:
            return cls(config)
        generator = torch.Generator().manual_seed(operator.index(seed))
    elif seed is not None:
        raise ValueError("pass either seed or generator, not both")
    # Built on the meta device the layers allocate and draw nothing; init_weights fills them.
    with torch.device("meta"):
        model = cls(config)
    model = model.to_empty(device="cpu")
    init_weights(model, generator)
    return model


def build_model(
    config: NetConfig,
    *,
    data_mean: torch.Tensor | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> Model:
    """Build an untrained network for ``config``; with ``data_mean`` (the training
    set's mean image) its output starts at that mean. ``seed`` or ``generator`` make
    the weights reproducible without touching the global RNG (see make_network)."""
    model = make_network(_CLASSES[config.kind], config, seed=seed, generator=generator)
    if data_mean is not None:
        init_output_bias(model, data_mean)
    return model
