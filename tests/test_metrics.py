"""Evaluation figures: PSNR, PCA and principal angles, ELBO versus the IWAE bound,
and the per-model report printed by ``main.py eval``."""
import math

import numpy as np
import pytest
import torch

import synthetic
from models import losses, metrics
from models.nets import NetConfig, build_model


def blob_images(n: int, seed: int) -> torch.Tensor:
    """(n, 784) float32 in [0, 1]: a soft blob at one of four places, slightly jittered."""
    return torch.from_numpy(synthetic.blob_images(n, seed).reshape(n, 784))


@pytest.fixture(scope="module")
def trained_vae():
    """A tiny VAE trained for a few hundred steps with a plain loop."""
    torch.manual_seed(0)
    x = blob_images(400, seed=1)
    model = build_model(NetConfig(kind="vae", latent=2, hidden=(64, 32)), data_mean=x.mean(0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(15):
        for batch in x[torch.randperm(400, generator=gen)].split(50):
            loss = losses.model_loss(model, batch, batch, gen)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model, blob_images(150, seed=2)


# -------------------------------------------------------------------- PSNR


def test_psnr_of_a_perfect_copy_is_capped_at_100_db():
    x = torch.rand(3, 784, generator=torch.Generator().manual_seed(0))
    p = metrics.psnr(x, x)
    assert p.shape == (3,)
    assert torch.isfinite(p).all()
    assert p.tolist() == pytest.approx([100.0] * 3)


def test_psnr_of_mse_one_hundredth_is_20_db():
    x = torch.zeros(2, 1, 28, 28)
    x_hat = torch.full((2, 1, 28, 28), 0.1)  # every pixel off by 0.1: MSE 0.01
    assert metrics.psnr(x_hat, x).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)


def test_psnr_falls_as_noise_grows():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 784, generator=gen)
    noise = torch.randn(4, 784, generator=gen)
    small = metrics.psnr(x + 0.01 * noise, x)
    large = metrics.psnr(x + 0.3 * noise, x)
    assert (small > large + 20).all()  # 30x the noise is about 29.5 dB


def test_psnr_uses_the_data_range():
    x = torch.zeros(1, 784)
    assert float(metrics.psnr(torch.full((1, 784), 25.5), x, data_range=255.0)) == pytest.approx(20.0, abs=1e-4)


# --------------------------------------------------------------------- PCA


def _plane_data(n=300, d=60, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(d, 2))
    codes = rng.normal(size=(n, 2)) * np.array([3.0, 1.0])
    x = codes @ basis.T + rng.normal(size=d) * 5 + noise * rng.normal(size=(n, d))
    return x, basis


def test_pca_recovers_a_known_plane():
    x, basis = _plane_data()
    pca = metrics.pca_fit(x, 2)
    assert pca.components.shape == (2, 60)
    angles = metrics.principal_angles(pca.components.T, basis)
    assert angles.max() < 1e-3
    assert pca.reconstruction_mse(x) < 1e-20
    assert pca.explained_variance[0] >= pca.explained_variance[1] > 0
    # PCA's own components are orthonormal rows (unlike an autoencoder's weights)
    assert np.allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-10)


def test_pca_transform_and_inverse_round_trip_on_the_plane():
    x, _ = _plane_data(seed=1)
    pca = metrics.pca_fit(torch.tensor(x, dtype=torch.float64), 2)
    codes = pca.transform(x)
    assert codes.shape == (300, 2)
    assert np.allclose(pca.inverse_transform(codes), x, atol=1e-8)
    assert np.allclose(codes.mean(axis=0), 0, atol=1e-8)


def test_pca_with_noise_leaves_the_noise_as_error():
    x, basis = _plane_data(noise=0.1, seed=2)
    pca = metrics.pca_fit(x, 2)
    assert metrics.principal_angles(pca.components.T, basis).max() < 2.0
    # what is left is the noise off the plane: about 0.1^2 * (60 - 2) / 60 per coordinate
    assert pca.reconstruction_mse(x) == pytest.approx(0.01 * 58 / 60, rel=0.15)
    three = metrics.pca_fit(x, 3)
    assert three.explained_variance[2] < 0.05 * three.explained_variance[1]


def test_pca_refuses_more_components_than_the_data_has():
    with pytest.raises(ValueError, match="components"):
        metrics.pca_fit(np.zeros((5, 4)), 6)
    with pytest.raises(ValueError, match="components"):
        metrics.pca_fit(np.zeros((5, 4)), 0)


def test_principal_angles_of_orthogonal_planes_are_90_degrees():
    eye = np.eye(5)
    angles = metrics.principal_angles(eye[:, :2], eye[:, 2:4])
    assert angles.tolist() == pytest.approx([90.0, 90.0])


