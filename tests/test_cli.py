"""The command line as a user runs it: train on a small dataset, evaluate, errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import data
from models.checkpoint import bundled_checkpoints, load_checkpoint

# Every test here starts a process (the CLI, a training run or the app).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env_extra: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_DEVICE="cpu", OMP_NUM_THREADS="1")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory) -> Path:
    """A 300/100-image dataset in the standard four-file layout (gzipped)."""
    folder = tmp_path_factory.mktemp("tiny-mnist")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28]

    def images(n):
        labels = rng.integers(0, 10, n)
        cy, cx = 6 + 1.6 * labels, 14 + 6 * np.sin(labels)
        img = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2) / 10.0)
        return (img * 255).astype(np.uint8), labels.astype(np.uint8)

    for prefix, n in (("train", 300), ("t10k", 100)):
        x, y = images(n)
        data.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x, gzip=True)
        data.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y, gzip=True)
    return folder


def test_help_lists_subcommands():
    out = run_cli("--help")
    assert out.returncode == 0
    for word in ("train", "eval", "--screenshot"):
        assert word in out.stdout


@pytest.fixture(scope="module")
def trained(tiny_mnist, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Each kind trained once by the CLI on the tiny set (2 epochs): what the run printed,
    and its checkpoint. The tests below read them; none changes them."""
    folder = tmp_path_factory.mktemp("trained")
    runs = {}
    for kind in ("ae", "vae", "linear", "dae"):
        out_path = folder / f"{kind}.pt"
        runs[kind] = (run_cli("train", "--model", kind, "--data-dir", str(tiny_mnist), "--epochs", "2",
                              "--hidden", "32", "--latent", "2", "--out", str(out_path)), out_path)
    return runs


@pytest.mark.parametrize("kind", ["ae", "vae", "linear", "dae"])
def test_train_writes_a_checkpoint_that_loads(kind, trained):
    out, out_path = trained[kind]
    assert out.returncode == 0, out.stderr
    assert "epoch 2/2" in out.stdout
    assert "test:" in out.stdout
    ck = load_checkpoint(out_path, expect_kind=kind)
    assert ck.meta["epochs_done"] == 2
    assert ck.meta["dataset"] == "mnist"
    assert set(ck.meta["test"]) >= {"mse"}


def test_train_without_data_explains_where_to_put_it(tmp_path):
    out = run_cli("train", "--model", "ae", "--epochs", "1", "--out", str(tmp_path / "x.pt"),
                  env_extra={"LATENT_EXPLORER_DATA": str(tmp_path / "empty-cache")})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "empty-cache" in out.stderr
    assert "--bundled" in out.stderr


def test_nan_learning_rate_stops_with_message_and_keeps_weights(tiny_mnist, tmp_path):
    out_path = tmp_path / "vae.pt"
    out = run_cli("train", "--model", "vae", "--data-dir", str(tiny_mnist), "--epochs", "3", "--hidden", "32",
                  "--lr", "1e4", "--schedule", "constant", "--out", str(out_path))
    assert out.returncode == 2
    assert "learning rate" in out.stderr
    assert "Traceback" not in out.stderr
    assert not out_path.exists()
    partial = tmp_path / "vae.last-good.pt"
    ck = load_checkpoint(partial)  # loads, hence finite weights
    assert ck.meta["status"].startswith("stopped")


def test_eval_json_of_trained_checkpoints(tiny_mnist, trained):
    paths = []
    for kind in ("linear", "vae"):
        run, p = trained[kind]
        assert run.returncode == 0, run.stderr
        paths.append(str(p))
    out = run_cli("eval", *paths, "--data-dir", str(tiny_mnist), "--json")
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)
    for key in ("linear.mse", "linear.pca_mse", "linear.max_principal_angle_deg", "vae.nelbo", "vae.recon", "vae.kl", "vae.mse"):
        assert np.isfinite(figures[key]), key
    assert figures["vae.nelbo"] == pytest.approx(figures["vae.recon"] + figures["vae.kl"], rel=1e-4)
    # The literature's protocol beside it: the binarised test set.
    assert np.isfinite(figures["binarized.vae.nelbo"]) and np.isfinite(figures["binarized.vae.iwae_nll"])
    assert figures["binarized.vae.iwae_nll"] <= figures["binarized.vae.nelbo"] + 1e-3  # a tighter bound


def test_train_binarize_trains_on_bernoulli_draws_and_says_so_in_the_checkpoint(tiny_mnist, tmp_path):
    p = tmp_path / "bvae.pt"
    out = run_cli("train", "--model", "vae", "--data-dir", str(tiny_mnist), "--epochs", "1", "--hidden", "16",
                  "--binarize", "--out", str(p))
    assert out.returncode == 0, out.stderr
    assert load_checkpoint(p).meta["train"]["binarize"] is True


def test_eval_of_a_corrupt_checkpoint_names_the_file(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    out = run_cli("eval", str(bad))
    assert out.returncode == 2
    assert "broken.pt" in out.stderr
    assert "Traceback" not in out.stderr


def test_eval_of_bundled_models_on_bundled_data_has_every_key(tmp_path):
    assert len(bundled_checkpoints("mnist")) == 5, "the five pretrained checkpoints are bundled"
    # No importance-weighted bound (k = 1000, the default, takes minutes on 10,000 images): it is
    # tested on small models in test_eval_json_of_trained_checkpoints and test_lab_elbo.py.
    out = run_cli("eval", "--json", "--iwae-k", "0", env_extra={"LATENT_EXPLORER_DATA": str(tmp_path / "no-data")})
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)
    expected = ["ae.mse", "vae.nelbo", "vae.recon", "vae.kl", "vae.mse", "linear.mse", "linear.pca_mse",
                "linear.max_principal_angle_deg", "dae.psnr_noisy", "dae.psnr_out", "dae.psnr_gain_db"]
    for key in expected:
        assert np.isfinite(figures[key]), key
    assert "bundled" in figures["dataset_source"]
    # What the bundled models are for: the VAE beats a blank guess, the DAE denoises.
    assert figures["dae.psnr_gain_db"] > 5
    assert figures["ae.mse"] < 0.06
    # Handwriting: the codes' 5-NN vote names most clean digits, and fewer of the stand-in
    # for other writers' digits (issue #19 measures the bundled models' robustness by it).
    for model in ("ae", "vae", "dae"):
        clean, robust = figures[f"{model}.knn_accuracy"], figures[f"robust.{model}.knn_accuracy"]
        assert 0.75 < clean <= 1.0 and 0.3 < robust < clean, (model, clean, robust)
