"""Networks (shapes, contract, config) and loss functions (the lecture's numbers)."""
import json
import math

import pytest
import torch

from models import losses
from models.nets import (
    AE,
    KINDS,
    VAE,
    ConfigError,
    DenoisingAE,
    LinearAE,
    NetConfig,
    VAEOutput,
    build_model,
)

HIDDEN = (64, 32)


def tiny(kind: str, latent: int = 2):
    torch.manual_seed(0)
    return build_model(NetConfig(kind=kind, latent=latent, hidden=HIDDEN))


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize(
    ("kind", "cls"), [("ae", AE), ("dae", DenoisingAE), ("linear", LinearAE), ("vae", VAE)]
)
def test_every_kind_builds_from_its_config(kind, cls):
    model = tiny(kind)
    assert type(model) is cls
    assert model.kind == kind
    assert model.latent == 2
    assert model.config.title  # shown in the GUI and in error messages


def test_kinds_cover_every_model_class():
    assert set(KINDS) == {"ae", "dae", "linear", "vae"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(5, 784), (5, 1, 28, 28), (5, 28, 28)])
def test_shapes_for_flat_and_image_inputs(kind, shape):
    model = tiny(kind, latent=3)
    x = torch.rand(shape)
    code = model.encode(x)
    if kind == "vae":
        mu, logvar = code
        assert mu.shape == (5, 3) and logvar.shape == (5, 3)
    else:
        assert code.shape == (5, 3)
    assert model.embed(x).shape == (5, 3)
    assert model.decode(torch.randn(5, 3)).shape == (5, 784)
    assert model.reconstruct(x).shape == (5, 784)
    out = model(x)
    if kind == "vae":
        assert isinstance(out, VAEOutput)
        assert out.logits.shape == (5, 784)
        assert out.mu.shape == out.logvar.shape == out.z.shape == (5, 3)
    else:
        assert out.shape == (5, 784)


def test_flat_and_image_inputs_give_the_same_codes():
    model = tiny("ae")
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(model.encode(x), model.encode(x.reshape(4, 784)))


def test_vae_embed_is_the_posterior_mean():
    model = tiny("vae")
    x = torch.rand(6, 784)
    mu, logvar = model.encode(x)
    assert torch.equal(model.embed(x), mu)
    # embed is deterministic, a forward pass samples around it
    assert torch.equal(model.embed(x), model.embed(x))
    out = model(x)
    assert not torch.equal(out.z, mu)


@pytest.mark.parametrize("kind", ["ae", "dae", "vae"])
def test_image_decoders_output_pixels_in_unit_range(kind):
    model = tiny(kind)
    with torch.no_grad():
        # far outside anything seen in training, where an unbounded decoder would run off
        images = model.decode(torch.randn(64, 2) * 100)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_linear_decoder_is_not_squashed():
    model = tiny("linear")
    with torch.no_grad():
        images = model.decode(torch.full((1, 2), 1e4))
    assert images.abs().max() > 1.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(2, 783), (2, 1, 27, 27), (784,), (2, 3, 28, 28), (2, 28, 29)])
def test_wrong_image_shape_names_the_pixel_count(kind, shape):
    model = tiny(kind)
    with pytest.raises(ValueError, match="784") as info:
        model.encode(torch.rand(shape))
    assert str(tuple(shape)) in str(info.value)


def test_config_for_other_image_sizes():
    model = build_model(NetConfig(kind="ae", image_shape=(8, 8), hidden=(16,)))
    assert model.reconstruct(torch.rand(3, 1, 8, 8)).shape == (3, 64)
    with pytest.raises(ValueError, match="64 pixels"):
        model.encode(torch.rand(3, 784))


def test_unknown_kind_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="'gan'") as info:
        NetConfig(kind="gan")
    for kind in KINDS:
        assert kind in str(info.value)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"latent": 0}, "latent size"),
        ({"latent": -3}, "latent size"),
        ({"latent": 2.5}, "latent size"),
        ({"latent": "2"}, "latent size"),
        ({"hidden": (64, 0)}, "hidden"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"loss": "hinge"}, "loss"),
        ({"beta": -1.0}, "beta"),
        ({"image_shape": (28,)}, "image_shape"),
    ],
)
def test_invalid_configs_are_refused(fields, words):
    with pytest.raises(ConfigError, match=words):
        NetConfig(**fields)


