"""Checkpoints whose tensors have the wrong dtype or shape: refused on load with a
message naming the file and the tensor, in the code, on the command line and in the
window's File › Open (which keeps the model it showed)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QSettings

from models.checkpoint import FORMAT, FORMAT_VERSION, CheckpointError, load_checkpoint
from models.nets import NetConfig, build_model

ROOT = Path(__file__).resolve().parent.parent
TENSOR = "encoder.0.weight"


def write_checkpoint(path: Path, *, dtype: torch.dtype | None = None, shape: tuple[int, ...] | None = None) -> Path:
    """A tiny AE checkpoint, written as save_checkpoint writes one, with TENSOR changed."""
    model = build_model(NetConfig(kind="ae", hidden=(16,)), seed=0)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if dtype is not None:
        state[TENSOR] = (state[TENSOR] * 100).to(dtype)
    if shape is not None:
        state[TENSOR] = torch.zeros(shape)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(model.config.to_dict()),
               "meta": json.dumps({}), "state_dict": state}
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("dtype, name", [(torch.float64, "float64"), (torch.int64, "int64"), (torch.float16, "float16")])
def test_a_weight_of_another_dtype_is_refused_by_name(tmp_path, dtype, name):
    path = write_checkpoint(tmp_path / f"{name}.pt", dtype=dtype)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value) == f"{name}.pt: weight {TENSOR} is {name}, expected float32"


def test_a_weight_of_another_shape_names_both_shapes(tmp_path):
    path = write_checkpoint(tmp_path / "shape.pt", shape=(16, 10))
    with pytest.raises(CheckpointError, match=r"shape\.pt: weight encoder\.0\.weight has shape \(16, 10\), expected \(16, 784\)"):
        load_checkpoint(path)


def test_the_unchanged_checkpoint_loads(tmp_path):
    # The fixture itself is sound: only the changed tensor makes the others fail.
    ck = load_checkpoint(write_checkpoint(tmp_path / "ok.pt"))
    assert ck.model(torch.zeros(2, 784)).shape == (2, 784)


@pytest.mark.slow
@pytest.mark.parametrize("dtype, name", [(torch.float64, "float64"), (torch.int64, "int64")])
def test_eval_of_a_checkpoint_with_a_weight_of_another_dtype(tmp_path, dtype, name):
    path = write_checkpoint(tmp_path / f"w-{name}.pt", dtype=dtype)
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "eval", str(path), "--iwae-k", "0"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "LATENT_EXPLORER_DATA": str(tmp_path / "none")})
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: w-{name}.pt: weight {TENSOR} is {name}, expected float32"]
    assert out.stdout == ""


# The offscreen platform cannot resize a shown top-level window to its layout's minimum size.
@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
@pytest.mark.parametrize("dtype, name", [(torch.float64, "float64"), (torch.int64, "int64")])
def test_file_open_of_such_a_checkpoint_shows_why_and_keeps_the_old_model(qtbot, tmp_path, dtype, name):
    from explorer.startup import load_startup
    from explorer.window import MainWindow

    window = MainWindow(startup=load_startup(), settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        theme_choice="light")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.wait_for_models()
    old = window.explore.checkpoint("left")
    assert old is not None
    path = write_checkpoint(tmp_path / f"gui-{name}.pt", dtype=dtype)

    assert window.open_checkpoint("left", path) is False

    assert window.last_error == f"gui-{name}.pt: weight {TENSOR} is {name}, expected float32"
    assert f"gui-{name}.pt" in window.statusBar().currentMessage()
    assert window._message_box is not None and window._message_box.isVisible()
    assert window.explore.checkpoint("left") is old
    assert window.isVisible()
