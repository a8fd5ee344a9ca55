"""The benchmark command runs end to end and reports every figure."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Every test here starts a process (the CLI, a training run or the app).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

KEYS = [
    "train_ratio",
    "in_app_train_ratio",
    "gui_latency_ms.p50",
    "gui_latency_ms.p99",
    "drag_decode_ms.p50",
    "drag_decode_ms.p99",
    "drag_frame_ms.p50",
    "drag_frame_ms.p99",
    "scatter_fps",
    "denoise_update_ms.p50",
    "denoise_update_ms.p99",
    "inpaint_step_ms.p50",
    "inpaint_step_ms.p99",
    "startup_s",
    "models_ready_s",
    "startup_cold_s",
    "peak_rss_mb",
]


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


def test_bench_quick_json_has_every_key_positive_and_finite(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_DATA=str(tmp_path / "no-data"))
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "bench", "--quick", "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads(out.stdout)
    for key in KEYS:
        value = _get(results, key)
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (key, value)
    # A frame of a drag holds the decoding and its repaint.
    assert results["drag_frame_ms"]["p50"] >= results["drag_decode_ms"]["p50"]
    # The models cannot be ready to decode before the window that shows them has painted.
    assert results["models_ready_s"] >= results["startup_s"]
    assert results["machine"]["cores"] >= 1
    assert "bundled" in results["machine"]["data"]


def test_bench_with_a_data_dir_that_holds_no_mnist_says_so(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "bench", "--quick", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert "error:" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