def test_numpy_integer_latent_is_accepted():
    import numpy as np

    config = NetConfig(latent=np.int64(3))
    assert config.latent == 3 and type(config.latent) is int
    assert build_model(config).embed(torch.rand(1, 784)).shape == (1, 3)


def test_config_errors_are_value_errors():
    # callers that only know ValueError still catch them
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("kind", KINDS)
def test_config_dict_round_trip_through_json(kind):
    config = NetConfig(kind=kind, latent=5, hidden=(32, 16, 8), beta=2.5, loss="l1", noise_level=0.3)
    text = json.dumps(config.to_dict())
    back = NetConfig.from_dict(json.loads(text))
    assert back == config
    assert back.hidden == (32, 16, 8) and back.image_shape == (28, 28)
    assert hash(back) == hash(config)


def test_config_from_dict_refuses_unknown_fields():
    d = NetConfig().to_dict()
    d["dropout"] = 0.5
    with pytest.raises(ConfigError, match="dropout"):
        NetConfig.from_dict(d)


def test_config_is_frozen():
    config = NetConfig()
    with pytest.raises(AttributeError):
        config.latent = 3


def test_reparameterize_is_differentiable_in_mu_and_logvar():
    mu = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 1.0, -2.0]], requires_grad=True)
    gen = torch.Generator().manual_seed(3)
    z = VAE.reparameterize(mu, logvar, gen)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    eps = (z.detach() - mu.detach()) / torch.exp(0.5 * logvar.detach())
    assert torch.allclose(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)
    assert logvar.grad.abs().min() > 0


def test_reparameterize_with_a_seeded_generator_is_reproducible():
    mu = torch.zeros(4, 2)
    logvar = torch.zeros(4, 2)
    a = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    b = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    c = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_reparameterize_has_the_posterior_statistics():
    mu = torch.full((20000, 1), 3.0)
    logvar = torch.full((20000, 1), math.log(0.25))
    z = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert abs(float(z.mean()) - 3.0) < 0.02
    assert abs(float(z.std()) - 0.5) < 0.02


def test_vae_forward_with_generator_is_reproducible():
    model = tiny("vae")
    x = torch.rand(3, 784)
    a = model(x, torch.Generator().manual_seed(1))
    b = model(x, torch.Generator().manual_seed(1))
    assert torch.equal(a.z, b.z) and torch.equal(a.logits, b.logits)


# ------------------------------------------------------------------ losses

X = torch.tensor([3.0, 4.0])
X_HAT = torch.tensor([-4.0, -3.0])


def test_lecture_example_cosine_is_minus_24_over_25():
    cos = losses.cosine_similarity(X_HAT, X)
    expected = float(X_HAT @ X) / (float(X_HAT.norm()) * float(X.norm()))
    assert expected == pytest.approx(-24 / 25)
    assert float(cos) == pytest.approx(-0.96, abs=1e-6)


def test_lecture_example_mse_is_49():
    assert float(losses.mse(X_HAT, X)) == pytest.approx((7**2 + 7**2) / 2)
    assert float(losses.mse(X_HAT, X)) == pytest.approx(49.0)


def test_lecture_example_as_printed_is_orthogonal():
    assert float(losses.cosine_similarity(torch.tensor([-4.0, 3.0]), X)) == pytest.approx(0.0, abs=1e-7)


def test_lecture_example_l1():
    assert float(losses.l1(X_HAT, X)) == pytest.approx(7.0)
    assert float(losses.l1(torch.tensor([-4.0, 3.0]), X)) == pytest.approx((7 + 1) / 2)


def test_losses_are_per_example_with_reductions():
    a = torch.stack([X_HAT, X])
    b = torch.stack([X, X])
    per = losses.mse(a, b)
    assert per.shape == (2,)
    assert per.tolist() == pytest.approx([49.0, 0.0])
    assert float(losses.mse(a, b, "mean")) == pytest.approx(24.5)
    assert float(losses.mse(a, b, "sum")) == pytest.approx(49.0)
    with pytest.raises(ValueError, match="reduction"):
        losses.mse(a, b, "median")


