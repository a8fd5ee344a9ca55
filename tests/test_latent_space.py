"""LatentSpace: plane coordinates, decoding, picking, samples and paths (no Qt)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from models import metrics
from models.latent_space import CodeCache, LatentSpace, interpolate, model_key, sample_prior
from models.nets import NetConfig, build_model


def _images(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28)) ** 3 * 255).astype(np.uint8)


def _space(kind: str = "ae", latent: int = 2, n: int = 200) -> LatentSpace:
    torch.manual_seed(0)
    return LatentSpace(build_model(NetConfig(kind=kind, latent=latent, hidden=(16,))), _images(n))


def test_two_d_latent_is_its_own_plane():
    s = _space()
    assert not s.is_projected and s.description == "latent space (2-D)"
    assert s.xy.shape == (200, 2)
    assert np.allclose(s.codes_to_plane(s.codes), s.xy, atol=1e-6)
    assert s.prior_center() == (0.0, 0.0)


@pytest.mark.parametrize("latent", [1, 3, 8])
def test_other_latent_sizes_use_the_pca_plane(latent):
    s = _space("vae", latent)
    assert s.is_projected and f"{latent}-D" in s.description
    assert s.xy.shape == (200, 2)
    # Decoding a plane point goes through a full latent code.
    assert s.plane_to_codes(np.zeros((1, 2))).shape == (1, latent)
    assert s.decode_plane(np.array([[0.5, -0.5]])).shape == (1, 28, 28)
    # The origin of the latent space is where the plane says it is.
    cx, cy = s.prior_center()
    assert np.allclose(s.codes_to_plane(np.zeros((1, latent)))[0], (cx, cy))


def test_nearest_respects_distance_and_mask():
    s = _space()
    i = 17
    assert s.nearest(tuple(s.xy[i])) == i
    far = s.xy.max(axis=0) + 100
    assert s.nearest(tuple(far), max_distance=1.0) is None
    mask = np.ones(len(s.xy), dtype=bool)
    mask[i] = False
    assert s.nearest(tuple(s.xy[i]), among=mask) != i
    assert s.nearest(tuple(s.xy[i]), among=np.zeros(len(s.xy), dtype=bool)) is None


def test_manifold_tiles_a_rectangular_lattice_top_row_first():
    s = _space()
    tiles = s.manifold(x_range=(-1, 1), y_range=(-2, 2), n=(3, 5))
    assert tiles.shape == (5 * 28, 3 * 28)
    top_left = s.decode_plane(np.array([[-1.0, 2.0]]))[0]
    bottom_right = s.decode_plane(np.array([[1.0, -2.0]]))[0]
    assert np.allclose(tiles[:28, :28], top_left, atol=1e-6)
    assert np.allclose(tiles[-28:, -28:], bottom_right, atol=1e-6)
    assert s.manifold(x_range=(-1, 1), y_range=(-1, 1), n=4).shape == (112, 112)


def test_density_is_a_normalised_histogram():
    s = _space()
    (x0, x1), (y0, y1) = s.bounds()
    d = s.density(x_range=(x0, x1), y_range=(y0, y1), bins=20)
    assert d.shape == (20, 20) and d.max() == pytest.approx(1.0) and d.min() >= 0
    empty = s.density(x_range=(x0, x1), y_range=(y0, y1), among=np.zeros(len(s.xy), bool))
    assert empty.max() == 0


def test_samples_and_paths():
    s = _space("vae", 3)
    xy, images = s.sample(6, seed=1)
    assert xy.shape == (6, 2) and images.shape == (6, 28, 28)
    assert np.array_equal(s.sample(6, seed=1)[1], images)
    path, strip = s.interpolate_images(4, 9, 5)
    assert path.shape == (5, 2) and strip.shape == (5, 28, 28)
    assert np.allclose(path[0], s.xy[4], atol=1e-5) and np.allclose(path[-1], s.xy[9], atol=1e-5)
    # The ends of the path decode like the reconstructions of the two images.
    assert np.allclose(strip[[0, -1]], s.reconstruct([4, 9]), atol=1e-5)
    with pytest.raises(IndexError, match="does not exist"):
        s.interpolate_images(0, 10_000, 5)


def test_helpers():
    assert interpolate(np.zeros(2), np.ones(2), 3).tolist() == [[0, 0], [0.5, 0.5], [1, 1]]
    with pytest.raises(ValueError):
        interpolate(np.zeros(2), np.ones(2), 1)
    assert sample_prior(4, 3, seed=0).shape == (4, 3)


# ------------------------------------------------------------ cached codes


def _model(kind: str = "vae", seed: int = 0):
    torch.manual_seed(seed)
    return build_model(NetConfig(kind=kind, latent=2, hidden=(16,)))


def test_cached_codes_are_the_encoders_and_a_second_start_does_not_encode(tmp_path, monkeypatch):
    images = _images()
    model = _model()
    plain = LatentSpace(model, images)
    first = LatentSpace(model, images, cache=CodeCache(tmp_path, images))
    assert np.array_equal(first.codes, plain.codes)
    assert len(list(tmp_path.glob("*.npy"))) == 1

    def no_encoding(*args, **kwargs):
        raise AssertionError("the cached codes should have been used")

    monkeypatch.setattr(metrics, "embed", no_encoding)
    again = LatentSpace(model, images, cache=CodeCache(tmp_path, images))
    assert np.array_equal(again.codes, plain.codes) and np.array_equal(again.xy, plain.xy)


def test_other_weights_or_other_images_miss_the_cache(tmp_path):
    images = _images()
    model = _model()
    cache = CodeCache(tmp_path, images)
    LatentSpace(model, images, cache=cache)
    retrained = _model(seed=1)
    assert cache.path_for(model_key(retrained)) != cache.path_for(model_key(model))
    space = LatentSpace(retrained, images, cache=cache)
    assert np.array_equal(space.codes, LatentSpace(retrained, images).codes)
    other = _images(seed=5)
    assert CodeCache(tmp_path, other).path_for(model_key(model)) != cache.path_for(model_key(model))
    with pytest.raises(ValueError, match="200 images"):
        LatentSpace(model, torch.zeros(10, 784), cache=cache)


@pytest.mark.parametrize("damage", ["garbage", "wrong shape", "nan"])
def test_a_damaged_cache_file_is_encoded_again_and_replaced(tmp_path, damage):
    images = _images()
    model = _model()
    cache = CodeCache(tmp_path, images)
    path = cache.path_for(model_key(model))
    if damage == "garbage":
        path.write_bytes(b"not a numpy file")
    else:
        bad = np.zeros((5, 2), np.float32) if damage == "wrong shape" else np.full((200, 2), np.nan, np.float32)
        np.save(path, bad)
    space = LatentSpace(model, images, cache=cache)
    assert np.array_equal(space.codes, LatentSpace(model, images).codes)
    assert np.array_equal(np.load(path), space.codes.astype(np.float32))


def test_an_unwritable_cache_still_gives_the_codes(tmp_path):
    blocker = tmp_path / "codes"
    blocker.write_text("a file where the folder should be")
    images = _images()
    model = _model("ae")
    space = LatentSpace(model, images, cache=CodeCache(blocker, images))
    assert np.array_equal(space.codes, LatentSpace(model, images).codes)


def test_the_cache_keeps_only_its_newest_files(tmp_path, monkeypatch):
    monkeypatch.setattr(CodeCache, "MAX_FILES", 3)
    images = _images(50)
    cache = CodeCache(tmp_path, images)
    paths = []
    for seed in range(5):
        model = _model("ae", seed)
        LatentSpace(model, images, cache=cache)
        paths.append(cache.path_for(model_key(model)))
        # Distinct, increasing modification times whatever the clock's resolution.
        os.utime(paths[-1], (1_000_000 + seed, 1_000_000 + seed))
    kept = set(tmp_path.glob("*.npy"))
    assert len(kept) == 3 and paths[-1] in kept and paths[0] not in kept
