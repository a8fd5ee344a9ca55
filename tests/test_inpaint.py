"""Inpainting with the bundled models: the hole fills, known pixels stay, mean fill is beaten."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import inpaint
from models.checkpoint import bundled_models_dir, load_checkpoint
from models.corrupt import center_square_mask, preset_mask
from models.data import as_float_images, load_bundled

N = 300


@pytest.fixture(scope="module")
def models():
    folder = bundled_models_dir("mnist")
    return {kind: load_checkpoint(folder / f"{kind}.pt").model for kind in ("ae", "vae", "dae")}


@pytest.fixture(scope="module")
def digits():
    x = as_float_images(load_bundled().test_images)
    # The mean over the whole bundled set stands in for the training mean; the
    # images inpainted are a slice of it.
    return x[:N].clone(), x.mean(dim=0)


def run_all(models, x, mask, mean):
    return {
        "ae_projection": inpaint.project_ae(models["ae"], x, mask, steps=10, mean_image=mean),
        "vae_latent": inpaint.optimise_vae_latent(models["vae"], x, mask, steps=15, mean_image=mean),
        "dae": inpaint.dae_fill(models["dae"], x, mask, mean_image=mean),
        "mean_fill": inpaint.mean_fill(x, mask, mean),
    }


@pytest.fixture(scope="module")
def centre_results(models, digits):
    x, mean = digits
    return run_all(models, x, center_square_mask(12), mean)


def test_known_pixels_are_unchanged_bit_for_bit(centre_results, digits):
    x, _ = digits
    known = ~center_square_mask(12).reshape(-1)
    for name, result in centre_results.items():
        assert result.image.shape == x.shape, name
        assert torch.equal(result.image[:, known], x[:, known]), name
        assert torch.isfinite(result.image).all() and result.image.min() >= 0 and result.image.max() <= 1, name
        assert result.fallback is None


def test_known_pixels_kept_with_a_random_pixel_mask(models, digits):
    x, mean = digits
    mask = preset_mask("random_pixels", seed=3)
    known = ~mask.reshape(-1)
    for name, result in run_all(models, x[:50], mask, mean).items():
        assert torch.equal(result.image[:, known], x[:50, known]), name
        # The filled pixels are really filled, not left at the input's values.
        assert not torch.equal(result.image, x[:50]), name


def test_best_method_beats_mean_fill_on_the_hole(centre_results, digits):
    x, _ = digits
    mask = center_square_mask(12)
    errors = {name: inpaint.masked_mse(r.image, x, mask) for name, r in centre_results.items()}
    best = min((e, n) for n, e in errors.items() if n != "mean_fill")
    assert best[0] < 0.8 * errors["mean_fill"], errors
    # Every model-based method does better than the mean digit.
    for err in errors.values():
        assert err <= errors["mean_fill"] * 1.001, errors


@pytest.mark.parametrize("method", ["ae_projection", "vae_latent", "dae"])
def test_iterations_lower_the_masked_error(method, models, digits):
    x, mean = digits
    x = x[:100]
    mask = center_square_mask(12)
    if method == "ae_projection":
        steps = list(inpaint.iter_project_ae(models["ae"], x, mask, steps=8, mean_image=mean))
    elif method == "vae_latent":
        # From the encoder's guess, where the descent has far to go; the
        # default search start is checked against it below.
        steps = list(
            inpaint.iter_optimise_vae_latent(models["vae"], x, mask, steps=10, init="encoder", mean_image=mean)
        )
    else:
        steps = list(inpaint.iter_dae_fill(models["dae"], x, mask, mean_image=mean))
    assert [s.step for s in steps] == list(range(len(steps)))
    assert all(s.method == method for s in steps)
    first, last = (inpaint.masked_mse(s.image, x, mask) for s in (steps[0], steps[-1]))
    assert last < first


def test_searching_the_latent_space_first_beats_the_encoders_guess(models, digits):
    x, mean = digits
    x = x[:100]
    mask = center_square_mask(12)
    errors = {
        init: inpaint.masked_mse(
            inpaint.optimise_vae_latent(models["vae"], x, mask, steps=5, init=init, mean_image=mean).image, x, mask
        )
        for init in ("search", "encoder")
    }
    assert errors["search"] < errors["encoder"], errors


def test_grad_mode_of_the_caller_is_left_alone(models, digits):
    x, mean = digits
    with torch.no_grad():
        for _ in inpaint.iter_optimise_vae_latent(models["vae"], x[:5], center_square_mask(12), steps=3):
            assert not torch.is_grad_enabled()


def test_a_fully_masked_image_falls_back_and_says_so(models, digits):
    x, mean = digits
    batch = x[:3].clone()
    mask = torch.zeros(3, 784, dtype=torch.bool)
    mask[1] = True
    results = run_all(models, batch, mask, mean)
    for name in ("ae_projection", "vae_latent", "dae"):
        r = results[name]
        assert torch.isfinite(r.image).all(), name
        assert r.fallback is not None and "1 of 3" in r.fallback, name
        # The other images were inpainted as usual.
        assert torch.equal(r.image[0], batch[0]) and torch.equal(r.image[2], batch[2]), name
    assert "mean image" in results["ae_projection"].fallback
    torch.testing.assert_close(results["ae_projection"].image[1], mean)
    assert "prior" in results["vae_latent"].fallback


def test_one_fully_masked_numpy_image(models):
    img = np.zeros((1, 28, 28), np.float32)
    mask = np.ones((28, 28), bool)
    for run in (
        lambda: inpaint.project_ae(models["ae"], img, mask),
        lambda: inpaint.optimise_vae_latent(models["vae"], img, mask, steps=3),
        lambda: inpaint.dae_fill(models["dae"], img, mask),
    ):
        r = run()
        assert r.image.shape == (1, 28, 28)
        assert torch.isfinite(r.image).all()
        assert r.fallback.startswith("the whole image is masked")


def test_nothing_masked_changes_nothing(models, digits):
    x, _ = digits
    mask = torch.zeros(28, 28, dtype=torch.bool)
    r = inpaint.project_ae(models["ae"], x[:10], mask, steps=2)
    assert torch.equal(r.image, x[:10])
    assert inpaint.masked_mse(r.image, x[:10], mask) == 0.0


def test_chunks_give_the_same_answer(models, digits):
    x, mean = digits
    mask = center_square_mask(12)
    whole = inpaint.project_ae(models["ae"], x[:50], mask, steps=3, mean_image=mean)
    chunked = inpaint.project_ae(models["ae"], x[:50], mask, steps=3, mean_image=mean, chunk=7)
    # Different batch sizes may take different matmul kernels: equal up to float32 rounding.
    torch.testing.assert_close(whole.image, chunked.image, atol=1e-4, rtol=1e-4)


def test_bad_inputs_are_refused(models, digits):
    x, _ = digits
    with pytest.raises(TypeError, match="bool"):
        inpaint.project_ae(models["ae"], x[:2], torch.zeros(28, 28))
    with pytest.raises(ValueError, match="does not fit"):
        inpaint.project_ae(models["ae"], x[:2], torch.zeros(5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="needs a VAE"):
        inpaint.optimise_vae_latent(models["ae"], x[:2], center_square_mask(12))


def test_report_names_the_best_method_and_beats_mean_fill(models, digits):
    from models.report import inpainting_figures

    x, mean = digits
    figs = inpainting_figures(models, x[:150], mean)
    for key in ("mean_fill_mse", "ae_projection_mse", "vae_latent_mse", "dae_mse", "masked_mse"):
        assert np.isfinite(figs[key]), key
    assert figs["method"] in inpaint.METHODS
    assert figs["masked_mse"] == figs[f"{figs['method']}_mse"] == min(
        figs[k] for k in ("ae_projection_mse", "vae_latent_mse", "dae_mse")
    )
    assert figs["masked_mse"] < 0.8 * figs["mean_fill_mse"]
    # With only some models there is still a best method and a baseline.
    only_ae = inpainting_figures({"ae": models["ae"]}, x[:20], mean)
    assert only_ae["method"] == "ae_projection" and "dae_mse" not in only_ae


def test_latent_candidates_made_once_give_the_same_fill(models, digits):
    x, mean = digits
    mask = center_square_mask(12)
    cands = inpaint.latent_candidates(models["vae"])
    a = inpaint.optimise_vae_latent(models["vae"], x[:20], mask, steps=3, mean_image=mean)
    b = list(inpaint.iter_optimise_vae_latent(models["vae"], x[:20], mask, steps=3, mean_image=mean, candidates=cands))
    torch.testing.assert_close(a.image, b[-1].image)
    wrong = inpaint.LatentCandidates(torch.zeros(4, 3), torch.zeros(4, 784))
    with pytest.raises(ValueError, match="latent_candidates"):
        list(inpaint.iter_optimise_vae_latent(models["vae"], x[:2], mask, candidates=wrong))


def test_a_masking_noise_dae_starts_from_black(digits):
    from models.nets import NetConfig, build_model

    torch.manual_seed(0)
    model = build_model(NetConfig(kind="dae", latent=4, hidden=(16,), noise="masking", noise_level=0.5)).eval()
    x, mean = digits
    mask = center_square_mask(12)
    first = next(inpaint.iter_dae_fill(model, x[:4], mask, mean_image=mean))
    assert torch.equal(first.image[:, mask.reshape(-1)], torch.zeros(4, 144))
    full = inpaint.dae_fill(model, x[:1], torch.ones(28, 28, dtype=torch.bool), mean_image=mean)
    assert "black" in full.fallback and torch.equal(full.image, torch.zeros(1, 784))


def test_the_latent_optimiser_takes_the_same_steps_as_torch_adam():
    from models.inpaint import _Adam

    torch.manual_seed(0)
    a = torch.randn(5, 2, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    reference, ours = torch.optim.Adam([a], lr=0.05), _Adam(b, lr=0.05)
    for _ in range(30):
        reference.zero_grad()
        ((a - 3) ** 2 * torch.arange(1.0, 3.0)).sum().backward()
        reference.step()
        (grad,) = torch.autograd.grad(((b - 3) ** 2 * torch.arange(1.0, 3.0)).sum(), b)
        ours.step(grad)
    torch.testing.assert_close(b.detach(), a.detach(), rtol=0, atol=1e-5)
