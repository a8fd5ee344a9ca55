"""Autoencoder networks built from one frozen config each.

Contract shared by every model (inputs are float tensors in [0, 1]):

- ``encode(x)``: ``x`` of shape (B, pixels), (B, H, W) (grey) or (B, C, H, W),
  where pixels = C * H * W and flat rows are channels-first (models.data makes
  them from stored images). The AE family returns codes ``z`` (B, latent); the
  VAE returns ``(mu, logvar)``, each (B, latent).
- ``embed(x)``: the deterministic code used for plotting, (B, latent): ``z``
  for the AE family, the posterior mean ``mu`` for the VAE.
- ``decode(z)``: images (B, pixels). Sigmoid outputs in [0, 1] except the
  linear AE, whose outputs are unbounded (it is PCA, not an image model).
- ``forward(x)``: AE family: the reconstruction ``x_hat`` (B, pixels);
  VAE: ``VAEOutput(logits, mu, logvar, z)`` with one reparameterised sample.
- ``reconstruct(x)``: ``decode(embed(x))`` for every kind.

``NetConfig.arch`` picks the layers: "mlp" (linear layers over the flat image, any
size) or "conv" (models/conv.py's strided convolutions, square 28, 32 or 64 pixel
images; ``hidden`` then lists the conv layers' channel widths). Both give the same
contract, and a conv VAE is a ``VAE``, a conv AE an ``AE``.
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

from models import conv
from models.kinds import ARCHS, CONV_KINDS, KIND_TITLES, KINDS, conv_sides_text

LIKELIHOODS = ("bernoulli", "gaussian")
RECON_LOSSES = ("mse", "l1", "bce", "cosine")
CHANNELS = (1, 3)


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
    # Colour planes per pixel: 1 grey, 3 colour (RGB, channels-first in flat rows).
    channels: int = 1
    # "mlp" or "conv" (square 28, 32 or 64 pixel images; hidden = conv channel widths).
    arch: str = "mlp"

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
        if isinstance(self.channels, bool) or self.channels not in CHANNELS:
            raise ConfigError(f"channels must be 1 (grey) or 3 (colour), got {self.channels!r}")
        object.__setattr__(self, "channels", int(self.channels))
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown architecture {self.arch!r}; choose {' or '.join(ARCHS)}")
        if self.arch == "conv":
            self._check_conv()

    def _check_conv(self) -> None:
        h, w = self.image_shape
        if self.kind not in CONV_KINDS:
            raise ConfigError(f"a {self.title.lower()} has no convolutional form; use arch 'mlp' for it")
        if h != w or h not in conv.CONV_SIDES:
            sides = conv_sides_text(squared=True)
            raise ConfigError(f"convolutional models need square {sides} pixel images, got {h} x {w}; use arch 'mlp' for other sizes")
        problem = conv.check_widths(h, self.hidden)
        if problem:
            raise ConfigError(f"{problem}; got hidden {list(self.hidden)}")

    @property
    def pixels(self) -> int:
        """Numbers per image: channels * height * width."""
        return self.channels * self.image_shape[0] * self.image_shape[1]

    @property
    def colour(self) -> bool:
        return self.channels == 3

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_shape"] = list(self.image_shape)
        d["hidden"] = list(self.hidden)
        # A grey MLP's dict stays as it was before colour and conv existed, so its
        # checkpoints still open in versions that do not know these fields.
        for name in ("channels", "arch"):
            if d[name] == self.__dataclass_fields__[name].default:
                del d[name]
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


def default_hidden(arch: str, image_shape: tuple[int, int] = (28, 28)) -> tuple[int, ...]:
    """The hidden sizes a caller with no preference should use: the MLP's (512, 256),
    or a conv model's channel widths for its image side."""
    if arch == "conv":
        side = int(image_shape[0])
        if side not in conv.DEFAULT_WIDTHS:
            sides = conv_sides_text()
            raise ConfigError(f"convolutional models need square {sides} pixel images, got {image_shape[0]} x {image_shape[1]}")
        return conv.DEFAULT_WIDTHS[side]
    if arch not in ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}; choose {' or '.join(ARCHS)}")
    return NetConfig().hidden


