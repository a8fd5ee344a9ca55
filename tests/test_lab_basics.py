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
from explorer.startup import empty_context, images_context
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
    assert table.value("shifted", "cosine") < 0.9
    # Inverting is the worst for every loss.
    for loss in ("mse", "l1", "cosine"):
        assert table.ranking(loss)[-1] == "inverted"
    # Rankings are permutations of the copies; MSE and L1 are >= 0, cosine in [-1, 1].
    for v in table.values:
        assert v.mse >= 0 and v.l1 >= 0 and -1 <= v.cosine <= 1


@pytest.mark.slow
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
    from explorer.lab.losses import LossesExperiment

    w = LossesExperiment(dataset=images_context(bundled.test_images[:50], bundled.test_labels[:50]))
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


# --------------------------------------------------------------------------- linear AE = PCA


def test_basis_images_put_zero_at_grey_and_each_vector_in_range():
    v = np.zeros((2, 784))
    v[0, 0], v[0, 1] = 2.0, -4.0
    v[1, 5] = 0.001
    img = lab.basis_images(v)
    assert img.shape == (2, 28, 28)
    assert img[0, 0, 2] == pytest.approx(0.5) and img[0, 0, 1] == pytest.approx(0.0) and img[0, 0, 0] == pytest.approx(0.75)
    assert img[1].max() == pytest.approx(1.0)  # a tiny vector is scaled up to be seen
    assert lab.basis_images(np.zeros((1, 784))).max() == pytest.approx(0.5)  # no division by zero


def test_pca_fit_matches_numpys_eigendecomposition():
    from models.metrics import pca_fit, principal_angles

    x = np.random.default_rng(0).normal(size=(300, 20)) * np.linspace(3, 0.1, 20)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    top = np.argsort(values)[::-1][:4]
    for given in (x, torch.from_numpy(x)):
        fit = pca_fit(given, 4)
        assert fit.explained_variance == pytest.approx(values[top])
        assert principal_angles(fit.components.T, vectors[:, top]).max() < 1e-4  # degrees


def test_linear_ae_finds_pca_subspace_on_bundled_digits(bundled, one_thread):
    run = lab.LinearPcaRun(bundled.test_images, latent=2, epochs=15, record_every=200)
    points = list(run.points())
    first, last = points[0], points[-1]
    assert first.step == 0 and last.step == last.total_steps
    assert first.max_angle > 45  # an untrained decoder has nothing to do with PCA
    assert last.max_angle < 2.0
    assert last.mse == pytest.approx(run.pca_mse, rel=0.01)
    # The subspace matches, the basis need not: the decoder's columns are not the components.
    assert last.projected_pcs == pytest.approx(run.pcs, abs=0.05)
    cos = np.abs(last.decoder @ run.pcs.T) / np.linalg.norm(last.decoder, axis=1, keepdims=True)
    assert cos.max(axis=1).min() < 0.99


def test_linear_tab_trains_live_and_ends_below_two_degrees(qtbot, bundled):
    from explorer.lab.linear import LinearPcaExperiment

    w = LinearPcaExperiment(dataset=images_context(bundled.test_images, bundled.test_labels))
    qtbot.addWidget(w)
    assert w.pc_strip.count() == 0 and w.stop_button.isEnabled() is False
    assert w.start()
    assert not w.train_button.isEnabled() and w.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not w.is_running(), timeout=60_000)
    assert w.error == ""
    assert w.points[-1].max_angle < 2.0
    assert "largest principal angle" in w.summary.text()
    # Both curves are drawn: the AE's error ends on PCA's line; the bold angle curve ends below 2 degrees.
    xs, ys = w.mse_curve.getData()
    assert len(xs) > 20 and ys[-1] == pytest.approx(w.pca_line.value(), rel=0.01)
    assert w.max_curve.getData()[1][-1] < 2.0 and w.max_curve.getData()[1][0] > 45
    assert [s.count() for s in w.strips] == [2, 2, 2]
    assert w.train_button.isEnabled() and not w.stop_button.isEnabled()


