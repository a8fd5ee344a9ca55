"""`python main.py codes CHECKPOINT --out FILE.csv` as a user runs it: one row per
test image with the model's codes (the VAE's encoder means), and one `error:` line
with exit code 2 for what the user can fix."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import load_checkpoint, save_checkpoint
from models.codes_csv import read_codes_csv
from models.data import as_float_images, load_bundled
from models.files import bundled_models_dir
from models.nets import NetConfig, build_model

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "codes", *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_codes_writes_one_row_per_test_image_with_the_models_codes(tmp_path, kind):
    ckpt = bundled_models_dir("mnist") / f"{kind}.pt"
    out = tmp_path / f"{kind}.csv"
    run = _run(str(ckpt), "--bundled", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "10000" in run.stdout and str(out) in run.stdout
    assert out.read_text().splitlines()[0] == "index,label,z1,z2"
    indices, labels, codes = read_codes_csv(out)
    ds = load_bundled("mnist")
    assert np.array_equal(indices, np.arange(len(ds.test_images)))
    assert np.array_equal(labels, ds.test_labels)
    model = load_checkpoint(ckpt).model.eval()
    with torch.no_grad():
        encoded = model.encode(as_float_images(ds.test_images))
    expected = encoded[0] if kind == "vae" else encoded  # the VAE's codes are its encoder's means
    assert np.allclose(codes, expected.numpy(), atol=1e-5)


def test_codes_faults_are_one_error_line_and_write_nothing(tmp_path):
    vae = str(bundled_models_dir("mnist") / "vae.pt")
    small = tmp_path / "small.pt"
    torch.manual_seed(0)
    save_checkpoint(small, build_model(NetConfig(kind="ae", latent=2, hidden=(8,), image_shape=(14, 14))), meta={})
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    out = str(tmp_path / "codes.csv")
    cases = [
        ((str(tmp_path / "missing.pt"), "--out", out), ["missing.pt", "no such file"]),
        ((str(tmp_path), "--out", out), ["is a folder"]),
        ((str(tmp_path / "junk.pt"), "--bundled", "--out", out), ["junk.pt"]),
        ((vae, "--out", str(tmp_path / "gone" / "codes.csv")), ["--out", "does not exist"]),
        ((vae, "--out", str(tmp_path)), ["--out", "is a folder"]),
        ((vae, "--out", str(tmp_path / "codes.txt")), ["--out", ".csv"]),
        ((str(small), "--bundled", "--out", out), ["14x14", "28x28"]),
        ((vae, "--bundled", "--data-dir", str(tmp_path), "--out", out), ["--bundled", "--data-dir"]),
        ((vae, "--bundled", "--dataset", "kmnist", "--out", out), ["ship with the app"]),
        ((vae,), ["--out"]),
    ]
    for args, words in cases:
        run = _run(*args)
        assert run.returncode == 2, (args, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, run.stderr)
        assert "Traceback" not in run.stderr
        for w in words:
            assert w in lines[0], (args, w, lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt", "small.pt"]
