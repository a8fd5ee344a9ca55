"""Faults as a user meets them on the command line: every bad argument is one
`error:` line and exit code 2 before any data is read; a NaN run whose save fails,
a broken dataset cache, a loss that explodes and an unwritable --out say so."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models import data
from models.checkpoint import load_checkpoint, save_checkpoint
from models.nets import NetConfig, build_model

# Every test here starts the CLI.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_DEVICE="cpu", OMP_NUM_THREADS="1")
    env.pop(data.MIRROR_ENV, None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


def error_lines(out: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in out.stderr, out.stderr
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory) -> Path:
    """A 300/100-image dataset in the standard four-file layout (gzipped)."""
    folder = tmp_path_factory.mktemp("tiny-mnist")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28]
    for prefix, n in (("train", 300), ("t10k", 100)):
        labels = rng.integers(0, 10, n)
        cy, cx = 6 + 1.6 * labels, 14 + 6 * np.sin(labels)
        img = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2) / 10.0)
        data.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", (img * 255).astype(np.uint8), gzip=True)
        data.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8), gzip=True)
    return folder


# ---------------------------------------------------------------- every argument

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
NO_MPS = pytest.mark.skipif(bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
                            reason="this machine has MPS")
TRAIN = ("train", "--model", "ae", "--bundled", "--epochs", "1", "--out", "{tmp}/out.pt")

# (arguments with {tmp} and {file} placeholders, what the error line must contain)
BAD_ARGUMENTS = [
    pytest.param([*TRAIN, "--device", "cuda"], "CUDA", marks=NO_CUDA, id="device-cuda"),
    pytest.param([*TRAIN, "--device", "mps"], "MPS", marks=NO_MPS, id="device-mps"),
    pytest.param([*TRAIN, "--device", "tpu"], "--device", id="device-unknown"),
    pytest.param([*TRAIN, "--device", "cuda:7"], "CUDA", marks=pytest.mark.skipif(
        torch.cuda.device_count() > 7, reason="8 GPUs"), id="device-index"),
    pytest.param([*TRAIN, "--threads", "-1"], "--threads", id="threads-negative"),
    pytest.param([*TRAIN, "--threads", "0"], "--threads", id="threads-zero"),
    pytest.param([*TRAIN, "--batch-size", "0"], "--batch-size", id="batch-size"),
    pytest.param([*TRAIN, "--epochs", "0"], "--epochs", id="epochs"),
    pytest.param([*TRAIN, "--epochs", "two"], "--epochs", id="epochs-not-a-number"),
    pytest.param([*TRAIN, "--lr", "0"], "--lr", id="lr-zero"),
    pytest.param([*TRAIN, "--lr", "-1e-3"], "--lr", id="lr-negative"),
    pytest.param([*TRAIN, "--lr", "nan"], "--lr", id="lr-nan"),
    pytest.param([*TRAIN, "--lr", "inf"], "--lr", id="lr-inf"),
    pytest.param([*TRAIN, "--latent", "0"], "--latent", id="latent"),
    pytest.param([*TRAIN, "--hidden", "64", "0"], "--hidden", id="hidden"),
    pytest.param([*TRAIN, "--beta", "-1"], "--beta", id="beta-negative"),
    pytest.param([*TRAIN, "--beta", "nan"], "--beta", id="beta-nan"),
    pytest.param([*TRAIN, "--noise-level", "3"], "--noise-level", id="noise-level-range"),
    pytest.param([*TRAIN, "--noise", "downsample", "--noise-level", "2.5"], "whole number", id="noise-level-whole"),
    pytest.param([*TRAIN, "--seed", "-1"], "--seed", id="seed"),
    pytest.param([*TRAIN, "--schedule", "linear"], "--schedule", id="schedule"),
    pytest.param([*TRAIN, "--model", "gan"], "--model", id="model"),
    pytest.param([*TRAIN[:-1], "{tmp}"], "is a folder", id="out-folder"),
    pytest.param([*TRAIN[:-1], "{file}/out.pt"], "is a file", id="out-under-a-file"),
    pytest.param(["train", "--model", "ae", "--data-dir", "{file}", "--out", "{tmp}/o.pt"], "--data-dir", id="data-dir-file"),
    pytest.param(["train", "--model", "ae", "--data-dir", "{tmp}/nowhere", "--out", "{tmp}/o.pt"], "no such folder",
                 id="data-dir-missing"),
    pytest.param([*TRAIN, "--dataset", "kmnist"], "ship with the app", id="bundled-kmnist"),
    pytest.param([*TRAIN, "--download"], "--bundled", id="bundled-and-download"),
    pytest.param([*TRAIN[:3], "--download", "--mirror", "ftp://mirror.example/", *TRAIN[6:]], "--mirror", id="mirror-scheme"),
    pytest.param([*TRAIN, "--mirror", "http://mirror.example/"], "--download", id="mirror-without-download"),
    pytest.param(["eval", "--iwae-k", "-3"], "--iwae-k", id="iwae-k"),
    pytest.param(["eval", "{tmp}/missing.pt"], "no such file", id="eval-missing-checkpoint"),
    pytest.param(["eval", "--data-dir", "{file}"], "--data-dir", id="eval-data-dir-file"),
    pytest.param(["eval", "--dataset", "cifar"], "--dataset", id="eval-dataset"),
    pytest.param(["bench", "--data-dir", "{file}"], "--data-dir", id="bench-data-dir-file"),
    pytest.param(["lab", "losses", "--x", "1", "2", "--xhat", "1"], "same length", id="lab-lengths"),
    pytest.param(["--train-for", "5"], "--screenshot", id="train-for-without-screenshot"),
    pytest.param(["--screenshot", "{tmp}/s.png", "--train-for", "-1"], "--train-for", id="train-for-negative"),
    pytest.param(["--screenshot", "{file}/s.png"], "is a file", id="screenshot-under-a-file"),
    pytest.param(["--data-dir", "{file}"], "--data-dir", id="app-data-dir-file"),
    pytest.param(["--mirror", "mirror.example"], "--mirror", id="app-mirror"),
]


@pytest.mark.parametrize("args, says", BAD_ARGUMENTS)
def test_a_bad_argument_is_one_error_line_before_any_work(args, says, tmp_path):
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder")
    out = run_cli(*(a.format(tmp=tmp_path, file=a_file) for a in args))

    assert out.returncode == 2, out.stderr
    errors = error_lines(out)
    assert len(errors) == 1, out.stderr
    assert says in errors[0]
    # Nothing started: no "training ..." line, no checkpoint, no screenshot.
    assert out.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file.txt"]


def test_a_bad_mirror_in_the_environment_is_refused(tmp_path):
    out = run_cli("train", "--model", "ae", "--download", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o.pt"),
                  env_extra={data.MIRROR_ENV: "files.example/mnist"})
    assert out.returncode == 2
    assert error_lines(out) == ["error: $LATENT_EXPLORER_MIRROR must be an http:// or https:// address such as "
                                "http://192.168.1.10:8000/, got 'files.example/mnist'"]


# ---------------------------------------------------------------- faults during a run


def test_a_nan_run_whose_last_good_save_fails_says_both(tiny_mnist, tmp_path):
    out_path = tmp_path / "vae.pt"
    # The folder is writable (the check before training passes); the last-good file's
    # place is taken by a folder, so that one save fails as on a full disk.
    (tmp_path / "vae.last-good.pt").mkdir()
    out = run_cli("train", "--model", "vae", "--data-dir", str(tiny_mnist), "--epochs", "3", "--hidden", "32",
                  "--lr", "1e4", "--schedule", "constant", "--out", str(out_path))

    assert out.returncode == 2
    errors = error_lines(out)
    assert len(errors) == 1, out.stderr
    assert "the loss became" in errors[0] or "became NaN" in errors[0]
    assert "Saving them failed, so nothing was saved" in errors[0]
    assert "vae.last-good.pt" in errors[0] and "Is a directory" in errors[0]
    assert not out_path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name != "vae.last-good.pt"]


def _broken_cache(root: Path) -> Path:
    folder = root / "mnist"
    folder.mkdir(parents=True)
    labels = np.zeros(10, dtype=np.uint8)
    data.write_idx(folder / "train-labels-idx1-ubyte.gz", labels, gzip=True)
    data.write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28), dtype=np.uint8), gzip=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0" * 100)[:30])  # cut short
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"<!DOCTYPE html><html>404</html>")
    return folder


def test_eval_on_a_broken_cache_says_which_files_and_that_the_bundled_set_was_used(tmp_path):
    folder = _broken_cache(tmp_path / "cache")
    ck = save_checkpoint(tmp_path / "ae.pt", build_model(NetConfig(kind="ae", hidden=(16,)), seed=0))
    out = run_cli("eval", str(ck), "--iwae-k", "0", env_extra={"LATENT_EXPLORER_DATA": str(tmp_path / "cache")})

    assert out.returncode == 0, out.stderr
    assert error_lines(out) == []
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, out.stderr
    assert str(folder / "train-images-idx3-ubyte.gz") in warnings[0]
    assert str(folder / "t10k-labels-idx1-ubyte.gz") in warnings[0]
    assert "train-labels" not in warnings[0]
    assert "bundled" in warnings[0]
    assert "bundled MNIST test subset (10,000 images)" in out.stdout


@pytest.mark.parametrize("kind", ["ae", "dae", "linear"])
def test_a_loss_that_explodes_without_nan_warns_and_still_saves(kind, tiny_mnist, tmp_path):
    out_path = tmp_path / f"{kind}.pt"
    out = run_cli("train", "--model", kind, "--data-dir", str(tiny_mnist), "--epochs", "2", "--hidden", "32",
                  "--lr", "10", "--schedule", "constant", "--out", str(out_path))

    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, out.stderr
    assert "diverged" in warnings[0] and "learning rate (10)" in warnings[0]
    assert load_checkpoint(out_path).meta["epochs_done"] == 2


def test_a_sound_run_gives_no_divergence_warning(tiny_mnist, tmp_path):
    out = run_cli("train", "--model", "ae", "--data-dir", str(tiny_mnist), "--epochs", "2", "--hidden", "32",
                  "--out", str(tmp_path / "ae.pt"))
    assert out.returncode == 0, out.stderr
    assert "warning:" not in out.stderr