def test_cosine_of_a_vector_with_itself_and_its_opposite():
    v = torch.tensor([[0.3, -2.0, 5.0]])
    assert float(losses.cosine_similarity(v, v)) == pytest.approx(1.0)
    assert float(losses.cosine_similarity(-v, v)) == pytest.approx(-1.0)
    assert float(losses.cosine_similarity(2.5 * v, v)) == pytest.approx(1.0)  # scale-free
    assert float(losses.cosine_loss(-v, v)) == pytest.approx(2.0)


def test_loss_ranges_on_random_vectors():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(500, 16, generator=gen)
    b = torch.randn(500, 16, generator=gen)
    cos = losses.cosine_similarity(a, b)
    assert cos.min() >= -1.0 and cos.max() <= 1.0
    assert cos.min() < 0 < cos.max()
    assert (losses.mse(a, b) >= 0).all() and (losses.l1(a, b) >= 0).all()
    loss = losses.cosine_loss(a, b)
    assert loss.min() >= 0 and loss.max() <= 2
    assert float(losses.mse(a, a).abs().max()) == 0.0


def test_bce_is_lowest_at_the_target():
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    good = losses.bce(torch.tensor([[0.01, 0.99, 0.99, 0.01]]), x)
    bad = losses.bce(torch.tensor([[0.9, 0.1, 0.2, 0.8]]), x)
    assert 0 <= float(good) < float(bad)
    # saturated outputs do not give infinities
    assert math.isfinite(float(losses.bce(1 - x, x)))


def test_bce_with_logits_matches_bce_on_probabilities():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 784, generator=gen)
    x = torch.rand(4, 784, generator=gen)
    assert torch.allclose(losses.bce_with_logits(logits, x), losses.bce(torch.sigmoid(logits), x), rtol=1e-4)


def test_kl_normal_is_zero_only_at_the_prior():
    zero = losses.kl_normal(torch.zeros(3, 4), torch.zeros(3, 4))
    assert zero.tolist() == [0.0, 0.0, 0.0]
    shifted = losses.kl_normal(torch.ones(1, 4), torch.zeros(1, 4))
    assert float(shifted) == pytest.approx(0.5 * 4)  # 0.5 * |mu|^2
    wider = losses.kl_normal(torch.zeros(1, 1), torch.ones(1, 1))
    assert float(wider) == pytest.approx(0.5 * (math.e - 1 - 1))
    narrower = losses.kl_normal(torch.zeros(1, 1), -torch.ones(1, 1))
    assert float(narrower) > 0


def test_kl_normal_is_non_negative_for_random_posteriors():
    gen = torch.Generator().manual_seed(2)
    mu = torch.randn(1000, 3, generator=gen) * 2
    logvar = torch.randn(1000, 3, generator=gen) * 2
    assert (losses.kl_normal(mu, logvar) >= 0).all()


def test_kl_between_gaussians_is_asymmetric_and_non_negative():
    mu_q, logvar_q = torch.tensor([[0.0]]), torch.tensor([[0.0]])
    mu_p, logvar_p = torch.tensor([[1.0]]), torch.tensor([[math.log(4.0)]])
    q_p = float(losses.kl_gaussians(mu_q, logvar_q, mu_p, logvar_p))
    p_q = float(losses.kl_gaussians(mu_p, logvar_p, mu_q, logvar_q))
    assert q_p > 0 and p_q > 0
    # closed forms: 0.5*(log 4 + (1 + 1)/4 - 1) and 0.5*(-log 4 + 4 + 1 - 1)
    assert q_p == pytest.approx(0.5 * (math.log(4) + 0.5 - 1))
    assert p_q == pytest.approx(0.5 * (-math.log(4) + 4))
    assert abs(q_p - p_q) > 0.5