def test_linear_tab_stops_and_shuts_down_mid_run(qtbot, bundled):
    from explorer.lab.linear import LinearPcaExperiment

    w = LinearPcaExperiment(dataset=images_context(bundled.test_images[:2000]))
    qtbot.addWidget(w)
    w.latent_spin.setValue(5)
    w.epochs_spin.setValue(200)
    assert w.start()
    qtbot.waitUntil(lambda: len(w.points) >= 3, timeout=30_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.is_running(), timeout=10_000)
    stopped_at = w.points[-1].step
    assert stopped_at < w.points[-1].total_steps
    assert w.train_button.isEnabled()
    # Closing the window mid-run leaves nothing running.
    assert w.start()
    qtbot.waitUntil(lambda: len(w.points) >= 2, timeout=30_000)
    w.shutdown(5.0)
    assert not w.is_running()


# --------------------------------------------------------------------------- under/overcomplete


def _identity_linear_ae():
    from models.nets import LinearAE, NetConfig

    model = LinearAE(NetConfig(kind="linear", latent=784))
    with torch.no_grad():
        for layer in (model.encoder, model.decoder):
            layer.weight.copy_(torch.eye(784))
            layer.bias.zero_()
    return model


def test_noise_kept_is_one_for_the_identity_and_zero_for_a_constant(bundled):
    from models.nets import LinearAE, NetConfig

    _, clean, noisy = lab.capacity_split(bundled.test_images[:400], test_count=50)
    assert clean.shape == (50, 784) and not torch.equal(clean, noisy)
    assert lab.noise_kept(_identity_linear_ae(), clean, noisy) == pytest.approx(1.0, abs=1e-5)
    constant = LinearAE(NetConfig(kind="linear", latent=2))
    with torch.no_grad():
        constant.encoder.weight.zero_()
    assert lab.noise_kept(constant, clean, noisy) == pytest.approx(0.0, abs=1e-9)
    result = lab.evaluate_capacity(_identity_linear_ae(), clean, noisy, show=3)
    assert result.outputs.shape == (3, 28, 28)
    assert result.denoised_mse == pytest.approx(result.noisy_mse, rel=1e-5) and result.clean_mse < 1e-10


def test_capacity_models_have_no_hidden_layer_so_latent_size_is_the_capacity():
    mean = torch.full((784,), 0.1)
    for kind in ("ae", "dae"):
        sigmoid = lab.capacity_model(kind, 1024, output="sigmoid", data_mean=mean)
        assert sigmoid.encoder[0].weight.shape == (1024, 784) and len(sigmoid.encoder) == 1
        linear = lab.capacity_model(kind, 1024, data_mean=mean)
        assert linear.kind == kind and linear.encoder.weight.shape == (1024, 784)
        # A linear decoder starts at the mean image and is not squashed into [0, 1].
        with torch.no_grad():
            linear.encoder.weight.zero_()
            linear.encoder.bias.zero_()
            assert linear.reconstruct(torch.zeros(1, 784)) == pytest.approx(mean[None])
            linear.decoder.bias.fill_(3.0)
            assert float(linear.reconstruct(torch.zeros(1, 784)).max()) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="'ae' or 'dae'"):
        lab.capacity_config("vae", 2)
    with pytest.raises(ValueError, match="output must be"):
        lab.capacity_model("ae", 2, output="tanh")


