"""The neighbour term (models/neighbours.py, models.losses.neighbour_loss, train
--neighbours): pixel-space neighbours, the kernel's behaviour, and a 2-D autoencoder
whose classes it keeps apart (issue #19: a drawn 4 must land among the 4s)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models import losses
from models.checkpoint import load_checkpoint
from models.data import as_float_images, load_bundled
from models.neighbours import pixel_neighbours
from models.nets import NetConfig, build_model
from models.train import TrainConfig, Trainer, TrainingError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))


def test_neighbours_are_the_nearest_other_images_nearest_first():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(300, 12)).astype(np.float32))
    table = pixel_neighbours(x, 5)
    assert table.shape == (300, 5) and table.dtype == torch.long
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    expected = d.topk(5, largest=False).indices
    assert torch.equal(table, expected)
    assert not (table == torch.arange(300)[:, None]).any()


def test_the_table_is_cached_and_a_damaged_cache_is_made_again(tmp_path):
    x = as_float_images(load_bundled("mnist").test_images[:200])
    reports = []
    first = pixel_neighbours(x, 4, progress=lambda done, total: reports.append(done))
    (cached,) = (tmp_path / "cache" / "neighbours").glob("*.npz")
    steps = len(reports)
    assert torch.equal(pixel_neighbours(x, 4, progress=lambda done, total: reports.append(done)), first)
    assert len(reports) == steps + 1  # read from the cache: one "all done" report, no work
    cached.write_bytes(b"not a zip file")
    assert torch.equal(pixel_neighbours(x, 4), first)
    with np.load(cached, allow_pickle=False) as z:
        assert z["neighbours"].shape == (200, 4)
    # Another k is another table, not a slice of this one read wrongly.
    assert pixel_neighbours(x, 2).shape == (200, 2)


def test_a_bad_k_is_refused():
    with pytest.raises(ValueError, match="k must be"):
        pixel_neighbours(torch.zeros(5, 3), 5)


def test_the_term_is_low_when_each_code_is_nearest_its_partner_and_blind_to_scale():
    z = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    near = z + 0.05
    swapped = z[torch.tensor([1, 0, 3, 2])] + 0.05
    right, wrong = losses.neighbour_loss(z, near), losses.neighbour_loss(z, swapped)
    assert right.item() < 0.3 < 3.0 < wrong.item()
    assert losses.neighbour_loss(10 * z, 10 * near).item() == pytest.approx(right.item(), rel=1e-4)


def _knn_share(model, x: torch.Tensor, y: np.ndarray) -> float:
    """Leave-one-out 5-NN vote of the codes: the share of digits among their own class."""
    with torch.no_grad():
        z = model.embed(x)
    d = torch.cdist(z, z)
    d.fill_diagonal_(float("inf"))
    votes = torch.from_numpy(y)[d.topk(5, largest=False).indices]
    return (torch.mode(votes, dim=1).values.numpy() == y).mean()


def test_the_term_keeps_the_classes_of_a_2d_autoencoder_apart():
    ds = load_bundled("mnist")
    x, y = as_float_images(ds.test_images[:600]), ds.test_labels[:600].astype(np.int64)

    def trained(weight: float):
        model = build_model(NetConfig(kind="ae", latent=2, hidden=(128,)), data_mean=x.mean(0), seed=0)
        result = Trainer(model, config=TrainConfig(epochs=40, batch_size=64, neighbours=weight), train_x=x).fit()
        return model.eval(), result

    plain, _ = trained(0.0)
    held, result = trained(0.03)
    # Digits of one class are more often among their own in the plane with the term
    # (0.51 -> 0.62 here; on MNIST's 60,000, whose neighbours are surer, 0.85 -> 0.94).
    assert _knn_share(held, x, y) > _knn_share(plain, x, y) + 0.07
    terms = [e.train["neighbours"] for e in result.history]
    assert terms[-1] < 0.9 * terms[0]
    with pytest.raises(TrainingError, match="torchrun"):
        Trainer(plain, config=TrainConfig(neighbours=0.1), train_x=x, group=object())  # type: ignore[arg-type]
    with pytest.raises(TrainingError, match="neighbour"):
        TrainConfig(neighbours=-1)


def test_train_neighbours_records_the_weight_and_reports_the_term(tmp_path):
    ds = load_bundled("mnist")
    images = tmp_path / "digits.npz"
    np.savez(images, x=ds.test_images[:300], y=ds.test_labels[:300])
    out = tmp_path / "ae.pt"
    run = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", "--model", "ae", "--images", str(images), "--epochs", "1",
         "--hidden", "32", "--neighbours", "0.01", "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "LATENT_EXPLORER_CACHE": str(tmp_path / "cache")},
    )
    assert run.returncode == 0, run.stderr
    assert "neighbours" in run.stdout
    assert load_checkpoint(out).meta["train"]["neighbours"] == 0.01


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_a_bad_neighbour_weight_is_one_error_line(value, tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", "--model", "ae", "--bundled", "--neighbours", value,
         "--out", str(tmp_path / "o.pt")],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--neighbours" in errors[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "o.pt").exists()
