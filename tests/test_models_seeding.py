"""Seeded model building: the weights follow the seed, and neither building nor the
lab's training runs touch the global RNG (they run in the GUI's threads)."""
import numpy as np
import pytest
import torch

from models import lab
from models.nets import KINDS, NetConfig, build_model

HIDDEN = (32, 16)


@pytest.mark.parametrize("kind", KINDS)
def test_a_seeded_build_gives_the_weights_of_a_global_seed(kind):
    config = NetConfig(kind=kind, latent=3, hidden=HIDDEN)
    torch.manual_seed(7)
    reference = build_model(config)
    before = torch.get_rng_state()
    seeded = build_model(config, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    for name, value in reference.state_dict().items():
        assert torch.equal(seeded.state_dict()[name], value), name


def test_a_generator_and_its_seed_build_the_same_model():
    config = NetConfig(kind="vae", hidden=HIDDEN)
    a = build_model(config, seed=3)
    b = build_model(config, generator=torch.Generator().manual_seed(3))
    c = build_model(config, seed=4)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_seed_and_generator_together_are_refused():
    with pytest.raises(ValueError, match="either seed or generator"):
        build_model(NetConfig(), seed=1, generator=torch.Generator())


def test_a_seeded_model_trains_like_any_other():
    model = build_model(NetConfig(kind="ae", hidden=HIDDEN), seed=0)
    assert all(p.requires_grad and p.device.type == "cpu" for p in model.parameters())
    out = model(torch.rand(4, 784))
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def _digits(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def test_the_linear_pca_run_is_reproducible_and_leaves_the_global_rng_alone():
    images = _digits(128)
    before = torch.get_rng_state()
    runs = [[p.mse for p in lab.LinearPcaRun(images, epochs=1, batch_size=32, record_every=2).points()] for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), before)
    assert runs[0] == runs[1]


def test_the_capacity_pair_is_reproducible_and_leaves_the_global_rng_alone():
    images = _digits(96)
    before = torch.get_rng_state()
    results = []
    for _ in range(2):
        *progress, (ae, dae) = lab.train_capacity_pair(images, 4, epochs=1, report_every=1)
        results.append(([p.losses for p in progress], ae.state_dict(), dae.state_dict()))
    assert torch.equal(torch.get_rng_state(), before)
    assert results[0][0] == results[1][0]
    for first, second in zip(results[0][1:], results[1][1:], strict=True):
        assert all(torch.equal(v, second[k]) for k, v in first.items())