class _Base(nn.Module):
    config: NetConfig

    # Declared here so reconstruct() type-checks; every kind defines both.
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def flatten(self, x: torch.Tensor) -> torch.Tensor:
        """Accept (B, pixels), (B, H, W) or (B, 1, H, W) (grey), (B, C, H, W) and
        return (B, pixels), channels-first."""
        c = self.config
        h, w = c.image_shape
        if c.channels == 1:
            # Everything after the batch axis must hold one image, so (B, 3, 28, 28)
            # is refused here instead of failing inside reshape.
            ok = (
                x.dim() >= 2
                and x.shape[-1] * (x.shape[-2] if x.dim() >= 3 else 1) == c.pixels
                and math.prod(x.shape[1:]) == c.pixels
            )
        else:
            # Only the layouts that say where the channels are: a channels-last
            # (B, H, W, 3) batch has the right size but would be read scrambled.
            ok = tuple(x.shape[1:]) in ((c.pixels,), (c.channels, h, w))
        if ok:
            return x.reshape(x.shape[0], c.pixels)
        what = f"{c.pixels} pixels ({h}x{w})" if c.channels == 1 else f"{c.pixels} values ({c.channels} x {h}x{w}, channels first)"
        raise ValueError(f"expected images with {what}, got shape {tuple(x.shape)}")

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as (B, C, H, W), what a convolution reads."""
        return self.flatten(x).reshape(x.shape[0], self.config.channels, *self.config.image_shape)

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


class ConvAE(AE):
    """Convolutional autoencoder: strided convolutions and a linear layer to z, the
    mirror image back (models/conv.py), x_hat = sigmoid(decoder(z))."""

    encoder: nn.Sequential
    decoder: nn.Sequential

    def __init__(self, config: NetConfig):
        _Base.__init__(self)
        self.config = config
        side, widths = config.image_shape[0], config.hidden
        self.encoder = nn.Sequential(
            *conv.conv_encoder(config.channels, side, widths), nn.Linear(conv.feature_size(side, widths), config.latent)
        )
        self.decoder = conv.conv_decoder(config.latent, config.channels, side, widths)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.images(x))


class ConvDenoisingAE(ConvAE):
    """A conv AE whose trainer corrupts the inputs (config.noise) and targets the clean
    image; with noise "grey" it is the colorizing autoencoder."""


class ConvVAE(VAE):
    """VAE with a strided-conv encoder (two linear heads for mu and logvar) and the
    mirrored transposed-conv decoder."""

    def __init__(self, config: NetConfig):
        _Base.__init__(self)
        self.config = config
        side, widths = config.image_shape[0], config.hidden
        self.encoder = conv.conv_encoder(config.channels, side, widths)
        features = conv.feature_size(side, widths)
        self.mu_head = nn.Linear(features, config.latent)
        self.logvar_head = nn.Linear(features, config.latent)
        self.decoder = conv.conv_decoder(config.latent, config.channels, side, widths)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(self.images(x))
        return self.mu_head(h), self.logvar_head(h)


Model = AE | LinearAE | VAE

_CLASSES: dict[tuple[str, str], Callable[[NetConfig], Model]] = {
    ("mlp", "ae"): AE, ("mlp", "dae"): DenoisingAE, ("mlp", "linear"): LinearAE, ("mlp", "vae"): VAE,
    ("conv", "ae"): ConvAE, ("conv", "dae"): ConvDenoisingAE, ("conv", "vae"): ConvVAE,
}


def model_class(config: NetConfig) -> Callable[[NetConfig], Model]:
    """The class that builds ``config``'s network."""
    return _CLASSES[config.arch, config.kind]


def _output_bias(model: Model) -> torch.Tensor:
    """The parameter that sets the decoder's output with no input: an MLP's last bias,
    a conv decoder's BiasMap."""
    if isinstance(model.decoder, nn.Linear):
        return model.decoder.bias
    for layer in reversed(model.decoder):
        if isinstance(layer, (nn.Linear, conv.BiasMap)):
            return layer.bias
        if not isinstance(layer, nn.Flatten):
            break
    raise TypeError(f"the decoder of a {model.kind} model ends in neither a linear layer nor a bias map")


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
    bias = _output_bias(model)
    if mean.numel() != bias.numel():
        raise ValueError(f"the mean image has {mean.numel()} values, the model's output {bias.numel()}")
    bias.copy_(mean.reshape(bias.shape))


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """Draw every linear and conv layer's weights and bias from ``generator`` exactly
    as torch's layers do from the global RNG (uniform in +-1/sqrt(fan_in)), so a
    generator seeded with s gives the weights ``torch.manual_seed(s)`` would; batch
    norms and a conv decoder's bias map start as they are built (no draw)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            # torch's fan_in: weight.size(1) times the kernel's area (a transposed
            # convolution's weight is (in, out, k, k), so it counts outputs).
            fan_in = module.weight.shape[1] * math.prod(module.weight.shape[2:])
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            module.weight.uniform_(-bound, bound, generator=generator)
            if module.bias is not None:
                module.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()  # weight 1, bias 0, running mean 0 and variance 1
        elif isinstance(module, conv.BiasMap):
            module.bias.zero_()


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
    model = make_network(model_class(config), config, seed=seed, generator=generator)
    if data_mean is not None:
        init_output_bias(model, data_mean)
    return model
