"""The concept lab's first three experiments as a user meets them: the losses of two
vectors and of a digit's altered copies, a linear AE finding PCA's subspace, and an
overcomplete AE copying noise that a denoising AE removes. Everything trains on the
bundled MNIST test images or small synthetic ones, on one torch thread."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import main
from models import data, lab

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def bundled():
    return data.load_bundled("mnist")


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- losses


def test_lecture_example_gives_cosine_minus_0_96_and_mse_49():
    v = lab.vector_losses([3, 4], [-4, -3])
    assert v.cosine == pytest.approx(-0.96)
    assert v.mse == pytest.approx(49.0)
    assert v.l1 == pytest.approx(7.0)
    # The notes' misprint (-4, 3) is orthogonal to x.
    assert lab.vector_losses([3, 4], [-4, 3]).cosine == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "x, x_hat, message",
    [([3, 4], [1], "same length"), ([], [1], "empty"), ([1, 2], [], "empty"), ([1, float("inf")], [1, 2], "finite")],
)
def test_bad_vectors_are_refused_with_a_reason(x, x_hat, message):
    with pytest.raises(lab.VectorError, match=message):
        lab.vector_losses(x, x_hat)


def test_parse_vector_accepts_spaces_commas_brackets_and_names_the_bad_entry():
    assert lab.parse_vector(" (3, -4; 5e-1) ").tolist() == [3.0, -4.0, 0.5]
    with pytest.raises(lab.VectorError, match="'four' is not a number"):
        lab.parse_vector("3 four")
    with pytest.raises(lab.VectorError, match="empty"):
        lab.parse_vector("  ")


def test_zero_vector_has_no_cosine():
    v = lab.vector_losses([0, 0], [1, 2])
    assert math.isnan(v.cosine) and v.mse == pytest.approx(2.5)
    assert "undefined" in lab.format_loss(v.cosine)


def test_each_loss_ranks_the_altered_digit_by_what_it_cares_about(bundled):
    image = bundled.test_images[0].astype(np.float32) / 255.0
    table = lab.alteration_table(image)
    assert table.images.shape == (5, 28, 28)
    # Cosine ignores scaling: the dimmer copy points the same way as the original.
    assert table.value("dimmer", "cosine") == pytest.approx(1.0, abs=1e-9)
    assert table.ranking("cosine")[0] == "dimmer"
    # ... while MSE does see it.
    assert table.value("dimmer", "mse") > 0.01
    # A one-pixel shift looks the same to a person but costs MSE more than halving the brightness.
    assert table.value("shifted", "mse") > table.value("dimmer", "mse")
    assert table.value("shifted", "cosine") < table.value("noisy", "cosine") or table.value("shifted", "cosine") < 0.9
    # Inverting is the worst for every loss.
    for loss in ("mse", "l1", "cosine"):
        assert table.ranking(loss)[-1] == "inverted"
    # Rankings are permutations of the copies; MSE and L1 are >= 0, cosine in [-1, 1].
    for v in table.values:
        assert v.mse >= 0 and v.l1 >= 0 and -1 <= v.cosine <= 1


def test_cli_prints_the_lecture_example():
    out = subprocess.run(
        [sys.executable, "main.py", "lab", "losses", "--x", "3", "4", "--xhat", "-4", "-3"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("  ")}
    assert " 49 " in lines["MSE"] and " 7 " in lines["L1"] and " -0.96 " in lines["Cosine"]
    assert "[−1, 1]" in lines["Cosine"] and "[0, ∞)" in lines["MSE"]


def test_cli_json_and_errors(capsys):
    assert main.main(["lab", "losses", "--x", "3", "4", "--xhat", "-4", "-3", "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert values == pytest.approx({"mse": 49.0, "l1": 7.0, "cosine": -0.96})
    assert main.main(["lab", "losses", "--x", "3", "4", "--xhat", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "same length" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main.main(["lab", "losses", "--x", "3", "--xhat"])
    assert exc.value.code == 2


def test_losses_tab_shows_the_lecture_example_and_explains_bad_input(qtbot, bundled):
    from explorer.lab_losses import LossesExperiment

    w = LossesExperiment(images=bundled.test_images[:50], labels=bundled.test_labels[:50])
    qtbot.addWidget(w)
    w.demo()
    assert w.cards["mse"].value.text() == "49"
    assert w.cards["cosine"].value.text() == "-0.96"
    assert w.cards["l1"].value.text() == "7"
    assert w.error_text() == ""
    w.x_hat_edit.setText("1, 2, 3")
    assert "same length" in w.error_text()
    assert w.cards["mse"].value.text() == "–"
    w.x_hat_edit.setText("1, two")
    assert "'two' is not a number" in w.error_text()
    w.x_edit.setText("1 0 0")
    w.x_hat_edit.setText("0 1 0")
    assert w.error_text() == "" and w.cards["cosine"].value.text() == "0"
    # The digit part: a new index alters a new digit; every strip shows the five copies.
    first = w.original_view.image()
    w.index_spin.setValue(7)
    assert not np.array_equal(first, w.original_view.image())
    assert [s.count() for s in w.strips.values()] == [5, 5, 5]
    assert w.strips["cosine"].images()[0] == pytest.approx(w.table.images[w.table.names.index("dimmer")])
    assert w.loss_table.item(4, 0).text().endswith("(5)")  # inverted: last by MSE
