"""The table of model kinds: one entry per kind, every column complete, no torch."""
import subprocess
import sys
from pathlib import Path

import pytest

from models.kinds import KIND_INFO, KIND_SHORT_NAMES, KIND_SIDES, KIND_TITLES, KINDS
from models.nets import NetConfig, build_model


def test_every_kind_has_a_short_name_a_title_and_a_side():
    assert KINDS == ("ae", "vae", "dae", "linear")
    for kind in KINDS:
        info = KIND_INFO[kind]
        assert info.name == kind
        assert info.short and info.title and info.side in ("left", "right")
        assert (KIND_SHORT_NAMES[kind], KIND_TITLES[kind], KIND_SIDES[kind]) == (info.short, info.title, info.side)


def test_the_vae_trains_on_the_right_and_the_ae_family_on_the_left():
    assert {k for k, side in KIND_SIDES.items() if side == "right"} == {"vae"}
    assert KIND_SHORT_NAMES["dae"] == "Denoising AE" and KIND_TITLES["vae"] == "Variational autoencoder"


def test_every_kind_in_the_table_builds_a_model_with_its_title():
    for kind in KINDS:
        model = build_model(NetConfig(kind=kind, hidden=(8,)), seed=0)
        assert model.kind == kind and model.config.title == KIND_TITLES[kind]


@pytest.mark.slow
def test_the_table_loads_without_torch():
    code = "import sys, models.kinds; assert 'torch' not in sys.modules, 'models.kinds imported torch'"
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