def test_kl_gaussians_random_pairs_non_negative_and_zero_for_equal():
    gen = torch.Generator().manual_seed(3)
    a = [torch.randn(200, 2, generator=gen) for _ in range(4)]
    assert (losses.kl_gaussians(*a) >= -1e-6).all()
    assert torch.allclose(losses.kl_gaussians(a[0], a[1], a[0], a[1]), torch.zeros(200), atol=1e-6)
    # against the standard normal it is kl_normal
    zeros = torch.zeros(200, 2)
    assert torch.allclose(losses.kl_gaussians(a[0], a[1], zeros, zeros), losses.kl_normal(a[0], a[1]), atol=1e-5)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("beta", [0.0, 1.0, 4.0])
def test_vae_loss_is_recon_plus_beta_kl(likelihood, beta):
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(8, 784, generator=gen)
    x = torch.rand(8, 784, generator=gen)
    mu = torch.randn(8, 2, generator=gen)
    logvar = torch.randn(8, 2, generator=gen)
    out = losses.vae_loss(logits, x, mu, logvar, beta=beta, likelihood=likelihood)
    assert set(out) == {"loss", "recon", "kl"}
    assert float(out["loss"]) == pytest.approx(float(out["recon"]) + beta * float(out["kl"]), rel=1e-5)
    assert float(out["kl"]) == pytest.approx(float(losses.kl_normal(mu, logvar).mean()), rel=1e-5)
    assert float(out["recon"]) > 0 and float(out["kl"]) > 0
    if likelihood == "bernoulli":
        assert float(out["recon"]) == pytest.approx(float(losses.bce_with_logits(logits, x).mean()), rel=1e-5)


def test_vae_loss_refuses_an_unknown_likelihood():
    t = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="likelihood"):
        losses.vae_loss(t, t, t[:, :2], t[:, :2], likelihood="poisson")


@pytest.mark.parametrize("kind", KINDS)
def test_model_loss_is_a_differentiable_scalar(kind):
    model = tiny(kind)
    x = torch.rand(4, 784)
    out = losses.model_loss(model, x, x, torch.Generator().manual_seed(0))
    assert out["loss"].dim() == 0 and math.isfinite(out["loss"].item())
    assert "recon" in out and (("kl" in out) == (kind == "vae"))
    out["loss"].backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("name", ["mse", "l1", "bce", "cosine"])
def test_ae_reconstruction_loss_follows_the_config(name):
    torch.manual_seed(0)
    model = build_model(NetConfig(kind="ae", hidden=HIDDEN, loss=name))
    x = torch.rand(4, 784)
    with torch.no_grad():
        got = losses.model_loss(model, x, x)["loss"]
        want = losses.RECON_LOSSES[name](model(x), x, "mean")
    assert float(got) == pytest.approx(float(want))


@pytest.mark.parametrize("kind", KINDS)
def test_models_without_hidden_layers_work(kind):
    torch.manual_seed(0)
    model = build_model(NetConfig(kind=kind, latent=4, hidden=()), data_mean=torch.full((784,), 0.2))
    x = torch.rand(3, 1, 28, 28)
    assert model.embed(x).shape == (3, 4)
    assert model.reconstruct(x).shape == (3, 784)
    out = losses.model_loss(model, x, x, torch.Generator().manual_seed(0))
    assert math.isfinite(out["loss"].item())


@pytest.mark.parametrize("kind", KINDS)
def test_data_mean_start_decodes_the_mean_image_at_the_origin(kind):
    """build_model(data_mean=...) starts every decoder at the training set's mean image
    (through logit(mean) for sigmoid decoders), so the first pictures are not noise."""
    mean = torch.linspace(0.05, 0.95, 784)
    torch.manual_seed(0)
    model = build_model(NetConfig(kind=kind, latent=2, hidden=HIDDEN), data_mean=mean)
    if kind != "linear":
        # ReLU layers pass a zero code on as their biases; zero them to isolate the output layer
        with torch.no_grad():
            for m in model.decoder.modules():
                if isinstance(m, torch.nn.Linear) and m is not model.decoder[-1]:
                    m.bias.zero_()
    with torch.no_grad():
        out = model.decode(torch.zeros(1, 2))
    assert torch.allclose(out[0], mean, atol=1e-5)