def test_principal_angles_ignore_the_basis_of_a_subspace():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 2))
    mixed = a @ np.array([[2.0, 0.5], [-1.0, 3.0]])  # same span, not orthonormal
    assert metrics.principal_angles(a, mixed).max() < 1e-4
    assert metrics.principal_angles(torch.tensor(a), torch.tensor(mixed)).max() < 1e-4


def test_principal_angle_of_a_known_tilt():
    a = np.array([[1.0], [0.0], [0.0]])
    b = np.array([[math.cos(math.radians(30))], [math.sin(math.radians(30))], [0.0]])
    assert metrics.principal_angles(a, b).tolist() == pytest.approx([30.0])
    # one shared direction and one orthogonal one
    plane = np.eye(3)[:, :2]
    other = np.eye(3)[:, [0, 2]]
    assert sorted(metrics.principal_angles(plane, other).tolist()) == pytest.approx([0.0, 90.0])


def test_principal_angles_of_non_finite_subspaces_are_refused():
    a = np.eye(4)[:, :2].copy()
    a[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.principal_angles(a, np.eye(4)[:, :2])


# ------------------------------------------------------- ELBO versus IWAE


def test_negative_elbo_is_recon_plus_kl(trained_vae):
    model, x = trained_vae
    out = metrics.negative_elbo(model, x, samples=5)
    assert set(out) >= {"nelbo", "recon", "kl"}
    assert out["nelbo"] == pytest.approx(out["recon"] + out["kl"], rel=1e-6)
    assert out["kl"] > 0 and out["recon"] > 0
    # seeded: the same call gives the same figure
    assert metrics.negative_elbo(model, x, samples=5) == out


def test_iwae_bound_is_tighter_than_the_elbo(trained_vae):
    model, x = trained_vae
    nelbo = metrics.negative_elbo(model, x, samples=50)["nelbo"]
    iwae_1 = metrics.iwae_nll(model, x, k=1)
    iwae_many = metrics.iwae_nll(model, x, k=500)
    assert math.isfinite(iwae_many)
    assert iwae_many <= nelbo
    assert iwae_many <= iwae_1
    # one importance sample is just another estimate of the ELBO
    assert iwae_1 == pytest.approx(nelbo, rel=0.05)
    # tighter, but not absurdly so: the gap is KL(q || posterior), a few nats here
    assert nelbo - iwae_many < 0.2 * nelbo


def test_trained_vae_reconstructs_better_than_the_mean(trained_vae):
    model, x = trained_vae
    mean_mse = float(((x - x.mean(0)) ** 2).mean())
    assert metrics.reconstruction_mse(model, x) < 0.7 * mean_mse
    codes = metrics.embed(model, x)
    assert codes.shape == (150, 2) and torch.isfinite(codes).all()


def test_reconstruction_mse_of_noisy_inputs_against_clean_targets(trained_vae):
    model, x = trained_vae
    noisy = (x + 0.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    clean = metrics.reconstruction_mse(model, x)
    from_noisy = metrics.reconstruction_mse(model, x, x_in=noisy)
    assert math.isfinite(from_noisy) and from_noisy > clean


# ------------------------------------------------------------------ report


def _train_plain(model, x, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for batch in x[torch.randperm(x.shape[0], generator=gen)].split(50):
            loss = losses.model_loss(model, batch, batch, gen)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def test_report_for_a_linear_autoencoder():
    from models import report

    torch.manual_seed(0)
    train_x = blob_images(300, seed=3)
    test_x = blob_images(100, seed=4)
    model = _train_plain(
        build_model(NetConfig(kind="linear", latent=2), data_mean=train_x.mean(0)), train_x, epochs=10, lr=3e-3
    )
    figures = report.model_figures(model, test_x, train_x=train_x)
    assert {"mse", "pca_mse", "max_principal_angle_deg"} <= set(figures)
    assert all(isinstance(v, float) and math.isfinite(v) for v in figures.values())
    assert 0 <= figures["max_principal_angle_deg"] <= 90
    assert figures["pca_mse"] > 0 and figures["mse"] > 0
    assert "nelbo" not in figures


def test_report_for_a_vae(trained_vae):
    from models import report

    model, x = trained_vae
    figures = report.model_figures(model, x, iwae_k=50)
    assert {"mse", "nelbo", "recon", "kl", "iwae_nll"} <= set(figures)
    assert all(isinstance(v, float) and math.isfinite(v) for v in figures.values())
    assert figures["nelbo"] == pytest.approx(figures["recon"] + figures["kl"], rel=1e-6)
    assert figures["iwae_nll"] <= figures["nelbo"]
    assert "pca_mse" not in figures
