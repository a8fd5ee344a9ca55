"""The computation view's numbers are the model's: z = mu + sigma * eps for the eps
shown, the loss terms are models.losses' for that image and eps, and looking at one
step's gradients moves no weight."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import losses
from models.checkpoint import load_checkpoint
from models.computation import TraceError, draw_eps, gradient_magnitudes, trace
from models.files import bundled_models_dir
from models.nets import NetConfig, build_model
from synthetic import blob_images


@pytest.fixture(scope="module")
def bundled():
    folder = bundled_models_dir("mnist")
    models = {k: load_checkpoint(folder / f"{k}.pt").model.eval() for k in ("ae", "vae")}
    # An MLP VAE of latent size 8 (the bundled vae8 is convolutional, which trace refuses).
    models["vae8"] = build_model(NetConfig(kind="vae", latent=8), seed=0).eval()
    return models


@pytest.fixture(scope="module")
def image():
    return blob_images(1, seed=3)[0]


def test_z_is_mu_plus_sigma_times_the_eps_shown(bundled, image):
    vae = bundled["vae"]
    eps = draw_eps(vae.latent, seed=7)
    t = trace(vae, image, eps=eps)
    np.testing.assert_array_equal(t.eps, eps)
    np.testing.assert_allclose(t.sigma, np.exp(0.5 * t.logvar), rtol=1e-6)
    np.testing.assert_allclose(t.z, t.mu + t.sigma * t.eps, rtol=1e-5, atol=1e-6)
    # mu and log sigma^2 are the encoder's own.
    mu, logvar = vae.encode(torch.tensor(image)[None])
    np.testing.assert_allclose(t.mu, mu[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.logvar, logvar[0].detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["vae", "vae8"])
def test_the_loss_shown_is_the_models_training_loss_for_that_eps(bundled, image, name):
    """draw_eps(seed) is what the model's own sampling draws from a generator so seeded,
    so model_loss with that generator is the loss of exactly the z shown."""
    vae = bundled[name]
    t = trace(vae, image, eps=draw_eps(vae.latent, seed=11))
    x = torch.tensor(image).reshape(1, -1)
    with torch.no_grad():
        expected = losses.model_loss(vae, x, x, torch.Generator().manual_seed(11))
    assert t.kl == pytest.approx(float(expected["kl"]), rel=1e-5)
    assert t.recon == pytest.approx(float(expected["recon"]), rel=1e-5)
    assert t.total == pytest.approx(float(expected["loss"]), rel=1e-5)
    assert t.recon + t.kl == pytest.approx(t.total, rel=1e-6)
    # The KL of the posterior shown, worked out from its numbers.
    assert t.kl == pytest.approx(0.5 * np.sum(t.mu**2 + t.sigma**2 - 1 - t.logvar), rel=1e-4)
    assert t.z.shape == (vae.latent,) and t.output.shape == (28, 28)


def test_beta_weighs_the_kl_in_the_total(image):
    vae = build_model(NetConfig(kind="vae", latent=2, hidden=(16,), beta=4.0, likelihood="gaussian"), seed=0)
    t = trace(vae, image, eps=draw_eps(2, seed=1))
    assert t.total == pytest.approx(t.recon + 4.0 * t.kl, rel=1e-6)
    assert t.recon_name == "Gaussian NLL"


def test_the_ae_strip_has_no_sampling_and_its_loss_is_the_models(bundled, image):
    ae = bundled["ae"]
    t = trace(ae, image)
    assert t.eps is None and t.sigma is None and t.kl is None
    np.testing.assert_array_equal(t.mu, t.z)
    x = torch.tensor(image).reshape(1, -1)
    with torch.no_grad():
        assert t.total == pytest.approx(float(losses.model_loss(ae, x, x)["loss"]), rel=1e-6)
    np.testing.assert_allclose(t.z, ae.encode(x)[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.output.reshape(1, -1), ae(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    # Two hidden layers each side, their activations after ReLU.
    assert [n for n, _ in t.encoder] == ["encoder 1", "encoder 2"]
    assert [a.size for _, a in t.decoder] == [256, 512]
    assert all((a >= 0).all() for _, a in (*t.encoder, *t.decoder))


def test_a_trace_from_z_runs_the_decoder_only(bundled):
    vae = bundled["vae"]
    t = trace(vae, z=np.array([0.5, -1.0]))
    assert t.starts_at_z and t.encoder == () and t.total is None and t.mu is None
    expected = vae.decode(torch.tensor([[0.5, -1.0]]))[0].detach().numpy().reshape(28, 28)
    np.testing.assert_allclose(t.output, expected, rtol=1e-5, atol=1e-6)


def test_bad_requests_say_what_is_wrong(bundled, image):
    with pytest.raises(TraceError, match="image or a code"):
        trace(bundled["ae"])
    with pytest.raises(TraceError, match="latent size"):
        trace(bundled["vae"], z=np.zeros(3))
    with pytest.raises(TraceError, match="28x28"):
        trace(bundled["ae"], np.zeros((10, 10)))


def test_gradients_leave_the_weights_and_their_grads_as_they_were(bundled, image):
    vae = bundled["vae"]
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    vae.decoder[0].weight.requires_grad_(False)  # a state the caller chose is given back
    eps = draw_eps(vae.latent, seed=2)
    try:
        g = gradient_magnitudes(vae, image, eps)
        assert not vae.decoder[0].weight.requires_grad
        assert all(p.requires_grad for n, p in vae.named_parameters() if n != "decoder.0.weight")
    finally:
        vae.decoder[0].weight.requires_grad_(True)
    for k, v in vae.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in vae.parameters())
    assert g.loss == pytest.approx(trace(vae, image, eps=eps).total, rel=1e-6)
    names = [layer.name for layer in g.layers]
    assert names == ["encoder 1", "encoder 2", "mu", "logvar", "decoder 1", "decoder 2", "output"]
    assert all(layer.weight > 0 and layer.norm > 0 for layer in g.layers)
    assert g.layer("output").activation.shape == (28, 28)


def test_the_gradients_are_one_backward_pass_of_the_loss(bundled, image):
    ae = bundled["ae"]
    g = gradient_magnitudes(ae, image)
    copy = load_checkpoint(bundled_models_dir("mnist") / "ae.pt").model
    x = torch.tensor(image).reshape(1, -1)
    losses.model_loss(copy, x, x)["loss"].backward()
    assert g.layer("encoder 1").weight == pytest.approx(float(copy.encoder[0].weight.grad.abs().mean()), rel=1e-5)
    assert g.layer("z").weight == pytest.approx(float(copy.encoder[4].weight.grad.abs().mean()), rel=1e-5)
    assert g.dmu is None and g.dz.shape == (2,)


def test_vae_gradients_reach_mu_and_sigma_through_z(bundled, image):
    """With eps drawn outside, dL/dsigma holds the recon term's dL/dz * eps: the
    reparameterisation's point. Checked against autograd on sigma directly."""
    vae = bundled["vae"]
    eps = draw_eps(2, seed=5)
    g = gradient_magnitudes(vae, image, eps)
    x = torch.tensor(image).reshape(1, -1)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
    mu = mu.clone().requires_grad_(True)
    sigma = torch.exp(0.5 * logvar).clone().requires_grad_(True)
    z = mu + sigma * torch.tensor(eps, dtype=torch.float32)[None]
    out = losses.vae_loss(vae.decode_logits(z), x, mu, 2 * torch.log(sigma))
    dmu, dsigma = torch.autograd.grad(out["loss"], [mu, sigma])
    np.testing.assert_allclose(g.dmu, dmu[0].numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(g.dsigma, dsigma[0].numpy(), rtol=1e-3, atol=1e-3)


def test_a_linear_ae_has_no_hidden_layers_and_an_unbounded_output(image):
    linear = load_checkpoint(bundled_models_dir("mnist") / "linear.pt").model.eval()
    t = trace(linear, image)
    assert t.encoder == () and t.decoder == ()
    x = torch.tensor(image).reshape(1, -1)
    with torch.no_grad():
        np.testing.assert_allclose(t.output.reshape(1, -1), linear(x).numpy(), rtol=1e-5, atol=1e-6)
        assert t.total == pytest.approx(float(losses.model_loss(linear, x, x)["loss"]), rel=1e-6)
    assert [g.name for g in gradient_magnitudes(linear, image).layers] == ["z", "output"]
