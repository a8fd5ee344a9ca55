"""Images a user brings, from the command line: train, eval and codes on a folder, a CSV
and a .npz, the dataset description in every checkpoint, and every bad --images (or
--arch, --noise, --size ...) as one `error:` line and exit code 2 before any work."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import data
from models.checkpoint import load_checkpoint
from test_sources import CLASSES, make_shapes

# Every test here starts the CLI.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str | Path, cache: Path, stderr=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_DEVICE="cpu", OMP_NUM_THREADS="1",
               LATENT_EXPLORER_CACHE=str(cache))
    env.pop(data.MIRROR_ENV, None)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], stdout=subprocess.PIPE,
                          stderr=stderr, text=True, env=env, cwd=ROOT, timeout=600)


def one_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """60 coloured shapes in 3 class folders, a grey label,pixel CSV and a colour .npz."""
    root = tmp_path_factory.mktemp("images")
    shapes = make_shapes(root / "shapes")
    rng = np.random.default_rng(0)
    rows = ["label," + ",".join(f"pixel{i}" for i in range(28 * 28))]
    for i in range(40):
        img = np.zeros((28, 28), np.uint8)
        img[4 + i % 10: 14 + i % 10, 4: 24] = 200 if i % 2 else 90
        rows.append(f"{i % 2}," + ",".join(map(str, img.ravel())))
    (root / "bars.csv").write_text("\n".join(rows) + "\n")
    np.savez(root / "noise.npz", x=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), y=np.arange(40) % 4)
    np.savez(root / "small.npz", x=rng.integers(0, 256, (40, 20, 20), dtype=np.uint8), y=np.arange(40) % 4)
    (root / "empty").mkdir()
    (root / "unreadable").mkdir()
    (root / "unreadable" / "a.png").write_text("not an image")
    (root / "unreadable" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))
    (root / "wide.csv").write_text("1,2,3,4,5\n1,2,3,4\n")
    (root / "bad-cell.csv").write_text("1,0,0,0,0\n1,0,oops,0,0\n")
    np.save(root / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    np.savez(root / "flat.npz", x=np.zeros((4, 784), np.uint8))
    (root / "notes.txt").write_text("hello")
    return {"root": root, "shapes": shapes, "csv": root / "bars.csv", "npz": root / "noise.npz"}


def test_a_colour_conv_vae_trains_on_a_folder_and_eval_needs_those_images(files, tmp_path):
    out_path = tmp_path / "vae.pt"
    out = run_cli("train", "--model", "vae", "--arch", "conv", "--images", files["shapes"], "--size", "32",
                  "--latent", "4", "--epochs", "1", "--threads", "1", "--out", out_path, cache=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "shapes (32 x 32 colour): 51 training images, 9 test images" in out.stdout
    ck = load_checkpoint(out_path)
    assert (ck.config.arch, ck.config.channels, ck.config.image_shape) == ("conv", 3, (32, 32))
    d = ck.meta["dataset_description"]
    assert (d["format"], d["size"], d["colour"], d["fit"], d["classes"]) == ("folder", 32, True, "pad", list(CLASSES))
    assert d["source"] == str(files["shapes"].resolve())

    # Without the images it trained on, eval says which ones it needs.
    line = one_error(run_cli("eval", out_path, "--iwae-k", "0", cache=tmp_path))
    assert f"add --images {files['shapes'].resolve()}" in line and "folder, 32 px colour" in line

    out = run_cli("eval", out_path, "--images", files["shapes"], "--iwae-k", "0", "--json", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)
    assert figures["dataset_description"]["test"] == 9
    assert figures["vae.bits_per_dim"] == pytest.approx(figures["vae.nelbo"] / (math.log(2) * 3 * 32 * 32), rel=1e-4)


def test_a_csv_trains_an_mlp_and_codes_reads_it_again(files, tmp_path):
    ckpt = tmp_path / "ae.pt"
    out = run_cli("train", "--model", "ae", "--images", files["csv"], "--epochs", "1", "--threads", "1", "--out", ckpt,
                  cache=tmp_path)
    assert out.returncode == 0, out.stderr
    d = load_checkpoint(ckpt).meta["dataset_description"]
    assert (d["format"], d["size"], d["colour"], d["classes"], d["count"]) == ("csv", 28, False, ["0", "1"], 40)
    out = run_cli("codes", ckpt, "--images", files["csv"], "--out", tmp_path / "codes.csv", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "codes.csv").read_text().splitlines()
    assert lines[0] == "index,label,z1,z2" and len(lines) == 1 + d["test"]


def test_a_registered_dataset_is_described_too(files, tmp_path):
    ckpt = tmp_path / "linear.pt"
    out = run_cli("train", "--model", "linear", "--bundled", "--epochs", "1", "--threads", "1", "--out", ckpt, cache=tmp_path)
    assert out.returncode == 0, out.stderr
    d = load_checkpoint(ckpt).meta["dataset_description"]
    assert (d["format"], d["name"], d["size"], d["colour"], d["subset"]) == ("registered", "mnist", 28, False, True)
    # A model of 28 x 28 grey digits refuses other images, naming their size.
    line = one_error(run_cli("eval", ckpt, "--images", files["npz"], cache=tmp_path))
    assert f"--images {files['npz']}: the images are 32 x 32, not 28 x 28" in line


def test_cifar10_by_name_trains_in_colour_and_in_grey(tmp_path):
    from models import cifar

    folder = tmp_path / "data" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in (*cifar.TRAIN_FILES, cifar.TEST_FILE):
        records = np.concatenate([rng.integers(0, 10, (12, 1)), rng.integers(0, 256, (12, 3 * 32 * 32))], axis=1)
        (folder / name).write_bytes(records.astype(np.uint8).tobytes())
    common = ("--dataset", "cifar10", "--data-dir", tmp_path / "data", "--epochs", "1", "--threads", "1")
    out = run_cli("train", "--model", "vae", "--arch", "conv", "--latent", "4", *common, "--out", tmp_path / "c.pt",
                  cache=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "CIFAR-10 (32 x 32 colour): 60 training images, 12 test images" in out.stdout
    ck = load_checkpoint(tmp_path / "c.pt")
    assert ck.config.channels == 3 and ck.meta["dataset_description"]["colour"] is True
    out = run_cli("train", "--model", "ae", "--grey", *common, "--out", tmp_path / "g.pt", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    assert load_checkpoint(tmp_path / "g.pt").config.channels == 1
    # eval reads the checkpoint's dataset in the colour it was trained in.
    out = run_cli("eval", tmp_path / "g.pt", "--data-dir", tmp_path / "data", "--iwae-k", "0", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "CIFAR-10, 12 images" in out.stdout and "in grey" in out.stdout


def test_converting_a_folder_shows_progress_on_a_terminal(files, tmp_path):
    pty = pytest.importorskip("pty")  # a terminal for stderr (not on Windows)
    master, slave = pty.openpty()
    try:
        out = run_cli("train", "--model", "ae", "--images", files["shapes"], "--grey", "--epochs", "1", "--threads", "1",
                      "--out", tmp_path / "p.pt", cache=tmp_path / "fresh", stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal is closed once everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert out.returncode == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "60/60 images converted" in text


@pytest.mark.parametrize(("args", "expected"), [
    (("train", "--images", "{root}/missing"), "--images {root}/missing: no such file or folder"),
    (("train", "--images", "{root}/empty"), "{root}/empty: no .png/.jpg/.jpeg/.bmp/.webp files in it"),
    (("train", "--images", "{root}/unreadable"), "none of its 2 image files can be read"),
    (("train", "--images", "{root}/wide.csv"), "wide.csv, line 2: 4 columns, expected 5"),
    (("train", "--images", "{root}/bad-cell.csv"), "bad-cell.csv, line 2, column 3: 'oops' is not a number"),
    (("train", "--images", "{root}/objects.npy"), "objects.npy: contains Python objects, which are never unpickled"),
    (("train", "--images", "{root}/flat.npz"), "flat.npz: 'x' has shape (4, 784)"),
    (("train", "--images", "{root}/notes.txt"), "give an image folder, a .csv file or a .npz / .npy file"),
    (("train", "--images", "{root}/shapes", "--size", "30"), "converted to 28, 32, 64 pixels square, not 30"),
    (("train", "--images", "{root}/bars.csv", "--colour"), "CSV images are grey"),
    (("train", "--images", "{root}/noise.npz", "--fit", "crop"), "--fit is for image folders"),
    (("train", "--images", "{root}/shapes", "--dataset", "mnist"), "--images and --dataset each name the images"),
    (("train", "--images", "{root}/shapes", "--bundled"), "leave out --bundled"),
    (("train", "--bundled", "--fit", "pad"), "--fit is how an --images folder's images become square"),
    (("train", "--images", "{root}/small.npz", "--arch", "conv"),
     "--arch conv takes 28, 32 or 64 pixel images, these are 20 x 20"),
    (("train", "--bundled", "--size", "30"), "can be padded to 32 or 64 pixels, not 30"),
    (("train", "--bundled", "--colour"), "mnist's images are grey"),
    (("train", "--bundled", "--dataset", "cifar10"), "CIFAR-10 needs --download or --data-dir"),
    (("train", "--bundled", "--model", "dae", "--noise", "sparkle"), "unknown --noise 'sparkle': choose one of gaussian"),
    (("train", "--bundled", "--model", "dae", "--noise", "grey"), "--noise grey takes the colour away, and these images are grey"),
    (("eval", "--images", "{root}/missing"), "--images {root}/missing: no such file or folder"),
    (("--images", "{root}/missing"), "--images {root}/missing: no such file or folder"),
    (("--images", "{root}/shapes", "--dataset", "fashion-mnist"), "--images and --dataset each name the images"),
])
def test_a_bad_argument_is_one_error_line(files, tmp_path, args, expected):
    root = str(files["root"])
    args = tuple(a.format(root=root) for a in args)
    if args[0] == "train":
        args = (*args, "--epochs", "1", "--out", str(tmp_path / "x.pt"))
        if "--model" not in args:
            args = (*args, "--model", "ae")
    line = one_error(run_cli(*args, cache=tmp_path))
    assert expected.format(root=root) in line
    assert not (tmp_path / "x.pt").exists()