def test_capacity_tab_overcomplete_ae_keeps_more_noise_than_the_dae(qtbot, bundled):
    from explorer.lab.capacity import CapacityExperiment

    w = CapacityExperiment(dataset=images_context(bundled.test_images[:6000]), sizes=(2, 1024))
    qtbot.addWidget(w)
    assert all(s.count() == 0 for s in w.strips.values())
    w.epochs_spin.setValue(3)
    assert w.output_combo.currentData() == "linear"
    assert w.start()
    assert not w.output_combo.isEnabled()
    qtbot.waitUntil(lambda: not w.is_running(), timeout=120_000)
    assert w.error == "" and sorted(w.results) == [2, 1024]
    over, under = w.results[1024], w.results[2]
    # The overcomplete AE lets through much more of the noise than the DAE of the same size...
    assert over["ae"].noise_kept > over["dae"].noise_kept + 0.03
    # ... and than the undercomplete AE, which cannot copy anything.
    assert over["ae"].noise_kept > under["ae"].noise_kept + 0.03
    # So the DAE's outputs are closer to the clean digits; the AE's copy clean digits better.
    assert over["dae"].denoised_mse < over["ae"].denoised_mse
    assert over["ae"].clean_mse < under["ae"].clean_mse
    # What the user sees: the kept-noise curves, the images of the largest size, the sentence with the numbers.
    assert len(w.kept_curves["ae"].getData()[0]) == 2
    assert w.size_combo.currentData() == 1024
    assert [s.count() for s in w.strips.values()] == [6, 6, 6, 6]
    assert w.strips["ae"].images()[0] == pytest.approx(over["ae"].outputs[0])
    assert "k = 1024" in w.findings.text() and "%" in w.findings.text()
    w.size_combo.setCurrentIndex(0)
    assert w.strips["ae"].images()[0] == pytest.approx(under["ae"].outputs[0])


def test_capacity_tab_stop_keeps_finished_sizes(qtbot, bundled):
    from explorer.lab.capacity import CapacityExperiment

    w = CapacityExperiment(dataset=images_context(bundled.test_images[:1500]), sizes=(2, 1024))
    qtbot.addWidget(w)
    w.epochs_spin.setValue(50)
    assert w.start()
    qtbot.waitUntil(lambda: w.progress_item is not None and w.progress_item.latent == 1024, timeout=60_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.is_running(), timeout=10_000)
    assert sorted(w.results) == [2] and w.train_button.isEnabled()
    assert "1 of 2" in w.progress.format()
    w.shutdown(1.0)


# --------------------------------------------------------------------------- in the Lab panel


def test_lab_panel_opens_with_the_three_tabs_first_and_stops_them_on_close(qtbot, bundled):
    from explorer.lab.panel import LabPanel

    panel = LabPanel(dataset=images_context(bundled.test_images[:1500], bundled.test_labels[:1500]))
    qtbot.addWidget(panel)
    assert panel.experiment_names()[:3] == ("losses", "linear", "capacity")
    assert [panel.tabs.tabText(i) for i in range(3)] == ["Losses", "Linear AE = PCA", "Under/overcomplete"]
    assert panel.current_experiment() == "losses"
    panel.demo()  # the screenshot state: the lecture's example
    assert panel.experiment("losses").cards["cosine"].value.text() == "-0.96"
    capacity = panel.experiment("capacity")
    capacity.epochs_spin.setValue(50)
    assert capacity.start()
    qtbot.waitUntil(lambda: capacity.progress_item is not None, timeout=60_000)
    panel.shutdown(5.0)
    assert not capacity.is_running()


def test_training_tabs_without_images_say_so(qtbot):
    from explorer.lab.capacity import CapacityExperiment
    from explorer.lab.linear import LinearPcaExperiment
    from explorer.lab.losses import LossesExperiment

    for cls in (LinearPcaExperiment, CapacityExperiment):
        w = cls(dataset=empty_context())
        qtbot.addWidget(w)
        assert not w.start() and "No images" in w.error and "No images" in w.message.text()
    losses = LossesExperiment(dataset=images_context(None))
    qtbot.addWidget(losses)
    losses.random_digit()
    assert "No test images" in losses.findings.text() and losses.cards["mse"].value.text() == "49"


def test_a_failing_run_is_reported_in_the_tab_not_raised(qtbot):
    from explorer.lab.linear import LinearPcaExperiment

    w = LinearPcaExperiment(dataset=images_context(np.random.default_rng(0).random((50, 5, 5)).astype(np.float32)))
    qtbot.addWidget(w)
    assert w.start()
    qtbot.waitUntil(lambda: not w.is_running(), timeout=30_000)
    assert w.error.startswith("Training failed: ") and "28x28 images (784 pixels); these have 5x5" in w.error
    assert "Training failed" in w.message.text() and w.train_button.isEnabled()
